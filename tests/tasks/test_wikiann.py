"""WikiANN: the shared CoNLL files, malformed copies, and seqeval F1 by hand for taggers and decoders."""

from __future__ import annotations

import pytest
from conftest import SHARED

from langarith.tasks import TaskError, get_task

WIKIANN = SHARED / "wikiann"
pytestmark = pytest.mark.skipif(not WIKIANN.exists(), reason="needs the shared WikiANN data")
task = get_task("wikiann")


def test_the_splits_of_paper_2s_languages_read():
    assert len(task.load(WIKIANN, "sw", "train")) == 1000 and len(task.load(WIKIANN, "swh", "dev")) == 1000
    assert len(task.load(WIKIANN, "en", "test")) == 10000
    example = task.load(WIKIANN, "sw", "dev")[0]
    words, tags = example.gold
    assert example.prompt == f"Sentence: {' '.join(words)}\nEntities:" and set(tags) <= {"O", "B-LOC", "I-LOC",
                                                                                         "B-PER", "I-PER", "B-ORG",
                                                                                         "I-ORG"}
    assert example.target == " LOC: Khartoum; LOC: Sudan"
    assert task.head == "tagging" and task.head_labels(WIKIANN, "sw", [example]) == ["O", "B-LOC"]


@pytest.mark.parametrize("text, message", [
    ("Ada\tB-PER\nLovelace\tB-DATE\n", "tags outside WikiANN's BIO tags"),
    ("Ada\n", "expected 'token TAG'"),
])
def test_malformed_copies_are_one_line_errors(tmp_path, text, message):
    (tmp_path / "en").mkdir()
    (tmp_path / "en" / "dev.conll").write_text(text, encoding="utf-8")
    with pytest.raises(TaskError, match=message):
        task.load(tmp_path, "en", "dev")
    with pytest.raises(TaskError, match="the test split is missing"):
        task.load(tmp_path, "en", "test")


def test_entity_f1_by_hand():
    """Gold: PER "Ada Lovelace", LOC "London"; predicted: the PER right, London as ORG. seqeval: P = R = 1/2."""
    from langarith.tasks import Example

    words, gold = ["Ada", "Lovelace", "in", "London"], ["B-PER", "I-PER", "O", "B-LOC"]
    examples = [Example("p", "t", gold=(words, gold))]
    tagged = task.score(examples, [["B-PER", "I-PER", "O", "B-ORG"]], "en")
    generated = task.score(examples, ["PER: Ada Lovelace; ORG: London"], "en")
    assert tagged.value == generated.value == pytest.approx(50.0)
    assert task.score(examples, ["PER: Ada Lovelace; LOC: London"], "en").value == pytest.approx(100.0)
