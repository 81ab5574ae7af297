"""The experiment runner executes a setting's plan: for each target, the rows of its table (`Setting.table`,
each naming the modules it needs and the recipe that builds it), the modules trained ahead (`ModuleStore`),
then each row made on the evaluation bench (`Bench`: λ tuned on dev, the search never receives test rows),
tested for significance, and recorded.

Every λ row sits next to its control, and each cell is tested against the baseline and the control
(McNemar on classification, paired bootstrap otherwise). Finished cells are kept in `cells.json`, so a run its
deadline stopped continues where it stopped.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console

from langarith.core import devices, timing
from langarith.experiments import trained
from langarith.experiments.bench import Bench
from langarith.experiments.cells import Cell, FinishedCells, better_on_dev, cells_record
from langarith.experiments.config import Config
from langarith.experiments.plan import Averaged, BestOf, BetterOnDev, Fixed, Need, Row, Tuned, needs_of
from langarith.experiments.record import RunRecord
from langarith.experiments.report import write_results
from langarith.experiments.setting import LABEL_FREE_MARK, SETTINGS
from langarith.experiments.store import ModuleStore
from langarith.scoring.choosers import Evidence, get_chooser
from langarith.scoring.metrics import mcnemar, paired_bootstrap, paired_bootstrap_mean
from langarith.tasks import get_task
from langarith.training import TrainSpec


class Runner:
    """A config's table: plan, train, make each row, test significance, record."""

    def __init__(self, config: Config, out: Path, console: Any = None, progress: bool = True,
                 data: Path | None = None):
        """`data`: a data folder to read the config's dataset and text from before the usual places."""
        self.config, self.out = config, Path(out).expanduser()
        self.console = console if console is not None else Console(stderr=True)
        self.setting = SETTINGS[config.setting]
        self.family, self.task = self.setting.family, get_task(config.task)
        self.clock = timing.Stopwatch()  # wall time per stage: train, compose, tune, test
        where = config.data_path(data)
        self.store = ModuleStore(config, self.out / "modules", self.family, (where, config.data or self.task.dataset),
                                 data, self.console, progress, self.clock)
        on = self.family.evaluated_on(config)
        self.bench = Bench(config, self.task, where, self.family, lambda: None if on is None else self.store.path(on),
                           self.console, progress, self.clock)
        self.finished = FinishedCells(self.out / "cells.json", cells_record(config))
        self.made: dict[tuple[str, str], Cell] = {}  # (row, target) → cell, as each one finishes
        self.tables: dict[str, dict[str, Cell]] = {}  # target → its cells by row, as the table shows them
        self.dev_lines: dict[str, dict[str, float]] = {}  # baselines' dev scores, drawn across λ curves
        self.stopped: str | None = None  # why the run stopped early (its deadline), if it did
        self._dev: dict[tuple[str, str], float] = {}  # (fixed row, target) → its dev score
        self._tuned: dict[tuple[str, str], Tuned] = {}  # λ rows made, for their label-free twins
        self._plans: dict[str, list[Row]] = {}  # target → its rows

    # --- the plan ------------------------------------------------------------------------------------------
    def plan(self, target: str) -> list[Row]:
        """The rows of `target`'s table the config shows, and the rows they are made from (planned once: a
        table may choose related languages or partners by URIEL distance)."""
        if target not in self._plans:
            rows = self.setting.table(self.config, target)
            shown = set(self.config.rows)
            used = {u for row in rows if row.name in shown for u in row.uses()}
            self._plans[target] = [row for row in rows if row.name in shown or row.name in used]
        return self._plans[target]

    def needs(self, target: str) -> list[Need]:
        """Every module `target`'s table needs, the one it is evaluated on included."""
        on = self.family.evaluated_on(self.config)
        return needs_of(self.plan(target)) + ([on] if on is not None else [])

    def to_train(self) -> list[TrainSpec]:
        """The training specs of every module the config's tables need and that is not trained yet."""
        return self.store.missing([n for target in self.config.targets for n in self.needs(target)])

    # --- the run -------------------------------------------------------------------------------------------
    def run(self) -> list[Cell]:
        cfg = self.config
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / "config.json").write_text(cfg.model_dump_json(indent=2), encoding="utf-8")
        started = time.time()
        cells: list[Cell] = []
        self._until_deadline(self._train_ahead)
        for target in [] if self.stopped else cfg.targets:  # in order: a deadline leaves the first ones complete
            self.console.rule(f"[bold]{cfg.name}: {target}")
            self._until_deadline(lambda target=target: self._make_table(target))
            made = {m: c for (m, t), c in self.made.items() if t == target}
            self.tables[target] = made = {m: made[m] for m in cfg.rows if m in made}
            cells += made.values()
            self._significance(made)
            self._print(made)
            if self.stopped:
                self.console.print(f"[yellow]stopped:[/] {self.stopped}")
                break
        if not self.stopped:
            cells += self._until_deadline(self._transfer_cells) or []
        write_results(self.record(cells, time.time() - started))
        return cells

    def _train_ahead(self) -> None:
        """With several workers, every target's modules at once before any cell (`training.pool`); with one,
        each target's before its cells (`_make_table`), so that a deadline leaves the first targets complete."""
        workers, _ = devices.training_workers(self.config.spend.workers)
        if workers > 1 or self.config.spend.executor != "processes":
            self.store.train_specs(self.to_train())

    def _make_table(self, target: str) -> None:
        self.store.train(self.needs(target))
        self.dev_lines[target] = {}
        for row in self.plan(target):
            self.made[row.name, target] = MAKERS[type(row)](self, row, target)

    def _until_deadline(self, step: Callable[[], Any]) -> Any:
        try:
            return step()
        except timing.DeadlineReached as stop:
            self.stopped = str(stop)
            return None

    def _print(self, made: dict[str, Cell]) -> None:
        for m, cell in made.items():
            if cell.score is not None:
                lam = f"  λ={cell.lam:g}" if cell.lam is not None else ""
                self.console.print(f"  {m:<22} {cell.score:6.2f}{lam}")

    # --- rows ----------------------------------------------------------------------------------------------
    def module(self, build: Any, lam: float | None = None) -> Any:
        """What `build` makes from the loaded modules (at `lam` for a λ row), as the module evaluated."""
        return self.bench.compose(build(self.store.load, lam))

    def finish(self, name: str, target: str, make: Callable[[], Cell]) -> Cell:
        """The cell from the record of an earlier, stopped run of this config, else `make()`, recorded."""
        cell = self.finished.get(name, target, lambda predictions: self.bench.rescore(target, predictions))
        if cell is None:
            cell = make()
            self.finished.add(cell)
        self.made[name, target] = cell
        return cell

    def tested(self, name: str, target: str, module: Any, evaluator: Any = None, **cell: Any) -> Cell:
        """`module` evaluated on the target's test split (on `evaluator`, else the table's), as a cell."""
        result = self.bench.test(module, target, evaluator)
        return Cell(name, target, result.value, result.scores.metrics, scores=result.scores,
                    predictions=result.predictions, **cell)

    def fixed(self, row: Fixed, target: str) -> Cell:
        if row.dev_line:
            self._dev[row.name, target] = self.dev_lines[target][row.dev_line] = \
                self.bench.dev(self.module(row.build), target)

        def make() -> Cell:  # a row's own evaluator is made only if the cell is not on record, dropped after
            own = self.bench.evaluator_on(self.store.path(row.on)) if row.on is not None else None
            return self.tested(row.name, target, self.module(row.build), own, note=row.note)

        return self.finish(row.name, target, make)

    def tuned(self, row: Tuned, target: str) -> Cell:
        """λ chosen on dev, then on test; then the row's label-free twins the config asks for (those whose λ
        comes from elsewhere once every target's dev-tuned λ is known: `_transfer_cells`)."""
        def make() -> Cell:
            found = self.bench.tune(lambda lam: row.build(self.store.load, lam), target, row.grid)
            return self.tested(row.name, target, self.module(row.build, found.best), lam=found.best,
                               on_edge=found.on_edge, evaluations=found.evaluations, curve=found.curve,
                               note=row.note, dev=found.score)

        cell = self.finish(row.name, target, make)
        self._tuned[row.name, target] = row
        for strategy in self.config.label_free:
            if get_chooser(strategy).reads != "elsewhere" and f"{row.name}{LABEL_FREE_MARK}{strategy}" in \
                    self.config.rows:
                search = self.bench.without_labels(strategy, lambda lam: row.build(self.store.load, lam), target,
                                                   row.grid)
                self._label_free(row, strategy, target, search)
        return cell

    def _label_free(self, row: Tuned, strategy: str, target: str, choose: Callable[[], Any], note: str = "") -> Cell:
        """The twin of the λ row `row` whose λ `choose()` found without the target's labels."""
        name = f"{row.name}{LABEL_FREE_MARK}{strategy}"

        def make() -> Cell:
            found = choose()
            return self.tested(name, target, self.module(row.build, found.best), lam=found.best,
                               on_edge=found.on_edge, evaluations=found.evaluations, curve=found.curve,
                               note=note or f"λ by {strategy}, no target label read")

        return self.finish(name, target, make)

    def _transfer_cells(self) -> list[Cell]:
        """Label-free twins whose λ comes from elsewhere (`transfer`): from the λ its row's dev data chose on the
        table's other targets (leave-one-out), once they are all known; with their significance."""
        late = []
        for (name, target), row in list(self._tuned.items()):
            for strategy in [s for s in self.config.label_free if get_chooser(s).reads == "elsewhere"]:
                others = {t: c.lam for (m, t), c in self.made.items()
                          if m == name and t != target and c.lam is not None}
                if f"{name}{LABEL_FREE_MARK}{strategy}" not in self.config.rows or not others:
                    continue
                chosen, evidence = get_chooser(strategy), Evidence(self.bench.grid(row.grid), elsewhere=others)
                note = f"λ = {chosen.summary} on " + ", ".join(f"{t} ({v:g})" for t, v in others.items())
                late.append(self._label_free(row, strategy, target, lambda c=chosen, e=evidence: c(e), note))
        for cell in late:
            self.tables[cell.target][cell.method] = cell
        for target in {cell.target for cell in late}:  # the other tables' tests stand as they were
            self._significance(self.tables[target])
        return late

    def better_on_dev(self, row: BetterOnDev, target: str) -> Cell:
        dev = {m: self._dev.get((m, target), self.made[m, target].dev) for m in row.among}
        return better_on_dev(row.name, {m: self.made[m, target] for m in row.among}, dev)

    def best_of(self, row: BestOf, target: str) -> Cell:
        dev = {label: self.bench.dev(self.module(build), target) for label, build in row.candidates.items()}
        best = max(dev, key=lambda label: (dev[label], label))
        self.dev_lines[target][row.dev_line.format(best=best)] = dev[best]
        return self.finish(row.name, target, lambda: self.tested(row.name, target, self.module(row.candidates[best]),
                                                                 note=row.note.format(best=best)))

    def averaged(self, row: Averaged, target: str) -> Cell:
        def make() -> Cell:
            cells = [(label, self.tested(row.name, target, self.module(build))) for label, build in row.draws]
            first = cells[0][1]
            metrics = {m: sum(c.metrics[m] for _, c in cells) / len(cells) for m in first.metrics}
            note = row.note + ", ".join(f"{label}={c.score:.1f}" for label, c in cells)
            return Cell(row.name, target, metrics[first.scores.primary], metrics, note=note, scores=first.scores,
                        predictions=first.predictions)

        return self.finish(row.name, target, make)

    # --- significance and the record -----------------------------------------------------------------------
    def _significance(self, made: dict[str, Cell]) -> None:
        for name, cell in made.items():
            base = made.get(self.setting.baseline_for(name))
            if cell is base or cell.scores is None:
                continue
            if base is not None and base.scores is not None:
                cell.p_baseline = paired_p(cell.scores, base.scores)
            control = made.get(self.setting.control(name) or "")
            if control is not None and control.scores is not None:
                cell.p_control = paired_p(cell.scores, control.scores)

    def trained(self) -> dict[Path, Need]:
        """Every trained module the tables needed (with those they were trained on), in folder order."""
        every = self.store.with_dependencies([n for t in self.tables for n in self.needs(t)])
        needs = {self.store.path(n): n for n in every}
        return {path: needs[path] for path in sorted(needs) if (path / "langarith.json").exists()}

    def analysis_vectors(self) -> list[Any]:
        """What the plots compare: the trained modules (whole models left out), as the family compares them (ΔW,
        or Δθ from each module's initial state)."""
        modules = [self.store.load(need) for need in self.trained().values() if need.method != "full"]
        vectors = [self.family.analysis(module, self.store.start(module)) for module in modules]
        return [v for v in vectors if v is not None]

    def record(self, cells: list[Cell], seconds: float) -> RunRecord:
        return RunRecord(self.config, self.out, self.task.primary, self.setting.baseline, cells, seconds,
                         self.clock.rounded(), self.family.eval_precision(), self.store.flags + self.bench.flags,
                         self.stopped, self.dev_lines, self.analysis_vectors(),
                         inputs={"config": self.config.source, "data": self.bench.data},
                         figures=self.setting.figures, modules=[trained.summary(path) for path in self.trained()])


MAKERS: dict[type, Callable[[Runner, Any, str], Cell]] = {
    Fixed: Runner.fixed, Tuned: Runner.tuned, BetterOnDev: Runner.better_on_dev, BestOf: Runner.best_of,
    Averaged: Runner.averaged}


def paired_p(a: Any, b: Any) -> float:
    if a.test == "mcnemar":
        return mcnemar([x > 0.5 for x in a.per_example], [x > 0.5 for x in b.per_example])
    if a.corpus is not None and b.corpus is not None:
        return paired_bootstrap(a.corpus, b.corpus, len(a.per_example))
    return paired_bootstrap_mean(a.per_example, b.per_example)
