"""λ search on validation data.

The search never sees data: it asks `score(λ, rows)` for the validation score of λ on some rows of the
validation set (row indices into a list it never holds), so test data cannot leak into the choice. Cost is
counted in full-validation-set equivalents: scoring λ on a quarter of the rows costs 0.25, and rows
already scored for a λ (in an earlier round of successive halving) are not paid for twice — the caller's
cache makes that true.

Strategies:
- `grid`: every λ of the grid (the papers: 0 … 1 in steps of 0.05, 21 evaluations);
- `coarse-to-fine`: a coarse grid, then the neighbours of the best at halved steps down to the grid's step;
- `halving`: successive halving — every λ on a small random share of the rows, the best third promoted to
  three times as many rows, and so on until the survivors are scored on all rows. The grid's largest λ
  (λ = 1: the task module alone) is always promoted, so the choice is never worse on all dev rows than the
  baseline; without this, a first round on ~10 rows dropped λ = 1 in a real run and cost 8 dev points.

Ties go to the larger λ (the one closer to the task module alone), so a flat curve picks the baseline.
Model-free: no torch here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from langarith.errors import LangarithError

STRATEGIES = ("grid", "coarse-to-fine", "halving")


class SearchError(LangarithError):
    """A λ search was asked for an empty grid, an unknown strategy, or no validation rows."""


@dataclass
class Trial:
    lam: float
    score: float
    rows: int  # validation rows this score is over
    round: int


@dataclass
class SearchResult:
    strategy: str
    grid: list[float]
    best: float
    score: float  # on all validation rows
    trials: list[Trial]
    evaluations: float  # full validation sets' worth of rows scored
    on_edge: bool  # the chosen λ is the grid's smallest or largest value
    # (λ, score) for every λ tried, λ ascending, each on the most rows it was scored on (successive halving
    # scores eliminated λ on a share of the rows only)
    curve: list[tuple[float, float]] = field(default_factory=list)

    def to_json(self) -> dict:
        out = asdict(self)
        out["curve"] = [list(p) for p in self.curve]
        return out


def lambda_grid(step: float = 0.05, low: float = 0.0, high: float = 1.0) -> list[float]:
    """low, low+step, …, high — both ends included (λ = 1 is the task module alone: the baseline)."""
    if step <= 0 or high < low:
        raise SearchError(f"a λ grid needs step > 0 and high ≥ low; got step={step}, low={low}, high={high}")
    n = math.floor((high - low) / step + 1e-9)
    values = [round(low + i * step, 10) for i in range(n + 1)]
    if abs(values[-1] - high) > 1e-9:
        values.append(round(high, 10))
    return values


class _Scorer:
    """Counts what is scored; a λ's rows are remembered so promotions only pay for new rows."""

    def __init__(self, score: Callable[[float, Sequence[int]], float], n: int):
        self.score, self.n = score, n
        self.paid: dict[float, set[int]] = {}
        self.cost = 0.0

    def __call__(self, lam: float, rows: Sequence[int]) -> float:
        seen = self.paid.setdefault(lam, set())
        new = set(rows) - seen
        self.cost += len(new) / self.n
        seen.update(new)
        return float(self.score(lam, rows))


def search(score: Callable[[float, Sequence[int]], float], n: int, grid: Sequence[float] | None = None,
           strategy: str = "grid", seed: int = 0, eta: int = 3, min_rows: int = 8) -> SearchResult:
    """The λ of `grid` with the best validation score. `score(λ, rows)` evaluates λ on those validation rows."""
    if strategy not in STRATEGIES:
        raise SearchError(f"unknown λ search strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
    if n <= 0:
        raise SearchError("the validation set is empty; λ is chosen on validation data (--dev)")
    grid = sorted({round(float(x), 10) for x in (grid if grid is not None else lambda_grid())})
    if not grid:
        raise SearchError("the λ grid is empty")
    scorer = _Scorer(score, n)
    all_rows = list(range(n))
    trials: list[Trial] = []

    def full(lam: float, round_: int) -> float:
        value = scorer(lam, all_rows)
        trials.append(Trial(lam, value, n, round_))
        return value

    if strategy == "grid":
        scores = {lam: full(lam, 0) for lam in grid}
    elif strategy == "coarse-to-fine":
        scores = _coarse_to_fine(grid, full)
    else:
        scores = _halving(grid, scorer, n, seed, eta, min_rows, trials)
    best = max(scores, key=lambda lam: (scores[lam], lam))
    return SearchResult(strategy=strategy, grid=list(grid), best=best, score=scores[best], trials=trials,
                        evaluations=round(scorer.cost, 4), on_edge=best in (grid[0], grid[-1]),
                        curve=_curve(trials))


def _curve(trials: Sequence[Trial]) -> list[tuple[float, float]]:
    most: dict[float, Trial] = {}
    for t in trials:
        if t.lam not in most or t.rows >= most[t.lam].rows:
            most[t.lam] = t
    return [(lam, most[lam].score) for lam in sorted(most)]


def _coarse_to_fine(grid: list[float], full: Callable[[float, int], float]) -> dict[float, float]:
    """Every 4th grid point (ends included), then the best's neighbours 2 and 1 grid steps away."""
    scores: dict[float, float] = {}
    coarse = sorted({*grid[::4], grid[-1]})
    for lam in coarse:
        scores[lam] = full(lam, 0)
    for round_, offset in enumerate((2, 1), start=1):
        best = max(scores, key=lambda lam: (scores[lam], lam))
        i = grid.index(best)
        for j in (i - offset, i + offset):
            if 0 <= j < len(grid) and grid[j] not in scores:
                scores[grid[j]] = full(grid[j], round_)
    return scores


def _halving(grid: list[float], scorer: _Scorer, n: int, seed: int, eta: int, min_rows: int,
             trials: list[Trial]) -> dict[float, float]:
    """Successive halving on nested random row subsets; only the survivors of the last round count."""
    order = np.random.default_rng(seed).permutation(n).tolist()
    rounds = max(1, math.ceil(math.log(len(grid), eta)))
    alive = list(grid)
    rows = max(min(min_rows, n), math.ceil(n / eta ** (rounds - 1)))
    round_ = 0
    while True:
        subset = order[:rows]
        scores = {lam: scorer(lam, subset) for lam in alive}
        trials.extend(Trial(lam, scores[lam], rows, round_) for lam in alive)
        if rows >= n:
            return scores
        keep = max(1, math.ceil(len(alive) / eta))
        alive = sorted(alive, key=lambda lam: (scores[lam], lam), reverse=True)[:keep]
        if grid[-1] not in alive:  # λ = 1 (the task module alone) always reaches all rows: a noisy small
            alive.append(grid[-1])  # subset must not drop the baseline the search has to beat
        rows, round_ = min(n, rows * eta), round_ + 1
