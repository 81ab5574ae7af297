"""Beyond the papers: how Task-in-Many-Languages' Add related / Add all (eq. 3) changes with the number of sources
averaged. For each k of the config's `source_counts`, `nearest-k` is the mean of the task modules of the k sources
nearest to the target by the config's typology distance (`typology: kind`), beside its control `random-k`: k
sources drawn at random (several draws, as many-languages' add-random). At k = all sources both are Add all.
Baseline: the best single source on dev, as in many-languages. The report plots the score against k."""

from __future__ import annotations

from typing import Any

from langarith.analysis.sweep_plot import score_by_count
from langarith.arith.recipes import add_related
from langarith.experiments.family import DECODER
from langarith.experiments.plan import Averaged, BestOf, Fixed, Row, of, task, the
from langarith.experiments.setting import setting
from langarith.experiments.settings.many_languages import draws
from langarith.languages.typology import Rule, choose_related

KINDS = ("nearest", "random")  # each k's rows: `nearest-4`, `random-4`
FIGURE = "sources_sweep.png"


def rows(config: Any) -> list[str]:
    return ["best-single", *(f"{kind}-{k}" for k in config.source_counts for kind in KINDS)]


def control_of(name: str) -> str | None:
    """The k nearest sources are tested against k sources drawn at random."""
    return "random-" + name.removeprefix("nearest-") if name.startswith("nearest-") else None


def nearest(config: Any, target: str, k: int) -> list[str]:
    """The `k` sources nearest to `target` by the config's typology distance (ties as `typology.related` breaks
    them), spelled as the config's sources are."""
    return choose_related(target, config.sources, Rule(rule="top-k", kind=config.typology.kind, k=k)).codes


def count_of(name: str) -> tuple[str, int] | None:
    """`nearest-4` → (`nearest`, 4); another row → None."""
    kind, _, k = name.rpartition("-")
    return (kind, int(k)) if kind in KINDS and k.isdigit() else None


def sweep_figure(run: Any) -> list[str]:
    """Score against k, nearest and random, one line per target and their mean, with the best single source's
    mean score as a line."""
    lines: dict[str, dict[str, dict[int, float]]] = {}
    for cell in run.cells:
        found = count_of(cell.method)
        if found is not None and cell.score is not None:
            lines.setdefault(cell.target, {}).setdefault(found[0], {})[found[1]] = cell.score
    if not lines:
        return []
    best = [c.score for c in run.cells if c.method == "best-single" and c.score is not None]
    baselines = {"best single (mean over targets)": sum(best) / len(best)} if best else {}
    score_by_count(lines, run.out / FIGURE, baselines, metric=run.metric,
                   title=f"{run.config.name}: {run.metric} against the number of sources k")
    return ["", f"Score against the number of sources averaged: the k nearest by {run.config.typology.kind} distance "
            "(solid) and k drawn at random (dashed), per target and their mean (black).", "",
            f"![score against k]({FIGURE})"]


@setting("sources-sweep", rows=rows, baseline="best-single", control_of=control_of, family=DECODER,
         unseen_targets=True, needs_source_counts=True, figures=(sweep_figure,))
def sources_sweep(config: Any, target: str) -> list[Row]:
    tasks = {s: task(s) for s in config.sources}
    made: list[Row] = [BestOf(name="best-single", candidates={s: the(t) for s, t in tasks.items()},
                              note="source {best} (best on dev)", dev_line="best single ({best}, dev)")]
    for k in config.source_counts:
        chosen = nearest(config, target, k)
        every = k == len(tasks)  # every draw would be every source: one is enough
        random_sets = draws(config.seed, target, list(tasks), k, 1 if every else config.spend.random_draws)
        drawn = tuple(("+".join(d), of(add_related, tasks, d)) for d in random_sets)
        made += [Fixed(name=f"nearest-{k}", build=of(add_related, tasks, chosen),
                       note="every source (Add all)" if every else
                       f"the {k} nearest by {config.typology.kind}: {', '.join(chosen)}"),
                 Averaged(name=f"random-{k}", draws=drawn,
                          note=f"{len(drawn)} draw{'s' if len(drawn) > 1 else ''} of {k}: ")]
    return made
