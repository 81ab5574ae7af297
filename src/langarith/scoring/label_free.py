"""λ without labeled data in the target language — the user this toolkit is for has none, yet both papers
tune λ on the target's labeled dev set. Three choices that need none:

- `fixed`: λ = 0.5, paper 2's suggested default; the reference the others must beat;
- `transfer`: the λ that labeled data chose for the same recipe in *other* languages — the median of their
  dev-tuned λ (leave-one-out over the languages of a table; a user with labeled dev data in a few languages
  does the same), snapped to the grid;
- `unlabeled`: a criterion on the target's task inputs alone, labels never read. Every λ of the grid predicts
  the inputs, and the λ whose predictions agree most with those of all the others is chosen — the medoid of
  the grid's predictions. Why this one: label-free criteria that score one λ alone are biased by λ itself
  (prediction entropy falls as λ scales a task module up; a composed module's language-model loss on target
  text falls as the language module's share grows), while agreement compares λ values with each other. It
  picks the middle of the widest plateau of stable predictions, away from the edges where a module is
  scaled towards nothing or its language part dominates. Agreement is the share of equal labels or tags, and
  the token F1 of answers and generations.

Model-free: no torch here.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from langarith.scoring.search import SearchError, SearchResult, Trial

FIXED_LAMBDA = 0.5


def snap(value: float, grid: Sequence[float]) -> float:
    """The grid's λ nearest to `value` (ties to the larger λ)."""
    return min(grid, key=lambda lam: (abs(lam - value), -lam))


def fixed(grid: Sequence[float]) -> SearchResult:
    """λ = 0.5 (the grid's nearest), no prediction made."""
    best = snap(FIXED_LAMBDA, grid)
    return _result("fixed", grid, best, float("nan"), [], 0.0)


def transfer(chosen: dict[str, float], grid: Sequence[float]) -> SearchResult:
    """The median of λ chosen on labeled dev data of other languages (`chosen`: language → λ)."""
    if not chosen:
        raise SearchError("transfer needs λ chosen on at least one other language with labeled dev data")
    best = snap(statistics.median(chosen.values()), grid)
    return _result("transfer", grid, best, float("nan"), [], 0.0)


def agreement(a: Any, b: Any) -> float:
    """How alike two predictions are, in [0, 1]: equal labels, the share of equal tags, token F1 of texts."""
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return sum(x == y for x, y in zip(a, b, strict=False)) / max(len(a), len(b), 1)
    if isinstance(a, str) and isinstance(b, str):
        left, right = a.split(), b.split()
        if not left or not right:
            return float(left == right)
        common = sum((Counter(left) & Counter(right)).values())
        return 2 * common / (len(left) + len(right))
    return float(a == b)


def unlabeled(predict: Callable[[float, Sequence[int]], Sequence[Any]], n: int,
              grid: Sequence[float]) -> SearchResult:
    """The λ whose predictions on the `n` unlabeled rows agree most, on average, with every other λ's."""
    if n <= 0:
        raise SearchError("no unlabeled target inputs to choose λ on")
    grid = sorted({round(float(x), 10) for x in grid})
    if len(grid) < 2:
        raise SearchError("the unlabeled criterion compares λ values: give a grid of at least two")
    rows = list(range(n))
    made = {lam: list(predict(lam, rows)) for lam in grid}
    score = {lam: 100.0 * statistics.fmean(agreement(made[lam][r], made[other][r])
                                           for other in grid if other != lam for r in rows) for lam in grid}
    best = max(score, key=lambda lam: (score[lam], lam))
    trials = [Trial(lam, score[lam], n, 0) for lam in grid]
    return _result("unlabeled", grid, best, score[best], trials, float(len(grid)))


def _result(strategy: str, grid: Sequence[float], best: float, score: float, trials: list[Trial],
            evaluations: float) -> SearchResult:
    grid = sorted(grid)
    return SearchResult(strategy=strategy, grid=list(grid), best=best, score=score, trials=trials,
                        evaluations=evaluations, on_edge=best in (grid[0], grid[-1]),
                        curve=[(t.lam, t.score) for t in trials])
