"""The one registry of λ choosers: each declares what it reads of the target, and is refused without it."""

from __future__ import annotations

import pytest

from langarith.scoring.choosers import CHOOSERS, Evidence, get_chooser, names
from langarith.scoring.search import SearchError, lambda_grid


def test_every_way_of_choosing_lambda_is_registered_with_what_it_reads():
    assert {c.name: c.reads for c in CHOOSERS.values()} == {
        "bracket": "labels", "grid": "labels", "coarse-to-fine": "labels", "halving": "labels",
        "unlabeled": "inputs", "transfer": "elsewhere", "fixed": "nothing"}
    assert names("labels")[0] == "bracket" and not any(get_chooser(n).label_free for n in names("labels"))


def test_a_chooser_is_refused_without_what_it_reads():
    grid = lambda_grid(0.25)
    with pytest.raises(SearchError, match="transfer reads λ chosen on other languages' labeled dev data"):
        get_chooser("transfer")(Evidence(grid))
    with pytest.raises(SearchError, match="grid reads the target's labeled dev rows"):
        get_chooser("grid")(Evidence(grid, predict=lambda lam, rows: [0] * len(rows), n=4))
    assert get_chooser("transfer")(Evidence(grid, elsewhere={"sw": 0.25, "yo": 0.75, "ha": 1.0})).best == 0.75
    assert get_chooser("fixed")(Evidence(grid)).best == 0.5


def test_the_searches_run_through_the_registry_and_the_label_free_one_without_a_metric():
    gold = [1, 0, 1, 1, 0, 1, 0, 1]
    grid = lambda_grid(0.25)

    def predict(lam, rows):  # right on every row at λ = 0.75, wrong on more rows the further λ is from it
        return [gold[r] if abs(lam - 0.75) * 8 <= r else 1 - gold[r] for r in rows]

    def metric(rows, predictions):
        return 100.0 * sum(p == gold[r] for r, p in zip(rows, predictions, strict=True)) / len(rows)

    for name in names("labels"):  # how each search works is tests/scoring/test_search.py's
        found = get_chooser(name)(Evidence(grid, predict, metric, len(gold)))
        assert found.strategy == name and found.best in grid
    assert get_chooser("grid")(Evidence(grid, predict, metric, len(gold))).best == 0.75
    assert get_chooser("unlabeled")(Evidence(grid, predict, None, len(gold))).best in grid
    with pytest.raises(SearchError, match="unknown λ chooser 'grd'; choose one of bracket"):
        get_chooser("grd")
