"""`langarith compose`: model-free, so it never imports torch for safetensors modules and starts in well
under a second."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path

import typer

from langarith.arith.formats import load
from langarith.arith.recipes import RECIPES
from langarith.cli.app import (
    JSON,
    LANG_MODULES,
    OLD_LANG_MODULES,
    OLD_TASK_MODULES,
    OVERWRITE,
    TASK_MODULES,
    app,
    choices,
    module_pairs,
    pairs,
)
from langarith.core.errors import ExpressionError, RecipeError


class SemanticsChoice(str, Enum):
    factor = "factor"
    delta = "delta"


class TrimChoice(str, Enum):
    module = "module"
    tensor = "tensor"


class ExtrasChoice(str, Enum):
    require_equal = "require-equal"
    mean = "mean"


Recipe = choices("Recipe", RECIPES)


@app.command()
def compose(
    expression: str | None = typer.Argument(
        None, help='Arithmetic over module names and numbers, e.g. "0.7*task_en + 0.3*(lang_pt - lang_en)". '
        "Also mean(a, b, ...) and sum(a, b, ...)."),
    module: list[str] = typer.Option([], "--module", "-m", help="NAME=DIR: a module the expression names."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder (written atomically)."),
    recipe: Recipe | None = typer.Option(None, "--recipe", help="A recipe of the papers (instead of EXPR)."),
    task_module: list[str] = TASK_MODULES,
    lang_module: list[str] = LANG_MODULES,
    source: str | None = typer.Option(None, "--source", help="Source language S (default: the only task)."),
    target: str | None = typer.Option(None, "--target", help="Target language T."),
    lam: float | None = typer.Option(None, "--lambda", help="λ: weight of the task module (or of a in la)."),
    related: str | None = typer.Option(
        None, "--related", help="Comma-separated related sources (add-related, add-subtract-related); "
        "default: computed from typology with the paper's rule."),
    top_k: float = typer.Option(20.0, "--top-k", help="ties, magnitude: percent of parameters kept per module."),
    trim: TrimChoice = typer.Option(TrimChoice.module, "--trim", help="ties, magnitude: keep the top-k over the "
                                    "whole module (the TIES paper's code) or within each tensor (mergekit, PEFT)."),
    drop_rate: float = typer.Option(0.5, "--drop-rate", help="dare: probability of dropping a parameter."),
    tau: float | None = typer.Option(None, "--tau", help="add-weighted: the temperature τ of softmax(−d/τ) over the "
                                     "sources' typological distances to the target (default 0.1)."),
    seed: int = typer.Option(0, "--seed", help="dare: random seed."),
    semantics: SemanticsChoice = typer.Option(
        SemanticsChoice.factor, "--semantics", help="factor: element-wise on A and B (the papers); "
        "delta: exact ΔW = Σ w·s·BA as a LoRA of concatenated rank."),
    rank: int | None = typer.Option(None, "--rank", help="delta: truncate the result to rank R (by SVD, or by a "
                                    "randomized range finder on the factors when their summed rank is large)."),
    extras: ExtrasChoice = typer.Option(
        ExtrasChoice.require_equal, "--extras", help="Full-weight tensors (heads, modules_to_save) that "
        "differ between inputs: refuse (require-equal) or average (mean)."),
    name: str | None = typer.Option(None, "--name", help="Adapter name in the output (AdapterHub)."),
    overwrite: bool = OVERWRITE,
    as_json: bool = JSON,
    old_task: list[str] = OLD_TASK_MODULES,
    old_lang: list[str] = OLD_LANG_MODULES,
) -> None:
    """Compose modules with arithmetic into a new module in the inputs' format."""
    from langarith.arith.compose import compose as run  # recipes pull in typology (0.1 s): only when composing
    tasks = module_pairs(task_module, old_task, "--task-module", RecipeError)
    langs = module_pairs(lang_module, old_lang, "--lang-module", RecipeError)
    if expression is not None and (tasks or langs):
        raise ExpressionError("--task-module/--lang-module go with --recipe; with an expression, name modules with "
                              "--module NAME=DIR")
    if recipe is not None and module:
        raise RecipeError("--module goes with an expression; a recipe takes --task-module LANG=DIR and "
                          "--lang-module LANG=DIR")
    recipe_name = recipe.value if recipe is not None else None
    params: dict[str, object] = {}
    if recipe_name in ("ties", "magnitude"):
        key = "top_k" if recipe_name == "ties" else "density"
        params[key] = top_k / 100.0
        params["trim"] = trim.value
    elif recipe_name == "dare":
        params.update(drop_rate=drop_rate, seed=seed)
    elif recipe_name == "add-weighted" and tau is not None:
        params["tau"] = tau
    path = run(
        out,
        expression=expression,
        modules=pairs(module, "--module", ExpressionError, identifier=True),
        recipe=recipe_name,
        task=tasks,
        lang=langs,
        source=source,
        target=target,
        lam=lam,
        related=[c.strip() for c in related.split(",") if c.strip()] if related else None,
        params=params,
        semantics=semantics.value,  # type: ignore[arg-type]
        rank=rank,
        extras=extras.value,
        overwrite=overwrite,
        adapter_name=name,
    )
    summary = load(path).summary()
    if as_json:
        typer.echo(json.dumps(summary, indent=2, ensure_ascii=False))
        return
    weights = summary["provenance"].get("weights", {}) if summary["provenance"] else {}
    shown = " ".join(f"{w:+.4g}·{n}" for n, w in weights.items())
    typer.echo(f"wrote {path}: {summary['format']} {summary['kind']}, rank {summary['rank']}, "
               f"{summary['num_params']:,} parameters, norm {summary['norm']:.4g}")
    if shown:
        typer.echo(f"  = {shown}")

