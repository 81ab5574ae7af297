"""Paper 2, zero-shot: the target has no language adapter of its own. LA(en, rel) = λ·en + (1−λ)·rel, with
rel the pool language the config pins or the one nearest to the target by URIEL (`Config.partner_of`), against
its proxies — its ends, en alone (λ = 1) and rel alone (λ = 0), the better on dev reported as `best-proxy` —
and its control `en-scaled` (λ·en, the same λ search): does the partner matter, or would shrinking the English
adapter alone do as well?"""

from __future__ import annotations

from langarith.arith.recipes import la, scaled
from langarith.experiments.family import MADX
from langarith.experiments.plan import BetterOnDev, Fixed, Row, Tuned, language, of, the
from langarith.experiments.setting import fixed_rows, setting, these

ROWS = ("madx-en", "madx-rel", "best-proxy", "en-scaled", "la")


def la_against_proxies(config, target: str) -> list[Row]:
    """The zero-shot rows for `target` (the TIES table shows them too)."""
    source = config.sources[0]
    rel_code, note = config.partner_of(target, source)
    en, rel = language(source), language(rel_code)
    return [Fixed(name="madx-en", build=the(en), dev_line=f"{source} alone (dev)"),
            Fixed(name="madx-rel", build=the(rel), note=note, dev_line=f"{rel_code} alone (dev)"),
            BetterOnDev(name="best-proxy", among=("madx-en", "madx-rel")),
            Tuned(name="en-scaled", build=of(scaled, en)),
            Tuned(name="la", build=of(la, en, rel), note=note)]


@setting("zero-shot", rows=fixed_rows(*ROWS), baseline="best-proxy", controls={"la": "en-scaled"}, needs_pool=True,
         label_free=these("la"), family=MADX, single_source=True)
def zero_shot(config, target: str) -> list[Row]:
    return la_against_proxies(config, target)
