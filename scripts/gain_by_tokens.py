"""Does language arithmetic gain more over its control as the language adapters grow? One figure from finished
MAD-X runs (their results.json, per seed where a run has seeds):

- zero-shot runs (`--zero-shot RUN …`): LA(en, rel) minus its control λ·en, averaged over the targets, against
  the tokens each language adapter trained on (the budget's `language_tokens`, or steps × batch × length);
- low-resource runs (`--low-resource RUN …`): LA(T_b, en) minus the target adapter T_b used directly, against
  b, the tokens of text T_b had.

    python scripts/gain_by_tokens.py --zero-shot results/madx-zero-shot-cpu results/madx-zero-shot-sib200-cpu-large \
        --low-resource results/madx-low-resource-cpu --out results/gain_by_tokens.png
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path


def runs(folder: Path) -> list[dict]:
    """The run's results.json, one per seed where it has seeds."""
    seeds = sorted(folder.glob("seed-*/results.json"))
    return [json.loads(p.read_text(encoding="utf-8")) for p in seeds or [folder / "results.json"]]


def scores(run: dict) -> dict[tuple[str, str], float]:
    return {(c["method"], c["target"]): c["score"] for c in run["cells"] if c["score"] is not None}


def adapter_tokens(run: dict) -> int:
    budget = run["config"]["budgets"][run["config"]["budget"]]
    return budget["language_tokens"] or budget["language_steps"] * budget["batch_size"] * budget["seq_len"]


def zero_shot_gain(folder: Path) -> tuple[int, float, float]:
    """(tokens per adapter, mean over seeds of avg LA − avg en-scaled, their standard deviation)."""
    gains = []
    for run in runs(folder):
        s = scores(run)
        targets = run["config"]["targets"]
        gains.append(statistics.mean(s["la", t] - s["en-scaled", t] for t in targets))
    return adapter_tokens(runs(folder)[0]), statistics.mean(gains), statistics.pstdev(gains)


def low_resource_gains(folder: Path) -> list[tuple[int, float, float]]:
    """(b, LA(T_b, en) − T_b over targets and seeds, sd) for each token budget b."""
    out = []
    first = runs(folder)[0]
    budget = first["config"]["budgets"][first["config"]["budget"]]
    for b, label in zip(budget["token_budgets"], _labels(budget["token_budgets"]), strict=True):
        gains = [statistics.mean(s[f"la-en-{label}", t] - s[f"direct-{label}", t] for t in run["config"]["targets"])
                 for run in runs(folder) for s in [scores(run)]]
        out.append((b, statistics.mean(gains), statistics.pstdev(gains)))
    return out


def _labels(budgets: list[int]) -> list[str]:
    from langarith.experiments.settings.low_resource import budget_label

    return [budget_label(b) for b in budgets]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--zero-shot", nargs="*", type=Path, default=[])
    parser.add_argument("--low-resource", nargs="*", type=Path, default=[])
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    found = {}
    if args.zero_shot:
        points = sorted(zero_shot_gain(f) for f in args.zero_shot)
        found["zero-shot: LA(en, rel) − λ·en, mean of targets (x: tokens each adapter trained on)"] = points
    for folder in args.low_resource:
        found[f"low resource: LA(T_b, en) − T_b (x: b, the target's text) — {folder.name}"] = \
            low_resource_gains(folder)
    for (label, points), marker in zip(found.items(), "os^D", strict=False):
        xs, ys, sds = zip(*points, strict=True)
        ax.errorbar(xs, ys, yerr=sds, marker=marker, capsize=3, label=label)
        for x, y in zip(xs, ys, strict=True):
            ax.annotate(f"{y:+.1f}", (x, y), textcoords="offset points", xytext=(6, 4), fontsize=8)
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("language adapter tokens")
    ax.set_ylabel("gain over the control (points)")
    ax.set_title("Language arithmetic's gain over its control against adapter size")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=130)
    print(json.dumps({label: [{"tokens": x, "gain": round(y, 2), "sd": round(sd, 2)} for x, y, sd in points]
                      for label, points in found.items()}))


if __name__ == "__main__":
    main()
