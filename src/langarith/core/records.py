"""What every record langarith writes says about the run that made it — a composed module's provenance, a trained
module's manifest, `search-lambda`'s output and module, an experiment's results.json — so that it can be
traced and redone later, on another machine, from another folder:

- `langarith_version` and `commit` (the git commit of the checkout it ran from, `+dirty` when its files
  differed; None for an installed package);
- `date` (UTC);
- `command`, the command line (None when not run from the CLI), and then `call`: the langarith function the
  caller's code called, with its arguments that are plain values (strings, numbers, paths, lists, mappings
  and dataclasses of them);
- `cwd`, the working folder, and `inputs`: each input's name, absolute path and sha256 (a file's bytes; a
  folder's files, by relative path and content; None for what is not a local path, e.g. `hf:` datasets).

Files are hashed once per machine: a file's sha256 is cached by its real path, size and modification time
(and a Hugging Face hub cache blob is named by its sha256 already).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import inspect
import os
import re
import shlex
import sys
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from langarith import __version__
from langarith.core.devices import source_commit
from langarith.core.errors import LangarithError
from langarith.core.paths import cache_dir, read_npz, write_npz

#: the keys `run_record` gives every record
RECORD_KEYS = ("langarith_version", "commit", "date", "command", "call", "cwd", "inputs")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_PLAIN = (str, int, float, bool, type(None))
_SKIP = object()  # an argument that is no plain value: not recorded


def run_record(inputs: Mapping[str, str | Path | None] | None = None, *,
               known: Mapping[str, str | None] | None = None, date: datetime | None = None) -> dict[str, Any]:
    """The record of this run with `inputs` (name → path; None: none given). `known`: name → the sha256 the
    caller has already (a module's own), used instead of hashing that input again."""
    command = command_line()
    return {"langarith_version": __version__, "commit": _commit(),
            "date": (date or datetime.now(timezone.utc)).isoformat(timespec="seconds"),
            "command": command, "call": None if command else entry_call(), "cwd": os.getcwd(),
            "inputs": [input_entry(name, path, (known or {}).get(name)) for name, path in (inputs or {}).items()]}


def input_entry(name: str, path: str | Path | None, sha256: str | None = None) -> dict[str, Any]:
    """{"name", "path" (absolute), "sha256"} of one input; a path that is not here (`hf:…`) is kept as it is."""
    if path is None:
        return {"name": name, "path": None, "sha256": sha256}
    local = Path(path).expanduser()
    if not local.exists():
        return {"name": name, "path": str(path), "sha256": sha256}
    return {"name": name, "path": absolute(local), "sha256": sha256 or content_sha256(local)}


def absolute(path: str | Path | None) -> str | None:
    """`path` made absolute against the working folder (not resolving links); None stays None."""
    return None if path is None else os.path.abspath(Path(path).expanduser())


def content_sha256(path: Path) -> str:
    """A file's sha256, or a folder's: sha256 over the relative path and sha256 of each file in it, in order."""
    if not path.is_dir():
        return file_sha256(path)
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(f"{file.relative_to(path).as_posix()}\0{file_sha256(file)}\n".encode())
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    """A file's sha256: a hub cache blob's own name, else hashed once per machine (cached under `fingerprints`
    by real path, size and modification time)."""
    real = Path(os.path.realpath(path))
    if real.parent.name == "blobs" and _SHA256.fullmatch(real.name):
        return real.name
    stat = real.stat()
    key = hashlib.sha256(f"{real}\0{stat.st_size}\0{stat.st_mtime_ns}".encode()).hexdigest()
    try:
        cached = cache_dir("fingerprints", write=False) / f"{key}.npz"
    except LangarithError:  # an unusable cache: hash every time
        cached = None
    known = read_npz(cached) if cached is not None else None
    if known is not None and known.get("sha256", np.empty(0)).size == 32:
        return bytes(known["sha256"]).hex()
    digest = hashlib.sha256()
    with real.open("rb") as handle:  # hashlib.file_digest is Python ≥ 3.11
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    sha = digest.hexdigest()
    if cached is not None:
        write_npz(cached, {"sha256": np.frombuffer(bytes.fromhex(sha), dtype=np.uint8)})
    return sha


def command_line() -> str | None:
    """The command line this process was started with, when it is langarith's CLI (None otherwise)."""
    args = " ".join(shlex.quote(a) for a in sys.argv[1:])
    if sys.argv and sys.argv[0].endswith("langarith"):
        return f"langarith {args}".rstrip()
    if sys.argv and sys.argv[0].endswith(("langarith/__main__.py", "langarith\\__main__.py")):
        return f"python -m langarith {args}".rstrip()
    return None


def entry_call() -> dict[str, Any] | None:
    """The langarith function the caller's own code called (the outermost langarith frame on the stack), with
    its arguments that are plain values; None when no langarith function is on the stack."""
    frame = inspect.currentframe()
    outermost = None
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if module == "langarith" or module.startswith("langarith."):
            outermost = frame
        frame = frame.f_back
    if outermost is None:
        return None
    try:
        code = outermost.f_code
        names = code.co_varnames[:code.co_argcount + code.co_kwonlyargcount]
        values = {n: _plain(outermost.f_locals[n]) for n in names if n not in ("self", "cls")
                  and n in outermost.f_locals}
        return {"function": f"{outermost.f_globals.get('__name__')}.{code.co_qualname}",
                "arguments": {n: v for n, v in values.items() if v is not _SKIP}}
    finally:
        del outermost, frame


def _plain(value: Any) -> Any:
    """`value` as JSON when it is a plain value (paths as strings), else `_SKIP`."""
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, Path):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):  # a spec (TrainSpec): its fields
        return _plain({f.name: getattr(value, f.name) for f in dataclasses.fields(value)})
    if isinstance(value, list | tuple):
        items = [_plain(v) for v in value]
        return _SKIP if any(v is _SKIP for v in items) else items
    if isinstance(value, Mapping) and all(isinstance(k, str) for k in value):
        mapped = {k: _plain(v) for k, v in value.items()}
        return _SKIP if any(v is _SKIP for v in mapped.values()) else mapped
    return _SKIP


@functools.cache
def _commit() -> str | None:
    """The checkout's commit, read once: the code running is the code this process imported."""
    return source_commit()
