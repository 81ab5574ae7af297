"""MAD-X inference on encoders through AdapterHub (paper 2's setting): a base encoder and one task adapter with
its prediction head stay in memory, and the language slot below it — `Stack(lang, task)` — takes the
target's adapter, or an arithmetic of several, LA(a, b) = λ·a + (1−λ)·b.

Swapping the language slot writes the composed adapter to a temporary folder and loads it with AdapterHub's
own loader, so what is evaluated is exactly what a user loading the saved folder would run. torch is
imported inside functions.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from langarith import models
from langarith.arith.algebra import ModuleVector
from langarith.arith.formats import save
from langarith.arith.module import Module
from langarith.core import devices, timing
from langarith.core.progress import progress
from langarith.evaluation.base import EvalResult, EvaluationError, cached_search, finite, load_examples, same_base
from langarith.methods.bottleneck import quiet
from langarith.models import heads
from langarith.tasks import Example, Task, get_task

LANG = "lang"  # the language slot's adapter name at inference


class MadxEvaluator:
    """A base encoder and one task adapter (with its head) in memory; language adapters come and go below it.

    The `Evaluator` protocol, with one difference: the module passed to `evaluate` and
    built by `tune` is the *language* adapter (a folder, a Module, an arithmetic of Modules, or None to run the
    task adapter alone)."""

    def __init__(self, model: str | None, task_module: str | Path, *, batch_size: int | None = None,
                 max_len: int = 256, progress: bool = True, console: Any = None):
        from adapters.composition import Stack

        self.info = models.resolve(model)
        if self.info.family != "encoder":
            raise EvaluationError(f"MAD-X evaluation needs an encoder model; {self.info.name} is a {self.info.family}")
        self.tokenizer = models.load_tokenizer(self.info)
        self.device = devices.device()
        self.model = heads.load_model(self.info.path).eval()
        folder = Path(task_module).expanduser()
        if not (folder / "head_config.json").exists():
            raise EvaluationError(f"{folder} has no prediction head (head_config.json); train the task module on an "
                            "encoder with `langarith train task --method bottleneck`")
        same_base(finite(folder), self.info)
        with quiet():
            self.task_name = self.model.load_adapter(str(folder), set_active=False)
        head = json.loads((folder / "head_config.json").read_text(encoding="utf-8"))
        label2id = head.get("config", {}).get("label2id") or {}
        self.labels = [lab for lab, _ in sorted(label2id.items(), key=lambda kv: kv[1])]
        self._stack = Stack
        self.model.to(self.device)
        self.pieces = None  # scores need no tokenizer here (no ROUGE on encoder tasks)
        self.batch_size = devices.eval_batch_size(self.info.family, batch_size)
        self.max_len, self.progress, self.console = max_len, progress, console
        self._current: Any = object()

    def use_language(self, module: Module | Any | str | Path | None) -> None:
        """Put `module` in the language slot (no-op when it is already there)."""
        if module is self._current:
            return
        with quiet():
            self._swap(module)
        self._current = module

    def _swap(self, module: Any) -> None:
        if LANG in self.model.adapters_config:
            self.model.delete_adapter(LANG)
        if module is None:
            self.model.active_adapters = self._stack(self.task_name)
        else:
            if isinstance(module, ModuleVector):
                module = module.materialize("factor")
            same_base(finite(module), self.info)
            if isinstance(module, Module):
                with tempfile.TemporaryDirectory() as tmp:
                    self.model.load_adapter(str(save(module, Path(tmp) / LANG, adapter_name=LANG)), load_as=LANG,
                                            with_head=False, set_active=False)
            else:
                self.model.load_adapter(str(Path(module).expanduser()), load_as=LANG, with_head=False,
                                        set_active=False)
            self.model.active_adapters = self._stack(LANG, self.task_name)
        self.model.active_head = self.task_name
        self.model.to(self.device)  # the adapter just loaded, where the model is

    def predict(self, task: Task, examples: Sequence[Example], description: str = "predicting") -> list[Any]:
        import torch

        kind = heads.head_kind(task)
        rows = heads.encode(task, examples, self.tokenizer, self.max_len, self.labels)
        order = sorted(range(len(rows)), key=lambda i: len(rows[i]["input_ids"]))  # less padding
        out: list[Any] = [None] * len(rows)
        # bf16 autocast on a GPU: the adapters stay separate modules here (nothing is merged into the weights)
        bf16 = torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.device.type == "cuda")
        with progress(self.progress, self.console, transient=True) as bar, torch.no_grad(), bf16:
            job = bar.add_task(description, total=len(rows))
            for lo in range(0, len(order), self.batch_size):
                timing.check(description)
                chunk = order[lo: lo + self.batch_size]
                batch = heads.collate([rows[i] for i in chunk], self.tokenizer.pad_token_id, with_targets=False)
                output = self.model(**devices.to_device(batch, self.device))
                for name in ("logits", "start_logits", "end_logits"):  # decoded on the CPU, one copy per batch
                    if getattr(output, name, None) is not None:
                        output[name] = output[name].float().cpu()
                for j, i in enumerate(chunk):
                    out[i] = heads.decode(kind, rows[i], output, j, self.labels)
                bar.update(job, advance=len(chunk))
        return out

    def evaluate(self, module: Any, task: str | Task, data: str | Path, language: str, split: str = "test",
                 limit: int | None = None, examples: Sequence[Example] | None = None,
                 labels: Sequence[str] | None = None) -> Any:
        task = get_task(task) if isinstance(task, str) else task
        if examples is None:
            examples = load_examples(task, data, language, split, limit)
        started = time.time()
        self.use_language(module)
        predictions = self.predict(task, examples, f"{task.name} {language} {split}")
        scores = task.score(examples, predictions, language, self.pieces)
        label = getattr(module, "name", None) or (str(module) if module is not None else None)
        return EvalResult(task.name, language, split, label, scores, predictions, len(examples),
                          time.time() - started)

    def tune(self, build: Callable[[float], Any], task: Task, dev: Sequence[Example], language: str,
             labels: Sequence[str] | None, grid: Sequence[float], strategy: str, seed: int = 0) -> Any:
        """λ on validation examples only: `build(λ)` is the language adapter put in the slot."""
        def predict(lam: float, examples: list[Example]) -> list[Any]:
            self.use_language(build(lam))
            return self.predict(task, examples, f"dev λ={lam:g}")

        return cached_search(predict, task, dev, language, grid, strategy, seed)
