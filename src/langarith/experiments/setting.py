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
    rows: Callable[[Any], list[str]]  # config → every row name, in order (from its pool, token budgets, sources…)
    baseline: str  # the row every cell is tested against (*)
    family: Any  # the model family it runs on (`experiments.family`: DECODER, or MADX adapters on an encoder)
    controls: Mapping[str, str] = field(default_factory=dict)  # row → the control it is also tested against (†)
    control_of: Callable[[str], str | None] | None = None  # for rows named by a parameter (la-en-10k → direct-10k)
    #: for rows named by a parameter, each with a baseline of its own (add-subtract:eng_Latn → baseline:eng_Latn)
    baseline_of: Callable[[str], str | None] | None = None
    single_source: bool = False  # one task module's language (the config's one source)
    needs_pool: bool = False  # partners' language adapters
    needs_token_budgets: bool = False
    seen_targets: bool = False  # targets are languages with training data (in-language): each must be a source
    unseen_targets: bool = False  # targets are languages without training data: none may be a source
    needs_source_counts: bool = False  # the config's source_counts: numbers of sources, each at most the sources'
    #: the λ rows that get label-free twins (`la@unlabeled`, …) when a config asks for them: the paper's method
    #: rows, not their controls
    label_free: Callable[[str], bool] = lambda row: False
    #: the setting's own figures (paper 1's Figure 2): each draws from a run's record (`experiments.record`) into
    #: its folder and gives the lines results.md shows
    figures: tuple[Callable[[Any], list[str]], ...] = ()

    def baseline_for(self, row: str) -> str:
        """The row `row` is tested against (*): the one `baseline_of` names for it (a label-free twin: for the row
        it twins), else the setting's baseline."""
        if self.baseline_of is not None and (found := self.baseline_of(row.split(LABEL_FREE_MARK)[0])):
            return found
        return self.baseline

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
        for seen, wanted in ((True, self.seen_targets), (False, self.unseen_targets)):
            wrong = [t for t in config.targets if any(same_language(t, s) for s in config.sources) != seen]
            if wanted and wrong:
                return (f"{self.name} evaluates {'' if seen else 'un'}seen languages: targets {', '.join(wrong)} are "
                        f"{'not ' if seen else ''}among the sources")
        if self.needs_token_budgets and not config.spend.token_budgets:
            return f"{self.name} needs token_budgets in the budget (e.g. [10000, 100000])"
        if self.needs_source_counts:
            return _check_counts(self.name, config.source_counts, len(config.sources))
        return None


def _check_counts(setting: str, counts: Sequence[int], sources: int) -> str | None:
    """What is wrong with a config's `source_counts` (None: nothing)."""
    if not counts:
        return f"{setting} needs source_counts: how many sources each row averages (e.g. [1, 2, 4])"
    outside = [k for k in counts if not 1 <= k <= sources]
    if outside:
        return f"source_counts {outside} are not between 1 and the config's {sources} sources"
    if len(set(counts)) < len(counts):
        return f"source_counts {list(counts)} name one count twice"
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


def fixed_rows(*rows: str) -> Callable[[Any], list[str]]:
    """The rows of a setting whose table does not depend on the config (its pool, token budgets, sources…)."""
    return lambda config: list(rows)


def setting(name: str, **declared: Any) -> Callable[[Callable[[Any, str], list[Any]]], Callable]:
    """Register the decorated `table(config, target)` as the setting `name` (see `Setting` for the rest)."""

    def wrap(table: Callable[[Any, str], list[Any]]) -> Callable[[Any, str], list[Any]]:
        SETTINGS.register(Setting(name, table, **declared))
        return table

    return wrap
