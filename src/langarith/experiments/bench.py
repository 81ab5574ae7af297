"""The evaluation bench of a run: the task's examples read once per language and split (dev and test checked
to be different rows), the evaluator the table is scored on, compositions made into the module evaluated, and
λ chosen — on dev with its labels, or by a label-free chooser (`langarith.scoring.choosers`). The search never
receives a test row.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from langarith.arith.algebra import ModuleVector
from langarith.core import timing
from langarith.evaluation.base import EvalResult, load_examples
from langarith.experiments.family import Family
from langarith.experiments.setting import ExperimentError
from langarith.scoring.choosers import Evidence, get_chooser
from langarith.scoring.search import SearchResult, lambda_grid


class Bench:
    def __init__(self, config: Any, task: Any, data: Path, family: Family, evaluated_on: Callable[[], Path | None],
                 console: Any, progress: bool, clock: timing.Stopwatch):
        """`evaluated_on()`: the model or task module folder the table is scored on (None: the config's model),
        asked when the evaluator is first needed."""
        self.config, self.task, self.data, self.family = config, task, data, family
        self.evaluated_on, self.console, self.progress, self.clock = evaluated_on, console, progress, clock
        self.flags: list[str] = []  # dev rows that also stand in test
        self._evaluator: Any = None
        self._examples: dict[tuple[str, str], list[Any]] = {}
        self._labels: dict[str, list[str] | None] = {}

    # --- the evaluator -------------------------------------------------------------------------------------
    @property
    def evaluator(self) -> Any:
        if self._evaluator is None:
            self._evaluator = self.evaluator_on(self.evaluated_on())
        return self._evaluator

    def evaluator_on(self, folder: Path | None) -> Any:
        """An evaluator of the family on `folder` (a whole model, or a task adapter), else the table's model; ROUGE on
        the config's tokenizer where it names one."""
        spend, rouge = self.config.spend, self.config.rouge_tokenizer
        return self.family.evaluator(spend.model or self.config.model, folder, progress=self.progress,
                                     console=self.console, batch_size=spend.eval_batch_size,
                                     **({"rouge_tokenizer": rouge} if rouge else {}))

    def compose(self, vector: Any) -> Any:
        """A composition (a recipe's ModuleVector) as the module evaluated: factor-wise, as the papers do."""
        if not isinstance(vector, ModuleVector):
            return vector
        with self.clock.stage("compose"):
            return vector.materialize("factor")

    # --- examples ------------------------------------------------------------------------------------------
    def examples(self, language: str, split: str) -> list[Any]:
        if (language, split) not in self._examples:
            spend = self.config.spend
            limit = spend.dev_limit if split == self.config.dev_split else spend.test_limit
            self._examples[language, split] = load_examples(self.task, self.data, language, split, limit)
            self._check_disjoint(language)
        return self._examples[language, split]

    def _check_disjoint(self, language: str) -> None:
        """λ is tuned on dev rows and scored on test rows: they may not be the same rows. A few shared rows
        (a short sentence in both splits) are flagged; mostly shared ones stop the run."""
        dev_split, test_split = self.config.dev_split, self.config.test_split
        dev, test = self._examples.get((language, dev_split)), self._examples.get((language, test_split))
        if dev is None or test is None:
            return
        shared = len({(e.prompt, e.target) for e in dev} & {(e.prompt, e.target) for e in test})
        if shared * 2 >= len(dev):
            raise ExperimentError(f"{shared} of the {len(dev)} {dev_split} rows of {language} are {test_split} "
                                  "rows: λ would be tuned on the test set. Check the data's splits")
        if shared:
            self.flags.append(f"{language}: {shared} {dev_split} row(s) also stand in {test_split}")

    def labels(self, language: str) -> list[str] | None:
        if language not in self._labels:
            self._labels[language] = self.task.labels(self.data, language) \
                if self.task.kind == "classification" else None
        return self._labels[language]

    # --- scores --------------------------------------------------------------------------------------------
    def evaluate(self, module: Any, target: str, split: str, evaluator: Any = None) -> EvalResult:
        """`module` on the target's split, on the table's evaluator unless a row brings its own."""
        return (evaluator or self.evaluator).evaluate(module, self.task, self.data, target, split,
                                                      examples=self.examples(target, split), labels=self.labels(target))

    def test(self, module: Any, target: str, evaluator: Any = None) -> EvalResult:
        with self.clock.stage("test"):
            return self.evaluate(module, target, self.config.test_split, evaluator)

    def dev(self, module: Any, target: str) -> float:
        with self.clock.stage("tune"):
            return self.evaluate(module, target, self.config.dev_split).value

    def rescore(self, target: str, predictions: list[Any]) -> Any:
        """Scores of test predictions made earlier (the task's scorer, as at evaluation)."""
        return self.task.score(self.examples(target, self.config.test_split), predictions, target,
                               self.evaluator.pieces)

    # --- λ -------------------------------------------------------------------------------------------------
    def grid(self, grid: Sequence[float] | None = None) -> list[float]:
        spend = self.config.spend
        return list(grid or lambda_grid(spend.lambda_step, spend.lambda_low, 1.0))

    def tune(self, build: Callable[[float], Any], target: str, grid: Sequence[float] | None = None) -> SearchResult:
        """λ chosen on the target's dev rows by the budget's search."""
        return self._search(build, target, self.examples(target, self.config.dev_split), grid,
                            self.config.spend.search)

    def without_labels(self, strategy: str, build: Callable[[float], Any], target: str,
                       grid: Sequence[float] | None = None) -> Callable[[], SearchResult]:
        """How the label-free `strategy` finds λ for `target` (called only if its cell is not on record):
        from nothing, or from the target's dev inputs with their labels removed."""
        chosen = get_chooser(strategy)
        if chosen.reads == "nothing":
            return lambda: chosen(Evidence(self.grid(grid)))
        # the label set stays: names to score, no example's label
        return lambda: self._search(build, target, [self.task.without_labels(e) for e in
                                                    self.examples(target, self.config.dev_split)], grid, strategy)

    def _search(self, build: Callable[[float], Any], target: str, rows: list[Any], grid: Sequence[float] | None,
                strategy: str) -> SearchResult:
        with self.clock.stage("tune"):
            return self.evaluator.tune(lambda lam: self.compose(build(lam)), self.task, rows, target,
                                       self.labels(target), self.grid(grid), strategy, seed=self.config.seed)
