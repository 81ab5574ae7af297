"""λ search: grids include both ends, strategies find the optimum of smooth curves for less, ties go to λ = 1,
and `bracket` predicts a λ only where its bracket's ends disagree."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from langarith.scoring.search import SearchError, lambda_grid, replay, search


def scored(score):
    """predict/metric from a score function of (λ, rows): each prediction is its (λ, row), so no two λ agree."""

    def predict(lam, rows):
        return [(lam, r) for r in rows]

    def metric(rows, predictions):
        return score(predictions[0][0], rows)

    return predict, metric


def curve(peak: float):
    return scored(lambda lam, rows: 80.0 - 40.0 * (lam - peak) ** 2 + 0.0 * len(rows))


def classifier(boundaries, gold):
    """A row's prediction is "a" below its boundary λ and "b" from it on: predictions move monotonically in λ,
    as for a classifier whose decision flips once between two modules."""

    def predict(lam, rows):
        return ["b" if lam >= boundaries[r] else "a" for r in rows]

    def metric(rows, predictions):
        return 100.0 * sum(p == gold[r] for r, p in zip(rows, predictions, strict=True)) / len(rows)

    return predict, metric


def test_grid_has_both_ends_and_the_papers_step():
    grid = lambda_grid()
    assert len(grid) == 21 and grid[0] == 0.0 and grid[-1] == 1.0 and 0.35 in grid
    assert lambda_grid(0.3) == [0.0, 0.3, 0.6, 0.9, 1.0]  # the end is kept even off-step
    with pytest.raises(SearchError, match="step > 0"):
        lambda_grid(0.0)


@pytest.mark.parametrize("strategy", ["grid", "coarse-to-fine", "halving"])
@pytest.mark.parametrize("peak", [0.0, 0.35, 0.7, 1.0])
def test_strategies_find_the_peak_of_a_smooth_curve(strategy, peak):
    found = search(*curve(peak), n=99, strategy=strategy)
    assert found.best == pytest.approx(peak)
    assert found.on_edge == (peak in (0.0, 1.0))
    assert found.score == pytest.approx(80.0)
    if strategy == "grid":
        assert found.evaluations == pytest.approx(21.0)
    else:
        assert found.evaluations < 10.5


def test_each_lambda_and_row_is_predicted_once():
    asked: list[tuple[float, tuple[int, ...]]] = []

    predict, metric = scored(lambda lam, rows: lam)

    def counted(lam, rows):
        asked.append((lam, tuple(rows)))
        assert all(0 <= r < 90 for r in rows)
        return predict(lam, rows)

    found = search(counted, metric, n=90, strategy="halving")
    by_lam: dict[float, list[tuple[int, ...]]] = {}
    for lam, rows in asked:
        by_lam.setdefault(lam, []).append(rows)
    for calls in by_lam.values():  # a promoted λ is asked only for rows it has not been asked for
        for first, later in itertools.combinations(calls, 2):
            assert not set(first) & set(later)
    assert found.best == 1.0
    assert sum(len(set().union(*c)) for c in by_lam.values()) / 90 == pytest.approx(found.evaluations, abs=1e-4)


def test_ties_go_to_the_larger_lambda():
    for strategy in ("bracket", "grid", "halving"):
        assert search(*scored(lambda lam, rows: 50.0), n=10, strategy=strategy).best == 1.0


def test_errors_say_what_to_do():
    with pytest.raises(SearchError, match="grid, coarse-to-fine, halving"):
        search(*curve(0.5), n=10, strategy="bayes")
    with pytest.raises(SearchError, match="validation set is empty"):
        search(*curve(0.5), n=0)
    with pytest.raises(SearchError, match="returned 1 predictions for 10 rows"):
        search(lambda lam, rows: ["x"], lambda rows, p: 0.0, n=10)


def test_halving_never_drops_lambda_one_on_a_noisy_subset():
    def score(lam, rows):  # λ = 1 is best overall but worst on the first rows
        if lam == 1.0:
            return 90.0 if len(rows) > 20 else 0.0
        return 70.0 - lam

    found = search(*scored(score), n=99, strategy="halving")
    assert found.best == 1.0 and found.score == 90.0


def test_bracket_finds_the_grids_choice_and_predicts_only_where_bracket_ends_disagree():
    rng = np.random.default_rng(0)
    n = 200
    boundaries = rng.uniform(0, 4, n)  # a quarter of the rows flip inside the grid, as in real curves
    gold = ["b" if rng.random() < 0.5 + 0.45 * (b < 0.4) else "a" for b in boundaries]
    predict, metric = classifier(boundaries, gold)
    asked: list[tuple[float, list[int]]] = []

    def counted(lam, rows):
        asked.append((lam, list(rows)))
        return predict(lam, rows)

    grid = search(predict, metric, n, strategy="grid")
    found = search(counted, metric, n, strategy="bracket")
    assert found.best == grid.best and found.score == grid.score
    assert found.evaluations < grid.evaluations / 4
    ends = {0.0, 1.0}
    for lam, rows in asked:  # inside the grid, only rows some bracket disagrees on (or the final check)
        if lam not in ends and lam != found.best:
            assert all(0 <= boundaries[r] <= 1.0 + 1e-9 for r in rows)
    assert {t.lam for t in found.trials} == set(lambda_grid())  # the whole curve is reported


def test_bracket_reports_only_scores_that_real_predictions_back():
    n = 50
    predict, metric = classifier([2.0] * n, ["a"] * n)  # nothing flips: the curve is flat, λ = 1 wins
    found = search(predict, metric, n, strategy="bracket")
    assert found.best == 1.0 and found.evaluations == pytest.approx(2.0)

    def wavy(lam, rows):  # ends agree on every row but the middle differs: bracket's assumption fails, so it
        # misses the bump — and still reports a real score, not a carried-over one
        return ["b" if 0.4 < lam < 0.6 else "a" for _ in rows]

    found = search(wavy, lambda rows, p: 100.0 * sum(x == "b" for x in p) / len(p), n, strategy="bracket")
    assert found.best == 1.0 and found.score == 0.0  # never a score the real predictions do not back


@pytest.mark.parametrize("step", [float("nan"), float("inf"), 0.0, -0.1])
def test_a_grid_of_nothing_is_an_error(step):
    with pytest.raises(SearchError, match="a λ grid needs step > 0"):
        lambda_grid(step)


# Recorded dev curves (λ: accuracy over 99 SIB-200 rows), of the shapes the committed runs hold: an inverted U
# peaking inside the grid, one rising to λ = 1, and a flat one with a narrow bump between coarse points.
INVERTED_U = dict(zip(lambda_grid(), [76.8, 77.8, 78.8, 77.8, 77.8, 79.8, 79.8, 79.8, 79.8, 81.8, 82.8, 83.8, 83.8,
                                     81.8, 81.8, 79.8, 79.8, 78.8, 79.8, 79.8, 78.8], strict=True))
RISING = {lam: 45.5 + 30.0 * lam for lam in lambda_grid(0.1)}
NARROW = {**{lam: 80.8 for lam in lambda_grid()}, 0.35: 82.8}


@pytest.mark.parametrize(("curve", "best"), [(INVERTED_U, 0.6), (RISING, 1.0), (NARROW, 0.35)])
def test_the_grid_replayed_on_a_recorded_curve_is_its_argmax_for_every_point(curve, best):
    found = replay(curve, "grid")
    assert found.best == best and found.evaluations == len(curve)
    assert dict(found.curve) == pytest.approx(curve)


def test_coarse_to_fine_replayed_pays_for_the_points_it_asks_and_may_miss_a_narrow_bump():
    found = replay(INVERTED_U, "coarse-to-fine")
    assert found.best == 0.6 and found.evaluations == len(found.curve) < 11
    assert replay(RISING, "coarse-to-fine").best == 1.0
    missed = replay(NARROW, "coarse-to-fine")  # 0.35 is neither a coarse point nor the best's neighbour
    assert missed.best == 1.0 and missed.score == 80.8


def test_a_replay_chooses_what_the_live_search_chooses():
    predict, metric = curve(0.35)
    live = search(predict, metric, n=99, strategy="coarse-to-fine")
    recorded = {lam: metric([0], predict(lam, [0])) for lam in lambda_grid()}
    again = replay(recorded, "coarse-to-fine")
    assert (again.best, again.evaluations, again.curve) == (live.best, live.evaluations, live.curve)


@pytest.mark.parametrize("strategy", ["bracket", "halving"])
def test_row_level_searches_cannot_be_replayed_on_a_recorded_curve(strategy):
    with pytest.raises(SearchError, match="per-row predictions"):
        replay(INVERTED_U, strategy)


def test_a_grid_too_fine_to_search_is_refused_before_any_evaluation():
    assert len(lambda_grid(0.001)) == 1001
    for step in (1e-9, 5e-324):  # a billion evaluations (it hung), and a step whose count overflows
        with pytest.raises(SearchError, match=r"more than 1,001.*at least 0\.001"):
            lambda_grid(step)
