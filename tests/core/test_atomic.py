"""Writing folders so that nothing is lost: inputs and unrelated folders are never replaced, writers of one
place do not race, a replaced folder is swapped whole, and leftovers of killed writes are cleaned up."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from conftest import kill_mid_write, synthetic_lora

from langarith.arith.compose import compose
from langarith.arith.formats import save
from langarith.core import atomic
from langarith.core.atomic import atomic_folder
from langarith.core.errors import OutputExistsError, OutputWriteError


def module_folder(path: Path, marker: str = "x") -> Path:
    with atomic_folder(path, overwrite=path.exists()) as tmp:
        (tmp / "adapter_config.json").write_text(marker)
    return path


def hidden(parent: Path, name: str) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith(f".{name}."))


def test_overwrite_never_replaces_an_input_or_what_holds_it(tmp_path):
    project = tmp_path / "proj"
    a, b = (save(synthetic_lora(i).vector.materialize(), project / "mods" / n, provenance={}) for i, n in ((1, "a"),
                                                                                                          (2, "b")))
    (project / "notes.txt").write_text("mine")
    modules = {"a": str(a), "b": str(b)}
    for out, how in ((project, "holds the input"), (a, "is the input"), (a / "sub", "lies inside the input")):
        with pytest.raises(OutputExistsError, match=how):
            compose(out, expression="a - b", modules=modules, overwrite=True)
    assert (project / "notes.txt").read_text() == "mine" and (a / "adapter_model.safetensors").exists()
    assert not (a / "sub").exists()


def test_overwrite_replaces_only_folders_of_its_kind(tmp_path, monkeypatch):
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "paper.txt").write_text("draft")
    with pytest.raises(OutputExistsError, match=r"not a folder langarith wrote \(it holds paper.txt\)"):
        module_folder(notes)
    assert (notes / "paper.txt").read_text() == "draft"
    here = module_folder(tmp_path / "here")
    monkeypatch.chdir(here)
    with pytest.raises(OutputExistsError, match="current directory"):
        module_folder(here)
    monkeypatch.chdir(tmp_path)
    assert module_folder(here, "new") == here and (here / "adapter_config.json").read_text() == "new"
    assert hidden(tmp_path, "here") == []


def test_of_two_writers_exactly_one_wins(tmp_path):
    for attempt in range(5):
        out = tmp_path / f"m{attempt}"
        both_writing = threading.Barrier(2)
        results: list[str] = []

        def write(marker: str, out: Path = out, barrier: threading.Barrier = both_writing,
                  results: list[str] = results) -> None:
            try:
                with atomic_folder(out) as tmp:
                    (tmp / "adapter_config.json").write_text(marker)
                    barrier.wait(timeout=10)  # both are mid-write: neither has published
                results.append(marker)
            except OutputExistsError:
                results.append("exists")

        threads = [threading.Thread(target=write, args=(m,)) for m in ("first", "second")]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        assert sorted(results) in (["exists", "first"], ["exists", "second"])
        winner = next(r for r in results if r != "exists")
        assert (out / "adapter_config.json").read_text() == winner and hidden(tmp_path, out.name) == []


def test_a_live_write_is_not_a_leftover(tmp_path):
    out = tmp_path / "m"
    writing, go_on = threading.Event(), threading.Event()

    def slow_writer() -> None:
        with atomic_folder(out) as tmp:
            (tmp / "adapter_config.json").write_text("slow")
            writing.set()
            go_on.wait(timeout=10)

    thread = threading.Thread(target=slow_writer)
    thread.start()
    assert writing.wait(timeout=10)
    with pytest.raises(OutputExistsError), atomic_folder(out) as tmp:  # another writer of the same place
        (tmp / "adapter_config.json").write_text("fast")
        go_on.set()
        thread.join(timeout=10)  # the slow one publishes first: its folder was not cleaned away as a leftover
    assert (out / "adapter_config.json").read_text() == "slow"


def test_a_replaced_folder_is_swapped_whole(tmp_path):
    out = module_folder(tmp_path / "m", "old")
    assert atomic._exchange(tmp_path / "m", module_folder(tmp_path / "other", "other"))  # this system swaps
    assert (tmp_path / "m" / "adapter_config.json").read_text() == "other"
    module_folder(out, "new")
    assert (out / "adapter_config.json").read_text() == "new" and hidden(tmp_path, "m") == []


def test_where_no_swap_exists_a_killed_replace_is_undone_by_the_next_write(tmp_path):
    out = module_folder(tmp_path / "m", "old")
    script = textwrap.dedent(f"""
        import os, signal
        from pathlib import Path
        from langarith.core import atomic
        atomic._exchange = lambda a, b: False
        rename = os.rename
        def rename_then_die(a, b):
            rename(a, b)
            if ".old-" in str(b):
                os.kill(os.getpid(), signal.SIGKILL)
        atomic.os.rename = rename_then_die
        with atomic.atomic_folder(Path({str(out)!r}), overwrite=True) as tmp:
            (tmp / "adapter_config.json").write_text("new")
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    assert not out.exists() and any(".old-" in n for n in hidden(tmp_path, "m"))  # killed between the renames
    with pytest.raises(OutputExistsError), atomic_folder(out):  # the next write to that place puts it back
        pass
    assert (out / "adapter_config.json").read_text() == "old" and hidden(tmp_path, "m") == []


def test_leftovers_of_killed_writes_go_with_the_next_write(tmp_path):
    out = tmp_path / "m"
    kill_mid_write(out, "x" * 1000)
    time.sleep(0.05)
    assert not out.exists() and len(hidden(tmp_path, "m")) == 1
    module_folder(out)
    assert hidden(tmp_path, "m") == []


def test_an_unwritable_place_or_a_full_disk_is_one_clean_error_and_leaves_nothing(tmp_path):
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(OutputWriteError, match=r"cannot write .*file/out: .*choose a writable --out"):
        module_folder(tmp_path / "file" / "out")
    with (pytest.raises(OutputWriteError, match=r"cannot write .*full: No space left on device"),
          atomic_folder(tmp_path / "full")):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert not (tmp_path / "full").exists() and not hidden(tmp_path, "full")
    with (pytest.raises(OSError, match="bad file descriptor"),  # not a place error: raised as it is
          atomic_folder(tmp_path / "other")):
        raise OSError(errno.EBADF, "bad file descriptor")


def test_a_written_folder_has_the_permissions_of_any_new_folder(tmp_path):
    old = os.umask(0o022)
    try:
        assert (module_folder(tmp_path / "m").stat().st_mode & 0o777) == 0o755
    finally:
        os.umask(old)


def test_a_full_disk_under_a_library_writer_is_one_line_and_leaves_nothing(tmp_path, monkeypatch):
    """safetensors reports a full disk as its own error ("… (os error 28)"), torch.save as a RuntimeError: neither
    is an OSError, and each was a traceback."""
    import safetensors

    def serialize_file(*args, **kwargs):
        raise RuntimeError("Error while serializing: I/O error: No space left on device (os error 28)")

    monkeypatch.setattr(safetensors, "serialize_file", serialize_file)
    with pytest.raises(OutputWriteError) as caught:
        save(synthetic_lora(1).vector.materialize(), tmp_path / "m", provenance={})
    assert "\n" not in str(caught.value) and "m: No space left on device; choose a writable --out" in str(caught.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no folder, no hidden half-written one
    monkeypatch.setattr(atomic.shutil, "disk_usage", lambda path: type("Usage", (), {"free": 4096})())
    with pytest.raises(OutputWriteError, match="No space left"), atomic_folder(tmp_path / "t"):
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 576 vs 534")  # torch.save
    assert hidden(tmp_path, "t") == [] and not (tmp_path / "t").exists()
