"""Independent trainings at once: the modules an experiment needs, trained by several processes on one machine
(a few sharing one GPU, spread over the GPUs there are) or as cluster jobs through submitit, instead of one
after another.

Each training is the same `train(spec)` it is alone — seeded, resumable, its own process — so the modules
are the ones a serial run makes; only when they are made changes. A spec that trains on top of another's
module (a MAD-X task adapter on its language adapter) waits for it: specs run in waves, the specs of one wave
independent of each other. A worker's messages go to a hidden log beside its module (`.NAME.log`), so that
parallel trainings do not interleave their output.

Why processes and not threads: a training holds the GIL between kernels and sets torch's global state
(threads, seeds, autocast); a process of its own is what `accelerate launch` would give it as well. Why a
pool and not a scheduler of our own: waves of independent jobs are all an experiment needs, and the standard
library's pool (one machine) or submitit (Slurm, or its local backend) runs them.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Sequence
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any

from langarith.core import timing
from langarith.core.errors import LangarithError
from langarith.core.progress import ConsoleHandler, logging_to, progress, say
from langarith.training.spec import TrainSpec

EXECUTORS = ("processes", "submitit")


class PoolError(LangarithError):
    """Trainings cannot be handed out as asked (an unknown executor, submitit missing)."""


def waves(specs: Sequence[TrainSpec]) -> list[list[TrainSpec]]:
    """`specs` in waves: every spec after the one whose module it trains on (`lang_module`), none of a wave
    depending on another of it."""
    pending = {Path(spec.out): spec for spec in specs}
    out: list[list[TrainSpec]] = []
    while pending:
        ready = [s for s in pending.values() if s.lang_module is None or Path(s.lang_module) not in pending]
        out.append(ready)
        for spec in ready:
            del pending[Path(spec.out)]
    return out


def log_file(module: Path) -> Path:
    """Where the pooled training of the module folder `module` writes its messages: hidden, beside it."""
    module = Path(module)
    return module.with_name(f".{module.name}.log")


def deadline_at() -> float | None:
    """The caller's deadline as a wall-clock time: a training queued behind others starts later, and must still
    stop when the caller's time is up, not `left()` seconds after it starts."""
    left = timing.left()
    return None if left is None else time.time() + left


def train_one(spec: TrainSpec, until: float | None = None) -> str:
    """One training in a worker: `train(spec)` stopping at the wall-clock time `until` (the caller's deadline),
    its messages (progress and the library's log) to `log_file(spec.out)`. Returns the module folder."""
    from rich.console import Console

    from langarith.training.loop import train

    log = log_file(spec.out)
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a", encoding="utf-8") as handle, timing.until(None if until is None else until - time.time()):
        console = Console(file=handle, width=120)
        with logging_to(ConsoleHandler(console)):
            train(spec, console=console)
    return str(spec.out)


def _claim_device(slots: Any) -> None:
    """Worker start: take one GPU slot (its index, or None on a CPU) before anything initialises CUDA."""
    gpu = slots.get()
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(gpu)


def gpu_slots(workers: int, gpus: int) -> list[int | None]:
    """Which GPU each of `workers` processes uses: spread round-robin (None each without GPUs)."""
    return [i % gpus if gpus else None for i in range(workers)]


def train_all(specs: Sequence[TrainSpec], workers: int, gpus: int = 0, executor: str = "processes",
              executor_options: dict[str, Any] | None = None, console: Any = None, show: bool = True) -> list[Path]:
    """Train `specs` wave by wave, up to `workers` at once: processes on this machine (the `gpus` GPUs taken in
    turn), or submitit jobs (Slurm where it runs, else its local backend; `executor_options` go to
    `update_parameters`, and `cluster` to its `AutoExecutor`), with a progress bar if `show`. A failed training
    stops the rest (those already running finish and keep their modules) and raises its error; the deadline
    (`langarith.core.timing`) holds in every worker."""
    if executor not in EXECUTORS:
        raise PoolError(f"unknown executor {executor!r}; choose one of {', '.join(EXECUTORS)}")
    made: list[Path] = []
    with progress(show, console, transient=True) as bar:
        job = bar.add_task(f"training {len(specs)} modules, {workers} at a time", total=len(specs))
        for wave in waves(specs):
            say(f"training {len(wave)} module(s) at once: " + ", ".join(Path(s.out).name for s in wave),
                name=__name__)
            run = _in_processes if executor == "processes" else _in_submitit
            for folder in run(wave, workers, gpus, dict(executor_options or {})):
                made.append(Path(folder))
                bar.advance(job)
    return made


def _in_processes(wave: list[TrainSpec], workers: int, gpus: int, _: dict[str, Any]) -> list[str]:
    context = multiprocessing.get_context("spawn")  # a fresh interpreter: no torch or CUDA state inherited
    size = max(1, min(workers, len(wave)))
    slots = context.Queue()
    for slot in gpu_slots(size, gpus):
        slots.put(slot)
    with ProcessPoolExecutor(size, mp_context=context, initializer=_claim_device, initargs=(slots,)) as pool:
        futures = [pool.submit(train_one, spec, deadline_at()) for spec in wave]
        done, _pending = wait(futures, return_when=FIRST_EXCEPTION)
        failed = [f for f in done if f.exception() is not None]
        if failed:
            pool.shutdown(wait=True, cancel_futures=True)
            raise failed[0].exception()  # type: ignore[misc]
        return [f.result() for f in futures]


def _in_submitit(wave: list[TrainSpec], workers: int, gpus: int, options: dict[str, Any]) -> list[str]:
    try:
        import submitit  # optional: pip install 'langarith[cluster]'
    except ImportError as err:
        raise PoolError("executor submitit needs the submitit package: pip install 'langarith[cluster]'") from err
    folder = Path(wave[0].out).parent / ".submitit"
    executor = submitit.AutoExecutor(folder=folder, cluster=options.pop("cluster", None))
    executor.update_parameters(**{"slurm_array_parallelism": workers, **options})
    with executor.batch():
        jobs = [executor.submit(train_one, spec, deadline_at()) for spec in wave]
    return [job.result() for job in jobs]
