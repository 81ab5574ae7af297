"""The modules of a run: each kept in `out/modules` under a hash of what defines it (the same on every machine,
so modules trained on a GPU node are found on a laptop), trained when missing, loaded once.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from langarith.arith.formats import load
from langarith.arith.module import Module
from langarith.core import devices, timing
from langarith.core.progress import say
from langarith.experiments.family import Family
from langarith.experiments.plan import Need, language
from langarith.experiments.setting import ExperimentError
from langarith.languages.corpora import text_sources
from langarith.models import check_trained_on
from langarith.training import TrainSpec, train
from langarith.training.pool import train_all
from langarith.training.spec import DEFAULT_STEPS
from langarith.training.start import initial_module

#: the budget's training settings that default to the trainer's (None in the budget)
TRAINING_KNOBS = ("lr", "warmup", "schedule", "clip", "grad_accum", "eval_every", "keep")


class ModuleStore:
    """Needs → module folders (keys), the specs of those missing (plan), training them (pooled, or one at a
    time), the modules (loaded once), and the state each module's training started from."""

    def __init__(self, config: Any, folder: Path, family: Family, data: tuple[Path, str], data_root: Path | None,
                 console: Any, progress: bool, clock: timing.Stopwatch):
        """`data`: where the task's dataset is read from, and its name in keys; `data_root`: a data folder to
        read text from before the usual places."""
        self.config, self.folder, self.family = config, folder, family
        (self.data, self.data_name), self.data_root = data, data_root
        self.console, self.progress, self.clock = console, progress, clock
        self.model = config.spend.model or config.model
        self.flags: list[str] = []  # held-out losses that did not fall
        self._text: dict[str, list[str]] = {}
        self._specs: dict[Need, TrainSpec] = {}
        self._modules: dict[Path, Module] = {}
        self._starts: dict[str, Module | None] = {}

    # --- keys ----------------------------------------------------------------------------------------------
    def path(self, need: Need) -> Path:
        """Where `need`'s module is, trained or not."""
        return Path(self.spec(need).out)

    def spec(self, need: Need) -> TrainSpec:
        """How `need`'s module is trained: its folder is named by a hash of this, less where things are."""
        if need not in self._specs:
            self._specs[need] = self._language(need) if need.role == "language" else self._task(need)
        return self._specs[need]

    def _task(self, need: Need) -> TrainSpec:
        cfg, epochs = self.config, self.config.spend.task_epochs
        what: dict[str, Any] = {"task": cfg.task, "data": self.data}
        if isinstance(need.language, tuple):  # multilingual: every source's data, twice the steps
            what.update(languages=list(need.language), steps=cfg.spend.task_steps * 2)
        else:
            what.update(split=cfg.train_split.get(need.language, "train"), steps=cfg.spend.task_steps)
            if self.family.task_on_language:
                what["lang_module"] = self.path(language(need.language))
        if epochs is not None:  # passes over the examples instead (a multilingual module's: all of them)
            what.update(steps=None, epochs=epochs)
        if cfg.spend.eval_every:  # checkpoint selection scores the table's dev rows, ROUGE on the table's pieces
            chosen = {"dev_limit": cfg.spend.dev_limit, "rouge_tokenizer": cfg.rouge_tokenizer}
            what.update({knob: value for knob, value in chosen.items() if value})
        return self._spec(need, **what)

    def _language(self, need: Need) -> TrainSpec:
        """Training lasts the budget's steps, or with `max_text_tokens` one pass over that text or the budget's
        steps, whichever is longer."""
        spend = self.config.spend
        steps, tokens, cut = spend.language_steps, spend.language_tokens, {}
        if need.max_text_tokens:
            per_step = spend.batch_size * (spend.grad_accum or 1) * spend.seq_len
            least = tokens if tokens is not None else (steps or DEFAULT_STEPS) * per_step
            steps, tokens, cut = None, max(least, need.max_text_tokens), {"max_text_tokens": need.max_text_tokens}
        spec = self._spec(need, text=self.text(need.language), steps=steps, tokens=tokens, **cut)
        spec.seq_len, spec.data = spend.seq_len, self.data_root  # where its text is: a place, not part of the key
        return spec

    def _spec(self, need: Need, **what: Any) -> TrainSpec:
        cfg, spend = self.config, self.config.spend
        for knob in TRAINING_KNOBS:  # only those the budget sets: the keys (folder names) of the others stay
            if getattr(spend, knob) is not None:
                what.setdefault(knob, getattr(spend, knob))
        method = need.method or cfg.method
        options = self.family.options(need.role, cfg.options) if method == cfg.method else {}
        key = {"role": need.role, "language": list(need.language) if isinstance(need.language, tuple) else
               need.language, "model": self.model, "method": method, "options": options, "seed": cfg.seed,
               "batch": spend.batch_size, **{k: self._portable(v) for k, v in what.items()}}
        digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:10]
        folder = self.folder / f"{need.role}_{need.label}_{digest}"
        precision = devices.training_precision(spend.precision)
        return TrainSpec(role=need.role, language=need.label, out=folder, model=self.model, method=method,
                         method_options=options, seed=cfg.seed, batch_size=spend.batch_size, progress=self.progress,
                         resume=folder.with_name(folder.name + ".ckpt").exists(), precision=precision,
                         save_dtype=precision, **what)

    def _portable(self, value: Any) -> Any:
        """What a key holds for `value`: the data folder as the config names it, a module folder by its name."""
        if isinstance(value, list):
            return [self._portable(v) for v in value]
        if isinstance(value, Path):
            if value == self.data:
                return self.data_name
            if value.parent == self.folder:
                return value.name
        return value

    def text(self, code: str) -> list[str]:
        """The text sources that have text for `code`; none is an error that says why the first one has none
        (most often: the data is neither in a local folder nor on a reachable hub)."""
        specs = self.config.spend.text or self.config.text
        if code not in self._text:
            sources = text_sources(specs, code, self.data_root)
            self._text[code] = [spec for spec, why in sources.items() if why is None]
            if not self._text[code]:
                first, why = next(iter(sources.items()))
                raise ExperimentError(f"no unlabeled text for {code} among {specs}: {first}: {why}")
        return self._text[code]

    def with_dependencies(self, needs: Sequence[Need]) -> list[Need]:
        """`needs` and the modules they train on (a MAD-X task adapter's language adapter), each once."""
        return list(dict.fromkeys(d for n in needs for d in (
            [language(n.language), n] if n.role == "task" and self.spec(n).lang_module is not None else [n])))

    # --- plan and train ------------------------------------------------------------------------------------
    def missing(self, needs: Sequence[Need]) -> list[TrainSpec]:
        """The specs of `needs` (and of the modules they train on) not trained yet; nothing is trained."""
        specs = {Path(s.out): s for s in map(self.spec, self.with_dependencies(needs))}  # two names, one module
        return [spec for out, spec in specs.items() if not (out / "langarith.json").exists()]

    def train(self, needs: Sequence[Need]) -> None:
        """Train the modules `needs` lack."""
        self.train_specs(self.missing(needs))

    def train_specs(self, specs: Sequence[TrainSpec]) -> None:
        """Train `specs`: several at once with the budget's `workers` (`langarith.training.pool`), else one
        after another here. Each module is trained alone by its own spec either way."""
        if not specs:
            return
        spend = self.config.spend
        workers, gpus = devices.training_workers(spend.workers)
        with self.clock.stage("train"):
            if workers == 1 and spend.executor == "processes":
                for spec in specs:
                    say(f"training the {spec.role} module for {spec.language} → {spec.out}", logging.INFO, __name__)
                    train(spec, console=self.console)
            else:
                train_all([replace(s, progress=False) for s in specs], workers, gpus, spend.executor,
                          spend.executor_options, self.console, show=self.progress)

    # --- modules -------------------------------------------------------------------------------------------
    def load(self, need: Need) -> Module:
        folder = check_trained_on(self.path(need), self.model)  # another machine's "default" may differ
        if folder not in self._modules:
            self._modules[folder] = load(folder)
            manifest = json.loads((folder / "langarith.json").read_text(encoding="utf-8"))
            held = manifest.get("heldout_loss") or {}
            if held.get("fell") is False:
                self.flags.append(f"language module {folder.name}: held-out loss did not fall "
                                  f"({held['before']:.3f} → {held['after']:.3f})")
        return self._modules[folder]

    def loaded(self) -> list[Module]:
        """The modules loaded so far, in folder order."""
        return [self._modules[path] for path in sorted(self._modules)]

    def start(self, module: Module) -> Module | None:
        """The state `module`'s training started from, rebuilt as training built it (`training.start`), None if
        unknown. A task adapter's recorded fingerprint also covers its head, drawn after the adapter: its start
        is the adapter alone, rebuilt without a check (a test checks it against a task adapter trained with
        lr 1e-30, whose Δθ is 0)."""
        if not self.family.initial_states or not module.init_fingerprint:
            return None
        role = module.role or "language"
        key = module.init_fingerprint if role == "language" else f"task {module.init_fingerprint}"
        if key not in self._starts:
            self._starts[key] = initial_module(self.model, self.config.method,
                                               self.family.options(role, self.config.options), role,
                                               module.init_fingerprint if role == "language" else None)
        return self._starts[key]
