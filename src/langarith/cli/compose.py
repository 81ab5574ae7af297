"""`langarith compose`: model-free, so it never imports torch for safetensors modules and starts in well
under a second."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path

import typer

from langarith.arith.formats import load
from langarith.arith.recipes import RECIPES
from langarith.cli.app import JSON, app
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


@app.command()
def compose(
    expression: str | None = typer.Argument(
        None, help='Arithmetic over module names and numbers, e.g. "0.7*task_en + 0.3*(lang_pt - lang_en)". '
        "Also mean(a, b, ...) and sum(a, b, ...)."),
    module: list[str] = typer.Option([], "--module", "-m", help="NAME=DIR: a module the expression names."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder (written atomically)."),
    recipe: str | None = typer.Option(
        None, "--recipe", help=" | ".join(RECIPES) + " (instead of EXPR)."),
    task: list[str] = typer.Option([], "--task", help="LANG=DIR: a task module trained on LANG."),
    lang: list[str] = typer.Option([], "--lang", help="LANG=DIR: a language module of LANG."),
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
    seed: int = typer.Option(0, "--seed", help="dare: random seed."),
    semantics: SemanticsChoice = typer.Option(
        SemanticsChoice.factor, "--semantics", help="factor: element-wise on A and B (the papers); "
        "delta: exact ΔW = Σ w·s·BA as a LoRA of concatenated rank."),
    rank: int | None = typer.Option(None, "--rank", help="delta: truncate the result to rank R by SVD."),
    extras: ExtrasChoice = typer.Option(
        ExtrasChoice.require_equal, "--extras", help="Full-weight tensors (heads, modules_to_save) that "
        "differ between inputs: refuse (require-equal) or average (mean)."),
    name: str | None = typer.Option(None, "--name", help="Adapter name in the output (AdapterHub)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace --out if it exists."),
    as_json: bool = JSON,
) -> None:
    """Compose modules with arithmetic into a new module in the inputs' format."""
    from langarith.arith.compose import compose as run  # recipes pull in typology (0.1 s): only when composing
    if expression is not None and (task or lang):
        raise ExpressionError("--task/--lang go with --recipe; with an expression, name modules with --module")
    if recipe is not None and module:
        raise RecipeError("--module goes with an expression; a recipe takes --task LANG=DIR and --lang LANG=DIR")
    params: dict[str, object] = {}
    if recipe in ("ties", "magnitude"):
        key = "top_k" if recipe == "ties" else "density"
        params[key] = top_k / 100.0
        params["trim"] = trim.value
    elif recipe == "dare":
        params.update(drop_rate=drop_rate, seed=seed)
    path = run(
        out,
        expression=expression,
        modules=_pairs(module, "--module", identifier=True),
        recipe=recipe,
        task=_pairs(task, "--task"),
        lang=_pairs(lang, "--lang"),
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


def _pairs(values: list[str], flag: str, identifier: bool = False) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for value in values:
        key, sep, path = value.partition("=")
        key = key.strip()
        if not sep or not key or not path:
            raise ExpressionError(f"{flag} {value!r} should look like {flag} NAME=DIR")
        if identifier and not key.isidentifier():
            raise ExpressionError(
                f"{flag} name {key!r} cannot be used in an expression; use letters, digits and underscores "
                f"(e.g. {key.replace('-', '_').replace('.', '_')!r})"
            )
        if key in pairs:
            raise ExpressionError(f"{flag} {key} was given twice")
        pairs[key] = path
    return pairs
