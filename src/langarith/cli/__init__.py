"""`langarith` command line. Each command lives in its own module and registers on `app`.

Command modules import heavy libraries (torch, transformers) inside their functions only, so that
`langarith compose` and `langarith inspect` start fast.
"""

from __future__ import annotations

import sys

from rich.console import Console

from langarith.cli import compose as _compose  # noqa: F401  (registers commands)
from langarith.cli import train as _train  # noqa: F401
from langarith.cli import typology as _typology  # noqa: F401
from langarith.cli.app import app
from langarith.errors import LangarithError


def main() -> None:
    """Entry point: typed errors become one red line and exit code 2, not a traceback."""
    try:
        app()
    except LangarithError as err:
        Console(stderr=True, highlight=False, soft_wrap=True).print(
            f"[bold red]error:[/] {type(err).__name__}: {err}", markup=True
        )
        sys.exit(2)


__all__ = ["app", "main"]
