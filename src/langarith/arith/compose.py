"""`compose`: load named modules, evaluate an expression or a recipe, write the result with its
provenance. The one entry point behind `langarith compose` and the Python API."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from langarith.arith.algebra import ModuleVector, Semantics
from langarith.arith.expr import canonical, evaluate, is_name, names_in
from langarith.arith.formats import load, save
from langarith.arith.identity import common_base
from langarith.arith.module import Module
from langarith.arith.provenance import composed
from langarith.arith.recipes import RECIPES, RecipeInputs, result_language
from langarith.core.errors import ExpressionError, RecipeError
from langarith.languages.codes import resolve


def compose(
    out: str | Path,
    *,
    expression: str | None = None,
    modules: Mapping[str, str | Path] | None = None,
    recipe: str | None = None,
    task: Mapping[str, str | Path] | None = None,
    lang: Mapping[str, str | Path] | None = None,
    source: str | None = None,
    target: str | None = None,
    lam: float | None = None,
    related: list[str] | None = None,
    params: dict[str, Any] | None = None,
    semantics: Semantics = "factor",
    rank: int | None = None,
    extras: str = "require-equal",
    overwrite: bool = False,
    adapter_name: str | None = None,
) -> Path:
    """Compose modules into `out`. Give either `expression` with `modules` (name → folder), or
    `recipe` with `task` / `lang` (language → folder)."""
    if (expression is None) == (recipe is None):
        raise ExpressionError("give either an expression or --recipe (not both, not neither)")
    started = datetime.now(timezone.utc)
    provenance: dict[str, Any] = {}
    if expression is not None:
        _check_module_names(modules or {})
        loaded = {canonical(name): load(path, name=name) for name, path in (modules or {}).items()}

        value: Module | ModuleVector = evaluate(expression, loaded)
        _check_names(expression, loaded)
        provenance["expression"] = expression
        language, role = None, None
    else:
        spec = RECIPES.get_or_raise(recipe)
        task_mods = {code: load_as(p, code, "task") for code, p in (task or {}).items()}
        lang_mods = {code: load_as(p, code, "language") for code, p in (lang or {}).items()}
        inputs = RecipeInputs(task=task_mods, lang=lang_mods, source=source, target=target, lam=lam,
                              related=related, params=dict(params or {}), semantics=semantics, rank=rank)
        value = spec.run(inputs)
        loaded = {m.label: m for m in [*task_mods.values(), *lang_mods.values()]}
        provenance["recipe"] = {"name": recipe, "lambda": inputs.lam, "source": source, "target": target,
                                "related": inputs.related, **(params or {})}
        language, role = result_language(recipe, inputs), spec.role

    if isinstance(value, ModuleVector):
        weights = value.weights()
        result = value.materialize(semantics, rank=rank, extras=extras)  # type: ignore[arg-type]
    else:  # merges return a finished module, and say what weight each input had
        applied = inputs.applied if recipe is not None and inputs.applied else [1.0] * len(loaded)
        weights = dict(zip(loaded, applied, strict=True))
        result = value
    result.language, result.role = language, role
    result.base = common_base([m.base for m in loaded.values()])
    provenance = {**composed(weights, loaded, semantics, rank, started), **provenance}
    sources = [m.source for m in loaded.values() if m.source is not None]
    return save(result, out, provenance=provenance, overwrite=overwrite, adapter_name=adapter_name, protect=sources)


def _check_module_names(modules: Mapping[str, str | Path]) -> None:
    """Every name one an expression can use, and no two the same once normalised (as the parser compares them)."""
    seen: dict[str, str] = {}
    for name in modules:
        if not is_name(name):
            fixed = re.sub(r"\W", "_", name)
            raise ExpressionError(f"module name {name!r} cannot be used in an expression; use letters, digits and "
                                  f"underscores, not starting with a digit (e.g. {fixed!r})")
        if canonical(name) in seen:
            raise ExpressionError(f"module names {seen[canonical(name)]!r} and {name!r} are the same name once "
                                  "normalised (NFKC, as Python compares identifiers); rename one")
        seen[canonical(name)] = name


def _check_names(expression: str, loaded: Mapping[str, Module]) -> None:
    unused = sorted(set(loaded) - names_in(expression))
    if unused:
        raise ExpressionError(
            f"module(s) {', '.join(unused)} were passed with --module but are not used in the expression "
            f"{expression!r}; remove them or use them"
        )


def load_as(path: str | Path, code: str, role: str) -> Module:
    """A module given with --task-module or --lang-module, refused if its manifest records the other role or `code`
    is no language (recipes match languages across spellings, so a typo would otherwise be a language of its own)."""
    resolve(code)  # UnknownLanguageError with close matches
    module = load(path, name=f"{'task' if role == 'task' else 'lang'}_{code}", language=code)
    if module.role not in (None, role):
        flag = "--lang-module" if module.role == "language" else "--task-module"
        raise RecipeError(f"{path} is a {module.role} module (its langarith.json says so), given as a {role} module; "
                          f"pass it with {flag}")
    module.role = role
    return module
