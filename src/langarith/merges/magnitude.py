"""Magnitude pruning: keep each vector's largest-magnitude `density` fraction, then weighted sum."""

from __future__ import annotations

import numpy as np

from langarith.merges import keep_top, register


@register("magnitude")
def magnitude(stacked: np.ndarray, weights: np.ndarray, density: float = 0.2) -> np.ndarray:
    return weights @ keep_top(stacked, density)
