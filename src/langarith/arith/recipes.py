"""The papers' recipes, each written as its equation, and the registry `langarith compose --recipe` and the
experiment settings draw from.

Paper 1 (Chronopoulou et al.): `add` (eq. 1), `add_subtract` (eq. 2), `add_all` / `add_related`
(eq. 3), `add_subtract_related` (eq. 4). Paper 2 (Klimaszewski et al.): `la`. The controls: `scaled`.
Beyond the papers: `add_weighted`, every source weighted by its typological distance to the target.
Baselines: TIES, DARE and magnitude pruning (`langarith.arith.merges`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from langarith.arith.algebra import ModuleVector, mean, weighted_sum
from langarith.arith.merges import merge
from langarith.arith.module import Module
from langarith.core.errors import RecipeError, UnknownLanguageError
from langarith.core.registry import Registry
from langarith.languages.codes import find_in
from langarith.languages.typology import SelectionError, choose_related, distances_to

Vec = Module | ModuleVector
DEFAULT_TAU = 0.1  # add-weighted's temperature where none is tuned: the nearest source weighs most, others count


def check_lambda(lam: float, recipe: str) -> float:
    if lam is None or not 0.0 <= float(lam) <= 1.0:
        raise RecipeError(
            f"{recipe} needs λ in [0, 1] (it interpolates between two modules), got {lam}; "
            "tune it on validation data with `langarith search-lambda`"
        )
    return float(lam)


# --- the equations ------------------------------------------------------------------------------
# Arguments are keyword-only, so that a task module and a language module (or two languages) cannot be
# swapped silently; a module whose recorded role contradicts its argument is refused.
def add(*, task: Vec, target: Vec, lam: float) -> ModuleVector:
    """Eq. 1: θ_task;T = λ·θ_task;S + (1−λ)·θ_LM;T. `task`: the source's task module; `target`: the
    target's language module."""
    lam = check_lambda(lam, "add")
    return lam * _role(task, "task", "add: task=") + (1 - lam) * _role(target, "language", "add: target=")


def add_subtract(*, task: Vec, target: Vec, source: Vec, lam: float) -> ModuleVector:
    """Eq. 2: θ_task;T = λ·θ_task;S + (1−λ)·(θ_LM;T − θ_LM;S). `target`, `source`: language modules."""
    lam = check_lambda(lam, "add-subtract")
    task, target = _role(task, "task", "add-subtract: task="), _role(target, "language", "add-subtract: target=")
    return lam * task + (1 - lam) * (target - _role(source, "language", "add-subtract: source="))


def add_all(tasks: Iterable[Vec]) -> ModuleVector:
    """Eq. 3 with L = N: the mean of every source's task module."""
    return mean(_role(t, "task", "add-all: tasks=") for t in tasks)


def add_related(task: Mapping[str, Vec], related: Sequence[str]) -> ModuleVector:
    """Eq. 3 with L ≤ N: the mean of the task modules of the sources related to the target."""
    return mean(_pick_all(task, related, "task"))


def softmax_weights(distance: Mapping[str, float], tau: float) -> dict[str, float]:
    """w_i = softmax(−d_i/τ): closer sources weigh more; τ → 0 keeps the nearest, τ → ∞ gives the mean."""
    if not tau > 0:
        raise RecipeError(f"add-weighted needs a temperature τ > 0, got {tau}; try 0.1")
    if not distance:
        raise RecipeError("add-weighted needs at least one source distance")
    logits = -np.array([float(d) for d in distance.values()]) / float(tau)
    weights = np.exp(logits - logits.max())
    return dict(zip(distance, (weights / weights.sum()).tolist(), strict=True))


def add_weighted(task: Mapping[str, Vec], distance: Mapping[str, float], *, tau: float) -> ModuleVector:
    """θ_task;T = Σ_i softmax(−d_i/τ)·θ_task;i over the sources i of `distance` (their typological distance to
    the target): Add all with closer sources weighing more."""
    weights = softmax_weights(distance, tau)
    return weighted_sum(list(weights.values()), _pick_all(task, list(weights), "task"))


def add_subtract_related(
    *, task: Mapping[str, Vec], lang: Mapping[str, Vec], target: str, related: Sequence[str], lam: float
) -> ModuleVector:
    """Eq. 4: θ_task;T = λ·θ'_task;S + (1−λ)·(θ_LM;T − θ'_LM;S), θ' = means over related sources.
    `task`, `lang`: modules by language; `target`, `related`: language codes."""
    lam = check_lambda(lam, "add-subtract-related")
    task_rel = mean(_pick_all(task, related, "task"))
    lang_rel = mean(_pick_all(lang, related, "language"))
    return lam * task_rel + (1 - lam) * (_pick(lang, target, "language") - lang_rel)


def la(a: Vec, b: Vec, *, lam: float) -> ModuleVector:
    """Language arithmetic (paper 2): LA(a, b) = λ·θ_a + (1−λ)·θ_b."""
    lam = check_lambda(lam, "la")
    return lam * a + (1 - lam) * b


def scaled(theta: Vec, *, lam: float) -> ModuleVector:
    """The controls' λ·θ: a recipe's λ without its language module (task ×λ, en-scaled, related ×λ), which
    asks whether shrinking θ alone gains what the recipe gains."""
    lam = check_lambda(lam, "scaled")
    return lam * theta


# --- the registry behind `langarith compose --recipe` ----------------------------------------------
@dataclass
class RecipeInputs:
    task: dict[str, Module] = field(default_factory=dict)
    lang: dict[str, Module] = field(default_factory=dict)
    source: str | None = None
    target: str | None = None
    lam: float | None = None
    related: list[str] | None = None
    params: dict[str, Any] = field(default_factory=dict)
    semantics: str = "factor"
    rank: int | None = None
    applied: list[float] | None = None  # a merge's weight on each input, in order (linear recipes: their terms')


@dataclass(frozen=True)
class Recipe:
    name: str
    run: Callable[[RecipeInputs], Vec]
    role: str  # role of the result
    uses_lambda: bool
    help: str


RECIPES: Registry[Recipe] = Registry("recipe", RecipeError, group="recipes")


def recipe(name: str, role: str, uses_lambda: bool, help: str) -> Callable:
    """Register `fn(inputs) -> composition` as the recipe `name` (`langarith compose --recipe NAME`)."""

    def wrap(fn: Callable[[RecipeInputs], Vec]) -> Callable[[RecipeInputs], Vec]:
        RECIPES.register(Recipe(name, fn, role, uses_lambda, help))
        return fn

    return wrap


def result_language(name: str, inputs: RecipeInputs) -> str | None:
    """The language the composed module is for (what its manifest records)."""
    if name in ("add", "add-subtract", "add-related", "add-subtract-related"):
        return target_of(inputs)
    return inputs.target


@recipe("add", "task", True, "λ·task[S] + (1−λ)·lang[T]  (paper 1, eq. 1)")
def _add(x: RecipeInputs) -> Vec:
    return add(task=_pick(x.task, source_of(x), "task"), target=_pick(x.lang, target_of(x), "language"),
               lam=_lam(x, "add"))


@recipe("add-subtract", "task", True, "λ·task[S] + (1−λ)·(lang[T] − lang[S])  (paper 1, eq. 2)")
def _add_subtract(x: RecipeInputs) -> Vec:
    source = source_of(x)
    return add_subtract(task=_pick(x.task, source, "task"), target=_pick(x.lang, target_of(x), "language"),
                        source=_pick(x.lang, source, "language"), lam=_lam(x, "add-subtract"))


@recipe("add-all", "task", False, "mean of all task modules  (paper 1, eq. 3, L = N)")
def _add_all(x: RecipeInputs) -> Vec:
    if not x.task:
        raise RecipeError("add-all needs task modules: pass --task-module LANG=DIR for every source language")
    return add_all(x.task.values())


@recipe("add-related", "task", False, "mean of the task modules of related sources  (paper 1, eq. 3)")
def _add_related(x: RecipeInputs) -> Vec:
    return add_related(x.task, _related(x, "add-related"))


@recipe("add-subtract-related", "task", True,
        "λ·mean(task[rel]) + (1−λ)·(lang[T] − mean(lang[rel]))  (paper 1, eq. 4)")
def _add_subtract_related(x: RecipeInputs) -> Vec:
    related = _related(x, "add-subtract-related")
    return add_subtract_related(task=x.task, lang=x.lang, target=target_of(x), related=related,
                                lam=_lam(x, "add-subtract-related"))


@recipe("add-weighted", "task", False,
        "Σ softmax(−d_i/τ)·task[i], d_i the syntactic distance of source i to --target, τ = 0.1  (beyond the papers)")
def _add_weighted(x: RecipeInputs) -> Vec:
    if not x.target:
        raise RecipeError("add-weighted needs --target (the task modules are weighted by their distance to it)")
    if not x.task:
        raise RecipeError("add-weighted needs task modules: pass --task-module LANG=DIR for every source language")
    distance, tau = distances_to(x.target, list(x.task)), float(x.params.get("tau", DEFAULT_TAU))
    x.applied = list(softmax_weights(distance, tau).values())  # provenance records each source's weight
    return add_weighted(x.task, distance, tau=tau)


@recipe("la", "language", True, "λ·a + (1−λ)·b over the two given modules, in order  (paper 2)")
def _la(x: RecipeInputs) -> Vec:
    given = [*x.lang.values(), *x.task.values()]
    if len(given) != 2:
        raise RecipeError(
            f"la combines exactly two modules (a weighted by λ, then b), got {len(given)}; "
            "pass two --lang-module (or two --task-module) modules"
        )
    return la(given[0], given[1], lam=_lam(x, "la"))


def _merge_recipe(method: str, help: str) -> None:
    @recipe(method, "task", method == "ties", help)
    def _run(x: RecipeInputs) -> Vec:
        modules = [*x.task.values(), *x.lang.values()]
        if len(modules) < 2:
            raise RecipeError(f"{method} merges two or more modules; pass them with --task-module or --lang-module")
        params = dict(x.params)
        if method == "ties":
            x.lam = params["lam"] = 1.0 if x.lam is None else float(x.lam)  # provenance records the λ applied
        else:  # DARE and pruning then average, so merging same-role modules keeps their scale
            params["weights"] = [1.0 / len(modules)] * len(modules)
        x.applied = list(params.get("weights", [1.0] * len(modules)))  # what provenance records
        return merge(method, modules, semantics=x.semantics, rank=x.rank, **params)


_merge_recipe("ties", "TIES: trim to --top-k, elect signs, disjoint mean, scale by λ")
_merge_recipe("dare", "DARE: drop with --drop-rate, rescale by 1/(1−p), average (seeded by --seed)")
_merge_recipe("magnitude", "magnitude pruning to --density, then average")


# --- input resolution -----------------------------------------------------------------------------
def source_of(x: RecipeInputs) -> str:
    if x.source:
        return x.source
    if len(x.task) == 1:
        return next(iter(x.task))
    raise RecipeError(
        f"which task module is the source? {len(x.task)} were given ({', '.join(x.task) or 'none'}); "
        "pass --source LANG"
    )


def target_of(x: RecipeInputs) -> str:
    if x.target:
        return x.target
    others = [lang for lang in x.lang if lang not in x.task and lang != x.source]
    if len(others) == 1:
        return others[0]
    raise RecipeError(
        f"which language is the target? candidates among --lang-module modules: {', '.join(others) or 'none'}; "
        "pass --target LANG"
    )


def _lam(x: RecipeInputs, name: str) -> float:
    if x.lam is None:
        raise RecipeError(f"{name} needs --lambda (λ in [0, 1]); 0.5 is a common start, tune it on dev data")
    return float(x.lam)


def _related(x: RecipeInputs, name: str) -> list[str]:
    """The given related list, else paper 1's rule (syntactic < 0.7 and geographic < 0.3) over the
    task languages; the choice is stored back in `x.related` so that provenance records it."""
    if x.related is not None:
        return list(x.related)
    if not x.target:
        raise RecipeError(f"{name} needs --target (to find related sources) or an explicit --related L1,L2")
    try:
        x.related = choose_related(x.target, list(x.task), fallback=False).codes
    except SelectionError as err:
        raise RecipeError(f"{name}: {err}. Pass --related L1,L2 explicitly, or use add-all") from err
    return x.related


def _role(v: Vec, role: str, where: str) -> Vec:
    """`v` itself, unless one of its modules records another role than `where` takes (e.g. swapped)."""
    modules = [m for _, m in v.terms] if isinstance(v, ModuleVector) else [v]
    wrong = [m for m in modules if m.role not in (None, role)]
    if wrong:
        raise RecipeError(f"{where} should be a {role} module, but {wrong[0].label} is a {wrong[0].role} module; "
                          "check that the modules are not swapped")
    return v


def _pick(mapping: Mapping[str, Vec], language: str, role: str) -> Vec:
    """The module for `language`, matching codes across spellings (pt, por, por_Latn, pt-BR)."""
    if language in mapping:
        return _role(mapping[language], role, f"the module given as {role} for {language}")
    try:
        key = find_in(language, list(mapping))
    except UnknownLanguageError:
        key = None
    if key is not None:
        return _role(mapping[key], role, f"the module given as {role} for {language}")
    flag = "--task-module" if role == "task" else "--lang-module"
    raise RecipeError(
        f"no {role} module for language {language!r}; given: {', '.join(mapping) or 'none'}. "
        f"Pass {flag} {language}=DIR"
    )


def _pick_all(mapping: Mapping[str, Vec], languages: Sequence[str], role: str) -> list[Vec]:
    if not languages:
        raise RecipeError(f"the related list is empty: no {role} modules to average")
    return [_pick(mapping, lang, role) for lang in languages]


RECIPES.load_plugins()  # recipes of installed packages (entry points `langarith.recipes`)
