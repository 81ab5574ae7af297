"""The typer application every command module registers on."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="langarith",
    help="Compose language and task modules (LoRA, LoKr, bottleneck adapters) with arithmetic.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
