"""Paper 2, low resource: the target's language adapter trained on only its first b tokens of text, used
directly (`direct-b`) or as LA(T_b, en) = λ·T_b + (1−λ)·en (`la-en-b`, tested against `direct-b`)."""

from __future__ import annotations

from collections.abc import Sequence

from langarith.arith.recipes import la
from langarith.experiments.cells import Cell
from langarith.experiments.madx_runner import MadxRunner
from langarith.experiments.setting import setting
from langarith.experiments.settings.zero_shot import MADX


def budget_label(tokens: int) -> str:
    """10000 → 10k, 1000000 → 1M: how the low-resource rows are named."""
    for size, suffix in ((1_000_000, "M"), (1_000, "k")):
        if tokens >= size and tokens % size == 0:
            return f"{tokens // size}{suffix}"
    return str(tokens)


def rows(pool: Sequence[str], budgets: Sequence[int]) -> list[str]:
    return ["madx-en", *(row for b in budgets for row in (f"direct-{budget_label(b)}", f"la-en-{budget_label(b)}"))]


def control_of(row: str) -> str | None:
    """LA at b tokens is compared with the adapter of b tokens used directly."""
    return "direct-" + row[len("la-en-"):] if row.startswith("la-en-") else None


@setting("low-resource", rows=rows, baseline="madx-en", control_of=control_of, needs_token_budgets=True,
         label_free=lambda row: row.startswith("la-en-"), **MADX,
         modules=lambda run, target: [run.task_module(run.source),
                                      *(run.language_module(target, b) for b in run.config.spend.token_budgets or [])])
def low_resource(run: MadxRunner, target: str) -> dict[str, Cell]:
    en = run.language(run.source)
    made = {"madx-en": run.fixed("madx-en", target, en)}
    run.dev_lines[target] = {f"{run.source} alone (dev)": run.dev_score(en, target)}
    for budget in run.config.spend.token_budgets or []:
        own, label = run.language(target, budget), budget_label(budget)
        made[f"direct-{label}"] = run.fixed(f"direct-{label}", target, own,
                                            note=f"{target} adapter on its first {budget:,} tokens")
        made[f"la-en-{label}"] = run.tuned(f"la-en-{label}", target, lambda lam, own=own: la(own, en, lam=lam))
    return made
