"""Rank-r truncation of a sum of LoRA updates: exact for small concatenated ranks, a randomized range finder on
the factors for large ones, within 1% of the optimal (Eckart–Young) error."""

from __future__ import annotations

import numpy as np
import pytest

from langarith.arith.lowrank import EXACT_WIDTH, OVERSAMPLING, truncate_layers, truncate_sums
from langarith.core.errors import SemanticsError


def _terms(seed: int, k: int, rank: int = 4, d_in: int = 96, d_out: int = 80, decay: float = 0.0):
    """k random rank-`rank` LoRA terms with weights 1/k; `decay` > 0 makes later terms weaker."""
    rng = np.random.default_rng(seed)
    return [(rng.normal(size=(rank, d_in)).astype(np.float32), rng.normal(size=(d_out, rank)).astype(np.float32),
             np.exp(-decay * i) / k) for i in range(k)]


def _dense(terms) -> np.ndarray:
    return sum(w * b.astype(np.float64) @ a.astype(np.float64) for a, b, w in terms)


def _optimal_error(dense: np.ndarray, rank: int) -> float:
    s = np.linalg.svd(dense, compute_uv=False)
    return float(np.sqrt(np.sum(s[rank:] ** 2)))


@pytest.mark.parametrize(("k", "rank", "decay"), [(10, 4, 0.0), (25, 4, 0.0), (25, 8, 0.3), (40, 1, 0.1)])
def test_sketched_truncation_is_within_one_percent_of_the_optimal_error(k, rank, decay):
    terms = _terms(k, k, decay=decay)
    assert 4 * k > EXACT_WIDTH * (rank + OVERSAMPLING)  # the randomized path, not the exact one
    new_a, new_b = truncate_sums({"l": terms}, rank)["l"]
    assert new_a.shape == (rank, 96) and new_b.shape == (80, rank)
    dense = _dense(terms)
    error = float(np.linalg.norm(dense - new_b.astype(np.float64) @ new_a.astype(np.float64)))
    optimal = _optimal_error(dense, rank)
    assert optimal <= error <= 1.01 * optimal


def test_sketched_truncation_is_deterministic_and_batched_layers_match_single_ones():
    terms = {f"l{i}": _terms(i, 12) for i in range(3)}
    together = truncate_sums(terms, 4)
    again = truncate_sums(terms, 4)
    alone = truncate_sums({"l1": terms["l1"]}, 4)["l1"]
    for layer in terms:
        for x, y in zip(together[layer], again[layer], strict=True):
            np.testing.assert_array_equal(x, y)
    for x, y in zip(together["l1"], alone, strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("rank", [12, 20])
def test_no_cut_at_or_above_the_concatenated_rank(rank):
    terms = _terms(3, 3)  # R = 12
    new_a, new_b = truncate_sums({"l": terms}, rank)["l"]
    assert new_a.shape[0] == 12
    np.testing.assert_allclose(new_b @ new_a, _dense(terms), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(("k", "rank"), [(3, 5), (7, 4)])
def test_a_small_concatenated_rank_is_cut_exactly(k, rank):
    terms = _terms(4, k)  # R = 12, and R = 28, the largest the exact path takes at r = 4
    assert 4 * k <= EXACT_WIDTH * (rank + OVERSAMPLING)
    new_a, new_b = truncate_sums({"l": terms}, rank)["l"]
    u, s, vt = np.linalg.svd(_dense(terms))
    np.testing.assert_allclose(new_b @ new_a, (u[:, :rank] * s[:rank]) @ vt[:rank], rtol=1e-8, atol=1e-10)


def test_a_sum_of_fewer_directions_than_the_rank_is_kept_whole():
    a, b, _ = _terms(5, 1)[0]  # one rank-4 update, repeated: R = 40 but ΔW has rank 4
    terms = [(a, b, 0.1)] * 10
    new_a, new_b = truncate_layers({"l": (np.concatenate([t[0] for t in terms]),
                                          np.concatenate([t[1] * t[2] for t in terms], axis=1))}, 6)["l"]
    assert np.all(np.isfinite(new_a)) and np.all(np.isfinite(new_b))
    np.testing.assert_allclose(new_b.astype(np.float64) @ new_a, _dense(terms), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("k", [2, 12])  # the exact path and the sketch
def test_conv_factors_keep_their_shape_and_a_b_wider_than_one_by_one_is_refused(k):
    rng = np.random.default_rng(k)
    terms = [(rng.normal(size=(4, 6, 3, 3)), rng.normal(size=(10, 4, 1, 1)), 1.0 / k) for _ in range(k)]
    new_a, new_b = truncate_sums({"conv": terms}, 3)["conv"]
    assert new_a.shape == (3, 6, 3, 3) and new_b.shape == (10, 3, 1, 1)
    dense = sum(w * b.reshape(10, 4) @ a.reshape(4, 54) for a, b, w in terms)
    error = np.linalg.norm(dense - new_b.reshape(10, 3) @ new_a.reshape(3, 54))
    assert error <= 1.01 * _optimal_error(dense, 3)
    wide = [*terms[:-1], (terms[-1][0], rng.normal(size=(10, 4, 3, 3)), 1.0)]
    with pytest.raises(SemanticsError, match="cannot truncate layer conv"):
        truncate_sums({"conv": wide}, 3)
