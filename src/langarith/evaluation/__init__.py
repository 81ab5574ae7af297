"""Evaluation of modules on task splits, and λ search on validation rows.

- `base`: the `Evaluator` protocol, `EvalResult`, `load_examples`, `cached_search`;
- `decoder`: `DecoderEvaluator`, modules merged into a decoder's weights (label scoring, generation);
- `seq2seq`: `Seq2SeqEvaluator`, the same for encoder-decoders (T5, mT5);
- `merged_evaluator`: the one of the two that fits a model; `attached_evaluator`: the one that scores a model
  in memory with its module attached, as it stands (training's checkpoint selection);
- `madx`: `MadxEvaluator`, an encoder's task adapter with its head over a swappable language slot.
- `run`: `evaluate`, a module scored on a task split (what `langarith evaluate` runs);
- `inplace`: `apply` / `applied`, a module added into a loaded transformers model's weights, in memory;
- `choose`: `search_lambda`, λ for a recipe on validation data (what `langarith search-lambda` runs).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from langarith.evaluation.base import EvalResult, EvaluationError, Evaluator, cached_search, load_examples
from langarith.evaluation.decoder import DecoderEvaluator
from langarith.evaluation.madx import MadxEvaluator
from langarith.evaluation.seq2seq import Seq2SeqEvaluator
from langarith.models import resolve


def merged_evaluator(model: str | None = None, **options: Any) -> DecoderEvaluator:
    """The evaluator that merges modules into `model`: prompting a decoder or an encoder-decoder."""
    family = resolve(model).family
    if family == "encoder":
        raise EvaluationError(f"{model} is an encoder: its task modules are AdapterHub adapters with a head, "
                              "evaluated with --lang-module (MAD-X)")
    return (Seq2SeqEvaluator if family == "encoder-decoder" else DecoderEvaluator)(model, **options)


def attached_evaluator(model: Any, info: Any, tokenizer: Any, *, labels: Any = None, max_len: int = 256,
                       rouge_tokenizer: str | Path | None = None) -> DecoderEvaluator | MadxEvaluator:
    """An evaluator over `model` (of the base `info`, a `models.ModelInfo`) with its module attached, as it stands:
    an encoder's AdapterHub model predicting `labels` with its head (rows cut to `max_len` tokens), a decoder or an
    encoder-decoder prompted (ROUGE counted on `rouge_tokenizer`'s pieces, else the model's); `evaluate(None, …)`
    scores it."""
    if info.family == "encoder":
        return MadxEvaluator.attached(model, info, tokenizer, labels, max_len=max_len)
    evaluator = Seq2SeqEvaluator if info.family == "encoder-decoder" else DecoderEvaluator
    return evaluator.attached(model, info, tokenizer, rouge_tokenizer=rouge_tokenizer)


__all__ = ["DecoderEvaluator", "EvalResult", "EvaluationError", "Evaluator", "MadxEvaluator", "Seq2SeqEvaluator",
           "attached_evaluator", "cached_search", "load_examples", "merged_evaluator"]
