"""Paper 2, relatedness ablation: for one target, every language of a pool as LA's partner, LA(en, p); each
note gives p's URIEL distance to the target."""

from __future__ import annotations

from collections.abc import Sequence

from langarith.arith.recipes import la
from langarith.experiments.cells import Cell
from langarith.experiments.madx_runner import MadxRunner
from langarith.experiments.setting import setting
from langarith.experiments.settings.zero_shot import MADX
from langarith.languages.typology import distance


def rows(pool: Sequence[str], budgets: Sequence[int]) -> list[str]:
    return ["madx-en", *(f"la-{p}" for p in pool)]


@setting("relatedness", rows=rows, baseline="madx-en", needs_pool=True, label_free=lambda row: row.startswith("la-"),
         modules=lambda run, target: [run.task_module(run.source),
                                      *(run.language_module(code) for code in run.config.pool)], **MADX)
def relatedness(run: MadxRunner, target: str) -> dict[str, Cell]:
    en = run.language(run.source)
    made = {"madx-en": run.fixed("madx-en", target, en)}
    for code in run.config.pool:
        if code == run.source:
            continue
        partner = run.language(code)
        made[f"la-{code}"] = run.tuned(f"la-{code}", target, lambda lam, p=partner: la(en, p, lam=lam),
                                       note=f"URIEL distance {code}–{target}: {distance(code, target):.3f}")
    return made
