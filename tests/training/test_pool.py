"""Independent trainings at once (`langarith.training.pool`): waves respect what trains on what, pooled
trainings make the modules serial ones make, and a failure or the deadline reaches the caller."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from safetensors.torch import load_file

from langarith.core import timing
from langarith.training import TrainSpec, train
from langarith.training.pool import PoolError, deadline_at, gpu_slots, log_file, train_all, waves


def spec(tiny_models, out: Path, seed: int, **changes) -> TrainSpec:
    return TrainSpec(**{"role": "language", "language": "pt", "text": ["tatoeba:pt"], "out": out,
                        "model": str(tiny_models["decoder"]), "steps": 3, "batch_size": 2, "seq_len": 16,
                        "seed": seed, "progress": False, "checkpoint_every": 0, **changes})


def weights(folder: Path) -> dict:
    return load_file(str(next(folder.glob("*.safetensors"))))


def test_a_module_trained_on_another_waits_for_it(tmp_path):
    lang = TrainSpec(role="language", language="en", out=tmp_path / "lang")
    other = TrainSpec(role="language", language="pt", out=tmp_path / "other")
    task = TrainSpec(role="task", language="en", out=tmp_path / "task", lang_module=tmp_path / "lang")
    elsewhere = TrainSpec(role="task", language="pt", out=tmp_path / "t2", lang_module=tmp_path / "trained-before")
    assert [[s.out.name for s in wave] for wave in waves([task, lang, other, elsewhere])] == \
        [["lang", "other", "t2"], ["task"]]


def test_workers_spread_over_the_gpus_round_robin():
    assert gpu_slots(5, 2) == [0, 1, 0, 1, 0]
    assert gpu_slots(2, 0) == [None, None]


def test_pooled_trainings_make_the_modules_serial_ones_make(tmp_path, tiny_models, isolated_cache):
    serial = [train(spec(tiny_models, tmp_path / f"serial{s}", s)).path for s in (0, 1)]
    pooled = train_all([spec(tiny_models, tmp_path / f"pooled{s}", s) for s in (0, 1)], workers=2)
    assert pooled == [tmp_path / "pooled0", tmp_path / "pooled1"]
    for a, b in zip(serial, pooled, strict=True):
        wa, wb = weights(a), weights(b)
        assert wa.keys() == wb.keys() and all((wa[k] == wb[k]).all() for k in wa)
    assert log_file(pooled[0]).exists()  # the worker's messages, not interleaved with the others'


def test_submitit_local_backend_trains_the_same_module(tmp_path, tiny_models, isolated_cache):
    pytest.importorskip("submitit")
    serial = train(spec(tiny_models, tmp_path / "serial", 3)).path
    [made] = train_all([spec(tiny_models, tmp_path / "job", 3)], workers=1, executor="submitit",
                       executor_options={"cluster": "local", "timeout_min": 5})
    wa, wb = weights(serial), weights(made)
    assert all((wa[k] == wb[k]).all() for k in wa)


def test_a_failed_training_raises_its_own_error_in_the_caller(tmp_path, tiny_models, isolated_cache):
    from langarith.languages.corpora import CorpusError

    with pytest.raises(CorpusError, match=r"nowhere\.txt"):
        train_all([spec(tiny_models, tmp_path / "ok", 0),
                   spec(tiny_models, tmp_path / "bad", 1, text=[str(tmp_path / "nowhere.txt")])], workers=2)


def test_the_deadline_holds_in_the_workers(tmp_path, tiny_models, isolated_cache, monkeypatch):
    monkeypatch.setattr(timing, "left", lambda: 100.0)  # a training queued behind others keeps the caller's end
    assert abs(deadline_at() - (time.time() + 100.0)) < 1.0
    monkeypatch.setattr(timing, "left", lambda: -1.0)  # passed before the first step
    with pytest.raises(timing.DeadlineReached):
        train_all([spec(tiny_models, tmp_path / "late", 0, checkpoint_every=1)], workers=2)
    assert not (tmp_path / "late" / "langarith.json").exists()


def test_unknown_executors_are_named(tmp_path):
    with pytest.raises(PoolError, match="processes, submitit"):
        train_all([TrainSpec(role="language", language="en", out=tmp_path / "x")], workers=1, executor="ray")
