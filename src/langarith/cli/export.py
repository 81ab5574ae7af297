"""`langarith export MODULE --merge --out DIR`: a full Hugging Face model folder with the module merged in."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from langarith.cli.app import DEVICE, JSON, app, choices
from langarith.models.export import DTYPES, export_merged

Dtype = choices("Dtype", DTYPES)


@app.command("export")
def export_command(
    module: Path = typer.Argument(..., help="A PEFT module folder (LoRA or LoKr)."),
    merge: bool = typer.Option(False, "--merge", help="Merge the module into the base model's weights."),
    out: Path = typer.Option(..., "--out", "-o", help="Output model folder (written atomically)."),
    model: str | None = typer.Option(None, "--model", help="Base model (default: the one the module records)."),
    dtype: Dtype = typer.Option("float32", "--dtype", help="The saved weights' dtype (the merge itself runs in "
                                "float32)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an --out that export wrote before."),
    device: str | None = DEVICE,
    as_json: bool = JSON,
) -> None:
    """Save the base model with a module merged into its weights, loadable by from_pretrained alone."""
    if not merge:
        raise typer.BadParameter("export writes the base model with the module merged in: pass --merge. To serve "
                                 "a module unmerged, give its folder to PEFT or vLLM as it is", param_hint="--merge")
    written = export_merged(module, out, model=model, dtype=dtype.value, overwrite=overwrite)
    if as_json:
        typer.echo(json.dumps({"model": str(written), "module": str(module), "dtype": dtype.value}, indent=2))
        return
    typer.echo(f"wrote {written}: the base model with {module} merged in ({dtype.value}); transformers' "
               "from_pretrained loads it as it loads the base model")
