"""DARE (Yu et al., 2024): drop each parameter with probability p, rescale survivors by 1/(1 − p)
so the expectation is unchanged, then take the weighted sum. Seeded: one generator per call."""

from __future__ import annotations

import numpy as np

from langarith.arith.merges import register
from langarith.core.errors import SemanticsError


@register("dare")
def dare(stacked: np.ndarray, weights: np.ndarray, drop_rate: float = 0.5, seed: int = 0,
         rescale: bool = True) -> np.ndarray:
    if not 0.0 <= drop_rate < 1.0:
        raise SemanticsError(f"DARE drop rate must be in [0, 1), got {drop_rate}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise SemanticsError(f"DARE --seed must be a whole number ≥ 0, got {seed!r}")
    rng = np.random.default_rng(seed)
    keep = rng.random(stacked.shape) >= drop_rate
    dropped = np.where(keep, stacked, 0.0)
    if rescale:
        dropped /= 1.0 - drop_rate
    return weights @ dropped
