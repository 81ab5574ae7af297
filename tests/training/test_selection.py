"""Checkpoint selection on validation (`--eval-every N --keep best`) and task budgets in epochs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from conftest import write_sib
from safetensors.torch import load_file

from langarith.core import timing
from langarith.training import TrainError, TrainSpec, selection, train

TEXT = ["tatoeba:pt"]


def language(tiny_models, tmp_path, name, family="decoder", **kw) -> TrainSpec:
    base = dict(role="language", language="pt", text=TEXT, model=str(tiny_models[family]), out=tmp_path / name,
                steps=8, lr=2e-2, batch_size=4, seq_len=32, progress=False)
    return TrainSpec(**{**base, **kw})


def task(tiny_models, data, out, family="decoder", **kw) -> TrainSpec:
    base = dict(role="task", language="en", task="sib200", data=data, model=str(tiny_models[family]), out=out,
                lr=2e-2, batch_size=4, progress=False)
    encoder = {"method": "bottleneck", "lr": 1e-2} if family == "encoder" else {}
    return TrainSpec(**{**base, **encoder, **kw})


def manifest(folder: Path) -> dict:
    return json.loads((folder / "langarith.json").read_text())


def weights(folder: Path) -> dict[str, torch.Tensor]:
    """Every tensor the module folder holds (PEFT's safetensors; AdapterHub's adapter and head files)."""
    found = {}
    for path in sorted([*folder.glob("*.safetensors"), *folder.glob("*.bin")]):
        tensors = load_file(path) if path.suffix == ".safetensors" else torch.load(path, weights_only=True)
        found.update({f"{path.name}:{k}": v for k, v in tensors.items()})
    assert found
    return found


def same(a: Path, b: Path) -> bool:
    x, y = weights(a), weights(b)
    return x.keys() == y.keys() and all(torch.equal(x[k], y[k]) for k in x)


def by_hand(monkeypatch, scores: list) -> None:
    """Held-out scores made up, one per call; a `timing.DeadlineReached` in the list is raised instead."""
    made_up = iter(scores)

    def score(_model) -> float:
        value = next(made_up)
        if isinstance(value, Exception):
            raise value
        return value

    monkeypatch.setattr(selection, "_heldout", lambda run: selection.Selection(
        run.spec.eval_every, run.spec.keep, "heldout_loss", True, score))


def test_keep_best_saves_the_best_steps_weights_and_records_the_curve(tiny_models, tmp_path, monkeypatch):
    """The scores are made up (the held-out loss of a tiny model falls every step) so that the best is mid-run:
    the module saved is bitwise the one a run of that many steps saves."""
    by_hand(monkeypatch, [3.0, 1.0, 2.0, 1.0])  # steps 2, 4, 6, 8: the first of two equal bests is kept
    best = train(language(tiny_models, tmp_path, "best", eval_every=2, keep="best")).path
    m = manifest(best)["selection"]
    assert m == {"metric": "heldout_loss", "every": 2, "keep": "best", "best_step": 4, "best_value": 1.0,
                 "curve": [[2, 3.0], [4, 1.0], [6, 2.0], [8, 1.0]]}
    assert manifest(best)["steps"] == 8 and "best 1.0000 at step 4" in (best / "README.md").read_text()
    monkeypatch.undo()
    four = train(language(tiny_models, tmp_path, "four", steps=4)).path
    eight = train(language(tiny_models, tmp_path, "eight")).path
    assert same(best, four) and not same(best, eight)


def test_held_out_scores_leave_training_as_it_was(tiny_models, tmp_path):
    """An encoder's masked LM (dropout on, masks drawn each step): scoring every other step changes no weight, and
    the last score is the held-out loss `after` that the manifest records."""
    plain = train(language(tiny_models, tmp_path, "plain", family="encoder", steps=5, lr=5e-3, method="lora")).path
    scored = train(language(tiny_models, tmp_path, "scored", family="encoder", steps=5, lr=5e-3, method="lora",
                            eval_every=2)).path
    assert same(plain, scored) and "selection" not in manifest(plain)
    m = manifest(scored)
    assert [s for s, _ in m["selection"]["curve"]] == [2, 4, 5]  # and the last step
    assert m["selection"]["keep"] == "last" and m["selection"]["curve"][-1][1] == m["heldout_loss"]["after"]


def test_task_epochs_and_the_dev_metric_of_the_attached_module(tiny_models, tmp_path):
    """Two epochs of 12 examples in steps of 4 are 6 steps; the dev accuracy scored in memory is what
    `langarith evaluate` gives the saved module; the best step's run is what keep best saved."""
    from langarith.evaluation import merged_evaluator

    data = write_sib(tmp_path / "sib")
    last = train(task(tiny_models, data, tmp_path / "last", epochs=2, eval_every=2)).path
    m = manifest(last)
    assert m["steps"] == 6 and m["epochs"] == 2 and m["selection"]["metric"] == "dev_accuracy"
    curve = m["selection"]["curve"]
    assert [s for s, _ in curve] == [2, 4, 6] and all(0 <= v <= 100 for _, v in curve)  # percent
    saved = merged_evaluator(str(tiny_models["decoder"]), progress=False).evaluate(last, "sib200", data, "en", "dev")
    assert saved.value == curve[-1][1]
    best = train(task(tiny_models, data, tmp_path / "best", epochs=2, eval_every=2, keep="best")).path
    chosen = manifest(best)["selection"]
    assert chosen["curve"] == curve and chosen["best_value"] == max(v for _, v in curve)
    assert chosen["best_step"] == next(s for s, v in curve if v == chosen["best_value"])
    again = train(task(tiny_models, data, tmp_path / "again", steps=chosen["best_step"])).path
    assert same(best, again)


def test_bf16_runs_are_scored_under_autocast_with_the_frozen_bf16_weights(tiny_models, tmp_path):
    data = write_sib(tmp_path / "sib")
    m = manifest(train(task(tiny_models, data, tmp_path / "t", steps=2, eval_every=1, precision="bf16")).path)
    assert m["precision"] == "bf16" and [s for s, _ in m["selection"]["curve"]] == [1, 2]


def test_madx_task_adapter_kept_at_its_best_dev_step(tiny_models, tmp_path):
    """An encoder's task adapter and head (dropout on) over a frozen language adapter, scored by its head on the
    first dev rows (dev_limit) with the stack left as it trains."""
    from adapters.composition import Stack

    from langarith.evaluation import MadxEvaluator
    from langarith.methods.bottleneck import LANG, NAME

    data = write_sib(tmp_path / "sib")
    lang = train(language(tiny_models, tmp_path, "lang_en", family="encoder", method="bottleneck", steps=2,
                          language="en")).path
    made = train(task(tiny_models, data, tmp_path / "best", family="encoder", steps=6, eval_every=3, keep="best",
                      dev_limit=6, lang_module=lang))
    chosen = manifest(made.path)["selection"]
    assert [s for s, _ in chosen["curve"]] == [3, 6] and str(made.model.active_adapters) == str(Stack(LANG, NAME))
    assert all(round(v * 6 / 100, 9) in range(7) for _, v in chosen["curve"])  # accuracy (%) on 6 rows
    saved = MadxEvaluator(str(tiny_models["encoder"]), made.path, progress=False)
    assert saved.evaluate(lang, "sib200", data, "en", "dev", limit=6).value == chosen["best_value"]
    again = train(task(tiny_models, data, tmp_path / "again", family="encoder", steps=chosen["best_step"],
                       lang_module=lang)).path
    assert same(made.path, again)


def test_a_deadline_while_scoring_leaves_a_checkpoint_that_still_knows_the_best(tiny_models, tmp_path,
                                                                              monkeypatch):
    """The best is step 2; the deadline passes while step 4 is scored: the checkpoint carries step 2's tensors,
    and the rerun scores step 4 and saves what the uninterrupted run saves."""
    by_hand(monkeypatch, [1.0, 3.0, 2.0])
    full = train(language(tiny_models, tmp_path, "full", steps=6, eval_every=2, keep="best")).path
    by_hand(monkeypatch, [1.0, timing.DeadlineReached("the deadline passed while scoring"), 3.0, 2.0])
    cut = language(tiny_models, tmp_path, "cut", steps=6, eval_every=2, keep="best", checkpoint_every=0)
    with pytest.raises(timing.DeadlineReached):
        train(cut)
    assert (tmp_path / "cut.ckpt" / "checkpoint.pt").exists() and not cut.out.exists()
    cut.resume = True
    train(cut)
    assert same(full, cut.out) and manifest(cut.out)["selection"] == manifest(full)["selection"]
    assert manifest(cut.out)["selection"]["best_step"] == 2 and manifest(cut.out)["resumed_at_steps"] == [4]


@pytest.mark.parametrize(("change", "message"), [
    ({"epochs": 2, "steps": 4}, "--epochs or --steps, not both"),
    ({"keep": "best"}, "give --eval-every"),
    ({"keep": "first", "eval_every": 2}, "--keep must be one of last, best"),
    ({"eval_every": -1}, "--eval-every must be"),
    ({"epochs": 0, "steps": None}, "--epochs must be a positive"),
    ({"eval_every": 2, "rouge_tokenizer": "google/mt5-small"}, r"--rouge-tokenizer .* \(headline, xlsum\); got it "
                                                               "for sib200"),
])
def test_what_cannot_select_is_a_one_line_error(tiny_models, tmp_path, change, message):
    with pytest.raises(TrainError, match=message):
        train(task(tiny_models, tmp_path / "nowhere", tmp_path / "x", **change))
    assert not (tmp_path / "x").exists()


def test_language_modules_take_no_epochs_and_validation_needs_a_dev_split(tiny_models, tmp_path):
    with pytest.raises(TrainError, match="language modules take --steps or --tokens"):
        train(language(tiny_models, tmp_path, "x", steps=None, epochs=1))
    with pytest.raises(TrainError, match="--dev-limit"):
        train(language(tiny_models, tmp_path, "x", eval_every=2, dev_limit=4))
    data = write_sib(tmp_path / "sib")
    (data / "eng_Latn" / "dev.tsv").unlink()
    with pytest.raises(TrainError, match="dev split is missing"):
        train(task(tiny_models, data, tmp_path / "x", steps=2, eval_every=1))
    with pytest.raises(TrainError, match="one split file"):
        train(task(tiny_models, data / "eng_Latn" / "train.tsv", tmp_path / "x", steps=2, eval_every=1))
    with pytest.raises(TrainError, match="--split dev"):
        train(task(tiny_models, write_sib(tmp_path / "sib2"), tmp_path / "x", steps=2, eval_every=1, split="dev"))
