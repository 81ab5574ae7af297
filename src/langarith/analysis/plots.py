"""Figures for analysing modules and composition results, written as PNG files (or any format matplotlib
writes, chosen by the file's extension): relative-improvement, cosine and URIEL distance heatmaps, λ curves,
weight density, URIEL distance against cosine. The numbers they draw come from
`langarith.analysis.measures`; this module only draws.

matplotlib is imported inside the drawing functions, with the Agg backend, so that importing langarith (and
the model-free CLI) stays fast and works without a display. Nothing here imports torch.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from langarith.analysis.measures import (
    AnalysisError,
    DistancePairs,
    NotEnoughLanguagesError,
    cosine_matrix,
    density_stats,
    distance_cosine_pairs,
    mean_between,
    mean_pairwise,
    module_labels,
)
from langarith.arith.module import Module
from langarith.languages.typology import DEFAULT_KIND, DistanceMatrix

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

DPI = 150
ANNOTATE_MAX = 15  # cells per side up to which matrix values are written into the cells
MAX_INCHES = 24.0  # a figure's longest side (3,600 pixels at DPI): hundreds of rows share it, not each their own
LABEL_MAX = 120  # rows or columns up to which each gets its tick label (more are unreadable at MAX_INCHES)
ROLE_COLOURS = {"language": "tab:blue", "task": "tab:orange", None: "dimgray"}
_ROLE_CMAPS = {"language": "Blues", "task": "Oranges", None: "Greys"}
_ROLE_STYLES = {"language": "-", "task": "--", None: ":"}

def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def image_format(path: str | Path) -> str:
    """The format the file's extension asks for (png without one); checked before any work is spent."""
    suffix = Path(path).suffix.lower().lstrip(".")
    if not suffix:
        return "png"
    _pyplot()
    from matplotlib.backend_bases import FigureCanvasBase

    supported = FigureCanvasBase.get_supported_filetypes()
    if suffix not in supported:
        raise AnalysisError(f"{path}: matplotlib cannot write .{suffix} images; use one of "
                            f"{', '.join('.' + s for s in sorted(supported))} (.png if unsure)")
    return suffix


def _save(fig: Figure, path: str | Path) -> Path:
    plt = _pyplot()
    path = Path(path).expanduser()
    try:
        fmt = image_format(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.tight_layout()
        fig.savefig(path, dpi=DPI, bbox_inches="tight", format=fmt)
    finally:
        plt.close(fig)
    return path


def _annotate(ax: Axes, values: np.ndarray, fmt: str, strong: float, skip_diagonal: bool = False) -> None:
    """Write each finite value into its cell, white on strong colours so it stays legible."""
    rows, cols = values.shape
    size = 8 if max(rows, cols) <= 10 else 6
    for i in range(rows):
        for j in range(cols):
            v = values[i, j]
            if not np.isfinite(v) or (skip_diagonal and i == j):
                continue
            colour = "white" if strong > 0 and abs(v) > 0.6 * strong else "black"
            ax.text(j, i, format(v, fmt), ha="center", va="center", fontsize=size, color=colour)


def _diverging(limit: float) -> tuple[Any, Any]:
    """A red–blue colormap centred on 0 with NaN drawn light grey, so that gains and losses read
    at a glance and missing cells are visibly missing rather than white (= 0)."""
    import matplotlib.colors as mcolors

    plt = _pyplot()
    cmap = plt.get_cmap("RdBu").with_extremes(bad="lightgrey")
    limit = limit if limit > 0 and math.isfinite(limit) else 1.0
    return cmap, mcolors.Normalize(vmin=-limit, vmax=limit)


def _inches(size: float) -> float:
    """A figure side, capped at MAX_INCHES: a heatmap of 300 languages is not 137 inches (a 14k-pixel image)."""
    return min(size, MAX_INCHES)


def _ticks(ax: Axes, rows: Sequence[str], cols: Sequence[str]) -> None:
    if max(len(rows), len(cols)) > LABEL_MAX:  # too many to read: the title says so
        ax.set_xticks([])
        ax.set_yticks([])
        return
    long = max((len(c) for c in cols), default=0)
    rotate = len(cols) > 6 or long > 6
    ax.set_xticks(range(len(cols)), labels=list(cols), rotation=45 if rotate else 0, ha="right" if rotate else "center",
                  rotation_mode="anchor")
    ax.set_yticks(range(len(rows)), labels=list(rows))


def improvement_heatmap(
    values: Mapping[tuple[str, str], float],
    path: str | Path,
    title: str = "Relative improvement over the baseline (%)",
    row_label: str = "task-module language",
    col_label: str = "target language",
) -> Path:
    """Relative improvement (%) of a method over a baseline per (row, column), e.g. per source task
    language and target language. Rows and columns keep the order in which they first appear, so a
    caller controls the layout; missing or NaN cells are grey."""
    if not values:
        raise AnalysisError(f"no improvements given for {Path(path).name}: pass at least one (row, column) value")
    rows = list(dict.fromkeys(r for r, _ in values))
    cols = list(dict.fromkeys(c for _, c in values))
    grid = np.full((len(rows), len(cols)), np.nan)
    for (r, c), v in values.items():
        grid[rows.index(r), cols.index(c)] = float(v) if v is not None else np.nan
    finite = np.abs(grid[np.isfinite(grid)])
    # the colour scale stops at the 90th percentile, so one collapsed baseline (a +600% cell) does not wash
    # out every other cell; the numbers written in the cells stay exact
    limit = float(np.percentile(finite, 90)) if finite.size else 1.0
    limit = limit or float(finite.max(initial=0.0)) or 1.0
    cmap, norm = _diverging(limit)
    plt = _pyplot()
    width, height = _inches(max(5.0, 0.75 * len(cols) + 3.0)), _inches(max(3.5, 0.5 * len(rows) + 2.0))
    fig, ax = plt.subplots(figsize=(width, height))
    image = ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, norm=norm, aspect="auto")
    _ticks(ax, rows, cols)
    ax.set_xlabel(col_label)
    ax.set_ylabel(row_label)
    ax.set_title(title)
    if len(rows) <= ANNOTATE_MAX and len(cols) <= ANNOTATE_MAX:
        _annotate(ax, grid, "+.1f", limit)
    fig.colorbar(image, ax=ax, label="relative improvement (%)", fraction=0.046, pad=0.04,
                 extend="both" if finite.size and finite.max() > limit else "neither")
    return _save(fig, path)


def best_point(points: Sequence[tuple[float, float]], higher_is_better: bool = True) -> tuple[float, float] | None:
    """The (λ, score) a λ sweep would choose: the best finite score, the largest λ on ties (as
    `langarith.scoring.search` does: the one closest to the task module alone). None when no score is finite."""
    finite = [(float(x), float(y)) for x, y in points if math.isfinite(float(y))]
    if not finite:
        return None
    sign = -1.0 if higher_is_better else 1.0
    return min(finite, key=lambda p: (sign * p[1], -p[0]))


def lambda_curves(
    curves: Mapping[str, Sequence[tuple[float, float]]],
    baselines: Mapping[str, float],
    path: str | Path,
    metric: str = "accuracy",
    title: str | None = None,
    higher_is_better: bool = True,
) -> Path:
    """Score against λ for each method, with each baseline as a dashed horizontal line, to show
    where composition beats the baselines and how sensitive it is to λ. The best λ of each curve
    is starred and named in the legend (not on the plot, where labels would collide)."""
    if not curves:
        raise AnalysisError(f"no curves given for {Path(path).name}: pass at least one method's (λ, score) points")
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    colours = plt.get_cmap("tab10").colors
    for k, (method, points) in enumerate(curves.items()):
        if not points:
            raise AnalysisError(f"curve {method!r} has no (λ, score) points; drop it or pass its results")
        ordered = sorted((float(x), float(y)) for x, y in points)
        xs, ys = np.array([p[0] for p in ordered]), np.array([p[1] for p in ordered])
        colour = colours[k % len(colours)]
        label = method
        best = best_point(ordered, higher_is_better)
        if best is not None:
            label = f"{method} (best λ = {best[0]:g}: {best[1]:.3g})"
            ax.plot(*best, marker="*", markersize=16, color=colour, markeredgecolor="black", zorder=4)
        ax.plot(xs, ys, marker="o", markersize=4, color=colour, label=label, zorder=3)
    styles = ["--", ":", "-.", (0, (5, 1, 1, 1))]
    greys = ["black", "dimgray", "gray", "darkslategray"]
    for k, (name, value) in enumerate(baselines.items()):
        ax.axhline(float(value), linestyle=styles[k % len(styles)], color=greys[k % len(greys)], linewidth=1.2,
                   label=f"{name} ({float(value):.3g})", zorder=2)
    ax.set_xlabel("λ")
    ax.set_ylabel(metric)
    ax.set_title(title or f"{metric} against λ")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8, frameon=False)
    return _save(fig, path)


def cosine_heatmap(
    modules: Sequence[Module],
    path: str | Path,
    title: str = "Cosine similarity of module parameters",
    *,
    cosine: tuple[list[str], np.ndarray] | None = None,
) -> Path:
    """The matrix from `cosine_matrix`. The colour scale is centred on 0 and spans the largest
    off-diagonal value, not ±1: the interesting contrast (≈ 0.25 between language modules against
    ≈ 0.02 between task modules) would be invisible next to the diagonal's 1, which is greyed out.
    Tick labels are coloured by role. `cosine`, what `cosine_matrix(modules)` returned, saves
    recomputing it."""
    modules = list(modules)
    labels, cos = cosine if cosine is not None else cosine_matrix(modules)
    if len(labels) != len(modules) or cos.shape != (len(modules), len(modules)):
        raise AnalysisError(f"cosine matrix for {len(labels)} modules given with {len(modules)} modules; pass what "
                            "cosine_matrix returns for these same modules")
    n = len(labels)
    off = cos.copy()
    np.fill_diagonal(off, np.nan)
    finite = off[np.isfinite(off)]
    limit = float(np.max(np.abs(finite))) if finite.size else 1.0
    cmap, norm = _diverging(limit)
    plt = _pyplot()
    side = _inches(max(4.5, 0.55 * n + 2.5))
    fig, ax = plt.subplots(figsize=(side + 1.2, side))
    image = ax.imshow(np.ma.masked_invalid(off), cmap=cmap, norm=norm)
    _ticks(ax, labels, labels)
    for ticks in (ax.get_xticklabels(), ax.get_yticklabels()):
        for tick, module in zip(ticks, modules, strict=True):
            tick.set_color(ROLE_COLOURS.get(module.role, "dimgray"))
    if n <= ANNOTATE_MAX:
        _annotate(ax, off, ".3f" if limit < 0.1 else ".2f", limit, skip_diagonal=True)  # task cosines ≈ 0.01
    roles = {m.role for m in modules}
    note = " · ".join(
        f"{r} modules in {ROLE_COLOURS[r].removeprefix('tab:')}" for r in ("language", "task") if r in roles
    )
    ax.set_title(title + (f"\n({note}; diagonal = 1, grey)" if note else "\n(diagonal = 1, grey)"), fontsize=11)
    ax.set_xlabel("module")
    ax.set_ylabel("module")
    fig.colorbar(image, ax=ax, label="cosine similarity", fraction=0.046, pad=0.04)
    return _save(fig, path)


def density_plot(modules: Sequence[Module], path: str | Path, title: str = "Weight density of modules") -> Path:
    """Left: the distribution of |θ| per module on a log axis (share of parameters per log-spaced
    bin), coloured and styled by role. Right: per module, the share of |θ| below 1e-2 and 1e-3 of
    its maximum. Sparse modules (language vectors, in "No Train but Gain") put more mass far left
    and have longer bars. Exact zeros cannot sit on a log axis and are counted in the legend."""
    modules = list(modules)
    if not modules:
        raise AnalysisError(f"no modules given for {Path(path).name}: pass at least one module")
    labels = module_labels(modules)
    stats = [density_stats(m) for m in modules]
    top = max(s["max_abs"] for s in stats)
    if top <= 0:
        raise AnalysisError("every module is all zeros, so there is no |θ| distribution to draw")
    smallest = min((_min_positive(m) for m in modules), default=top)
    low = max(smallest, top * 1e-8)
    low = 10 ** math.floor(math.log10(low))
    high = 10 ** math.ceil(math.log10(top))
    if high <= low:
        high = low * 10
    # fewer bins for tiny modules, whose histograms would otherwise be mostly empty bins
    bins = int(min(60, max(15, math.sqrt(min(m.num_params for m in modules)))))
    edges = np.logspace(math.log10(low), math.log10(high), bins + 1)

    plt = _pyplot()
    n = len(modules)
    fig, (left, right) = plt.subplots(1, 2, figsize=(13.0, _inches(max(4.5, 0.32 * n + 2.5))),
                                      gridspec_kw={"width_ratios": [1.6, 1.0]})
    by_role: dict[str | None, list[int]] = {}
    for i, m in enumerate(modules):
        by_role.setdefault(m.role if m.role in ROLE_COLOURS else None, []).append(i)
    colours: dict[int, Any] = {}
    for role, members in by_role.items():
        cmap = plt.get_cmap(_ROLE_CMAPS[role])
        shades = np.linspace(0.5, 0.95, len(members)) if len(members) > 1 else [0.75]
        colours.update({i: cmap(s) for i, s in zip(members, shades, strict=True)})
    per_module_legend = n <= 12
    for i, m in enumerate(modules):
        counts = np.zeros(len(edges) - 1)
        for tensor in m.tensors.values():
            a = np.abs(np.asarray(tensor, dtype=np.float64)).reshape(-1)
            a = a[a > 0]
            counts += np.histogram(np.clip(a, edges[0], edges[-1]), bins=edges)[0]
        share = counts / max(m.num_params, 1)
        role = m.role if m.role in ROLE_COLOURS else None
        label = labels[i] if role and role in labels[i] else f"{labels[i]} ({role or 'no role'})"
        if stats[i]["share_zero"] > 0:
            label += f", {100 * stats[i]['share_zero']:.0f}% exactly 0"
        left.stairs(share, edges, color=colours[i], linestyle=_ROLE_STYLES[role], linewidth=1.6,
                    label=label if per_module_legend else None)
    left.set_xscale("log")
    left.set_xlabel("|θ| (log scale; smaller values counted in the first bin)")
    left.set_ylabel("share of parameters per bin")
    left.set_title("distribution of |θ|")
    left.grid(alpha=0.3)
    if per_module_legend:
        left.legend(fontsize=7, loc="upper left", frameon=False)
    else:
        from matplotlib.lines import Line2D

        handles = [Line2D([], [], color=ROLE_COLOURS[r], linestyle=_ROLE_STYLES[r], label=r or "no role")
                   for r in by_role]
        left.legend(handles=handles, fontsize=8, loc="upper left", frameon=False)

    y = np.arange(n)
    for i in range(n):
        role = modules[i].role if modules[i].role in ROLE_COLOURS else None
        wide, narrow = 100 * stats[i]["share_below_1e-2"], 100 * stats[i]["share_below_1e-3"]
        right.barh(y[i], wide, color=ROLE_COLOURS[role], alpha=0.35, edgecolor=ROLE_COLOURS[role], height=0.75)
        right.barh(y[i], narrow, color=ROLE_COLOURS[role], height=0.3)
        right.text(wide + 1, y[i], f"{wide:.0f}% / {narrow:.0f}%", va="center", fontsize=7)
    from matplotlib.patches import Patch

    right.legend(handles=[Patch(facecolor="gray", alpha=0.35, edgecolor="gray", label="|θ| < 1e-2·max"),
                          Patch(facecolor="gray", label="|θ| < 1e-3·max")],
                 fontsize=7, loc="best", framealpha=0.9)
    right.set_yticks(y, labels=labels)
    for tick, m in zip(right.get_yticklabels(), modules, strict=True):
        tick.set_color(ROLE_COLOURS.get(m.role, "dimgray"))
    right.invert_yaxis()
    right.set_xlim(0, 118)
    right.set_xticks([0, 20, 40, 60, 80, 100])
    right.set_xlabel("% of parameters near zero (relative to the module's max |θ|)")
    right.set_title("sparsity")
    right.grid(axis="x", alpha=0.3)
    fig.suptitle(title)
    return _save(fig, path)


def _min_positive(module: Module) -> float:
    smallest = math.inf
    for tensor in module.tensors.values():
        a = np.abs(np.asarray(tensor))
        positive = a[a > 0]
        if positive.size:
            smallest = min(smallest, float(positive.min()))
    return smallest


def distance_vs_cosine(
    modules: Sequence[Module] | DistancePairs,
    path: str | Path,
    kind: str = DEFAULT_KIND,
    title: str | None = None,
) -> Path:
    """Each pair of modules with known languages as a point, URIEL distance against cosine similarity, one
    panel per pair type (language–language, task–task, then mixed pairs) with its own Pearson r: the types
    are never pooled, since task modules are far less alike than language modules whatever the languages.
    A negative r means related languages have more similar modules. Accepts precomputed `DistancePairs`
    so that a report does not compute them twice."""
    data = modules if isinstance(modules, DistancePairs) else distance_cosine_pairs(modules, kind)
    plt = _pyplot()
    groups = data.groups()
    fig, axes = plt.subplots(1, len(groups), figsize=(_inches(5.5 * len(groups)), 5.0), squeeze=False, sharey=True)
    palette = {"language–language": "tab:blue", "task–task": "tab:orange", "language–task": "tab:purple"}
    others = iter(plt.get_cmap("tab10").colors[4:])
    for ax, group in zip(axes[0], groups, strict=True):
        members = [p for p in data.pairs if p["group"] == group]
        ax.scatter([p["distance"] for p in members], [p["cosine"] for p in members], s=40,
                   color=palette.get(group) or next(others, "gray"), edgecolor="black", linewidth=0.5, zorder=3)
        if len(members) <= 12:
            _label_pairs(ax, members)
        r = data.pearson_r.get(group)
        ax.set_title(f"{group} pairs ({len(members)})\n"
                     + ("Pearson r = n/a (needs ≥ 3 varying pairs)" if r is None else f"Pearson r = {r:+.2f}"),
                     fontsize=10)
        ax.set_xlabel(f"URIEL {data.kind} distance (0 = same, 1 = farthest)")
        ax.axhline(0.0, color="gray", linewidth=0.8, zorder=1)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("cosine similarity of parameters")
    line = title or f"URIEL {data.kind} distance vs cosine similarity"
    if data.skipped_pairs:
        line += "\n" + "\n".join(textwrap.wrap(f"{data.skipped_pairs} pairs skipped (language unknown to URIEL: "
                                                f"{', '.join(data.unknown)})", 110))
    fig.suptitle(line, fontsize=11)
    return _save(fig, path)


def _label_pairs(ax: Axes, pairs: Sequence[dict[str, Any]]) -> None:
    xs = [p["distance"] for p in pairs]
    right_edge = min(xs) + 0.7 * (max(xs) - min(xs))
    for p in pairs:
        if math.isfinite(p["cosine"]):
            flip = max(xs) > min(xs) and p["distance"] > right_edge  # label leftwards, inside the axes
            ax.annotate(f"{p['a']}–{p['b']}", (p["distance"], p["cosine"]), xytext=(-4 if flip else 4, 4),
                        textcoords="offset points", fontsize=7, ha="right" if flip else "left")
    ax.margins(x=0.08, y=0.1)


def distance_heatmap(matrix: DistanceMatrix, kind: str, path: str | Path) -> Path:
    """One URIEL distance kind between the matrix's languages, labelled by code, 0 = same, 1 = farthest."""
    values = matrix[kind]
    n = len(matrix.codes)
    plt = _pyplot()
    size = _inches(max(4.0, 0.45 * n + 2.0))
    fig, ax = plt.subplots(figsize=(size + 1.0, size))
    image = ax.imshow(values, vmin=0.0, vmax=1.0, cmap="viridis_r")
    _ticks(ax, matrix.codes, matrix.codes)
    if n <= ANNOTATE_MAX:
        _annotate(ax, values, ".2f", 1.0)
    ax.set_title(f"URIEL {kind} distance" + (f", {n} languages (too many to label; --json lists the matrix)"
                                             if n > LABEL_MAX else ""))
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label=f"{kind} distance")
    return _save(fig, path)


__all__ = [
    "AnalysisError",
    "DistancePairs",
    "NotEnoughLanguagesError",
    "best_point",
    "cosine_heatmap",
    "cosine_matrix",
    "density_plot",
    "density_stats",
    "distance_cosine_pairs",
    "distance_heatmap",
    "distance_vs_cosine",
    "image_format",
    "improvement_heatmap",
    "lambda_curves",
    "mean_between",
    "mean_pairwise",
    "module_labels",
]
