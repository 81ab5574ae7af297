"""`langarith` command line. Each command lives in its own module and registers on `app`.

Command modules import heavy libraries (torch, transformers) inside their functions only, so that
`langarith compose` and `langarith inspect` start fast.
"""

from __future__ import annotations

import sys
import warnings

from rich.console import Console
from rich.markup import escape

from langarith.cli import analyze as _analyze  # noqa: F401
from langarith.cli import compose as _compose  # noqa: F401  (registers commands)
from langarith.cli import data as _data  # noqa: F401
from langarith.cli import evaluate as _evaluate  # noqa: F401
from langarith.cli import experiment as _experiment  # noqa: F401
from langarith.cli import export as _export  # noqa: F401
from langarith.cli import inspect as _inspect  # noqa: F401
from langarith.cli import offline as _offline  # noqa: F401
from langarith.cli import train as _train  # noqa: F401
from langarith.cli import typology as _typology  # noqa: F401
from langarith.cli.app import app
from langarith.core.errors import LangarithError
from langarith.core.hub import offline_unless_reachable

# Commands that load models or data (and so may touch the hub); the others never import transformers.
_MODEL_COMMANDS = {"train", "evaluate", "search-lambda", "experiment", "demo", "export", "data"}


def main() -> None:
    """Entry point: typed and OS errors become one red line and exit code 2, not a traceback; warnings one line."""
    console = Console(stderr=True, highlight=False, soft_wrap=True)

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        console.print(f"[yellow]warning:[/] {escape(str(message))}", markup=True)

    warnings.showwarning = show
    if _MODEL_COMMANDS & set(sys.argv[1:2]):
        offline_unless_reachable()
    try:
        app()
    except LangarithError as err:
        console.print(f"[bold red]error:[/] {type(err).__name__}: {escape(str(err))}", markup=True)
        sys.exit(2)
    except OSError as err:  # the machine's fault (permissions, a full disk, a missing path), not the code's
        where = f": {err.filename}" if err.filename else ""
        console.print(f"[bold red]error:[/] {type(err).__name__}: {escape(f'{err.strerror or err}{where}')}; check the "
                      "path, its permissions and the free space", markup=True)
        sys.exit(2)


__all__ = ["app", "main"]
