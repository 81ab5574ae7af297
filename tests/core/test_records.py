"""The run record every record carries: version, commit, date, command line or call, working folder, and each
input by absolute path and content."""

from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from langarith import __version__
from langarith.core import devices
from langarith.core.records import RECORD_KEYS, command_line, content_sha256, run_record


def test_a_record_names_the_run_and_each_input_absolute_with_its_content(tmp_path, monkeypatch, isolated_cache):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["pytest"])
    Path("pt.txt").write_text("uma frase\n", encoding="utf-8")
    Path("module").mkdir()
    (tmp_path / "module" / "weights.bin").write_bytes(b"w")
    found = run_record({"text": "pt.txt", "module": Path("module"), "hub": "hf:Davlan/sib200", "none": None,
                        "mine": "module"}, known={"mine": "ab" * 32})
    assert tuple(found) == RECORD_KEYS and found["langarith_version"] == __version__
    assert found["commit"] == devices.source_commit() and found["cwd"] == str(tmp_path)
    assert datetime.fromisoformat(found["date"]).tzinfo == timezone.utc
    assert found["inputs"] == [
        {"name": "text", "path": str(tmp_path / "pt.txt"), "sha256": hashlib.sha256(b"uma frase\n").hexdigest()},
        {"name": "module", "path": str(tmp_path / "module"), "sha256": content_sha256(tmp_path / "module")},
        {"name": "hub", "path": "hf:Davlan/sib200", "sha256": None},  # not here: named, not hashed
        {"name": "none", "path": None, "sha256": None},
        {"name": "mine", "path": str(tmp_path / "module"), "sha256": "ab" * 32}]  # the caller's own hash


def test_called_from_python_the_record_names_the_call_and_its_plain_arguments(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["pytest", "-q"])
    found = run_record({"a": Path("x")}, date=datetime(2020, 1, 1, tzinfo=timezone.utc))
    assert found["command"] is None and found["date"] == "2020-01-01T00:00:00+00:00"
    assert found["call"] == {"function": "langarith.core.records.run_record",  # langarith's outermost frame
                             "arguments": {"inputs": {"a": "x"}, "known": None}}  # a datetime is no plain value


def test_the_command_line_is_langariths_own_or_none(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["/venv/bin/langarith", "compose", "0.5*a + b", "--out", "o"])
    assert command_line() == "langarith compose '0.5*a + b' --out o" and run_record()["call"] is None
    monkeypatch.setattr(sys, "argv", ["/src/langarith/__main__.py", "inspect", "m"])
    assert command_line() == "python -m langarith inspect m"
    monkeypatch.setattr(sys, "argv", ["script.py"])
    assert command_line() is None


def test_a_folder_is_hashed_by_its_files_names_and_contents(tmp_path, isolated_cache):
    (tmp_path / "a" / "sub").mkdir(parents=True)
    (tmp_path / "a" / "sub" / "x.tsv").write_text("1\n")
    first = content_sha256(tmp_path / "a")
    (tmp_path / "a" / "sub" / "x.tsv").write_text("22\n")  # another size: no cached hash is reused
    second = content_sha256(tmp_path / "a")
    (tmp_path / "a" / "sub" / "x.tsv").rename(tmp_path / "a" / "sub" / "y.tsv")
    assert len({first, second, content_sha256(tmp_path / "a")}) == 3


def test_a_spec_is_recorded_field_by_field():
    from langarith.core.records import _plain

    @dataclass
    class Spec:
        out: Path
        steps: int
        text: list[str]

    assert _plain(Spec(Path("o"), 3, ["tatoeba:pt"])) == {"out": "o", "steps": 3, "text": ["tatoeba:pt"]}
