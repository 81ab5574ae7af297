"""`langarith export MODULE --merge --out DIR`: a full Hugging Face model folder with the module merged in."""

from __future__ import annotations

from pathlib import Path

import typer

from langarith.cli.app import DEVICE, app
from langarith.models.export import DTYPES, export_merged


@app.command("export")
def export_command(
    module: Path = typer.Argument(..., help="A PEFT module folder (LoRA or LoKr)."),
    merge: bool = typer.Option(False, "--merge", help="Merge the module into the base model's weights."),
    out: Path = typer.Option(..., "--out", "-o", help="Output model folder (written atomically)."),
    model: str | None = typer.Option(None, "--model", help="Base model (default: the one the module records)."),
    dtype: str = typer.Option("float32", "--dtype", help=" | ".join(DTYPES) + ": the saved weights' dtype "
                              "(the merge itself runs in float32)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an --out that export wrote before."),
    device: str | None = DEVICE,
) -> None:
    """Save the base model with a module merged into its weights, loadable by from_pretrained alone."""
    if not merge:
        raise typer.BadParameter("export writes the base model with the module merged in: pass --merge. To serve "
                                 "a module unmerged, give its folder to PEFT or vLLM as it is", param_hint="--merge")
    written = export_merged(module, out, model=model, dtype=dtype, overwrite=overwrite)
    typer.echo(f"wrote {written}: the base model with {module} merged in ({dtype}); transformers' "
               "from_pretrained loads it as it loads the base model")
