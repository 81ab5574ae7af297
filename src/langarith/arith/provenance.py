"""What a composed module records of how it was made, the same whether `langarith compose`, `compose(...)` or
`save(vector.materialize(...))` made it: langarith's version and commit, when, the command line (or the call)
and the working folder (`langarith.core.records`), the semantics and rank, each input's effective weight, and
each input's absolute folder, sha256, language and role."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from langarith.core.records import absolute, run_record


def composed(weights: Mapping[str, float], inputs: Mapping[str, Any], semantics: str, rank: int | None,
             created: datetime | None = None) -> dict[str, Any]:
    """The provenance of a module composed from `inputs` (name → Module) with these effective `weights`. (Modules
    are read, not imported: this sits below `arith.module`, which `algebra` builds on.)"""
    record = run_record(date=created)
    return {**record, "semantics": semantics, "rank": rank, "created": record["date"], "weights": dict(weights),
            "inputs": [{"name": name, "path": absolute(m.source), "sha256": m.sha256, "language": m.language,
                        "role": m.role} for name, m in inputs.items()]}
