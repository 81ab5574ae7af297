"""What every evaluator shares: the `Evaluator` protocol (a base model in memory, modules coming and going),
one evaluation's result, examples read once, and λ search on validation rows that predicts each (λ, row)
once. `decoder.DecoderEvaluator` merges modules into a decoder's weights; `madx.MadxEvaluator` swaps the
language slot of an encoder's MAD-X stack.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from langarith.arith.formats import MANIFEST, load
from langarith.arith.formats.files import read_json
from langarith.arith.identity import model_hint
from langarith.arith.module import Module
from langarith.core.errors import LangarithError
from langarith.scoring.choosers import Evidence, get_chooser
from langarith.tasks import Example, Scores, Task, split_name


class EvaluationError(LangarithError):
    """A module cannot be evaluated on this model or task."""


@dataclass
class EvalResult:
    task: str
    language: str
    split: str
    module: str | None
    scores: Scores
    predictions: list[str] = field(repr=False)
    n: int = 0
    seconds: float = 0.0

    @property
    def value(self) -> float:
        return self.scores.value

    def to_json(self) -> dict[str, Any]:
        return {"task": self.task, "language": self.language, "split": self.split, "module": self.module,
                "n": self.n, "seconds": round(self.seconds, 2), "primary": self.scores.primary,
                "metrics": self.scores.metrics}


class Evaluator(Protocol):
    """A base model in memory that scores modules on task splits and tunes λ on validation rows."""

    pieces: Callable[[str], list[str]] | None  # SentencePiece-ROUGE's tokenizer, where the task scores ROUGE

    def evaluate(self, module: Any, task: str | Task, data: str | Path, language: str, split: str = "test",
                 limit: int | None = None, examples: Sequence[Example] | None = None,
                 labels: Sequence[str] | None = None) -> EvalResult: ...

    def tune(self, build: Callable[[float], Any], task: Task, dev: Sequence[Example], language: str,
             labels: Sequence[str] | None, grid: Sequence[float], strategy: str, seed: int = 0) -> Any: ...


def cached_search(predict: Callable[[float, list[Example]], list[Any]], task: Task, dev: Sequence[Example],
                  language: str, grid: Sequence[float], strategy: str, seed: int = 0,
                  tokenize: Callable[[str], list[str]] | None = None) -> Any:
    """λ search over validation examples: the search asks for rows by index and predicts each (λ, row) once.
    Shared by the decoder and the MAD-X evaluators."""
    def rows_predicted(lam: float, rows: Sequence[int]) -> list[Any]:
        return predict(lam, [dev[r] for r in rows])

    def metric(rows: Sequence[int], predictions: Sequence[Any]) -> float:
        return task.score([dev[r] for r in rows], list(predictions), language, tokenize).value

    chosen = get_chooser(strategy)  # one that reads only the rows' inputs gets no metric: no label is read
    return chosen(Evidence(grid, rows_predicted, None if chosen.reads == "inputs" else metric, len(dev), seed))


def check_batch_size(batch_size: int | None) -> None:
    """Refuse a batch size that would evaluate nothing (0: no batch ever ends; below 0: slices that skip rows)."""
    if batch_size is None:
        return
    if isinstance(batch_size, bool) or not isinstance(batch_size, int | np.integer) or batch_size < 1:
        raise EvaluationError(f"--batch-size {batch_size!r}: give a whole number of examples per forward pass, at "
                              "least 1 (or leave it out for the device's default)")


def load_examples(task: Task, data: str | Path, language: str, split: str, limit: int | None = None) -> list[Example]:
    if limit is not None and limit < 1:
        raise EvaluationError(f"--limit {limit} would evaluate nothing; give a positive number of examples, or "
                              "leave it out for all of them")
    split = split_name(split)
    examples = task.load(Path(data), language, split)
    if not examples:
        raise EvaluationError(f"{data}: no {task.name} examples for {language} in the {split} split")
    return examples[:limit] if limit else examples


def same_base(module: Module, info: Any) -> None:
    """Refuse a module trained on another base model than the evaluator's (`info`): one whose shapes happen
    to match would otherwise run and score nonsense. Bases are compared by their weights' fingerprint (else by
    hub id or name), so a module trained on another machine (another cache path) still fits; unknown fits."""
    base = module.base
    if base is not None and not base.same_as(info.identity):
        raise EvaluationError(f"{module.label} was trained on {base.describe()}, but this evaluation runs "
                              f"{info.identity.describe()} from {info.path}; pass --model {model_hint(base)}")


def same_task(module: Module | str | Path, task: Task) -> None:
    """Refuse a task module langarith trained on another task (its manifest records which): scored on this one, it
    would run and give a number for a task it never learned. Modules without that record pass."""
    if isinstance(module, Module):
        role, trained = module.role, (module.training or {}).get("task")
    else:
        manifest = Path(module).expanduser() / MANIFEST
        info = read_json(manifest) if manifest.is_file() else {}
        role, trained = info.get("role"), info.get("task")
    if role == "task" and isinstance(trained, str) and trained != task.name:
        raise EvaluationError(f"{_shown(module)} was trained on {trained} (its langarith.json says so), not on "
                              f"{task.name}; evaluate it with --task {trained}, or pass a module trained on "
                              f"{task.name}")


def _shown(module: Module | str | Path) -> str:
    return module.label if isinstance(module, Module) else str(module)


def finite(module: Module | str | Path) -> Module:
    """`module` (or the one in a folder), refused if any tensor holds NaN or Inf: such a module predicts one
    label everywhere, and its score would look like a result."""
    loaded = module if isinstance(module, Module) else load(Path(module).expanduser())
    bad = [k for k, t in {**loaded.tensors, **loaded.extras}.items() if not np.all(np.isfinite(t))]
    if bad:
        raise EvaluationError(f"{loaded.label} holds NaN or Inf in {len(bad)} tensor(s) ({', '.join(bad[:3])}); it "
                              "cannot be evaluated. Retrain it (a lower --lr) or compose it again")
    return loaded
