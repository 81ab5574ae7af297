"""Paper 2, relatedness ablation: for one target, every language of a pool as LA's partner, LA(en, p); each
note gives p's URIEL distance to the target."""

from __future__ import annotations

from langarith.arith.recipes import la
from langarith.experiments.family import MADX
from langarith.experiments.plan import Fixed, Row, Tuned, language, of, the
from langarith.experiments.setting import setting
from langarith.languages.typology import distance


def rows(config) -> list[str]:
    return ["madx-en", *(f"la-{p}" for p in config.pool)]


@setting("relatedness", rows=rows, baseline="madx-en", needs_pool=True, label_free=lambda row: row.startswith("la-"),
         family=MADX, single_source=True)
def relatedness(config, target: str) -> list[Row]:
    source = config.sources[0]
    en = language(source)
    return [Fixed(name="madx-en", build=the(en)),
            *(Tuned(name=f"la-{code}", build=of(la, en, language(code)),
                    note=f"URIEL distance {code}–{target}: {distance(code, target):.3f}")
              for code in config.pool if code != source)]
