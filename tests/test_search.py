"""λ search: grids include both ends, strategies find the optimum of smooth curves for less, ties go to λ = 1."""

from __future__ import annotations

import itertools

import pytest

from langarith.search import SearchError, lambda_grid, search


def curve(peak: float):
    def score(lam: float, rows) -> float:
        return 80.0 - 40.0 * (lam - peak) ** 2 + 0.0 * len(rows)

    return score


def test_grid_has_both_ends_and_the_papers_step():
    grid = lambda_grid()
    assert len(grid) == 21 and grid[0] == 0.0 and grid[-1] == 1.0 and 0.35 in grid
    assert lambda_grid(0.3) == [0.0, 0.3, 0.6, 0.9, 1.0]  # the end is kept even off-step
    with pytest.raises(SearchError, match="step > 0"):
        lambda_grid(0.0)


@pytest.mark.parametrize("strategy", ["grid", "coarse-to-fine", "halving"])
@pytest.mark.parametrize("peak", [0.0, 0.35, 0.7, 1.0])
def test_strategies_find_the_peak_of_a_smooth_curve(strategy, peak):
    found = search(curve(peak), n=99, strategy=strategy)
    assert found.best == pytest.approx(peak)
    assert found.on_edge == (peak in (0.0, 1.0))
    assert found.score == pytest.approx(80.0)
    if strategy == "grid":
        assert found.evaluations == pytest.approx(21.0)
    else:
        assert found.evaluations < 10.5


def test_halving_scores_nested_rows_and_pays_each_row_once():
    asked: list[tuple[float, tuple[int, ...]]] = []

    def score(lam, rows):
        asked.append((lam, tuple(rows)))
        assert all(0 <= r < 90 for r in rows)
        return lam

    found = search(score, n=90, strategy="halving")
    by_lam: dict[float, list[tuple[int, ...]]] = {}
    for lam, rows in asked:
        by_lam.setdefault(lam, []).append(rows)
    for calls in by_lam.values():  # a promoted λ sees a superset of the rows it saw before
        for small, big in itertools.pairwise(calls):
            assert set(small) < set(big)
    assert found.best == 1.0
    assert sum(len(set().union(*c)) for c in by_lam.values()) / 90 == pytest.approx(found.evaluations, abs=1e-4)


def test_ties_go_to_the_larger_lambda():
    assert search(lambda lam, rows: 50.0, n=10).best == 1.0


def test_errors_say_what_to_do():
    with pytest.raises(SearchError, match="grid, coarse-to-fine, halving"):
        search(curve(0.5), n=10, strategy="bayes")
    with pytest.raises(SearchError, match="validation set is empty"):
        search(curve(0.5), n=0)


def test_halving_never_drops_lambda_one_on_a_noisy_subset():
    def score(lam, rows):  # λ = 1 is best overall but worst on the first rows
        if lam == 1.0:
            return 90.0 if len(rows) > 20 else 0.0
        return 70.0 - lam

    found = search(score, n=99, strategy="halving")
    assert found.best == 1.0 and found.score == 90.0
