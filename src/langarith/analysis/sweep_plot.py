"""A score against a count (how many sources a composition averages): one colour per target, one line style per
way of choosing (the k nearest solid, k at random dashed, …), and the mean over targets in black. Drawn with
`langarith.analysis.plots`' backend and saving."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from langarith.analysis.measures import AnalysisError
from langarith.analysis.plots import _pyplot, _save

STYLES = ("-", "--", ":", "-.")


def mean_over(lines: Mapping[str, Mapping[str, Mapping[int, float]]], kind: str) -> dict[int, float]:
    """The mean over targets of the `kind` line at each count every target has."""
    per_target = [found[kind] for found in lines.values() if kind in found]
    counts = set.intersection(*(set(points) for points in per_target)) if per_target else set()
    return {k: sum(points[k] for points in per_target) / len(per_target) for k in sorted(counts)}


def score_by_count(
    lines: Mapping[str, Mapping[str, Mapping[int, float]]],
    path: str | Path,
    baselines: Mapping[str, float] | None = None,
    metric: str = "accuracy",
    title: str | None = None,
    x_label: str = "number of sources k",
) -> Path:
    """`lines[target][kind][k]`: the score of the `kind` row at count k on `target`. Each target is a colour,
    each kind a line style (in the order the kinds first appear), their mean over targets a thick black line of
    the same style; `baselines` are grey horizontal lines."""
    kinds = list(dict.fromkeys(kind for found in lines.values() for kind in found))
    if not kinds:
        raise AnalysisError(f"no scores given for {Path(path).name}: pass at least one target's (k, score) points")
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    colours = plt.get_cmap("tab10").colors
    for n, (target, found) in enumerate(lines.items()):
        for kind, points in found.items():
            ks = sorted(points)
            ax.plot(ks, [points[k] for k in ks], linestyle=STYLES[kinds.index(kind) % len(STYLES)], marker="o",
                    markersize=3, linewidth=1, alpha=0.7, color=colours[n % len(colours)], label=f"{target} {kind}")
    for kind in kinds:
        mean = mean_over(lines, kind)
        if mean:
            ax.plot(list(mean), list(mean.values()), linestyle=STYLES[kinds.index(kind) % len(STYLES)], marker="s",
                    linewidth=2.5, color="black", label=f"mean {kind}", zorder=4)
    for name, value in (baselines or {}).items():
        ax.axhline(float(value), linestyle=":", color="gray", linewidth=1.2, label=f"{name} ({float(value):.3g})")
    every = sorted({k for found in lines.values() for points in found.values() for k in points})
    ax.set_xticks(every)
    ax.set_xlabel(x_label)
    ax.set_ylabel(metric)
    ax.set_title(title or f"{metric} against {x_label}")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8, frameon=False)
    return _save(fig, path)
