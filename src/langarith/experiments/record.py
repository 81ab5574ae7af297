"""What a run leaves for its report: the cells and everything said about how they were made. The runner fills
one in; `experiments.report` writes results.csv / results.json / results.md from it and nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langarith.experiments.cells import Cell


@dataclass
class RunRecord:
    config: Any
    out: Path
    metric: str  # the task's primary metric
    baseline: str  # the row every cell is tested against (the setting's; rows with baselines of their own aside)
    cells: list[Cell]
    seconds: float
    stages: dict[str, float]  # wall time per stage: train, compose, tune, test
    eval_precision: str
    flags: list[str] = field(default_factory=list)
    stopped: str | None = None  # why the run stopped early (its deadline), if it did
    dev_lines: dict[str, dict[str, float]] = field(default_factory=dict)  # target → baselines' dev scores
    vectors: list[Any] = field(default_factory=list)  # what the cosine and density plots compare
    inputs: dict[str, Path | str | None] = field(default_factory=dict)  # name → path: the config file, the dataset
    #: the setting's own figures: (this record) → the lines results.md shows, each drawing its file into `out`
    figures: Sequence[Callable[[RunRecord], list[str]]] = ()
    modules: list[dict[str, Any]] = field(default_factory=list)  # how each module trained (`experiments.trained`)
