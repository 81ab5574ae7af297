"""Writing a folder so that nothing is ever lost: the module, checkpoint or report appears whole or not at all,
one writer at a time, and `--overwrite` only ever replaces what it was meant to replace.

- The folder is written as a hidden sibling (`.NAME.tmp-*`), fsynced, then renamed into place. Replacing an
  existing folder exchanges the two atomically (Linux `renameat2(RENAME_EXCHANGE)`), so a kill at any
  moment leaves the old folder or the new one at the destination, never neither; where the exchange is not
  available, the old folder is first moved aside (`.NAME.old-*`) and a killed write's old folder is put back
  by the next write to that place.
- Writers of one destination cannot race: checking for it and publishing to it happen under an OS lock on
  the parent folder (`flock`; a killed holder releases it), so of two writers without `overwrite` exactly one
  wins and the other gets a clean "exists" error; with `overwrite`, the later one replaces the earlier whole.
- Leftovers of killed writes (`.NAME.tmp-*`, `.NAME.old-*`) are removed by the next write to that place; a
  live writer's folder is locked while it writes, and left alone.
- `overwrite` replaces only a folder of the kind being written (a module folder, a checkpoint): never an input
  of the write, a folder holding one, the current directory, or a folder of other files.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import glob
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from langarith.core.errors import LangarithError, OutputExistsError, OutputWriteError

try:  # POSIX; elsewhere writes are atomic but not locked
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

# Errors of the output place or the disk, not of the code: reported as one line naming --out.
_PLACE_ERRNOS = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.ENOTDIR,
                 errno.EEXIST, errno.ENOENT, errno.ENAMETOOLONG}

# What marks a folder langarith (or PEFT, or AdapterHub) wrote as a module: `overwrite` replaces only these.
MODULE_MARKERS = ("langarith.json", "adapter_config.json", "head_config.json")


@contextlib.contextmanager
def atomic_folder(out: Path, overwrite: bool = False, protect: Iterable[Path] = (),
                  markers: Sequence[str] = MODULE_MARKERS) -> Iterator[Path]:
    """Yield a temporary sibling folder to write into; on success it becomes `out`. `protect`: the inputs of
    the write, which `out` may not be, hold or lie inside. `markers`: files one of which an existing `out` must
    hold for `overwrite` to replace it."""
    out = Path(out).expanduser()
    _refuse_unsafe(out, overwrite, [Path(p) for p in protect], markers)
    with _place_errors(out), contextlib.ExitStack() as live:
        out.parent.mkdir(parents=True, exist_ok=True)
        with _locked(out.parent):
            _remove_leftovers(out)
            _refuse_existing(out, overwrite)
            tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
            tmp.chmod(0o777 & ~_umask())  # mkdtemp's 0700 would hide the result from the rest of a shared node
            live.enter_context(_locked(tmp))  # marks the folder as a live write, not a leftover
        try:
            yield tmp
            for child in tmp.rglob("*"):  # subfolders too (a module's training logs/)
                if child.is_file() and not child.is_symlink():
                    with child.open("rb") as fh:
                        os.fsync(fh.fileno())
            with _locked(out.parent):
                _refuse_existing(out, overwrite)
                _publish(tmp, out)
                _fsync_dir(out.parent)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)  # the new folder on failure; after an exchange, the old one


def check_out(out: Path, overwrite: bool = False, protect: Iterable[Path] = (),
              markers: Sequence[str] = MODULE_MARKERS) -> None:
    """Before long work, what `atomic_folder` with the same arguments would refuse (it checks again when it
    writes): an existing `out` without `overwrite`, an input, or a folder of other files."""
    out = Path(out).expanduser()
    _refuse_unsafe(out, overwrite, [Path(p) for p in protect], markers)
    _refuse_existing(out, overwrite)


def check_file(path: Path, overwrite: bool = False, flag: str = "--out") -> None:
    """Before work that ends in writing the file `path` (a plot, predictions): refuse a folder there, and an
    existing file unless `overwrite`."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise OutputExistsError(f"{flag} {path} is a folder; give a file")
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{flag} {path} already exists; pass --overwrite to replace it, or give another file")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def _place_errors(out: Path) -> Iterator[None]:
    """A read-only, full or impossible output place becomes one line naming `out`, not a traceback; so does a
    library's own error for one (safetensors' "… (os error 28)", torch.save's "unexpected pos" on a full disk)."""
    try:
        yield
    except LangarithError:
        raise
    except Exception as err:
        code = _place_errno(err, out.parent)
        if code is None:
            raise
        filename = getattr(err, "filename", None)
        where = f" ({filename})" if filename and str(filename) != str(out) else ""
        raise OutputWriteError(f"cannot write {out}: {os.strerror(code)}{where}; choose a writable --out with free "
                               "space") from err


_WRAPPED_OS_ERROR = re.compile(r"\(os error (\d+)\)")  # how Rust libraries (safetensors) report an OS error
_NEARLY_FULL = 1 << 20  # bytes free below which a library's failed write is put down to a full disk


def _place_errno(err: BaseException, folder: Path) -> int | None:
    """The errno of the output place behind `err` (an OSError, one a library wrapped in its message or its cause),
    else ENOSPC when the disk under `folder` is all but full, or EFBIG under a file-size limit; None for an error of
    anything else."""
    seen: BaseException | None = err
    for _ in range(8):  # the error, its cause, the cause's cause…
        if seen is None:
            break
        code = seen.errno if isinstance(seen, OSError) else None
        found = _WRAPPED_OS_ERROR.search(str(seen)) if code is None else None
        code = int(found.group(1)) if found else code
        if code is not None:
            return code if code in _PLACE_ERRNOS else None
        seen = seen.__cause__ or seen.__context__
    try:
        full = shutil.disk_usage(folder).free < _NEARLY_FULL
    except OSError:
        return None
    return errno.ENOSPC if full else errno.EFBIG if _file_size_limited() else None


def _file_size_limited() -> bool:
    """Whether this process runs under a file-size limit (`ulimit -f`), past which a library's write fails."""
    try:
        import resource
    except ImportError:  # pragma: no cover
        return False
    return resource.getrlimit(resource.RLIMIT_FSIZE)[0] != resource.RLIM_INFINITY


def _refuse_existing(out: Path, overwrite: bool) -> None:
    if out.exists() and not overwrite:
        raise OutputExistsError(f"{out} already exists; choose another --out or pass --overwrite")


def _refuse_unsafe(out: Path, overwrite: bool, protect: list[Path], markers: Sequence[str]) -> None:
    target = out.resolve()
    for given in protect:
        source = given.resolve()
        if target == source or source.is_relative_to(target) or target.is_relative_to(source):
            how = "is" if target == source else "holds" if source.is_relative_to(target) else "lies inside"
            raise OutputExistsError(f"--out {out} {how} the input {given}: writing there would destroy an input. "
                                    "Choose another --out")
    if not (overwrite and out.exists()):
        return
    here = Path.cwd().resolve()
    if here == target or here.is_relative_to(target):
        raise OutputExistsError(f"--out {out} holds the current directory; --overwrite will not replace it. "
                                "Choose another --out")
    if not out.is_dir() or not any((out / m).is_file() for m in markers) or any(c.is_dir() for c in out.iterdir()):
        shown = ", ".join(sorted(c.name for c in out.iterdir())[:5]) if out.is_dir() else "a file"
        raise OutputExistsError(f"{out} is not a folder langarith wrote (it holds {shown}); --overwrite replaces "
                                "only such folders. Choose another --out, or remove it yourself")


@contextlib.contextmanager
def _locked(folder: Path, wait: bool = True) -> Iterator[bool]:
    """An exclusive OS lock on `folder` for the block; with `wait=False`, yields whether it was free."""
    if fcntl is None:
        yield True
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


def _remove_leftovers(out: Path) -> None:
    """Under the writer's lock, hidden siblings of `out` belong to killed writes: a moved-aside old folder
    comes back if `out` is missing, the rest goes."""
    stem = glob.escape(f".{out.name}")
    for aside in sorted(out.parent.glob(f"{stem}.old-*")):
        if not out.exists() and (aside / out.name).is_dir():
            os.rename(aside / out.name, out)
        shutil.rmtree(aside, ignore_errors=True)
    for tmp in out.parent.glob(f"{stem}.tmp-*"):
        with _locked(tmp, wait=False) as free:
            if free:  # no live writer holds it
                shutil.rmtree(tmp, ignore_errors=True)


def _publish(tmp: Path, out: Path) -> None:
    """`tmp` becomes `out`; an existing `out` ends up in `tmp` (to be removed)."""
    if not out.exists():
        try:
            os.rename(tmp, out)
        except OSError as err:
            if err.errno in (errno.ENOTEMPTY, errno.EEXIST):
                raise OutputExistsError(f"{out} appeared while it was being written; choose another --out") from err
            raise
        return
    if _exchange(tmp, out):
        return
    aside = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
    os.rename(out, aside / out.name)  # a kill from here to the next line is undone by the next write
    os.rename(tmp, out)
    os.rename(aside / out.name, tmp)
    aside.rmdir()


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux ≥ 3.15); False where the system cannot."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), str(b))


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
