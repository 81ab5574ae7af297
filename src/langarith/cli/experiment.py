"""`langarith experiment CONFIG.yaml` and `langarith demo` (the README's main command). `langarith.experiments`
takes about 0.25 s to import, so the commands import it when they run: every other command starts fast."""

from __future__ import annotations

from pathlib import Path

import typer

from langarith.cli.app import DEVICE, QUIET, app
from langarith.core import timing

_OUT = typer.Option(None, "--out", "-o", help="Results folder (default: runs/<config name>-<budget>).")
_DATA = typer.Option(None, "--data", help="A data folder (holding sib200/, tatoeba/, …; e.g. what `langarith data "
                     "pull` wrote) read before $LANGARITH_DATA, the data folder beside the checkout and the hub.")


@app.command()
def experiment(
    config: Path = typer.Argument(..., help="Experiment YAML (see configs/)."),
    budget: str | None = typer.Option(None, "--budget", help="smoke | cpu | cpu-large | full (overrides the "
                                      "config's)."),
    out: Path | None = _OUT,
    quiet: bool = QUIET,
    deadline: float | None = typer.Option(None, "--deadline", min=1, help="Seconds this command may take. Work "
                                          "stops cleanly before then (a training at a checkpoint), the results "
                                          "written mark what was not run, and the same command run again "
                                          "continues from there."),
    workers: int | None = typer.Option(None, "--workers", min=1, help="Module trainings at once (overrides the "
                                       "budget's; default 4 per GPU, 1 on the CPU)."),
    data: Path | None = _DATA,
    device: str | None = DEVICE,
) -> None:
    """Train what is missing, compose, tune λ on dev, evaluate on test; write results.{csv,json,md} and plots."""
    from langarith.experiments import load_config, run  # slow to import: lazy

    cfg = load_config(config, budget)
    if workers is not None:
        cfg.spend.workers = workers
    folder = out or Path("runs") / f"{cfg.name}-{cfg.budget}"
    with timing.until(None if deadline is None else deadline - min(30.0, 0.1 * deadline)):  # time to write
        run(cfg, folder, progress=not quiet, data=data)
    typer.echo((folder / "results.md").read_text(encoding="utf-8").split("\n## Plots")[0])
    typer.echo(f"wrote {folder}/results.md, results.csv, results.json and plots")


@app.command()
def demo(
    out: Path = typer.Option(Path("runs/demo"), "--out", "-o", help="Results folder."),
    budget: str = typer.Option("auto", "--budget", help="demo (≈15 min on 2 CPU cores) | cpu | full | smoke; "
                               "auto: full on a GPU, else demo."),
    targets: str = typer.Option("por_Latn,swh_Latn", "--targets", help="Comma-separated SIB-200 targets."),
    model: str | None = typer.Option(None, "--model", help="Base model; default: the offline Gemma 3 270M."),
    quiet: bool = QUIET,
    data: Path | None = _DATA,
    device: str | None = DEVICE,
) -> None:
    """Task in one language on SIB-200: an English task module, language modules for English and the targets;
    baseline, task ×λ (control), Add and Add & Subtract with λ chosen on dev; the table and the report."""
    from langarith.experiments.demo import demo_config  # slow to import: lazy
    from langarith.experiments.runner import Runner  # likewise

    cfg = demo_config([t.strip() for t in targets.split(",") if t.strip()], budget, model)
    Runner(cfg, out, progress=not quiet, data=data).run()
    typer.echo((out / "results.md").read_text(encoding="utf-8").split("\n## Plots")[0])
    typer.echo(f"report: {out}/results.md (plots next to it)")
