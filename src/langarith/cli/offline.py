"""`langarith bundle` (everything a GPU node without network needs, in transfer-sized parts) and
`langarith unpack` (the results it packed, back into results folders)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from langarith.cli.app import JSON, QUIET, app
from langarith.cli.experiment import Budget
from langarith.offline import OfflineError, node


@app.command()
def bundle(
    configs: list[Path] = typer.Argument(..., help="Experiment YAMLs to run on the node, most valuable first."),
    out: Path = typer.Option(..., "--out", "-o", help="Bundle folder (keep it out of git: it is GBs' worth of "
                             "parts); `bundle/` is ignored in this repository."),
    budget: Budget = typer.Option(Budget.full, "--budget", help="The budget the node runs the configs at."),
    chunk_mib: float | None = typer.Option(None, "--chunk-mib", help="Part size in MiB (default: the transfer "
                                           "limit less the repository's tracked size and the bundle's head)."),
    transfer_mib: float = typer.Option(64, "--transfer-mib", help="What one transfer to the node may carry."),
    python_version: str = typer.Option("3.12", "--python-version", help="The node's Python (major.minor)."),
    platform: list[str] | None = typer.Option(None, "--platform", help="The node's wheel platform tags "
                                              "(repeatable; default: manylinux x86_64)."),
    node_packages: Path | None = typer.Option(None, "--node-packages", help="`pip freeze` (or `pip list`, or bare "
                                              "names) of the node's Python: what it has is not bundled."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an earlier bundle in --out."),
    quiet: bool = QUIET,
    as_json: bool = JSON,
) -> None:
    """Wheels the node lacks, the default model files and the data the configs read, the configs, run.sh."""
    from rich.console import Console

    from langarith.offline import bundle as make  # imports the experiments (0.3 s): only when bundling
    from langarith.offline.wheels import PLATFORMS

    console = Console(stderr=True, highlight=False)
    manifest = make.build(configs, out, budget=budget.value, chunk_mib=chunk_mib, transfer_mib=transfer_mib,
                          python_version=python_version, platforms=platform or PLATFORMS, node_packages=node_packages,
                          overwrite=overwrite, say=(lambda *_: None) if quiet or as_json else console.print)
    if as_json:
        typer.echo(json.dumps({"bundle": str(out), **manifest, "staging": make.staging_plan(out, manifest)},
                              indent=2, ensure_ascii=False, default=str))
        return
    total = manifest["payload"]["bytes"] / make.MIB
    typer.echo(f"wrote {out}: {len(manifest['parts'])} parts, {total:.1f} MiB in all, {len(manifest['wheels'])} "
               f"wheels, models {', '.join(manifest['models']) or 'none'}; id {manifest['id']}")
    typer.echo("Staging plan (one transfer per part; --deadline: the job's time limit in seconds, less a margin):")
    for line in make.staging_plan(out, manifest):
        typer.echo(f"  {line}")
    typer.echo("Then: langarith unpack <the folder the files came back in> --into results")


@app.command()
def unpack(
    found: Path = typer.Argument(..., help="The folder holding results-manifest.json and results.tar.gz.partNN."),
    into: Path = typer.Option(Path("results"), "--into", help="Where the results folders go."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Unpack over results folders of the same names "
                                   "(their files of the same names are replaced, others kept)."),
    as_json: bool = JSON,
) -> None:
    """Verify and open results packed on a node: each folder (tables, plots, modules) under --into."""
    try:
        folders = node.unpack(found, into, overwrite=overwrite)
    except node.NodeError as err:
        raise OfflineError(str(err)) from err
    if as_json:
        typer.echo(json.dumps({"into": str(into), "folders": folders}, indent=2, ensure_ascii=False))
        return
    typer.echo(f"unpacked into {into}: {', '.join(folders)}")
