"""The choosers that read no label of the target (`langarith.scoring.label_free`)."""

from __future__ import annotations

from langarith.scoring import label_free
from langarith.scoring.choosers import Evidence, chooser
from langarith.scoring.search import SearchResult


@chooser("unlabeled", "inputs", "the λ whose predictions on the target's unlabeled dev inputs agree most with "
                                "the other λ's")
def unlabeled(evidence: Evidence) -> SearchResult:
    return label_free.unlabeled(evidence.predict, evidence.n, evidence.grid)


@chooser("transfer", "elsewhere", "the median of the λ other languages' labeled dev data chose",
         summary="median of the dev-tuned λ")
def transfer(evidence: Evidence) -> SearchResult:
    return label_free.transfer(dict(evidence.elsewhere or {}), evidence.grid)


@chooser("fixed", "nothing", "λ = 0.5, paper 2's default", summary="paper 2's default")
def fixed(evidence: Evidence) -> SearchResult:
    return label_free.fixed(evidence.grid)
