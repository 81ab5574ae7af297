"""Results as tables in the papers' layout — rows = methods, columns = targets + Avg — with significance marks
and chosen λ; one small table per secondary metric; and the mean ± standard deviation over seeds.
"""

from __future__ import annotations

import csv
import statistics
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from langarith.experiments.cells import Cell

SIGNIFICANT = 0.05


def mark(cell: Cell) -> str:
    """* significant against the baseline, † against the control (p < 0.05)."""
    out = ""
    if cell.p_baseline is not None and cell.p_baseline < SIGNIFICANT:
        out += "*"
    if cell.p_control is not None and cell.p_control < SIGNIFICANT:
        out += "†"
    return out


def layout(methods: Sequence[str], targets: Sequence[str],
           entry: Callable[[str, str], tuple[float, str] | None], empty: str = "–") -> list[str]:
    """The papers' layout as markdown lines: rows = methods, columns = targets + Avg. `entry(method, target)`
    gives a cell's value and its text, or None for an empty cell (shown as `empty`); Avg is left out of a row
    with one."""
    lines = ["| method | " + " | ".join(targets) + " | Avg |", "|---" * (len(targets) + 2) + "|"]
    for m in methods:
        found = [entry(m, t) for t in targets]
        values = [f[0] for f in found if f is not None]
        avg = f"{sum(values) / len(values):.1f}" if values and len(values) == len(targets) else "–"
        lines.append(f"| {m} | " + " | ".join(empty if f is None else f[1] for f in found) + f" | {avg} |")
    return lines


def table(cells: Sequence[Cell], methods: Sequence[str], targets: Sequence[str], empty: str = "–") -> str:
    """The main table: each cell's score with its significance marks and chosen λ; `empty` marks a cell with
    none ("not run" in a run its deadline stopped)."""
    by = {(c.method, c.target): c for c in cells}

    def entry(method: str, target: str) -> tuple[float, str] | None:
        cell = by.get((method, target))
        if cell is None or cell.score is None:
            return None
        edge = "ᵉ" if cell.on_edge else ""
        lam = f" (λ={cell.lam:g}{edge})" if cell.lam is not None else ""
        return cell.score, f"{cell.score:.1f}{mark(cell)}{lam}"

    return "\n".join(layout(methods, targets, entry, empty))


BOOKKEEPING = {"rouge_tokens"}  # metrics that record how a score was taken, not a score


def other_metrics(cells: Sequence[Cell], methods: Sequence[str], targets: Sequence[str], primary: str) -> list[str]:
    """One small table per secondary metric (chrF and the off-target rate beside ROUGE-2, macro-F1 beside
    accuracy): the effect Add & Subtract is meant to have on off-target output shows here, not in the main
    table."""
    names = sorted({k for c in cells for k in c.metrics} - {primary} - BOOKKEEPING)
    by = {(c.method, c.target): c.metrics for c in cells}
    lines: list[str] = []
    for name in names:
        def entry(method: str, target: str, name: str = name) -> tuple[float, str] | None:
            value = by.get((method, target), {}).get(name)
            return None if value is None else (value, f"{value:.1f}")

        lines += ["", f"**{name}**", "", *layout(methods, targets, entry)]
    return ["", "## Other metrics (test, at the λ chosen for the primary metric)", *lines] if lines else []


def write_seed_summary(config: Any, out: Path, runs: dict[int, list[Cell]], stopped: str | None = None) -> None:
    """`results.md` and `results.csv` of mean ± standard deviation over seeds (each seed's own table is in
    seed-N/)."""
    scores: dict[tuple[str, str], list[float]] = {}
    for cells in runs.values():
        for c in cells:
            if c.score is not None:
                scores.setdefault((c.method, c.target), []).append(c.score)
    rows = []
    stats: dict[tuple[str, str], tuple[float, float]] = {}
    for method in config.rows:
        for target in config.targets:
            values = scores.get((method, target), [])
            if values:
                mean, sd = statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0
                stats[(method, target)] = mean, sd
                rows.append({"method": method, "target": target, "mean": mean, "sd": sd, "seeds": len(values),
                             "scores": " ".join(f"{v:.2f}" for v in values)})

    def entry(method: str, target: str) -> tuple[float, str] | None:
        if (method, target) not in stats:
            return None
        mean, sd = stats[(method, target)]
        return mean, f"{mean:.1f} ± {sd:.1f}"

    lines = [f"# {config.name}: {len(runs)} seeds ({', '.join(map(str, runs))})", "",
             f"Mean ± standard deviation over seeds of {config.task} on {config.test_split}; each seed's own table "
             "(λ, significance, plots) is in seed-N/results.md.", "",
             *([f"**Incomplete: {stopped}.** Rerunning the same command continues.", ""] if stopped else []),
             *layout(config.rows, config.targets, entry)]
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    with (out / "results.csv").open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=["method", "target", "mean", "sd", "seeds", "scores"])
        writer.writeheader()
        writer.writerows(rows)
