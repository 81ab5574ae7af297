"""The searches on the target's labeled dev rows (`langarith.scoring.search` has how each works)."""

from __future__ import annotations

from langarith.scoring.choosers import Evidence, chooser
from langarith.scoring.search import SearchResult, search


def _searching(strategy: str):
    def run(evidence: Evidence) -> SearchResult:
        return search(evidence.predict, evidence.metric, evidence.n, evidence.grid, strategy, seed=evidence.seed)
    return run


chooser("bracket", "labels", "bisects the grid, predicting a λ only on the rows its bracket's ends disagree on "
        "(the default)")(_searching("bracket"))
chooser("grid", "labels", "every λ of the grid (the papers)")(_searching("grid"))
chooser("coarse-to-fine", "labels", "a coarse grid, then the best's neighbours at halved steps")(
    _searching("coarse-to-fine"))
chooser("halving", "labels", "successive halving: every λ on a few rows, the best third on three times as many")(
    _searching("halving"))
