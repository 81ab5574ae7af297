"""The optimizer's knobs beyond the learning rate, and where a run's scalars go.

- `--warmup` and `--schedule`: a `transformers` schedule (constant with warm-up, linear or cosine decay to 0)
  over the run's optimizer steps, stepped once per step and checkpointed with the optimizer;
- `--clip`: the gradients' global norm clipped (accelerate's `clip_grad_norm_`) before each step;
- `--grad-accum`: the micro-batches a step's batch is cut into (the loop backpropagates them one by one);
- `--log-to tensorboard`: loss, learning rate and gradient norm per step, through `SummaryWriter` (the optional
  `tensorboard` extra).

The defaults (constant, no warm-up, no clipping, one micro-batch) train bitwise as a plain AdamW loop does.
torch and transformers are imported inside functions.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Any

from langarith.training.spec import LOG_TO, SCHEDULES, TrainError, TrainSpec, default

#: the `transformers.get_scheduler` name of each schedule
_HF_SCHEDULES = {"constant": "constant_with_warmup", "linear": "linear", "cosine": "cosine"}
#: the knobs a run's definition holds (the optimizer's, and checkpoint selection's), with the value a checkpoint
#: written before they existed had
KNOBS = ("warmup", "schedule", "clip", "grad_accum", "eval_every", "keep", "dev_limit", "rouge_tokenizer")


def check_knobs(spec: TrainSpec) -> None:
    """Values that cannot train are one-line errors before anything loads."""
    if spec.schedule not in SCHEDULES:
        raise TrainError(f"--schedule must be one of {', '.join(SCHEDULES)}, got {spec.schedule!r}")
    if spec.grad_accum < 1:
        raise TrainError(f"--grad-accum must be at least 1, got {spec.grad_accum}")
    if spec.clip is not None and not (math.isfinite(spec.clip) and spec.clip > 0):
        raise TrainError(f"--clip must be a positive gradient norm (1.0 is common), got {spec.clip}")
    if not (math.isfinite(spec.warmup) and spec.warmup >= 0) or (spec.warmup >= 1 and spec.warmup % 1):
        raise TrainError(f"--warmup is a whole number of steps or a fraction below 1 of the run's, got {spec.warmup}")
    if spec.log_to is not None and spec.log_to not in LOG_TO:
        raise TrainError(f"--log-to must be one of {', '.join(LOG_TO)}, got {spec.log_to!r}")
    if spec.log_to == "tensorboard":
        summary_writer()  # missing: the error now, not after the model has loaded


def warmup_steps(warmup: float, total: int) -> int:
    """`warmup` in optimizer steps: a fraction below 1 of `total` (rounded up), else the steps given."""
    steps = math.ceil(warmup * total) if warmup < 1 else int(warmup)
    if steps > total:
        raise TrainError(f"--warmup {steps} is longer than the run ({total} steps); warm up for fewer steps, or a "
                         "fraction of the run (e.g. 0.1)")
    return steps


def definition(spec: TrainSpec) -> dict[str, Any]:
    """The knobs as a run's definition records them (a resume may not change them)."""
    rouge = spec.rouge_tokenizer and Path(spec.rouge_tokenizer).name  # by name: a resume may be on another machine
    return {**{name: getattr(spec, name) for name in KNOBS}, "eval_every": spec.eval_every or None,  # 0: none too
            "rouge_tokenizer": rouge or None}


def before_knobs(recorded: dict[str, Any]) -> dict[str, Any]:
    """A checkpoint's definition, with the defaults of knobs it predates."""
    return {**{name: default(name) for name in KNOBS}, **recorded}


def varies(spec: TrainSpec) -> bool:
    """Whether the learning rate changes during the run (then the manifest records its curve)."""
    return spec.schedule != "constant" or spec.warmup > 0


def scheduler(optimizer: Any, spec: TrainSpec, total: int) -> Any:
    """The learning-rate schedule over `total` optimizer steps (a `LambdaLR`: constant is a factor of exactly 1)."""
    from transformers import get_scheduler

    return get_scheduler(_HF_SCHEDULES[spec.schedule], optimizer, num_warmup_steps=warmup_steps(spec.warmup, total),
                         num_training_steps=total)


def clip_or_measure(accelerator: Any, params: list[Any], clip: float | None, measure: bool) -> Any:
    """Clip the gradients' global norm to `clip` and return the norm before clipping; without `clip`, the norm
    only if `measure` (else None, and nothing is computed)."""
    import torch

    if clip is not None:
        return accelerator.clip_grad_norm_(params, clip)
    if not measure:
        return None
    grads = [p.grad.detach() for p in params if p.grad is not None]
    if not grads:
        return torch.zeros(())
    return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g.float()) for g in grads]))


# --- scalars ------------------------------------------------------------------------------------------------
def summary_writer() -> Any:
    """tensorboard's `SummaryWriter` class, or a one-line error saying what to install."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as err:
        raise TrainError("--log-to tensorboard needs the tensorboard package: pip install tensorboard (or pip install "
                         "'langarith[tensorboard]')") from err
    return SummaryWriter


def staged_logs(out: Path) -> Path:
    """Where a run's logs are written while it trains (the module folder is written only at the end): beside it,
    as its checkpoint is; `keep_logs` moves them into the module folder."""
    return out.with_name(out.name + ".logs")


def log_folder(spec: TrainSpec, out: Path) -> Path:
    return Path(spec.log_dir).expanduser() if spec.log_dir is not None else staged_logs(out)


def open_writer(spec: TrainSpec, out: Path, step: int) -> Any:
    """The run's scalar writer (None unless `--log-to`); a resumed run drops what was logged after its checkpoint."""
    if spec.log_to is None:
        return None
    if step == 0:
        drop_staged_logs(spec, out)  # a run that died before its first checkpoint starts its log afresh
    return summary_writer()(log_dir=str(log_folder(spec, out)), purge_step=step or None)


def write_scalars(writer: Any, first: int, losses: list[float], lrs: list[float], norms: list[float | None]) -> None:
    """Steps `first + 1`, `first + 2`, …: their loss, learning rate and gradient norm (where measured)."""
    for i, (loss, lr, norm) in enumerate(zip(losses, lrs, norms, strict=True)):
        writer.add_scalar("train/loss", loss, first + i + 1)
        writer.add_scalar("train/lr", lr, first + i + 1)
        if norm is not None:
            writer.add_scalar("train/grad_norm", norm, first + i + 1)
    writer.flush()


def keep_logs(spec: TrainSpec, out: Path, folder: Path) -> None:
    """Copy the staged logs into the module folder being written (`folder`) as logs/; a given --log-dir stays."""
    staged = staged_logs(out)
    if spec.log_dir is None and staged.is_dir():
        shutil.copytree(staged, folder / "logs")


def drop_staged_logs(spec: TrainSpec, out: Path) -> None:
    if spec.log_dir is None:
        shutil.rmtree(staged_logs(out), ignore_errors=True)
