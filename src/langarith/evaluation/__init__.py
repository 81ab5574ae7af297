"""Evaluation of modules on task splits, and λ search on validation rows.

- `base`: the `Evaluator` protocol, `EvalResult`, `load_examples`, `cached_search`;
- `decoder`: `DecoderEvaluator`, modules merged into a decoder's weights (label scoring, generation);
- `madx`: `MadxEvaluator`, an encoder's task adapter with its head over a swappable language slot.
"""

from __future__ import annotations

from langarith.evaluation.base import EvalResult, EvaluationError, Evaluator, cached_search, load_examples
from langarith.evaluation.decoder import DecoderEvaluator
from langarith.evaluation.madx import MadxEvaluator

__all__ = ["DecoderEvaluator", "EvalResult", "EvaluationError", "Evaluator", "MadxEvaluator", "cached_search",
           "load_examples"]
