"""Where langarith keeps caches (converted models, distance matrices); data is found by `langarith.data`."""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

import numpy as np

from langarith.core.errors import LangarithError

_READ_ONLY = {errno.EROFS, errno.EACCES, errno.EPERM}  # a cache that can be read but not added to


def cache_dir(*parts: str, write: bool = True) -> Path:
    """`$LANGARITH_CACHE`, else `$XDG_CACHE_HOME/langarith`, else `~/.cache/langarith`; created on use. With
    `write=False` (a reader, or one whose writes are optional) the folder is returned even where it is read-only (or
    cannot be made there): a warm cache on a read-only disk is still read, and a missing folder holds nothing."""
    root = os.environ.get("LANGARITH_CACHE")
    try:
        base = Path(root) if root else Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "langarith"
        path = base.joinpath(*parts)
        if not write:
            try:
                path.mkdir(parents=True, exist_ok=True)
            except OSError as err:
                if err.errno not in _READ_ONLY:
                    raise
            return path
        path.mkdir(parents=True, exist_ok=True)
    except (OSError, RuntimeError) as err:  # read-only, a file in the way, no home folder
        raise LangarithError(f"cannot use the cache folder ({err}); set LANGARITH_CACHE to a writable folder") from err
    if not os.access(path, os.W_OK):
        raise LangarithError(f"the cache folder {path} is not writable; set LANGARITH_CACHE to a writable folder")
    return path


def read_npz(path: Path) -> dict[str, np.ndarray] | None:
    """A cached file, or None when it is missing or unreadable (then it is rebuilt)."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            return {name: z[name] for name in z.files}
    except (OSError, ValueError, EOFError, KeyError):
        return None


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write atomically, so a concurrent reader never sees half a file; a read-only cache is fine."""
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "wb") as handle:
            np.savez(handle, **arrays)
        os.replace(tmp, path)
    except OSError:
        return
