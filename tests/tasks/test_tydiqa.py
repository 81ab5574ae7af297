"""TyDi QA GoldP: disjoint splits by passage, the unlabelled dev release refused, SQuAD F1 by hand."""

from __future__ import annotations

import json

import pytest
from conftest import SHARED

from langarith.tasks import Example, TaskError, get_task

TYDI = SHARED / "tydiqa"
pytestmark = pytest.mark.skipif(not TYDI.exists(), reason="needs the shared TyDi QA data")
task = get_task("tydiqa")


def test_held_out_splits_are_disjoint_and_cover_the_train_file():
    splits = {s: task.load(TYDI, "sw", s) for s in ("train", "train-dev", "train-test")}
    contexts = {s: {e.inputs["context"] for e in v} for s, v in splits.items()}
    assert not contexts["train"] & contexts["train-dev"] and not contexts["train"] & contexts["train-test"]
    assert not contexts["train-dev"] & contexts["train-test"]
    assert sum(len(v) for v in splits.values()) == 2755
    assert all(e.gold and e.gold[0] for v in splits.values() for e in v)
    first = splits["train"][0]
    assert first.inputs["context"][first.inputs["answer_start"]:].startswith(first.label)


def test_the_unlabelled_dev_release_is_refused_with_what_to_use():
    with pytest.raises(TaskError, match=r"all 921 answers are empty.*train-dev and train-test"):
        task.load(TYDI, "ar", "dev")
    with pytest.raises(TaskError, match=r"tydiqa\.goldp\.bn\.train\.json does not exist"):
        task.load(TYDI, "bn", "train")
    with pytest.raises(TaskError, match="splits are train, train-dev"):
        task.load(TYDI, "en", "validation")


def squad(*questions: tuple[str, str]) -> dict:
    return {"data": [{"paragraphs": [{"context": f"passage {i}: {answer}",
                                      "qas": [{"id": str(i), "question": q,
                                               "answers": [{"text": answer, "answer_start": 11}]}]}]}
                     for i, (q, answer) in enumerate(questions)]}


def test_a_labelled_dev_file_is_halved_and_a_missing_answer_is_an_error(tmp_path):
    path = tmp_path / "tydiqa.goldp.fi.dev.json"
    path.write_text(json.dumps(squad(*((f"q{i}", f"a{i}") for i in range(40)))), encoding="utf-8")
    dev, test = task.load(tmp_path, "fi", "dev"), task.load(tmp_path, "fi", "test")
    assert len(dev) + len(test) == 40 and dev and test
    assert not {e.label for e in dev} & {e.label for e in test}
    broken = squad(("q", "a"), ("r", ""))
    path.write_text(json.dumps(broken), encoding="utf-8")
    with pytest.raises(TaskError, match=r"1 of 2 questions have no answer"):
        task.load(tmp_path, "fi", "dev")
    path.write_text('{"data": [{"paras": []}]}', encoding="utf-8")
    with pytest.raises(TaskError, match="is not SQuAD JSON"):
        task.load(tmp_path, "fi", "dev")


def test_squad_f1_by_hand():
    """Gold "the Eiffel Tower" → {eiffel, tower}; "Eiffel Tower in Paris" → P 2/4, R 2/2, F1 2/3; EM 0."""
    examples = [Example("p", " the Eiffel Tower", "the Eiffel Tower", gold=["the Eiffel Tower"])]
    scores = task.score(examples, ["Eiffel Tower in Paris"], "en")
    assert scores.value == pytest.approx(200 / 3) and scores.metrics["exact_match"] == 0.0
    assert task.score(examples, ["Eiffel Tower"], "en").metrics["exact_match"] == 100.0
