"""`search_lambda`: choose λ for a recipe on validation data, as `langarith search-lambda` does, from Python.

The recipe's modules are given by language (`task={"en": folder}`, `lang={"pt": folder, "en": folder}`); the
target's dev split is searched with a λ chooser (`langarith.scoring.choosers`), or, for a chooser that reads
no label of the target, its inputs only, other languages' dev data, or nothing. The module at the chosen λ is
written to `out` if given (refused before the search if it exists, unless `overwrite`), with what made it in
its provenance: the modules, the dev data, the chooser and the λ curve. The result records the same
(`SearchResult.record`, `langarith.core.records`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from langarith.arith.algebra import ModuleVector
from langarith.arith.compose import load_as
from langarith.arith.formats import save
from langarith.arith.merges.ties import PAPER_LAMBDAS
from langarith.arith.module import Module
from langarith.arith.provenance import composed
from langarith.arith.recipes import RECIPES, RecipeInputs
from langarith.core.atomic import check_out
from langarith.core.errors import RecipeError
from langarith.core.records import run_record
from langarith.evaluation.base import check_batch_size, load_examples, same_task
from langarith.scoring.choosers import Evidence, get_chooser
from langarith.scoring.search import DEFAULT_STRATEGY, GRID_STEP, SearchResult, lambda_grid
from langarith.tasks import get_task, split_name


def search_lambda(recipe: str, *, target: str, task: str, task_modules: Mapping[str, str | Path] | None = None,
                  lang_modules: Mapping[str, str | Path] | None = None, source: str | None = None,
                  related: Sequence[str] | None = None, dev: str | Path | None = None, split: str = "dev",
                  limit: int | None = None, step: float = GRID_STEP, low: float | None = None,
                  high: float | None = None, strategy: str = DEFAULT_STRATEGY, transfer: Sequence[str] = (),
                  model: str | None = None, batch_size: int | None = None, seed: int = 0,
                  madx_task: str | Path | None = None, out: str | Path | None = None, overwrite: bool = False,
                  progress: bool = True) -> SearchResult:
    """The λ `strategy` chooses for `recipe` on `target` (its `split` of `task`'s data `dev`); with `out`, the
    module at that λ is saved there. `transfer` names the languages whose labeled dev data a chooser that reads
    λ from elsewhere tunes on; `madx_task` makes the recipe's result the language adapter under that task
    adapter (encoders). An existing `out` is refused before anything is loaded, unless `overwrite`."""
    check_batch_size(batch_size)
    given = {**{f"task_{c}": p for c, p in (task_modules or {}).items()},
             **{f"lang_{c}": p for c, p in (lang_modules or {}).items()},
             **({"madx_task": madx_task} if madx_task is not None else {})}
    if out is not None:
        check_out(Path(out), overwrite, protect=[Path(p) for p in given.values()])
    chosen_task = get_task(task)
    where = chosen_task.where(dev)
    split = split_name(split)
    if split.strip().lower() == "test" or (where.is_file() and where.stem.lower().startswith("test")):
        raise RecipeError(f"λ is chosen on validation data; --split {split} --data {where} would tune it on the test "
                          "set. Pass the dev split (--split dev) of the dataset folder")
    if recipe not in RECIPES or not RECIPES[recipe].uses_lambda:
        tuned = [n for n, r in RECIPES.items() if r.uses_lambda]
        raise RecipeError(f"{recipe!r} has no λ to search; recipes with λ: {', '.join(tuned)}")
    chooser = get_chooser(strategy)
    if chooser.reads == "elsewhere" and not transfer:
        raise RecipeError(f"--strategy {strategy} takes λ from other languages' labeled dev data: name them with "
                          "--transfer LANG[,LANG] (each needs what the recipe needs of a target, e.g. "
                          "--lang-module LANG=DIR)")
    inputs = RecipeInputs(
        task={c: load_as(Path(p), c, "task") for c, p in (task_modules or {}).items()},
        lang={c: load_as(Path(p), c, "language") for c, p in (lang_modules or {}).items()},
        source=source, target=target, related=list(related) if related else None)
    for module in inputs.task.values():
        same_task(module, chosen_task)
    default_low, default_high = PAPER_LAMBDAS if recipe == "ties" else (0.0, 1.0)
    grid = lambda_grid(step, default_low if low is None else low, default_high if high is None else high)

    if chooser.reads == "nothing":
        found = chooser(Evidence(grid))
    else:
        tune = _tuner(recipe, inputs, chosen_task, where, split, limit, grid, model, batch_size, madx_task, progress)
        if chooser.reads == "elsewhere":
            found = chooser(Evidence(grid, elsewhere={lang: tune(lang, DEFAULT_STRATEGY, seed).best
                                                      for lang in transfer}))
        else:
            found = tune(target, strategy, seed)
    loaded = [*inputs.task.values(), *inputs.lang.values()]
    found.record = {**run_record({**given, "dev": where}, known={m.label: m.sha256 for m in loaded}),
                    "dev": {"split": split, "limit": limit}}
    if out is not None:
        _save(_builder(recipe, inputs, target)(found.best), Path(out), found, loaded,
              {"name": recipe, "lambda": found.best, "target": target}, madx_task is not None, overwrite)
    return found


def _save(module: Module, out: Path, found: SearchResult, loaded: list[Module], recipe: dict[str, Any],
          madx: bool, overwrite: bool) -> None:
    """The module at the chosen λ, recording what made it: the composition's provenance (its modules and
    weights), the search's record (every input, the dev data among them), the chooser and the λ curve."""
    module.language, module.role = recipe["target"], "language" if madx else "task"
    made = module.provenance or composed({}, {m.label: m for m in loaded}, "factor", None)
    search = {k: v for k, v in found.to_json().items() if k not in ("trials", "record")}
    provenance = {**made, **{k: v for k, v in found.record.items() if k != "inputs"},
                  "inputs": _merged(made.get("inputs", []), found.record["inputs"]), "recipe": recipe,
                  "search": search}
    save(module, out, provenance=provenance, overwrite=overwrite, protect=[m.source for m in loaded if m.source])


def _merged(used: list[dict[str, Any]], given: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The composition's inputs (with their language and role), then the search's others (the dev data)."""
    names = {i["name"] for i in used}
    return [*used, *(i for i in given if i["name"] not in names)]


def _builder(recipe: str, inputs: RecipeInputs, language: str) -> Callable[[float], Module]:
    """λ → the recipe's module with `language` as its target (a merge gives a module, a recipe a vector)."""
    def build(lam: float) -> Module:
        composed = RECIPES[recipe].run(replace(inputs, target=language, lam=lam))
        return composed.materialize("factor") if isinstance(composed, ModuleVector) else composed
    return build


def _tuner(recipe: str, inputs: RecipeInputs, task: Any, where: Path, split: str, limit: int | None,
           grid: Sequence[float], model: str | None, batch_size: int | None, madx_task: str | Path | None,
           progress: bool) -> Callable[[str, str, int], SearchResult]:
    """(language, chooser, seed) → its λ on that language's dev rows (inputs only for a chooser that reads
    no label), on one evaluator loaded once."""
    from langarith.evaluation import MadxEvaluator, merged_evaluator  # torch: only when λ is searched

    evaluator = MadxEvaluator(model, Path(madx_task), batch_size=batch_size, progress=progress) \
        if madx_task is not None else merged_evaluator(model, batch_size=batch_size, progress=progress)

    def tune(language: str, strategy: str, seed: int) -> SearchResult:
        rows = load_examples(task, where, language, split, limit)
        if get_chooser(strategy).reads == "inputs":
            rows = [task.without_labels(e) for e in rows]
        labels = task.labels(where, language) if task.kind == "classification" else None  # the names only
        return evaluator.tune(_builder(recipe, inputs, language), task, rows, language, labels, grid, strategy, seed)

    return tune
