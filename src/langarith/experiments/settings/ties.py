"""Paper 2, TIES-merging against language arithmetic on the zero-shot targets: TIES keeps the top 20% or 80%
of each of (en, rel), elects signs, averages what agrees and scales by λ ∈ [0.8, 1.8]; the zero-shot rows
(LA and its proxies) stand beside it, and LA is each TIES row's control."""

from __future__ import annotations

from langarith.arith.merges import merge
from langarith.arith.merges.ties import PAPER_LAMBDAS
from langarith.experiments.family import MADX
from langarith.experiments.plan import Row, Tuned, language, of
from langarith.experiments.setting import fixed_rows, setting, these
from langarith.experiments.settings.zero_shot import ROWS, la_against_proxies
from langarith.scoring.search import lambda_grid

TOP_K = (20, 80)  # percent of each adapter TIES keeps


@setting("ties", rows=fixed_rows(*ROWS, *(f"ties-{k}" for k in TOP_K)), baseline="best-proxy", needs_pool=True,
         controls={"la": "en-scaled", **{f"ties-{k}": "la" for k in TOP_K}}, label_free=these("la"), family=MADX,
         single_source=True)
def ties(config, target: str) -> list[Row]:
    source = config.sources[0]
    rel_code, note = config.partner_of(target, source)
    en, rel = language(source), language(rel_code)
    grid = tuple(lambda_grid(config.spend.lambda_step, *PAPER_LAMBDAS))
    return [*la_against_proxies(config, target),
            *(Tuned(name=f"ties-{k}", build=of(merge, "ties", [en, rel], top_k=k / 100), note=note, grid=grid)
              for k in TOP_K)]
