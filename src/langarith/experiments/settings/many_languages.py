"""Paper 1, Task-in-Many-Languages: task modules of several sources for an unseen target — the best single
source (on dev) and one multilingual module as baselines, Add all and Add related (eq. 3), Add & Subtract
related (eq. 4); controls: `add-random` (as many sources drawn at random as Add related uses, several draws)
and `related-scaled` (related ×λ). Related sources: those the config pins, else the config's `typology:` rule
(`Config.related_to`). Beyond the paper, `add-weighted`: every source weighted by softmax(−d/τ) of its typological
distance to the target, τ chosen on dev among `TAUS`."""

from __future__ import annotations

import random

from langarith.arith.recipes import add_all, add_related, add_subtract_related, add_weighted, scaled
from langarith.experiments.family import DECODER
from langarith.experiments.plan import Averaged, BestOf, Fixed, Row, Tuned, language, multilingual, of, task, the
from langarith.experiments.setting import fixed_rows, setting, these

ROWS = ("best-single", "multilingual", "add-all", "add-related", "add-random", "add-weighted",
        "add-subtract-related", "related-scaled")
#: add-weighted's temperatures, tried on dev: from nearly the nearest source alone (0.03) to nearly Add all (1)
TAUS = (0.03, 0.1, 0.3, 1.0)


def draws(seed: int, target: str, among: list[str], k: int, n: int) -> list[list[str]]:
    """`n` draws of `k` of `among` at random, the same on every machine for (seed, target)."""
    rng = random.Random(f"{seed}-{target}")
    return [sorted(rng.sample(sorted(among), k)) for _ in range(n)]


@setting("many-languages", rows=fixed_rows(*ROWS), baseline="best-single", family=DECODER,
         controls={"add-related": "add-random", "add-subtract-related": "related-scaled"},
         label_free=these("add-subtract-related"))
def many_languages(config, target: str) -> list[Row]:
    chosen = config.related_to(target)
    related, note = chosen.codes, chosen.note
    tasks = {s: task(s) for s in config.sources}
    distance = config.distances_to(target)
    langs = {code: language(code) for code in [target, *related]}
    random_sets = draws(config.seed, target, list(tasks), len(related), config.spend.random_draws)
    return [
        BestOf(name="best-single", candidates={s: the(t) for s, t in tasks.items()}, note="source {best} (best on dev)",
               dev_line="best single ({best}, dev)"),
        Fixed(name="multilingual", build=the(multilingual(config.sources))),
        Fixed(name="add-all", build=of(add_all, list(tasks.values()))),
        Fixed(name="add-related", build=of(add_related, tasks, related), note=note),
        Averaged(name="add-random", draws=tuple(("+".join(d), of(add_related, tasks, d)) for d in random_sets),
                 note=f"{len(random_sets)} draws of {len(related)}: "),
        BestOf(name="add-weighted", candidates={f"{tau:g}": of(add_weighted, tasks, distance, tau=tau) for tau in TAUS},
               note=f"softmax(−d/τ), τ = {{best}} (best on dev), d = {config.typology.kind} distance",
               dev_line="add-weighted (τ = {best}, dev)"),
        Tuned(name="related-scaled", build=of(scaled, of(add_related, tasks, related)), note=note),
        Tuned(name="add-subtract-related", note=note,
              build=of(add_subtract_related, task=tasks, lang=langs, target=target, related=related)),
    ]
