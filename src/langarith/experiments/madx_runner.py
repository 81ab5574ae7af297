"""The runner of paper 2's settings: MAD-X language adapters per language, one task adapter with its head
trained on the source's language adapter, and language arithmetic in the language slot, λ chosen on dev.
"""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from langarith import models
from langarith.arith.formats import load
from langarith.arith.module import Module
from langarith.core import devices
from langarith.evaluation.madx import MadxEvaluator
from langarith.experiments.runner import Runner
from langarith.methods import fingerprint, get_method, init_seed
from langarith.models import heads


class MadxRunner(Runner):
    """A config's table on an encoder: MAD-X language adapters (`seq_bn_inv`, masked LM, MAD-X's reduction
    factor 2) per language, one task adapter (`seq_bn`, factor 16) with its head trained on the source's
    language adapter, and what the language slot holds chosen by the setting (zero-shot, enhancement,
    low-resource, relatedness, ties: `langarith.experiments.settings`)."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._initials: dict[str, Module | None] = {}  # init fingerprint → the adapter as training began

    def options(self, role: str) -> dict[str, Any]:
        made = {"config": "seq_bn_inv", "reduction_factor": 2} if role == "language" \
            else {"config": "seq_bn", "reduction_factor": 16}
        return {**made, **self.config.method_options}

    @property
    def source(self) -> str:
        return self.config.sources[0]

    def task_module(self, language: str) -> Path:
        cfg = self.config
        return self._train("task", language, task=cfg.task, data=self.data, steps=cfg.spend.task_steps,
                           split=cfg.train_split.get(language, "train"), lang_module=self.language_module(language))

    @property
    def evaluator(self) -> Any:
        if self._evaluator is None:
            self._evaluator = self.task_evaluator(self.source)
        return self._evaluator

    def task_evaluator(self, language: str) -> MadxEvaluator:
        """The encoder with `language`'s task adapter and its head (trained if missing), language slot empty."""
        task = self.task_module(language)
        self.load(task)  # for the analysis plots: task adapters next to the language adapters
        return MadxEvaluator(self.config.spend.model or self.config.model, task, progress=self.progress,
                             console=self.console, batch_size=self.config.spend.eval_batch_size)

    def eval_precision(self) -> str:
        return "bf16" if devices.device().type == "cuda" else "fp32"  # MadxEvaluator autocasts on a GPU

    def language(self, code: str, max_text_tokens: int | None = None) -> Module:
        return self.load(self.language_module(code, max_text_tokens))

    def partner(self, target: str) -> tuple[str, str]:
        """LA's partner for `target` and the note the table shows (`Config.partner_of`)."""
        return self.config.partner_of(target, self.source)

    def analysis_vector(self, module: Module) -> Module | None:
        """What training changed, Δθ = θ − θ₀, of the adapter (a task adapter's head left out): adapters of one
        base and config share their initial weights, so the cosine of raw parameters would mostly measure that
        shared start (raw cosine 0.64–0.67 between the cpu run's language adapters, Δθ 0.12–0.18). Language and
        task adapters differ in shape (reduction factors 2 and 16), so the report compares each role apart."""
        start = self._initial(module)
        if start is None:
            return module if (module.role or "language") == "language" else None
        delta = {k: v - start.tensors[k] for k, v in module.tensors.items() if k in start.tensors}
        return replace(module, tensors=delta, extras={}, kind=f"{module.kind} Δθ")

    def _initial(self, module: Module) -> Module | None:
        """The adapter's initial weights, rebuilt as training built them. A language adapter's start is checked
        by its fingerprint. A task adapter's fingerprint also covers its head, drawn after the adapter: the
        adapter is seeded and added first (`BottleneckMethod.attach`), so rebuilding it alone gives its start
        (a test checks this against a task adapter trained with lr 1e-30: its Δθ is 0)."""
        if not module.init_fingerprint:
            return None
        role = module.role or "language"
        key = module.init_fingerprint if role == "language" else f"task {module.init_fingerprint}"
        if key not in self._initials:
            self._initials[key] = self._rebuilt_start(role, module.init_fingerprint if role == "language" else None)
        return self._initials[key]

    def _rebuilt_start(self, role: str, expected: str | None) -> Module | None:
        """A fresh adapter of `role` as training seeds it (None if its fingerprint is not `expected`)."""
        import torch

        info = models.resolve(self.config.spend.model or self.config.model)
        method = get_method("bottleneck")
        options = method.options(self.options(role))
        if role == "task":  # the AdapterHub model task adapters train in (its own head slots)
            model = heads.load_model(info.path)
        else:
            with heads.fresh_weights_unreported():  # the fresh MLM head is reported again; it plays no part here
                model, _ = models.load(info)
        torch.manual_seed(init_seed(info.seed_name, method.name, options))
        model = method.attach(model, options, info.family)
        if expected is not None and fingerprint(method.trainable(model)) != expected:
            return None
        with tempfile.TemporaryDirectory() as tmp:
            method.save(model, Path(tmp))
            return load(tmp)
