"""`langarith analyze`: parses the modules to analyse and prints what `langarith.analysis.report.analyze`
found (figures and report.md in --out)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from langarith.analysis.measures import AnalysisError
from langarith.analysis.report import PAPER_RANGES, analyze, modules_in, pearson_text
from langarith.cli.app import (
    JSON,
    LANG_MODULES,
    OLD_LANG_MODULES,
    OLD_TASK_MODULES,
    OVERWRITE,
    TASK_MODULES,
    app,
    module_pairs,
)
from langarith.cli.typology import Kind
from langarith.languages.typology import DEFAULT_KIND


@app.command("analyze")
def analyze_command(
    folders: list[Path] | None = typer.Argument(
        None, metavar="DIR", help="Module folders (PEFT, AdapterHub), .safetensors files, or folders of modules "
        "(an experiment's results folder: its modules/). Language and role come from their langarith.json; use "
        "--lang-module/--task-module for modules without one."),
    lang_module: list[str] = LANG_MODULES,
    task_module: list[str] = TASK_MODULES,
    out: Path = typer.Option(..., "--out", "-o", help="Report folder: report.md and the PNG figures go here."),
    overwrite: bool = OVERWRITE,
    kind: Kind = typer.Option(Kind(DEFAULT_KIND), "--kind", help="URIEL distance for the distance-vs-cosine plot."),
    as_json: bool = JSON,
    factors: bool = typer.Option(False, "--factors", help="LoRA: compare the raw A/B factors instead of ΔW = s·BA "
                                 "(factors of modules with a shared initialisation all look alike)."),
    old_lang: list[str] = OLD_LANG_MODULES,
    old_task: list[str] = OLD_TASK_MODULES,
) -> None:
    """Compare modules: cosine similarity, weight density, typological distance vs similarity."""
    entries: list[tuple[Path, str | None, str | None]] = [
        (module, None, None) for folder in folders or [] for module in modules_in(Path(folder))]
    for flag, given, old, role in (("--lang-module", lang_module, old_lang, "language"),
                                   ("--task-module", task_module, old_task, "task")):
        entries += [(Path(path), code, role) for code, path in module_pairs(given, old, flag, AnalysisError).items()]
    result = analyze(entries, out, kind.value, updates=not factors, overwrite=overwrite)
    if as_json:
        typer.echo(json.dumps(result, ensure_ascii=False))
    else:
        _print_summary(result)


def _print_summary(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False)
    count = len(result["modules"])
    table = Table(title=f"{count} module{'s' if count != 1 else ''}")
    for column, justify in (("module", "left"), ("role", "left"), ("language", "left"), ("parameters", "right"),
                            ("norm", "right"), ("|θ| < 1e-2·max", "right")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for row in result["modules"]:
        table.add_row(row["label"], row["role"] or "—", row["language"] or "—", f"{row['num_params']:,}",
                      f"{row['norm']:.4g}", f"{100 * row['share_below_1e-2']:.1f}%")
    console.print(table)
    means = result["mean_cosine"]
    for role in ("language", "task"):
        value = means[role]
        shown = f"{value:.3f}" if value is not None else "n/a"
        console.print(f"mean cosine among {role} modules: {shown} (papers: {PAPER_RANGES[role]})")
    data = result["distance_vs_cosine"]
    if data is None:
        console.print(f"[yellow]skipped distance_vs_cosine.png:[/] {result['distance_vs_cosine_skipped']}")
    else:
        counts = {g: sum(p["group"] == g for p in data["pairs"]) for g in data["pearson_r"]}
        console.print(f"{data['kind']} distance vs cosine: "
                      + "; ".join(f"{g} {pearson_text(r)} ({counts[g]} pairs)" for g, r in data["pearson_r"].items())
                      + (f"; {data['skipped_pairs']} pairs skipped (language unknown to URIEL)"
                         if data["skipped_pairs"] else ""))
    console.print(f"wrote {result['files']['report']}")
