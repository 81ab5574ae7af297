"""Training language modules (unlabeled text) and task modules (labeled data) on any Hugging Face model.

- `spec`: what a run is asked for (`TrainSpec`, the one home of training defaults) and returns (`Trained`);
- `data`: text packed into sequences, labeled examples into pairs or head inputs, batches by (seed, step);
- `objectives`: the loss of a batch (prefix-LM, seq2seq, masked LM, label-only, head loss);
- `chunked`: cross-entropy through a vocabulary's output layer in chunks of positions, without the full logits;
- `mlm_head`: the one shared, frozen MLM head of an encoder that ships none;
- `checkpoints`: save and resume, bitwise on the CPU;
- `budget`: a run's length (steps, tokens or epochs) and the numbers checked before anything loads;
- `selection`: checkpoint selection on validation (held-out loss, a task's dev metric), `--keep best`;
- `loop`: `train(spec)` as named steps; `api`: `train(...)` from a TrainSpec or its fields, as a notebook calls it.
"""

from __future__ import annotations

from typing import Any

from langarith.training.spec import Trained, TrainError, TrainSpec

__all__ = ["TrainError", "TrainSpec", "Trained", "train"]


def __getattr__(name: str) -> Any:
    """`train` is loaded on first use: the loop's imports cost about 0.1 s, which the CLI and the
    experiment configs (which read `spec` only) should not pay at start."""
    if name == "train":
        from langarith.training.api import train

        return train
    raise AttributeError(f"module 'langarith.training' has no attribute {name!r}")
