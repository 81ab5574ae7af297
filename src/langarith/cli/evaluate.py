"""`langarith evaluate` and `langarith search-lambda`: a module (or a recipe at each λ) merged into the base
model's weights, scored on a task split. The evaluators are imported inside the commands (about 0.15 s), so
that every other command starts fast."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from langarith.arith.recipes import RECIPES
from langarith.cli.app import (
    DEVICE,
    JSON,
    LANG_MODULES,
    OLD_LANG_MODULES,
    OVERWRITE,
    QUIET,
    TASK_MODULES,
    DevSplit,
    EvalSplit,
    Task,
    app,
    choices,
    deprecated,
    module_pairs,
)
from langarith.core.errors import RecipeError
from langarith.scoring.choosers import CHOOSERS, get_chooser
from langarith.scoring.search import DEFAULT_STRATEGY, GRID_STEP
from langarith.tasks import TASKS, get_task

LambdaRecipe = choices("LambdaRecipe", (name for name, r in RECIPES.items() if r.uses_lambda))
Strategy = choices("Strategy", CHOOSERS)

_MODEL = typer.Option(None, "--model", help="Base model (HF id or folder); default: the offline Gemma 3 270M.")
_BATCH = typer.Option(None, "--batch-size", help="Examples per forward pass (default: 16 on the CPU, 64 on a GPU; "
                      "encoders 32 and 256).")
_DATA = typer.Option(None, "--data", help="A data folder (holding sib200/, …), the task's dataset folder, or a "
                     "file; default: $LANGARITH_DATA, the data folder beside the checkout, else the Hugging Face hub.")
_ROUGE = typer.Option(None, "--rouge-tokenizer", help="SentencePiece-ROUGE's tokenizer on non-English text: a "
                      "SentencePiece .model file, a tokenizer folder or a hub id (paper 1's: google/mt5-small); "
                      "default: the evaluated model's own tokenizer.")


@app.command()
def evaluate(
    module: Path | None = typer.Option(None, "--module", help="Module folder; omit to evaluate the base model."),
    task: Task = typer.Option(..., "--task", help="The task to score."),
    lang: str = typer.Option(..., "--lang", help="Language of the evaluation data (any code: pt, por_Latn)."),
    data: Path | None = _DATA,
    split: EvalSplit = typer.Option("test", "--split", case_sensitive=False,
                                    help="dev (the hub's validation) or test."),
    limit: int | None = typer.Option(None, "--limit", min=1, help="Only the first N examples."),
    model: str | None = _MODEL,
    batch_size: int | None = _BATCH,
    rouge_tokenizer: str | None = _ROUGE,
    predictions: Path | None = typer.Option(None, "--predictions", help="Write one JSON line per example here."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace the --predictions file if it exists."),
    lang_module: Path | None = typer.Option(None, "--lang-module", help="MAD-X (encoders): the language adapter "
                                            "under the task adapter --module, run as Stack(lang, task)."),
    as_json: bool = JSON,
    device: str | None = DEVICE,
    quiet: bool = QUIET,
) -> None:
    """Score base model + module (merged into the weights) on a task split; on an encoder, a task adapter with
    its head stacked on a language adapter (MAD-X)."""
    from langarith.evaluation.run import evaluate as run  # slow to import: lazy

    result = run(module, task=task.value, lang=lang, data=data, split=split.value, limit=limit, model=model,
                 batch_size=batch_size, rouge_tokenizer=rouge_tokenizer, lang_module=lang_module,
                 predictions=predictions, overwrite=overwrite, progress=not (as_json or quiet))
    if as_json:
        typer.echo(json.dumps(result.to_json(), indent=2, ensure_ascii=False))
        return
    shown = ", ".join(f"{k} {v:.2f}" for k, v in result.scores.metrics.items())
    typer.echo(f"{task.value} {lang} {split.value} (n={result.n}, {result.seconds:.0f} s): {shown}")


@app.command("search-lambda")
def search_lambda(
    recipe: LambdaRecipe = typer.Option(..., "--recipe", help="A recipe with a λ."),
    task: list[str] = typer.Option([], "--task", help="The task λ is scored on: " + " | ".join(TASKS) + ". (A "
                                   "value LANG=DIR is the earlier spelling of --task-module, still read.)"),
    task_module: list[str] = TASK_MODULES,
    lang_module: list[str] = LANG_MODULES,
    source: str | None = typer.Option(None, "--source", help="Source language S (default: the only task)."),
    target: str = typer.Option(..., "--target", help="Target language T (its dev split is searched)."),
    data: Path | None = typer.Option(None, "--data", help="Whose dev split tunes λ: a data folder, the task's "
                                     "dataset folder or a file (default: found as for evaluate)."),
    split: DevSplit = typer.Option("dev", "--split", case_sensitive=False,
                                   help="The validation split (never the test split)."),
    limit: int | None = typer.Option(None, "--limit", min=1, help="Only the first N validation examples."),
    step: float = typer.Option(GRID_STEP, "--step", help="Grid step (the papers: 0.05)."),
    low: float | None = typer.Option(None, "--low", help="Smallest λ of the grid (default 0; ties: 0.8)."),
    high: float | None = typer.Option(None, "--high", help="Largest λ of the grid (default 1; ties, whose λ scales "
                                      "the merge: 1.8, paper 2's range)."),
    strategy: Strategy = typer.Option(DEFAULT_STRATEGY, "--strategy", help="; ".join(
        f"{c.name}: {c.help}" + (" (no label of the target)" if c.label_free else "") for c in CHOOSERS.values())),
    transfer: str | None = typer.Option(None, "--transfer", help="Comma-separated languages with labeled dev data "
                                        "(--strategy transfer): each is composed as if it were the target and "
                                        "its best λ found; the median is applied to the target."),
    related: str | None = typer.Option(None, "--related", help="Comma-separated related sources (…-related)."),
    model: str | None = _MODEL,
    batch_size: int | None = _BATCH,
    seed: int = typer.Option(0, "--seed", help="Row order of successive halving."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Also write the module at the chosen λ here."),
    overwrite: bool = OVERWRITE,
    madx_task: Path | None = typer.Option(None, "--madx-task", help="MAD-X (encoders): the task adapter with its "
                                          "head; the recipe's result (e.g. la over two --lang adapters) is the "
                                          "language adapter under it."),
    as_json: bool = JSON,
    device: str | None = DEVICE,
    quiet: bool = QUIET,
    old_lang: list[str] = OLD_LANG_MODULES,
    eval_task: str | None = typer.Option(None, "--eval-task", hidden=True, help="Deprecated: --task NAME."),
    dev: Path | None = typer.Option(None, "--dev", hidden=True, help="Deprecated: --data."),
) -> None:
    """Choose λ for a recipe on validation data: every λ tried, its score, and the evaluations spent."""
    from langarith.evaluation.choose import search_lambda as choose  # torch only when λ is searched

    name, tasks = _task_and_modules(task, task_module, eval_task)
    if dev is not None:
        deprecated("--dev", "--data")
    languages = [c.strip() for c in transfer.split(",") if c.strip()] if transfer else []
    found = choose(recipe.value, target=target, task=name, task_modules=tasks,
                   lang_modules=module_pairs(lang_module, old_lang, "--lang-module", RecipeError), source=source,
                   related=[c.strip() for c in related.split(",")] if related else None, dev=data or dev,
                   split=split.value, limit=limit, step=step, low=low, high=high, strategy=strategy.value,
                   transfer=languages, model=model, batch_size=batch_size, seed=seed, madx_task=madx_task, out=out,
                   overwrite=overwrite, progress=not (as_json or quiet))
    if as_json:
        typer.echo(json.dumps(found.to_json(), indent=2))
        return
    recipe_name, split_name = recipe.value, split.value
    edge = " — on the edge of the grid" if found.on_edge else ""
    chooser, primary = get_chooser(strategy.value), get_task(name).primary
    if chooser.label_free:
        why = {"nothing": chooser.summary, "elsewhere": f"the {chooser.summary} on {transfer}",
               "inputs": f"{chooser.name} score {found.score:.2f} on unlabeled {split_name} inputs"}[chooser.reads]
        typer.echo(f"{recipe_name} → {target}: λ = {found.best:g} ({why}; no label of {target} read){edge}")
    else:
        rows = max((t.rows for t in found.trials), default=0)
        typer.echo(f"{recipe_name} → {target}: best λ = {found.best:g} ({primary} {found.score:.2f} on {rows} "
                   f"{split_name} examples){edge}")
    typer.echo(f"  {chooser.name}: {found.evaluations:.2f} full evaluations ({len(found.trials)} trials)")
    for lam, value in found.curve:
        typer.echo(f"  λ={lam:<5g} {value:6.2f}{'  ←' if lam == found.best else ''}")


def _task_and_modules(given: list[str], task_module: list[str], eval_task: str | None) -> tuple[str, dict[str, str]]:
    """The task name and the LANG=DIR task modules: `--task NAME --task-module LANG=DIR`, or the spellings before
    (`--eval-task NAME --task LANG=DIR`), which still work for one release."""
    names = [value for value in given if "=" not in value]
    old = [value for value in given if "=" in value]
    if eval_task is not None:
        deprecated("--eval-task", "--task")
        names.append(eval_task)
    if len(names) != 1:
        raise typer.BadParameter(f"give the task λ is scored on once ({' | '.join(TASKS)}); "
                                 f"got {', '.join(names) or 'none'}", param_hint="--task")
    get_task(names[0])  # an unknown task is a one-line error that lists the known ones
    return names[0], module_pairs(task_module, old, "--task-module", RecipeError)
