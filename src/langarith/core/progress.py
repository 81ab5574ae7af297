"""What long work shows while it runs: one rich progress bar (training and evaluation alike) on stderr, and
messages through the `langarith` logger hierarchy (`logging.getLogger("langarith…")`), so that a notebook
can silence or route them. Importing the library installs no handler (a `NullHandler`); the CLI installs
`ConsoleHandler`, one line per message on the progress bars' stderr console. Messages are logged from the
main process only under `accelerate launch` / `torchrun`."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
from collections.abc import Iterator
from typing import Any

#: the root of the library's loggers; each module logs on `langarith.<module>`
LOGGER = "langarith"


@functools.cache
def stderr_console() -> Any:
    """The one rich console on stderr that progress bars and the CLI's log lines share, so a message printed
    while a bar is live appears above it. Its file is looked up at each print (stderr may be swapped)."""
    from rich.console import Console

    return Console(stderr=True)


@contextlib.contextmanager
def progress(enabled: bool, console: Any, *fields: str, transient: bool = False) -> Iterator[Any]:
    """A rich progress bar with ETA; `fields` are extra columns (format strings over the task's fields). Without
    a console, on stderr: stdout is the command's result (`train … > out.txt` captures no bar)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    console = console if console is not None else stderr_console()

    bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                   *(TextColumn(f) for f in fields), TimeRemainingColumn(), console=console, disable=not enabled,
                   transient=transient)
    with bar:
        yield bar


def say(message: str, level: int = logging.INFO, name: str = LOGGER) -> None:
    """Log `message` (plain text) on the logger `name` (a module's `__name__`), from the main process only."""
    if os.environ.get("LOCAL_RANK", "0") != "0":
        return
    logging.getLogger(name).log(level, message)


class ConsoleHandler(logging.Handler):
    """One line per record on a rich console (default: the shared stderr one), its text escaped; warnings and
    errors say so first."""

    def __init__(self, console: Any = None, level: int = logging.NOTSET):
        super().__init__(level)
        self.console = console

    def emit(self, record: logging.LogRecord) -> None:
        try:
            from rich.markup import escape

            prefix = ("[bold red]error:[/] " if record.levelno >= logging.ERROR else
                      "[yellow]warning:[/] " if record.levelno >= logging.WARNING else "")
            console = self.console if self.console is not None else stderr_console()
            console.print(prefix + escape(self.format(record)), markup=True, highlight=False, soft_wrap=True)
        except Exception:  # logging's contract: a broken handler reports itself, never raises into the caller
            self.handleError(record)


@contextlib.contextmanager
def logging_to(handler: logging.Handler, level: int = logging.INFO) -> Iterator[logging.Handler]:
    """Route the library's messages to `handler` for the duration (a pool worker's log file), at `level` unless
    the logger already has a level of its own."""
    logger = logging.getLogger(LOGGER)
    old_level = logger.level
    logger.addHandler(handler)
    if old_level == logging.NOTSET:
        logger.setLevel(level)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
