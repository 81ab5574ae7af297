"""The numbers behind the analysis figures, computed from `Module`s without matplotlib, so that reports and
tests use them directly.

The papers argue from three pictures: language vectors are more similar to each other than task vectors are
(cosine ≈ 0.2–0.3 against ≈ 0.01–0.03), language vectors are sparse (most |θ| near zero, "No Train but
Gain"), and the gain of language arithmetic depends on how related the languages are. `as_updates` gives what
a LoRA module adds to the weights (ΔW), `cosine_matrix`, `density_stats` and `distance_cosine_pairs` the
numbers; `langarith.analysis.plots` draws them. Nothing here imports torch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from langarith.arith.lowrank import lora_delta
from langarith.arith.module import Module
from langarith.core.errors import IncompatibleModulesError, LangarithError, TypologyError, UnknownLanguageError
from langarith.languages.typology import DEFAULT_KIND, KINDS, SelectionError, distance_matrix


class AnalysisError(LangarithError, ValueError):
    """The inputs cannot give the requested figure or statistic (nothing to plot, empty module)."""


class NotEnoughLanguagesError(AnalysisError):
    """Fewer than two modules with a language URIEL knows, so there is no distance to plot.
    The analyze command catches this one and skips the figure with the reason."""




def module_labels(modules: Sequence[Module]) -> list[str]:
    """Short names for axes: the module's name, else its language, else its folder. A language
    module and a task module of the same language would both be called "pt", so collisions are
    told apart by role, then by folder, then by position."""
    base = [_base_label(m, i) for i, m in enumerate(modules)]
    labels = list(base)
    for refine in (_with_role, _with_folder, lambda m, label, i: f"{label} #{i + 1}"):
        counts: dict[str, int] = {}
        for label in labels:
            counts[label] = counts.get(label, 0) + 1
        if all(c == 1 for c in counts.values()):
            break
        labels = [refine(m, label, i) if counts[label] > 1 else label
                  for i, (m, label) in enumerate(zip(modules, labels, strict=True))]
    return labels


def _base_label(module: Module, index: int) -> str:
    if module.name:
        return module.name
    if module.language:
        return module.language
    if module.source is not None:
        return module.source.name or str(module.source)
    return f"module {index + 1}"


def _with_role(module: Module, label: str, index: int) -> str:
    return f"{label} ({module.role})" if module.role and module.role not in label else label


def _with_folder(module: Module, label: str, index: int) -> str:
    if module.source is None:
        return label
    if label == module.source.name:  # already the folder's name: add its parent
        return "/".join(module.source.parts[-2:])
    return f"{label} [{module.source.name}]"


def _describe(module: Module, label: str) -> str:
    """How errors name a module: its short label plus the folder it came from, when known."""
    return f"{label} ({module.source})" if module.source is not None and str(module.source) != label else label


def as_updates(module: Module) -> Module:
    """What a LoRA module adds to the weights, ΔW = s·B·A per layer, as the vector to compare. Every module
    langarith trains for one base model and config starts from the same A (shared initialisation), so
    cosine or density over the raw factors mostly measures that shared start (≈ 0.96 between any two);
    ΔW starts at zero and holds only what training did. Other module types are returned unchanged."""
    if not module.lora:
        return module
    tensors = {layer: lora_delta(module, layer).astype(np.float32) for layer in module.lora}
    return replace(module, tensors=tensors, lora={}, kind=f"{module.kind} ΔW")


def cosine_matrix(modules: Sequence[Module]) -> tuple[list[str], np.ndarray]:
    """Pairwise cosine similarity of the modules' flattened parameter vectors θ.

    Each pair is compared over the tensors both modules have (by canonical name), so modules that
    adapt different layer sets can still be compared where they overlap; both norms are taken over
    that same shared part, which keeps the value in [-1, 1]. A pair with no tensor in common, or a
    shared tensor whose shape differs, has no meaningful cosine and raises
    IncompatibleModulesError naming both modules. A module whose shared part is all zeros gets NaN.
    Computed tensor by tensor (one Gram matrix each), so no module is ever copied whole."""
    modules = list(modules)
    if not modules:
        raise AnalysisError("no modules given: pass at least one module folder to compare")
    labels = module_labels(modules)
    return labels, _cosine(modules, labels)


def cosine_by_shape(modules: Sequence[Module]) -> tuple[list[str], np.ndarray]:
    """`cosine_matrix` within each group of modules of one layout (the same tensors, of the same shapes), NaN
    between groups: what an experiment's analysis compares when its modules differ in shape (MAD-X's language
    and task adapters, a LoRA and a LoKr ΔW). The means, the heatmap and the distance pairs leave NaN out."""
    modules = list(modules)
    labels = module_labels(modules)
    groups: dict[tuple, list[int]] = {}
    for i, m in enumerate(modules):
        groups.setdefault(tuple(sorted((k, tuple(v.shape)) for k, v in m.tensors.items())), []).append(i)
    cos = np.full((len(modules), len(modules)), np.nan)
    for members in groups.values():
        cos[np.ix_(members, members)] = _cosine([modules[i] for i in members], [labels[i] for i in members])
    return labels, cos


def _cosine(modules: Sequence[Module], labels: Sequence[str]) -> np.ndarray:
    n = len(modules)
    dot = np.zeros((n, n))
    own = np.zeros((n, n))  # own[i, j]: |θ_i|² over the tensors i shares with j
    shared = np.zeros((n, n), dtype=np.int64)
    keys = dict.fromkeys(key for m in modules for key in m.tensors)
    for key in keys:
        holders = [i for i, m in enumerate(modules) if key in m.tensors]
        first = holders[0]
        shape = modules[first].tensors[key].shape
        for i in holders[1:]:
            other = modules[i].tensors[key].shape
            if other != shape:
                raise IncompatibleModulesError(
                    f"{_describe(modules[first], labels[first])} and {_describe(modules[i], labels[i])} both have "
                    f"tensor {key!r} but with shapes {tuple(shape)} and {tuple(other)}: they differ in rank or "
                    "base model, so their parameters cannot be compared element-wise. Compare modules of the same "
                    "rank and base model (or bring one to the other's rank with `langarith compose --semantics "
                    "delta --rank R`)"
                )
        x = np.stack([np.asarray(modules[i].tensors[key], dtype=np.float64).reshape(-1) for i in holders])
        where = np.ix_(holders, holders)
        dot[where] += x @ x.T
        own[where] += np.einsum("ij,ij->i", x, x)[:, None]
        shared[where] += 1
    for i in range(n):
        for j in range(i + 1, n):
            if shared[i, j] == 0:
                raise IncompatibleModulesError(
                    f"{_describe(modules[i], labels[i])} and {_describe(modules[j], labels[j])} share no tensor "
                    "names, so there is no common parameter space to compare them in: they adapt different layers, "
                    "use different module types (LoRA, LoKr, bottleneck adapters) or were saved in different "
                    "formats. Analyse modules of one kind and format together"
                )
    denom = np.sqrt(own * own.T)
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = np.where(denom > 0, dot / np.where(denom > 0, denom, 1.0), np.nan)
    return np.clip(cos, -1.0, 1.0)


def mean_pairwise(matrix: np.ndarray, members: Sequence[int]) -> float | None:
    """Mean of the off-diagonal values among `members` (each pair once), ignoring NaN; None when
    fewer than two members (or no finite pair), so that a report says "n/a" rather than 0."""
    members = list(members)
    if len(members) < 2:
        return None
    values = [matrix[i, j] for a, i in enumerate(members) for j in members[a + 1:]]
    finite = [v for v in values if np.isfinite(v)]
    return float(np.mean(finite)) if finite else None


def mean_between(matrix: np.ndarray, left: Sequence[int], right: Sequence[int]) -> float | None:
    """Mean of the values between two disjoint groups, ignoring NaN; None when either is empty."""
    finite = [matrix[i, j] for i in left for j in right if np.isfinite(matrix[i, j])]
    return float(np.mean(finite)) if finite else None


def density_stats(module: Module) -> dict[str, float]:
    """How sparse θ is: the share of |θ| below 1e-3 and 1e-2 of the module's largest |θ| (scale-free,
    so modules trained with different learning rates compare), the share exactly zero, and mean and
    max |θ|. Computed per tensor, without concatenating the module."""
    total = module.num_params
    if total == 0:
        raise AnalysisError(f"{module.label} has no parameters to measure; check that the folder holds a trained "
                            "module (its weights file may be empty)")
    peak = max(float(np.max(np.abs(t))) if t.size else 0.0 for t in module.tensors.values())
    if not math.isfinite(peak):
        raise AnalysisError(f"{module.label} contains NaN or Inf parameters; re-train or re-compose it")
    below3 = below2 = zeros = 0
    abs_sum = 0.0
    for tensor in module.tensors.values():
        a = np.abs(np.asarray(tensor, dtype=np.float64))
        abs_sum += float(a.sum())
        zeros += int(np.count_nonzero(a == 0))
        below3 += int(np.count_nonzero(a < 1e-3 * peak))
        below2 += int(np.count_nonzero(a < 1e-2 * peak))
    if peak == 0:  # an all-zero module is as sparse as it gets
        below3 = below2 = total
    return {
        "num_params": total,
        "mean_abs": abs_sum / total,
        "max_abs": peak,
        "share_zero": zeros / total,
        "share_below_1e-3": below3 / total,
        "share_below_1e-2": below2 / total,
    }


@dataclass(frozen=True)
class DistancePairs:
    """Every pair of modules whose languages URIEL knows: typological distance against cosine."""

    kind: str
    pairs: list[dict[str, Any]]  # a, b (labels), language_a, language_b, distance, cosine, group
    skipped_pairs: int = 0
    unknown: dict[str, str] = field(default_factory=dict)  # module label -> why URIEL cannot place it
    #: Pearson r of distance against cosine within each pair type ("language–language", "task–task", …): the
    #: types are never pooled, since task modules are far less alike than language modules whatever the languages
    pearson_r: dict[str, float | None] = field(default_factory=dict)

    def groups(self) -> list[str]:
        """The pair types present, same-role types first (the ones the papers compare)."""
        present = list(dict.fromkeys(p["group"] for p in self.pairs))
        return sorted(present, key=lambda g: (len(set(g.split("–"))) > 1, g))

    def to_json(self, digits: int = 4) -> dict[str, Any]:
        def num(x: float | None) -> float | None:
            return None if x is None or not math.isfinite(x) else round(float(x), digits)

        return {
            "kind": self.kind,
            "pairs": [{**p, "distance": num(p["distance"]), "cosine": num(p["cosine"])} for p in self.pairs],
            "pearson_r": {group: num(r) for group, r in self.pearson_r.items()},
            "skipped_pairs": self.skipped_pairs,
            "unknown_languages": self.unknown,
        }


def distance_cosine_pairs(
    modules: Sequence[Module], kind: str = DEFAULT_KIND, *, cosine: np.ndarray | None = None
) -> DistancePairs:
    """Pair up the modules that have a language and look up their URIEL distance, to test whether
    related languages have more similar modules. A language URIEL cannot place is skipped (and
    reported) rather than failing the analysis, since real collections contain such modules.
    `cosine`, the full matrix from `cosine_matrix(modules)`, saves recomputing it for large modules."""
    if kind not in KINDS:
        raise SelectionError(f"unknown distance kind {kind!r}: choose one of {', '.join(KINDS)}")
    modules = list(modules)
    labels = module_labels(modules)
    with_lang = [i for i, m in enumerate(modules) if m.language]
    if len(with_lang) < 2:
        raise NotEnoughLanguagesError(
            f"{len(with_lang)} of {len(modules)} modules have a language; a distance needs at least two. Give "
            "modules a language (langarith.json's \"language\", or `langarith analyze --lang-module LANG=DIR`)"
        )
    codes = list(dict.fromkeys(str(modules[i].language) for i in with_lang))
    unknown_codes: dict[str, str] = {}
    try:
        matrix = distance_matrix(codes, kinds=[kind])
    except (TypologyError, UnknownLanguageError):
        for code in codes:
            try:
                distance_matrix([code], kinds=[kind])
            except (TypologyError, UnknownLanguageError) as err:
                unknown_codes[code] = str(err)
        known_codes = [c for c in codes if c not in unknown_codes]
        matrix = distance_matrix(known_codes, kinds=[kind]) if known_codes else None
    known = [i for i in with_lang if modules[i].language not in unknown_codes]
    unknown = {labels[i]: unknown_codes[str(modules[i].language)] for i in with_lang if i not in known}
    total_pairs = len(with_lang) * (len(with_lang) - 1) // 2
    if len(known) < 2 or matrix is None:
        raise NotEnoughLanguagesError(
            f"URIEL knows the language of {len(known)} of the {len(with_lang)} modules with a language, so there "
            f"is no pair to plot. Unknown: " + "; ".join(f"{label}: {why}" for label, why in unknown.items())
        )
    if cosine is not None and cosine.shape != (len(modules), len(modules)):
        raise AnalysisError(f"cosine matrix of shape {cosine.shape} given for {len(modules)} modules; pass the "
                            "matrix cosine_matrix returns for these same modules")
    cos = cosine[np.ix_(known, known)] if cosine is not None else _cosine([modules[i] for i in known],
                                                                          [labels[i] for i in known])
    pairs, incomparable = [], 0
    for a, i in enumerate(known):
        for b, j in enumerate(known[a + 1:], start=a + 1):
            mi, mj = modules[i], modules[j]
            if not np.isfinite(cos[a, b]):
                incomparable += 1  # no cosine: a module of zeros, or layouts that differ (`cosine_by_shape`)
                continue
            pairs.append({
                "a": labels[i],
                "b": labels[j],
                "language_a": mi.language,
                "language_b": mj.language,
                "distance": matrix.get(str(mi.language), str(mj.language), kind),
                "cosine": float(cos[a, b]),
                "group": pair_group(mi.role, mj.role),
            })
    if not pairs:
        raise NotEnoughLanguagesError(f"none of the {incomparable} pairs of modules with a language has a cosine "
                                      "(modules of zeros, or of layouts that cannot be compared)")
    by_group = {g: [p for p in pairs if p["group"] == g] for g in dict.fromkeys(p["group"] for p in pairs)}
    skipped = total_pairs - incomparable - len(pairs)
    return DistancePairs(kind=kind, pairs=pairs, skipped_pairs=skipped, unknown=unknown,
                         pearson_r={g: _pearson([p["distance"] for p in ps], [p["cosine"] for p in ps])
                                    for g, ps in by_group.items()})


def roles_agree(modules: Sequence[Module], cosine: np.ndarray) -> dict[str, Any] | None:
    """Whether two task vectors are alike where their languages' vectors are: Pearson r, over the language
    pairs both roles have, between the task vectors' cosine and the language vectors' cosine (a task adapter
    trained on a language's adapter may carry that language). None below three languages in common."""
    index = {role: {m.language: i for i, m in enumerate(modules) if m.language and m.role == role}
             for role in ("language", "task")}
    common = sorted(set(index["language"]) & set(index["task"]))
    if len(common) < 3:
        return None
    pairs = [(a, b) for n, a in enumerate(common) for b in common[n + 1:]]
    by_role = {role: [cosine[index[role][a], index[role][b]] for a, b in pairs] for role in index}
    return {"languages": common, "pairs": len(pairs), "pearson_r": _pearson(by_role["language"], by_role["task"])}


def pair_group(role_a: str | None, role_b: str | None) -> str:
    """Which kind of pair this is, so that language–language and task–task pairs can be told apart."""
    roles = sorted(r or "unspecified" for r in (role_a, role_b))
    return "–".join(roles)


def _pearson(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Pearson r over finite pairs; None below three pairs or when either side is constant, where
    r is undefined or trivially ±1."""
    xs, ys = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    keep = np.isfinite(xs) & np.isfinite(ys)
    xs, ys = xs[keep], ys[keep]
    if xs.size < 3 or np.ptp(xs) == 0 or np.ptp(ys) == 0:
        return None
    return float(np.corrcoef(xs, ys)[0, 1])
