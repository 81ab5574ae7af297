"""`langarith data pull|list`: datasets by name — where each is read from, and copies from the Hugging Face hub
into a local data folder for machines without it."""

from __future__ import annotations

from pathlib import Path

import typer

from langarith.cli.app import app
from langarith.data import DATASETS

data_app = typer.Typer(help="Datasets by name: where each is read from (list) and local copies from the hub "
                       "(pull).", no_args_is_help=True)
app.add_typer(data_app, name="data")


@data_app.command("pull")
def pull(
    names: list[str] = typer.Argument(..., help=" | ".join(DATASETS)),
    out: Path = typer.Option(..., "--out", "-o", help="The data folder to fill (then: --data OUT or "
                             "LANGARITH_DATA=OUT)."),
    langs: str | None = typer.Option(None, "--langs", help="Comma-separated languages (any code); default: every "
                                     "configuration of the dataset."),
    splits: str = typer.Option("train,dev,test", "--splits", help="Comma-separated splits to copy."),
) -> None:
    """Copy datasets from the Hugging Face hub into OUT, in the layout langarith reads."""
    from langarith.data.pull import pull as run  # imports the tasks and `datasets`: only when pulling

    languages = [c.strip() for c in langs.split(",") if c.strip()] if langs else None
    done = run(names, out, languages=languages, splits=[s.strip() for s in splits.split(",") if s.strip()],
               say=lambda line: typer.echo(line, err=True))
    for pulled in done:
        typer.echo(f"{pulled.dataset}: {len(pulled.splits)} splits, {pulled.bytes / 2**20:.1f} MiB in {pulled.folder}")
    typer.echo(f"read them with --data {out} or LANGARITH_DATA={out}")


@data_app.command("list")
def list_(
    data: Path | None = typer.Option(None, "--data", help="A data folder to look in first."),
) -> None:
    """Every dataset langarith knows, its hub id, and where it would be read from now."""
    from langarith.data.pull import where_each

    for dataset, where in where_each(data):
        typer.echo(f"{dataset.name:<12} {dataset.hub or '(no hub dataset)':<34} {where}")
