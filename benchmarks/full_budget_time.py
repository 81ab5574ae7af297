"""How long a config's budget takes, stage by stage, on a 2-core CPU and on one H200 — counted, not guessed
in bulk: the modules are the ones the runner would train (its own plan, `Runner.to_train`), their tokens
those specs train on, and the evaluations those a committed run of the config made (λ evaluations on dev, test
rows), scaled to the budget's dev and test rows, targets and seeds.

Seconds on the CPU come from rates measured here (below); on the GPU from the same work in FLOPs over an
achieved FLOP rate: the node's measured one once `gpu_throughput.py` has run there (`--rates`), else a stated
fraction of the H200's peak. `--check` estimates the committed cpu runs and prints the ratio against what they
took (the reference runs), which says how far to trust the rest.

    python benchmarks/full_budget_time.py configs/sib200-one-language.yaml … [--budget full] [--check]
        [--rates gpu_throughput.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from langarith.training.pool import waves

ROOT = Path(__file__).resolve().parents[1]
# Training tokens/s on the 2-core CPU: decoder Gemma 3 270M (docs/benchmarks.md, 200–290 fp32, 1.5× bf16), encoder
# multilingual-e5-small (committed madx modules' langarith.json: 720 fp32; 1,100 bf16 measured 2026-11-30).
CPU_TOKENS_PER_S = {("decoder", "fp32"): 250.0, ("decoder", "bf16"): 375.0, ("encoder", "fp32"): 720.0,
                    ("encoder", "bf16"): 1100.0}
# Seconds per example evaluated on the CPU: a SIB-200 sentence scored 0.18 s and a headline generated 1.4–2.6 s
# on the decoder (docs/benchmarks.md); on the encoder the committed madx-zero-shot-cpu run (calibrated by --check).
CPU_S_PER_EXAMPLE = {("decoder", "classification"): 0.18, ("decoder", "generation"): 1.9,
                     ("encoder", "classification"): 0.014, ("encoder", "tagging"): 0.014, ("encoder", "qa"): 0.05}
H200_PEAK_TFLOPS = {"bf16": 989.0, "fp32": 67.0}  # dense, NVIDIA's datasheet
ASSUMED_MFU = 0.10  # small models, small batches: a tenth of peak until the node's own rate is measured
# A step cannot be faster than its kernel launches: about 1 ms per layer for a training step (forward and
# backward) and 0.3 ms per layer for an evaluation batch (each generated token is one) — assumed, as above.
FLOOR_MS_PER_LAYER = {"train": 1.0, "eval": 0.3}
GPU_EVAL_BATCH = {"decoder": 64, "encoder": 256}  # langarith.core.devices.EVAL_BATCH on CUDA
WORKERS = 4  # langarith.core.devices.WORKERS_PER_GPU: independent trainings at once on one GPU


def body_and_head(model: str | None) -> tuple[str, float, float, int]:
    """(family, parameters outside the embeddings, hidden size × vocabulary, layers) of the model, counted on
    meta."""
    import torch
    from transformers import AutoConfig, AutoModel

    from langarith import models

    info = models.resolve(model)
    config = AutoConfig.from_pretrained(info.path)
    with torch.device("meta"):
        body = AutoModel.from_config(config)
    embeddings = sum(p.numel() for n, p in body.named_parameters() if "embed" in n)
    total = sum(p.numel() for p in body.parameters())
    text = getattr(config, "text_config", config)
    return info.family, float(total - embeddings), float(text.hidden_size * text.vocab_size), text.num_hidden_layers


def flops_per_token(family: str, body: float, head: float, role: str) -> float:
    """Training FLOPs per token with the base frozen: forward 2·N, backward through activations 2·N (no weight
    gradients), and the LM head where the loss is taken (prefix-LM about half the positions, masked LM 15%,
    task modules the label only)."""
    scored = {"language": 0.5 if family != "encoder" else 0.15, "task": 0.1}[role]
    return 4 * body + 4 * head * scored


def planned_modules(config) -> list:
    from langarith.experiments import runner_for

    return runner_for(config, ROOT / "runs" / ".estimate", progress=False).to_train()  # what the run trains first


def task_tokens_per_step(spec, tokenizer) -> float:
    from langarith.tasks import get_task

    task = get_task(spec.task)
    examples = task.load(spec.data, (spec.languages or [spec.language])[0], spec.split)[:200]
    lengths = [min(len(tokenizer(e.prompt + " " + str(e.target))["input_ids"]), spec.max_len) for e in examples]
    return spec.batch_size * sum(lengths) / max(1, len(lengths))


def evaluations(config, name: str) -> tuple[float, str]:
    """Examples evaluated by the whole run: from the committed cpu run's cells (λ evaluations × dev rows + test
    rows), scaled to this budget's rows and targets."""
    from langarith.evaluation import load_examples
    from langarith.scoring.search import lambda_grid
    from langarith.tasks import get_task

    ran = ROOT / "results" / f"{name}-cpu" / "results.json"
    if not ran.exists():
        return float("nan"), "no committed cpu run to count evaluations from"
    done = json.loads(ran.read_text(encoding="utf-8"))
    spent, now, task = done["config"]["budgets"]["cpu"], config.spend, get_task(config.task)
    target = config.targets[0]
    full_dev = len(load_examples(task, config.data_path(), target, config.dev_split, None))
    full_test = len(load_examples(task, config.data_path(), target, config.test_split, None))
    dev = min(full_dev, now.dev_limit or full_dev) / min(full_dev, spent["dev_limit"] or full_dev)
    test = min(full_test, now.test_limit or full_test) / min(full_test, spent["test_limit"] or full_test)
    per_target = min(full_dev, spent["dev_limit"] or full_dev), min(full_test, spent["test_limit"] or full_test)
    cells = done["cells"]
    grid = len(lambda_grid(now.lambda_step, now.lambda_low, 1.0))  # a grid search evaluates all of it; the
    # adaptive searches about as many λ as they did in the committed run

    def tuned(cell: dict) -> float:
        made = cell.get("dev_evaluations") or 0
        return grid if made and now.search == "grid" else made

    count = sum(tuned(c) * per_target[0] * dev + per_target[1] * test for c in cells)
    ran_targets = len({c["target"] for c in cells})
    return count * len(config.targets) / ran_targets * len(now.seeds or [0]), f"scaled from {ran.parent.name}"


def estimate(path: Path, budget: str, rates: dict | None) -> dict:
    from langarith import models
    from langarith.experiments import load_config

    config = load_config(path, budget)
    name, spend = config.name, config.spend
    family, body, head, layers = body_and_head(spend.model or config.model)
    tokenizer = models.load_tokenizer(models.resolve(spend.model or config.model))
    precision = "fp32" if spend.precision == "fp32" else "bf16"  # auto is bf16 on the GPU
    seeds = len(spend.seeds or [0])
    work, gpu = {"language": 0.0, "task": 0.0}, {"language": 0.0, "task": 0.0}
    gpu_train = (rates or {}).get("train_tflops", H200_PEAK_TFLOPS[precision] * ASSUMED_MFU) * 1e12
    for wave in waves(planned_modules(config)):  # a wave's modules train WORKERS at a time
        for spec in wave:
            per_step = spec.batch_size * spec.seq_len if spec.role == "language" else \
                task_tokens_per_step(spec, tokenizer)
            tokens = (spec.tokens if spec.tokens else spec.steps * per_step) * seeds
            work[spec.role] += tokens
            flops = tokens * flops_per_token(family, body, head, spec.role)
            floor = tokens / per_step * layers * FLOOR_MS_PER_LAYER["train"] / 1000
            gpu[spec.role] += max(flops / gpu_train, floor) / min(WORKERS, len(wave))
    examples, source = evaluations(config, name)
    kind = "generation" if config.task in ("headline", "xlsum") else \
        {"wikiann": "tagging", "tydiqa": "qa", "xquad": "qa"}.get(config.task, "classification")
    cpu_precision = "fp32" if spend.precision == "auto" else precision  # auto: fp32 on the CPU
    cpu = {role: tokens / CPU_TOKENS_PER_S[family, cpu_precision] for role, tokens in work.items()}
    cpu["evaluation"] = examples * CPU_S_PER_EXAMPLE[family, kind]
    cpu_flops = CPU_TOKENS_PER_S[family, "fp32"] * flops_per_token(family, body, head, "language")  # achieved
    eval_speedup = (rates or {}).get("eval_speedup", H200_PEAK_TFLOPS["fp32"] * ASSUMED_MFU * 1e12 / cpu_flops)
    passes = 32 if kind == "generation" else 2  # generated tokens, or the prompt and the labels' continuation
    eval_floor = examples / GPU_EVAL_BATCH[family] * passes * layers * FLOOR_MS_PER_LAYER["eval"] / 1000
    gpu["evaluation"] = max(cpu["evaluation"] / eval_speedup, eval_floor)
    return {"config": name, "budget": budget, "family": family, "seeds": seeds,
            "language_tokens": int(work["language"]), "task_tokens": int(work["task"]),
            "examples_evaluated": round(examples), "evaluations_from": source,
            "cpu_min": {k: round(v / 60, 1) for k, v in cpu.items()},
            "cpu_total_min": round(sum(cpu.values()) / 60, 1),
            "h200_min": {k: round(v / 60, 2) for k, v in gpu.items()},
            "h200_total_min": round(sum(gpu.values()) / 60, 2),
            "h200_rate": "measured" if rates else f"assumed: {ASSUMED_MFU:.0%} of peak"}


def node_rates(measured: dict) -> dict:
    """`train_tflops` and `eval_speedup` from `gpu_throughput.py`'s line on the node (the default decoder):
    training tokens/s times its FLOPs per token, and SIB-200 sentences/s against the CPU's."""
    if measured.get("benchmark") != "gpu_throughput":
        return measured  # already the two rates
    family, body, head, _ = body_and_head(None)
    tokens_per_s = measured["train"]["ours"]["tokens_per_s"]
    return {"train_tflops": tokens_per_s * flops_per_token(family, body, head, "language") / 1e12,
            "eval_speedup": measured["eval"]["ours"]["examples_per_s"] * CPU_S_PER_EXAMPLE[family, "classification"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("configs", nargs="+", type=Path)
    parser.add_argument("--budget", default="full")
    parser.add_argument("--check", action="store_true", help="estimate the committed cpu runs against their times")
    parser.add_argument("--rates", type=Path, help="gpu_throughput.py's JSON from the node (or train_tflops and "
                                                   "eval_speedup)")
    args = parser.parse_args()
    rates = node_rates(json.loads(args.rates.read_text(encoding="utf-8"))) if args.rates else None
    for path in args.configs:
        found = estimate(path, "cpu" if args.check else args.budget, rates)
        if args.check:  # only a run that trained its modules and made its cells is a reference
            ran = json.loads((ROOT / "results" / f"{found['config']}-cpu" / "results.json").read_text())
            if "train" not in (ran.get("stages_s") or {}):
                found["measured_cpu_min"] = "not a reference: its modules or cells came from an earlier run"
            else:
                found["measured_cpu_min"] = round(ran["seconds"] / 60, 1)
                found["ratio_estimate_to_measured"] = round(found["cpu_total_min"] / found["measured_cpu_min"], 2)
        print(json.dumps(found))


if __name__ == "__main__":
    main()
