"""Paper 1, Task-in-One-Language: the source's task module (baseline) against Add (eq. 1) and Add & Subtract
(eq. 2) with the target's and the source's language modules, λ chosen on dev, each beside its control
`task-scaled` (task ×λ: the same λ without any language module)."""

from __future__ import annotations

from langarith.arith.recipes import add, add_subtract, scaled
from langarith.experiments.family import DECODER
from langarith.experiments.plan import Fixed, Row, Tuned, language, of, task, the
from langarith.experiments.setting import fixed_rows, setting, these


@setting("one-language", rows=fixed_rows("baseline", "task-scaled", "add", "add-subtract"), baseline="baseline",
         controls={"add": "task-scaled", "add-subtract": "task-scaled"}, family=DECODER, single_source=True,
         label_free=these("add", "add-subtract"))
def one_language(config, target: str) -> list[Row]:
    source = config.sources[0]
    task_s, lang_t, lang_s = task(source), language(target), language(source)
    return [Fixed(name="baseline", build=the(task_s), dev_line="baseline (dev)"),
            Tuned(name="task-scaled", build=of(scaled, task_s)),
            Tuned(name="add", build=of(add, task=task_s, target=lang_t)),
            Tuned(name="add-subtract", build=of(add_subtract, task=task_s, target=lang_t, source=lang_s))]
