"""Label-free λ: the strategies on toys whose answer is known; no strategy sees a label."""

from __future__ import annotations

import math

import pytest

from langarith.scoring import label_free
from langarith.scoring.search import SearchError

GRID = [0.0, 0.25, 0.5, 0.75, 1.0]


def test_fixed_is_paper_2s_default_on_the_grid():
    assert label_free.fixed(GRID).best == 0.5
    assert label_free.fixed([0.8, 1.0, 1.2]).best == 0.8  # TIES' scale grid: the nearest value
    assert math.isnan(label_free.fixed(GRID).score) and label_free.fixed(GRID).evaluations == 0


def test_transfer_takes_the_median_of_other_languages_lambda():
    assert label_free.transfer({"es": 0.25, "fr": 0.75, "it": 1.0}, GRID).best == 0.75
    assert label_free.transfer({"es": 0.25, "fr": 0.5}, GRID).best == 0.5  # median 0.375 → the nearer, larger
    with pytest.raises(SearchError, match="at least one other language"):
        label_free.transfer({}, GRID)


def test_agreement_of_labels_tags_and_texts():
    assert label_free.agreement("sports", "sports") == 1.0 and label_free.agreement("sports", "health") == 0.0
    assert label_free.agreement(["B-PER", "O", "O"], ["B-PER", "O", "B-LOC"]) == pytest.approx(2 / 3)
    assert label_free.agreement("the cat sat", "the cat") == pytest.approx(0.8)
    assert label_free.agreement("", "") == 1.0 and label_free.agreement("", "a") == 0.0


def test_unlabeled_picks_the_medoid_of_the_grids_predictions_and_reads_only_rows():
    """By hand: λ = 0.75 agrees with 0.25, 0.5, 1.0 and 0.0 on 3, 3, 2 and 1 of 4 rows (9 of 16 = 56.25%);
    0.5 on 4, 3, 1, 0 (50%), 0.25 likewise, 1.0 on 7 of 16, 0.0 on 4 of 16."""
    table = {0.0: "bbbb", 0.25: "aaaa", 0.5: "aaaa", 0.75: "aaab", 1.0: "abbb"}
    asked = []

    def predict(lam, rows):
        asked.append((lam, list(rows)))
        return [table[lam][r] for r in rows]

    found = label_free.unlabeled(predict, 4, GRID)
    assert found.best == 0.75 and found.score == pytest.approx(56.25) and not found.on_edge
    assert dict(found.curve) == pytest.approx({0.0: 25.0, 0.25: 50.0, 0.5: 50.0, 0.75: 56.25, 1.0: 43.75})
    assert {lam for lam, _ in asked} == set(GRID) and all(rows == [0, 1, 2, 3] for _, rows in asked)
    assert [lam for lam, _ in found.curve] == GRID
    with pytest.raises(SearchError, match="at least two"):
        label_free.unlabeled(predict, 4, [0.5])
