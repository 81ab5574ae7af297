"""AdapterHub (`adapters` library) folders: bottleneck adapters (`seq_bn`, `seq_bn_inv` with their
invertible layers, `par_bn`, …), AdapterHub LoRA and IA³, with an optional prediction head.

AdapterHub writes the adapter's name into every key
(`bert.encoder.layer.0.output.adapters.lang_pt.adapter_up.weight`); langarith replaces that path
segment with `{adapter}` on reading, so adapters saved under different names line up, and writes
the output's own name back. Weights are written once, in the encoding of the input: `load_adapter` reads
`pytorch_adapter.bin` by default and falls back to it with `use_safetensors=True`, so an input that had the
weights-only pickle (as AdapterHub's default `save_adapter` and `langarith train` write) gives a pickle, loadable
either way (writing it is the one place compose imports torch); a safetensors-only input gives safetensors.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from langarith.arith.formats import Format, register
from langarith.arith.formats.files import (
    json_number,
    peek_config,
    read_json,
    read_weights,
    sha256_of,
    write_json,
    write_safetensors,
)
from langarith.arith.module import LoraPair, Module
from langarith.core.errors import ModuleFileError

CONFIG = "adapter_config.json"
WEIGHTS = ("adapter.safetensors", "pytorch_adapter.bin")
HEAD_CONFIG = "head_config.json"
HEAD_WEIGHTS = ("model_head.safetensors", "pytorch_model_head.bin")
PLACEHOLDER = "{adapter}"
HEAD_PREFIX = "head::"  # extras keys that belong to the head files
# Config entries that only affect initialisation or training, not what the weights mean.
_NOT_SIGNATURE = {"dropout", "init_weights", "init_weights_seed", "phm_init_range", "phm_c_init", "dtype",
                  "hypercomplex_nonlinearity", "stochastic_depth"}


@register
class AdapterHubFormat(Format):
    name = "adapterhub"

    def detect(self, path: Path) -> bool:
        data = peek_config(path, CONFIG, WEIGHTS)
        return data == {} or (data is not None and isinstance(data.get("config"), dict) and "peft_type" not in data)

    def read(self, path: Path) -> Module:
        config = read_json(path / CONFIG)
        arch = config["config"]
        name = config.get("name")
        if not name:
            raise ModuleFileError(f"{path / CONFIG} has no adapter 'name'; re-save it with model.save_adapter")
        raw, stored_as, weights_file = read_weights(path, *WEIGHTS)
        files = [weights_file]
        tensors = {_canonical(k, name): v for k, v in raw.items()}
        stored_as = {_canonical(k, name): v for k, v in stored_as.items()}
        extras: dict[str, np.ndarray] = {}
        head_config = None
        if (path / HEAD_CONFIG).exists():
            head_config = read_json(path / HEAD_CONFIG)
            head_raw, head_stored, head_file = read_weights(path, *HEAD_WEIGHTS)
            head_name = head_config.get("name") or name
            extras = {HEAD_PREFIX + _canonical(k, head_name): v for k, v in head_raw.items()}
            stored_as.update({HEAD_PREFIX + _canonical(k, head_name): v for k, v in head_stored.items()})
            files += [path / HEAD_CONFIG, head_file]

        kind = _kind(arch)
        lora: dict[str, LoraPair] = {}
        if kind == "lora":
            scaling = float(arch.get("alpha", 1)) / float(arch.get("r", 1))
            for key in tensors:
                if key.endswith(".lora_A"):
                    b_key = key[: -len("A")] + "B"
                    if b_key not in tensors:
                        raise ModuleFileError(f"{path}: {key} has no matching {b_key}; the adapter is corrupt")
                    lora[key[: -len(".lora_A")]] = LoraPair(key, b_key, scaling)
        skip = _NOT_SIGNATURE | ({"r", "alpha"} if kind == "lora" else set())
        signature = {k: v for k, v in arch.items() if k not in skip}
        signature.update(model_type=config.get("model_type"), hidden_size=config.get("hidden_size"))
        return Module(
            tensors=tensors,
            kind=kind,
            format=self.name,
            config={"adapter": config, "head": head_config,
                    "pickled": (path / WEIGHTS[1]).exists()},
            base_model=config.get("model_name") or None,
            targets=_targets(tensors),
            rank=int(arch["r"]) if kind in ("lora", "ia3") and "r" in arch else None,
            alpha=float(arch["alpha"]) if kind in ("lora", "ia3") and "alpha" in arch else None,
            lora=lora,
            signature=signature,
            stored_as=stored_as,
            extras=extras,
            name=None,
            source=path,
            sha256=sha256_of([path / CONFIG, *files]),
        )

    def write(self, module: Module, folder: Path, adapter_name: str, metadata: dict[str, str]) -> None:
        written = self.config_of(module)
        config = dict(written["adapter"], name=adapter_name)
        if module.base is not None:  # a name, not a local path
            config["model_name"] = module.base.portable
        write_json(folder / CONFIG, config)
        weights = {_named(k, adapter_name): v for k, v in module.tensors.items()}
        stored = {_named(k, adapter_name): v for k, v in module.stored_as.items()}
        pickled = bool(written.get("pickled"))
        _write_weights(folder, WEIGHTS, weights, stored, metadata, pickled)
        head = {k[len(HEAD_PREFIX):]: v for k, v in module.extras.items() if k.startswith(HEAD_PREFIX)}
        if head:
            head_config = dict(written.get("head") or {}, name=adapter_name)
            if module.base is not None:
                head_config["model_name"] = module.base.portable
            write_json(folder / HEAD_CONFIG, head_config)
            head_w = {_named(k, adapter_name): v for k, v in head.items()}
            head_stored = {_named(k[len(HEAD_PREFIX):], adapter_name): v for k, v in module.stored_as.items()
                           if k.startswith(HEAD_PREFIX)}
            _write_weights(folder, HEAD_WEIGHTS, head_w, head_stored, metadata, pickled)

    def lora_config(self, config: dict[str, Any], rank: int, alpha: float, targets: tuple[str, ...]) -> dict:
        adapter = dict(config["adapter"])
        adapter["config"] = dict(adapter["config"], r=rank, alpha=json_number(alpha))
        return {**config, "adapter": adapter}


def _kind(arch: dict[str, Any]) -> str:
    architecture = arch.get("architecture")
    if architecture == "lora":
        return "ia3" if arch.get("composition_mode") == "scale" else "lora"
    if architecture in (None, "bottleneck") and "reduction_factor" in arch:
        return "bottleneck"
    return str(architecture or "adapter")


def _write_weights(folder: Path, names: tuple[str, str], tensors: dict[str, np.ndarray],
                   stored_as: dict[str, str], metadata: dict[str, str], pickled: bool) -> None:
    if not pickled:
        write_safetensors(folder / names[0], tensors, stored_as, metadata)
        return
    import torch  # only for pickled inputs: AdapterHub's default loader reads the .bin

    state = {}
    for k, v in tensors.items():
        t = torch.from_numpy(np.ascontiguousarray(v))
        state[k] = t.bfloat16() if stored_as.get(k) == "BF16" else t
    torch.save(state, folder / names[1])


def _canonical(key: str, name: str) -> str:
    return ".".join(PLACEHOLDER if part == name else part for part in key.split("."))


def _named(key: str, name: str) -> str:
    return key.replace(PLACEHOLDER, name)


def _targets(tensors: dict[str, np.ndarray]) -> tuple[str, ...]:
    """Where the adapter sits, with layer numbers folded: `bert.encoder.layer.*.output.adapters`."""
    places = {re.sub(r"\.\d+\.", ".*.", key.split("." + PLACEHOLDER)[0]) for key in tensors}
    return tuple(sorted(places))
