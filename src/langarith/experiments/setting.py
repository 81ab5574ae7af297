"""An experiment setting — one of the papers' tables — as one registered object: its rows, its baseline, the
control each row is tested against, what a config for it needs, the model family it runs on, and the plan of
its table for one target (`langarith.experiments.plan`: each row names the modules it needs and the recipe
that builds it). Adding a setting is adding one file under `experiments/settings/` that calls `setting(...)`;
nothing else in langarith names it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from langarith.core.errors import LangarithError
from langarith.core.registry import Registry
from langarith.languages.codes import same_language


class ExperimentError(LangarithError):
    """An experiment config is invalid or cannot run as written."""


@dataclass(frozen=True)
class Setting:
    name: str
    table: Callable[[Any, str], list[Any]]  # (config, target) → the table's rows for it, in order (plan.Row)
    rows: Callable[[Sequence[str], Sequence[int]], list[str]]  # (pool, token budgets) → every row name, in order
    baseline: str  # the row every cell is tested against (*)
    family: Any  # the model family it runs on (`experiments.family`: DECODER, or MADX adapters on an encoder)
    controls: Mapping[str, str] = field(default_factory=dict)  # row → the control it is also tested against (†)
    control_of: Callable[[str], str | None] | None = None  # for rows named by a parameter (la-en-10k → direct-10k)
    single_source: bool = False  # one task module's language (the config's one source)
    needs_pool: bool = False  # partners' language adapters
    needs_token_budgets: bool = False
    seen_targets: bool = False  # targets are languages with training data (in-language): each must be a source
    #: the λ rows that get label-free twins (`la@unlabeled`, …) when a config asks for them: the paper's method
    #: rows, not their controls
    label_free: Callable[[str], bool] = lambda row: False

    def control(self, row: str) -> str | None:
        """The row `row` is compared with besides the baseline (None: none). A label-free row's control is the
        row it twins, whose λ labeled target data chose."""
        if LABEL_FREE_MARK in row:
            return row.split(LABEL_FREE_MARK)[0]
        if self.control_of is not None and (found := self.control_of(row)):
            return found
        return self.controls.get(row)

    def check(self, config: Any) -> str | None:
        """What is wrong with a config of this setting, as one line (None: nothing)."""
        if self.single_source and len(config.sources) != 1:
            return f"{self.name} experiments have exactly one source (the task module's language)"
        if self.family.method and config.method != self.family.method:
            return f"{self.name} is language arithmetic on MAD-X adapters: set method: {self.family.method}"
        if self.needs_pool and not config.pool:
            return f"{self.name} needs a pool: the languages whose adapters may be partners"
        if self.seen_targets:
            unseen = [t for t in config.targets if not any(same_language(t, s) for s in config.sources)]
            if unseen:
                return f"{self.name} evaluates seen languages: targets {', '.join(unseen)} are not among the sources"
        if self.needs_token_budgets and not config.spend.token_budgets:
            return f"{self.name} needs token_budgets in the budget (e.g. [10000, 100000])"
        return None


SETTINGS: Registry[Setting] = Registry("experiment setting", ExperimentError, group="settings")
LABEL_FREE_MARK = "@"  # `la@transfer`: the row `la` with λ chosen by the label-free strategy `transfer`


def with_label_free(setting: Setting, rows: Sequence[str], strategies: Sequence[str]) -> list[str]:
    """`rows` with each label-free twin right after the row it twins."""
    out: list[str] = []
    for row in rows:
        out.append(row)
        if setting.label_free(row):
            out += [f"{row}{LABEL_FREE_MARK}{s}" for s in strategies]
    return out


def these(*rows: str) -> Callable[[str], bool]:
    """`label_free=` for a setting whose method rows have fixed names."""
    return lambda row: row in rows


def fixed_rows(*rows: str) -> Callable[[Sequence[str], Sequence[int]], list[str]]:
    """The rows of a setting whose table does not depend on the pool or the token budgets."""
    return lambda pool, budgets: list(rows)


def setting(name: str, **declared: Any) -> Callable[[Callable[[Any, str], list[Any]]], Callable]:
    """Register the decorated `table(config, target)` as the setting `name` (see `Setting` for the rest)."""

    def wrap(table: Callable[[Any, str], list[Any]]) -> Callable[[Any, str], list[Any]]:
        SETTINGS.register(Setting(name, table, **declared))
        return table

    return wrap
