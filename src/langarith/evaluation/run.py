"""`evaluate(...)`: a module scored on a task split, as `langarith evaluate` runs it and a notebook calls it — on a
decoder the module merged into the base model's weights, on an encoder a task adapter with its head stacked on
a language adapter (MAD-X)."""

from __future__ import annotations

import json
from pathlib import Path

from langarith.core.atomic import check_file
from langarith.evaluation.base import EvalResult, EvaluationError, check_batch_size, load_examples, same_task
from langarith.models import resolve
from langarith.tasks import get_task


def evaluate(module: str | Path | None = None, *, task: str, lang: str, data: str | Path | None = None,
             split: str = "test", limit: int | None = None, model: str | None = None, batch_size: int | None = None,
             rouge_tokenizer: str | Path | None = None, lang_module: str | Path | None = None,
             predictions: str | Path | None = None, overwrite: bool = False, progress: bool = True) -> EvalResult:
    """Score `module` (None: the base model) on `task`'s `split` in `lang` (the first `limit` examples). `data`:
    a data folder, the task's dataset folder or a file (default: found by name). On an encoder (`model`, or
    `lang_module` given), `module` is the task adapter and `lang_module` the language adapter under it.
    `predictions`: a file to write one JSON line per example into (target, prediction, score); one already there
    is replaced only with `overwrite`."""
    from langarith.evaluation import MadxEvaluator, merged_evaluator  # torch and transformers: loaded here

    check_batch_size(batch_size)
    if predictions is not None:
        check_file(Path(predictions), overwrite, "--predictions")
    chosen = get_task(task)
    if module is not None:
        same_task(module, chosen)
    where = chosen.where(Path(data) if data is not None else None)
    examples = load_examples(chosen, where, lang, split, limit)
    if lang_module is not None or (model is not None and resolve(model).family == "encoder"):
        if module is None:
            raise EvaluationError("on an encoder, --module is the task adapter (with its head) to evaluate")
        result = MadxEvaluator(model, module, batch_size=batch_size, progress=progress).evaluate(
            lang_module, chosen, where, lang, split, examples=examples)
    else:
        evaluator = merged_evaluator(model, batch_size=batch_size, progress=progress, rouge_tokenizer=rouge_tokenizer)
        result = evaluator.evaluate(module, chosen, where, lang, split, examples=examples)
    if predictions is not None:
        with Path(predictions).open("w", encoding="utf-8") as f:
            for ex, pred, score in zip(examples, result.predictions, result.scores.per_example, strict=True):
                f.write(json.dumps({"target": ex.target.strip(), "prediction": pred, "score": score},
                                   ensure_ascii=False) + "\n")
    return result
