"""Training tokens/s and evaluation examples/s on whatever device there is (a GPU when one is visible, else the
CPU): langarith against Hugging Face `Trainer` + PEFT, on the same model, data and device, in one run.

Training is `train_throughput.py`'s measurement itself (its two functions, here called in the same way), so on
the CPU the two benchmarks print the same training numbers within run-to-run noise. Evaluation scores SIB-200
topics on Portuguese dev sentences with the module the training side just made:

- ours: `DecoderEvaluator` — the module merged into the weights, one forward pass per prompt that keeps only
  the last position's logits, the labels' further tokens from the KV cache (`evaluation/decoder.py`);
- reference: what a PEFT user writes with `Trainer.predict` — every (prompt, label) pair as one sequence through
  the unmerged `PeftModel`, the labels' log-probabilities gathered in `preprocess_logits_for_metrics`, the best
  label per sentence. Both see the same prompt ids (BOS, the cut of `fit_prompt`) and label tokens, so they
  should choose the same labels; `agreement` says how often they do.

Each side runs in its own process (its own peak memory); timings exclude model loading. Prints one JSON line
with the ratios. On a GPU node without network it runs before the configs (`run.sh run --throughput`,
docs/air-gapped.md): its tokens/s is the node's measured rate that `full_budget_time.py` turns into minutes.

    python benchmarks/gpu_throughput.py [--model M] [--steps 12] [--examples 48] [--bf16]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from train_throughput import run_hf as train_hf
from train_throughput import run_ours as train_ours

LANGUAGE = "por_Latn"


def _examples(limit: int) -> tuple[list, list[str], Path]:
    from langarith.evaluation import load_examples
    from langarith.tasks import get_task

    task = get_task("sib200")
    data = task.where()
    return load_examples(task, data, LANGUAGE, "dev", limit), task.labels(data, LANGUAGE), data


def eval_ours(model: str | None, module: Path, limit: int) -> dict:
    from langarith.evaluation import merged_evaluator

    examples, labels, data = _examples(limit)
    evaluator = merged_evaluator(model, progress=False)
    evaluator.evaluate(module, "sib200", data, LANGUAGE, "dev", examples=examples[:2], labels=labels)  # warm-up
    start = time.time()
    result = evaluator.evaluate(module, "sib200", data, LANGUAGE, "dev", examples=examples, labels=labels)
    seconds = time.time() - start
    return {"examples_per_s": round(len(examples) / seconds, 2), "eval_s": round(seconds, 3),
            "examples": len(examples), "batch_size": evaluator.batch_size, "predictions": result.predictions}


def eval_hf(model: str | None, module: Path, limit: int) -> dict:
    import torch
    from datasets import Dataset
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, DataCollatorForSeq2Seq, Trainer, TrainingArguments

    from langarith import models
    from langarith.core import devices
    from langarith.prompts import fit_prompt, target

    examples, labels, _ = _examples(limit)
    info = models.resolve(model)
    tokenizer = models.load_tokenizer(info)
    bos = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []
    label_ids = [tokenizer(target(lab), add_special_tokens=False)["input_ids"] for lab in labels]
    rows = []
    for e in examples:
        prompt = fit_prompt(bos + tokenizer(e.prompt, add_special_tokens=False)["input_ids"], 224)
        rows += [{"input_ids": prompt + lab, "labels": [-100] * len(prompt) + lab} for lab in label_ids]
    base = AutoModelForCausalLM.from_pretrained(info.path, dtype=torch.float32)
    peft_model = PeftModel.from_pretrained(base, str(module))

    def label_logprob(logits, gold):  # per sequence: sum of log p(label token), shifted as the LM predicts
        logp = logits[:, :-1].float().log_softmax(-1)
        wanted = gold[:, 1:]
        picked = logp.gather(-1, wanted.clamp(min=0)[..., None])[..., 0]
        return (picked * (wanted >= 0)).sum(-1)

    batch = devices.eval_batch_size("decoder")
    args = TrainingArguments(output_dir=tempfile.mkdtemp(), per_device_eval_batch_size=batch, report_to=[],
                             use_cpu=not torch.cuda.is_available(), dataloader_num_workers=0, disable_tqdm=True)
    trainer = Trainer(model=peft_model, args=args, data_collator=DataCollatorForSeq2Seq(tokenizer, padding=True),
                      preprocess_logits_for_metrics=label_logprob)
    data = Dataset.from_list(rows)
    trainer.predict(data.select(range(2 * len(labels))))  # warm-up, as ours
    start = time.time()
    scores = trainer.predict(data).predictions.reshape(len(examples), len(labels))
    seconds = time.time() - start
    return {"examples_per_s": round(len(examples) / seconds, 2), "eval_s": round(seconds, 3),
            "examples": len(examples), "batch_size": batch, "predictions": [labels[i] for i in scores.argmax(1)]}


def child(which: str, model: str | None, steps: int, limit: int, bf16: bool, work: Path) -> None:
    module = work / "module"
    if which == "train-ours":
        result = train_ours(model, steps, module, bf16)
    elif which == "train-hf":
        result = train_hf(model, steps, work / "hf", bf16)
    else:
        result = (eval_ours if which == "eval-ours" else eval_hf)(model, module, limit)
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    import torch

    if torch.cuda.is_available():
        result["peak_gpu_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    print("RESULT " + json.dumps(result))


def run_child(which: str, args: argparse.Namespace, work: Path) -> dict:
    cmd = [sys.executable, __file__, "--child", which, "--steps", str(args.steps), "--examples", str(args.examples),
           "--work", str(work)]
    cmd += ["--model", args.model] if args.model else []
    cmd += ["--bf16"] if args.bf16 else []
    proc = subprocess.run(cmd, capture_output=True, text=True)
    line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
    if line is None:
        raise SystemExit(f"{which} failed:\n{proc.stderr[-3000:]}")
    return json.loads(line[len("RESULT "):])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=None, help="default: the offline Gemma 3 270M")
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--examples", type=int, default=48, help="SIB-200 Portuguese dev sentences scored")
    parser.add_argument("--bf16", action="store_true", help="training in bf16 mixed precision on both sides")
    parser.add_argument("--child", choices=["train-ours", "train-hf", "eval-ours", "eval-hf"])
    parser.add_argument("--work", type=Path)
    args = parser.parse_args()
    from langarith.core.devices import describe

    if args.child:
        child(args.child, args.model, args.steps, args.examples, args.bf16, args.work)
        return
    with tempfile.TemporaryDirectory() as tmp:
        found = {which: run_child(which, args, Path(tmp)) for which in ("train-ours", "train-hf", "eval-ours",
                                                                          "eval-hf")}
    ours, hf = found["eval-ours"].pop("predictions"), found["eval-hf"].pop("predictions")
    train_ratio = found["train-ours"]["tokens_per_s"] / found["train-hf"]["tokens_per_s"]
    eval_ratio = found["eval-ours"]["examples_per_s"] / found["eval-hf"]["examples_per_s"]
    print(json.dumps({
        "benchmark": "gpu_throughput", "device": describe()["name"], "model": args.model or "default (Gemma 3 270M)",
        "train": {"steps": args.steps, "batch_size": 8, "seq_len": 64, "precision": "bf16" if args.bf16 else "fp32",
                  "ours": found["train-ours"], "hf_trainer_peft": found["train-hf"],
                  "ratio_tokens_per_s": round(train_ratio, 2)},
        "eval": {"task": f"sib200 {LANGUAGE} dev", "precision": "fp32", "ours": found["eval-ours"],
                 "hf_trainer_peft": found["eval-hf"], "ratio_examples_per_s": round(eval_ratio, 2),
                 "agreement": round(sum(a == b for a, b in zip(ours, hf, strict=True)) / len(ours), 3)},
        "target": ">=2x tokens/s and examples/s", "met": train_ratio >= 2.0 and eval_ratio >= 2.0,
    }))


if __name__ == "__main__":
    main()
