"""Paper 2, TIES-merging against language arithmetic on the zero-shot targets: TIES keeps the top 20% or 80%
of each of (en, rel), elects signs, averages what agrees and scales by λ ∈ [0.8, 1.8]; the zero-shot rows
(LA and its proxies) stand beside it, and LA is each TIES row's control."""

from __future__ import annotations

from langarith.arith.merges import merge
from langarith.arith.merges.ties import PAPER_LAMBDAS
from langarith.experiments.cells import Cell
from langarith.experiments.madx_runner import MadxRunner
from langarith.experiments.setting import fixed_rows, setting, these
from langarith.experiments.settings.zero_shot import MADX, ROWS, la_against_proxies, partner_modules
from langarith.scoring.search import lambda_grid

TOP_K = (20, 80)  # percent of each adapter TIES keeps


@setting("ties", rows=fixed_rows(*ROWS, *(f"ties-{k}" for k in TOP_K)), baseline="best-proxy", needs_pool=True,
         controls={"la": "en-scaled", **{f"ties-{k}": "la" for k in TOP_K}}, label_free=these("la"),
         modules=partner_modules, **MADX)
def ties(run: MadxRunner, target: str) -> dict[str, Cell]:
    made, en, rel, note = la_against_proxies(run, target)
    grid = lambda_grid(run.config.spend.lambda_step, *PAPER_LAMBDAS)
    for k in TOP_K:
        made[f"ties-{k}"] = run.tuned(f"ties-{k}", target,
                                      lambda lam, k=k: merge("ties", [en, rel], top_k=k / 100, lam=lam), note,
                                      grid=grid)
    return made
