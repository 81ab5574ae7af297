"""Checkpoint selection on validation, as paper 2 keeps its checkpoints (`--eval-every N --keep best`).

Every `eval_every` steps, and at the last, the module being trained is scored in memory, as it stands: a
language module by its loss on the held-out text (`objectives.heldout_loss`, lower is better), a task module by
its task's primary metric on the dev split of its data (higher is better), through the evaluators of
`langarith.evaluation` over the attached module (`attached_evaluator`: nothing is saved, reloaded or merged).
Scores go into the run's state as a curve; with `keep="best"` the trainable tensors of the best step so far go
there too (a checkpoint carries them, so a resumed run still knows the best) and are put back before the module
is saved, in place of the last step's. Ties keep the earlier step.

Scoring changes no weight and draws nothing from the random generators, so the steps train bitwise as they do
without it; under bf16 the scores are taken under autocast, as the steps' losses are. torch is imported inside
functions.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langarith.core.errors import LangarithError
from langarith.models import heads
from langarith.tasks import rouge_tasks, split_name
from langarith.training.objectives import heldout_loss, unwrap
from langarith.training.spec import KEEP, TrainError, TrainSpec


@dataclass
class Selection:
    """How a run scores itself: every `every` steps, `metric` (lower is better where `lower`) by `score`."""

    every: int
    keep: str
    metric: str
    lower: bool
    score: Callable[[Any], float]  # the model (accelerate's wrapper taken off) → its value

    def due(self, state: dict[str, Any], total: int) -> bool:
        """Whether the state's step is one to score (a multiple of `every`, or the last) and is not scored yet."""
        step, curve = state["step"], state.get("selection", {}).get("curve") or []
        return step > 0 and (step % self.every == 0 or step >= total) and (not curve or curve[-1][0] < step)

    def better(self, value: float, best: float | None) -> bool:
        return math.isfinite(value) and (best is None or (value < best if self.lower else value > best))


def check_selection(spec: TrainSpec) -> None:
    """Values that cannot select are one-line errors before anything loads."""
    if spec.keep not in KEEP:
        raise TrainError(f"--keep must be one of {', '.join(KEEP)}, got {spec.keep!r}")
    if spec.eval_every is not None and spec.eval_every < 0:
        raise TrainError(f"--eval-every must be a number of steps (0: no validation), got {spec.eval_every}")
    if spec.keep == "best" and not spec.eval_every:
        raise TrainError("--keep best keeps the step best on validation: give --eval-every N (steps between scores)")
    if spec.dev_limit is not None and (spec.dev_limit < 1 or spec.role != "task"):
        raise TrainError(f"--dev-limit caps the dev rows a task module is scored on: a positive number, for task "
                         f"modules with --eval-every; got {spec.dev_limit} for a {spec.role} module")
    if spec.rouge_tokenizer is not None and not (spec.role == "task" and spec.task in rouge_tasks()):
        raise TrainError(f"--rouge-tokenizer sets the pieces ROUGE is counted on when --eval-every scores a task "
                         f"module of a ROUGE task ({', '.join(rouge_tasks())}); got it for "
                         f"{spec.task or 'a ' + spec.role + ' module'}: "
                         "leave it out")


def selection(run: Any) -> Selection | None:
    """The run's validation (None without `eval_every`), its data read once: a language module's held-out
    sequences, a task module's dev rows."""
    spec = run.spec
    if not spec.eval_every:
        return None
    if spec.role == "language":
        return _heldout(run)
    return _dev(run)


def _heldout(run: Any) -> Selection:
    spec, data = run.spec, run.data
    if data.heldout is None or len(data.heldout) == 0:
        raise TrainError(f"--eval-every scores {run.out.name} on held-out text, and none is held out (--heldout "
                         f"{spec.heldout}, at most a tenth of the text's sequences): give more text or leave "
                         "--eval-every out")

    def score(model: Any) -> float:
        return float(heldout_loss(model, data, spec.seq_len, run.info.family, run.tokenizer))

    return Selection(spec.eval_every, spec.keep, "heldout_loss", True, score)


def _dev(run: Any) -> Selection:
    from langarith.evaluation import attached_evaluator, load_examples

    spec, data, task = run.spec, run.data, run.data.task
    where = task.where(spec.data)
    if where.is_file() or split_name(spec.split) == "dev":
        why = f"{where} is one split file" if where.is_file() else "it trains on that split (--split dev)"
        raise TrainError(f"--eval-every scores a task module on its data's dev split, and {why}: give --data the "
                         "dataset's folder, train on another split, or leave --eval-every out")
    languages = spec.languages or [spec.language]
    try:
        dev = {lang: load_examples(task, where, lang, "dev", spec.dev_limit) for lang in languages}
        prompted = task.kind == "classification" and data.head is None  # label scoring reads the label names
        labels = {lang: task.labels(where, lang) if prompted else None for lang in languages}
    except LangarithError as err:
        raise TrainError(f"--eval-every scores a task module on its dev split: {err}; give data with a dev split, "
                         "or leave --eval-every out") from err
    unseen = sorted({u for rows in dev.values() for u in heads.unseen_labels(task, rows, data.labels)}) \
        if data.head and data.labels else []
    if unseen:
        raise TrainError(f"--eval-every: the dev rows of {where} have labels {unseen[:5]} that the head never learns "
                         f"({', '.join(data.labels)}); give dev data with the train split's labels")

    def score(model: Any) -> float:
        """The primary metric on each language's dev rows, averaged over the languages."""
        evaluator = attached_evaluator(unwrap(model), run.info, run.tokenizer, labels=data.labels,
                                       max_len=spec.max_len, rouge_tokenizer=spec.rouge_tokenizer)
        values = [evaluator.evaluate(None, task, Path(where), lang, "dev", examples=rows, labels=labels[lang]).value
                  for lang, rows in dev.items()]
        return sum(values) / len(values)

    return Selection(spec.eval_every, spec.keep, f"dev_{task.primary}", False, score)


def score(run: Any) -> float:
    """Score the run's module at its step, and keep its tensors if it is the best so far (`keep="best"`)."""
    import torch

    chosen, state = run.selection, run.state
    model = run.accelerator.unwrap_model(run.model)
    model.eval()
    try:
        with torch.autocast(run.accelerator.device.type, dtype=torch.bfloat16, enabled=run.precision == "bf16"):
            value = float(chosen.score(model))
    finally:
        model.train()
    record = state.setdefault("selection", {"curve": [], "best_step": None, "best_value": None})
    record["curve"].append([state["step"], value])
    if chosen.better(value, record["best_value"]):
        record["best_step"], record["best_value"] = state["step"], value
        if chosen.keep == "best":
            record["best"] = {n: p.detach().to("cpu", copy=True) for n, p in run.method.trainable(model).items()}
    return value


def restore_best(run: Any) -> None:
    """With `keep="best"`, put the best step's tensors back into the module (the last step's otherwise stay)."""
    import torch

    best = (run.state.get("selection") or {}).get("best")
    if run.spec.keep != "best" or not best:
        return
    params = run.method.trainable(run.accelerator.unwrap_model(run.model))
    with torch.no_grad():
        for name, value in best.items():
            params[name].copy_(value)


def record(run: Any) -> dict[str, Any]:
    """What the manifest says of the selection: the metric, how often, what was kept, the best step, the curve."""
    if run.selection is None:
        return {}
    done = run.state.get("selection") or {}
    return {"selection": {"metric": run.selection.metric, "every": run.spec.eval_every, "keep": run.spec.keep,
                          "best_step": done.get("best_step"), "best_value": done.get("best_value"),
                          "curve": done.get("curve", [])}}
