"""Language-module training throughput: langarith's loop vs a plain Hugging Face `Trainer` + PEFT
causal-LM loop, on the same model, data, batch and machine, in one run.

Both train a rank-4 q/k/v/o LoRA (lr 2e-4) on packed 64-token sequences of Tatoeba Portuguese, batch 8,
for the same number of steps. Ours is a prefix-LM (loss on the continuation, the LM head evaluated only
where loss is taken); the reference is the standard full causal-LM loss with `DataCollatorForLanguageModeling`.
Each side runs in its own process so that peak memory (max RSS) is its own; timings cover the training loop
only (model loading excluded on both sides). Tokens/s = sequence tokens consumed per second.

Prints one JSON line. Target: ≥2× the reference's tokens/s on the default model on CPU. `--bf16` runs both
sides in bf16 mixed precision (ours: `--bf16`, torch autocast with bf16 copies of the frozen weights; the
reference: `bf16=True`). Measured on 2 CPU cores: bf16 2.15×, fp32 1.67× (docs/benchmarks.md).

    python benchmarks/train_throughput.py [--model M] [--steps 12] [--bf16]
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


def run_ours(model: str | None, steps: int, out: Path, bf16: bool) -> dict:
    from langarith.training import TrainSpec, train

    m = train(TrainSpec(role="language", language="pt", text=["tatoeba:pt"], model=model, out=out, steps=steps,
                        batch_size=8, seq_len=64, lr=2e-4, checkpoint_every=0, progress=False,
                        precision="bf16" if bf16 else "fp32")).manifest
    return {"tokens_per_s": m["tokens_per_s"], "loop_s": m["loop_s"], "tokens": m["tokens"]}


def run_hf(model: str | None, steps: int, out: Path, bf16: bool) -> dict:
    import torch
    from datasets import Dataset
    from peft import LoraConfig, get_peft_model
    from transformers import (
        AutoModelForCausalLM,
        DataCollatorForLanguageModeling,
        Trainer,
        TrainerCallback,
        TrainingArguments,
    )

    from langarith import models
    from langarith.languages.corpora import read_texts
    from langarith.training.data import pack

    info = models.resolve(model)
    tokenizer = models.load_tokenizer(info)
    texts, _ = read_texts(["tatoeba:pt"])
    sequences = pack(texts, tokenizer, 64)
    base = AutoModelForCausalLM.from_pretrained(info.path, dtype=torch.float32)
    peft_model = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=models.attention_targets(base)))
    data = Dataset.from_dict({"input_ids": sequences.tolist()})
    times: dict[str, float] = {}

    class Clock(TrainerCallback):
        def on_train_begin(self, *args, **kwargs):
            times["start"] = time.time()

        def on_train_end(self, *args, **kwargs):
            times["end"] = time.time()

    args = TrainingArguments(output_dir=str(out), per_device_train_batch_size=8, max_steps=steps, learning_rate=2e-4,
                             report_to=[], save_strategy="no", logging_steps=steps, seed=0,
                             use_cpu=not torch.cuda.is_available(),
                             dataloader_num_workers=0, disable_tqdm=True, bf16=bf16)
    trainer = Trainer(model=peft_model, args=args, train_dataset=data, callbacks=[Clock()],
                      data_collator=DataCollatorForLanguageModeling(tokenizer, mlm=False))
    trainer.train()
    loop = times["end"] - times["start"]
    return {"tokens_per_s": round(steps * 8 * 64 / loop, 1), "loop_s": round(loop, 3), "tokens": steps * 8 * 64}


def child(which: str, model: str | None, steps: int, bf16: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        result = (run_ours if which == "ours" else run_hf)(model, steps, Path(tmp) / "out", bf16)
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print("RESULT " + json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=None, help="default: the offline Gemma 3 270M")
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--child", choices=["ours", "hf"])
    parser.add_argument("--bf16", action="store_true", help="both sides in bf16 mixed precision")
    args = parser.parse_args()
    if args.child:
        child(args.child, args.model, args.steps, args.bf16)
        return
    results = {}
    for which in ("ours", "hf"):
        cmd = [sys.executable, __file__, "--child", which, "--steps", str(args.steps)]
        if args.model:
            cmd += ["--model", args.model]
        if args.bf16:
            cmd.append("--bf16")
        proc = subprocess.run(cmd, capture_output=True, text=True)
        line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
        if line is None:
            raise SystemExit(f"{which} failed:\n{proc.stderr[-3000:]}")
        results[which] = json.loads(line[len("RESULT "):])
    ratio = results["ours"]["tokens_per_s"] / results["hf"]["tokens_per_s"]
    print(json.dumps({
        "benchmark": "train_throughput",
        "model": args.model or "default (Gemma 3 270M)",
        "steps": args.steps, "batch_size": 8, "seq_len": 64, "precision": "bf16" if args.bf16 else "fp32",
        "ours": results["ours"], "hf_trainer_peft": results["hf"],
        "ratio_tokens_per_s": round(ratio, 2),
        "ratio_peak_rss": round(results["ours"]["peak_rss_mb"] / results["hf"]["peak_rss_mb"], 2),
        "target": ">=2x tokens/s", "met": ratio >= 2.0,
    }))


if __name__ == "__main__":
    main()
