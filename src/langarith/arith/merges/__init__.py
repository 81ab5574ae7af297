"""Baseline merges (TIES, DARE, magnitude pruning): non-linear, so they take several modules and
return one materialised `Module`. One file per method; each registers a function that maps the
stacked parameter vectors (K modules × P parameters) to one merged vector.

The vectors are the modules' own tensors (`factor`: any module type), or, for LoRA with `delta`
semantics, each layer's dense ΔW = s·BA, so modules of different ranks merge too; the merged ΔW is
refactored to rank `rank` by SVD (default: the sum of the input ranks, capped by the layer size).
"""

from __future__ import annotations

import inspect
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from langarith.arith.algebra import SEMANTICS, Semantics, check_compatible, check_finite, combine_extras
from langarith.arith.lowrank import as_matrices, check_rank_fits, lora_delta
from langarith.arith.module import LoraPair, Module
from langarith.core.errors import SemanticsError
from langarith.core.registry import Registry

MergeFn = Callable[..., np.ndarray]


@dataclass(frozen=True)
class MergeMethod:
    """A merge: `fn(stacked, weights, **params)` maps K stacked parameter vectors to one; `params` are the
    keyword options its signature declares, checked by name on every call. A method that declares
    `segments` also receives the sizes of the tensors the vectors concatenate (to trim per tensor)."""
    name: str
    fn: MergeFn
    params: tuple[str, ...]
    wants_segments: bool = False

    def __call__(self, stacked: np.ndarray, weights: np.ndarray, segments: Sequence[int] = (),
                 **params: Any) -> np.ndarray:
        unknown = sorted(set(params) - set(self.params))
        if unknown:
            raise SemanticsError(f"{self.name} has no option(s) {', '.join(unknown)}; it takes "
                                 f"{', '.join(self.params) or 'none'}")
        if self.wants_segments:
            params["segments"] = list(segments) or [stacked.shape[1]]
        return self.fn(stacked, weights, **params)


MERGES: Registry[MergeMethod] = Registry("merge method", SemanticsError, group="merges")


def register(name: str) -> Callable[[MergeFn], MergeFn]:
    """Register a plain function `fn(stacked, weights, **options)` as the merge method `name`."""
    def wrap(fn: MergeFn) -> MergeFn:
        declared = inspect.signature(fn).parameters
        options = tuple(p for p in declared if p not in ("stacked", "weights", "segments"))
        MERGES.register(MergeMethod(name, fn, options, wants_segments="segments" in declared))
        return fn

    return wrap


def merge(
    method: str,
    modules: Sequence[Module],
    *,
    weights: Sequence[float] | None = None,
    semantics: Semantics = "factor",
    rank: int | None = None,
    **params: Any,
) -> Module:
    """Merge `modules` with a registered method; `params` go to the method (top_k, drop_rate, …)."""
    chosen = MERGES.get_or_raise(method)
    if semantics not in SEMANTICS:
        raise SemanticsError(f"unknown semantics {semantics!r}: use one of {', '.join(SEMANTICS)}")
    modules = list(modules)
    weights = np.ones(len(modules)) if weights is None else np.asarray(weights, dtype=np.float64)
    if weights.shape != (len(modules),):
        raise SemanticsError(f"{len(weights)} weights for {len(modules)} modules")
    check_compatible(modules, semantics)
    if semantics == "delta":
        return _merge_deltas(chosen, modules, weights, rank, params)
    if rank is not None:
        raise SemanticsError("--rank needs --semantics delta; factor merges keep the inputs' rank")
    ref = modules[0]
    keys = list(ref.tensors)
    stacked = np.stack([_flatten(m.tensors, keys) for m in modules])
    merged = chosen(stacked, weights, [ref.tensors[k].size for k in keys], **params)
    out = _unflatten(merged, {k: ref.tensors[k] for k in keys})
    result = ref.with_tensors(out, name=None, language=None, role=None, provenance={})
    result.extras = combine_extras(tuple((1.0, m) for m in modules), "mean")
    check_finite(result)
    return result


def _merge_deltas(fn: MergeMethod, modules: list[Module], weights: np.ndarray, rank: int | None,
                  params: dict[str, Any]) -> Module:
    for m in modules:
        if m.kind != "lora":
            raise SemanticsError(f"--semantics delta merges LoRA modules; {m.label} is {m.kind}: use factor")
    ref = modules[0]
    layers = list(ref.lora)
    for m in modules[1:]:
        if set(m.lora) != set(layers):
            raise SemanticsError(f"{m.label} and {ref.label} adapt different layers; merge modules with equal targets")
    if rank is not None:
        check_rank_fits({layer: (ref.tensors[ref.lora[layer].a], ref.tensors[ref.lora[layer].b]) for layer in layers},
                        rank)
    dense = [{layer: lora_delta(m, layer) for layer in layers} for m in modules]
    template = dense[0]
    stacked = np.stack([_flatten(d, layers) for d in dense])
    del dense
    merged = _unflatten(fn(stacked, weights, [d.size for d in template.values()], **params), template)
    target_rank = rank or sum(m.tensors[m.lora[layers[0]].a].shape[0] for m in modules)
    tensors: dict[str, np.ndarray] = {}
    lora: dict[str, LoraPair] = {}
    for layer in layers:
        pair = ref.lora[layer]
        a_ref, b_ref = ref.tensors[pair.a], ref.tensors[pair.b]
        _, _, restore = as_matrices(a_ref, b_ref, layer)
        u, s, vt = np.linalg.svd(merged[layer], full_matrices=False)
        k = min(target_rank, s.shape[0])
        root = np.sqrt(s[:k])
        new_b = np.zeros((u.shape[0], target_rank))
        new_a = np.zeros((target_rank, vt.shape[1]))
        new_b[:, :k], new_a[:k] = u[:, :k] * root, root[:, None] * vt[:k]
        a_new, b_new = restore(new_a, new_b)
        tensors[pair.a], tensors[pair.b] = a_new.astype(a_ref.dtype), b_new.astype(b_ref.dtype)
        lora[layer] = LoraPair(pair.a, pair.b, 1.0)

    result = ref.with_tensors(tensors, lora=lora, rank=target_rank, alpha=float(target_rank), rewrite_config=True,
                              signature={**ref.signature, "use_rslora": False},
                              name=None, language=None, role=None, provenance={})
    check_finite(result)
    return result


def _flatten(tensors: dict[str, np.ndarray], keys: Sequence[str]) -> np.ndarray:
    return np.concatenate([np.asarray(tensors[k], dtype=np.float64).ravel() for k in keys])


def _unflatten(flat: np.ndarray, template: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    out, start = {}, 0
    for key, t in template.items():
        out[key] = flat[start : start + t.size].reshape(t.shape).astype(t.dtype)
        start += t.size
    return out


TRIMS = ("module", "tensor")


def keep_top(x: np.ndarray, fraction: float, trim: str = "module", segments: Sequence[int] = ()) -> np.ndarray:
    """Zero all but the `fraction` largest-magnitude entries of each row (ties at the threshold kept): over the
    whole module (`trim="module"`, as the TIES paper's code does) or within each tensor (`"tensor"`, as
    mergekit and PEFT do), the tensors being the consecutive `segments` of a row."""
    if trim not in TRIMS:
        raise SemanticsError(f"unknown trim {trim!r}: use one of {', '.join(TRIMS)}")
    if trim == "tensor" and len(segments) > 1:
        bounds = np.cumsum([0, *segments])
        return np.concatenate([keep_top(x[:, a:b], fraction) for a, b in itertools.pairwise(bounds)], axis=1)
    if not 0.0 < fraction <= 1.0:
        raise SemanticsError(f"the kept fraction must be in (0, 1], got {fraction}")
    k = max(1, round(fraction * x.shape[1]))
    if k >= x.shape[1]:
        return x.copy()
    mags = np.abs(x)
    threshold = np.partition(mags, x.shape[1] - k, axis=1)[:, x.shape[1] - k][:, None]
    return np.where(mags >= threshold, x, 0.0)


# every merge file of this package registers itself; then installed plugins (entry points `langarith.merges`)
MERGES.discover(__name__)
