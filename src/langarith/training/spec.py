"""What a training run is asked to do (`TrainSpec`, whose field defaults are the only place training defaults
live: the CLI and the experiment budgets read them) and what it returns (`Trained`)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langarith.core.errors import LangarithError

ROLES = ("language", "task")
SAVE_DTYPES = ("fp32", "bf16")
SCHEDULES = ("constant", "linear", "cosine")  # the learning rate after warm-up: held, or decayed to 0 at the end
LOG_TO = ("tensorboard",)
KEEP = ("last", "best")  # the module saved: the last step's, or the one best on validation (`selection`)


class TrainError(LangarithError):
    """Training cannot start or continue (bad budget, unsupported combination, broken checkpoint)."""


@dataclass
class TrainSpec:
    role: str  # "language" | "task"
    language: str
    out: Path
    model: str | None = None
    method: str = "lora"
    method_options: dict[str, Any] = field(default_factory=dict)
    text: list[str] = field(default_factory=list)  # language modules
    task: str | None = None  # task modules
    data: Path | None = None
    languages: list[str] | None = None  # a multilingual task module: every language's data, concatenated
    split: str = "train"
    lang_module: Path | None = None  # MAD-X: train on top of this frozen language adapter
    steps: int | None = None  # default: DEFAULT_STEPS, unless `tokens` budgets the run
    tokens: int | None = None
    epochs: float | None = None  # task modules: passes over the examples instead of `steps`
    batch_size: int = 8
    seq_len: int = 64
    max_len: int = 256  # task examples: prompt + target tokens
    lr: float = 2e-4  # paper 1's LoRA rate
    warmup: float = 0  # optimizer steps of linear warm-up from 0 (a whole number), or a fraction < 1 of the run
    schedule: str = "constant"  # the rate after warm-up (SCHEDULES)
    clip: float | None = None  # clip the gradients' global norm to this (None: no clipping)
    grad_accum: int = 1  # micro-batches of batch_size per optimizer step: a step's batch is batch_size × grad_accum
    log_to: str | None = None  # "tensorboard": loss, learning rate and gradient norm per step
    log_dir: Path | None = None  # where they go (default: the module folder's logs/)
    seed: int = 0
    checkpoint_every: int = 50
    eval_every: int | None = None  # steps between validation scores (0 or None: none, the run as without them)
    keep: str = "last"  # the module saved: the last step's, or ("best") the step best on validation
    dev_limit: int | None = None  # task modules: score only the first this-many dev rows of each language
    rouge_tokenizer: str | None = None  # task modules scored by ROUGE: its pieces (.model, folder, hub id; model's)
    heldout: int = 16  # sequences held out to measure a language module's loss before and after
    max_text_tokens: int | None = None  # low resource: train on only the first this-many tokens of the text
    resume: bool = False
    overwrite: bool = False  # replace a module folder already at `out`
    progress: bool = True
    # bf16 mixed precision (autocast; fp32 weights, gradients, optimizer) or fp32; auto: bf16 on CUDA, fp32 on CPU
    precision: str = "auto"
    save_dtype: str = "fp32"  # the saved module's dtype: "bf16" halves it (committed GPU results)


DEFAULT_STEPS = 100


def default(name: str) -> Any:
    """A TrainSpec field's default, for the CLI and the experiment budgets."""
    return next(f.default for f in dataclasses.fields(TrainSpec) if f.name == name)


@dataclass
class Trained:
    """A finished run: the module folder, the model it was trained in (on the CPU), and its manifest."""

    path: Path
    model: Any = field(repr=False)
    manifest: dict[str, Any] = field(repr=False)
