"""`langarith data pull|list`: datasets by name — where each is read from, and copies from the Hugging Face hub
into a local data folder for machines without it."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import typer

from langarith.cli.app import JSON, QUIET, app, choices
from langarith.data import DATASETS

Dataset = choices("Dataset", DATASETS)

data_app = typer.Typer(help="Datasets by name: where each is read from (list) and local copies from the hub "
                       "(pull).", no_args_is_help=True)
app.add_typer(data_app, name="data")


@data_app.command("pull")
def pull(
    names: list[Dataset] = typer.Argument(..., help="Datasets to copy."),
    out: Path = typer.Option(..., "--out", "-o", help="The data folder to fill (then: --data OUT or "
                             "LANGARITH_DATA=OUT)."),
    langs: str | None = typer.Option(None, "--langs", help="Comma-separated languages (any code); default: every "
                                     "configuration of the dataset."),
    splits: str = typer.Option("train,dev,test", "--splits", help="Comma-separated splits to copy."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Remove a dataset's folder in OUT before copying it "
                                   "again (default: add to a copy `data pull` made)."),
    quiet: bool = QUIET,
    as_json: bool = JSON,
) -> None:
    """Copy datasets from the Hugging Face hub into OUT, in the layout langarith reads."""
    from langarith.data.pull import pull as run  # imports the tasks and `datasets`: only when pulling

    languages = [c.strip() for c in langs.split(",") if c.strip()] if langs else None
    done = run([n.value for n in names], out, languages=languages, overwrite=overwrite,
               splits=[s.strip() for s in splits.split(",") if s.strip()],
               say=(lambda line: None) if quiet or as_json else (lambda line: typer.echo(line, err=True)))
    if as_json:
        shown = [{**asdict(pulled), "bytes": pulled.bytes} for pulled in done]
        typer.echo(json.dumps(shown, indent=2, ensure_ascii=False, default=str))
        return
    for pulled in done:
        typer.echo(f"{pulled.dataset}: {len(pulled.splits)} splits, {pulled.bytes / 2**20:.1f} MiB in {pulled.folder}")
    typer.echo(f"read them with --data {out} or LANGARITH_DATA={out}")


@data_app.command("list")
def list_(
    data: Path | None = typer.Option(None, "--data", help="A data folder to look in first."),
    as_json: bool = JSON,
) -> None:
    """Every dataset langarith knows, its hub id, and where it would be read from now."""
    from langarith.data.pull import where_each

    if as_json:
        typer.echo(json.dumps([{"name": d.name, "hub": d.hub, "where": where} for d, where in where_each(data)],
                              indent=2, ensure_ascii=False))
        return
    for dataset, where in where_each(data):
        typer.echo(f"{dataset.name:<12} {dataset.hub or '(no hub dataset)':<34} {where}")
