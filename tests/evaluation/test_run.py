"""`evaluate` from Python: a module scored on a task split, as `langarith evaluate` scores it."""

from __future__ import annotations

import json

import pytest
from conftest import write_sib

import langarith
from langarith.core.errors import OutputExistsError
from langarith.evaluation.base import EvaluationError


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


def test_a_batch_size_below_one_or_a_module_of_another_task_is_refused_before_any_model_loads(tmp_path,
                                                                                               monkeypatch):
    from conftest import synthetic_lora

    import langarith.evaluation as evaluation
    from langarith.arith.formats import save
    from langarith.evaluation.choose import search_lambda

    monkeypatch.setattr(evaluation, "merged_evaluator", lambda *a, **k: pytest.fail("a model was loaded"))
    data = write_sib(tmp_path / "sib", "pt", n=4)
    for size in (0, -3):  # 0: range() with step 0 (a traceback); -3: slices that skip every row (accuracy 0)
        with pytest.raises(EvaluationError, match=f"--batch-size {size}: .*at least 1"):
            langarith.evaluate(task="sib200", lang="pt", data=data, split="dev", model="tiny", batch_size=size)
        with pytest.raises(EvaluationError, match=f"--batch-size {size}"):
            search_lambda("add", target="pt", task="sib200", dev=data, batch_size=size)
    module = save(synthetic_lora(1).vector.materialize(), tmp_path / "task_en", provenance={},
                  manifest={"role": "task", "task": "sib200"})
    with pytest.raises(EvaluationError, match=r"trained on sib200 .*not on xnli; evaluate it with --task sib200"):
        langarith.evaluate(module, task="xnli", lang="pt", data=data, model="tiny")
