"""What a run writes: results.csv, results.json (config, every cell with its λ curve, flags, device, precision,
wall time per stage, versions, what was not run) and results.md with the tables and the plots (λ curves on
dev, relative improvement, cosine and weight density of what training changed).
"""

from __future__ import annotations

import contextlib
import csv
import json
import shlex
import sys
from collections.abc import Sequence
from typing import Any

from langarith.analysis import plots
from langarith.analysis.measures import cosine_matrix, density_stats, mean_pairwise
from langarith.arith.formats.files import write_json
from langarith.core import devices
from langarith.core.errors import LangarithError
from langarith.experiments.cells import Cell
from langarith.experiments.setting import LABEL_FREE_MARK
from langarith.experiments.table import other_metrics, table


def write_results(runner: Any, cells: Sequence[Cell], seconds: float) -> None:
    """Every output of a run (a stopped one too: then the tables mark what was not run)."""
    cfg, out = runner.config, runner.out
    rows = [c.row() for c in cells]
    first = list(Cell("", "", None).row())
    keys = sorted({k for r in rows for k in r} | set(first),
                  key=lambda k: (k.startswith("metric_"), first.index(k) if k in first else 99, k))
    with (out / "results.csv").open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)
    metric = runner.task.primary
    done = {(c.method, c.target) for c in cells}
    not_run = [f"{m} / {t}" for t in cfg.targets for m in cfg.rows if (m, t) not in done]
    stages = runner.clock.rounded()
    write_json(out / "results.json", {
        "command": _command(), "config": json.loads(cfg.model_dump_json()), "metric": metric,
        "cells": [{**c.row(), "curve": c.curve} for c in cells], "flags": runner.flags, "seconds": round(seconds, 1),
        "stages_s": stages, "complete": runner.stopped is None, "not_run": not_run, "stopped": runner.stopped,
        "device": devices.describe(),
        "precision": {"train": devices.training_precision(cfg.spend.precision), "eval": runner.eval_precision()},
        "versions": devices.versions()})
    md = [f"# {cfg.name}", "", f"Task {cfg.task}, metric {metric} on {cfg.test_split}; budget `{cfg.budget}`; "
          f"model {cfg.spend.model or cfg.model or 'default'}; method {cfg.method}; sources {', '.join(cfg.sources)}.",
          "", spent(cfg, searched=any(c.curve for c in cells)), ""]
    if runner.stopped:
        md += [f"**Incomplete: stopped at its deadline with {len(not_run)} of {len(cfg.rows) * len(cfg.targets)} "
               "cells not run.** Rerunning the same command continues from the modules, checkpoints and cells "
               "finished here.", ""]
    md += [table(cells, cfg.rows, cfg.targets, "not run" if runner.stopped else "–"), "",
           "\\* p < 0.05 against the baseline, † against the control (McNemar for classification, paired bootstrap "
           "otherwise); ᵉ the chosen λ lies on the edge of the grid. λ chosen on dev only"
           + (f"; rows `ROW@STRATEGY` chose it without the target's labels ({LABEL_FREE_NOTE}), † against ROW"
              if cfg.label_free else "") + ".", ""]
    for flag in runner.flags:
        md.append(f"- ⚠ {flag}")
    notes = [f"- {c.method} / {c.target}: {c.note}" for c in cells if c.note]
    if notes:
        md += ["", "Notes:", *notes]
    device = devices.describe()["name"]
    # no stage ran when every cell was read back from an earlier run
    per_stage = f" ({', '.join(f'{k} {v / 60:.1f}' for k, v in stages.items())} min)" if stages else ""
    md += ["", f"Took {seconds / 60:.1f} min on {device}{per_stage}."
           + (f" Made by `{_command()}`; library versions in results.json." if _command() else "")]
    md += other_metrics(cells, cfg.rows, cfg.targets, metric)
    md += _plots(runner, cells)
    (out / "results.md").write_text("\n".join(md) + "\n", encoding="utf-8")


def _command() -> str | None:
    """The command line that made the results (None when not run from the CLI)."""
    args = " ".join(shlex.quote(a) for a in sys.argv[1:])
    if sys.argv[0].endswith("langarith"):
        return f"langarith {args}"
    if sys.argv[0].endswith(("langarith/__main__.py", "langarith\\__main__.py")):
        return f"python -m langarith {args}"
    return None


def _plots(runner: Any, cells: Sequence[Cell]) -> list[str]:
    cfg, out = runner.config, runner.out
    lines: list[str] = ["", "## Plots", ""]
    searched = any(c.curve for c in cells)  # a table without λ rows has no λ curves to explain
    if searched and cfg.spend.search == "halving":
        lines += ["λ curves are on dev; with successive halving, λ values dropped early show their score on the "
                  "share of dev rows they were scored on.", ""]
    elif searched and cfg.spend.search == "bracket":
        lines += ["λ curves are on all dev rows; between the grid's ends, a row both ends of a bracket agree on "
                  "keeps that prediction (the `bracket` search), and the chosen λ is scored on real predictions.",
                  ""]
    baseline = runner.setting.baseline
    base = {c.target: c.score for c in cells if c.method == baseline and c.score is not None}
    for target in cfg.targets:
        curves = {c.method: c.curve for c in cells  # dev scores; a label-free row's curve is no dev score
                  if c.target == target and c.curve and LABEL_FREE_MARK not in c.method}
        if curves:
            name = f"lambda_{target}.png"
            plots.lambda_curves(curves, runner.dev_lines.get(target, {}), out / name, metric=runner.task.primary,
                                title=f"{cfg.name}: λ on dev, {target}")
            lines.append(f"![λ curves {target}]({name})")
    improved = {}
    for c in cells:
        if c.method != baseline and c.score is not None and base.get(c.target):
            improved[(c.method, c.target)] = 100.0 * (c.score - base[c.target]) / base[c.target]
    if improved:
        plots.improvement_heatmap(improved, out / "improvement.png", title=f"relative improvement over {baseline} (%)",
                                  row_label="method", col_label="target language")
        lines.append("![relative improvement](improvement.png)")
    return lines + _vectors(runner.analysis_vectors(), out)


def _vectors(modules: Sequence[Any], out: Any) -> list[str]:
    """Cosine and density of what training changed, and paper 2's Appendix E numbers when a run has two or more
    language vectors and two or more task vectors: are language vectors alike, and task vectors not? Modules of
    different shapes (MAD-X's language and task adapters) are compared within their role only."""
    if len(modules) < 2:
        return []
    lines: list[str] = []
    roles = {role: [m for m in modules if (m.role or "language") == role] for role in ("language", "task")}
    within: dict[str, tuple[list[str], Any]] = {}  # role → its cosine matrix, computed once for heatmap and table

    def cosines(role: str) -> tuple[list[str], Any]:
        if role not in within:
            within[role] = cosine_matrix(roles[role])
        return within[role]

    try:  # one heatmap when every pair can be compared (LoRA ΔW of one rank)
        plots.cosine_heatmap(modules, out / "cosine.png", title="cosine similarity of what training changed (ΔW)")
        lines.append("![cosine](cosine.png)")
    except LangarithError:
        for role, name in (("language", "cosine.png"), ("task", "cosine_task.png")):
            if len(roles[role]) >= 2:
                with contextlib.suppress(LangarithError):
                    plots.cosine_heatmap(roles[role], out / name, title=f"cosine similarity of {role} vectors (Δθ)",
                                         cosine=cosines(role))
                    lines.append(f"![cosine of {role} vectors]({name})")
    plots.density_plot(modules, out / "density.png", title="weight density of what training changed (ΔW, Δθ)")
    lines.append("![density](density.png)")
    if all(len(group) >= 2 for group in roles.values()):
        lines += ["", "### Language vectors and task vectors (paper 2, Appendix E)", "",
                  "| vectors | n | mean pairwise cosine | share of \\|Δθ\\| < 1e-2·max |", "|---|---:|---:|---:|"]
        for role, group in roles.items():
            mean = mean_pairwise(cosines(role)[1], range(len(group)))
            sparse = sum(density_stats(m)["share_below_1e-2"] for m in group) / len(group)
            lines.append(f"| {role} | {len(group)} | {'–' if mean is None else f'{mean:.3f}'} | {100 * sparse:.1f}% |")
        lines += ["", "Paper 2 finds language vectors far more alike than task vectors; the share of near-zero "
                  "entries says how sparse each kind is."]
        lines += _pairs_agree({role: (roles[role], cosines(role)[1]) for role in roles})
    return lines


def _pairs_agree(groups: dict[str, tuple[Sequence[Any], Any]]) -> list[str]:
    """Whether two task vectors are alike where their languages' vectors are: Pearson r over the language pairs
    both kinds have (a task adapter trained on a language's adapter may carry that language). `groups`: role →
    its vectors and their cosine matrix."""
    import numpy as np

    index = {role: {m.language: i for i, m in enumerate(members) if m.language}
             for role, (members, _) in groups.items()}
    common = sorted(set(index["language"]) & set(index["task"]))
    if len(common) < 3:
        return []
    upper = np.triu_indices(len(common), k=1)
    rows = {role: [index[role][c] for c in common] for role in index}
    a, b = (groups[role][1][np.ix_(rows[role], rows[role])][upper] for role in ("language", "task"))
    if np.std(a) == 0 or np.std(b) == 0:
        return []
    r = float(np.corrcoef(a, b)[0, 1])
    return ["", f"Over the {len(a)} pairs of {', '.join(common)}, the task vectors' cosine against the language "
            f"vectors' cosine for the same two languages: Pearson r = {r:+.2f}."]


def spent(cfg: Any, searched: bool = True) -> str:
    """What the budget spent, for the table header: a small table is read for what it is."""
    spend = cfg.spend
    language = (f"{spend.language_tokens:,} tokens" if spend.language_tokens else
                f"{spend.language_steps} steps" if spend.language_steps else "the trainer's default steps")
    rows = ", ".join(f"{split} rows: {f'the first {limit:,}' if limit else 'all'}"
                     for split, limit in ((cfg.dev_split, spend.dev_limit), (cfg.test_split, spend.test_limit)))
    seeds = f"seeds {', '.join(map(str, spend.seeds))}" if spend.seeds else f"one seed ({cfg.seed})"
    search = f"λ {spend.search} over steps of {spend.lambda_step:g}; " if searched else ""
    return (f"Spent: task modules {spend.task_steps} steps, language modules {language}, batch {spend.batch_size} "
            f"× {spend.seq_len} tokens; {search}{rows}; {seeds}.")


LABEL_FREE_NOTE = ("`unlabeled`: the λ whose predictions on the target's unlabeled dev inputs agree most with the "
                   "other λ's; `transfer`: the median of the row's dev-tuned λ on the other targets; `fixed`: 0.5")
