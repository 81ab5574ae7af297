"""Where models run, in which precision and with which libraries: the first CUDA GPU when there is one,
else the CPU; `describe()` and `versions()` are what results and manifests record about it.

Defaults follow the device: on CUDA, training runs under bf16 autocast (trainable weights, gradients and
the optimizer stay fp32) and evaluation batches are large; on the CPU, fp32 and small batches, as every
committed CPU result was made. Merged-weights evaluation of decoders stays fp32 everywhere: rounding
W + ΔW to bf16 drowns the small differences λ search compares (for a 60-step language module on Gemma 3 270M,
‖ΔW‖ = 0.7% of ‖W‖, what bf16 weights apply of 0.05·ΔW — one step of the λ grid — has cosine 0.25 with it).
torch is imported inside functions: the model-free commands never load it.
"""

from __future__ import annotations

import contextlib
import os
import platform
import sys
from typing import Any

from langarith import __version__
from langarith.core.errors import LangarithError

PRECISIONS = ("auto", "fp32", "bf16")
# Examples per forward pass at evaluation, by device type and model family; the CPU numbers are the ones
# the committed CPU results used.
EVAL_BATCH = {"cpu": {"decoder": 16, "encoder": 32}, "cuda": {"decoder": 64, "encoder": 256}}


DEVICE_ENV = "LANGARITH_DEVICE"  # what `--device` sets: child processes (pooled trainings) inherit it


class DeviceError(LangarithError):
    """The device asked for is not one this machine has."""


def use(name: str | None) -> None:
    """Run models on `name` (`cpu`, `cuda`, `cuda:1`) from now on, in this process and the ones it starts; None:
    the default (the first GPU when there is one, else the CPU)."""
    if name is None:
        return
    if name.split(":")[0] not in ("cpu", "cuda"):
        raise DeviceError(f"--device {name}: choose cpu, cuda or cuda:N")
    before = os.environ.get(DEVICE_ENV)
    os.environ[DEVICE_ENV] = name
    try:
        device()  # refused now, not at the first model
    except DeviceError:
        if before is None:
            os.environ.pop(DEVICE_ENV, None)
        else:
            os.environ[DEVICE_ENV] = before
        raise


def device() -> Any:
    """The torch device models run on: `$LANGARITH_DEVICE` (`--device`), else `cuda` when a GPU is visible,
    else `cpu`."""
    import torch

    asked = os.environ.get(DEVICE_ENV)
    if not asked:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    chosen = torch.device(asked)
    if chosen.type == "cuda" and (not torch.cuda.is_available() or (chosen.index or 0) >= torch.cuda.device_count()):
        raise DeviceError(f"--device {asked}: this machine has {torch.cuda.device_count()} CUDA GPU(s); use cpu, or "
                          "a GPU it has")
    return chosen


def training_precision(requested: str = "auto") -> str:
    """`auto` → bf16 on CUDA, fp32 on the CPU; `fp32` and `bf16` as asked (callers check the name)."""
    if requested != "auto":
        return requested
    return "bf16" if device().type == "cuda" else "fp32"


# Trainings of small modules (≤ 0.3 B-parameter bases) sharing one GPU: one alone leaves most of an H200 idle
# between its small kernels, so several overlap. An estimate, not a measurement (docs/air-gapped.md).
WORKERS_PER_GPU = 4


def training_workers(given: int | None = None) -> tuple[int, int]:
    """(processes that train independent modules at once, GPUs they share): `given`, else WORKERS_PER_GPU per
    visible GPU, and 1 on the CPU, where two trainings only slow each other (torch uses every core)."""
    import torch

    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    return (given if given is not None else max(1, WORKERS_PER_GPU * gpus)), gpus


def eval_batch_size(family: str, given: int | None = None) -> int:
    """`given`, else the device's default for this model family (decoder or encoder)."""
    if given is not None:
        return given
    return EVAL_BATCH[device().type].get(family, EVAL_BATCH[device().type]["decoder"])


def to_device(batch: dict[str, Any], where: Any) -> dict[str, Any]:
    """The batch with its tensors on `where` (other values as they are)."""
    return {k: v.to(where) if hasattr(v, "to") and hasattr(v, "device") else v for k, v in batch.items()}


def describe() -> dict[str, Any]:
    """What results.json records about the machine: device type and name, count, torch and CUDA versions."""
    import torch

    where = device()
    if where.type == "cuda":
        name, count = torch.cuda.get_device_name(0), torch.cuda.device_count()
    else:
        name, count = _cpu_name(), os.cpu_count() or 1
    return {"type": where.type, "name": name, "count": count, "torch": torch.__version__,
            "cuda": torch.version.cuda if where.type == "cuda" else None}


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def versions() -> dict[str, str]:
    """Versions of the libraries a result depends on, of langarith and of Python."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in ("torch", "transformers", "peft", "adapters", "accelerate", "numpy"):
        with contextlib.suppress(PackageNotFoundError):
            out[pkg] = version(pkg)
    out["langarith"] = __version__
    if (commit := source_commit()) is not None:
        out["langarith_commit"] = commit
    out["python"] = ".".join(map(str, sys.version_info[:3]))
    return out


def source_commit() -> str | None:
    """The git commit langarith runs from, `+dirty` when its files differ from it (None: an installed package,
    or no git): what a result was made by, beyond the version number."""
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]  # src/langarith/core → the checkout
    if not (root / "pyproject.toml").is_file() or not (root / ".git").exists():
        return None
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{head}+dirty" if dirty else head
