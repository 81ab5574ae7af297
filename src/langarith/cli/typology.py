"""`langarith related` and `langarith distances`: pick source languages for a target by URIEL
typology, and inspect the distances behind the choice. Model-free: numpy and langcodes only;
matplotlib is imported (by `langarith.analysis.plots`) only when a heatmap is asked for."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from langarith.analysis.plots import distance_heatmap, image_format
from langarith.cli.app import JSON, app
from langarith.core.atomic import check_file
from langarith.languages.typology import (
    DEFAULT_KIND,
    KINDS,
    PAPER_MAX_GEOGRAPHIC,
    PAPER_MAX_SYNTACTIC,
    DistanceMatrix,
    Relatedness,
    distance_matrix,
    related,
)


class Kind(str, Enum):
    syntactic = "syntactic"
    geographic = "geographic"
    genetic = "genetic"
    phonological = "phonological"
    inventory = "inventory"
    featural = "featural"


class Rule(str, Enum):
    paper = "paper"
    top_k = "top-k"
    nearest = "nearest"


@app.command("related")
def related_command(
    target: str = typer.Argument(..., help="Target language: pt, por, por_Latn, pt-BR, swa, ..."),
    pool: str = typer.Option(..., "--pool", help="Comma-separated candidate source languages, e.g. ar,en,ru,sw."),
    rule: Rule = typer.Option(
        Rule.paper,
        "--rule",
        help="paper: syntactic < 0.7 and geographic < 0.3 (Chronopoulou et al.); "
        "top-k: the k closest by --kind; nearest: the single closest by --kind (Klimaszewski et al.).",
    ),
    k: int = typer.Option(3, "--k", help="top-k: how many languages."),
    kind: Kind = typer.Option(Kind(DEFAULT_KIND), "--kind", help="Distance that ranks top-k and nearest."),
    max_syntactic: float = typer.Option(PAPER_MAX_SYNTACTIC, "--max-syntactic", help="paper: syntactic threshold."),
    max_geographic: float = typer.Option(PAPER_MAX_GEOGRAPHIC, "--max-geographic", help="paper: geographic threshold."),
    as_json: bool = JSON,
) -> None:
    """Pick the pool languages related to TARGET by URIEL typological distance."""
    codes = [code.strip() for code in pool.split(",") if code.strip()]
    result = related(
        target,
        codes,
        rule.value,
        k=k,
        kind=kind.value,
        max_syntactic=max_syntactic,
        max_geographic=max_geographic,
    )
    if as_json:
        typer.echo(json.dumps(result.to_json(), ensure_ascii=False))
        if not result.related:
            Console(stderr=True, highlight=False).print(f"[yellow]warning:[/] {result.message}")
        return
    _print_related(result)


def _print_related(result: Relatedness) -> None:
    console = Console(highlight=False)
    chosen = {lang.code for lang in result.related}
    if result.rule == "paper":
        how = f"syntactic < {result.thresholds['syntactic']:g} and geographic < {result.thresholds['geographic']:g}"
    elif result.rule == "top-k":
        how = f"the {len(result.related)} closest by {result.kind} distance"
    else:
        how = f"the closest by {result.kind} distance"
    table = Table(title=f"Languages related to {result.target.code} ({result.target.name}): {how}")
    table.add_column("", justify="center")
    table.add_column("language")
    table.add_column("name")
    for kind in KINDS:
        table.add_column(kind, justify="right")
    for lang in result.candidates:
        row = result.distances[lang.code]
        picked = lang.code in chosen
        style = "bold green" if picked else None
        table.add_row(
            "✓" if picked else "",
            lang.code,
            lang.name,
            *(f"{row[kind]:.3f}" for kind in KINDS),
            style=style,
        )
    console.print(table)
    if result.related:
        console.print(f"related: {', '.join(result.codes)}")
        console.print(result.message)
    else:
        console.print(f"[yellow]warning:[/] {result.message}")


@app.command("distances")
def distances_command(
    languages: list[str] = typer.Argument(..., help="Two or more languages, in any code format."),
    kind: Kind = typer.Option(Kind(DEFAULT_KIND), "--kind", help="Which URIEL distance."),
    as_json: bool = JSON,
    plot: Path | None = typer.Option(None, "--plot", help="Also write a labelled heatmap to this image file "
                                     "(.png, .pdf, .svg…)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace the --plot file if it exists."),
) -> None:
    """Print the matrix of URIEL distances between languages."""
    if len(languages) < 2:
        raise typer.BadParameter("give at least two languages", param_hint="LANGUAGES")
    if plot is not None:
        image_format(plot)
        check_file(plot, overwrite, "--plot")
    matrix = distance_matrix(languages, kinds=[kind.value])
    if as_json:
        typer.echo(json.dumps(matrix.to_json(kind.value), ensure_ascii=False))
    else:
        _print_matrix(matrix, kind.value)
    if plot is not None:
        written = distance_heatmap(matrix, kind.value, plot)
        Console(stderr=as_json, highlight=False).print(f"wrote {written}")


def _print_matrix(matrix: DistanceMatrix, kind: str) -> None:
    values = matrix[kind]
    table = Table(title=f"{kind} distance (URIEL; 0 = same, 1 = farthest)")
    table.add_column("")
    for code in matrix.codes:
        table.add_column(code, justify="right")
    for i, lang in enumerate(matrix.languages):
        table.add_row(f"{lang.code} ({lang.name})", *(f"{x:.3f}" for x in values[i]))
    Console(highlight=False).print(table)
