"""Compose speed and exactness vs PEFT's `add_weighted_adapter`, on K random rank-4 q/k/v/o LoRA modules
shaped like Gemma 3 270M's attention (18 layers, hidden 640, 4 query heads and 1 KV head of dim 256).

For each K in {2, 10, 50}, with equal weights 1/K, in one run, two levels are timed for both libraries:
- op: the combination alone, on modules already in memory. Ours: `ModuleVector.materialize` (`factor`, the
  papers; `delta` truncated to rank 4: exactly for K = 2, by a randomized range finder on the factors beyond,
  see `langarith.arith.lowrank`). PEFT: the `add_weighted_adapter` call (`linear`; `svd` with
  svd_rank 4) on adapters already loaded into a model.
- end to end: K module folders in, one module folder out. Ours: `langarith.arith.compose.compose` (read, hash,
  combine, write atomically). PEFT: load the K adapters into an already built model, merge,
  `save_pretrained` the merged adapter (building the model is not timed).
- exact composition: ours `delta` without truncation (ΔW to float precision) vs PEFT `svd` with
  svd_rank = the concatenated rank 4K (also exact).
- ours as a CLI process (`langarith compose "mean(m0, …)"`), wall time including interpreter start.
Each result's ΔW is compared with the exact float64 Σ wᵢ·sᵢ·BᵢAᵢ (relative Frobenius error over all
layers). PEFT `svd` is the best rank-4 approximation (a dense SVD): our rank-4 `delta` must come within 1% of
its error ("equal error": exact for K = 2, where R = 8 ≤ r + oversampling); `factor` and PEFT `linear` are
different formulas and their errors are reported as is.

Prints one JSON line. Targets: ours factor ≥10× faster than PEFT linear, ours delta ≥100× faster than
PEFT svd at equal error (within 1%), CLI process ≤1 s for K = 10.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

GEMMA3_270M = dict(hidden_size=640, intermediate_size=2048, num_hidden_layers=18, num_attention_heads=4,
                   num_key_value_heads=1, head_dim=256)
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj"]


def model():
    import torch
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    torch.manual_seed(0)
    # The vocabulary does not touch the attention LoRA; a small one keeps the model quick to build.
    return Gemma3ForCausalLM(Gemma3TextConfig(vocab_size=512, **GEMMA3_270M)).eval()


def make_modules(root: Path, k: int, base) -> list[Path]:
    """One PEFT save gives the exact config and keys; K folders get fresh random factors."""
    from peft import LoraConfig, get_peft_model
    from safetensors.numpy import load_file, save_file

    template = root / "template"
    if not template.exists():
        peft_model = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=TARGETS))
        peft_model.save_pretrained(template)
        base = peft_model.unload()
    shapes = {n: t.shape for n, t in load_file(str(template / "adapter_model.safetensors")).items()}
    rng = np.random.default_rng(k)
    folders = []
    for i in range(k):
        folder = root / f"k{k}" / f"m{i}"
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(template / "adapter_config.json", folder)
        tensors = {n: (rng.normal(size=s) * (0.05 if "lora_A" in n else 0.02)).astype(np.float32)
                   for n, s in shapes.items()}
        save_file(tensors, str(folder / "adapter_model.safetensors"), metadata={"format": "pt"})
        folders.append(folder)
    return folders


def exact_deltas(folders: list[Path]) -> dict[str, np.ndarray]:
    from langarith.arith.formats import load

    mods = [load(f) for f in folders]
    w = 1.0 / len(mods)
    out = {}
    for layer in mods[0].lora:
        out[layer] = sum(w * m.lora[layer].scaling * (m.tensors[m.lora[layer].b].astype(np.float64)
                                                       @ m.tensors[m.lora[layer].a].astype(np.float64)) for m in mods)
    return out


def rel_error(deltas: dict[str, np.ndarray], exact: dict[str, np.ndarray]) -> float:
    num = sum(float(np.sum((deltas[k] - exact[k]) ** 2)) for k in exact)
    den = sum(float(np.sum(exact[k] ** 2)) for k in exact)
    return float(np.sqrt(num / den))


def our_deltas(folder: Path) -> dict[str, np.ndarray]:
    from langarith.arith.formats import load
    from langarith.arith.lowrank import lora_delta

    m = load(folder)
    return {layer: lora_delta(m, layer) for layer in m.lora}


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def run_ours(folders: list[Path], out: Path, semantics: str, rank: int | None, repeats: int) -> tuple[float, float]:
    """(op seconds, end-to-end seconds), best of `repeats`."""
    from langarith.arith.algebra import mean
    from langarith.arith.compose import compose
    from langarith.arith.formats import load

    names = {f"m{i}": f for i, f in enumerate(folders)}
    mods = [load(f, name=n) for n, f in names.items()]
    op = best_of(lambda: mean(mods).materialize(semantics, rank=rank), repeats)
    expr = f"mean({', '.join(names)})"
    e2e = best_of(lambda: compose(out, expression=expr, modules=names, semantics=semantics, rank=rank,
                                  overwrite=True), repeats)
    return op, e2e


def run_cli(folders: list[Path], out: Path, repeats: int) -> float:
    names = [f"m{i}" for i in range(len(folders))]
    args = [sys.executable, "-m", "langarith", "compose", f"mean({', '.join(names)})", "--out", str(out),
            "--overwrite"]
    for n, f in zip(names, folders, strict=True):
        args += ["--module", f"{n}={f}"]

    def call() -> None:
        subprocess.run(args, check=True, capture_output=True)

    return best_of(call, repeats)


def run_peft(base, folders: list[Path], combination: str, out: Path, svd_rank: int = 4
             ) -> tuple[float, float, dict[str, np.ndarray]]:
    """(op seconds, end-to-end seconds, ΔW per layer) for one `add_weighted_adapter` merge."""
    from peft import PeftModel
    from peft.tuners.lora import LoraLayer

    names = [f"m{i}" for i in range(len(folders))]
    t0 = time.perf_counter()
    model = PeftModel.from_pretrained(base, str(folders[0]), adapter_name=names[0])
    for n, f in zip(names[1:], folders[1:], strict=True):
        model.load_adapter(str(f), adapter_name=n)
    kwargs = {"svd_rank": svd_rank} if combination == "svd" else {}
    t1 = time.perf_counter()
    model.add_weighted_adapter(names, [1.0 / len(names)] * len(names), "merged", combination_type=combination,
                               **kwargs)
    t2 = time.perf_counter()
    model.save_pretrained(str(out), selected_adapters=["merged"])
    t3 = time.perf_counter()
    prefix = "base_model.model."
    deltas = {prefix + n if not n.startswith(prefix) else n: mod.get_delta_weight("merged").double().numpy()
              for n, mod in model.named_modules() if isinstance(mod, LoraLayer) and "merged" in mod.lora_A}
    model.unload()
    return t2 - t1, t3 - t0, deltas


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ks", default="2,10,50")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(max(1, torch.get_num_threads()))
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        base = model()
        for k in [int(x) for x in args.ks.split(",")]:
            folders = make_modules(root, k, base)
            exact = exact_deltas(folders)
            factor_op, factor_e2e = run_ours(folders, root / "out_factor", "factor", None, args.repeats)
            delta_op, delta_e2e = run_ours(folders, root / "out_delta", "delta", 4, args.repeats)
            cli_s = run_cli(folders, root / "out_cli", args.repeats)
            linear_op, linear_e2e, linear_d = run_peft(base, folders, "linear", root / "peft_linear")
            svd_op, svd_e2e, svd_d = run_peft(base, folders, "svd", root / "peft_svd")
            exact_op, exact_e2e = run_ours(folders, root / "out_exact", "delta", None, args.repeats)
            full_op, full_e2e, full_d = run_peft(base, folders, "svd", root / "peft_svd_full", svd_rank=4 * k)
            results[str(k)] = {
                "ours_factor_op_s": round(factor_op, 4),
                "ours_factor_e2e_s": round(factor_e2e, 4),
                "ours_delta_rank4_op_s": round(delta_op, 4),
                "ours_delta_rank4_e2e_s": round(delta_e2e, 4),
                "ours_cli_factor_s": round(cli_s, 3),
                "peft_linear_op_s": round(linear_op, 4),
                "peft_linear_e2e_s": round(linear_e2e, 4),
                "peft_svd_rank4_op_s": round(svd_op, 4),
                "peft_svd_rank4_e2e_s": round(svd_e2e, 4),
                "ratio_op_peft_linear_to_ours_factor": round(linear_op / factor_op, 1),
                "ratio_e2e_peft_linear_to_ours_factor": round(linear_e2e / factor_e2e, 1),
                "ratio_op_peft_svd_to_ours_delta": round(svd_op / delta_op, 1),
                "ratio_e2e_peft_svd_to_ours_delta": round(svd_e2e / delta_e2e, 1),
                "ours_delta_exact_op_s": round(exact_op, 4),
                "peft_svd_full_rank_op_s": round(full_op, 4),
                "ratio_op_peft_svd_full_to_ours_delta_exact": round(full_op / exact_op, 1),
                "ratio_e2e_peft_svd_full_to_ours_delta_exact": round(full_e2e / exact_e2e, 1),
                "err_ours_delta_exact": rel_error(our_deltas(root / "out_exact"), exact),
                "err_peft_svd_full_rank": rel_error(full_d, exact),
                "err_ours_factor": rel_error(our_deltas(root / "out_factor"), exact),
                "err_peft_linear": rel_error(linear_d, exact),
                "err_ours_delta_rank4": rel_error(our_deltas(root / "out_delta"), exact),
                "err_peft_svd_rank4": rel_error(svd_d, exact),
            }
            results[str(k)]["err_ratio_ours_delta_to_peft_svd"] = round(
                results[str(k)]["err_ours_delta_rank4"] / results[str(k)]["err_peft_svd_rank4"], 5)
    k10 = results.get("10", {})
    print(json.dumps({
        "benchmark": "compose",
        "modules": "rank-4 LoRA on q/k/v/o, Gemma 3 270M shapes (18 layers)",
        "results": results,
        "targets": {"factor_vs_peft_linear": ">=10x", "delta_vs_peft_svd": ">=100x at <=1% more error",
                    "cli_k10_s": "<=1.0"},
        "met": {
            "factor_vs_peft_linear_op": all(r["ratio_op_peft_linear_to_ours_factor"] >= 10 for r in results.values()),
            "factor_vs_peft_linear_e2e": all(r["ratio_e2e_peft_linear_to_ours_factor"] >= 10
                                             for r in results.values()),
            "delta_vs_peft_svd_op": all(r["ratio_op_peft_svd_to_ours_delta"] >= 100 for r in results.values()),
            "delta_vs_peft_svd_e2e": all(r["ratio_e2e_peft_svd_to_ours_delta"] >= 100 for r in results.values()),
            "exact_delta_vs_peft_svd_full_rank_op": all(
                r["ratio_op_peft_svd_full_to_ours_delta_exact"] >= 100 for r in results.values()),
            "equal_error_within_1pct": all(r["err_ours_delta_rank4"] <= 1.01 * r["err_peft_svd_rank4"] + 1e-9
                                           for r in results.values()),
            "cli_k10": k10.get("ours_cli_factor_s", 0.0) <= 1.0 if k10 else None,
        },
    }))


if __name__ == "__main__":
    main()
