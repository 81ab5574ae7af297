"""`langarith evaluate` and `langarith search-lambda`: a module (or a recipe at each λ) merged into the base
model's weights, scored on a task split. The evaluators are imported inside the commands (about 0.15 s), so
that every other command starts fast."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from langarith.arith.recipes import RECIPES
from langarith.cli.app import DEVICE, JSON, QUIET, app
from langarith.cli.compose import _pairs
from langarith.scoring.choosers import CHOOSERS, get_chooser
from langarith.scoring.search import DEFAULT_STRATEGY, GRID_STEP
from langarith.tasks import TASKS, get_task

_MODEL = typer.Option(None, "--model", help="Base model (HF id or folder); default: the offline Gemma 3 270M.")
_BATCH = typer.Option(None, "--batch-size", help="Examples per forward pass (default: 16 on the CPU, 64 on a GPU; "
                      "encoders 32 and 256).")
_DATA = typer.Option(None, "--data", help="A data folder (holding sib200/, …), the task's dataset folder, or a "
                     "file; default: $LANGARITH_DATA, the data folder beside the checkout, else the Hugging Face hub.")
_ROUGE = typer.Option(None, "--rouge-tokenizer", help="SentencePiece .model for SentencePiece-ROUGE on non-English "
                      "text (default: the evaluated model's own tokenizer).")


@app.command()
def evaluate(
    module: Path | None = typer.Option(None, "--module", help="Module folder; omit to evaluate the base model."),
    task: str = typer.Option(..., "--task", help=" | ".join(TASKS)),
    lang: str = typer.Option(..., "--lang", help="Language of the evaluation data (any code: pt, por_Latn)."),
    data: Path | None = _DATA,
    split: str = typer.Option("test", "--split", help="dev (the hub's validation) | test"),
    limit: int | None = typer.Option(None, "--limit", min=1, help="Only the first N examples."),
    model: str | None = _MODEL,
    batch_size: int | None = _BATCH,
    rouge_tokenizer: Path | None = _ROUGE,
    predictions: Path | None = typer.Option(None, "--predictions", help="Write one JSON line per example here."),
    lang_module: Path | None = typer.Option(None, "--lang-module", help="MAD-X (encoders): the language adapter "
                                            "under the task adapter --module, run as Stack(lang, task)."),
    as_json: bool = JSON,
    device: str | None = DEVICE,
    quiet: bool = QUIET,
) -> None:
    """Score base model + module (merged into the weights) on a task split; on an encoder, a task adapter with
    its head stacked on a language adapter (MAD-X)."""
    from langarith.evaluation.run import evaluate as run  # slow to import: lazy

    result = run(module, task=task, lang=lang, data=data, split=split, limit=limit, model=model,
                 batch_size=batch_size, rouge_tokenizer=rouge_tokenizer, lang_module=lang_module,
                 predictions=predictions, progress=not (as_json or quiet))
    if as_json:
        typer.echo(json.dumps(result.to_json(), indent=2, ensure_ascii=False))
        return
    shown = ", ".join(f"{k} {v:.2f}" for k, v in result.scores.metrics.items())
    typer.echo(f"{task} {lang} {split} (n={result.n}, {result.seconds:.0f} s): {shown}")


@app.command("search-lambda")
def search_lambda(
    recipe: str = typer.Option(..., "--recipe", help="A λ recipe: " + " | ".join(n for n, r in RECIPES.items()
                                                                                 if r.uses_lambda)),
    task_module: list[str] = typer.Option([], "--task", help="LANG=DIR: a task module trained on LANG."),
    lang_module: list[str] = typer.Option([], "--lang", help="LANG=DIR: a language module of LANG."),
    source: str | None = typer.Option(None, "--source", help="Source language S (default: the only task)."),
    target: str = typer.Option(..., "--target", help="Target language T (its dev split is searched)."),
    eval_task: str = typer.Option(..., "--eval-task", help=" | ".join(TASKS)),
    dev: Path | None = typer.Option(None, "--dev", "--data", help="Whose dev split tunes λ: a data folder, the "
                                    "task's dataset folder or a file (default: found as for evaluate)."),
    split: str = typer.Option("dev", "--split", help="The validation split; never the test split."),
    limit: int | None = typer.Option(None, "--limit", min=1, help="Only the first N validation examples."),
    step: float = typer.Option(GRID_STEP, "--step", help="Grid step (the papers: 0.05)."),
    low: float | None = typer.Option(None, "--low", help="Smallest λ of the grid (default 0; ties: 0.8)."),
    high: float | None = typer.Option(None, "--high", help="Largest λ of the grid (default 1; ties, whose λ scales "
                                      "the merge: 1.8, paper 2's range)."),
    strategy: str = typer.Option(DEFAULT_STRATEGY, "--strategy", help="; ".join(
        f"{c.name}: {c.help}" + (" (no label of the target)" if c.label_free else "") for c in CHOOSERS.values())),
    transfer: str | None = typer.Option(None, "--transfer", help="Comma-separated languages with labeled dev data "
                                        "(--strategy transfer): each is composed as if it were the target and "
                                        "its best λ found; the median is applied to the target."),
    related: str | None = typer.Option(None, "--related", help="Comma-separated related sources (…-related)."),
    model: str | None = _MODEL,
    batch_size: int | None = _BATCH,
    seed: int = typer.Option(0, "--seed", help="Row order of successive halving."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Also write the module at the chosen λ here."),
    madx_task: Path | None = typer.Option(None, "--madx-task", help="MAD-X (encoders): the task adapter with its "
                                          "head; the recipe's result (e.g. la over two --lang adapters) is the "
                                          "language adapter under it."),
    as_json: bool = JSON,
    device: str | None = DEVICE,
    quiet: bool = QUIET,
) -> None:
    """Choose λ for a recipe on validation data: every λ tried, its score, and the evaluations spent."""
    from langarith.evaluation.choose import search_lambda as choose  # torch only when λ is searched

    languages = [c.strip() for c in transfer.split(",") if c.strip()] if transfer else []
    found = choose(recipe, target=target, task=eval_task, task_modules=_pairs(task_module, "--task"),
                   lang_modules=_pairs(lang_module, "--lang"), source=source,
                   related=[c.strip() for c in related.split(",")] if related else None, dev=dev, split=split,
                   limit=limit, step=step, low=low, high=high, strategy=strategy, transfer=languages, model=model,
                   batch_size=batch_size, seed=seed, madx_task=madx_task, out=out, progress=not (as_json or quiet))
    if as_json:
        typer.echo(json.dumps(found.to_json(), indent=2))
        return
    edge = " — on the edge of the grid" if found.on_edge else ""
    chooser, primary = get_chooser(strategy), get_task(eval_task).primary
    if chooser.label_free:
        why = {"nothing": chooser.summary, "elsewhere": f"the {chooser.summary} on {transfer}",
               "inputs": f"{chooser.name} score {found.score:.2f} on unlabeled {split} inputs"}[chooser.reads]
        typer.echo(f"{recipe} → {target}: λ = {found.best:g} ({why}; no label of {target} read){edge}")
    else:
        rows = max((t.rows for t in found.trials), default=0)
        typer.echo(f"{recipe} → {target}: best λ = {found.best:g} ({primary} {found.score:.2f} on {rows} "
                   f"{split} examples){edge}")
    typer.echo(f"  {strategy}: {found.evaluations:.2f} full evaluations ({len(found.trials)} trials)")
    for lam, value in found.curve:
        typer.echo(f"  λ={lam:<5g} {value:6.2f}{'  ←' if lam == found.best else ''}")
