"""How each module of a run trained, from its manifest: steps, tokens, time, the training loss at the start and
the end, the held-out loss of a language module, and what checkpoint selection scored and kept. results.json
holds these as they are; results.md shows them as one table, so a row that did not learn (a task adapter whose
dev score never rose) is read beside the table it is in.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

#: steps averaged at each end of the training loss curve
ENDS = 10


def summary(folder: Path) -> dict[str, Any] | None:
    """The training record of the module in `folder` (None: not trained, or not by langarith)."""
    path = folder / "langarith.json"
    if not path.is_file():
        return None
    manifest = json.loads(path.read_text(encoding="utf-8"))
    losses = [x for x in manifest.get("loss_curve") or [] if x is not None]
    ends = min(ENDS, len(losses) // 2) or len(losses)
    held = manifest.get("heldout_loss") or {}
    chosen = manifest.get("selection") or {}
    curve = chosen.get("curve") or []
    return {"module": folder.name, "role": manifest.get("role"), "language": manifest.get("language"),
            "steps": manifest.get("steps"), "tokens": manifest.get("tokens"), "seconds": manifest.get("wall_time_s"),
            "loss_start": sum(losses[:ends]) / ends if losses else None,
            "loss_end": sum(losses[-ends:]) / ends if losses else None,
            "heldout_before": held.get("before"), "heldout_after": held.get("after"),
            "selection_metric": chosen.get("metric"), "best_step": chosen.get("best_step"),
            "best_value": chosen.get("best_value"), "last_value": curve[-1][1] if curve else None,
            "kept": chosen.get("keep")}


def section(summaries: Sequence[dict[str, Any]]) -> list[str]:
    """The results.md lines of the run's modules (none: no lines)."""
    if not summaries:
        return []
    lines = ["", "## Modules", "",
             f"Training loss: the mean of the first and of the last {ENDS} steps. Validation: what checkpoint "
             "selection scored (the best step's value, the last step's, and which step the module is).", "",
             "| module | steps | tokens | took | training loss | held-out loss | validation |",
             "|---|---:|---:|---:|---|---|---|"]
    for s in summaries:
        lines.append(f"| {s['role']} {s['language']} | {_number(s['steps'])} | {_number(s['tokens'])} | "
                     f"{_number(s['seconds'])} s | {_arrow(s['loss_start'], s['loss_end'])} | "
                     f"{_arrow(s['heldout_before'], s['heldout_after'])} | {_validation(s)} |")
    return lines


def _validation(s: dict[str, Any]) -> str:
    if s["best_step"] is None:
        return "–"
    kept = f"step {s['best_step']} kept" if s["kept"] == "best" else "the last step kept"
    return (f"{s['selection_metric']} best {s['best_value']:.4g} at step {s['best_step']}, last "
            f"{s['last_value']:.4g}; {kept}")


def _arrow(before: float | None, after: float | None) -> str:
    return "–" if before is None or after is None else f"{before:.3f} → {after:.3f}"


def _number(value: float | None) -> str:
    return "–" if value is None else f"{value:,.0f}"
