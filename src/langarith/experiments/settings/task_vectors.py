"""Paper 2, Appendix E: language vectors are alike, task vectors are not — the premise that lets languages, and
not tasks, be added and subtracted. One task adapter per source language, each trained on its own language's
data on its language adapter, next to the language adapters; the report compares what training changed
(Δθ = θ − θ₀) within each kind: mean pairwise cosine and weight density.

Its rows also say whether those task adapters learned the task: `in-language` (the target's own task adapter,
on its language adapter) against the baseline `madx-en` (the source's task adapter on the target's language
adapter, MAD-X's cross-lingual transfer)."""

from __future__ import annotations

from langarith.experiments.cells import Cell
from langarith.experiments.madx_runner import MadxRunner
from langarith.experiments.setting import fixed_rows, setting


@setting("task-vectors", rows=fixed_rows("madx-en", "in-language"), baseline="madx-en", runner=MadxRunner,
         method="bottleneck", seen_targets=True,
         modules=lambda run, target: [run.task_module(run.source), run.task_module(target)])
def task_vectors(run: MadxRunner, target: str) -> dict[str, Cell]:
    own = run.language(target)
    run.language(run.source)  # the analysis compares every language vector trained…
    run.load(run.task_module(target))  # …and every task vector, also when the cells are on record
    return {
        "madx-en": run.fixed("madx-en", target, own, note=f"{run.source}'s task adapter on {target}'s language "
                             "adapter"),
        "in-language": run.fixed("in-language", target, own, note=f"{target}'s own task adapter",
                                 evaluator=lambda: run.task_evaluator(target)),
    }
