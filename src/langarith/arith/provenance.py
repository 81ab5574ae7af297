"""What a composed module records of how it was made, the same whether `langarith compose`, `compose(...)` or
`save(vector.materialize(...))` made it: langarith's version, when, the semantics and rank, each input's
effective weight, and each input's folder, sha256, language and role."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from langarith import __version__


def composed(weights: Mapping[str, float], inputs: Mapping[str, Any], semantics: str, rank: int | None,
             created: datetime | None = None) -> dict[str, Any]:
    """The provenance of a module composed from `inputs` (name → Module) with these effective `weights`. (Modules
    are read, not imported: this sits below `arith.module`, which `algebra` builds on.)"""
    return {"langarith_version": __version__, "semantics": semantics, "rank": rank,
            "created": (created or datetime.now(timezone.utc)).isoformat(timespec="seconds"),
            "weights": dict(weights),
            "inputs": [{"name": name, "path": str(m.source) if m.source else None, "sha256": m.sha256,
                        "language": m.language, "role": m.role} for name, m in inputs.items()]}
