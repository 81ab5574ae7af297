"""Checkpoints next to a module's output folder (`<out>.ckpt/`): the trainable tensors, the optimizer, the
step state and the CPU generator, so that a run resumed after a kill or a deadline reaches bitwise the same
weights on the CPU as an uninterrupted one. Written atomically; checked against the module's initial
fingerprint when read back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from langarith.atomic import atomic_folder
from langarith.training.spec import TrainError

CHECKPOINT = "checkpoint.pt"


def checkpoint_dir(out: Path) -> Path:
    return out.with_name(out.name + ".ckpt")


def save_checkpoint(folder: Path, model: Any, method: Any, optimizer: Any, state: dict, init_fp: str) -> None:
    import torch

    trainable = {n: p.detach().clone() for n, p in method.trainable(model).items()}
    payload = {"trainable": trainable, "optimizer": optimizer.state_dict(), "state": state,
               "torch_rng": torch.get_rng_state(), "init_fingerprint": init_fp}
    with atomic_folder(folder, overwrite=True, markers=(CHECKPOINT,)) as tmp:
        torch.save(payload, tmp / CHECKPOINT)


def load_checkpoint(path: Path, params: dict[str, Any], optimizer: Any, init_fp: str) -> dict:
    import torch

    payload = torch.load(path, map_location="cpu", weights_only=True)
    if payload.get("init_fingerprint") != init_fp or set(payload["trainable"]) != set(params):
        raise TrainError(f"{path} was written by a different model, method or configuration; delete it to start over")
    with torch.no_grad():
        for name, value in payload["trainable"].items():
            params[name].copy_(value)
    optimizer.load_state_dict(payload["optimizer"])
    torch.set_rng_state(payload["torch_rng"])
    return dict(payload["state"])
