"""Paper 2, enhancement: the target has its own language adapter (MAD-X, the baseline) — LA(en, T) and
LA(rel, T), with rel the pool language pinned or nearest to the target, and `la-best`, the one better on dev."""

from __future__ import annotations

from langarith.arith.recipes import la
from langarith.experiments.family import MADX
from langarith.experiments.plan import BetterOnDev, Fixed, Row, Tuned, language, of, the
from langarith.experiments.setting import fixed_rows, setting, these


@setting("enhancement", rows=fixed_rows("madx", "la-en", "la-rel", "la-best"), baseline="madx", needs_pool=True,
         label_free=these("la-en", "la-rel"), family=MADX, single_source=True)
def enhancement(config, target: str) -> list[Row]:
    source = config.sources[0]
    rel_code, note = config.partner_of(target, source)
    en, rel, own = language(source), language(rel_code), language(target)
    return [Fixed(name="madx", build=the(own), dev_line=f"{target} alone (dev)"),
            Tuned(name="la-en", build=of(la, en, own)),
            Tuned(name="la-rel", build=of(la, rel, own), note=note),
            BetterOnDev(name="la-best", among=("la-en", "la-rel"))]
