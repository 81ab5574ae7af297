"""Paper 2, enhancement: the target has its own language adapter (MAD-X, the baseline) — LA(en, T) and
LA(rel, T), with rel the pool language nearest to the target, and `la-best`, the one better on dev."""

from __future__ import annotations

from langarith.arith.recipes import la
from langarith.experiments.cells import Cell, better_on_dev
from langarith.experiments.madx_runner import MadxRunner
from langarith.experiments.setting import fixed_rows, setting, these
from langarith.experiments.settings.zero_shot import MADX, partner_modules


@setting("enhancement", rows=fixed_rows("madx", "la-en", "la-rel", "la-best"), baseline="madx", needs_pool=True,
         label_free=these("la-en", "la-rel"), **MADX,
         modules=lambda run, target: [*partner_modules(run, target), run.language_module(target)])
def enhancement(run: MadxRunner, target: str) -> dict[str, Cell]:
    en = run.language(run.source)
    rel_code, note = run.partner(target)
    own, rel = run.language(target), run.language(rel_code)
    made = {"madx": run.fixed("madx", target, own)}
    run.dev_lines[target] = {f"{target} alone (dev)": run.dev_score(own, target)}
    made["la-en"] = run.tuned("la-en", target, lambda lam: la(en, own, lam=lam))
    made["la-rel"] = run.tuned("la-rel", target, lambda lam: la(rel, own, lam=lam), note)
    made["la-best"] = better_on_dev("la-best", made, {m: made[m].dev for m in ("la-en", "la-rel")})
    return made
