"""A module saved from Python records what `compose` (the CLI's library function) records."""

from __future__ import annotations

import json

import pytest

import langarith
from langarith.core.errors import SemanticsError


def provenance(folder):
    found = json.loads((folder / "langarith.json").read_text(encoding="utf-8"))["provenance"]
    return {k: v for k, v in found.items() if k not in ("created", "expression")}


def test_save_from_python_records_what_compose_records(make_peft, tmp_path):
    a, b = make_peft("a", seed=1), make_peft("b", seed=2)
    langarith.compose(tmp_path / "cli", expression="0.7*a + 0.3*b", modules={"a": a, "b": b})
    vector = 0.7 * langarith.load(a, name="a") + 0.3 * langarith.load(b, name="b")
    langarith.save(vector.materialize("factor"), tmp_path / "api")
    assert provenance(tmp_path / "api") == provenance(tmp_path / "cli")
    assert provenance(tmp_path / "api")["inputs"][0]["sha256"]  # each input named by its content


def test_a_composition_is_refused_by_save_with_what_to_do(make_peft, tmp_path):
    a = langarith.load(make_peft("a"), name="a")
    with pytest.raises(SemanticsError, match=r"materialize\('factor'\)"):
        langarith.save(a + a, tmp_path / "out")
    assert not (tmp_path / "out").exists()
