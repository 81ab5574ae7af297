"""A module saved from Python records what `compose` (the CLI's library function) records, and what the CLI
records: everything but how it was asked for (the command line, or the call)."""

from __future__ import annotations

import json
import sys

import pytest
from typer.testing import CliRunner

import langarith
from langarith.cli import app
from langarith.core.errors import SemanticsError
from langarith.core.records import RECORD_KEYS

#: what differs between two ways of making the same module: when, and how it was asked for
ASKED = ("created", "date", "expression", "command", "call")


def provenance(folder):
    return json.loads((folder / "langarith.json").read_text(encoding="utf-8"))["provenance"]


def made(folder):
    return {k: v for k, v in provenance(folder).items() if k not in ASKED}


def test_save_from_python_records_what_compose_records(make_peft, tmp_path):
    a, b = make_peft("a", seed=1), make_peft("b", seed=2)
    langarith.compose(tmp_path / "cli", expression="0.7*a + 0.3*b", modules={"a": a, "b": b})
    vector = 0.7 * langarith.load(a, name="a") + 0.3 * langarith.load(b, name="b")
    langarith.save(vector.materialize("factor"), tmp_path / "api")
    assert made(tmp_path / "api") == made(tmp_path / "cli")
    assert made(tmp_path / "api")["inputs"][0]["sha256"]  # each input named by its content
    assert provenance(tmp_path / "api")["call"]["function"].endswith("ModuleVector.materialize")


def test_compose_on_the_command_line_and_from_python_record_the_same(make_peft, tmp_path, monkeypatch):
    a, b = make_peft("a", seed=1), make_peft("b", seed=2)
    args = ["compose", "0.5*a + 0.5*b", "--module", f"a={a}", "--module", f"b={b}", "--out", str(tmp_path / "cli")]
    monkeypatch.setattr(sys, "argv", ["/venv/bin/langarith", *args])
    assert CliRunner().invoke(app, args).exit_code == 0
    monkeypatch.setattr(sys, "argv", ["pytest"])
    langarith.compose(tmp_path / "api", expression="0.5*a + 0.5*b", modules={"a": a, "b": b})
    cli, api = provenance(tmp_path / "cli"), provenance(tmp_path / "api")
    assert set(cli) == set(api) and set(RECORD_KEYS) <= set(cli)
    assert made(tmp_path / "cli") == made(tmp_path / "api")
    assert cli["command"].startswith("langarith compose '0.5*a + 0.5*b' --module") and cli["call"] is None
    assert api["command"] is None and api["call"]["function"] == "langarith.arith.compose.compose"
    assert api["call"]["arguments"]["modules"] == {"a": str(a), "b": str(b)}
    assert api["call"]["arguments"]["expression"] == "0.5*a + 0.5*b"


def test_relative_inputs_are_recorded_absolute_with_the_working_folder(make_peft, tmp_path, monkeypatch):
    make_peft("a", seed=1), make_peft("b", seed=2)
    monkeypatch.chdir(tmp_path)
    langarith.compose("out", expression="a - b", modules={"a": "a", "b": "./b"})
    found = provenance(tmp_path / "out")
    assert [i["path"] for i in found["inputs"]] == [str(tmp_path / "a"), str(tmp_path / "b")]
    assert found["cwd"] == str(tmp_path)


def test_a_composition_is_refused_by_save_with_what_to_do(make_peft, tmp_path):
    a = langarith.load(make_peft("a"), name="a")
    with pytest.raises(SemanticsError, match=r"materialize\('factor'\)"):
        langarith.save(a + a, tmp_path / "out")
    assert not (tmp_path / "out").exists()
