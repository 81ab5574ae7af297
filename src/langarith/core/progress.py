"""What long work shows while it runs: one rich progress bar (training and evaluation alike) and messages that
only the main process prints under `accelerate launch` / `torchrun`."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def progress(enabled: bool, console: Any, *fields: str, transient: bool = False) -> Iterator[Any]:
    """A rich progress bar with ETA; `fields` are extra columns (format strings over the task's fields). Without
    a console, on stderr: stdout is the command's result (`train … > out.txt` captures no bar)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    console = console if console is not None else Console(stderr=True)

    bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                   *(TextColumn(f) for f in fields), TimeRemainingColumn(), console=console, disable=not enabled,
                   transient=transient)
    with bar:
        yield bar


def say(console: Any, message: str) -> None:
    """Print `message` (rich markup) on `console`, from the main process only."""
    if os.environ.get("LOCAL_RANK", "0") != "0":
        return
    if console is None:
        from rich.console import Console

        console = Console(stderr=True)
    console.print(message)
