"""Label-free λ against the dev-tuned λ and against the test oracle, over finished experiment runs.

For every results folder given (or every one under `results/`): each (method row, target) that has label-free
twins (`la@unlabeled`, …). Points lost = the dev-tuned row's test score − the twin's (positive: the twin is
worse), per strategy, averaged over cells.

With `--oracle` (the run's modules must be under its `modules/`): the runner is rebuilt from the folder's
`config.json` in a scratch folder, every finished cell is read back from `cells.json` (nothing is trained or
evaluated again), and each row's recipe is then scored on test at every λ of its grid. The best of those is
the oracle — what λ chosen on the test set itself would give — and every strategy's loss against it is
reported too, the dev-tuned λ's included.

    .venv/bin/python benchmarks/lambda_free.py results/madx-zero-shot-wikiann-cpu [--oracle]

Prints one JSON line per folder and strategy and a summary line per strategy; the goal: label-free
λ within 1 point of dev-tuned λ on average over the committed settings.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
from pathlib import Path

MARK = "@"
GOAL = 1.0  # points


def cells(folder: Path) -> dict[tuple[str, str], dict]:
    saved = json.loads((folder / "results.json").read_text(encoding="utf-8"))
    return {(c["method"], c["target"]): c for c in saved["cells"] if c.get("score") is not None}


def oracle_scores(folder: Path) -> dict[tuple[str, str], float]:
    """(row, target) → the best test score over the row's λ grid, from the run's own modules."""
    from langarith.experiments import runner_for
    from langarith.experiments.config import Config
    from langarith.experiments.plan import Tuned

    config = Config.model_validate(json.loads((folder / "config.json").read_text(encoding="utf-8")))
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp) / "run"
        scratch.mkdir()
        (scratch / "modules").symlink_to((folder / "modules").resolve())
        shutil.copy(folder / "cells.json", scratch / "cells.json")
        runner = runner_for(config, scratch, progress=False)
        runner.run()  # every cell read back from cells.json
        return {(row.name, target): max(runner.bench.test(runner.module(row.build, lam), target).value
                                        for lam in runner.bench.grid(row.grid))
                for target in config.targets for row in runner.plan(target) if isinstance(row, Tuned)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="*", type=Path)
    parser.add_argument("--oracle", action="store_true", help="also score every λ of the grid on test")
    args = parser.parse_args()
    folders = args.folders or sorted(p.parent for p in Path("results").glob("*/results.json"))
    lost: dict[str, list[float]] = {}
    for folder in folders:
        found = cells(folder)
        twins = [(m, t) for (m, t) in found if MARK in m]
        if not twins:
            continue
        oracle = oracle_scores(folder) if args.oracle else {}
        by_strategy: dict[str, list[tuple[float, float | None]]] = {"dev-tuned": []}
        rows = sorted({(m.split(MARK)[0], t) for m, t in twins if (m.split(MARK)[0], t) in found})
        for row, target in rows:  # the dev-tuned λ itself, against the oracle
            best = oracle.get((row, target))
            by_strategy["dev-tuned"].append((0.0, None if best is None else best - found[row, target]["score"]))
        for method, target in twins:
            row, strategy = method.split(MARK)
            if (row, target) not in found:
                continue
            best = oracle.get((row, target))
            tuned, free = found[row, target]["score"], found[method, target]["score"]
            by_strategy.setdefault(strategy, []).append((tuned - free, None if best is None else best - free))
        for strategy, pairs in by_strategy.items():
            if not pairs:
                continue
            vs_oracle = [o for _, o in pairs if o is not None]
            line = {"folder": folder.name, "strategy": strategy, "cells": len(pairs),
                    "lost_vs_dev_tuned": round(statistics.fmean(d for d, _ in pairs), 2),
                    "lost_vs_oracle": round(statistics.fmean(vs_oracle), 2) if vs_oracle else None}
            print(json.dumps(line))
            if strategy != "dev-tuned":
                lost.setdefault(strategy, []).append(line["lost_vs_dev_tuned"])
    for strategy, values in lost.items():
        mean = statistics.fmean(values)
        print(json.dumps({"summary": strategy, "folders": len(values), "lost_vs_dev_tuned": round(mean, 2),
                          "goal": f"<= {GOAL} point", "met": mean <= GOAL}))


if __name__ == "__main__":
    main()
