"""`evaluate` from Python: a module scored on a task split, as `langarith evaluate` scores it."""

from __future__ import annotations

import json

import pytest
from conftest import write_sib

import langarith
from langarith.core.errors import OutputExistsError


def test_evaluate_a_module_from_python_and_write_its_predictions(tmp_path, isolated_cache):
    from langarith.training import TrainSpec, train

    data = write_sib(write_sib(tmp_path / "sib", "en", n=4), "pt", n=4)
    module = train(TrainSpec(role="task", language="en", out=tmp_path / "task_en", model="tiny", steps=2,
                             batch_size=2, seq_len=16, progress=False, task="sib200", data=data)).path
    result = langarith.evaluate(module, task="sib200", lang="pt", data=data, split="dev", model="tiny",
                                predictions=tmp_path / "p.jsonl", progress=False)
    assert result.n == 4 and result.scores.primary == "accuracy"
    written = [json.loads(line) for line in (tmp_path / "p.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [w["prediction"] for w in written] == result.predictions
    assert [w["target"] for w in written] == ["sports", "health", "science", "sports"]
    base = langarith.evaluate(task="sib200", lang="pt", data=data, split="dev", model="tiny", progress=False)
    assert base.n == 4  # no module: the base model
    hub_word = langarith.evaluate(module, task="sib200", lang="pt", data=data, split="validation", model="tiny",
                                  progress=False)
    assert hub_word.predictions == result.predictions  # the hub's `validation` is dev
    with pytest.raises(OutputExistsError, match="is a folder"):
        langarith.evaluate(module, task="sib200", lang="pt", data=data, model="tiny", predictions=tmp_path)
    with pytest.raises(OutputExistsError, match="already exists; pass --overwrite"):  # before anything is scored
        langarith.evaluate(module, task="sib200", lang="pt", data=data, model="tiny", predictions=tmp_path / "p.jsonl")
