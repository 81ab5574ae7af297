"""Paper 2's tasks (XNLI, WikiANN) and paper 1's TyDi QA train for two steps and evaluate, on the tiny decoder
(a LoRA, prompted) and the tiny encoder (a MAD-X task adapter with its AdapterHub head), from small copies of the
shared files laid out as they are."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import SHARED

from langarith.evaluation import DecoderEvaluator, MadxEvaluator
from langarith.training import TrainSpec, train

pytestmark = pytest.mark.skipif(not all((SHARED / d).exists() for d in ("xnli", "wikiann", "tydiqa")),
                                reason="needs the shared XNLI, WikiANN and TyDi QA data")


def head_lines(src: Path, dst: Path, n: int, blank_separated: bool = False) -> None:
    """The first `n` rows (or blank-separated sentences) of a shared file."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    text = src.read_text(encoding="utf-8")
    kept = text.split("\n\n")[:n] if blank_separated else text.splitlines(keepends=True)[: n + 1]
    dst.write_text("\n\n".join(kept) + "\n" if blank_separated else "".join(kept), encoding="utf-8")


def small_copy(task: str, root: Path) -> Path:
    if task == "xnli":
        for split in ("train", "dev"):
            head_lines(SHARED / "xnli" / "en" / f"{split}.tsv", root / "en" / f"{split}.tsv", 12)
        shutil.copy(SHARED / "xnli" / "labels.txt", root / "labels.txt")
    elif task == "wikiann":
        for split in ("train", "dev"):
            head_lines(SHARED / "wikiann" / "en" / f"{split}.conll", root / "en" / f"{split}.conll", 12, True)
    else:
        data = json.loads((SHARED / "tydiqa" / "tydiqa.goldp.en.train.json").read_text(encoding="utf-8"))
        root.mkdir(parents=True)
        (root / "tydiqa.goldp.en.train.json").write_text(json.dumps({"data": data["data"][:80]}), encoding="utf-8")
    return root


EVAL_SPLIT = {"xnli": "dev", "wikiann": "dev", "tydiqa": "train-dev"}
METRIC = {"xnli": "accuracy", "wikiann": "f1", "tydiqa": "f1"}


@pytest.mark.parametrize("family", ["decoder", "encoder"])
@pytest.mark.parametrize("task", ["xnli", "wikiann", "tydiqa"])
def test_two_steps_train_then_evaluate(tiny_models, tmp_path, task, family):
    data = small_copy(task, tmp_path / task)
    method = "bottleneck" if family == "encoder" else "lora"
    made = train(TrainSpec(role="task", language="en", task=task, data=data, method=method,
                           model=str(tiny_models[family]), out=tmp_path / "module", steps=2, lr=1e-2, batch_size=4,
                           max_len=96, progress=False))
    manifest = json.loads((made.path / "langarith.json").read_text(encoding="utf-8"))
    assert manifest["task"] == task and manifest["steps"] == 2
    if family == "encoder":
        assert (made.path / "head_config.json").exists()
        evaluator = MadxEvaluator(str(tiny_models[family]), made.path, batch_size=4, progress=False)
        result = evaluator.evaluate(None, task, data, "en", EVAL_SPLIT[task], limit=3)
    else:
        evaluator = DecoderEvaluator(str(tiny_models[family]), batch_size=4, progress=False)
        result = evaluator.evaluate(made.path, task, data, "en", EVAL_SPLIT[task], limit=3)
    assert result.n == 3 and len(result.predictions) == 3
    assert 0.0 <= result.scores.metrics[METRIC[task]] <= 100.0
