"""How close langarith's training runs to the machine's limit: the measured matmul peak, and for each training
case of the default models the FLOPs a step does, the tokens/s it reaches and the fraction of the peak.

Run on an idle machine (the final numbers; about 10 minutes on 2 CPU cores, the first run longer: it converts
the default models and trains the default encoder's shared MLM head once into the cache):

    PYTHONPATH=src python benchmarks/roofline.py

To try it (a few minutes once the cache holds the models; its numbers mean little: 3 steps, the first carrying
one-time costs and `steady` only the second, 1024² GEMMs, the device's default precision only):

    PYTHONPATH=src python benchmarks/roofline.py --quick

Options: `--steps N` (12), `--precision fp32 bf16` (both), `--cases …` (all four), `--model` / `--encoder`
(the offline defaults; `tiny` / `tiny-encoder` run in seconds), `--peak-sizes N…` (1024 2048 4096),
`--no-reference` (no Trainer + PEFT run).

1. The peak: the best of n × n GEMMs (`torch.mm`; n = 1024, 2048 and 4096, 5 times each) in bf16 and in fp32,
   on the device training uses (a GPU when one is visible), with the threads training uses. langarith never
   sets torch's thread count, so training runs with torch's default, one thread per physical core; the peak
   is measured with that same default (`threads` in every line), as each case's process trains with it.
2. The cases, each `train(spec)` itself in a process of its own, batches of 8 (64-token sequences for
   language modules, as in `train_throughput.py`):
   - `decoder-language`: Gemma 3 270M, rank-4 q/k/v/o LoRA, prefix-LM on Tatoeba Portuguese — the run of
     `train_throughput.py`, so its line carries Trainer + PEFT's tokens/s on the same run (that script's own
     child process), the ratio, and the Trainer's fraction of the peak (full causal LM: the LM head at every
     position), counted with the same shapes;
   - `decoder-task`: the same LoRA, label-only loss on SIB-200 Portuguese (prompt → topic);
   - `encoder-language`: multilingual-e5-small, MAD-X language adapter (`seq_bn_inv`, reduction 2), masked LM
     with the shared frozen MLM head at the masked positions;
   - `encoder-task`: a MAD-X task adapter (`seq_bn`, reduction 16) with a SIB-200 classification head, on the
     frozen language adapter the case before made.
3. FLOPs are counted from the model's shapes (`langarith.training.flops`, whose docstring gives the formula:
   2·rows·d_in·d_out per linear layer forward; as much again backward for the input gradient where one is
   needed and for the weight gradient where the weight trains, so ×3 for trained weights and ×2 or ×1 for
   frozen ones; attention's two T × T products, ×3 where gradients flow through it; the output layer only at
   the scored positions), for each step's own batch (B, T, K), recorded while training runs. tokens/s is the
   manifest's (the loop's tokens over its seconds, model loading excluded); the fraction of peak is the
   counted FLOPs over those seconds against the peak of the run's precision. `steady` leaves out the first
   step (one-time costs: bf16 copies of the frozen weights, first allocations) and the last: the FLOPs of the
   steps between over the time from the second step's start to the last one's.

Prints one JSON line per peak and per case. Another load on the machine disturbs every number, and more than
in proportion: torch's threads wait on each other at every operation when a core is taken.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

CASES = ("decoder-language", "decoder-task", "encoder-language", "encoder-task")
HERE = Path(__file__).resolve().parent


# --- the peak ------------------------------------------------------------------------------------------------
def peak(dtype_name: str, sizes: list[int], repeats: int) -> dict[str, Any]:
    """The best GFLOP/s of `repeats` n × n × n products in `dtype_name` on the training device, over `sizes`
    (the largest is not always the fastest: on the 2-core CPU bf16 ran 1024² at 407 GFLOP/s a thread, 4096² at
    295)."""
    import torch

    from langarith.core import devices

    where = devices.device()
    dtype = {"bf16": torch.bfloat16, "fp32": torch.float32}[dtype_name]
    by_size = {}
    for n in sizes:
        generator = torch.Generator().manual_seed(0)
        a, b = (torch.randn(n, n, generator=generator).to(where, dtype) for _ in range(2))
        out = torch.empty(n, n, dtype=dtype, device=where)
        torch.mm(a, b, out=out)  # warm-up: thread pool, kernels, packing buffers
        best = float("inf")
        for _ in range(repeats):
            _sync(where)
            start = time.perf_counter()
            torch.mm(a, b, out=out)
            _sync(where)
            best = min(best, time.perf_counter() - start)
        by_size[n] = round(2 * n**3 / best / 1e9, 1)
    return {"benchmark": "roofline", "case": "peak", "dtype": dtype_name, "gflops_per_s": max(by_size.values()),
            "by_size": by_size, "repeats": repeats, "threads": torch.get_num_threads(),
            "device": devices.describe()["name"]}


def _sync(where: Any) -> None:
    import torch

    if where.type == "cuda":
        torch.cuda.synchronize(where)


# --- one case, in its own process ------------------------------------------------------------------------------
def spec_of(case: str, args: argparse.Namespace, work: Path) -> Any:
    from langarith.training import TrainSpec

    common = dict(language="pt", steps=args.steps, batch_size=8, seq_len=64, lr=2e-4, checkpoint_every=0,
                  progress=False, precision=args.precision, out=work / case, overwrite=True)
    if case == "decoder-language":
        return TrainSpec(role="language", text=["tatoeba:pt"], model=args.model, **common)
    if case == "decoder-task":
        return TrainSpec(role="task", task="sib200", model=args.model, **common)
    bottleneck = dict(model=args.encoder, method="bottleneck")
    if case == "encoder-language":
        return TrainSpec(role="language", text=["tatoeba:pt"], method_options={"config": "seq_bn_inv",
                                                                               "reduction_factor": 2},
                         **bottleneck, **common)
    language = work / "encoder-language"
    if not (language / "langarith.json").exists():  # run alone: a language adapter of one step to stand on
        from langarith.training import train

        train(spec_of("encoder-language", argparse.Namespace(**{**vars(args), "steps": 1}), work))
    return TrainSpec(role="task", task="sib200", lang_module=language,
                     method_options={"config": "seq_bn", "reduction_factor": 16}, **bottleneck, **common)


def recording_steps(shapes: list[tuple[int, int, int]], starts: list[float]) -> None:
    """Record (B, T, K) of every training step's batch — the input ids' shape, and the rows the output layer
    sees (0 where there is none), by pre-hooks around the training loop's `batch_loss` — and when it started."""
    import torch

    import langarith.training.loop as loop

    original = loop.batch_loss

    def recorded(data: Any, model: Any, *args: Any, **kwargs: Any) -> Any:
        if not torch.is_grad_enabled():
            return original(data, model, *args, **kwargs)
        starts.append(time.perf_counter())
        seen = {"scored": 0}

        def on_input(module: Any, args: tuple[Any, ...]) -> None:
            seen.setdefault("shape", tuple(args[0].shape))

        def on_output(module: Any, args: tuple[Any, ...]) -> None:
            seen["scored"] = args[0].shape[:-1].numel()

        core = _core(model)
        hooks = [core.get_input_embeddings().register_forward_pre_hook(on_input)]
        output = core.get_output_embeddings() if hasattr(core, "get_output_embeddings") else None
        if isinstance(output, torch.nn.Module):
            hooks.append(output.register_forward_pre_hook(on_output))
        try:
            return original(data, model, *args, **kwargs)
        finally:
            for hook in hooks:
                hook.remove()
            shapes.append((*seen["shape"], seen["scored"]))

    loop.batch_loss = recorded


def _core(model: Any) -> Any:
    core = getattr(model, "module", model)
    return core.get_base_model() if hasattr(core, "get_base_model") else core


def traced(case: str, trained: Any) -> Any:
    """The step's products (`flops.trace`) on a small batch through the trained model and the case's objective."""
    import torch

    from langarith import models
    from langarith.models import heads
    from langarith.tasks import TASKS, Example
    from langarith.training import objectives
    from langarith.training.data import collate_task
    from langarith.training.flops import trace

    model = trained.model.train()
    info = models.resolve(trained.manifest["model"]["path"])
    tok = models.load_tokenizer(info)
    ids = torch.randint(5, min(len(tok), 3000), (3, 20), generator=torch.Generator().manual_seed(0))
    if case == "decoder-language":
        return trace(model, lambda: objectives.prefix_lm_loss(model, ids, 8))
    if case == "decoder-task":
        pairs = [([2, 9, 14, 30, 31], [40, 41]), ([2, 22, 7], [50]), ([2, 5, 6, 7, 8, 9], [60, 61, 62])]
        batch = collate_task(pairs, tok.pad_token_id)
        return trace(model, lambda: objectives.task_loss(model, batch))
    if case == "encoder-language":
        return trace(model, lambda: objectives.mlm_loss(model, ids, tok, torch.Generator().manual_seed(0)))
    labels = trained.manifest["labels"]
    examples = [Example(prompt="", target=lab, label=lab, inputs={"text": text}) for text, lab in
                zip(("O livro é bom.", "A casa grande e a comida de hoje.", "Hoje."), labels, strict=False)]
    batch = heads.collate(heads.encode(TASKS["sib200"], examples, tok, 64, labels), tok.pad_token_id)
    return trace(model, lambda: heads.head_loss(model, batch))


def child(case: str, args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from langarith.training import train

    shapes: list[tuple[int, int, int]] = []
    starts: list[float] = []
    work = Path(args.work)
    spec = spec_of(case, args, work)
    recording_steps(shapes, starts)
    trained = train(spec)
    m = trained.manifest
    step = traced(case, trained)
    flops = [step(*shape) for shape in shapes]
    parts = [step.parts(*shape) for shape in shapes]
    tokens = m["tokens"]
    language = spec.role == "language"
    out = {"case": case, "model": m["model"]["name"], "method": m["method"], "objective": m["objective"],
           "precision": m["precision"], "device": m["device"], "threads": torch.get_num_threads(),
           "steps": len(shapes), "batch_size": spec.batch_size, **({"seq_len": spec.seq_len} if language else {}),
           "shapes_b_t_k": sorted(set(shapes)), "tokens": tokens, "loop_s": m["loop_s"],
           "tokens_per_s": m["tokens_per_s"], "flops": sum(flops), "flops_per_token": round(sum(flops) / tokens),
           "flops_per_token_by_part": {k: round(sum(p[k] for p in parts) / tokens) for k in parts[0]},
           "gflops_per_s": round(sum(flops) / m["loop_s"] / 1e9, 2),
           "trainer_flops_per_token": _trainer_flops(case, step, spec)}
    if len(starts) > 2:  # the steps after the first (one-time costs: bf16 copies, allocations), before the last
        seconds = starts[-1] - starts[1]
        out["steady"] = {"steps": len(starts) - 2, "seconds": round(seconds, 3),
                         "gflops_per_s": round(sum(flops[1:-1]) / seconds / 1e9, 2)}
    return out


def _trainer_flops(case: str, step: Any, spec: Any) -> int | None:
    """Trainer + PEFT's FLOPs per token on `decoder-language`: the same layers, the LM head at all B·T positions."""
    if case != "decoder-language":
        return None
    tokens = spec.batch_size * spec.seq_len
    return round(step(spec.batch_size, spec.seq_len, tokens) / tokens)


def run_child(case: str, args: argparse.Namespace, precision: str, work: Path) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", case, "--precision", precision, "--steps", str(args.steps),
           "--work", str(work)]
    cmd += [x for flag, value in (("--model", args.model), ("--encoder", args.encoder)) if value
            for x in (flag, value)]
    return _result(subprocess.run(cmd, capture_output=True, text=True), case)


def trainer_reference(args: argparse.Namespace, precision: str) -> dict[str, Any]:
    """`train_throughput.py`'s Trainer + PEFT run, in its own process, as that benchmark runs it."""
    cmd = [sys.executable, str(HERE / "train_throughput.py"), "--child", "hf", "--steps", str(args.steps)]
    cmd += (["--model", args.model] if args.model else []) + (["--bf16"] if precision == "bf16" else [])
    return _result(subprocess.run(cmd, capture_output=True, text=True), "Trainer + PEFT")


def _result(proc: subprocess.CompletedProcess, what: str) -> dict[str, Any]:
    line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
    if line is None:
        raise SystemExit(f"{what} failed:\n{proc.stderr[-3000:]}")
    return json.loads(line[len("RESULT "):])


def line(result: dict[str, Any], peaks: dict[str, float], reference: dict[str, Any] | None) -> dict[str, Any]:
    """The case's JSON line: its numbers, the fraction of the peak, and Trainer + PEFT's beside them."""
    ceiling = peaks[result["precision"]]
    out = {"benchmark": "roofline", **{k: v for k, v in result.items() if k != "trainer_flops_per_token"},
           "peak_gflops_per_s": ceiling, "fraction_of_peak": round(result["gflops_per_s"] / ceiling, 4)}
    if "steady" in out:
        out["steady"]["fraction_of_peak"] = round(out["steady"]["gflops_per_s"] / ceiling, 4)
    if reference is not None:
        flops = result["trainer_flops_per_token"] * reference["tokens_per_s"]
        out["trainer_peft"] = {"tokens_per_s": reference["tokens_per_s"], "loop_s": reference["loop_s"],
                               "flops_per_token": result["trainer_flops_per_token"],
                               "fraction_of_peak": round(flops / 1e9 / ceiling, 4)}
        out["ratio_tokens_per_s"] = round(result["tokens_per_s"] / reference["tokens_per_s"], 2)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=None, help="training steps per case (12; --quick: 3)")
    parser.add_argument("--quick", action="store_true", help="3 steps, 1024² GEMMs, the device's precision only")
    parser.add_argument("--precision", nargs="+", choices=["fp32", "bf16"], default=None)
    parser.add_argument("--cases", nargs="+", choices=CASES, default=list(CASES))
    parser.add_argument("--model", default=None, help="decoder (default: the offline Gemma 3 270M)")
    parser.add_argument("--encoder", default="default-encoder", help="encoder (default: multilingual-e5-small)")
    parser.add_argument("--peak-sizes", type=int, nargs="+", default=None,
                        help="n of the n × n GEMMs (1024 2048 4096; --quick: 1024)")
    parser.add_argument("--no-reference", action="store_true", help="skip Trainer + PEFT on decoder-language")
    parser.add_argument("--child", choices=CASES, help=argparse.SUPPRESS)
    parser.add_argument("--work", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.steps = args.steps or (3 if args.quick else 12)
    if args.child:
        args.precision = args.precision[0]
        print("RESULT " + json.dumps(child(args.child, args)))
        return
    from langarith.core import devices

    precisions = args.precision or ([devices.training_precision()] if args.quick else ["fp32", "bf16"])
    sizes = args.peak_sizes or ([1024] if args.quick else [1024, 2048, 4096])
    repeats = 2 if args.quick else 5
    peaks = {}
    for dtype in ("bf16", "fp32"):
        measured = peak(dtype, sizes, repeats)
        peaks[dtype] = measured["gflops_per_s"]
        print(json.dumps(measured), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for precision in precisions:
            work = Path(tmp) / precision
            for case in args.cases:
                result = run_child(case, args, precision, work)
                reference = None
                if case == "decoder-language" and not args.no_reference:
                    reference = trainer_reference(args, precision)
                print(json.dumps(line(result, peaks, reference)), flush=True)


if __name__ == "__main__":
    main()
