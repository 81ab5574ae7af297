"""The optimizer's knobs (warm-up, schedule, clipping, gradient accumulation) and the scalar log, on the tiny
decoder: the curves they give, a step of 4 × 2 trained as one of 8, resume still bitwise, defaults unchanged."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path
from typing import ClassVar

import pytest
import torch
from safetensors.torch import load_file

from langarith.training import TrainError, TrainSpec, train
from langarith.training import knobs as knobs_module

HAS_TENSORBOARD = importlib.util.find_spec("tensorboard") is not None


def spec(tiny_models, tmp_path, name="m", **kw) -> TrainSpec:
    base = dict(role="language", language="pt", text=["tatoeba:pt"], model=str(tiny_models["decoder"]),
                out=tmp_path / name, steps=6, lr=2e-2, batch_size=2, seq_len=16, checkpoint_every=0, progress=False)
    return TrainSpec(**{**base, **kw})


def weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(folder / "adapter_model.safetensors")


def manifest(folder: Path) -> dict:
    return json.loads((folder / "langarith.json").read_text())


def test_the_defaults_train_as_a_plain_adamw_loop(tiny_models, tmp_path, monkeypatch):
    """Constant, no warm-up, no clipping, one micro-batch: the same weights as with no schedule at all (the
    loop as it was before the knobs), and the manifest names every knob."""
    assert (TrainSpec.warmup, TrainSpec.schedule, TrainSpec.clip, TrainSpec.grad_accum) == (0, "constant", None, 1)

    def never(*args, **kwargs):
        raise AssertionError("nothing is clipped by default")

    class NoSchedule:
        def __init__(self, *args):
            pass

        def step(self):
            pass

    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", never)
    made = train(spec(tiny_models, tmp_path, "default", steps=4))
    monkeypatch.setattr(knobs_module, "scheduler", NoSchedule)
    plain = train(spec(tiny_models, tmp_path, "plain", steps=4))
    a, b = weights(made.path), weights(plain.path)
    assert all(torch.equal(a[k], b[k]) for k in a) and made.manifest["loss_curve"] == plain.manifest["loss_curve"]
    m = made.manifest
    assert (m["schedule"], m["warmup"], m["warmup_steps"], m["clip"], m["grad_accum"], m["log_to"]) == \
        ("constant", 0, 0, None, 1, None)
    assert "lr_curve" not in m  # the rate never changed


COSINE = [0.5 * (1 + math.cos(math.pi * (s - 2) / 4)) for s in range(2, 6)]


@pytest.mark.parametrize(("schedule", "warmup", "factors"), [
    ("linear", 2, [0, 0.5, 1, 0.75, 0.5, 0.25]),
    ("cosine", 2, [0, 0.5, *COSINE]),
    ("constant", 0.5, [0, 1 / 3, 2 / 3, 1, 1, 1]),  # a fraction of the run: half of its 6 steps
])
def test_schedules_give_the_expected_learning_rate_curves(tiny_models, tmp_path, schedule, warmup, factors):
    m = train(spec(tiny_models, tmp_path, schedule=schedule, warmup=warmup)).manifest
    assert m["schedule"] == schedule and m["warmup_steps"] == (3 if warmup == 0.5 else 2)
    assert m["lr_curve"] == pytest.approx([2e-2 * f for f in factors], abs=1e-12)


def test_accumulated_micro_batches_train_as_one_larger_batch(tiny_models, tmp_path):
    """4 × 2 micro-batches are the halves of the 8-row batch: the same losses and weights, to float rounding."""
    big = train(spec(tiny_models, tmp_path, "big", steps=4, batch_size=8))
    small = train(spec(tiny_models, tmp_path, "small", steps=4, batch_size=4, grad_accum=2))
    assert small.manifest["tokens"] == big.manifest["tokens"] == 4 * 8 * 16 and small.manifest["grad_accum"] == 2
    assert small.manifest["loss_curve"] == pytest.approx(big.manifest["loss_curve"], rel=1e-5)
    a, b = weights(big.path), weights(small.path)
    assert a.keys() == b.keys() and any(a[k].abs().sum() > 0 for k in a)
    for k in a:
        torch.testing.assert_close(b[k], a[k], rtol=1e-4, atol=1e-6)


def test_a_token_budget_counts_the_accumulated_batch(tiny_models, tmp_path):
    m = train(spec(tiny_models, tmp_path, steps=None, tokens=4 * 2 * 2 * 16, grad_accum=2)).manifest
    assert m["steps"] == 4 and m["tokens"] == 4 * 2 * 2 * 16


def test_a_resumed_run_with_every_knob_matches_an_uninterrupted_one(tiny_models, tmp_path, monkeypatch):
    from langarith.core import timing

    knobs = {"warmup": 2, "schedule": "cosine", "clip": 0.5, "grad_accum": 2}
    full = train(spec(tiny_models, tmp_path, "full", **knobs))
    asked = []
    real_left = timing.left
    monkeypatch.setattr(timing, "left", lambda: asked.append(None) or (-1.0 if len(asked) > 5 else 60.0))
    with pytest.raises(timing.DeadlineReached, match="stopped at step 4 of 6"):
        train(spec(tiny_models, tmp_path, "cut", **knobs))
    monkeypatch.setattr(timing, "left", real_left)
    with pytest.raises(TrainError, match=r"made by another run \(schedule 'cosine' → 'linear'\)"):
        train(spec(tiny_models, tmp_path, "cut", resume=True, **{**knobs, "schedule": "linear"}))
    with pytest.raises(TrainError, match=r"made by another run \(steps 6 → 8\)"):  # a decay is drawn over the run
        train(spec(tiny_models, tmp_path, "cut", resume=True, **{**knobs, "steps": 8}))
    resumed = train(spec(tiny_models, tmp_path, "cut", resume=True, **knobs))
    a, b = weights(full.path), weights(resumed.path)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert resumed.manifest["resumed_at_steps"] == [4]
    for key in ("loss_curve", "lr_curve", "warmup_steps", "clip", "grad_accum", "schedule"):
        assert resumed.manifest[key] == full.manifest[key], key


def test_clipping_bounds_the_gradient_norm_and_changes_the_run(tiny_models, tmp_path):
    from accelerate import Accelerator

    param = torch.nn.Parameter(torch.zeros(4))
    param.grad = torch.tensor([3.0, 4.0, 0.0, 0.0])
    accelerator = Accelerator(cpu=True)
    assert knobs_module.clip_or_measure(accelerator, [param], None, measure=False) is None
    assert float(knobs_module.clip_or_measure(accelerator, [param], None, measure=True)) == 5.0
    assert torch.equal(param.grad, torch.tensor([3.0, 4.0, 0.0, 0.0]))  # measured, untouched
    assert float(knobs_module.clip_or_measure(accelerator, [param], 1.0, measure=False)) == 5.0
    assert float(param.grad.norm()) == pytest.approx(1.0)
    # Adam undoes a uniform scale, but not one that takes the gradients below its epsilon
    clipped = train(spec(tiny_models, tmp_path, "clipped", steps=3, clip=1e-12))
    free = train(spec(tiny_models, tmp_path, "free", steps=3))
    a, b = weights(clipped.path), weights(free.path)
    assert clipped.manifest["clip"] == 1e-12 and not all(torch.equal(a[k], b[k]) for k in a)
    assert "clipped to norm 1e-12" in (clipped.path / "README.md").read_text()


@pytest.mark.parametrize(("change", "message"), [
    ({"schedule": "step"}, "--schedule must be one of constant, linear, cosine"),
    ({"grad_accum": 0}, "--grad-accum must be at least 1"),
    ({"clip": 0.0}, "--clip must be a positive gradient norm"),
    ({"warmup": 2.5}, "--warmup is a whole number of steps or a fraction below 1"),
    ({"warmup": 7}, r"--warmup 7 is longer than the run \(6 steps\)"),
    ({"log_to": "wandb"}, "--log-to must be one of tensorboard"),
])
def test_knobs_that_cannot_train_are_one_line_errors(tiny_models, tmp_path, change, message):
    with pytest.raises(TrainError, match=message):
        train(spec(tiny_models, tmp_path, **change))
    assert not (tmp_path / "m").exists()


class FakeWriter:
    """SummaryWriter's calls, as tensorboard would receive them (and a file in its folder, as it writes one)."""

    made: ClassVar[list[FakeWriter]] = []

    def __init__(self, log_dir: str, purge_step: int | None = None):
        self.log_dir, self.purge_step, self.scalars, self.closed = Path(log_dir), purge_step, [], False
        self.log_dir.mkdir(parents=True, exist_ok=True)
        (self.log_dir / "events.out.tfevents.fake").write_text("events")
        FakeWriter.made.append(self)

    def add_scalar(self, tag: str, value: float, step: int) -> None:
        self.scalars.append((tag, step, value))

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True


def test_the_scalar_log_holds_loss_lr_and_grad_norm_per_step_and_lands_in_the_module(tiny_models, tmp_path,
                                                                                     monkeypatch):
    FakeWriter.made = []
    monkeypatch.setattr(knobs_module, "summary_writer", lambda: FakeWriter)
    made = train(spec(tiny_models, tmp_path, steps=3, warmup=1, log_to="tensorboard"))
    writer = FakeWriter.made[0]
    assert writer.closed and writer.purge_step is None
    assert [(tag, step) for tag, step, _ in writer.scalars] == [
        (tag, step) for step in (1, 2, 3) for tag in ("train/loss", "train/lr", "train/grad_norm")]
    values = {(tag, step): value for tag, step, value in writer.scalars}
    assert [values["train/loss", s] for s in (1, 2, 3)] == made.manifest["loss_curve"]
    assert [values["train/lr", s] for s in (1, 2, 3)] == made.manifest["lr_curve"] == [0.0, 2e-2, 2e-2]
    assert all(values["train/grad_norm", s] > 0 for s in (1, 2, 3))
    assert (made.path / "logs" / "events.out.tfevents.fake").exists() and not (tmp_path / "m.logs").exists()
    assert made.manifest["log_to"] == "tensorboard" and made.manifest["log_dir"] == "logs"
    elsewhere = train(spec(tiny_models, tmp_path, "n", steps=2, log_to="tensorboard", log_dir=tmp_path / "tb"))
    assert (tmp_path / "tb" / "events.out.tfevents.fake").exists() and not (elsewhere.path / "logs").exists()


@pytest.mark.skipif(HAS_TENSORBOARD, reason="tensorboard is installed: the positive test runs instead")
def test_logging_to_tensorboard_without_it_says_what_to_install(tiny_models, tmp_path):
    with pytest.raises(TrainError, match=r"needs the tensorboard package: pip install tensorboard"):
        train(spec(tiny_models, tmp_path, log_to="tensorboard"))
    assert not (tmp_path / "m").exists() and not (tmp_path / "m.logs").exists()


@pytest.mark.skipif(not HAS_TENSORBOARD, reason="tensorboard is not installed (pip install tensorboard)")
def test_tensorboard_reads_the_scalars_back(tiny_models, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    made = train(spec(tiny_models, tmp_path, steps=3, log_to="tensorboard"))
    events = EventAccumulator(str(made.path / "logs"))
    events.Reload()
    assert [e.step for e in events.Scalars("train/loss")] == [1, 2, 3]
    assert [e.value for e in events.Scalars("train/loss")] == pytest.approx(made.manifest["loss_curve"])
    assert {"train/lr", "train/grad_norm"} <= set(events.Tags()["scalars"])
