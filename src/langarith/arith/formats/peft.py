"""PEFT folders: `adapter_config.json` + `adapter_model.safetensors` (or a legacy `adapter_model.bin`).

Saved keys carry no adapter name (PEFT strips it), e.g.
`base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight`. Tensors whose names hold a PEFT
parameter marker (lora_, lokr_, hada_, ia3_, …) form the vector; anything else in the file is a
`modules_to_save` copy, i.e. a full weight, kept as an extra.
"""

from __future__ import annotations

import math
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
WEIGHTS = "adapter_model.safetensors"
WEIGHTS_BIN = "adapter_model.bin"
_PREFIX = "base_model.model."
_VECTOR = re.compile(r"\.(lora_|lokr_|hada_|ia3_|trainable_tokens_|vera_lambda|oft_|boft_|fourierft_)")
_PAIRS = ((".lora_A.weight", ".lora_B.weight"), (".lora_embedding_A", ".lora_embedding_B"))
# Config values that must agree for element-wise arithmetic, per PEFT type (LoRA's scaling is
# compared layer by layer instead, so that a rank mismatch gets its own error).
_SIGNATURE = {
    "LORA": ("fan_in_fan_out", "use_dora", "lora_bias"),
    "LOKR": ("r", "alpha", "rank_pattern", "alpha_pattern", "decompose_both", "decompose_factor",
             "use_effective_conv2d", "rank_dropout_scale"),
    "LOHA": ("r", "alpha", "rank_pattern", "alpha_pattern", "use_effective_conv2d"),
    "IA3": ("feedforward_modules", "fan_in_fan_out"),
}


@register
class PeftFormat(Format):
    name = "peft"

    def detect(self, path: Path) -> bool:
        data = peek_config(path, CONFIG, (WEIGHTS, WEIGHTS_BIN))
        return data == {} or (data is not None and "peft_type" in data)

    def read(self, path: Path) -> Module:
        config = read_json(path / CONFIG)
        peft_type = str(config.get("peft_type", "")).upper()
        _check_numbers(config, path / CONFIG, peft_type)
        raw, stored_as, weights = read_weights(path, WEIGHTS, WEIGHTS_BIN)
        tensors = {k: v for k, v in raw.items() if _VECTOR.search(k)}
        extras = {k: v for k, v in raw.items() if k not in tensors}
        if not tensors:
            raise ModuleFileError(f"{weights} holds no {peft_type or 'PEFT'} parameters (no lora_/lokr_/… tensors)")
        lora = _lora_pairs(tensors, config, weights) if peft_type == "LORA" else {}
        signature = {k: _canon(config.get(k)) for k in _SIGNATURE.get(peft_type, ())}
        signature["peft_type"] = peft_type
        rank = config.get("r")
        alpha = config.get("lora_alpha", config.get("alpha"))
        return Module(
            tensors=tensors,
            kind=peft_type.lower() or "peft",
            format=self.name,
            config=config,
            base_model=config.get("base_model_name_or_path") or None,
            targets=_targets(tensors),
            rank=int(rank) if isinstance(rank, int) else None,
            alpha=float(alpha) if isinstance(alpha, (int, float)) else None,
            lora=lora,
            signature=signature,
            stored_as=stored_as,
            extras=extras,
            source=path,
            sha256=sha256_of([path / CONFIG, weights]),
        )

    def write(self, module: Module, folder: Path, adapter_name: str, metadata: dict[str, str]) -> None:
        base = {"base_model_name_or_path": module.base.portable} if module.base else {}  # a name, not a local path
        write_json(folder / CONFIG, {**self.config_of(module), **base})
        write_safetensors(folder / WEIGHTS, {**module.tensors, **module.extras}, module.stored_as, metadata)

    def lora_config(self, config: dict[str, Any], rank: int, alpha: float, targets: tuple[str, ...]) -> dict:
        new = dict(config)
        new.update(r=rank, lora_alpha=json_number(alpha), use_rslora=False, rank_pattern={}, alpha_pattern={})
        if isinstance(config.get("target_modules"), list):
            new["target_modules"] = sorted(set(config["target_modules"]) | set(targets))
        return new


def _check_numbers(config: dict[str, Any], path: Path, peft_type: str) -> None:
    """A rank or alpha PEFT itself could not load (r: 0, r: "four", lora_alpha: null) is refused on read, not
    carried into a result that PEFT then rejects."""
    if peft_type not in ("LORA", "LOKR", "LOHA"):
        return
    rank = config.get("r", 8)
    if isinstance(rank, bool) or not isinstance(rank, int) or rank < 1:
        raise ModuleFileError(f"{path}: r is {rank!r}; PEFT needs a whole number of at least 1. Fix the config or "
                              "re-save the module")
    key = "lora_alpha" if peft_type == "LORA" else "alpha"
    alpha = config.get(key, 8)
    if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not math.isfinite(alpha) or alpha <= 0:
        raise ModuleFileError(f"{path}: {key} is {alpha!r}; PEFT needs a positive number. Fix the config or "
                              "re-save the module")


def _lora_pairs(tensors: dict[str, np.ndarray], config: dict[str, Any], weights: Path) -> dict[str, LoraPair]:
    """Every A with its B and the scaling PEFT applies to that layer (rank/alpha patterns, rsLoRA)."""
    pairs: dict[str, LoraPair] = {}
    alpha_default = float(config.get("lora_alpha", 8))
    alpha_pattern = config.get("alpha_pattern") or {}
    for key in tensors:
        for a_suffix, b_suffix in _PAIRS:
            if key.endswith(a_suffix):
                layer = key[: -len(a_suffix)]
                b_key = layer + b_suffix
                if b_key not in tensors:
                    raise ModuleFileError(f"{weights}: {key} has no matching {b_key}; the module is corrupt")
                r = tensors[key].shape[0]
                module_name = layer[len(_PREFIX):] if layer.startswith(_PREFIX) else layer
                pattern = _match(alpha_pattern, module_name)
                alpha = float(alpha_pattern[pattern]) if pattern else alpha_default
                scaling = alpha / math.sqrt(r) if config.get("use_rslora") else alpha / r
                pairs[layer] = LoraPair(key, b_key, scaling)
    return pairs


def _match(patterns: dict[str, Any], module_name: str) -> str | None:
    """PEFT's rule: a pattern key matches a module name that ends with it at a dot boundary."""
    for pattern in patterns:
        if re.match(rf"(.*\.)?({pattern})$", module_name):
            return pattern
    return None


def _targets(tensors: dict[str, np.ndarray]) -> tuple[str, ...]:
    """The adapted module names' last parts (q_proj, v_proj, …), as PEFT's target_modules lists them."""
    names = set()
    for key in tensors:
        m = _VECTOR.search(key)
        if m:
            names.add(key[: m.start()].rsplit(".", 1)[-1])
    return tuple(sorted(names))


def _canon(value: Any) -> Any:
    return sorted(value) if isinstance(value, list) else value
