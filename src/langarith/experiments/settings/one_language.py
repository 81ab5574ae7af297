"""Paper 1, Task-in-One-Language: the source's task module (baseline) against Add (eq. 1) and Add & Subtract
(eq. 2) with the target's and the source's language modules, λ chosen on dev, each beside its control
`task-scaled` (task ×λ: the same λ without any language module)."""

from __future__ import annotations

from pathlib import Path

from langarith.arith.recipes import add, add_subtract, scaled
from langarith.experiments.cells import Cell
from langarith.experiments.runner import Runner
from langarith.experiments.setting import fixed_rows, setting, these


def modules(run: Runner, target: str) -> list[Path]:
    """The task module and the language modules the rows asked for use, trained ahead."""
    rows, source = run.config.rows, run.config.sources[0]
    return [run.task_module(source),
            *([run.language_module(target)] if any(m in rows for m in ("add", "add-subtract")) else []),
            *([run.language_module(source)] if "add-subtract" in rows else [])]


@setting("one-language", rows=fixed_rows("baseline", "task-scaled", "add", "add-subtract"), baseline="baseline",
         controls={"add": "task-scaled", "add-subtract": "task-scaled"}, runner=Runner, single_source=True,
         label_free=these("add", "add-subtract"), modules=modules)
def one_language(run: Runner, target: str) -> dict[str, Cell]:
    rows, source = run.config.rows, run.config.sources[0]
    task = run.load(run.task_module(source))
    lang_t = run.load(run.language_module(target)) if any(m in rows for m in ("add", "add-subtract")) else None
    lang_s = run.load(run.language_module(source)) if "add-subtract" in rows else None
    made: dict[str, Cell] = {}
    run.dev_lines[target] = {"baseline (dev)": run.dev_score(task, target)}
    if "baseline" in rows:
        made["baseline"] = run.fixed("baseline", target, task)
    if "task-scaled" in rows:
        made["task-scaled"] = run.tuned("task-scaled", target, lambda lam: scaled(task, lam=lam))
    if "add" in rows:
        made["add"] = run.tuned("add", target, lambda lam: add(task=task, target=lang_t, lam=lam))
    if "add-subtract" in rows:
        made["add-subtract"] = run.tuned("add-subtract", target,
                                         lambda lam: add_subtract(task=task, target=lang_t, source=lang_s, lam=lam))
    return made
