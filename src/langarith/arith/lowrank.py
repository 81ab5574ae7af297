"""Low-rank algebra of LoRA factors: a layer's ΔW = s·B·A, and a rank-r approximation of it computed from the
factors, so that the d_out × d_in matrix is never formed. `delta` semantics in `langarith.arith.algebra` and the
dense merges build on these.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from langarith.core.errors import SemanticsError

#: extra sketch columns of the randomized range finder (Halko, Martinsson & Tropp 2011 use 5–10)
OVERSAMPLING = 10
#: power iterations (ΔW ΔWᵀ)^q applied to the sketch: each sharpens the captured top-r subspace
POWER_ITERATIONS = 2
SKETCH_SEED = 0  # Ω is drawn from a fixed seed, so a truncation is the same on every run
#: the exact (Gram) path is kept while R ≤ this × (r + OVERSAMPLING): up there it is also the faster one
#: (measured on Gemma 3 270M's q/k/v/o shapes at r = 4: equal at R = 32, the sketch 2.2× faster at R = 64)
EXACT_WIDTH = 2


class LoraLayers(Protocol):
    """What `lora_delta` reads of a `Module`: its tensors and its LoRA pairs. Named by shape rather than imported,
    so that this module (which `algebra` builds on) does not import `module`, and the operators' `module`~`algebra`
    pair stays the only import cycle."""

    tensors: dict[str, np.ndarray]
    lora: dict[str, Any]  # layer -> LoraPair


#: one term of a layer's sum ΔW = Σ wᵢ·Bᵢ·Aᵢ: (Aᵢ, Bᵢ, wᵢ)
Term = tuple[np.ndarray, np.ndarray, float]


def truncate_lora(a: np.ndarray, b: np.ndarray, rank: int, where: str = "") -> tuple[np.ndarray, np.ndarray]:
    """Rank-`rank` approximation of B @ A for one layer (see `truncate_sums`)."""
    return truncate_sums({where: [(a, b, 1.0)]}, rank)[where]


def truncate_layers(factors: dict[str, tuple[np.ndarray, np.ndarray]], rank: int
                    ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Rank-`rank` approximation of every layer's B @ A (see `truncate_sums`)."""
    return truncate_sums({layer: [(a, b, 1.0)] for layer, (a, b) in factors.items()}, rank)


def concatenate_terms(terms: list[Term]) -> tuple[np.ndarray, np.ndarray]:
    """float64 (A_cat, B_cat) with B_cat A_cat = Σ wᵢ Bᵢ Aᵢ exactly: A stacked by rows, B by columns, each column
    of B scaled by its term's weight."""
    b_cat = np.concatenate([b for _, b, _ in terms], axis=1, dtype=np.float64)
    b_cat *= _column_weights(terms).reshape((1, -1) + (1,) * (b_cat.ndim - 2))
    return np.concatenate([a for a, _, _ in terms], axis=0, dtype=np.float64), b_cat


def _column_weights(terms: list[Term]) -> np.ndarray:
    """Each concatenated column's weight: wᵢ repeated rᵢ times."""
    return np.repeat(np.array([w for _, _, w in terms], dtype=np.float64), [a.shape[0] for a, _, _ in terms])


def truncate_sums(sums: dict[str, list[Term]], rank: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """A rank-r approximation of every layer's ΔW = Σ wᵢ Bᵢ Aᵢ (R = Σ rᵢ, the concatenated rank), without
    forming ΔW, batched over layers of equal shape. The new factors split the singular values evenly
    (A_r = Σ^½ Vᵀ, B_r = U Σ^½), so B_r A_r is a plain LoRA update of scaling 1.

    - R ≤ r: nothing to cut; the exact concatenation (`concatenate_terms`) is returned;
    - R ≤ `EXACT_WIDTH`·(r + `OVERSAMPLING`): the best rank-r approximation (Eckart–Young), exactly, from R × R
      Gram matrices (`_gram_top`), which cost R²·(d_in + d_out) + R³;
    - larger R: a randomized range finder with `POWER_ITERATIONS` power iterations on the factored form
      (`_sketched_top`), which costs about R·(d_in + d_out)·(r + `OVERSAMPLING`) per pass, linear in R. Its error
      is within half a percent of the optimal one on sums of random LoRA modules (`benchmarks/compose.py`).
    The factors are written once, straight into each group's stack (float64 for the exact path, float32 for
    the sketch), rather than concatenated per layer first."""
    groups: dict[tuple[int, int, int], list[str]] = {}
    restores = {}
    for layer, terms in sums.items():
        a2, b2, restores[layer] = as_matrices(terms[0][0], terms[0][1], layer)
        if terms[0][1].ndim > 2:  # a conv layer: every B must be 1×1
            for a, b, _ in terms[1:]:
                as_matrices(a, b, layer)
        groups.setdefault((sum(a.shape[0] for a, _, _ in terms), a2.shape[1], b2.shape[0]), []).append(layer)
    out = {}
    for (big_r, d_in, d_out), layers in groups.items():
        if rank >= big_r:  # nothing to cut
            for layer in layers:
                out[layer] = concatenate_terms(sums[layer])
            continue
        exact = big_r <= EXACT_WIDTH * (rank + OVERSAMPLING)
        top, dtype = (_gram_top, np.float64) if exact else (_sketched_top, np.float32)
        a, b = _stacked([sums[layer] for layer in layers], (big_r, d_in, d_out), dtype)
        new_a, new_b = top(a, b, rank)
        for i, layer in enumerate(layers):
            out[layer] = restores[layer](new_a[i], new_b[i])
    return out


def _stacked(layers: list[list[Term]], shape: tuple[int, int, int], dtype: type
             ) -> tuple[np.ndarray, np.ndarray]:
    """(L, R, in) and (L, out, R) stacks of the layers' concatenated matrix factors, B's columns weighted."""
    big_r, d_in, d_out = shape
    a = np.empty((len(layers), big_r, d_in), dtype)
    b = np.empty((len(layers), d_out, big_r), dtype)
    weights = np.empty((len(layers), big_r))
    for i, terms in enumerate(layers):
        np.concatenate([a_i.reshape(a_i.shape[0], d_in) for a_i, _, _ in terms], axis=0, out=a[i])
        np.concatenate([b_i.reshape(d_out, b_i.shape[1]) for _, b_i, _ in terms], axis=1, out=b[i])
        weights[i] = _column_weights(terms)
    b *= weights[:, None, :].astype(dtype)
    return a, b


def _gram_top(a: np.ndarray, b: np.ndarray, rank: int) -> tuple[np.ndarray, np.ndarray]:
    """The best rank-r factors of stacked float64 B @ A, (L, R, in) and (L, out, R), decomposing only R × R
    matrices.

    With D = BᵀB = V Λ Vᵀ, N = Λ^½ Vᵀ A has the right singular vectors of BA, and N Nᵀ = W Σ² Wᵀ. Writing
    P = V Λ^½ W_r, the rank-r factors are A_r = Σ_r^-½ Pᵀ A and B_r = B (A Aᵀ P) Σ_r^-3/2 (B_r A_r =
    B A V_r V_rᵀ). Directions with σ below 1e-9·σ_max carry no signal and are dropped rather than divided by."""
    gram_a = a @ a.transpose(0, 2, 1)
    lam, v = np.linalg.eigh(b.transpose(0, 2, 1) @ b)
    root_lam = np.sqrt(np.clip(lam, 0.0, None))
    core = root_lam[:, :, None] * (v.transpose(0, 2, 1) @ gram_a @ v) * root_lam[:, None, :]
    sig2, w = np.linalg.eigh(core)
    sig2, w = sig2[:, ::-1][:, :rank], w[:, :, ::-1][:, :, :rank]  # top r, descending
    sig = np.sqrt(np.clip(sig2, 0.0, None))
    live = sig > 1e-9 * np.maximum(sig[:, :1], 1e-300)
    safe = np.where(live, sig, 1.0)
    p = v @ (root_lam[:, :, None] * w)  # (L, R, r)
    new_a = np.where(live, safe ** -0.5, 0.0)[:, :, None] * (p.transpose(0, 2, 1) @ a)
    new_b = (b @ (gram_a @ p)) * np.where(live, safe ** -1.5, 0.0)[:, None, :]
    return new_a, new_b


def _sketched_top(a: np.ndarray, b: np.ndarray, rank: int) -> tuple[np.ndarray, np.ndarray]:
    """Rank-r factors of stacked B @ A by the randomized range finder (Halko, Martinsson & Tropp 2011, alg. 4.4
    and 5.1), every product taken through the factors: Y = B (A Ω) for a Gaussian Ω of r + p columns, then q
    power iterations Z = Aᵀ (Bᵀ Y), Y = B (A Z), each re-orthonormalised; finally Q = qr(Y) and the small SVD
    of Qᵀ B A = (Qᵀ B) A = U Σ Vᵀ give B_r = Q U_r Σ_r^½ and A_r = Σ_r^½ V_rᵀ. Takes float32 stacks (LoRA
    factors are stored so): their rounding is far below the sketch's own error, and float32 products run twice
    as fast; the small (r + p)-sized decompositions are float64."""
    a_t, b_t = a.transpose(0, 2, 1), b.transpose(0, 2, 1)
    omega = np.random.default_rng(SKETCH_SEED).standard_normal((a.shape[2], rank + OVERSAMPLING), np.float32)
    y = b @ (a @ omega)
    for _ in range(POWER_ITERATIONS):
        z = _orthonormalised(a_t @ (b_t @ _orthonormalised(y)))
        y = b @ (a @ z)
    q = np.linalg.qr(y)[0]
    m = ((q.transpose(0, 2, 1) @ b) @ a).astype(np.float64)  # Qᵀ ΔW, (L, r + p, in)
    sig2, u = np.linalg.eigh(m @ m.transpose(0, 2, 1))  # its left singular vectors, from a (r + p)² matrix
    sig2, u = sig2[:, ::-1][:, :rank], u[:, :, ::-1][:, :, :rank]  # top r, descending
    sig = np.sqrt(np.clip(sig2, 0.0, None))
    live = sig > 1e-6 * np.maximum(sig[:, :1], 1e-300)  # below: float32 rounding, not signal
    safe = np.where(live, sig, 1.0)
    new_a = np.where(live, safe ** -0.5, 0.0)[:, :, None] * (u.transpose(0, 2, 1) @ m)  # Σ^½ Vᵀ = Σ^-½ Uᵀ M
    new_b = (q @ u.astype(np.float32)) * np.where(live, safe ** 0.5, 0.0)[:, None, :]
    return new_a, new_b


def _orthonormalised(y: np.ndarray) -> np.ndarray:
    """An orthonormal basis of the columns of stacked Y from the eigenvectors of YᵀY (cheaper than QR for a few
    columns; between power iterations only the basis's span matters). Directions with almost no energy become
    zero columns rather than amplified rounding."""
    w, v = np.linalg.eigh((y.transpose(0, 2, 1) @ y).astype(np.float64))
    scale = np.where(w > 1e-10 * np.maximum(w[:, -1:], 1e-300), 1.0 / np.sqrt(np.maximum(w, 1e-300)), 0.0)
    return y @ (v * scale[:, None, :]).astype(y.dtype)


def check_rank_fits(factors: dict[str, tuple[np.ndarray, np.ndarray]], rank: int) -> None:
    """Refuse a rank no layer can hold: a layer's ΔW (d_out × d_in) has rank at most min(d_out, d_in), so the rows
    above the largest such bound would only be zeros padded into every layer. `factors`: one (A, B) per layer."""
    if isinstance(rank, bool) or not isinstance(rank, int | np.integer) or rank < 1:
        raise SemanticsError(f"--rank must be a positive integer, got {rank!r}")
    bounds = {layer: min(int(np.prod(a.shape[1:])), int(b.shape[0])) for layer, (a, b) in factors.items()}
    layer = max(bounds, key=bounds.__getitem__)
    if rank > bounds[layer]:
        raise SemanticsError(f"--rank {rank} is more than any layer can hold: the largest, {layer}, has rank at most "
                             f"{bounds[layer]} (min(d_out, d_in)); give --rank {bounds[layer]} or less")


def as_matrices(a: np.ndarray, b: np.ndarray, where: str):
    """View LoRA factors as matrices: A (r, in, *k) → (r, in·k); B (out, r, 1, 1) → (out, r)."""
    if b.ndim > 2 and any(d != 1 for d in b.shape[2:]):
        raise SemanticsError(f"cannot truncate layer {where}: its B factor {tuple(b.shape)} is not 1×1")
    a_tail, b_tail = a.shape[1:], b.shape[2:]

    def restore(new_a: np.ndarray, new_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        r = new_a.shape[0]
        return new_a.reshape((r, *a_tail)), new_b.reshape((b.shape[0], r, *b_tail))

    return a.reshape(a.shape[0], -1), b.reshape(b.shape[0], b.shape[1]), restore


def pad_rank(a: np.ndarray, b: np.ndarray, rank: int) -> tuple[np.ndarray, np.ndarray]:
    """Zero-pad factors to a uniform rank: formats such as AdapterHub have one r per module."""
    r = a.shape[0]
    if r >= rank:
        return a, b
    a_pad = np.zeros((rank - r, *a.shape[1:]), dtype=a.dtype)
    b_pad = np.zeros((b.shape[0], rank - r, *b.shape[2:]), dtype=b.dtype)
    return np.concatenate([a, a_pad], axis=0), np.concatenate([b, b_pad], axis=1)


def lora_delta(module: LoraLayers, layer: str) -> np.ndarray:
    """ΔW of one layer as a dense (out, in…) array. Used by tests and dense merges, not by compose."""
    pair = module.lora[layer]
    a, b, _ = as_matrices(module.tensors[pair.a], module.tensors[pair.b], layer)
    return pair.scaling * (b.astype(np.float64) @ a.astype(np.float64))
