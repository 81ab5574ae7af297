"""The analysis of a set of modules as a library function (`analyze`): how similar and how sparse they are,
as figures and a markdown report. It checks the papers' premises on one's own modules: language vectors
resemble each other (mean cosine ≈ 0.2–0.3) far more than task vectors do (≈ 0.01–0.03), language vectors are
sparse, and related languages have more similar modules. `langarith analyze` parses its arguments and calls
it. Model-free: numpy, safetensors and matplotlib (imported only to draw), never torch."""

from __future__ import annotations

import math
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from langarith import __version__
from langarith.analysis.measures import (
    AnalysisError,
    DistancePairs,
    NotEnoughLanguagesError,
    as_updates,
    cosine_by_shape,
    cosine_matrix,
    density_stats,
    distance_cosine_pairs,
    mean_between,
    mean_pairwise,
    roles_agree,
)
from langarith.analysis.plots import cosine_heatmap, density_plot, distance_vs_cosine
from langarith.arith.formats import detect, load
from langarith.arith.module import Module
from langarith.core.errors import ModuleFileError, OutputExistsError
from langarith.languages.typology import DEFAULT_KIND

REPORT = "report.md"
COSINE_PNG = "cosine_heatmap.png"
DENSITY_PNG = "density.png"
DISTANCE_PNG = "distance_vs_cosine.png"
PAPER_RANGES = {"language": "≈ 0.2–0.3", "task": "≈ 0.01–0.03"}
_ROLE_ORDER = {"language": 0, "task": 1}


def modules_in(path: Path) -> list[Path]:
    """`path` if it is a module; else the modules of a results folder (its `modules/`) or of a folder of
    modules, in name order; else `path`, so that loading it reports what is wrong with it."""
    if not path.is_dir() or _is_module(path):
        return [path]
    folder = path / "modules" if (path / "modules").is_dir() else path
    found = sorted(child for child in folder.iterdir() if child.is_dir() and _is_module(child))
    return found or [path]


def _is_module(path: Path) -> bool:
    try:
        detect(path)
    except ModuleFileError:
        return False
    return True


def analyze(entries: list[tuple[Path, str | None, str | None]], out: Path, kind: str = DEFAULT_KIND,
            updates: bool = True, overwrite: bool = False) -> dict[str, Any]:
    """Load the modules (as the updates they make, ΔW, unless `updates` is False), write the figures and
    report.md into `out` (an earlier report there only with `overwrite`), and return what was found (the JSON
    the command prints)."""
    if not entries:
        raise AnalysisError("no modules given: pass module folders (langarith analyze DIR... --out REPORT_DIR) "
                            "or --lang-module LANG=DIR / --task-module LANG=DIR")
    if (Path(out).expanduser() / REPORT).exists() and not overwrite:
        raise OutputExistsError(f"{out} already holds a report ({REPORT}); pass --overwrite to replace it, or "
                                "choose another --out")
    loaded = [load(path, language=code, role=role) for path, code, role in entries]
    return analyze_modules([as_updates(m) for m in loaded] if updates else loaded, out, kind)


def analyze_modules(modules: list[Module], out: Path, kind: str = DEFAULT_KIND, *,
                    across_layouts: bool = False) -> dict[str, Any]:
    """The analysis of modules already in memory (an experiment's ΔW or Δθ): figures and report.md in `out`,
    and what was found. Modules are grouped language first, then task, so that the heatmap shows the two
    blocks the papers contrast. Modules that cannot be compared (another rank, another method) are an error,
    or with `across_layouts` compared within each layout only (`measures.cosine_by_shape`)."""
    out = Path(out).expanduser()
    if out.exists() and not out.is_dir():
        raise OutputExistsError(f"{out} is a file; --out needs a folder to write the report into. Pick another path")
    modules = sorted(modules, key=lambda m: _ROLE_ORDER.get(m.role or "", 2))
    labels, cos = cosine_by_shape(modules) if across_layouts else cosine_matrix(modules)
    stats = [density_stats(m) for m in modules]
    out.mkdir(parents=True, exist_ok=True)
    files = {"density": str(density_plot(modules, out / DENSITY_PNG))}
    if len(modules) > 1:  # one module's heatmap is a single grey diagonal cell
        files["cosine_heatmap"] = str(cosine_heatmap(modules, out / COSINE_PNG, cosine=(labels, cos)))
    else:
        (out / COSINE_PNG).unlink(missing_ok=True)
    pairs: DistancePairs | None = None
    skipped: str | None = None
    try:
        pairs = distance_cosine_pairs(modules, kind, cosine=cos)
    except NotEnoughLanguagesError as err:
        skipped = str(err)
        (out / DISTANCE_PNG).unlink(missing_ok=True)  # a figure from an earlier run would mislead
    if pairs is not None:
        files["distance_vs_cosine"] = str(distance_vs_cosine(pairs, out / DISTANCE_PNG))

    groups = {role: [i for i, m in enumerate(modules) if m.role == role] for role in ("language", "task")}
    means = {
        "language": mean_pairwise(cos, groups["language"]),
        "task": mean_pairwise(cos, groups["task"]),
        "language_vs_task": mean_between(cos, groups["language"], groups["task"]),
    }
    rows = [
        {
            "label": label,
            "path": str(m.source) if m.source else None,
            "role": m.role,
            "language": m.language,
            "format": m.format,
            "kind": m.kind,
            "rank": m.rank,
            "num_params": m.num_params,
            "norm": m.norm(),
            **{k: v for k, v in s.items() if k != "num_params"},
        }
        for label, m, s in zip(labels, modules, stats, strict=True)
    ]
    agree = roles_agree(modules, cos)
    result: dict[str, Any] = {
        "out": str(out),
        "kind": kind,
        "modules": rows,
        "labels": labels,
        "cosine": [[_number(x) for x in row] for row in cos],
        "mean_cosine": {k: _number(v) for k, v in means.items()},
        "group_sizes": {role: len(members) for role, members in groups.items()},
        "sparse_share": {role: _number(sum(stats[i]["share_below_1e-2"] for i in members) / len(members))
                         if members else None for role, members in groups.items()},
        "roles_agree": None if agree is None else {**agree, "pearson_r": _number(agree["pearson_r"])},
        "distance_vs_cosine": pairs.to_json() if pairs is not None else None,
        "distance_vs_cosine_skipped": skipped,
        "files": files,
    }
    report = out / REPORT
    report.write_text(_report(result, modules), encoding="utf-8")
    result["files"]["report"] = str(report)
    return result


def language_and_task_vectors(result: dict[str, Any]) -> list[str]:
    """Paper 2's Appendix E as markdown lines, when the modules hold two or more of each role: are language
    vectors alike and task vectors not, how sparse is each kind, and are two task vectors alike where their
    languages' vectors are? Empty otherwise."""
    sizes, means, sparse = result["group_sizes"], result["mean_cosine"], result["sparse_share"]
    if min(sizes.values()) < 2:
        return []
    lines = ["### Language vectors and task vectors (paper 2, Appendix E)", "",
             "| vectors | n | mean pairwise cosine | share of \\|θ\\| < 1e-2·max |", "|---|---:|---:|---:|"]
    lines += [f"| {role} | {sizes[role]} | {_cell(means[role], '.3f')} | {_cell(100 * sparse[role], '.1f')}% |"
              for role in ("language", "task")]
    lines += ["", "Paper 2 finds language vectors far more alike than task vectors; the share of near-zero entries "
              "says how sparse each kind is."]
    agree = result["roles_agree"]
    if agree is not None and agree["pearson_r"] is not None:
        lines += ["", f"Over the {agree['pairs']} pairs of {', '.join(agree['languages'])}, the task vectors' cosine "
                  f"against the language vectors' cosine for the same two languages: Pearson r = "
                  f"{agree['pearson_r']:+.2f}."]
    return lines


def _number(x: float | None, digits: int = 6) -> float | None:
    """JSON has no NaN: undefined values (a zero module's cosine) become null."""
    return None if x is None or not math.isfinite(x) else round(float(x), digits)


def _cell(value: Any, fmt: str = "") -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    text = format(value, fmt) if fmt else str(value)
    return text.replace("|", "\\|")


def _report(result: dict[str, Any], modules: list[Module]) -> str:
    labels = result["labels"]
    lines = [
        "# Module analysis",
        "",
        f"{len(modules)} module{'s' if len(modules) != 1 else ''}, analysed with langarith {__version__} on "
        f"{datetime.now(timezone.utc).date().isoformat()}. Modules are listed language modules first, then task "
        "modules, then modules without a role.",
        "",
        "## Modules",
        "",
        "Density: share of parameters whose |θ| is below 1e-3 or 1e-2 of the module's largest |θ|; higher means "
        "sparser.",
        "",
        "| module | role | language | format | kind | rank | parameters | L2 norm | mean \\|θ\\| | max \\|θ\\| "
        "| \\|θ\\| < 1e-3·max | \\|θ\\| < 1e-2·max | folder |",
        "|---|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in result["modules"]:
        lines.append(
            f"| {_cell(row['label'])} | {_cell(row['role'])} | {_cell(row['language'])} | {_cell(row['format'])} "
            f"| {_cell(row['kind'])} | {_cell(row['rank'])} | {row['num_params']:,} | {_cell(row['norm'], '.4g')} "
            f"| {_cell(row['mean_abs'], '.3g')} | {_cell(row['max_abs'], '.3g')} "
            f"| {_cell(100 * row['share_below_1e-3'], '.1f')}% | {_cell(100 * row['share_below_1e-2'], '.1f')}% "
            f"| {_cell(row['path'])} |"
        )
    lines += [
        "",
        "## Cosine similarity",
        "",
        "Cosine similarity of the flattened parameter vectors θ, over the tensors each pair shares.",
        "",
        "| | " + " | ".join(_cell(label) for label in labels) + " |",
        "|---|" + "---:|" * len(labels),
    ]
    for label, row in zip(labels, result["cosine"], strict=True):
        lines.append(f"| **{_cell(label)}** | " + " | ".join(_cell(x, ".3f") for x in row) + " |")
    means, sizes = result["mean_cosine"], result["group_sizes"]
    lines += ["", "### Mean pairwise cosine", ""]
    for role in ("language", "task"):
        value = means[role]
        shown = f"{value:.3f}" if value is not None else f"n/a (needs two {role} modules)"
        lines.append(f"- among {role} modules ({sizes[role]}): {shown}; the papers report {PAPER_RANGES[role]}")
    between = means["language_vs_task"]
    lines.append(f"- between language and task modules: {between:.3f}" if between is not None
                 else "- between language and task modules: n/a (needs one of each, of the same shape)")
    appendix = language_and_task_vectors(result)
    lines += ["", *appendix] if appendix else []
    lines += ["", f"![Cosine similarity heatmap]({COSINE_PNG})" if "cosine_heatmap" in result["files"]
              else "No heatmap: it needs at least two modules.", "",
              "## Weight density", "",
              "Distribution of |θ| per module (log scale) and the share of near-zero parameters. Language vectors "
              "are expected to be sparser than task vectors.", "",
              f"![Weight density]({DENSITY_PNG})", "",
              "## Typological distance vs cosine similarity", ""]
    data = result["distance_vs_cosine"]
    if data is None:
        lines += [f"Skipped: {result['distance_vs_cosine_skipped']}", ""]
    else:
        lines += [
            f"URIEL {data['kind']} distance against cosine similarity for {len(data['pairs'])} pairs of modules, "
            "each pair type on its own (task modules are far less alike than language modules whatever the "
            "languages, so pooling them would measure the roles, not the languages): "
            + "; ".join(f"{group}: {pearson_text(r)}" for group, r in data["pearson_r"].items())
            + ". A negative r means that related languages have more similar modules.",
            "",
        ]
        if data["skipped_pairs"]:
            lines.append(f"{data['skipped_pairs']} pairs skipped because URIEL does not know a language:")
            lines += [f"- {_cell(label)}: {_cell(why)}" for label, why in data["unknown_languages"].items()]
            lines.append("")
        lines += [f"![Distance vs cosine]({DISTANCE_PNG})", "",
                  "| module a | module b | languages | pair | distance | cosine |", "|---|---|---|---|---:|---:|"]
        lines += [
            f"| {_cell(p['a'])} | {_cell(p['b'])} | {_cell(p['language_a'])}–{_cell(p['language_b'])} "
            f"| {p['group']} | {_cell(p['distance'], '.3f')} | {_cell(p['cosine'], '.3f')} |"
            for p in data["pairs"]
        ]
        lines.append("")
    return "\n".join(lines)


def pearson_text(r: float | None) -> str:
    return f"Pearson r = {r:+.3f}" if r is not None else "Pearson r undefined (needs ≥ 3 varying pairs)"
