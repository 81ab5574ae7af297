"""`Module`: the parameters of one trained PEFT module, as numpy arrays, with the metadata that
decides whether two modules can be combined.

Arithmetic acts on `tensors` (the vector θ). `extras` are full weights that travel with a module
but are not deltas (prediction heads, PEFT `modules_to_save`): adding or scaling them has no
meaning, so the algebra carries them instead. Keys are canonical: AdapterHub's adapter name is
replaced by `{adapter}` so that modules saved under different names line up.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from langarith.arith.algebra import ModuleVector
    from langarith.arith.identity import BaseIdentity

@dataclass(frozen=True)
class LoraPair:
    """One LoRA-adapted layer: ΔW = scaling · B @ A (A: r × in, B: out × r)."""

    a: str
    b: str
    scaling: float


@dataclass
class Module:
    """One module. `signature` holds the config values that must agree for element-wise arithmetic
    (e.g. AdapterHub's non-linearity); `stored_as` remembers file dtypes numpy lacks (bf16), which
    are held as float32 in memory and written back as stored."""

    tensors: dict[str, np.ndarray]
    kind: str
    format: str
    config: dict[str, Any]
    base_model: str | None = None  # as the folder's config names it
    base: BaseIdentity | None = None  # the base model it was trained on (None: unknown, fits any)
    targets: tuple[str, ...] = ()
    rank: int | None = None
    alpha: float | None = None
    lora: dict[str, LoraPair] = field(default_factory=dict)
    signature: dict[str, Any] = field(default_factory=dict)
    stored_as: dict[str, str] = field(default_factory=dict)
    extras: dict[str, np.ndarray] = field(default_factory=dict)
    language: str | None = None
    role: str | None = None
    name: str | None = None
    provenance: dict[str, Any] = field(default_factory=dict)
    init_fingerprint: str | None = None  # of the initial factors, when langarith trained it
    # Arithmetic gave this LoRA a new rank, alpha = rank and targets (delta semantics, dense merges): `config` is
    # still its input's, and the format rebuilds it from `rank`, `alpha` and `targets` when the module is saved.
    rewrite_config: bool = False
    training: dict[str, Any] | None = None  # what `langarith train` recorded (the manifest's main facts)
    source: Path | None = None
    sha256: str | None = None

    # --- algebra: a Module is a one-term ModuleVector -------------------------------------------
    @property
    def vector(self) -> ModuleVector:
        from langarith.arith.algebra import ModuleVector  # algebra builds on Module: the one import that must wait

        return ModuleVector(((1.0, self),))

    def __add__(self, other: Any) -> ModuleVector:
        return self.vector + other

    def __radd__(self, other: Any) -> ModuleVector:
        return self.vector.__radd__(other)

    def __sub__(self, other: Any) -> ModuleVector:
        return self.vector - other

    def __rsub__(self, other: Any) -> ModuleVector:
        return self.vector.__rsub__(other)

    def __mul__(self, other: Any) -> ModuleVector:
        return self.vector * other

    __rmul__ = __mul__

    def __truediv__(self, other: Any) -> ModuleVector:
        return self.vector / other

    def __neg__(self) -> ModuleVector:
        return -self.vector

    # --- facts -----------------------------------------------------------------------------------
    def __repr__(self) -> str:
        """One line: what the module is, never its tensors."""
        facts = {"kind": self.kind, "format": self.format, "role": self.role, "language": self.language,
                 "rank": self.rank}
        shown = ", ".join(f"{k}={v!r}" for k, v in facts.items() if v is not None)
        return f"Module({self.label!r}, {shown}, tensors={len(self.tensors)}, params={self.num_params:,})"

    @property
    def label(self) -> str:
        """How errors name this module: its CLI name, else its folder."""
        if self.name:
            return self.name
        return str(self.source) if self.source else "<in-memory module>"

    @property
    def num_params(self) -> int:
        return int(sum(t.size for t in self.tensors.values()))

    def norm(self) -> float:
        """L2 norm of the parameter vector θ (all arithmetic tensors together)."""
        return float(np.sqrt(sum(float(np.sum(np.square(t, dtype=np.float64))) for t in self.tensors.values())))

    def with_tensors(self, tensors: dict[str, np.ndarray], **changes: Any) -> Module:
        """A copy with new tensors (same layout), for results of arithmetic: no longer the trained module."""
        return replace(self, tensors=tensors, source=None, sha256=None, **{"training": None, **changes})

    def summary(self) -> dict[str, Any]:
        """What `langarith inspect` shows."""
        return {
            "path": str(self.source) if self.source else None,
            "format": self.format,
            "kind": self.kind,
            "base_model": self.base_model,
            "base": self.base.describe() if self.base else None,
            "targets": list(self.targets),
            "rank": self.rank,
            "alpha": self.alpha,
            "num_tensors": len(self.tensors),
            "num_params": self.num_params,
            "norm": self.norm(),
            "extras": sorted(self.extras),
            "language": self.language,
            "role": self.role,
            "dtypes": sorted({str(t.dtype) for t in self.tensors.values()}),
            "sha256": self.sha256,
            "init_fingerprint": self.init_fingerprint,
            "provenance": self.provenance or None,
            "training": self.training,
        }
