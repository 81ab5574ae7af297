"""Fast λ search vs the papers' full 0.05 grid: evaluations, wall time, and dev score lost.

For each (recipe, target) curve, every λ of the 0.05 grid is evaluated once on all validation rows with the
default model (predictions per row are kept), which is the full grid's cost and wall time. The fast
strategies are then replayed on those same predictions, so their choices are exactly what they would have
chosen live; their wall time is the full grid's time per row-evaluation times the rows they paid for.

Modules come from a finished demo run (`langarith demo`, default runs/demo) so nothing is trained here.

    .venv/bin/python benchmarks/lambda_search.py [--run runs/demo] [--targets por_Latn] [--limit 99]

Prints one JSON line per strategy and a summary line; target: ≥4× fewer evaluations at ≤0.2 points lost.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--run", type=Path, default=Path("runs/demo"))
    parser.add_argument("--targets", default="por_Latn")
    parser.add_argument("--recipes", default="add,add-subtract")
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args()

    from langarith.evaluate import Evaluator, load_examples
    from langarith.formats import load
    from langarith.paths import data_dir
    from langarith.recipes import add, add_subtract
    from langarith.search import lambda_grid, search
    from langarith.tasks import get_task

    modules = {p.name.split("_")[0] + ":" + p.name.split("_", 1)[1].rsplit("_", 1)[0]: load(p)
               for p in (args.run / "modules").iterdir() if (p / "langarith.json").exists()}
    if not modules:
        raise SystemExit(f"no modules under {args.run}/modules; run `langarith demo --out {args.run}` first")
    task_en, lang_en = modules["task:eng_Latn"], modules["language:eng_Latn"]
    sib = data_dir() / "sib200"
    task = get_task("sib200")
    evaluator = Evaluator(progress=False)
    grid = lambda_grid(0.05)
    results: dict[str, list[dict]] = {s: [] for s in ("grid", "coarse-to-fine", "halving")}
    for target in args.targets.split(","):
        dev = load_examples(task, sib, target, "dev", args.limit)
        labels = task.labels(sib, target)
        lang_t = modules[f"language:{target}"]
        builders = {"add": lambda lam, lt=lang_t: add(task_en, lt, lam),
                    "add-subtract": lambda lam, lt=lang_t: add_subtract(task_en, lt, lang_en, lam)}
        for recipe in args.recipes.split(","):
            started = time.time()
            predictions = {}
            for lam in grid:
                with evaluator.merged(builders[recipe](lam).materialize("factor")):
                    predictions[lam] = evaluator.predict(task, dev, labels)
            grid_seconds = time.time() - started
            per_row = grid_seconds / (len(grid) * len(dev))

            def score(lam, rows, predictions=predictions, dev=dev, target=target):
                return task.score([dev[r] for r in rows], [predictions[lam][r] for r in rows], target).value

            full = {lam: score(lam, range(len(dev))) for lam in grid}
            best = max(full.values())
            for strategy in results:
                found = search(score, len(dev), grid, strategy)
                results[strategy].append({
                    "target": target, "recipe": recipe, "lambda": found.best, "evaluations": found.evaluations,
                    "seconds": round(found.evaluations * len(dev) * per_row, 1),
                    "lost": round(best - full[found.best], 3)})
            print(json.dumps({"curve": f"{recipe}/{target}", "grid_seconds": round(grid_seconds, 1),
                              "scores": {f"{k:g}": round(v, 2) for k, v in full.items()}}))
    grid_evals = sum(r["evaluations"] for r in results["grid"])
    for strategy, rows in results.items():
        evals = sum(r["evaluations"] for r in rows)
        print(json.dumps({"strategy": strategy, "evaluations": round(evals, 2),
                          "ratio_vs_grid": round(grid_evals / evals, 2),
                          "seconds": round(sum(r["seconds"] for r in rows), 1),
                          "mean_points_lost": round(sum(r["lost"] for r in rows) / len(rows), 3),
                          "max_points_lost": max(r["lost"] for r in rows), "curves": rows}))


if __name__ == "__main__":
    main()
