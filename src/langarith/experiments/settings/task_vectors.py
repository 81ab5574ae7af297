"""Paper 2, Appendix E: language vectors are alike, task vectors are not — the premise that lets languages, and
not tasks, be added and subtracted. One task adapter per source language, each trained on its own language's
data on its language adapter, next to the language adapters; the report compares what training changed
(Δθ = θ − θ₀) within each kind: mean pairwise cosine and weight density.

Its rows also say whether those task adapters learned the task: `in-language` (the target's own task adapter,
on its language adapter) against the baseline `madx-en` (the source's task adapter on the target's language
adapter, MAD-X's cross-lingual transfer)."""

from __future__ import annotations

from langarith.experiments.family import MADX
from langarith.experiments.plan import Fixed, Row, language, task, the
from langarith.experiments.setting import fixed_rows, setting


@setting("task-vectors", rows=fixed_rows("madx-en", "in-language"), baseline="madx-en", family=MADX,
         seen_targets=True)
def task_vectors(config, target: str) -> list[Row]:
    own = language(target)
    return [Fixed(name="madx-en", build=the(own), note=f"{config.sources[0]}'s task adapter on {target}'s language "
                  "adapter"),
            Fixed(name="in-language", build=the(own), on=task(target), note=f"{target}'s own task adapter")]
