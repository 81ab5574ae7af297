"""The typer application every command module registers on, with `--version`, `--verbose` and shell
completion. It installs the one handler of the library's log (one line per message on stderr; stdout stays the
command's result): INFO by default, DEBUG with `--verbose`, WARNING with a command's `--quiet`."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterable
from enum import Enum
from importlib.metadata import PackageNotFoundError, version

import typer

from langarith import __version__
from langarith.core.progress import LOGGER, ConsoleHandler
from langarith.tasks import SPLIT_ALIASES, TASKS

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


def choices(name: str, values: Iterable[str]) -> type[Enum]:
    """A typer choice from a registry's names (tasks, methods, recipes…), so that `--help` lists them and a
    wrong one is refused with the list; plugins registered at import are among them."""
    return Enum(name, {value: value for value in values}, type=str)  # type: ignore[return-value]


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


#: what every command that writes takes
OVERWRITE = typer.Option(False, "--overwrite", help="Replace what --out names if it exists.")


#: a task, by its name, on every command that takes one
Task = choices("Task", TASKS)
#: the splits a model is scored on, in langarith's words and the hub's (validation is dev)
EvalSplit = choices("EvalSplit", ("dev", "test", *(a for a, s in SPLIT_ALIASES.items() if s in ("dev", "test"))))
DevSplit = choices("DevSplit", ("dev", *(a for a, s in SPLIT_ALIASES.items() if s == "dev")))
TrainSplit = choices("TrainSplit", ("train", "dev", "test", *SPLIT_ALIASES))

#: the modules of a recipe, on every command that takes them (compose, search-lambda, analyze)
TASK_MODULES = typer.Option([], "--task-module", help="LANG=DIR: a task module trained on LANG (repeatable).")
LANG_MODULES = typer.Option([], "--lang-module", help="LANG=DIR: a language module of LANG (repeatable).")
#: their spellings before the vocabulary was one (`--task`/`--lang` now mean a task name and a language)
OLD_TASK_MODULES = typer.Option([], "--task", hidden=True, help="Deprecated: --task-module LANG=DIR.")
OLD_LANG_MODULES = typer.Option([], "--lang", hidden=True, help="Deprecated: --lang-module LANG=DIR.")


def pairs(values: Iterable[str], flag: str, error: type[Exception], *, identifier: bool = False) -> dict[str, str]:
    """`KEY=DIR` values of a repeatable flag, each key once; `identifier`: keys an expression can name."""
    found: dict[str, str] = {}
    for value in values:
        key, sep, path = value.partition("=")
        key, path = key.strip(), path.strip()
        if not sep or not key or not path:
            raise error(f"{flag} {value!r} should look like {flag} {'NAME' if identifier else 'LANG'}=DIR")
        if identifier and not key.isidentifier():
            raise error(f"{flag} name {key!r} cannot be used in an expression; use letters, digits and underscores "
                        f"(e.g. {key.replace('-', '_').replace('.', '_')!r})")
        if key in found:
            raise error(f"{flag} {key} was given twice")
        found[key] = path
    return found


def module_pairs(given: Iterable[str], old: Iterable[str], flag: str, error: type[Exception]) -> dict[str, str]:
    """The LANG=DIR modules of `--task-module`/`--lang-module`, with those given by the old spelling."""
    old = list(old)
    if old:
        deprecated(f"{flag.replace('-module', '')} LANG=DIR", f"{flag} LANG=DIR")
    return pairs([*given, *old], flag, error)


def deprecated(old: str, new: str) -> None:
    """The one-line note an old spelling gets; it keeps working for one more release."""
    warnings.warn(f"{old} is deprecated and goes in the next release; use {new}", FutureWarning, stacklevel=2)


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
