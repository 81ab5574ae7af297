"""Paper 1, Task-in-Many-Languages: task modules of several sources for an unseen target — the best single
source (on dev) and one multilingual module as baselines, Add all and Add related (eq. 3), Add & Subtract
related (eq. 4); controls: `add-random` (as many sources drawn at random as Add related uses, several draws)
and `related-scaled` (related ×λ). Related sources by the one rule of `langarith.languages.typology`."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from langarith.arith.recipes import add_all, add_related, add_subtract_related, scaled
from langarith.experiments.cells import Cell
from langarith.experiments.runner import Runner
from langarith.experiments.setting import fixed_rows, setting, these

ROWS = ("best-single", "multilingual", "add-all", "add-related", "add-random", "add-subtract-related",
        "related-scaled")


def modules(run: Runner, target: str) -> list[Path]:
    """Every source's task module, the multilingual one and the language modules of the target and its
    related sources, as the rows ask for them: trained ahead."""
    cfg, rows = run.config, run.config.rows
    related = cfg.related_to(target).codes
    return [*(run.task_module(s) for s in cfg.sources),
            *([run.multilingual_module()] if "multilingual" in rows else []),
            *(run.language_module(code) for code in [target, *related] if "add-subtract-related" in rows)]


@setting("many-languages", rows=fixed_rows(*ROWS), baseline="best-single", runner=Runner,
         controls={"add-related": "add-random", "add-subtract-related": "related-scaled"},
         label_free=these("add-subtract-related"), modules=modules)
def many_languages(run: Runner, target: str) -> dict[str, Cell]:
    cfg, rows = run.config, run.config.rows
    tasks = {s: run.load(run.task_module(s)) for s in cfg.sources}
    chosen = cfg.related_to(target)
    related, note = chosen.codes, chosen.note
    made: dict[str, Cell] = {}
    dev = {s: run.dev_score(tasks[s], target) for s in cfg.sources} if "best-single" in rows else {}
    if dev:
        best = max(dev, key=lambda s: (dev[s], s))
        run.dev_lines[target] = {f"best single ({best}, dev)": dev[best]}
        made["best-single"] = run.fixed("best-single", target, tasks[best], note=f"source {best} (best on dev)")
    if "multilingual" in rows:
        made["multilingual"] = run.fixed("multilingual", target, run.load(run.multilingual_module()))
    if "add-all" in rows:
        made["add-all"] = run.fixed("add-all", target, add_all(tasks.values()))
    if "add-related" in rows:
        made["add-related"] = run.fixed("add-related", target, add_related(tasks, related), note=note)
    if "add-random" in rows:
        made["add-random"] = random_sources(run, target, tasks, len(related))
    if "related-scaled" in rows:
        made["related-scaled"] = run.tuned("related-scaled", target,
                                           lambda lam: scaled(add_related(tasks, related), lam=lam), note)
    if "add-subtract-related" in rows:
        langs = {code: run.load(run.language_module(code)) for code in [target, *related]}
        made["add-subtract-related"] = run.tuned(
            "add-subtract-related", target,
            lambda lam: add_subtract_related(task=tasks, lang=langs, target=target, related=related, lam=lam), note)
    return made


def random_sources(run: Runner, target: str, tasks: dict[str, Any], k: int) -> Cell:
    """The control for add-related: k sources drawn at random (eq. 3 over them), averaged over several draws."""
    rng = random.Random(f"{run.config.seed}-{target}")
    draws = [sorted(rng.sample(sorted(tasks), k)) for _ in range(run.config.spend.random_draws)]

    def make() -> Cell:
        cells = [run.tested("add-random", target, run.compose(add_related(tasks, draw))) for draw in draws]
        first = cells[0]
        metrics = {m: sum(c.metrics[m] for c in cells) / len(cells) for m in first.metrics}
        note = f"{len(draws)} draws of {k}: " + ", ".join(f"{'+'.join(d)}={c.score:.1f}"
                                                          for d, c in zip(draws, cells, strict=True))
        return Cell("add-random", target, metrics[first.scores.primary], metrics, note=note, scores=first.scores,
                    predictions=first.predictions)

    return run.finish("add-random", target, make)
