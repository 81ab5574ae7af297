"""Paper 1, Table 6 (in-language): each seen language's own labeled data, scored on that language — a LoRA and a
LoKr task module per language, their multilingual variants (one module on every seen language's data, twice
the steps), and full fine-tuning of the whole model on the language's data, the baseline PEFT is measured
against. Control: `base`, the base model prompted without any training, what the prompt format alone gives."""

from __future__ import annotations

from langarith.experiments.family import DECODER
from langarith.experiments.plan import Fixed, Row, multilingual, task, the
from langarith.experiments.setting import fixed_rows, setting

METHODS = ("lora", "lokr")
ROWS = ("base", *METHODS, *(f"{m}-multilingual" for m in METHODS), "full")


@setting("in-language", rows=fixed_rows(*ROWS), baseline="full", family=DECODER, seen_targets=True,
         controls={row: "base" for row in ROWS if row not in ("base", "full")})
def in_language(config, target: str) -> list[Row]:
    rows: list[Row] = [Fixed(name="base", build=the(None), note="the base model, prompted, untrained")]
    for method in METHODS:
        rows += [Fixed(name=method, build=the(task(target, method))),
                 Fixed(name=f"{method}-multilingual", build=the(multilingual(config.sources, method)))]
    return [*rows, Fixed(name="full", build=the(None), on=task(target, "full"),
                         note="every weight fine-tuned on the target's data")]
