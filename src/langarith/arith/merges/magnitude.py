"""Magnitude pruning: keep each vector's largest-magnitude `density` fraction (over the module or within
each tensor, `trim`), then weighted sum."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from langarith.arith.merges import keep_top, register


@register("magnitude")
def magnitude(stacked: np.ndarray, weights: np.ndarray, density: float = 0.2, trim: str = "module",
              segments: Sequence[int] = ()) -> np.ndarray:
    return weights @ keep_top(stacked, density, trim, segments)
