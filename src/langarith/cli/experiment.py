"""`langarith experiment CONFIG.yaml` and `langarith demo` (the README's main command). `langarith.experiments`
takes about 0.25 s to import, so the commands import it when they run: every other command starts fast."""

from __future__ import annotations

import json
from dataclasses import asdict
from enum import Enum
from pathlib import Path
from typing import Any

import typer

from langarith.cli.app import DEVICE, JSON, OVERWRITE, QUIET, app
from langarith.core import timing


class Budget(str, Enum):
    """The budgets of every config (experiments.config.BudgetName, which a test holds this to)."""

    smoke = "smoke"
    demo = "demo"
    cpu = "cpu"
    cpu_large = "cpu-large"
    full = "full"


class DemoBudget(str, Enum):
    """The demo's budgets (experiments.demo.DEMO_BUDGETS) and auto."""

    auto = "auto"
    demo = "demo"
    cpu = "cpu"
    full = "full"
    smoke = "smoke"


_OUT = typer.Option(None, "--out", "-o", help="Results folder (default: runs/<config name>-<budget>).")
_DATA = typer.Option(None, "--data", help="A data folder (holding sib200/, tatoeba/, …; e.g. what `langarith data "
                     "pull` wrote) read before $LANGARITH_DATA, the data folder beside the checkout and the hub.")


@app.command()
def experiment(
    config: Path = typer.Argument(..., help="Experiment YAML (see configs/)."),
    budget: Budget | None = typer.Option(None, "--budget", help="Overrides the config's."),
    out: Path | None = _OUT,
    overwrite: bool = OVERWRITE,
    quiet: bool = QUIET,
    deadline: float | None = typer.Option(None, "--deadline", min=1, help="Seconds this command may take. Work "
                                          "stops cleanly before then (a training at a checkpoint), the results "
                                          "written mark what was not run, and the same command run again "
                                          "continues from there."),
    workers: int | None = typer.Option(None, "--workers", min=1, help="Module trainings at once (overrides the "
                                       "budget's; default 4 per GPU, 1 on the CPU)."),
    data: Path | None = _DATA,
    model: str | None = typer.Option(None, "--model", help="Base model of every module, instead of the config's and "
                                     "its budgets' (a hub id or a folder; paper 2's: FacebookAI/xlm-roberta-base, "
                                     "google-bert/bert-base-multilingual-cased). The results folder defaults to "
                                     "runs/<config name>-<budget>-<model's last name part>."),
    device: str | None = DEVICE,
    as_json: bool = JSON,
) -> None:
    """Train what is missing, compose, tune λ on dev, evaluate on test; write results.{csv,json,md} and plots.
    An earlier run in --out is continued (or, with --overwrite, its results are discarded and its modules reused)."""
    from langarith.experiments import load_config, run  # slow to import: lazy

    cfg = load_config(config, budget.value if budget else None)
    if model is not None:
        cfg = cfg.on_model(model)
    if workers is not None:
        cfg.spend.workers = workers
    folder = out or Path("runs") / "-".join([cfg.name, cfg.budget, *([Path(model).name] if model else [])])
    with timing.until(None if deadline is None else deadline - min(30.0, 0.1 * deadline)):  # time to write
        cells = run(cfg, folder, progress=not (quiet or as_json), data=data, overwrite=overwrite)
    _report(folder, cells, as_json)


@app.command()
def demo(
    out: Path = typer.Option(Path("runs/demo"), "--out", "-o", help="Results folder."),
    budget: DemoBudget = typer.Option(DemoBudget.auto, "--budget", help="demo: ≈15 min on 2 CPU cores; auto: full "
                                      "on a GPU, else demo."),
    targets: str = typer.Option("por_Latn,swh_Latn", "--targets", help="Comma-separated SIB-200 targets."),
    model: str | None = typer.Option(None, "--model", help="Base model; default: the offline Gemma 3 270M."),
    quiet: bool = QUIET,
    data: Path | None = _DATA,
    device: str | None = DEVICE,
    overwrite: bool = OVERWRITE,
    as_json: bool = JSON,
) -> None:
    """Task in one language on SIB-200: an English task module, language modules for English and the targets;
    baseline, task ×λ (control), Add and Add & Subtract with λ chosen on dev; the table and the report."""
    from langarith.experiments import run  # slow to import: lazy
    from langarith.experiments.demo import demo_config  # likewise

    cfg = demo_config([t.strip() for t in targets.split(",") if t.strip()], budget.value, model)
    cells = run(cfg, out, progress=not (quiet or as_json), data=data, overwrite=overwrite)
    _report(out, cells, as_json)


def _report(folder: Path, cells: list[Any], as_json: bool) -> None:
    """The table (results.md up to its plots), or with --json every cell of it."""
    if as_json:
        shown = [{k: v for k, v in asdict(cell).items() if k not in ("scores", "predictions")} for cell in cells]
        typer.echo(json.dumps({"results": str(folder), "cells": shown}, indent=2, ensure_ascii=False))
        return
    typer.echo((folder / "results.md").read_text(encoding="utf-8").split("\n## Plots")[0])
    typer.echo(f"wrote {folder}/results.md, results.csv, results.json and plots")
