"""λ search on validation data.

The search never sees data: it asks `predict(λ, rows)` for predictions of λ on some rows of the validation
set (row indices into a list it never holds) and `metric(rows, predictions)` for their validation score, so
test data cannot leak into the choice. Cost is counted in full-validation-set equivalents: predicting λ on a
quarter of the rows costs 0.25, and a (λ, row) is predicted at most once.

Strategies:
- `grid`: every λ of the grid (the papers: 0 … 1 in steps of 0.05, 21 evaluations);
- `bracket` (the default): both ends of the grid on every row; then, bisecting the grid, a λ between two
  predicted λ is predicted only on the rows where those two disagree — a row both ends of a bracket agree on
  keeps that prediction inside it. The λ scored best on this curve is then predicted on its carried-over rows
  too, and kept only if it beats both ends on real predictions. Adjacent λ of a fine grid move few
  predictions, so this costs about a fifth of the grid on classification (measured in
  `benchmarks/lambda_search.py`); on free generation, where two λ rarely produce the same string, it costs
  about what the grid costs;
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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from langarith.core.errors import LangarithError

STRATEGIES = ("bracket", "grid", "coarse-to-fine", "halving")
DEFAULT_STRATEGY = "bracket"
#: the strategies that pay only for whole validation sets: a recorded curve replays them exactly (`replay`)
WHOLE_SET_STRATEGIES = ("grid", "coarse-to-fine")
GRID_STEP = 0.05  # the papers' grid: 0, 0.05, …, 1
MAX_GRID = 1001  # λ values a grid may hold: a step of 0.001 over [0, 1]; each costs one evaluation of the dev rows

#: predictions of λ on these validation rows (what the search pays for)
Predict = Callable[[float, Sequence[int]], Sequence[Any]]
#: the validation score of predictions for these rows
Metric = Callable[[Sequence[int], Sequence[Any]], float]


class SearchError(LangarithError):
    """A λ search was asked for an empty grid, an unknown strategy, or no validation rows."""


@dataclass
class Trial:
    lam: float
    score: float
    rows: int  # validation rows this score is over
    round: int
    carried: int = 0  # of those rows, predictions carried over from a bracket's ends (`bracket`) rather than made


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
    #: what made it, when `search_lambda` ran it (`langarith.core.records.run_record`: the command line, the
    #: modules and the dev data with their sha256); empty inside an experiment, whose results.json records that
    record: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict:
        out = asdict(self)
        out["curve"] = [list(p) for p in self.curve]
        if not self.record:
            del out["record"]
        return out


def lambda_grid(step: float = GRID_STEP, low: float = 0.0, high: float = 1.0) -> list[float]:
    """low, low+step, …, high — both ends included (λ = 1 is the task module alone: the baseline)."""
    if not all(math.isfinite(v) for v in (step, low, high)) or step <= 0 or high < low:
        raise SearchError(f"a λ grid needs step > 0 and high ≥ low; got step={step}, low={low}, high={high}")
    count = (high - low) / step + 1
    if count > MAX_GRID + 1e-6:
        raise SearchError(f"a λ grid from {low:g} to {high:g} in steps of {step:g} has {count:.3g} values, more than "
                          f"{MAX_GRID:,} (each is one evaluation of the dev rows); give a --step of at least "
                          f"{(high - low) / (MAX_GRID - 1):g}")
    n = math.floor((high - low) / step + 1e-9)
    values = [round(low + i * step, 10) for i in range(n + 1)]
    if abs(values[-1] - high) > 1e-9:
        values.append(round(high, 10))
    return values


class _Scorer:
    """Predictions per (λ, row), each made once and counted; calling it scores λ on rows it predicts."""

    def __init__(self, predict: Predict, metric: Metric, n: int):
        self.predict, self.metric, self.n = predict, metric, n
        self.known: dict[float, dict[int, Any]] = {}
        self.cost = 0.0

    def predictions(self, lam: float, rows: Sequence[int]) -> list[Any]:
        known = self.known.setdefault(lam, {})
        missing = [r for r in rows if r not in known]
        if missing:
            made = list(self.predict(lam, missing))
            if len(made) != len(missing):
                raise SearchError(f"predict(λ={lam:g}) returned {len(made)} predictions for {len(missing)} rows")
            known.update(zip(missing, made, strict=True))
            self.cost += len(missing) / self.n
        return [known[r] for r in rows]

    def __call__(self, lam: float, rows: Sequence[int]) -> float:
        return float(self.metric(rows, self.predictions(lam, rows)))


def search(predict: Predict, metric: Metric, n: int, grid: Sequence[float] | None = None,
           strategy: str = "bracket", seed: int = 0, eta: int = 3, min_rows: int = 8) -> SearchResult:
    """The λ of `grid` with the best validation score."""
    if strategy not in STRATEGIES:
        raise SearchError(f"unknown λ search strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
    if n <= 0:
        raise SearchError("the validation set is empty; λ is chosen on validation data (--dev)")
    grid = sorted({round(float(x), 10) for x in (grid if grid is not None else lambda_grid())})
    if not grid:
        raise SearchError("the λ grid is empty")
    scorer = _Scorer(predict, metric, n)
    all_rows = list(range(n))
    trials: list[Trial] = []

    def full(lam: float, round_: int) -> float:
        value = scorer(lam, all_rows)
        trials.append(Trial(lam, value, n, round_))
        return value

    if strategy == "grid":
        scores = {lam: full(lam, 0) for lam in grid}
    elif strategy == "bracket":
        scores = _bracket(grid, scorer, n, full, trials)
    elif strategy == "coarse-to-fine":
        scores = _coarse_to_fine(grid, full)
    else:
        scores = _halving(grid, scorer, n, seed, eta, min_rows, trials)
    best = max(scores, key=lambda lam: (scores[lam], lam))
    return SearchResult(strategy=strategy, grid=list(grid), best=best, score=scores[best], trials=trials,
                        evaluations=round(scorer.cost, 4), on_edge=best in (grid[0], grid[-1]),
                        curve=_curve(trials))


def replay(curve: Mapping[float, float], strategy: str) -> SearchResult:
    """`strategy` run on a recorded λ curve ({λ: dev score on all rows}, as a run's results hold it) as it would
    have run live: it asks only for whole validation sets, each answered by the recorded score, so it makes
    the same choice for the same evaluations. `bracket` and `halving` read per-row predictions, which a
    recorded curve does not hold."""
    if strategy not in WHOLE_SET_STRATEGIES:
        raise SearchError(f"the λ search {strategy} reads per-row predictions, which a recorded curve does not "
                          f"hold; replay one of {', '.join(WHOLE_SET_STRATEGIES)}")
    scores = {round(float(lam), 10): float(score) for lam, score in curve.items()}
    return search(lambda lam, rows: [lam] * len(rows), lambda rows, made: scores[made[0]], n=1,
                  grid=sorted(scores), strategy=strategy)


def _curve(trials: Sequence[Trial]) -> list[tuple[float, float]]:
    most: dict[float, Trial] = {}
    for t in trials:
        if t.lam not in most or t.rows >= most[t.lam].rows:
            most[t.lam] = t
    return [(lam, most[lam].score) for lam in sorted(most)]


def _bracket(grid: list[float], scorer: _Scorer, n: int, full: Callable[[float, int], float],
             trials: list[Trial]) -> dict[float, float]:
    """Bisection of the grid, predicting a midpoint only where its bracket's ends disagree; returns real
    all-row scores of the ends and of the best midpoint (see the module docstring)."""
    rows = list(range(n))
    scores = {lam: full(lam, 0) for lam in (grid[0], grid[-1])}
    curve: dict[int, list[Any]] = {0: scorer.predictions(grid[0], rows),
                                    len(grid) - 1: scorer.predictions(grid[-1], rows)}
    inside: dict[float, float] = {}  # midpoints' scores with carried-over predictions
    pending = [(0, len(grid) - 1, 1)]
    while pending:
        lo, hi, depth = pending.pop()
        if hi - lo < 2:
            continue
        mid = (lo + hi) // 2
        differ = [r for r in rows if curve[lo][r] != curve[hi][r]]
        made = dict(zip(differ, scorer.predictions(grid[mid], differ), strict=True))
        curve[mid] = [made.get(r, curve[lo][r]) for r in rows]
        inside[grid[mid]] = float(scorer.metric(rows, curve[mid]))
        trials.append(Trial(grid[mid], inside[grid[mid]], n, depth, n - len(differ)))
        pending += [(lo, mid, depth + 1), (mid, hi, depth + 1)]
    if inside:
        pick = max(inside, key=lambda lam: (inside[lam], lam))
        if inside[pick] > max(scores.values()):  # one not above the better end is not worth making for real
            scores[pick] = full(pick, max(t.round for t in trials) + 1)
    return scores


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
