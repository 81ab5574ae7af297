"""`langarith.train`: a training run from a notebook, given as a `TrainSpec` or as its fields."""

from __future__ import annotations

import dataclasses
import difflib
from typing import Any

from langarith.training.spec import Trained, TrainError, TrainSpec


def train(spec: TrainSpec | None = None, /, *, console: Any = None, **fields: Any) -> Trained:
    """Train a language module (unlabeled text) or a task module (labeled data) and write its folder.

    Give a `TrainSpec`, or its fields as keyword arguments (they are the same names and defaults as the
    CLI's options), e.g. `train(role="language", language="pt", text=["tatoeba:pt"], out="runs/lang_pt",
    steps=200)` or `train(role="task", task="sib200", language="en", out="runs/task_en", warmup=0.1,
    schedule="cosine")`. Returns the folder, the trained model (on the CPU) and its record."""
    from langarith.training.loop import train as run  # torch and transformers: loaded here

    if spec is None:
        spec = TrainSpec(**_fields(fields))
    elif fields:
        spec = dataclasses.replace(spec, **_fields(fields, required=False))
    return run(spec, console)


def _fields(given: dict[str, Any], required: bool = True) -> dict[str, Any]:
    """`given`, checked against TrainSpec's fields: an unknown name is a one-line error with close names."""
    known = {f.name: f for f in dataclasses.fields(TrainSpec)}
    for name in given:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=3)
            hint = f"; did you mean {' or '.join(close)}?" if close else f"; the fields are {', '.join(known)}"
            raise TrainError(f"train() takes no field {name!r}{hint}")
    missing = [n for n, f in known.items() if required and f.default is dataclasses.MISSING
               and f.default_factory is dataclasses.MISSING and n not in given]
    if missing:
        raise TrainError(f"train() needs {', '.join(missing)} (e.g. role='language', language='pt', out='runs/x')")
    return given
