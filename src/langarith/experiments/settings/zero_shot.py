"""Paper 2, zero-shot: the target has no language adapter of its own. LA(en, rel) = λ·en + (1−λ)·rel, with
rel the pool language nearest to the target by URIEL, against its proxies — its ends, en alone (λ = 1) and rel
alone (λ = 0), the better on dev reported as `best-proxy` — and its control `en-scaled` (λ·en, the same λ
search): does the partner matter, or would shrinking the English adapter alone do as well?"""

from __future__ import annotations

from typing import Any

from langarith.arith.recipes import la, scaled
from langarith.experiments.cells import Cell, better_on_dev
from langarith.experiments.madx_runner import MadxRunner
from langarith.experiments.setting import fixed_rows, setting, these

ROWS = ("madx-en", "madx-rel", "best-proxy", "en-scaled", "la")
MADX = {"runner": MadxRunner, "single_source": True, "method": "bottleneck"}  # what every paper-2 setting shares


def partner_modules(run: MadxRunner, target: str) -> list[Any]:
    """What LA(en, rel) needs, trained ahead: en's and rel's language adapters and the task adapter."""
    return [run.language_module(run.source), run.language_module(run.partner(target)[0]), run.task_module(run.source)]


def la_against_proxies(run: MadxRunner, target: str) -> tuple[dict[str, Cell], Any, Any, str]:
    """The zero-shot rows for `target`, and what the TIES rows reuse: the en and rel adapters and rel's note."""
    en = run.language(run.source)
    rel_code, note = run.partner(target)
    rel = run.language(rel_code)
    made = {"madx-en": run.fixed("madx-en", target, en), "madx-rel": run.fixed("madx-rel", target, rel, note)}
    dev = {"madx-en": run.dev_score(en, target), "madx-rel": run.dev_score(rel, target)}
    run.dev_lines[target] = {f"{run.source} alone (dev)": dev["madx-en"], f"{rel_code} alone (dev)": dev["madx-rel"]}
    made["best-proxy"] = better_on_dev("best-proxy", made, dev)
    if "en-scaled" in run.config.rows:
        made["en-scaled"] = run.tuned("en-scaled", target, lambda lam: scaled(en, lam=lam))
    made["la"] = run.tuned("la", target, lambda lam: la(en, rel, lam=lam), note)
    return made, en, rel, note


@setting("zero-shot", rows=fixed_rows(*ROWS), baseline="best-proxy", controls={"la": "en-scaled"}, needs_pool=True,
         label_free=these("la"), modules=partner_modules, **MADX)
def zero_shot(run: MadxRunner, target: str) -> dict[str, Cell]:
    return la_against_proxies(run, target)[0]
