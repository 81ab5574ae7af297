"""How long a run is, and whether its numbers can train: `steps`, `tokens` (language modules) or `epochs` (task
modules) in optimizer steps, and budgets or rates that cannot train anything as one-line errors before anything
loads."""

from __future__ import annotations

import math

from langarith.training.spec import DEFAULT_STEPS, TrainError, TrainSpec


def check_numbers(spec: TrainSpec) -> None:
    """Budgets and rates that cannot train anything are errors here, not tracebacks (or NaN) later."""
    if not (math.isfinite(spec.lr) and spec.lr > 0):
        raise TrainError(f"--lr must be a positive number, got {spec.lr}; paper 1 uses 2e-4")
    least = {"batch_size": 1, "seq_len": 8, "max_len": 8, "checkpoint_every": 0, "heldout": 0}
    for name, low in least.items():
        if getattr(spec, name) < low:
            raise TrainError(f"--{name.replace('_', '-')} must be at least {low}, got {getattr(spec, name)}")
    if spec.max_text_tokens is not None and spec.max_text_tokens < 1:
        raise TrainError(f"max_text_tokens must be positive, got {spec.max_text_tokens}")
    if spec.epochs is not None and spec.steps is not None:
        raise TrainError("give --epochs or --steps, not both")
    if spec.epochs is not None and spec.role != "task":
        raise TrainError("--epochs counts passes over a task's examples; language modules take --steps or --tokens")
    if spec.epochs is not None and not (math.isfinite(spec.epochs) and spec.epochs > 0):
        raise TrainError(f"--epochs must be a positive number of passes over the examples, got {spec.epochs}")


def total_steps(spec: TrainSpec, tokens_per_step: int | None, examples: int | None = None) -> int:
    """The run's length: `steps`; `tokens` over a step's tokens (language modules); `epochs` passes over the
    `examples` (task modules: ⌈epochs × examples / (batch_size × grad_accum)⌉); else DEFAULT_STEPS."""
    if spec.steps is not None and spec.tokens is not None:
        raise TrainError("give --steps or --tokens, not both")
    if spec.tokens is not None:
        if tokens_per_step is None:
            raise TrainError("--tokens budgets language modules; task modules take --steps")
        if spec.tokens < tokens_per_step:
            raise TrainError(f"--tokens {spec.tokens} is less than one step ({tokens_per_step} tokens)")
        return math.ceil(spec.tokens / tokens_per_step)
    if spec.epochs is not None and examples is not None:
        return max(1, math.ceil(spec.epochs * examples / (spec.batch_size * spec.grad_accum)))
    steps = spec.steps if spec.steps is not None else DEFAULT_STEPS
    if steps < 1:
        raise TrainError(f"--steps must be positive, got {steps}")
    return steps
