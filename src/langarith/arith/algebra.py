"""Module arithmetic: `ModuleVector` is a linear combination Σ cᵢ·θᵢ of loaded modules, so that a
recipe reads like its equation, e.g. ``lam * task["en"] + (1 - lam) * (lang["pt"] - lang["en"])``.

The combination stays symbolic until `materialize`, which is where semantics are chosen:

- ``factor`` (the papers): element-wise on every tensor, LoRA's A and B factors included. Needs
  identical layouts (ranks, scalings, targets).
- ``delta``: the exact ΔW = Σ cᵢ·sᵢ·BᵢAᵢ of LoRA modules, stored as a LoRA of concatenated rank with
  scaling 1, optionally truncated to rank r in the low-rank space, never forming the d_out × d_in
  matrix (`langarith.arith.lowrank`); of LoKr modules, Σ cᵢ·sᵢ·(w1ᵢ ⊗ w2ᵢ) stored whole (`langarith.arith.kron`).

Keeping the sum symbolic makes (a + b) − b exactly a, lets `delta` do one concatenation and one
QR per layer instead of K − 1 pairwise steps, and gives provenance the effective weight of every
input.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Iterable, Sequence
from typing import Any, Literal

import numpy as np

from langarith.arith.identity import check_one_base
from langarith.arith.kron import lokr_delta
from langarith.arith.lowrank import Term, check_rank_fits, concatenate_terms, pad_rank, truncate_sums
from langarith.arith.module import LoraPair, Module
from langarith.arith.provenance import composed
from langarith.core.errors import IncompatibleModulesError, NonFiniteError, SemanticsError, SharedInitWarning

Semantics = Literal["factor", "delta"]
ExtrasPolicy = Literal["require-equal", "mean"]
SEMANTICS: tuple[str, ...] = ("factor", "delta")
_SHOW = 8  # how many offending tensors an error lists


class ModuleVector:
    """Σ cᵢ·θᵢ over loaded modules; the same module added twice merges into one term."""
    __slots__ = ("terms",)

    def __init__(self, terms: Iterable[tuple[float, Module]]):
        coef: dict[int, float] = {}
        mods: dict[int, Module] = {}
        for c, m in terms:
            if not isinstance(m, Module):
                raise TypeError(f"a ModuleVector term must be a Module, got {type(m).__name__}")
            coef[id(m)] = coef.get(id(m), 0.0) + float(c)
            mods.setdefault(id(m), m)
        self.terms: tuple[tuple[float, Module], ...] = tuple((coef[i], mods[i]) for i in mods)

    # --- operators ------------------------------------------------------------------------------
    def __add__(self, other: Any) -> ModuleVector:
        other_vec = _as_vector(other, "+")
        return ModuleVector(self.terms + other_vec.terms)

    def __radd__(self, other: Any) -> ModuleVector:
        if isinstance(other, numbers.Number) and other == 0:  # builtin sum() starts from 0
            return self
        return _as_vector(other, "+") + self

    def __sub__(self, other: Any) -> ModuleVector:
        return self + (-_as_vector(other, "-"))

    def __rsub__(self, other: Any) -> ModuleVector:
        return _as_vector(other, "-") + (-self)

    def __mul__(self, other: Any) -> ModuleVector:
        if not _is_scalar(other):
            raise TypeError(
                "modules can only be multiplied by numbers: θ·θ is not a linear combination "
                f"(got {type(other).__name__})"
            )
        return ModuleVector((float(other) * c, m) for c, m in self.terms)

    __rmul__ = __mul__

    def __truediv__(self, other: Any) -> ModuleVector:
        if not _is_scalar(other):
            raise TypeError(f"modules can only be divided by numbers (got {type(other).__name__})")
        if float(other) == 0.0:
            raise ZeroDivisionError("division of a module by zero")
        return self * (1.0 / float(other))

    def __neg__(self) -> ModuleVector:
        return self * -1.0

    def __repr__(self) -> str:
        return f"ModuleVector({self.formula()})"

    def formula(self) -> str:
        """The combination as its effective weights: `+0.7·task_en +0.3·lang_pt -0.3·lang_en`."""
        return " ".join(f"{c:+.6g}·{m.label}" for c, m in self.terms)

    # --- facts ----------------------------------------------------------------------------------
    @property
    def modules(self) -> list[Module]:
        return [m for _, m in self.terms]

    def weights(self) -> dict[str, float]:
        """Effective coefficient of each input, keyed by its label (for provenance)."""
        return {m.label: c for c, m in self.terms}

    # --- evaluation -----------------------------------------------------------------------------
    def materialize(
        self,
        semantics: Semantics = "factor",
        rank: int | None = None,
        extras: ExtrasPolicy = "require-equal",
    ) -> Module:
        """Evaluate the combination into a new `Module` with the layout of its inputs."""
        if not self.terms:
            raise IncompatibleModulesError("nothing to compose: the combination has no modules")
        if semantics not in SEMANTICS:
            raise SemanticsError(f"unknown semantics {semantics!r}: use one of {', '.join(SEMANTICS)}")
        if semantics == "factor":
            if rank is not None:
                raise SemanticsError(
                    "--rank truncates a LoRA by SVD and needs --semantics delta; factor semantics "
                    "keeps the inputs' rank"
                )
            result = _factor(self.terms)
        else:
            result = _delta(self.terms, rank)
        result.extras = combine_extras(self.terms, extras)
        check_finite(result)
        result.provenance = {**composed(self.weights(), {m.label: m for m in self.modules}, semantics, rank),
                             "expression": self.formula()}  # what save() records, as compose() does
        return result


# --- helpers used by recipes -----------------------------------------------------------------------
def as_vector(x: Module | ModuleVector) -> ModuleVector:
    return x.vector if isinstance(x, Module) else x


def weighted_sum(weights: Sequence[float], items: Sequence[Module | ModuleVector]) -> ModuleVector:
    """Σ wᵢ·xᵢ."""
    if len(weights) != len(items):
        raise ValueError(f"{len(weights)} weights for {len(items)} modules")
    total = ModuleVector(())
    for w, x in zip(weights, items, strict=True):
        total = total + float(w) * as_vector(x)
    return total


def vsum(items: Iterable[Module | ModuleVector]) -> ModuleVector:
    """Σ xᵢ (named to avoid shadowing the builtin)."""
    items = list(items)
    return weighted_sum([1.0] * len(items), items)


def mean(items: Iterable[Module | ModuleVector]) -> ModuleVector:
    """(1/L)·Σ xᵢ: the papers' averaging of related modules (eq. 3)."""
    items = list(items)
    if not items:
        raise IncompatibleModulesError("mean of no modules: pass at least one")
    return weighted_sum([1.0 / len(items)] * len(items), items)


def check_finite(module: Module) -> None:
    bad = [k for k, t in {**module.tensors, **module.extras}.items() if not np.all(np.isfinite(t))]
    if bad:
        raise NonFiniteError(
            f"the result has NaN or Inf in {len(bad)} tensor(s): {_listing(bad)}; nothing was written. "
            "Check the inputs with `langarith inspect` (a NaN input, or an overflow in half precision)."
        )


# --- factor semantics -------------------------------------------------------------------------------
def _factor(terms: tuple[tuple[float, Module], ...]) -> Module:
    mods = [m for _, m in terms]
    check_compatible(mods, "factor")
    _warn_unshared_init(mods)
    ref = mods[0]
    live = [(c, m) for c, m in terms if c != 0.0] or [(0.0, ref)]
    out: dict[str, np.ndarray] = {}
    for key in ref.tensors:
        # The widest input dtype, whatever the order; accumulated in place, never below float32.
        dtype = result_dtype(mods, key)
        work = np.promote_types(dtype, np.float32)
        acc = np.multiply(live[0][1].tensors[key], live[0][0], dtype=work)
        scratch = np.empty_like(acc)
        for c, m in live[1:]:
            np.multiply(m.tensors[key], c, out=scratch, dtype=work)
            acc += scratch
        with np.errstate(over="ignore"):  # overflow becomes Inf, which check_finite reports by name
            out[key] = acc.astype(dtype, copy=False)
    shared = {m.init_fingerprint for m in mods}
    return ref.with_tensors(out, name=None, language=None, role=None, provenance={}, stored_as=stored_as(mods, out),
                            init_fingerprint=ref.init_fingerprint if len(shared) == 1 else None)


def result_dtype(mods: Sequence[Module], key: str) -> np.dtype:
    """The dtype of a combined tensor: the widest of the inputs' (fp16 + fp32 is fp32 in either order).
    Integer tensors (counters, indices) are not parameters arithmetic may touch."""
    dtypes = [m.tensors[key].dtype for m in mods if key in m.tensors]
    if any(d.kind not in "f" for d in dtypes):
        holder = next(m for m in mods if key in m.tensors and m.tensors[key].dtype.kind not in "f")
        raise IncompatibleModulesError(f"tensor {key} of {holder.label} is {holder.tensors[key].dtype}, not a "
                                       "floating-point parameter; module arithmetic combines parameters only")
    return np.result_type(*dtypes)


def stored_as(mods: Sequence[Module], tensors: dict[str, np.ndarray]) -> dict[str, str]:
    """A combined tensor is written as bf16 only where every input stored it so (else in its numpy dtype)."""
    return {key: "BF16" for key in tensors if all(m.stored_as.get(key) == "BF16" for m in mods if key in m.tensors)}


def _warn_unshared_init(mods: Sequence[Module]) -> None:
    """Averaging A (and B) factors is only meaningful between modules that started from the same
    factors; LoRA's A starts random, so factors of different starts average mostly noise."""
    if len(mods) < 2 or mods[0].kind not in ("lora", "lokr"):
        return
    prints = {m.init_fingerprint for m in mods}
    if len(prints) == 1 and None not in prints:
        return
    unknown = [m.label for m in mods if m.init_fingerprint is None]
    why = (f"whose initialisation is unknown ({', '.join(unknown)}: not trained by langarith)" if unknown
           else "that started from different initial factors")
    remedy = "Use --semantics delta, which is exact whatever the initialisation"
    warnings.warn(
        f"factor-wise arithmetic on {mods[0].kind} modules {why}: element-wise sums of their factors are "
        f"not sums of their updates. {remedy}",
        SharedInitWarning, stacklevel=4,
    )


def check_compatible(mods: Sequence[Module], semantics: Semantics) -> None:
    """Raise `IncompatibleModulesError` naming every difference that makes arithmetic undefined."""
    ref = mods[0]
    for m in mods[1:]:
        if (m.format, m.kind) != (ref.format, ref.kind):
            raise IncompatibleModulesError(
                f"{m.label} is a {m.format} {m.kind} module but {ref.label} is a {ref.format} {ref.kind} "
                "module; only modules of one type can be combined"
            )
    check_one_base([(m.label, m.base) for m in mods])  # by weights' fingerprint, else by hub id or name
    for m in mods:
        if m.kind == "lora" and m.signature.get("use_dora"):
            raise SemanticsError(
                f"{m.label} is a DoRA module: its magnitude vectors are not deltas, so arithmetic on it "
                "is undefined. Compose plain LoRA modules."
            )
    if semantics == "delta":
        return
    for m in mods[1:]:
        _check_same_layout(ref, m)


def _check_same_layout(ref: Module, m: Module) -> None:
    missing = sorted(set(ref.tensors) - set(m.tensors))
    extra = sorted(set(m.tensors) - set(ref.tensors))
    if missing or extra:
        detail = []
        if missing:
            detail.append(f"missing in {m.label}: {_listing(missing)}")
        if extra:
            detail.append(f"only in {m.label}: {_listing(extra)}")
        raise IncompatibleModulesError(
            f"{m.label} and {ref.label} adapt different targets ({'; '.join(detail)}). Element-wise "
            "arithmetic needs the same target modules; retrain with the same --targets"
            + (", or use --semantics delta, which adds LoRA updates exactly" if ref.kind == "lora" else "")
        )
    rank_dim = {p.a: 0 for p in ref.lora.values()} | {p.b: 1 for p in ref.lora.values()}
    bad_shapes = [k for k in ref.tensors if ref.tensors[k].shape != m.tensors[k].shape]
    if bad_shapes:
        shown = [f"{k} {tuple(ref.tensors[k].shape)} vs {tuple(m.tensors[k].shape)}" for k in bad_shapes]
        if ref.kind == "lora" and all(_differs_only_in(ref.tensors[k].shape, m.tensors[k].shape, rank_dim.get(k))
                                      for k in bad_shapes):
            raise IncompatibleModulesError(
                f"LoRA ranks differ between {ref.label} (r={ref.rank}) and {m.label} (r={m.rank}): "
                f"{_listing(shown)}. Factor-wise arithmetic needs equal ranks; use --semantics delta "
                "(exact ΔW, optionally --rank R) for modules of different ranks"
            )
        raise IncompatibleModulesError(
            f"tensor shapes differ between {ref.label} and {m.label}: {_listing(shown)}. The modules "
            "have different configurations (hidden size, bottleneck size or factor sizes)"
        )
    bad_scale = [
        f"{layer} ({ref.lora[layer].scaling:g} vs {m.lora[layer].scaling:g})"
        for layer in ref.lora
        if layer in m.lora and not math.isclose(ref.lora[layer].scaling, m.lora[layer].scaling, rel_tol=1e-6)
    ]
    if bad_scale:
        raise IncompatibleModulesError(
            f"LoRA scalings (alpha/r) differ between {ref.label} and {m.label}: {_listing(bad_scale)}. "
            "Factor-wise arithmetic would ignore them; use --semantics delta, which applies each "
            "module's own scaling"
        )
    diff = {
        k: (ref.signature.get(k), m.signature.get(k))
        for k in set(ref.signature) | set(m.signature)
        if ref.signature.get(k) != m.signature.get(k)
    }
    if diff:
        shown = [f"{k}: {a!r} vs {b!r}" for k, (a, b) in sorted(diff.items())]
        raise IncompatibleModulesError(
            f"configurations of {ref.label} and {m.label} differ in {_listing(shown)}; the result "
            "would have no single configuration. Combine modules trained with the same config"
        )


# --- delta semantics --------------------------------------------------------------------------------
def _delta(terms: tuple[tuple[float, Module], ...], rank: int | None) -> Module:
    mods = [m for _, m in terms]
    for m in mods:
        if m.kind not in ("lora", "lokr") or m.kind != mods[0].kind:
            raise SemanticsError(
                f"--semantics delta is defined for LoRA and for LoKr modules, one kind at a time; {m.label} is a "
                f"{m.kind} module{'' if m.kind == mods[0].kind else f' and {mods[0].label} a {mods[0].kind} one'}: "
                "use --semantics factor"
            )
    check_compatible(mods, "delta")
    if mods[0].kind == "lokr":
        return lokr_delta(terms, rank)
    for m in mods:
        if m.signature.get("lora_bias"):
            raise SemanticsError(
                f"{m.label} has LoRA biases, which ΔW = s·BA does not cover; use --semantics factor"
            )
    if rank is not None and rank < 1:
        raise SemanticsError(f"--rank must be a positive integer, got {rank}")
    live = [(c, m) for c, m in terms if c != 0.0] or [terms[0]]
    ref = mods[0]
    pair_keys = {k for m in mods for p in m.lora.values() for k in (p.a, p.b)}

    layers: dict[str, LoraPair] = {}
    for m in mods:
        for layer, pair in m.lora.items():
            layers.setdefault(layer, pair)
    sums: dict[str, list[Term]] = {}
    for layer in layers:
        parts: list[Term] = []
        ref_a, ref_b = _first_factors(mods, layer)
        for c, m in live:
            pair = m.lora.get(layer)
            if pair is None:
                continue
            a, b = m.tensors[pair.a], m.tensors[pair.b]
            if a.shape[1:] != ref_a.shape[1:] or b.shape[0] != ref_b.shape[0] or b.shape[2:] != ref_b.shape[2:]:
                raise IncompatibleModulesError(
                    f"layer {layer} has different input/output sizes in {m.label} "
                    f"(A {tuple(a.shape)}, B {tuple(b.shape)}) and in {mods[0].label} "
                    f"(A {tuple(ref_a.shape)}, B {tuple(ref_b.shape)}): the modules adapt different models"
                )
            parts.append((a, b, c * pair.scaling))
        sums[layer] = parts or [(np.zeros_like(ref_a), np.zeros_like(ref_b), 0.0)]  # only in zero-weight terms
    if rank is None:
        factors = {layer: concatenate_terms(parts) for layer, parts in sums.items()}
    else:
        check_rank_fits({layer: terms[0][:2] for layer, terms in sums.items()}, rank)
        factors = truncate_sums(sums, rank)

    out_rank = rank if rank is not None else max(a.shape[0] for a, _ in factors.values())
    tensors: dict[str, np.ndarray] = {}
    lora: dict[str, LoraPair] = {}
    for layer, (a_cat, b_cat) in factors.items():
        a_cat, b_cat = pad_rank(a_cat, b_cat, out_rank)
        pair = layers[layer]
        tensors[pair.a] = a_cat.astype(result_dtype(mods, pair.a))
        tensors[pair.b] = b_cat.astype(result_dtype(mods, pair.b))
        lora[layer] = LoraPair(pair.a, pair.b, 1.0)
    # Tensors outside the LoRA pairs (e.g. trainable-token deltas) add element-wise.
    others = sorted({k for m in mods for k in m.tensors} - pair_keys)
    for key in others:
        holders = [(c, m) for c, m in terms if key in m.tensors]
        if len(holders) != len(terms):
            raise IncompatibleModulesError(
                f"tensor {key} is not in every module ({', '.join(m.label for m in mods if key not in m.tensors)} "
                "lack it); it is not a LoRA factor, so it can only be added when all modules have it"
            )
        acc = sum(c * m.tensors[key].astype(np.float64) for c, m in holders)
        tensors[key] = np.asarray(acc).astype(result_dtype(mods, key))
    targets = tuple(dict.fromkeys(t for m in mods for t in m.targets))
    return ref.with_tensors(
        tensors,
        lora=lora,
        rank=out_rank,
        alpha=float(out_rank),
        targets=targets,
        rewrite_config=True,  # the format writes the config for the new rank when the result is saved
        signature={**ref.signature, "use_rslora": False},
        stored_as=stored_as(mods, tensors),
        name=None,
        language=None,
        role=None,
        provenance={},
    )


def _differs_only_in(x: tuple[int, ...], y: tuple[int, ...], dim: int | None) -> bool:
    if dim is None or len(x) != len(y):
        return False
    return all(a == b for i, (a, b) in enumerate(zip(x, y, strict=True)) if i != dim)


def _first_factors(mods: Sequence[Module], layer: str) -> tuple[np.ndarray, np.ndarray]:
    for m in mods:
        if layer in m.lora:
            return m.tensors[m.lora[layer].a], m.tensors[m.lora[layer].b]
    raise KeyError(layer)


# --- extras (heads, modules_to_save) ----------------------------------------------------------------
def combine_extras(terms: tuple[tuple[float, Module], ...], policy: ExtrasPolicy) -> dict[str, np.ndarray]:
    carriers = [(c, m) for c, m in terms if m.extras and c != 0.0] or [(c, m) for c, m in terms if m.extras]
    keys = list(dict.fromkeys(k for _, m in carriers for k in m.extras))
    out: dict[str, np.ndarray] = {}
    for key in keys:
        holders = [m for _, m in carriers if key in m.extras]
        values = [m.extras[key] for m in holders]
        if all(v.shape == values[0].shape and np.array_equal(v, values[0]) for v in values[1:]):
            out[key] = values[0]
        elif policy == "mean" and all(v.shape == values[0].shape for v in values):
            out[key] = np.mean([v.astype(np.float64) for v in values], axis=0).astype(values[0].dtype)
        else:
            raise IncompatibleModulesError(
                f"{key} is a full weight (prediction head or modules_to_save), not a delta, and it "
                f"differs between {', '.join(m.label for m in holders)}. Arithmetic on it is undefined: "
                "pass extras='mean' (CLI: --extras mean) to average it, or compose modules without heads"
            )
    return out


# --- small utilities --------------------------------------------------------------------------------
def _as_vector(x: Any, op: str) -> ModuleVector:
    if isinstance(x, ModuleVector):
        return x
    if isinstance(x, Module):
        return x.vector
    if _is_scalar(x):
        raise TypeError(
            f"cannot apply '{op}' to a module and a number: modules add to modules; "
            "numbers only scale them (e.g. 0.5 * a)"
        )
    raise TypeError(f"cannot apply '{op}' to a module and a {type(x).__name__}")


def _is_scalar(x: Any) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


def _listing(items: Sequence[str]) -> str:
    items = list(items)
    shown = ", ".join(items[:_SHOW])
    return shown + (f" … and {len(items) - _SHOW} more" if len(items) > _SHOW else "")
