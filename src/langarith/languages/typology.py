"""Typological distances between languages (URIEL) and the choice of related languages — the one rule
every part of langarith picks related languages by (recipes, experiment settings, `langarith related`).

Both papers pick the languages to combine for a target by URIEL distance: paper 1 averages the task modules
of sources with syntactic distance < 0.7 and geographic distance < 0.3 to the target, paper 2 takes the
single most related language among the adapters available. How the six distances are computed from
lang2vec's URIEL vectors, and their caveats, is in `langarith.languages.uriel`.

Values are rounded nowhere: all distances are in [0, 1], symmetric, with a zero diagonal. Matrices are
cached on disk (`paths.cache_dir("typology")`), keyed by the pool, the algorithm version, the langarith
version and the content hashes of lang2vec's data files.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from langarith.core.errors import TypologyError, UnknownLanguageError
from langarith.core.paths import cache_dir, read_npz, write_npz
from langarith.languages import uriel
from langarith.languages.codes import Language, resolve
from langarith.languages.uriel import KINDS, NotInURIELError, NoTypologyError, data_version, uriel_languages

RULES: tuple[str, ...] = ("paper", "top-k", "nearest")
DEFAULT_KIND = "syntactic"
PAPER_MAX_SYNTACTIC = 0.7
PAPER_MAX_GEOGRAPHIC = 0.3


class SelectionError(TypologyError, ValueError):
    """A related-language query that cannot be answered as asked (bad rule, k, kind or pool)."""


# ------------------------------------------------------------------------------------- distances


@dataclass(frozen=True)
class DistanceMatrix:
    """Distances between languages, one (n, n) matrix per kind, rows in the order given."""

    languages: tuple[Language, ...]
    values: dict[str, np.ndarray]
    sources: dict[str, dict[str, str]]  # user code -> block -> URIEL code the data came from

    @property
    def codes(self) -> list[str]:
        return [lang.code for lang in self.languages]

    def __getitem__(self, kind: str) -> np.ndarray:
        return self.values[_check_kind(kind)]

    def get(self, a: str, b: str, kind: str = DEFAULT_KIND) -> float:
        """Distance between two of the languages, by the code as given or any other spelling."""
        return float(self[kind][self._position(a), self._position(b)])

    def _position(self, code: str) -> int:
        codes = self.codes
        if code in codes:
            return codes.index(code)
        iso3 = resolve(code).iso639_3
        for i, lang in enumerate(self.languages):
            if lang.iso639_3 == iso3:
                return i
        raise UnknownLanguageError(f"{code} is not one of the languages of this matrix ({', '.join(codes)})")

    def to_json(self, kind: str = DEFAULT_KIND, digits: int = 4) -> dict:
        return {
            "kind": _check_kind(kind),
            "languages": self.codes,
            "matrix": [[round(float(x), digits) for x in row] for row in self[kind]],
        }


def _check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise SelectionError(f"unknown distance kind {kind!r}: choose one of {', '.join(KINDS)}")
    return kind


def distance_matrix(codes: Sequence[str | Language], kinds: Iterable[str] = KINDS) -> DistanceMatrix:
    """Pairwise distances for a pool of languages; cached on disk by pool and data version."""
    kinds = tuple(dict.fromkeys(_check_kind(k) for k in kinds))
    languages = tuple(resolve(code) for code in codes)
    if not languages:
        raise SelectionError("no languages given: pass at least one language code")
    table = uriel.load_table()
    rows = [uriel.rows_for(lang, table) for lang in languages]
    sources = {
        lang.code: {block: str(table.codes[i]) for block, i in r.items()}
        for lang, r in zip(languages, rows, strict=True)
    }
    identity = [lang.iso639_3 for lang in languages]
    key = hashlib.sha256(
        json.dumps([data_version(), kinds, identity, [sorted(r.items()) for r in rows]]).encode()
    ).hexdigest()[:24]
    path = cache_dir("typology", write=False) / f"matrix-{key}.npz"
    cached = read_npz(path)
    if cached is not None and set(cached) == set(kinds):
        values = cached
    else:
        values = uriel.compute(table, rows, identity, kinds)
        write_npz(path, values)
    return DistanceMatrix(languages=languages, values={k: values[k] for k in kinds}, sources=sources)


def distance(a: str | Language, b: str | Language, kind: str = DEFAULT_KIND) -> float:
    """One distance between two languages (see the module docstring for each kind)."""
    return float(distance_matrix([a, b], kinds=[kind])[kind][0, 1])


def distances(a: str | Language, b: str | Language) -> dict[str, float]:
    """All six distances between two languages."""
    matrix = distance_matrix([a, b])
    return {kind: float(matrix[kind][0, 1]) for kind in KINDS}


# ------------------------------------------------------------------------------ related languages


@dataclass(frozen=True)
class Relatedness:
    """Which pool languages a rule picks for a target, with the distances that decided it."""

    target: Language
    rule: str
    kind: str
    related: tuple[Language, ...]
    candidates: tuple[Language, ...]  # the whole pool less the target, closest first
    distances: dict[str, dict[str, float]]  # candidate's code as given -> kind -> distance
    message: str
    nearest: tuple[Language, ...] = ()  # when nothing was selected: the candidates closest to passing
    thresholds: dict[str, float] = field(default_factory=dict)

    @property
    def codes(self) -> list[str]:
        return [lang.code for lang in self.related]

    def to_json(self, digits: int = 4) -> dict:
        out = {
            "target": self.target.code,
            "rule": self.rule,
            "related": self.codes,
            "distances": {
                code: {kind: round(value, digits) for kind, value in row.items()}
                for code, row in self.distances.items()
            },
            "kind": self.kind,
            "message": self.message,
        }
        if self.thresholds:
            out["thresholds"] = self.thresholds
        if not self.related:
            out["nearest"] = [lang.code for lang in self.nearest]
        return out


def related(
    target: str | Language,
    pool: Iterable[str | Language],
    rule: str = "paper",
    *,
    k: int = 3,
    kind: str = DEFAULT_KIND,
    max_syntactic: float = PAPER_MAX_SYNTACTIC,
    max_geographic: float = PAPER_MAX_GEOGRAPHIC,
) -> Relatedness:
    """Pick the pool languages related to `target`.

    Rules:
    - `paper` (Chronopoulou et al.): every candidate with syntactic < `max_syntactic` and
      geographic < `max_geographic` (strict, as in the paper), closest syntactically first.
    - `top-k`: the `k` candidates closest by `kind`.
    - `nearest` (Klimaszewski et al.'s "most related language"): the single closest by `kind`.
      The default kind is syntactic, the URIEL distance most used to pick transfer languages and
      the primary criterion of paper 1; genetic is the natural alternative for adapters that
      carry vocabulary, but it ties often (every unrelated language is at 1.0), so choose it
      explicitly.
    Ordering and ties are deterministic: by the ranking distance, then syntactic, geographic,
    genetic, then ISO code. The target itself (in any spelling) and repeated languages are
    dropped from the pool. An empty selection is not an error: the result says so in `message`
    and lists in `nearest` the candidates closest to passing the thresholds.
    """
    if rule not in RULES:
        raise SelectionError(f"unknown rule {rule!r}: choose one of {', '.join(RULES)}")
    _check_kind(kind)
    if rule == "top-k" and k < 1:
        raise SelectionError(f"k must be at least 1 for the top-k rule, got {k}")
    for name, value in (("max_syntactic", max_syntactic), ("max_geographic", max_geographic)):
        if not 0.0 <= value <= 1.0:
            raise SelectionError(f"{name} must be in [0, 1] (distances are), got {value}")
    goal = resolve(target)
    seen = {goal.iso639_3}
    candidates: list[Language] = []
    for code in pool:
        lang = resolve(code)
        if lang.iso639_3 not in seen:
            seen.add(lang.iso639_3)
            candidates.append(lang)
    if not candidates:
        raise SelectionError(
            f"the pool has no language other than the target {goal.code}: give at least one other language"
        )
    matrix = distance_matrix([goal, *candidates])
    table = {lang.code: {k_: float(matrix[k_][0, i + 1]) for k_ in KINDS} for i, lang in enumerate(candidates)}
    primary = "syntactic" if rule == "paper" else kind

    def order(lang: Language) -> tuple:
        d = table[lang.code]
        return (d[primary], d["syntactic"], d["geographic"], d["genetic"], lang.iso639_3, lang.code)

    ranked = sorted(candidates, key=order)
    thresholds: dict[str, float] = {}
    nearest: tuple[Language, ...] = ()
    if rule == "paper":
        thresholds = {"syntactic": max_syntactic, "geographic": max_geographic}
        chosen = [
            lang
            for lang in ranked
            if table[lang.code]["syntactic"] < max_syntactic and table[lang.code]["geographic"] < max_geographic
        ]
        criterion = f"syntactic < {max_syntactic:g} and geographic < {max_geographic:g}"
        if chosen:
            message = f"{len(chosen)} of {len(ranked)} pool languages have {criterion} to {goal.code}."
        else:

            def overshoot(lang: Language) -> tuple:
                d = table[lang.code]
                ratio = max(d["syntactic"] / max(max_syntactic, 1e-9), d["geographic"] / max(max_geographic, 1e-9))
                return (ratio, *order(lang))

            nearest = tuple(sorted(ranked, key=overshoot)[:3])
            listing = ", ".join(
                f"{lang.code} (syntactic {table[lang.code]['syntactic']:.2f}, "
                f"geographic {table[lang.code]['geographic']:.2f})"
                for lang in nearest
            )
            message = (
                f"No pool language has {criterion} to {goal.code}. Nearest candidates: {listing}. "
                "Loosen the thresholds, or use the top-k or nearest rule."
            )
    elif rule == "top-k":
        chosen = ranked[:k]
        message = f"The {len(chosen)} pool languages closest to {goal.code} by {kind} distance."
        if k > len(ranked):
            message += f" The pool has only {len(ranked)} candidates."
    else:
        chosen = ranked[:1]
        message = f"{chosen[0].code} is the pool language closest to {goal.code} by {kind} distance."
    return Relatedness(
        target=goal,
        rule=rule,
        kind=primary,
        related=tuple(chosen),
        candidates=tuple(ranked),
        distances={lang.code: table[lang.code] for lang in ranked},
        message=message,
        nearest=nearest,
        thresholds=thresholds,
    )


@dataclass(frozen=True)
class Rule:
    """How related languages are picked: the rule and its knobs (`related`'s arguments), as a config's
    `typology:` block and `langarith related`'s options give them."""

    rule: str = "paper"
    kind: str = DEFAULT_KIND  # ranks top-k and nearest (and LA's partner); the paper's rule is syntactic
    k: int = 3  # top-k: how many
    max_syntactic: float = PAPER_MAX_SYNTACTIC  # paper: thresholds
    max_geographic: float = PAPER_MAX_GEOGRAPHIC

    def apply(self, target: str | Language, pool: Iterable[str | Language], rule: str | None = None) -> Relatedness:
        return related(target, pool, rule or self.rule, k=self.k, kind=self.kind, max_syntactic=self.max_syntactic,
                       max_geographic=self.max_geographic)

    def describe(self) -> str:
        if self.rule == "paper":
            return f"syntactic < {self.max_syntactic:g} and geographic < {self.max_geographic:g}"
        return f"the {self.k} closest by {self.kind}" if self.rule == "top-k" else f"the closest by {self.kind}"


PAPER = Rule()


@dataclass(frozen=True)
class Choice:
    """The related languages a setting or recipe uses, and a note saying how they were chosen."""

    codes: list[str]
    note: str


def choose_related(target: str, pool: Sequence[str], rule: str | Rule = "paper", *, exclude: Sequence[str] = (),
                   fallback: bool = True) -> Choice:
    """The related languages of `target` among `pool` (less `exclude`) by `rule` (a rule's name, or a `Rule` with
    its knobs), as `related` picks them; when the paper's rule selects nobody, the nearest language by the rule's
    kind (`fallback`) or a SelectionError saying so. The codes are as the pool spells them. Recipes, experiment
    settings and the CLI all choose through here, so "related" means one thing everywhere."""
    rule = rule if isinstance(rule, Rule) else replace(PAPER, rule=rule)
    candidates = _candidates(target, pool, exclude)
    choice = rule.apply(target, candidates)
    if choice.related:
        return Choice(choice.codes, "related: " + ", ".join(choice.codes))
    if not fallback:
        raise SelectionError(f"no language of {', '.join(candidates)} is related to {target} by the paper's rule "
                             f"({choice.message})")
    nearest = rule.apply(target, candidates, "nearest")
    return Choice(nearest.codes, f"no source passes the paper's rule; nearest: {', '.join(nearest.codes)}")


def _candidates(target: str, pool: Sequence[str], exclude: Sequence[str]) -> list[str]:
    dropped = {resolve(code).iso639_3 for code in exclude}
    candidates = [code for code in pool if resolve(code).iso639_3 not in dropped]
    if not candidates:
        raise SelectionError(f"no candidate language for {target}: the pool ({', '.join(pool) or 'empty'}) holds only "
                             f"{', '.join(exclude) or 'the target'}; add languages to the pool")
    return candidates


def distances_to(target: str, pool: Sequence[str], kind: str = DEFAULT_KIND) -> dict[str, float]:
    """The `kind` distance from `target` to each pool language, keyed as the pool spells them."""
    matrix = distance_matrix([target, *pool], kinds=[kind])
    return {code: float(matrix[kind][0, i + 1]) for i, code in enumerate(pool)}


__all__ = [
    "DEFAULT_KIND",
    "KINDS",
    "RULES",
    "Choice",
    "DistanceMatrix",
    "NoTypologyError",
    "NotInURIELError",
    "Relatedness",
    "Rule",
    "SelectionError",
    "choose_related",
    "data_version",
    "distance",
    "distance_matrix",
    "distances",
    "distances_to",
    "related",
    "uriel_languages",
]
