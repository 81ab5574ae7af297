"""The typer application every command module registers on, with `--version`, `--verbose` and shell
completion. It installs the one handler of the library's log (one line per message on stderr; stdout stays the
command's result): INFO by default, DEBUG with `--verbose`, WARNING with a command's `--quiet`."""

from __future__ import annotations

import logging
from importlib.metadata import PackageNotFoundError, version

import typer

from langarith import __version__
from langarith.core.progress import LOGGER, ConsoleHandler

# What a bug report needs besides langarith's own version; read from package metadata, nothing is imported.
_STACK = ("torch", "transformers", "peft", "adapters", "safetensors", "accelerate")

app = typer.Typer(
    name="langarith",
    help="Compose language and task modules (LoRA, LoKr, bottleneck adapters) with arithmetic.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
)


def _use_device(value: str | None) -> str | None:
    from langarith.core import devices

    devices.use(value)  # an unknown or absent device is a one-line error before anything loads
    return value


#: what every command that loads a model takes
DEVICE = typer.Option(None, "--device", callback=_use_device, help="Where models run: cpu, cuda or cuda:N "
                      "(default: the first GPU when there is one, else the CPU).")


#: what every command with a result takes
JSON = typer.Option(False, "--json", help="Print the result as JSON, nothing else on stdout.")

def _quiet(value: bool) -> bool:
    if value:
        logging.getLogger(LOGGER).setLevel(logging.WARNING)
    return value


#: what every command with progress bars takes
QUIET = typer.Option(False, "--quiet", callback=_quiet, help="No progress bars; of the messages, only warnings.")


def _log_to_stderr(verbose: bool) -> None:
    """One ConsoleHandler on the library's logger (a second invocation in one process replaces it)."""
    logger = logging.getLogger(LOGGER)
    for handler in [h for h in logger.handlers if isinstance(h, ConsoleHandler)]:
        logger.removeHandler(handler)
    logger.addHandler(ConsoleHandler())
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)


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
    verbose: bool = typer.Option(False, "--verbose", help="Also print debugging messages (on stderr)."),
) -> None:
    """Compose language and task modules (LoRA, LoKr, bottleneck adapters) with arithmetic."""
    _log_to_stderr(verbose)
