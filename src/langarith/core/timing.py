"""Time as a budget: a deadline that long work checks between steps, and a stopwatch of wall time per stage.

A GPU reserved for minutes (or a batch job's wall-clock limit) ends a run whether it is done or not. Work that
can stop cleanly — training steps, evaluation batches, λ evaluations — calls `check()` between units; when
the deadline set by `until()` has passed, it raises `DeadlineReached`, and the caller that can leave things
complete (the experiment runner: results so far, the rest marked "not run"; training: a checkpoint to
resume from) catches it. Without a deadline, `check()` costs one context-variable read.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from contextvars import ContextVar

from langarith.core.errors import LangarithError

_AT: ContextVar[float | None] = ContextVar("langarith_deadline", default=None)


class DeadlineReached(LangarithError):
    """The time budget ran out; what was finished is kept and a rerun continues from it."""


@contextlib.contextmanager
def until(seconds_from_now: float | None) -> Iterator[None]:
    """Work inside stops at `check()` once `seconds_from_now` have passed (None: no deadline). An outer,
    earlier deadline still holds."""
    if seconds_from_now is None:
        yield
        return
    at = time.monotonic() + seconds_from_now
    outer = _AT.get()
    token = _AT.set(at if outer is None else min(at, outer))
    try:
        yield
    finally:
        _AT.reset(token)


def left() -> float | None:
    """Seconds until the deadline (negative once it has passed), or None without one."""
    at = _AT.get()
    return None if at is None else at - time.monotonic()


def check(what: str) -> None:
    """Raise `DeadlineReached` (naming `what` was interrupted) if the deadline has passed."""
    remaining = left()
    if remaining is not None and remaining <= 0:
        raise DeadlineReached(f"the deadline passed during {what}; rerun the same command to continue from here")


class Stopwatch:
    """Wall time per stage, exclusive: time spent in a stage nested in another (composing a module while λ
    is tuned) counts for the inner stage only, so the stages add up to the time measured."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._open: list[list[float]] = []  # per open stage: [started, time taken by nested stages]

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        frame = [time.perf_counter(), 0.0]
        self._open.append(frame)
        try:
            yield
        finally:
            self._open.pop()
            elapsed = time.perf_counter() - frame[0]
            self.seconds[name] = self.seconds.get(name, 0.0) + elapsed - frame[1]
            if self._open:
                self._open[-1][1] += elapsed

    def rounded(self) -> dict[str, float]:
        return {name: round(value, 2) for name, value in self.seconds.items()}
