"""The typer application every command module registers on, with `--version` and shell completion."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

import typer

from langarith import __version__

# What a bug report needs besides langarith's own version; read from package metadata, nothing is imported.
_STACK = ("torch", "transformers", "peft", "adapters", "safetensors", "accelerate")

app = typer.Typer(
    name="langarith",
    help="Compose language and task modules (LoRA, LoKr, bottleneck adapters) with arithmetic.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
)


def _installed(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"langarith {__version__}")
        typer.echo("  ".join(f"{name} {_installed(name)}" for name in _STACK))
        raise typer.Exit()


@app.callback()
def _options(
    show_version: bool = typer.Option(False, "--version", callback=_show_version, is_eager=True,
                                      help="Print langarith's version and the versions of the libraries it runs on."),
) -> None:
    """Compose language and task modules (LoRA, LoKr, bottleneck adapters) with arithmetic."""
