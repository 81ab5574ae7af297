"""What a run writes: results.csv, results.json (config, every cell with its λ curve, flags, device, precision,
wall time per stage, versions, what was not run) and results.md with the tables and the plots (λ curves on
dev, relative improvement, cosine and weight density of what training changed).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from langarith.analysis import plots
from langarith.analysis.report import analyze_modules, language_and_task_vectors
from langarith.arith.formats.files import write_json
from langarith.core import devices
from langarith.core.records import command_line, run_record
from langarith.experiments import trained
from langarith.experiments.cells import Cell
from langarith.experiments.record import RunRecord
from langarith.experiments.setting import LABEL_FREE_MARK
from langarith.experiments.table import other_metrics, table


def write_results(run: RunRecord) -> None:
    """Every output of a run (a stopped one too: then the tables mark what was not run)."""
    cfg, out, cells, seconds = run.config, run.out, run.cells, run.seconds
    rows = [c.row() for c in cells]
    first = list(Cell("", "", None).row())
    keys = sorted({k for r in rows for k in r} | set(first),
                  key=lambda k: (k.startswith("metric_"), first.index(k) if k in first else 99, k))
    with (out / "results.csv").open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)
    metric = run.metric
    done = {(c.method, c.target) for c in cells}
    not_run = [f"{m} / {t}" for t in cfg.targets for m in cfg.rows if (m, t) not in done]
    stages = run.stages
    write_json(out / "results.json", {
        **run_record(run.inputs),  # command line, date, commit, working folder, the config file and dataset hashed
        "config": json.loads(cfg.model_dump_json()), "metric": metric,
        "cells": [{**c.row(), "curve": c.curve} for c in cells], "modules": run.modules, "flags": run.flags,
        "seconds": round(seconds, 1),
        "stages_s": stages, "complete": run.stopped is None, "not_run": not_run, "stopped": run.stopped,
        "device": devices.describe(),
        "precision": {"train": devices.training_precision(cfg.spend.precision), "eval": run.eval_precision},
        "versions": devices.versions()})
    md = [f"# {cfg.name}", "", *([f"Reproduces {cfg.reproduces}.", ""] if cfg.reproduces else []),
          f"Task {cfg.task}, metric {metric} on {cfg.test_split}; budget `{cfg.budget}`; "
          f"model {cfg.spend.model or cfg.model or 'default'}; method {cfg.method}; sources {', '.join(cfg.sources)}.",
          "", spent(cfg, searched=any(c.curve for c in cells)), ""]
    if run.stopped:
        md += [f"**Incomplete: stopped at its deadline with {len(not_run)} of {len(cfg.rows) * len(cfg.targets)} "
               "cells not run.** Rerunning the same command continues from the modules, checkpoints and cells "
               "finished here.", ""]
    md += [table(cells, cfg.rows, cfg.targets, "not run" if run.stopped else "–"), "",
           "\\* p < 0.05 against the baseline, † against the control (McNemar for classification, paired bootstrap "
           "otherwise); ᵉ the chosen λ lies on the edge of the grid. λ chosen on dev only"
           + (f"; rows `ROW@STRATEGY` chose it without the target's labels ({LABEL_FREE_NOTE}), † against ROW"
              if cfg.label_free else "") + ".", ""]
    for flag in run.flags:
        md.append(f"- ⚠ {flag}")
    notes = [f"- {c.method} / {c.target}: {c.note}" for c in cells if c.note]
    if notes:
        md += ["", "Notes:", *notes]
    device = devices.describe()["name"]
    # no stage ran when every cell was read back from an earlier run
    per_stage = f" ({', '.join(f'{k} {v / 60:.1f}' for k, v in stages.items())} min)" if stages else ""
    md += ["", f"Took {seconds / 60:.1f} min on {device}{per_stage}."
           + (f" Made by `{command}`; library versions in results.json." if (command := command_line()) else "")]
    md += other_metrics(cells, cfg.rows, cfg.targets, metric)
    md += trained.section(run.modules)
    md += _plots(run)
    (out / "results.md").write_text("\n".join(md) + "\n", encoding="utf-8")


def _plots(run: RunRecord) -> list[str]:
    cfg, out, cells = run.config, run.out, run.cells
    lines: list[str] = ["", "## Plots", ""]
    searched = any(c.curve for c in cells)  # a table without λ rows has no λ curves to explain
    if searched and cfg.spend.search == "halving":
        lines += ["λ curves are on dev; with successive halving, λ values dropped early show their score on the "
                  "share of dev rows they were scored on.", ""]
    elif searched and cfg.spend.search == "bracket":
        lines += ["λ curves are on all dev rows; between the grid's ends, a row both ends of a bracket agree on "
                  "keeps that prediction (the `bracket` search), and the chosen λ is scored on real predictions.",
                  ""]
    baseline = run.baseline
    base = {c.target: c.score for c in cells if c.method == baseline and c.score is not None}
    for target in cfg.targets:
        curves = {c.method: c.curve for c in cells  # dev scores; a label-free row's curve is no dev score
                  if c.target == target and c.curve and LABEL_FREE_MARK not in c.method}
        if curves:
            name = f"lambda_{target}.png"
            plots.lambda_curves(curves, run.dev_lines.get(target, {}), out / name, metric=run.metric,
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
    lines += [line for figure in run.figures for line in figure(run)]  # the setting's own (paper 1's Figure 2)
    return lines + _vectors(run.vectors, out)


def _vectors(modules: Sequence[Any], out: Path) -> list[str]:
    """What training changed (ΔW, or Δθ), analysed as `langarith analyze` does, into `out/analysis/`: the
    figures here, paper 2's Appendix E numbers when the run has two or more language vectors and two or more
    task vectors, and the full report a link away."""
    if len(modules) < 2:
        return []
    found = analyze_modules(list(modules), out / ANALYSIS, across_layouts=True)
    files = {name: Path(path).relative_to(out).as_posix() for name, path in found["files"].items()}
    lines = ["", "## What training changed", "",
             f"Cosine similarity and weight density of what training changed (ΔW, Δθ), and their relation to "
             f"typological distance, as `langarith analyze` reports them: [{files['report']}]({files['report']}).", ""]
    lines += [f"![{name.replace('_', ' ')}]({files[name]})" for name in ("cosine_heatmap", "density") if name in files]
    appendix = language_and_task_vectors(found)
    return lines + (["", *appendix] if appendix else [])


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


ANALYSIS = "analysis"  # the folder of a run's module analysis

LABEL_FREE_NOTE = ("`unlabeled`: the λ whose predictions on the target's unlabeled dev inputs agree most with the "
                   "other λ's; `transfer`: the median of the row's dev-tuned λ on the other targets; `fixed`: 0.5")
