"""Paper 2, low resource: the target's language adapter trained on only its first b tokens of text, used
directly (`direct-b`) or as LA(T_b, en) = λ·T_b + (1−λ)·en (`la-en-b`, tested against `direct-b`)."""

from __future__ import annotations

from langarith.arith.recipes import la
from langarith.experiments.family import MADX
from langarith.experiments.plan import Fixed, Row, Tuned, language, of, the
from langarith.experiments.setting import setting


def budget_label(tokens: int) -> str:
    """10000 → 10k, 1000000 → 1M: how the low-resource rows are named."""
    for size, suffix in ((1_000_000, "M"), (1_000, "k")):
        if tokens >= size and tokens % size == 0:
            return f"{tokens // size}{suffix}"
    return str(tokens)


def rows(config) -> list[str]:
    budgets = config.spend.token_budgets or []
    return ["madx-en", *(row for b in budgets for row in (f"direct-{budget_label(b)}", f"la-en-{budget_label(b)}"))]


def control_of(row: str) -> str | None:
    """LA at b tokens is compared with the adapter of b tokens used directly."""
    return "direct-" + row[len("la-en-"):] if row.startswith("la-en-") else None


@setting("low-resource", rows=rows, baseline="madx-en", control_of=control_of, needs_token_budgets=True,
         label_free=lambda row: row.startswith("la-en-"), family=MADX, single_source=True)
def low_resource(config, target: str) -> list[Row]:
    source = config.sources[0]
    en = language(source)
    made: list[Row] = [Fixed(name="madx-en", build=the(en), dev_line=f"{source} alone (dev)")]
    for budget in config.spend.token_budgets or []:
        own, label = language(target, budget), budget_label(budget)
        made += [Fixed(name=f"direct-{label}", build=the(own), note=f"{target} adapter on its first {budget:,} tokens"),
                 Tuned(name=f"la-en-{label}", build=of(la, own, en))]
    return made
