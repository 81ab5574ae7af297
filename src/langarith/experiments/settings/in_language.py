"""Paper 1, Table 6 (in-language): each seen language's own labeled data, scored on that language — a LoRA and a
LoKr task module per language, their multilingual variants (one module on every seen language's data, twice
the steps), and full fine-tuning of the whole model on the language's data, the baseline PEFT is measured
against. Control: `base`, the base model prompted without any training, what the prompt format alone gives."""

from __future__ import annotations

from langarith.experiments.cells import Cell
from langarith.experiments.runner import Runner
from langarith.experiments.setting import fixed_rows, setting

METHODS = ("lora", "lokr")
ROWS = ("base", *METHODS, *(f"{m}-multilingual" for m in METHODS), "full")


@setting("in-language", rows=fixed_rows(*ROWS), baseline="full", runner=Runner, seen_targets=True,
         controls={row: "base" for row in ROWS if row not in ("base", "full")})
def in_language(run: Runner, target: str) -> dict[str, Cell]:
    rows = run.config.rows
    made: dict[str, Cell] = {}
    if "base" in rows:
        made["base"] = run.fixed("base", target, None, note="the base model, prompted, untrained")
    for method in METHODS:
        if method in rows:
            made[method] = run.fixed(method, target, run.load(run.task_module(target, method)))
        if f"{method}-multilingual" in rows:
            made[f"{method}-multilingual"] = run.fixed(f"{method}-multilingual", target,
                                                       run.load(run.multilingual_module(method)))
    if "full" in rows:
        made["full"] = run.whole_model("full", target, run.task_module(target, "full"),
                                       note="every weight fine-tuned on the target's data")
    return made
