"""Paper 1, Figure 2: Task-in-One-Language for every task-vector language. For each source S (a task module's
language) and unseen target T: S's task module alone (`baseline:S`, the baseline of S's rows), its control
task ×λ (`task-scaled:S`) and Add & Subtract (eq. 2) with T's and S's language modules (`add-subtract:S`),
λ chosen on T's dev. The report draws the figure: the relative gain (%) of `add-subtract:S` over `baseline:S`,
rows = task-vector languages, columns = targets."""

from __future__ import annotations

from typing import Any

from langarith.analysis import plots
from langarith.arith.recipes import add_subtract, scaled
from langarith.experiments.family import DECODER
from langarith.experiments.plan import Fixed, Row, Tuned, language, of, task, the
from langarith.experiments.setting import setting

ROWS = ("baseline", "task-scaled", "add-subtract")  # each once per source: `baseline:eng_Latn`, …
MARK = ":"
FIGURE = "figure2.png"


def named(row: str, source: str) -> str:
    """`add-subtract`, `eng_Latn` → `add-subtract:eng_Latn`: the row for the task module of `source`."""
    return f"{row}{MARK}{source}"


def parts(name: str) -> tuple[str, str]:
    """`add-subtract:eng_Latn` → (`add-subtract`, `eng_Latn`); a name without a source → (name, "")."""
    row, _, source = name.partition(MARK)
    return row, source


def rows(config: Any) -> list[str]:
    return [named(row, source) for source in config.sources for row in ROWS]


def baseline_of(name: str) -> str | None:
    """Every row is tested against its own source's task module alone."""
    source = parts(name)[1]
    return named("baseline", source) if source else None


def control_of(name: str) -> str | None:
    """Add & Subtract is tested against the same source's task ×λ."""
    row, source = parts(name)
    return named("task-scaled", source) if row == "add-subtract" else None


def figure_2(run: Any) -> list[str]:
    """Paper 1's Figure 2 from a run's record: the relative gain (%) of Add & Subtract over the same source's
    task module alone, per task-vector language and target (grey where the baseline scored 0 or a cell is
    missing); no figure when no gain is defined."""
    score = {(c.method, c.target): c.score for c in run.cells if c.score is not None}
    gain: dict[tuple[str, str], float | None] = {}
    for source in run.config.sources:
        for target in run.config.targets:
            base = score.get((named("baseline", source), target))
            made = score.get((named("add-subtract", source), target))
            gain[source, target] = 100.0 * (made - base) / base if base and made is not None else None
    if all(value is None for value in gain.values()):
        return []
    plots.improvement_heatmap(gain, run.out / FIGURE, title="Add & Subtract: relative gain over the task module "
                              "alone (%)", row_label="task-vector language", col_label="target language")
    return ["", "Paper 1, Figure 2: the relative gain (%) of `add-subtract:S` over `baseline:S`, per task-vector "
            "language S (rows) and target (columns).", "", f"![paper 1, Figure 2]({FIGURE})"]


@setting("cross-language", rows=rows, baseline="baseline", baseline_of=baseline_of, control_of=control_of,
         label_free=lambda name: parts(name)[0] == "add-subtract", family=DECODER, unseen_targets=True,
         figures=(figure_2,))
def cross_language(config: Any, target: str) -> list[Row]:
    made: list[Row] = []
    for source in config.sources:
        task_s, lang_t, lang_s = task(source), language(target), language(source)
        made += [Fixed(name=named("baseline", source), build=the(task_s)),
                 Tuned(name=named("task-scaled", source), build=of(scaled, task_s)),
                 Tuned(name=named("add-subtract", source),
                       build=of(add_subtract, task=task_s, target=lang_t, source=lang_s))]
    return made
