"""Fast λ search vs the papers' full 0.05 grid: evaluations, wall time, and dev score lost.

`--results DIR` (default mode when no run is given: `results/`) replays the searches on the λ curves every
committed run recorded — each curve a run scored on every point of its grid (the 0.05 grid, or 0.1 for WikiANN
and XNLI), skipping curves of bracket or halving runs, whose points hold carried-over or partial-row scores.
A recorded curve holds one dev score per λ, so it replays exactly the strategies that pay for whole
validation sets (`grid`, `coarse-to-fine`: `langarith.scoring.search.replay`); `bracket` and `halving` read
per-row predictions, which runs do not record, and are measured by the live modes below.

For each λ curve, every λ of the 0.05 grid is evaluated once on all validation rows (predictions per row
are kept), which is the full grid's cost and wall time. The fast strategies are then replayed on those same
predictions, so their choices are exactly what they would have chosen live; their wall time is the full
grid's time per row-evaluation times the rows they paid for. Successive halving is replayed with several
row-order seeds (its only randomness), and every seed counts as a curve.

Curves come from finished runs, so nothing is trained here:
- `--run DIR` (a `langarith demo` or `sib200-one-language` run on the default decoder): Add and Add & Subtract
  for `--targets`;
- `--madx DIR` (a `madx-zero-shot` run on the default encoder): LA(en, rel) and the control λ·en for every
  target of that run — real inverted-U curves, and fast to evaluate.
`--cache FILE` keeps every curve's per-row predictions; `--replay` then replays the cached curves alone,
without loading a model.

    .venv/bin/python benchmarks/lambda_search.py --madx results/madx-zero-shot-cpu [--cache /tmp/madx.json]
    .venv/bin/python benchmarks/lambda_search.py --run results/sib200-one-language-cpu --targets por_Latn

    .venv/bin/python benchmarks/lambda_search.py --results results

Prints one JSON line per curve (live modes), one per strategy and a summary line; target: ≥8× fewer
evaluations than the grid at ≤0.2 points lost (mean over curves).
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from pathlib import Path

SEEDS = (0, 1, 2, 3, 4)
TARGET_RATIO, TARGET_LOST = 8.0, 0.2
TARGET = f">={TARGET_RATIO:g}x fewer evaluations than the grid at <={TARGET_LOST:g} points lost (mean over curves)"


def _modules(run: Path) -> dict[str, Path]:
    """`role:language` → folder, for the modules of a finished run (the first of several with one name)."""
    found: dict[str, Path] = {}
    for p in sorted((run / "modules").iterdir()):
        manifest = p / "langarith.json"
        if manifest.exists():
            m = json.loads(manifest.read_text(encoding="utf-8"))
            found.setdefault(f"{m['role']}:{m['language']}", p)
    if not found:
        raise SystemExit(f"no modules under {run}/modules; run the experiment (or `langarith demo`) first")
    return found


def decoder_curves(run: Path, targets: list[str]):
    """(name, task, language, dev, predict(λ)) for Add and Add & Subtract on the default decoder."""
    from langarith.arith.formats import load
    from langarith.arith.recipes import add, add_subtract
    from langarith.evaluation import DecoderEvaluator, load_examples
    from langarith.tasks import get_task

    folders = _modules(run)
    task = get_task("sib200")
    sib = task.where()
    task_en, lang_en = load(folders["task:eng_Latn"]), load(folders["language:eng_Latn"])
    evaluator = DecoderEvaluator(progress=False)
    for target in targets:
        dev, labels = load_examples(task, sib, target, "dev"), task.labels(sib, target)
        lang_t = load(folders[f"language:{target}"])
        builders = {"add": lambda lam, lt=lang_t: add(task_en, lt, lam),
                    "add-subtract": lambda lam, lt=lang_t: add_subtract(task_en, lt, lang_en, lam)}
        for recipe, build in builders.items():
            def predict(lam, build=build, dev=dev, labels=labels):
                with evaluator.merged(build(lam).materialize("factor")):
                    return evaluator.predict(task, dev, labels)
            yield f"{recipe}/{target}", task, target, dev, predict


def madx_curves(run: Path):
    """LA(en, rel) and λ·en for every target of a MAD-X zero-shot run on the default encoder."""
    from langarith.arith.formats import load
    from langarith.arith.recipes import la
    from langarith.evaluation import MadxEvaluator, load_examples
    from langarith.experiments.config import nearest_partner
    from langarith.tasks import get_task

    config = json.loads((run / "config.json").read_text(encoding="utf-8"))
    folders = _modules(run)
    task = get_task("sib200")
    sib = task.where()
    evaluator = MadxEvaluator("default-encoder", folders["task:eng_Latn"], progress=False)
    en = load(folders["language:eng_Latn"])
    for target in config["targets"]:
        rel_code = nearest_partner(target, config["pool"], "eng_Latn")
        rel = load(folders[f"language:{rel_code}"])
        dev = load_examples(task, sib, target, "dev")
        builders = {f"la-{rel_code}": lambda lam, rel=rel: la(en, rel, lam), "en-scaled": lambda lam: lam * en}
        for recipe, build in builders.items():
            def predict(lam, build=build, dev=dev):
                evaluator.use_language(build(lam))
                return evaluator.predict(task, dev)
            yield f"{recipe}/{target}", task, target, dev, predict


def cached_curves(cached: dict):
    """The curves of a cache file, with their dev examples (SIB-200: every curve here is one) but no model."""
    from langarith.evaluation import load_examples
    from langarith.tasks import get_task

    task = get_task("sib200")
    for name in cached:
        target = name.split("/")[1]
        yield name, task, target, load_examples(task, task.where(), target, "dev"), None


def recorded_curves(root: Path):
    """(name, {λ: dev score}) of every λ curve a committed run under `root` scored on every point of its grid."""
    for path in sorted(root.rglob("results.json")):
        run = path.parent.relative_to(root).as_posix()
        for cell in json.loads(path.read_text(encoding="utf-8")).get("cells", []):
            points = cell.get("curve") or []
            if points and cell.get("dev_evaluations") == len(points):  # a grid's curve: every point real
                yield f"{run}/{cell['method']}/{cell['target']}", {float(lam): float(v) for lam, v in points}


def summarise(rows: list[dict], grid_points: float) -> dict:
    evals = sum(r["evaluations"] for r in rows) / len(rows)
    lost = sum(r["lost"] for r in rows) / len(rows)
    return {"curves": len(rows), "evaluations_per_curve": round(evals, 2),
            "ratio_vs_grid": round(grid_points / evals, 2), "mean_points_lost": round(lost, 3),
            "max_points_lost": round(max(r["lost"] for r in rows), 3),
            "met": grid_points / evals >= TARGET_RATIO and lost <= TARGET_LOST}


def best_fixed_sets(curves: list[dict[float, float]], sizes=(1, 2, 3)) -> dict[str, dict]:
    """For n points, the set of n λ that loses least on these very curves (chosen with hindsight): no strategy
    that fixes its n points in advance loses less on them."""
    grid = sorted(curves[0])
    out = {}
    for n in sizes:
        def lost(points):
            return sum(max(c.values()) - max(c[lam] for lam in points) for c in curves) / len(curves)
        best = min(itertools.combinations(grid, n), key=lost)
        out[str(n)] = {"lambdas": list(best), "mean_points_lost": round(lost(best), 3)}
    return out


def replay_recorded(root: Path) -> None:
    """The whole-set searches replayed on every committed run's recorded curves, by grid step."""
    from langarith.scoring.search import WHOLE_SET_STRATEGIES, replay

    by_step: dict[str, dict[str, list[dict]]] = {}
    curves_by_step: dict[str, list[dict[float, float]]] = {}
    for name, curve in recorded_curves(root):
        step = f"{sorted(curve)[1] - sorted(curve)[0]:.2g}"
        curves_by_step.setdefault(step, []).append(curve)
        best = max(curve.values())
        for strategy in WHOLE_SET_STRATEGIES:
            found = replay(curve, strategy)
            by_step.setdefault(step, {}).setdefault(strategy, []).append(
                {"curve": name, "evaluations": found.evaluations, "lost": round(best - curve[found.best], 3)})
    if not by_step:
        raise SystemExit(f"no run under {root} recorded a full λ curve (results.json cells with a curve)")
    summary = {}
    for step, strategies in sorted(by_step.items()):
        points = sum(r["evaluations"] for r in strategies["grid"]) / len(strategies["grid"])
        summary[step] = {s: summarise(rows, points) for s, rows in strategies.items()}
        for strategy, line in summary[step].items():
            print(json.dumps({"grid_step": step, "strategy": strategy, **line}))
        summary[step]["best_fixed_sets_with_hindsight"] = best_fixed_sets(curves_by_step[step])
    print(json.dumps({"benchmark": "lambda_search", "source": f"recorded curves under {root}", "target": TARGET,
                      "not_replayable": {"bracket": "reads per-row predictions", "halving": "reads per-row "
                                         "predictions"}, "by_grid_step": summary}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", type=Path, help="a finished decoder run (demo or sib200-one-language)")
    parser.add_argument("--madx", type=Path, help="a finished madx-zero-shot run")
    parser.add_argument("--targets", default="por_Latn", help="decoder run: comma-separated targets")
    parser.add_argument("--cache", type=Path, help="JSON file of per-row predictions, written and then reused")
    parser.add_argument("--replay", action="store_true", help="only the curves in --cache; no model is loaded")
    parser.add_argument("--results", type=Path, help="replay on the λ curves committed runs recorded under DIR")
    args = parser.parse_args()
    if args.results or not (args.run or args.madx or args.replay):
        replay_recorded(args.results or Path("results"))
        return
    if args.replay and not (args.cache and args.cache.exists()):
        parser.error("--replay needs an existing --cache FILE")

    from langarith.scoring.choosers import Evidence, get_chooser, names
    from langarith.scoring.search import lambda_grid

    grid = lambda_grid(0.05)
    cached = json.loads(args.cache.read_text(encoding="utf-8")) if args.cache and args.cache.exists() else {}
    sources = [cached_curves(cached)] if args.replay else []
    if args.run and not args.replay:
        sources.append(decoder_curves(args.run, args.targets.split(",")))
    if args.madx and not args.replay:
        sources.append(madx_curves(args.madx))
    results: dict[str, list[dict]] = {s: [] for s in names("labels")}
    for source in sources:
        for name, task, target, dev, predict in source:
            if name in cached and len(cached[name]["predictions"]["1"]) == len(dev):
                grid_seconds = cached[name]["grid_seconds"]
                predictions = {float(k): v for k, v in cached[name]["predictions"].items()}
            else:
                started = time.time()
                predictions = {lam: predict(lam) for lam in grid}
                grid_seconds = time.time() - started
                cached[name] = {"grid_seconds": grid_seconds,
                                "predictions": {f"{lam:g}": p for lam, p in predictions.items()}}
                if args.cache:
                    args.cache.write_text(json.dumps(cached), encoding="utf-8")
            per_row = grid_seconds / (len(grid) * len(dev))

            def predict_rows(lam, rows, predictions=predictions):
                return [predictions[lam][r] for r in rows]

            def metric(rows, made, dev=dev, task=task, target=target):
                return task.score([dev[r] for r in rows], list(made), target).value

            full = {lam: metric(range(len(dev)), predictions[lam]) for lam in grid}
            best = max(full.values())
            for strategy in names("labels"):
                for seed in SEEDS if strategy == "halving" else (0,):
                    found = get_chooser(strategy)(Evidence(grid, predict_rows, metric, len(dev), seed))
                    results[strategy].append({
                        "curve": name, "seed": seed, "lambda": found.best, "evaluations": found.evaluations,
                        "seconds": round(found.evaluations * len(dev) * per_row, 1),
                        "lost": round(best - full[found.best], 3)})
            print(json.dumps({"curve": name, "rows": len(dev), "grid_seconds": round(grid_seconds, 1),
                              "scores": {f"{k:g}": round(v, 2) for k, v in full.items()}}))
    grid_evals = sum(r["evaluations"] for r in results["grid"]) / len(results["grid"])
    summary = {}
    for strategy, rows in results.items():
        summary[strategy] = summarise(rows, grid_evals)
        print(json.dumps({"strategy": strategy, **summary[strategy],
                          "seconds": round(sum(r["seconds"] for r in rows) / len(rows), 1)}))
    print(json.dumps({"benchmark": "lambda_search", "curves": len(results["grid"]), "target": TARGET,
                      "strategies": summary}))


if __name__ == "__main__":
    main()
