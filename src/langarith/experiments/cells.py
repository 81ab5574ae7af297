"""One cell of a results table (a method on a target), and the record of finished cells that lets a stopped
experiment continue where it stopped.

A run cut short by its deadline keeps every finished cell in `cells.json` next to its results; the rerun
takes them from there instead of evaluating them again. A cell is stored with its test predictions, not
its scores: scores are recomputed from the predictions by the task's own scorer, so a cell read back is
the cell that was made, significance tests included. The record is tied to the config: a changed config
starts a new one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any


@dataclass
class Cell:
    method: str
    target: str
    score: float | None
    metrics: dict[str, float] = field(default_factory=dict)
    lam: float | None = None
    on_edge: bool = False
    evaluations: float | None = None
    curve: list[tuple[float, float]] = field(default_factory=list)
    p_baseline: float | None = None
    p_control: float | None = None
    note: str = ""
    scores: Any = field(default=None, repr=False)
    dev: float | None = None  # the dev score the choice was made on (λ rows)
    predictions: list[Any] | None = field(default=None, repr=False)  # on test; what a rerun rescores

    def row(self) -> dict[str, Any]:
        return {"method": self.method, "target": self.target, "score": self.score, "lambda": self.lam,
                "lambda_on_edge": self.on_edge, "dev_evaluations": self.evaluations, "p_vs_baseline": self.p_baseline,
                "p_vs_control": self.p_control, "note": self.note,
                **{f"metric_{k}": v for k, v in self.metrics.items()}}


def better_on_dev(name: str, made: dict[str, Cell], dev: dict[str, float | None]) -> Cell:
    """The row of `dev` with the better dev score, reported under `name` (its test scores are that row's;
    it is tested against nothing, being one of the rows it stands for)."""
    choice = max(dev, key=lambda m: (dev[m] if dev[m] is not None else float("-inf"), m))
    return replace(made[choice], method=name, note=f"{choice} (better on dev: {dev[choice]:.1f})", p_baseline=None,
                   p_control=None)


STORED = ("score", "metrics", "lam", "on_edge", "evaluations", "curve", "note", "dev", "predictions")


class FinishedCells:
    """`cells.json` in a results folder: finished cells of one config, written as each one finishes."""

    def __init__(self, path: Path, config: dict[str, Any]):
        self.path = path
        self.key = hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()
        self._stored: dict[str, dict[str, Any]] = {}
        with contextlib.suppress(OSError, ValueError):  # none yet, or unreadable: start a new record
            saved = json.loads(path.read_text(encoding="utf-8"))
            if saved.get("config") == self.key:
                self._stored = saved.get("cells", {})

    def get(self, method: str, target: str, rescore: Callable[[list[Any]], Any]) -> Cell | None:
        """The finished cell, None if not finished. What significance tests read (`scores`) is recomputed by
        `rescore(predictions)`; the reported score and metrics are the stored ones (a control averaged over
        several draws keeps the predictions of its first draw only)."""
        stored = self._stored.get(f"{method}|{target}")
        if stored is None:
            return None
        values = {k: stored[k] for k in STORED}
        values["curve"] = [tuple(point) for point in values["curve"]]
        return Cell(method, target, scores=rescore(stored["predictions"]), **values)

    def add(self, cell: Cell) -> None:
        if cell.predictions is None:
            return
        self._stored[f"{cell.method}|{cell.target}"] = {k: getattr(cell, k) for k in STORED}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")  # a kill mid-write keeps the old record
        tmp.write_text(json.dumps({"config": self.key, "cells": self._stored}, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, self.path)


RUN_MECHANICS = ("workers", "executor", "executor_options")  # budget fields that hand out work, not shape it


def cells_record(config: Any) -> dict[str, Any]:
    """What finished cells are tied to: the config, less what cannot change a cell — its label-free twins (they
    only add rows) and how trainings are handed out (`workers`, `executor`, `executor_options`)."""
    record = {k: v for k, v in json.loads(config.model_dump_json()).items() if k != "label_free"}
    record["budgets"] = {name: {k: v for k, v in budget.items() if k not in RUN_MECHANICS}
                         for name, budget in record["budgets"].items()}
    return record

