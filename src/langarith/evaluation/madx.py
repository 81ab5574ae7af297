"""MAD-X inference on encoders through AdapterHub (paper 2's setting): a base encoder and one task adapter with
its prediction head stay in memory, and the language slot below it — `Stack(lang, task)` — takes the
target's adapter, or an arithmetic of several, LA(a, b) = λ·a + (1−λ)·b.

The slot's adapter is added once, with the language adapters' config; swapping a module in copies its tensors
into the slot's parameters (as AdapterHub's loader copies a saved file's, bf16 rounding included), so a λ search
writes no folder and builds no adapter per λ, and what is evaluated is what a user loading the saved folder would
run (tests/experiments/test_madx.py compares the two). A module the copy cannot reproduce (AdapterHub LoRA or IA³,
whose older configs the loader rewrites; an unversioned config; keys that are not the slot's) is written to a
temporary folder and loaded with AdapterHub's own loader, as before. torch is imported inside functions.
"""

from __future__ import annotations

import copy
import json
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from langarith import models
from langarith.arith.algebra import ModuleVector
from langarith.arith.formats import get_format, save
from langarith.arith.formats.adapterhub import PLACEHOLDER
from langarith.arith.module import Module
from langarith.core import devices, timing
from langarith.core.progress import progress
from langarith.evaluation.base import (
    EvalResult,
    EvaluationError,
    cached_search,
    check_batch_size,
    finite,
    load_examples,
    same_base,
)
from langarith.evaluation.deltas import as_written
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

        check_batch_size(batch_size)
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
        self._hold(batch_size, max_len, progress, console)
        self._current: Any = object()

    @classmethod
    def attached(cls, model: Any, info: Any, tokenizer: Any, labels: Sequence[str] | None, *,
                 batch_size: int | None = None, max_len: int = 256) -> MadxEvaluator:
        """An evaluator over `model` as it stands: an AdapterHub model in memory with its task adapter and head
        (over a language adapter, if any) active — a run being trained — whose head predicts `labels`;
        `evaluate(None, …)` scores it in the mode and on the device it is in, swapping nothing."""
        evaluator = cls.__new__(cls)
        evaluator.info, evaluator.tokenizer, evaluator.model = info, tokenizer, model
        evaluator.device, evaluator.labels = next(model.parameters()).device, list(labels or [])
        evaluator._hold(batch_size, max_len, False, None)
        evaluator._current = None  # the adapters as they are: `use_language(None)` leaves them
        return evaluator

    def _hold(self, batch_size: int | None, max_len: int, progress: bool, console: Any) -> None:
        self.pieces = None  # scores need no tokenizer here (no ROUGE on encoder tasks)
        self.batch_size = devices.eval_batch_size(self.info.family, batch_size)
        self.max_len, self.progress, self.console = max_len, progress, console
        self._slot: dict[str, Any] | None = None  # the config the slot's adapter was added with

    def use_language(self, module: Module | Any | str | Path | None) -> None:
        """Put `module` in the language slot (no-op when it is already there)."""
        if module is self._current:
            return
        with quiet():
            self._swap(module)
        self._current = module

    def _swap(self, module: Any) -> None:
        if module is None:
            self.model.active_adapters = self._stack(self.task_name)
        else:
            if isinstance(module, ModuleVector):
                module = module.materialize("factor")
            loaded = finite(module)
            same_base(loaded, self.info)
            if not self._copy_into_slot(loaded):
                self._load_into_slot(module)
            self.model.active_adapters = self._stack(LANG, self.task_name)
        self.model.active_head = self.task_name

    def _copy_into_slot(self, module: Module) -> bool:
        """Copy `module`'s tensors into the slot's parameters, adding the slot's adapter first where it is missing
        or was added with another config. False where the copy would not be what AdapterHub's loader makes of the
        module's folder (see the module docstring); the slot is then empty."""
        import torch

        adapter = get_format(module.format).config_of(module).get("adapter") if module.format == "adapterhub" else None
        if module.kind != "bottleneck" or not isinstance(adapter, dict) or "version" not in adapter:
            return False
        if self._slot != adapter["config"] or LANG not in self.model.adapters_config:
            self._clear_slot()
            self.model.add_adapter(LANG, config=adapter["config"], set_active=False)
            self.model.to(self.device)
            self._slot = copy.deepcopy(adapter["config"])
        slot = self._slot_parameters(module)
        if slot is None:
            self._clear_slot()
            return False
        with torch.no_grad():
            for key, param in slot.items():
                param.copy_(as_written(module, key))  # what load_state_dict does with the saved file's tensor
        return True

    def _slot_parameters(self, module: Module) -> dict[str, Any] | None:
        """`module`'s key -> the slot's parameter it loads into, found as AdapterHub's loader finds it (keys with or
        without the base model's prefix); None unless the keys are exactly the slot's, with the same shapes."""
        from adapters.loading import AdapterLoader

        names = {key: key.replace(PLACEHOLDER, LANG) for key in module.tensors}
        prefix = self.model.base_model_prefix
        prefixed = any(name.startswith(prefix) for name in names.values())
        holder, start = self.model, ""
        if hasattr(self.model, prefix) and not prefixed:
            holder = self.model.base_model
        elif not hasattr(self.model, prefix) and prefixed:
            start = prefix + "."
        state = {start + k: v for k, v in holder.state_dict(keep_vars=True).items()}
        owned = AdapterLoader(self.model).filter_func(LANG)
        if set(names.values()) != {k for k in state if owned(k)}:
            return None
        if any(tuple(state[name].shape) != module.tensors[key].shape for key, name in names.items()):
            return None
        return {key: state[name] for key, name in names.items()}

    def _load_into_slot(self, module: Module | str | Path) -> None:
        """AdapterHub's own loader, from the module's folder (a temporary one for a module in memory)."""
        self._clear_slot()
        if isinstance(module, Module):
            with tempfile.TemporaryDirectory() as tmp:
                self.model.load_adapter(str(save(module, Path(tmp) / LANG, adapter_name=LANG)), load_as=LANG,
                                        with_head=False, set_active=False)
        else:
            self.model.load_adapter(str(Path(module).expanduser()), load_as=LANG, with_head=False, set_active=False)
        self.model.to(self.device)  # the adapter just loaded, where the model is

    def _clear_slot(self) -> None:
        if LANG in self.model.adapters_config:
            self.model.delete_adapter(LANG)
        self._slot = None

    def predict(self, task: Task, examples: Sequence[Example], description: str = "predicting") -> list[Any]:
        import torch

        kind = heads.head_kind(task)
        unseen = heads.unseen_labels(task, examples, self.labels) if self.labels else []
        if unseen:
            raise EvaluationError(f"these {task.name} rows have labels {unseen[:5]} that the task adapter's head "
                                  f"never learned (it knows {', '.join(self.labels)}); it could never predict them. "
                                  "Evaluate on data with the head's labels, or train the task adapter on these")
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
