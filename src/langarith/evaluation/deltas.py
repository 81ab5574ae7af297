"""A PEFT module (LoRA, LoKr) added straight into a loaded model's weights, in memory, for every λ of a search.

PEFT's own merge (`PeftModel.from_pretrained(...).merge_and_unload()`) needs the module as a folder on disk, wraps
every targeted layer and initialises factors only to overwrite them. Here each layer's ΔW is formed from the
module's tensors with PEFT's formula and in PEFT's dtype order, so the weights come out bit for bit as PEFT's
merge leaves them (tests/evaluation/test_deltas.py compares the two):

- a factor reaches its layer as PEFT's loader hands it over: rounded to bf16 where the saved file would hold bf16,
  then in the dtype PEFT gives adapter weights (the base weight's; fp16 and bf16 upcast to fp32), on its device;
- LoRA: ΔW = (B @ A) · scaling, transposed first for a GPT-2 Conv1D (PEFT's fan_in_fan_out), with
  scaling = alpha / r (alpha / √r under rsLoRA) read from the config as PEFT reads it;
- LoKr: ΔW = kron(w1, w2) · scaling with w1 = W1 or W1a @ W1b, w2 = W2 or W2a @ W2b, scaling = alpha / r;
- then `weight += ΔW`, as PEFT's merge does.

`plan` returns None for a module this cannot express exactly as PEFT would: a config with DoRA, LoRA biases, rank
or alpha patterns, modules_to_save or a variant, an initialisation that changes the base weights or leaves layers
the module does not cover non-zero, a tensor that is no LoRA/LoKr factor, a layer that is not a plain Linear (or
Conv1D for LoRA) or that the config does not target. The evaluator then loads that module through PEFT from a
folder, as before. torch is imported inside functions.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np

from langarith.arith.formats import get_format
from langarith.arith.module import Module
from langarith.evaluation.base import EvaluationError

PREFIX = "base_model.model."  # PEFT's saved keys: base_model.model.<the model's module name>.lora_A.weight
_FACTOR = {"lora": re.compile(r"^(?P<layer>.+)\.lora_(?P<factor>A|B)\.weight$"),
           "lokr": re.compile(r"^(?P<layer>.+)\.(?P<factor>lokr_w[12](?:_[ab])?)$")}
# Config entries whose values PEFT's merge does not depend on here (patterns, bias and initialisation are checked
# on their own); any other entry must be unset (None, False, empty), or the module goes through PEFT.
_SHARED = {"task_type", "peft_type", "auto_mapping", "peft_version", "base_model_name_or_path", "revision",
           "inference_mode", "r", "target_modules", "exclude_modules", "layers_to_transform", "layers_pattern",
           "rank_pattern", "alpha_pattern"}
_NEUTRAL = {
    "lora": _SHARED | {"lora_alpha", "lora_dropout", "fan_in_fan_out", "bias", "use_rslora", "init_lora_weights",
                       "loftq_config", "megatron_core", "qalora_group_size", "runtime_config"},
    "lokr": _SHARED | {"alpha", "rank_dropout", "module_dropout", "use_effective_conv2d", "decompose_both",
                       "decompose_factor", "rank_dropout_scale", "init_weights"},
}
_COMPLETE = {"lora": [{"A", "B"}],
             "lokr": [w1 | w2 for w1 in ({"lokr_w1"}, {"lokr_w1_a", "lokr_w1_b"})
                      for w2 in ({"lokr_w2"}, {"lokr_w2_a", "lokr_w2_b"})]}
# Initialisations PEFT gives the factors before loading the module's: these leave ΔW = 0 on a targeted layer the
# module has no tensors for; False (random factors) needs every targeted layer covered; any other changes the base.
_ZERO_INIT = {"lora": ("init_lora_weights", (True, "gaussian")), "lokr": ("init_weights", (True, "lycoris"))}


class DoesNotFit(EvaluationError):
    """A module's factor has another shape than the layer it adapts in this model takes."""


@dataclass(frozen=True)
class LayerDelta:
    """One adapted layer: where it is in the model, and from which of the module's tensors PEFT forms its ΔW."""

    name: str  # the model's module name, e.g. model.layers.0.self_attn.q_proj
    kind: str  # "lora" or "lokr"
    keys: dict[str, str]  # factor (A, B; lokr_w1, lokr_w1_a, …) -> the module's tensor key
    scaling: float
    transpose: bool = False  # a GPT-2 Conv1D keeps its weight as in × out (PEFT's fan_in_fan_out)


def plan(model: Any, module: Module, config: dict[str, Any]) -> list[LayerDelta] | None:
    """The layer updates that reproduce PEFT's merge of `module` (saved with `config`) into `model`, or None where
    that is not expressible here (see the module docstring) and PEFT must load it."""
    kind = module.kind
    if module.format != "peft" or kind not in _FACTOR or module.extras or not _neutral(config, kind):
        return None
    layers = _layers(module, kind)
    targeted = _targeted(model, config)
    if layers is None or not set(layers) <= set(targeted):
        return None
    if any(_transposed(layer, kind) is None for layer in targeted.values()):
        return None  # PEFT wraps (or refuses) a targeted layer of another type its own way
    init_key, zero = _ZERO_INIT[kind]
    init = config.get(init_key, True)
    if init not in zero and not (init is False and set(targeted) <= set(layers)):
        return None
    return [LayerDelta(name, kind, keys, _scaling(config, kind), bool(_transposed(targeted[name], kind)))
            for name, keys in layers.items()]


def plan_saved(model: Any, module: Module) -> list[LayerDelta] | None:
    """`plan` with the config `module` would be saved with (its format's `config_of`); None for a module of
    another format than PEFT's."""
    if module.format != "peft":
        return None
    return plan(model, module, get_format(module.format).config_of(module))


def merge(model: Any, module: Module, deltas: list[LayerDelta]) -> list[tuple[Any, Any]]:
    """Add every layer's ΔW into `model`'s weights, one layer at a time; returns (weight, its original) pairs to
    restore them from. Every shape is checked before the first weight changes, so a module that does not fit
    leaves the model as it was (`DoesNotFit` names the tensor)."""
    import torch

    weights = [model.get_submodule(d.name).weight for d in deltas]
    for d, weight in zip(deltas, weights, strict=True):
        _check_shapes(module, d, tuple(weight.shape))
    snapshot = []
    with torch.no_grad():
        for d, weight in zip(deltas, weights, strict=True):
            snapshot.append((weight, weight.detach().clone()))
            weight += _delta(module, d, weight)  # PEFT's merge: base_layer.weight.data += delta_weight
    return snapshot


def restore(snapshot: list[tuple[Any, Any]]) -> None:
    """The weights as they were before `merge` (copied back, not un-merged: no rounding is left behind)."""
    import torch

    with torch.no_grad():
        for weight, original in snapshot:
            weight.copy_(original)


def _neutral(config: dict[str, Any], kind: str) -> bool:
    """Whether PEFT's merge of a module with this config is the plain formula above."""
    if config.get("rank_pattern") or config.get("alpha_pattern") or config.get("bias", "none") != "none":
        return False
    if not isinstance(config.get("target_modules"), list):  # a regex, or "all-linear" (PEFT expands it itself)
        return False
    return all(not value for key, value in config.items() if key not in _NEUTRAL[kind])


def _layers(module: Module, kind: str) -> dict[str, dict[str, str]] | None:
    """The module's tensors grouped by the model layer they adapt, or None if one is not a factor of `kind` or a
    layer's factors are not one of PEFT's complete sets."""
    layers: dict[str, dict[str, str]] = {}
    for key in module.tensors:
        found = _FACTOR[kind].match(key)
        if found is None or not found["layer"].startswith(PREFIX):
            return None
        layers.setdefault(found["layer"][len(PREFIX):], {})[found["factor"]] = key
    if any(set(keys) not in _COMPLETE[kind] for keys in layers.values()):
        return None
    return layers


def _targeted(model: Any, config: dict[str, Any]) -> dict[str, Any]:
    """The layers PEFT wraps for `config` in `model` (name -> layer), by PEFT's own matching rule."""
    from peft.tuners.tuners_utils import check_target_module_exists

    names = ("target_modules", "exclude_modules", "modules_to_save", "target_parameters", "layers_to_transform",
             "layers_pattern")
    rule = SimpleNamespace(**{key: config.get(key) for key in names})
    return {name: layer for name, layer in model.named_modules() if name and check_target_module_exists(rule, name)}


def _transposed(layer: Any, kind: str) -> bool | None:
    """Whether PEFT transposes this layer's ΔW (a GPT-2 Conv1D: PEFT sets fan_in_fan_out by the layer's type), or
    None for a layer PEFT would wrap otherwise than here."""
    import torch
    from transformers.pytorch_utils import Conv1D

    if type(layer) is torch.nn.Linear:
        return False
    return True if kind == "lora" and type(layer) is Conv1D else None


def _scaling(config: dict[str, Any], kind: str) -> float:
    """PEFT's scaling, computed as PEFT does (its defaults: r = 8, alpha = 8)."""
    r = config.get("r", 8)
    if kind == "lokr":
        return config.get("alpha", 8) / r
    alpha = config.get("lora_alpha", 8)
    return alpha / math.sqrt(r) if config.get("use_rslora") else alpha / r


def _check_shapes(module: Module, d: LayerDelta, weight: tuple[int, ...]) -> None:
    """Raise `DoesNotFit` where the factors cannot form this layer's ΔW (PEFT's loader refuses those too)."""
    shape = {factor: module.tensors[key].shape for factor, key in d.keys.items()}
    if any(len(s) != 2 for s in shape.values()):
        raise DoesNotFit(f"layer {d.name}: its factors ({', '.join(d.keys.values())}) are not all matrices")
    if d.kind == "lora":
        out, inp = weight[::-1] if d.transpose else weight
        r = shape["B"][1]
        for factor, wanted in (("B", (out, r)), ("A", (r, inp))):
            if tuple(shape[factor]) != wanted:
                raise DoesNotFit(f"{d.keys[factor]} is {tuple(shape[factor])}, but layer {d.name} takes {wanted}")
        return
    sides = []
    for w in ("lokr_w1", "lokr_w2"):
        if w in shape:
            sides.append(shape[w])
        elif shape[w + "_a"][1] != shape[w + "_b"][0]:
            raise DoesNotFit(f"{d.keys[w + '_a']} {tuple(shape[w + '_a'])} and {d.keys[w + '_b']} "
                             f"{tuple(shape[w + '_b'])} do not multiply")
        else:
            sides.append((shape[w + "_a"][0], shape[w + "_b"][1]))
    kron = (sides[0][0] * sides[1][0], sides[0][1] * sides[1][1])
    if kron != tuple(weight):
        raise DoesNotFit(f"layer {d.name}: its LoKr factors ({', '.join(d.keys.values())}) make a {kron} update, but "
                         f"its weight is {tuple(weight)}")


def _delta(module: Module, d: LayerDelta, weight: Any) -> Any:
    """The layer's ΔW, computed as PEFT's `get_delta_weight` computes it."""
    import torch

    dtype = torch.float32 if weight.dtype in (torch.float16, torch.bfloat16) else weight.dtype  # PEFT's autocast
    f = {factor: _factor(module, key, dtype, weight.device) for factor, key in d.keys.items()}
    if d.kind == "lora":
        product = f["B"] @ f["A"]
        return (product.T if d.transpose else product) * d.scaling
    w1 = f["lokr_w1"] if "lokr_w1" in f else f["lokr_w1_a"] @ f["lokr_w1_b"]
    w2 = f["lokr_w2"] if "lokr_w2" in f else f["lokr_w2_a"] @ f["lokr_w2_b"]
    return torch.kron(w1, w2.contiguous()) * d.scaling  # PEFT's make_kron (reshaped to the weight's own shape)


def as_written(module: Module, key: str) -> Any:
    """A tensor of `module` as a saved copy of it holds it, which is what a library's loader hands over: rounded
    to bf16 where the file stores bf16 (from float32, as the formats write it), else in its own dtype; on the CPU."""
    import torch

    t = torch.from_numpy(np.array(module.tensors[key]))  # a copy: tensors read from a file are read-only views
    return t.float().bfloat16() if module.stored_as.get(key) == "BF16" else t


def _factor(module: Module, key: str, dtype: Any, device: Any) -> Any:
    """A factor as PEFT's loader copies it into the adapter layer: in `dtype` on `device`."""
    return as_written(module, key).to(device=device, dtype=dtype)
