"""`langarith export --merge`: the base model with a module merged into its weights, saved as a full Hugging
Face model folder (safetensors weights, config, tokenizer) that `AutoModelFor….from_pretrained` loads with no
langarith or PEFT installed — what a serving stack without adapter support needs.

The merge runs in float32 so that a small ΔW is not rounded away, then the weights are cast to the dtype asked
for. LoRA modules merge through PEFT's own `merge_and_unload`. LoKr modules (paper 1's Kronecker adapter among
them) are added in memory with langarith's exact ΔW = scale · w1 ⊗ w2 (`arith.kron.layer_deltas`, PEFT's
formula): PEFT's loader cannot rebuild a Kronecker module whose A is not square (it re-derives a square w1), and
a LoKr module that formula cannot express (rank patterns, convolution factors) goes through PEFT. Bottleneck
adapters add layers rather than change weights, so they cannot be merged; they are refused with what to do
instead.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from langarith import __version__
from langarith.arith.algebra import check_finite
from langarith.arith.cards import base_sentence, front_matter, use_snippet
from langarith.arith.formats import load
from langarith.arith.identity import model_hint
from langarith.arith.kron import layer_deltas
from langarith.arith.module import Module
from langarith.core.atomic import atomic_folder
from langarith.core.errors import SemanticsError
from langarith.models import ModelError, ModelInfo, load_tokenizer, resolve
from langarith.models import load as load_model

RECORD = "langarith-export.json"  # marks a folder `export` wrote, so --overwrite replaces only those
DTYPES = ("float32", "bfloat16", "float16")


def export_merged(module_dir: str | Path, out: str | Path, *, model: str | None = None, dtype: str = "float32",
                  overwrite: bool = False) -> Path:
    """Write `out`: the base model (`model`, else the one the module records) with the module merged in."""
    module_dir = Path(module_dir).expanduser()
    module = load(module_dir)
    check_finite(module)
    if dtype not in DTYPES:
        raise ModelError(f"--dtype {dtype} is not one of {', '.join(DTYPES)}")
    if module.format != "peft":
        raise ModelError(f"{module_dir} is a {module.format} {module.kind} module; --merge takes PEFT modules (LoRA, "
                         "LoKr), whose updates fold into the weights. Bottleneck adapters add layers: serve them with "
                         "AdapterHub (`adapters`) on the base model instead")
    info = _base(module, model, module_dir)
    merged = _merge(info, module, module_dir, dtype)
    tokenizer = load_tokenizer(info)
    with atomic_folder(Path(out), overwrite=overwrite, protect=[module_dir], markers=(RECORD,)) as tmp:
        merged.save_pretrained(str(tmp), safe_serialization=True)
        tokenizer.save_pretrained(str(tmp))
        (tmp / RECORD).write_text(json.dumps(_record(module, module_dir, info, dtype), indent=2) + "\n",
                                  encoding="utf-8")
        (tmp / "README.md").write_text(merged_card(module, module_dir, info, dtype, Path(out).name),
                                       encoding="utf-8")
    return Path(out)


def _base(module: Module, given: str | None, module_dir: Path) -> ModelInfo:
    """The model to merge into: `given`, else the one the module records (by --model name where langarith knows
    the weights, by hub id, else by the folder its training loaded), refused unless it is the recorded base."""
    recorded = module.base
    trained_from = (module.training or {}).get("model")
    candidate = given or (recorded.option if recorded else None) or trained_from or module.base_model
    if not candidate:
        raise ModelError(f"{module_dir} does not record its base model; pass --model")
    info = resolve(candidate)
    if recorded is not None and not recorded.same_as(info.identity):
        hint = recorded.option or trained_from or model_hint(recorded)
        raise ModelError(f"{module_dir} was trained on {recorded.describe()}, not on {info.identity.describe()}; "
                         f"pass --model {hint}")
    return info


def _merge(info: ModelInfo, module: Module, module_dir: Path, dtype: str) -> Any:
    import torch  # slow to import: only when exporting

    base, _ = load_model(info, "float32")
    merged = _kronecker(base, info, module, module_dir) if module.kind == "lokr" else None
    if merged is None:
        merged = _by_peft(base, info, module_dir)
    merged.config.use_cache = True
    return merged.to(getattr(torch, dtype))


PEFT_PREFIX = "base_model.model."  # PEFT's saved keys: base_model.model.<the model's module name>.<factor>


def _kronecker(base: Any, info: ModelInfo, module: Module, module_dir: Path) -> Any | None:
    """`base` with every layer's exact ΔW = scale · w1 ⊗ w2 added (in float64, then into the float32 weights),
    no PEFT wrapper; None for a LoKr module that ΔW cannot express or that adapts other layers than Linear ones
    (PEFT merges it). Every layer is checked before the first weight changes."""
    import torch

    try:
        updates = layer_deltas(module)
    except SemanticsError:
        return None
    weights = {}
    for key, delta in updates.items():
        name = key.removeprefix(PEFT_PREFIX)
        try:
            layer = base.get_submodule(name)
        except AttributeError as err:
            raise ModelError(f"{module_dir} adapts layer {name}, which {info.name} does not have. Pass the base "
                             "model it was trained on (--model)") from err
        if not isinstance(layer, torch.nn.Linear):
            return None
        weights[key] = layer.weight
        if tuple(layer.weight.shape) != delta.shape:
            rows, cols = layer.weight.shape
            raise ModelError(f"{module_dir}'s update of {name} is {delta.shape[0]}×{delta.shape[1]}, but that layer "
                             f"of {info.name} is {rows}×{cols}. Pass the base model it was trained on (--model)")
    with torch.no_grad():
        for key, delta in updates.items():
            weights[key] += torch.from_numpy(delta).to(weights[key].dtype)
    return base


def _by_peft(base: Any, info: ModelInfo, module_dir: Path) -> Any:
    from peft import PeftModel

    try:
        wrapped = PeftModel.from_pretrained(base, str(module_dir))
    except (RuntimeError, ValueError, KeyError) as err:
        raise ModelError(f"{module_dir} does not fit {info.name}: {err}. Pass the base model it was trained on "
                         "(--model)") from err
    merged = wrapped.merge_and_unload()
    for attr in ("peft_config", "_hf_peft_config_loaded"):  # a plain model, as if never wrapped
        merged.__dict__.pop(attr, None)
    return merged


def _record(module: Any, module_dir: Path, info: ModelInfo, dtype: str) -> dict[str, Any]:
    return {"langarith_version": __version__, "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "base_model": info.identity.portable, "base": info.identity.to_json(), "module": str(module_dir),
            "module_sha256": module.sha256, "module_kind": module.kind, "language": module.language,
            "role": module.role, "dtype": dtype}


def merged_card(module: Module, module_dir: Path, info: ModelInfo, dtype: str, folder: str) -> str:
    """The README of the merged folder: a whole model (`base_model_relation: merge`) that transformers loads."""
    base = info.identity
    lines = [front_matter("transformers", base, "merge", module.language,
                          ["langarith", "merge", module.kind, *([f"{module.role}-module"] if module.role else [])]),
             f"# {folder}", "",
             f"The base model {base.portable} with the {module.kind} module `{module_dir.name}` merged into its "
             f"weights by langarith {__version__} (`langarith export --merge`), saved in {dtype}: a whole model, "
             "loadable without langarith or PEFT.", "",
             *base_sentence(base, "Its base is"),
             f"- base model: {base.describe()}",
             f"- module: {module.kind}, language {module.language or 'unspecified'}, role "
             f"{module.role or 'unspecified'}, sha256 `{(module.sha256 or '')[:16]}`", "",
             "## Use", "", *use_snippet("model", folder, base, info.family),
             f"What was merged, and from what: `{RECORD}`.", ""]
    return "\n".join(lines)
