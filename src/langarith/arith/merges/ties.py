"""TIES-merging (Yadav et al., 2023): trim each vector to its top-k % magnitudes, elect a sign per
parameter by total mass, average only the values that agree with it (disjoint mean), scale by λ. `trim`:
the top-k over the whole module (the paper's code) or within each tensor (mergekit, PEFT)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from langarith.arith.merges import keep_top, register

PAPER_LAMBDAS = (0.8, 1.8)  # paper 2's range for TIES' scaling factor λ


@register("ties")
def ties(stacked: np.ndarray, weights: np.ndarray, top_k: float = 0.2, lam: float = 1.0, trim: str = "module",
         segments: Sequence[int] = ()) -> np.ndarray:
    trimmed = keep_top(stacked, top_k, trim, segments) * weights[:, None]
    elected = np.sign(trimmed.sum(axis=0))
    agree = (np.sign(trimmed) == elected) & (trimmed != 0.0)
    count = agree.sum(axis=0)
    merged = np.where(agree, trimmed, 0.0).sum(axis=0) / np.maximum(count, 1)
    return lam * merged
