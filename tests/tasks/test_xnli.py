"""XNLI: the shared files, malformed copies, the label set and accuracy by hand."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from conftest import SHARED

from langarith.tasks import TaskError, get_task

XNLI = SHARED / "xnli"
pytestmark = pytest.mark.skipif(not XNLI.exists(), reason="needs the shared XNLI data")
task = get_task("xnli")


def copy_rows(src: Path, dst: Path, n: int, change=None) -> Path:
    """The first `n` rows of a shared XNLI file, written as the csv module writes, optionally altered."""
    with src.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))[:n]
    rows = [change(dict(r)) for r in rows] if change else rows
    dst.parent.mkdir(parents=True, exist_ok=True)
    with dst.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]), delimiter="\t")
        writer.writeheader()
        writer.writerows(rows)
    return dst


def test_every_language_reads_with_parallel_labels_and_english_alone_trains():
    dev = {lang: task.load(XNLI, lang, "dev") for lang in ("en", "ar", "swh", "zh")}
    assert {len(v) for v in dev.values()} == {2490}
    assert [e.label for e in dev["ar"]] == [e.label for e in dev["en"]]  # translations of one set
    assert len(task.load(XNLI, "sw", "test")) == 5010 and len(task.load(XNLI, "en", "train")) == 9000
    first = dev["en"][0]
    assert first.prompt.startswith("Premise: ") and "\nHypothesis: " in first.prompt
    assert first.inputs == {"text": first.prompt.split("\n")[0][len("Premise: "):],
                            "text_pair": first.prompt.split("\n")[1][len("Hypothesis: "):]}
    assert task.labels(XNLI / "ar", "ar") == ["entailment", "neutral", "contradiction"]
    with pytest.raises(TaskError, match="train split is missing"):
        task.load(XNLI, "ar", "train")


def test_quoted_fields_survive(tmp_path):
    quoted = copy_rows(XNLI / "en" / "dev.tsv", tmp_path / "en" / "dev.tsv", 3,
                       lambda r: {**r, "premise": 'He said "yes"\tthen left.'})
    assert task.load(quoted, "en", "dev")[0].inputs["text"] == 'He said "yes"\tthen left.'


@pytest.mark.parametrize("change, message", [
    (lambda r: {**r, "label": "maybe"}, "labels outside"),
    (lambda r: {"premise": r["premise"], "label": r["label"]}, "no 'hypothesis' column"),
    (lambda r: {**r, "hypothesis": "  "}, "empty premise or hypothesis"),
])
def test_malformed_copies_are_one_line_errors(tmp_path, change, message):
    bad = copy_rows(XNLI / "en" / "dev.tsv", tmp_path / "en" / "dev.tsv", 4, change)
    with pytest.raises(TaskError, match=message) as err:
        task.load(bad, "en", "dev")
    assert "\n" not in str(err.value)


def test_accuracy_by_hand():
    examples = task.load(XNLI, "en", "dev")[:3]
    gold = [e.label for e in examples]
    wrong = next(lab for lab in ("entailment", "neutral") if lab != gold[2])
    scores = task.score(examples, [gold[0], gold[1], wrong], "en")
    assert scores.value == pytest.approx(200 / 3) and scores.per_example == [1.0, 1.0, 0.0]
    assert scores.test == "mcnemar"
