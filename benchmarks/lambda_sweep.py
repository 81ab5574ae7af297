"""Wall time of one λ sweep (λ = 0, 0.1, …, 1 on a few dev rows), the composed module applied to the loaded model
once per λ: what `DecoderEvaluator.tune` and `MadxEvaluator.tune` (λ search with `--search grid`) spend.

- `decoder` (case A): the default decoder (Gemma 3 270M) on SIB-200, one language: Add & Subtract,
  λ·task_en + (1 − λ)·(lang_por − lang_en), LoRA rank 4 on the attention projections, factor-wise;
- `madx` (case B): MAD-X zero-shot on the default encoder (multilingual-e5-small): the English SIB-200 task adapter
  with its head over LA(en, spa) = λ·en + (1 − λ)·spa in the language slot, scored on Portuguese.

The modules are made once under `--work` and reused, so runs at different commits time the same files: the
decoder's LoRA factors are random but deterministic (A as PEFT initialises it under seed 0, the same in every
module; B drawn from N(0, 0.1²) under seeds 1–3), since training Gemma on a CPU would take long and a sweep's
cost does not depend on what the factors learned; the encoder's adapters are trained a few steps with langarith's
own training API (`seq_bn_inv` language adapters on Tatoeba, a `seq_bn` task adapter with its head on English
SIB-200), as the MAD-X runner trains them.

    .venv/bin/python benchmarks/lambda_sweep.py --work /tmp/lambda-sweep > after.jsonl
    PYTHONPATH=/path/to/an/older/checkout/src .venv/bin/python benchmarks/lambda_sweep.py --work /tmp/lambda-sweep
    .venv/bin/python benchmarks/lambda_sweep.py --work /tmp/lambda-sweep --reference before.jsonl

Prints one JSON line per case: the fastest of `--repeat` sweeps in seconds (each sweep's time too, as timings on
a shared machine vary), the fastest of as many rounds of only applying the sweep's 11 modules (`apply_seconds`:
composing, putting the module on the model and taking it off, no prediction), the dev score at every λ, the
langarith it ran; with `--reference` (an earlier run's lines) also that run's seconds, the speedups (reference ÷
this) and whether every score is the same.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path
from typing import Any

GRID = [i / 10 for i in range(11)]
TARGET = "por_Latn"
RELATED = "spa_Latn"  # case B's partner in LA(en, ·): the madx-zero-shot pool language nearest to Portuguese
DECODER_MODULES = {"task": "eng_Latn", "language": "eng_Latn", "target": TARGET}


def decoder_modules(work: Path) -> dict[str, Path]:
    """Case A's task and language LoRAs (see the module docstring), written once with PEFT's save_pretrained."""
    folders = {name: work / "decoder" / f"{name}_{code}" for name, code in DECODER_MODULES.items()}
    if all((f / "adapter_config.json").exists() for f in folders.values()):
        return folders
    import torch
    from peft import LoraConfig, get_peft_model

    from langarith import models

    model, _ = models.load(models.resolve(None))
    targets = models.attention_targets(model)
    for seed, folder in enumerate(folders.values(), start=1):
        torch.manual_seed(0)  # one A for every module: factor-wise sums of modules that share their start
        peft = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=targets))
        draw = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for name, param in peft.named_parameters():
                if ".lora_B." in name:
                    param.copy_(torch.randn(param.shape, generator=draw) * 0.1)
        peft.save_pretrained(str(folder))
        model = peft.unload()
    return folders


def madx_modules(work: Path) -> dict[str, Path]:
    """Case B's language adapters and the English task adapter with its head, trained once (a few steps)."""
    from langarith.tasks import get_task
    from langarith.training import TrainSpec, train

    folders = {code: work / "madx" / f"language_{code}" for code in ("eng_Latn", RELATED)}
    for code, folder in folders.items():
        if not (folder / "adapter_config.json").exists():
            train(TrainSpec(role="language", language=code, text=[f"tatoeba:{code}"], model="default-encoder",
                            method="bottleneck", method_options={"config": "seq_bn_inv", "reduction_factor": 2},
                            out=folder, steps=30, batch_size=8, seq_len=64, lr=1e-3, progress=False))
    task = work / "madx" / "task_eng_Latn"
    if not (task / "adapter_config.json").exists():
        train(TrainSpec(role="task", language="eng_Latn", task="sib200", data=get_task("sib200").where(),
                        model="default-encoder", method="bottleneck",
                        method_options={"config": "seq_bn", "reduction_factor": 16}, lang_module=folders["eng_Latn"],
                        out=task, steps=60, batch_size=16, lr=1e-3, progress=False))
    return {"task": task, **folders}


def apply_decoder(evaluator: Any, module: Any) -> None:
    with evaluator.merged(module):
        pass


def apply_madx(evaluator: Any, module: Any) -> None:
    evaluator.use_language(module)


def decoder_case(work: Path, rows: int) -> tuple[Any, Any, list, list[str] | None, str]:
    from langarith.arith.formats import load
    from langarith.arith.recipes import add_subtract
    from langarith.evaluation import DecoderEvaluator, load_examples
    from langarith.tasks import get_task

    folders = decoder_modules(work)
    task_en = load(folders["task"], role="task", language="eng_Latn")
    lang_en = load(folders["language"], role="language", language="eng_Latn")
    lang_t = load(folders["target"], role="language", language=TARGET)
    evaluator = DecoderEvaluator(progress=False)
    task = get_task("sib200")
    dev = load_examples(task, task.where(), TARGET, "dev", rows)

    def build(lam: float) -> Any:
        return add_subtract(task=task_en, target=lang_t, source=lang_en, lam=lam).materialize("factor")

    return evaluator, build, dev, task.labels(task.where(), TARGET), evaluator.info.name


def madx_case(work: Path, rows: int) -> tuple[Any, Any, list, list[str] | None, str]:
    from langarith.arith.formats import load
    from langarith.arith.recipes import la
    from langarith.evaluation import MadxEvaluator, load_examples
    from langarith.tasks import get_task

    folders = madx_modules(work)
    en, rel = load(folders["eng_Latn"]), load(folders[RELATED])
    evaluator = MadxEvaluator("default-encoder", folders["task"], progress=False)
    task = get_task("sib200")
    return (evaluator, lambda lam: la(en, rel, lam=lam), load_examples(task, task.where(), TARGET, "dev", rows), None,
            evaluator.info.name)


CASES = {"decoder": (decoder_case, apply_decoder), "madx": (madx_case, apply_madx)}


def sweep(case: str, work: Path, rows: int, repeat: int) -> dict[str, Any]:
    """The case's λ sweep `repeat` times on one loaded model (each sweep's seconds, the scores), and as often the
    modules of the sweep applied and taken off again without predicting anything (what composition in memory
    changes, apart from the predictions, which are timing noise here)."""
    import torch

    import langarith
    from langarith.core import devices
    from langarith.tasks import get_task

    make, apply = CASES[case]
    evaluator, build, dev, labels, model = make(work, rows)
    task, seconds, applying, found = get_task("sib200"), [], [], None
    for _ in range(repeat):
        started = time.perf_counter()
        found = evaluator.tune(build, task, dev, TARGET, labels, GRID, "grid")
        seconds.append(round(time.perf_counter() - started, 2))
        started = time.perf_counter()
        for lam in GRID:
            apply(evaluator, build(lam))
        applying.append(round(time.perf_counter() - started, 3))
    assert found is not None
    return {"benchmark": "lambda_sweep", "case": case, "model": model, "device": str(devices.device()),
            "threads": torch.get_num_threads(), "rows": len(dev), "lambdas": len(GRID), "seconds": min(seconds),
            "all_seconds": seconds, "seconds_per_lambda": round(min(seconds) / len(GRID), 3),
            "apply_seconds": min(applying), "all_apply_seconds": applying,
            "scores": {f"{lam:g}": round(score, 4) for lam, score in found.curve}, "best_lambda": found.best,
            "langarith": str(Path(langarith.__file__).resolve().parents[1])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", type=Path, required=True, help="where the modules are made once and reused")
    parser.add_argument("--cases", default="decoder,madx", help=f"comma-separated, of: {', '.join(CASES)}")
    parser.add_argument("--rows", type=int, default=24, help="dev rows scored at every λ")
    parser.add_argument("--repeat", type=int, default=2, help="sweeps per case; the fastest is reported")
    parser.add_argument("--threads", type=int, help="torch's CPU threads (default: torch's own choice); 1 is "
                        "steadier on a machine another process keeps busy")
    parser.add_argument("--reference", type=Path, help="an earlier run's JSON lines: adds speedup and same_scores")
    args = parser.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    cases = args.cases.split(",")
    if unknown := sorted(set(cases) - set(CASES)):
        parser.error(f"unknown case(s) {', '.join(unknown)}; choose among {', '.join(CASES)}")
    reference = {}
    if args.reference:
        lines = [json.loads(line) for line in args.reference.read_text(encoding="utf-8").splitlines() if line.strip()]
        reference = {line["case"]: line for line in lines if line.get("benchmark") == "lambda_sweep"}
    warnings.filterwarnings("ignore")  # shared-initialisation warnings of the random decoder modules, library chatter
    for case in cases:
        line = sweep(case, args.work, args.rows, args.repeat)
        if case in reference:
            before = reference[case]
            line.update(reference_seconds=before["seconds"], speedup=round(before["seconds"] / line["seconds"], 2),
                        reference_apply_seconds=before["apply_seconds"],
                        apply_speedup=round(before["apply_seconds"] / line["apply_seconds"], 2),
                        same_scores=before["scores"] == line["scores"])
        print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
