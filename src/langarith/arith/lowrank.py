"""Low-rank algebra of LoRA factors: a layer's ΔW = s·B·A, and its best rank-r approximation computed on
R × R matrices (R the concatenated rank), so that the d_out × d_in matrix is never formed. `delta`
semantics in `langarith.arith.algebra` and the dense merges build on these.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from langarith.core.errors import SemanticsError


class LoraLayers(Protocol):
    """What `lora_delta` reads of a `Module`: its tensors and its LoRA pairs. Named by shape rather than imported,
    so that this module (which `algebra` builds on) does not import `module`, and the operators' `module`~`algebra`
    pair stays the only import cycle."""

    tensors: dict[str, np.ndarray]
    lora: dict[str, Any]  # layer -> LoraPair


def truncate_lora(a: np.ndarray, b: np.ndarray, rank: int, where: str = "") -> tuple[np.ndarray, np.ndarray]:
    """Best rank-`rank` approximation of B @ A for one layer (see `truncate_layers`)."""
    return truncate_layers({where: (a, b)}, rank)[where]


def truncate_layers(factors: dict[str, tuple[np.ndarray, np.ndarray]], rank: int
                    ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Best rank-r approximation (Eckart–Young) of every layer's B @ A, without forming B @ A.

    Only R × R matrices are decomposed (R = the concatenated rank), batched over layers of equal shape:
    with D = BᵀB = V Λ Vᵀ, N = Λ^½ Vᵀ A has the right singular vectors of BA, and N Nᵀ = W Σ² Wᵀ.
    Writing P = V Λ^½ W_r, the rank-r factors are A_r = Σ_r^-½ Pᵀ A and B_r = B (A Aᵀ P) Σ_r^-3/2, which
    split the singular values evenly (B_r A_r = B A V_r V_rᵀ). Directions with σ below 1e-9·σ_max carry
    no signal and are dropped rather than divided by."""
    groups: dict[tuple, list[str]] = {}
    mats = {}
    for layer, (a, b) in factors.items():
        a2, b2, restore = as_matrices(a, b, layer)
        mats[layer] = (a2, b2, restore)
        groups.setdefault((a2.shape, b2.shape), []).append(layer)
    out = {}
    for (a_shape, _), layers in groups.items():
        big_r = a_shape[0]
        if rank >= big_r:  # nothing to cut
            for layer in layers:
                out[layer] = factors[layer]
            continue
        a = np.stack([mats[layer][0] for layer in layers]).astype(np.float64)  # (L, R, in)
        b = np.stack([mats[layer][1] for layer in layers]).astype(np.float64)  # (L, out, R)
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
        for i, layer in enumerate(layers):
            out[layer] = mats[layer][2](new_a[i], new_b[i])
    return out


def check_rank_fits(factors: dict[str, tuple[np.ndarray, np.ndarray]], rank: int) -> None:
    """Refuse a rank no layer can hold: a layer's ΔW (d_out × d_in) has rank at most min(d_out, d_in), so the rows
    above the largest such bound would only be zeros padded into every layer."""
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
