"""Checkpoints next to a module's output folder (`<out>.ckpt/`): the trainable tensors, the optimizer and its
learning-rate schedule, the step state and the CPU generator, so that a run resumed after a kill or a deadline
reaches bitwise the same weights on the CPU as an uninterrupted one. Written atomically; checked against the
module's initial fingerprint when read back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from langarith.arith.formats.files import require_regular
from langarith.core.atomic import atomic_folder
from langarith.training.spec import TrainError

CHECKPOINT = "checkpoint.pt"
_KEYS = {"trainable", "optimizer", "state", "torch_rng", "init_fingerprint"}
_SCHEDULER = "scheduler"  # absent from checkpoints written before runs had a schedule (all constant)


def checkpoint_dir(out: Path) -> Path:
    return out.with_name(out.name + ".ckpt")


def save_checkpoint(folder: Path, model: Any, method: Any, optimizer: Any, state: dict, init_fp: str,
                    scheduler: Any = None) -> None:
    import torch

    trainable = {n: p.detach().clone() for n, p in method.trainable(model).items()}
    payload = {"trainable": trainable, "optimizer": optimizer.state_dict(), "state": state,
               "torch_rng": torch.get_rng_state(), "init_fingerprint": init_fp}
    if scheduler is not None:
        payload[_SCHEDULER] = scheduler.state_dict()
    with atomic_folder(folder, overwrite=True, markers=(CHECKPOINT,)) as tmp:
        torch.save(payload, tmp / CHECKPOINT)


def load_checkpoint(path: Path, params: dict[str, Any], optimizer: Any, init_fp: str, scheduler: Any = None) -> dict:
    import torch

    foreign = f"{path} was written by a different model, method or configuration; delete {path.parent} to start over"
    try:
        payload = torch.load(require_regular(path), map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises UnpicklingError, RuntimeError, EOFError… on a truncated or foreign file
        raise TrainError(f"{path} is not a readable langarith checkpoint ({type(err).__name__}: {err}); "
                         f"delete {path.parent} to start over") from err
    if not isinstance(payload, dict) or set(payload) - {_SCHEDULER} != _KEYS:
        raise TrainError(f"{path} is not a langarith checkpoint; delete {path.parent} to start over")
    trainable = payload["trainable"]
    if payload["init_fingerprint"] != init_fp or not isinstance(trainable, dict) or set(trainable) != set(params):
        raise TrainError(foreign)
    if any(not isinstance(v, torch.Tensor) or v.shape != params[k].shape for k, v in trainable.items()):
        raise TrainError(foreign)
    try:
        optimizer.load_state_dict(payload["optimizer"])
        if scheduler is not None and _SCHEDULER in payload:
            scheduler.load_state_dict(payload[_SCHEDULER])
        torch.set_rng_state(payload["torch_rng"])
    except (ValueError, KeyError, TypeError, RuntimeError) as err:
        raise TrainError(f"{foreign} ({err})") from err
    with torch.no_grad():
        for name, value in trainable.items():
            params[name].copy_(value)
    return dict(payload["state"])
