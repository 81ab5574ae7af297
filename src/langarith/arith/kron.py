"""Delta semantics for LoKr modules (PEFT's LoKr and paper 1's Kronecker adapter): the exact
ΔW = Σ cᵢ·sᵢ·(w1ᵢ ⊗ w2ᵢ) per layer, with w1 = W1 or W1a @ W1b, w2 = W2 or W2a @ W2b, s = alpha / r (PEFT's formula).

A sum of Kronecker products is no Kronecker product of the inputs' shapes, so the result is the one LoKr that PEFT
builds for any layer: w1 = [[1]] and w2 = ΔW whole (decompose_factor 1, r at least half of every layer's larger
side, alpha = r: scaling 1). It is a plain PEFT LoKr folder, as large as the weights it adapts, and modules of
different factor shapes (LoKr ranks, Kronecker shapes) add exactly.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from langarith.core.errors import IncompatibleModulesError, SemanticsError

# Modules are typed Any here: algebra imports this file and `Module` imports algebra, so importing `Module` back
# would join the two in one import cycle.
Module = Any

_FACTOR = re.compile(r"^(?P<layer>.+)\.(?P<factor>lokr_w[12](?:_[ab])?)$")


def lokr_delta(terms: Sequence[tuple[float, Module]], rank: int | None) -> Module:
    """The exact sum of the terms' updates as one whole-w2 LoKr module."""
    if rank is not None:
        raise SemanticsError("--rank truncates LoRA updates; a delta composition of LoKr modules is exact (its w2 "
                             "is the whole ΔW): leave --rank out")
    mods = [m for _, m in terms]
    live = [(c, m) for c, m in terms if c != 0.0] or [(0.0, mods[0])]
    sums: dict[str, np.ndarray] = {}
    for c, m in live:
        for layer, delta in layer_deltas(m).items():
            if layer in sums and sums[layer].shape != delta.shape:
                raise IncompatibleModulesError(f"layer {layer} has a {delta.shape} update in {m.label} but "
                                               f"{sums[layer].shape} in another module: the modules adapt different "
                                               "models")
            sums[layer] = sums.get(layer, 0.0) + c * delta
    dtype = np.result_type(*(t.dtype for m in mods for t in m.tensors.values()))
    tensors: dict[str, np.ndarray] = {}
    for layer, delta in sums.items():
        tensors[f"{layer}.lokr_w1"] = np.ones((1, 1), dtype=dtype)
        tensors[f"{layer}.lokr_w2"] = np.asarray(delta).astype(dtype)
    r = max(math.ceil(max(d.shape) / 2) for d in sums.values())  # PEFT keeps w2 whole once r ≥ max side / 2
    targets = tuple(dict.fromkeys(t for m in mods for t in m.targets))
    new = {"r": r, "alpha": r, "decompose_factor": 1, "decompose_both": False, "rank_pattern": {},
           "alpha_pattern": {}, "init_weights": True}
    config = {**mods[0].config, **new}
    if isinstance(config.get("target_modules"), list):
        config["target_modules"] = sorted(set(config["target_modules"]) | set(targets))
    signature = {k: new.get(k, v) for k, v in mods[0].signature.items()}
    return mods[0].with_tensors(tensors, config=config, rank=r, alpha=float(r), targets=targets, signature=signature,
                                stored_as={}, init_fingerprint=None, name=None, language=None, role=None,
                                provenance={})


def layer_deltas(module: Module) -> dict[str, np.ndarray]:
    """Every adapted layer's ΔW = s·(w1 ⊗ w2) of a LoKr module, in float64, keyed by the layer's tensor prefix."""
    config = module.config
    if config.get("rank_pattern") or config.get("alpha_pattern"):
        raise SemanticsError(f"{module.label} has LoKr rank or alpha patterns; --semantics delta takes one scaling "
                             "per module: use --semantics factor")
    scaling = float(config.get("alpha", 8)) / float(config.get("r", 8))
    factors: dict[str, dict[str, np.ndarray]] = {}
    for key, tensor in module.tensors.items():
        found = _FACTOR.match(key)
        if found is None or tensor.ndim != 2:
            raise SemanticsError(f"tensor {key} of {module.label} is no LoKr factor of a Linear layer (ΔW = w1 ⊗ "
                                 "w2); --semantics delta cannot add it: use --semantics factor")
        factors.setdefault(found["layer"], {})[found["factor"]] = tensor.astype(np.float64)
    return {layer: scaling * np.kron(_side(f, "lokr_w1", module, layer), _side(f, "lokr_w2", module, layer))
            for layer, f in factors.items()}


def _side(f: dict[str, np.ndarray], name: str, module: Module, layer: str) -> np.ndarray:
    if name in f:
        return f[name]
    if name + "_a" in f and name + "_b" in f:
        return f[name + "_a"] @ f[name + "_b"]
    raise SemanticsError(f"{module.label}: layer {layer} lacks {name} (or {name}_a and {name}_b); the module is "
                         "incomplete")
