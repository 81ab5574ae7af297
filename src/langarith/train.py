"""Training language modules (unlabeled text) and task modules (labeled data) on any HF model.

Design choices that the rest relies on:
- Every batch is a pure function of (seed, step): resuming needs no data state, and a run resumed after
  a kill reaches bitwise the same weights on CPU as an uninterrupted one (checkpoints hold the trainable
  tensors, the optimizer and the RNG states).
- Language modules: prefix-LM for decoders (one split point per batch; loss only on the continuation,
  and the LM head — 262k rows for Gemma 3 — is evaluated only at those positions via `logits_to_keep`),
  prefix → continuation for encoder-decoders, masked LM for encoders (head applied to masked positions).
- Task modules on decoders: prompt → target with loss on the target only; prompts are left-padded so
  all targets end together and one `logits_to_keep` range covers them.
- Runs under `accelerate launch` unchanged: each process takes its rows of the global batch.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from langarith import __version__, devices, timing
from langarith.errors import LangarithError, OutputExistsError

CHECKPOINT = "checkpoint.pt"


class TrainError(LangarithError):
    """Training cannot start or continue (bad budget, unsupported combination, broken checkpoint)."""


@dataclass
class TrainSpec:
    role: str  # "language" | "task"
    language: str
    out: Path
    model: str | None = None
    method: str = "lora"
    method_options: dict[str, Any] = field(default_factory=dict)
    text: list[str] = field(default_factory=list)  # language modules
    task: str | None = None  # task modules
    data: Path | None = None
    languages: list[str] | None = None  # a multilingual task module: every language's data, concatenated
    split: str = "train"
    lang_module: Path | None = None  # MAD-X: train on top of this frozen language adapter
    steps: int | None = None
    tokens: int | None = None
    batch_size: int = 8
    seq_len: int = 64
    max_len: int = 256  # task examples: prompt + target tokens
    lr: float = 2e-4
    seed: int = 0
    checkpoint_every: int = 50
    heldout: int = 16  # sequences held out to measure a language module's loss before and after
    max_text_tokens: int | None = None  # low resource: train on only the first this-many tokens of the text
    resume: bool = False
    progress: bool = True
    precision: str = "auto"  # bf16 mixed precision (autocast; fp32 weights, gradients, optimizer) or fp32; auto: bf16
    # on CUDA, fp32 on the CPU
    save_dtype: str = "fp32"  # the saved module's dtype: "bf16" halves it (committed GPU results)


# --- data --------------------------------------------------------------------------------------------
class Batches:
    """Rows of a dataset visited in a fresh seeded permutation per epoch; `rows(step)` is pure."""

    def __init__(self, n: int, batch_size: int, seed: int):
        if n == 0:
            raise TrainError("no training examples")
        self.n, self.batch_size, self.seed = n, batch_size, seed
        self._perm: dict[int, np.ndarray] = {}

    def rows(self, step: int) -> np.ndarray:
        idx = np.arange(step * self.batch_size, (step + 1) * self.batch_size)
        out = np.empty_like(idx)
        for i, g in enumerate(idx):
            epoch, pos = divmod(int(g), self.n)
            if epoch not in self._perm:
                self._perm = {epoch: np.random.default_rng([self.seed, epoch]).permutation(self.n)}
            out[i] = self._perm[epoch][pos]
        return out


def pack(texts: list[str], tokenizer: Any, seq_len: int) -> np.ndarray:
    """Concatenate documents (EOS between them) and cut fixed-length sequences: no padding is trained on."""
    eos = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else tokenizer.sep_token_id
    ids = tokenizer(texts, add_special_tokens=False)["input_ids"]
    stream: list[int] = []
    for doc in ids:
        stream.extend(doc)
        if eos is not None:
            stream.append(eos)
    n = len(stream) // seq_len
    if n == 0:
        raise TrainError(f"the text has {len(stream)} tokens, fewer than one sequence of {seq_len}; give more text")
    return np.asarray(stream[: n * seq_len], dtype=np.int64).reshape(n, seq_len)


# --- objectives --------------------------------------------------------------------------------------
def prefix_lm_loss(model: Any, ids: Any, split: int) -> Any:
    """Causal LM loss on positions ≥ split; logits are computed only where they are scored."""
    import torch
    import torch.nn.functional as F

    ids = ids.to(_device_of(model))
    keep = torch.arange(split - 1, ids.shape[1] - 1, device=ids.device)
    logits = model(input_ids=ids, logits_to_keep=keep).logits
    if logits.shape[1] != keep.numel():  # a model that ignores logits_to_keep: slice instead
        logits = logits[:, keep]
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), ids[:, split:].reshape(-1))


def seq2seq_loss(model: Any, ids: Any, split: int) -> Any:
    ids = ids.to(_device_of(model))
    return model(input_ids=ids[:, :split].contiguous(), labels=ids[:, split:].contiguous()).loss


def _device_of(model: Any) -> Any:
    return next(model.parameters()).device


def mlm_loss(model: Any, ids: Any, tokenizer: Any, generator: Any) -> Any:
    """BERT-style masking (15%: 80% [MASK], 10% random, 10% kept); the head sees only masked positions. The
    masks are drawn on the CPU from `generator` (so they do not depend on the device), then moved."""
    import torch
    import torch.nn.functional as F

    ids = ids.cpu()

    special = torch.tensor(tokenizer.all_special_ids)
    probs = torch.full(ids.shape, 0.15)
    probs[torch.isin(ids, special)] = 0.0
    chosen = torch.bernoulli(probs, generator=generator).bool()
    if not chosen.any():
        chosen[0, 0] = True
    inputs = ids.clone()
    roll = torch.rand(ids.shape, generator=generator)
    inputs[chosen & (roll < 0.8)] = tokenizer.mask_token_id
    random_tokens = torch.randint(len(tokenizer), ids.shape, generator=generator)
    swap = chosen & (roll >= 0.8) & (roll < 0.9)
    inputs[swap] = random_tokens[swap]
    where = _device_of(model)
    inputs, chosen, ids = inputs.to(where), chosen.to(where), ids.to(where)
    core = _unwrap(model)
    body, head = _split_mlm(model)
    active = core.active_adapters if getattr(core, "adapters_config", None) is not None else None
    if active:  # AdapterHub activates adapters in the top-level forward only; the body needs it said
        from adapters import AdapterSetup

        with AdapterSetup(active):
            hidden = body(input_ids=inputs).last_hidden_state
    else:
        hidden = body(input_ids=inputs).last_hidden_state
    logits = head(hidden[chosen])
    return F.cross_entropy(logits.float(), ids[chosen])


@contextlib.contextmanager
def frozen_linears_in(model: Any, dtype: Any) -> Any:
    """Hold every frozen linear layer's weights in `dtype` for the duration, then put the originals back.

    Under bf16 autocast a frozen fp32 weight is cast to bf16 again at every use (autocast caches casts only
    of weights that require grad): for Gemma 3 that is 268M numbers, its 262k-row LM head included, re-read
    and re-written each step. The cast is deterministic, so holding the cast copy gives bitwise the same
    matmuls, once. A head tied to the input embeddings gets its own copy; the embedding lookup stays fp32,
    as under autocast. Trainable weights and everything saved stay fp32."""
    import torch

    swapped = []
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.Linear) and not module.weight.requires_grad:
                for name in ("weight", "bias"):
                    param = getattr(module, name)
                    if param is not None and param.is_floating_point() and not param.requires_grad:
                        swapped.append((module, name, param))
                        setattr(module, name, torch.nn.Parameter(param.to(dtype), requires_grad=False))
    try:
        yield model
    finally:
        for module, name, param in swapped:
            setattr(module, name, param)


def language_loss(model: Any, ids: Any, split: int, objective: str, family: str, tokenizer: Any,
                  generator: Any) -> Any:
    """The language-module loss of one batch: MLM for encoders, else prefix → continuation."""
    if objective == "mlm":
        return mlm_loss(model, ids, tokenizer, generator)
    if family == "encoder-decoder":
        return seq2seq_loss(model, ids, split)
    return prefix_lm_loss(model, ids, split)


MLM_HEAD_STEPS = 200
MLM_HEAD_VERSION = 1


def shared_mlm_head(model: Any, info: Any, tokenizer: Any, seq_len: int, own_text: list[str], console: Any,
                    show: bool = True) -> dict[str, Any]:
    """A masked-LM head for an encoder that ships without one (multilingual-e5), trained once per base model
    with the body frozen, cached, and frozen in every language module after. Language adapters of one base
    then all read the same head, so their arithmetic compares like with like, and a module never carries a
    head of its own. The head's output matrix stays tied to the input embeddings (training it would change
    the base model under the module). Text: 200 Tatoeba sentences of every language in the shared data, or,
    without it, the module's own text (the manifest says which)."""
    import hashlib

    import torch
    from safetensors.torch import load_file, save_file

    from langarith.paths import cache_dir

    core = _unwrap(model)
    head = _split_mlm(model)[1]
    tied = {id(p) for p in core.get_input_embeddings().parameters()}
    params = {n: p for n, p in head.named_parameters() if id(p) not in tied}
    for param in model.parameters():
        param.requires_grad = False
    files = mlm_head_text_files()
    source = "tatoeba (every language)" if files else "the module's own text"
    key = hashlib.sha256(f"{info.path}|{source}|{MLM_HEAD_VERSION}".encode()).hexdigest()[:12]
    path = cache_dir("models") / f"mlm-head-{key}.safetensors"
    if not path.exists():
        texts = [line for f in files for line in f.read_text(encoding="utf-8").splitlines()[:200]] or own_text
        rows = pack(texts, tokenizer, seq_len)
        order = np.random.default_rng(0).permutation(len(rows))
        for param in params.values():
            param.requires_grad = True
        optimizer = torch.optim.AdamW(list(params.values()), lr=1e-3)
        generator = torch.Generator().manual_seed(0)
        _say(console, f"training a masked-LM head for {info.name} once (it has none; body frozen) → {path}")
        with progress(show, console, "loss {task.fields[loss]:.3f}", transient=True) as bar:
            job = bar.add_task("MLM head", total=MLM_HEAD_STEPS, loss=float("nan"))
            for step in range(MLM_HEAD_STEPS):
                ids = torch.from_numpy(rows[order[[(step * 16 + i) % len(rows) for i in range(16)]]])
                loss = mlm_loss(model, ids, tokenizer, generator)
                loss.backward()
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                bar.update(job, advance=1, loss=float(loss.detach()))
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        save_file({n: p.detach().cpu().contiguous() for n, p in params.items()}, str(tmp))
        os.replace(tmp, path)
    state = load_file(str(path))
    with torch.no_grad():
        for name, param in params.items():
            param.copy_(state[name])
            param.requires_grad = False
    return {"mlm_head": {"file": str(path), "text": source, "steps": MLM_HEAD_STEPS, "frozen": True}}


def mlm_head_text_files() -> list[Path]:
    """The shared MLM head's text: the Tatoeba file of every language in the shared data (none without it)."""
    from langarith.paths import data_dir

    return sorted(p for p in (data_dir() / "tatoeba").glob("tatoeba.*-eng.*") if not p.name.endswith(".eng"))


def _split_mlm(model: Any) -> tuple[Any, Any]:
    """(encoder body, MLM head) of a masked-LM model, e.g. (bert, cls) or (roberta, lm_head)."""
    core = _unwrap(model)
    body = getattr(core, core.base_model_prefix)
    return body, next(m for n, m in core.named_children() if n != core.base_model_prefix)


def _unwrap(model: Any) -> Any:
    """The Hugging Face model inside DDP and PEFT wrappers (adapter layers stay injected)."""
    model = getattr(model, "module", model)
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def task_loss(model: Any, batch: dict[str, Any]) -> Any:
    import torch.nn.functional as F

    batch = devices.to_device(batch, _device_of(model))
    keep = batch["keep"]
    logits = model(input_ids=batch["ids"], attention_mask=batch["mask"], position_ids=batch["positions"],
                   logits_to_keep=keep).logits
    if logits.shape[1] != keep.numel():
        logits = logits[:, keep]
    labels = batch["labels"][:, keep + 1]
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), labels.reshape(-1), ignore_index=-100)


def encode_examples(examples: list[Any], tokenizer: Any, max_len: int) -> list[tuple[list[int], list[int]]]:
    """(prompt ids, target ids + EOS); long prompts lose their middle so the target always fits."""
    bos = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []
    eos = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    prompts = tokenizer([e.prompt for e in examples], add_special_tokens=False)["input_ids"]
    targets = tokenizer([e.target for e in examples], add_special_tokens=False)["input_ids"]
    out = []
    for p, t in zip(prompts, targets, strict=True):
        t = (t + eos)[: max_len // 2]
        out.append((fit_prompt(bos + p, max_len - len(t)), t))
    return out


def fit_prompt(ids: list[int], budget: int, tail: int = 16) -> list[int]:
    """A prompt cut to `budget` tokens in the middle: its start and its last `tail` tokens (the instruction
    that precedes the answer, e.g. "\nHeadline:") survive. Training and evaluation cut alike."""
    if len(ids) <= budget:
        return ids
    return ids[: budget - tail] + ids[-tail:]


def collate_task(pairs: list[tuple[list[int], list[int]]], pad_id: int) -> dict[str, Any]:
    import torch

    length = max(len(p) + len(t) for p, t in pairs)
    longest_target = max(len(t) for _, t in pairs)
    ids = torch.full((len(pairs), length), pad_id, dtype=torch.long)
    labels = torch.full_like(ids, -100)
    mask = torch.zeros_like(ids)
    for i, (p, t) in enumerate(pairs):
        seq = p + t
        ids[i, length - len(seq):] = torch.tensor(seq)
        labels[i, length - len(t):] = torch.tensor(t)
        mask[i, length - len(seq):] = 1
    positions = (mask.cumsum(1) - 1).clamp(min=0)
    keep = torch.arange(length - longest_target - 1, length - 1)
    return {"ids": ids, "labels": labels, "mask": mask, "positions": positions, "keep": keep,
            "tokens": int(mask.sum())}


# --- the loop ----------------------------------------------------------------------------------------
def train(spec: TrainSpec, console: Any = None, return_model: bool = False) -> Any:
    """Train and write the module folder; returns its path (and the trained model if `return_model`)."""
    import torch
    from accelerate import Accelerator

    from langarith import models
    from langarith.methods import fingerprint, get_method, init_seed

    started = time.time()
    out = Path(spec.out).expanduser()
    ckpt_dir = out.with_name(out.name + ".ckpt")
    if out.exists():
        raise OutputExistsError(f"{out} already exists; choose another --out (or delete it)")
    if spec.resume and not (ckpt_dir / CHECKPOINT).exists():
        _say(console, f"--resume: no checkpoint at {ckpt_dir}; starting from step 0")
    if not spec.resume and ckpt_dir.exists():
        raise TrainError(f"{ckpt_dir} holds a checkpoint of an interrupted run: pass --resume to continue it, "
                         "or delete it to start over")

    if spec.precision not in devices.PRECISIONS:
        raise TrainError(f"precision must be auto, fp32 or bf16, got {spec.precision!r}")
    if spec.save_dtype not in ("fp32", "bf16"):
        raise TrainError(f"save_dtype must be fp32 or bf16, got {spec.save_dtype!r}")
    timing.check(f"the start of training {out.name}")
    precision = devices.training_precision(spec.precision)
    accelerator = Accelerator(cpu=not torch.cuda.is_available())
    info = models.resolve(spec.model)
    tokenizer = models.load_tokenizer(info)
    method = get_method(spec.method)
    options = method.options(dict(spec.method_options))
    if spec.role not in ("language", "task"):
        raise TrainError(f"role must be language or task, got {spec.role!r}")

    if spec.role == "language":
        objective = {"decoder": "prefix-lm", "encoder-decoder": "prefix-lm", "encoder": "mlm"}[info.family]
        from langarith.corpora import read_texts

        texts, sources = read_texts(spec.text, spec.language)
        _check_language(texts, spec.language, console)
        sequences = pack(texts, tokenizer, spec.seq_len)
        held = min(spec.heldout, len(sequences) // 10)
        heldout, sequences = sequences[:held], sequences[held:]
        if spec.max_text_tokens is not None:
            if spec.max_text_tokens > len(sequences) * spec.seq_len:
                _say(console, f"[yellow]warning:[/] the text has {len(sequences) * spec.seq_len:,} tokens, fewer "
                              f"than the {spec.max_text_tokens:,} asked for; all of it is used")
            sequences = sequences[: max(1, spec.max_text_tokens // spec.seq_len)]
        rows, tokens_per_step = len(sequences), spec.batch_size * spec.seq_len
        extra: dict[str, Any] = {"sources": [asdict(s) for s in sources], "seq_len": spec.seq_len,
                                 "text_tokens": int(sequences.size), "max_text_tokens": spec.max_text_tokens}
    elif spec.role == "task":
        if info.family == "encoder-decoder":
            raise TrainError(f"task modules on {info.family} models are not supported; use a decoder (prompted "
                             "tasks) or an encoder (AdapterHub prediction heads)")
        from langarith.prompts import TEMPLATES
        from langarith.tasks import get_task

        if spec.task is None or spec.data is None:
            raise TrainError("a task module needs --task and --data")
        task = get_task(spec.task)
        examples = [e for lang in spec.languages or [spec.language] for e in task.load(spec.data, lang, spec.split)]
    if spec.role == "task" and info.family == "encoder":
        from langarith import madx

        if method.name != "bottleneck":
            raise TrainError(f"task modules on encoders are AdapterHub adapters with a prediction head (MAD-X); use "
                             f"--method bottleneck, not {method.name}")
        head = madx.head_kind(task)
        labels = task.labels(spec.data, (spec.languages or [spec.language])[0]) if head == "classification" \
            else madx.tag_set(examples) if head == "tagging" else None
        pairs = madx.encode(task, examples, tokenizer, spec.max_len, labels)
        objective, heldout, rows, tokens_per_step = f"{head}-head:{task.name}", None, len(pairs), None
        extra = {"task": task.name, "labels": labels, "head": head, "data": str(spec.data), "split": spec.split,
                 "examples": len(examples), "languages": spec.languages}
    elif spec.role == "task":
        pairs = encode_examples(examples, tokenizer, spec.max_len)
        objective, heldout, rows = f"{task.kind}:{task.name}", None, len(pairs)
        tokens_per_step = None
        extra = {"task": task.name, "labels": task.labels(spec.data, (spec.languages or [spec.language])[0]),
                 "classification": "label scoring (trained as label generation)" if task.kind == "classification"
                 else None, "data": str(spec.data), "split": spec.split, "examples": len(examples),
                 "languages": spec.languages,
                 "prompt_template": TEMPLATES}

    total = _total_steps(spec, tokens_per_step)
    encoder_task = spec.role == "task" and info.family == "encoder"
    model, facts = (madx.load_model(info.path), {}) if encoder_task else models.load(info)
    if facts.get("fresh_mlm_head") and spec.role == "language":
        model.to(accelerator.device)
        facts.update(shared_mlm_head(model, info, tokenizer, spec.seq_len, texts, console, spec.progress))
        model.to("cpu")
    # The module is attached on the CPU, so that its initial weights come from the CPU generator on every
    # machine (the shared start factor arithmetic relies on); accelerate moves the model to the device.
    seed0 = init_seed(info.name, method.name, options)
    torch.manual_seed(seed0)
    model = method.attach(model, options, info.family, spec.lang_module)
    if encoder_task:
        from langarith.methods.bottleneck import NAME

        madx.add_head(model, NAME, task, labels or [])
    init_fp = fingerprint(method.trainable(model))
    params = method.trainable(model)
    torch.manual_seed(spec.seed)
    optimizer = torch.optim.AdamW(list(params.values()), lr=spec.lr)

    state = {"step": 0, "losses": [], "tokens": 0}
    if spec.resume and (ckpt_dir / CHECKPOINT).exists():
        state = _load_checkpoint(ckpt_dir / CHECKPOINT, params, optimizer, init_fp)
    model, optimizer = accelerator.prepare(model, optimizer)
    batches = Batches(rows, spec.batch_size, spec.seed)
    rank, world = accelerator.process_index, accelerator.num_processes
    generator = torch.Generator()

    def loss_at(step: int) -> tuple[Any, int]:
        mine = batches.rows(step)[rank::world]
        if spec.role == "language":
            ids = torch.from_numpy(sequences[mine])
            split_rng = np.random.default_rng([spec.seed, step, 7])
            split = int(split_rng.integers(spec.seq_len // 4, 3 * spec.seq_len // 4 + 1))
            generator.manual_seed(spec.seed * 1_000_003 + step)
            return language_loss(model, ids, split, objective, info.family, tokenizer, generator), ids.numel()
        if encoder_task:
            batch = devices.to_device(madx.collate([pairs[i] for i in mine], tokenizer.pad_token_id),
                                      accelerator.device)
            return madx.head_loss(model, batch), int(batch["attention_mask"].sum())
        batch = collate_task([pairs[i] for i in mine], tokenizer.pad_token_id)
        return task_loss(model, batch), batch["tokens"]

    if "heldout_before" not in state:  # a resumed run keeps the loss measured before its first step
        state["heldout_before"] = _heldout_loss(model, heldout, spec, info.family, objective, tokenizer) \
            if heldout is not None else None
    if state["step"]:
        state.setdefault("resumed_at", []).append(state["step"])
    before = state["heldout_before"]
    model.train()
    loop_started, loop_tokens = time.time(), state["tokens"]
    frozen = frozen_linears_in(model, torch.bfloat16) if precision == "bf16" else contextlib.nullcontext()
    bar_shown = spec.progress and accelerator.is_main_process
    with frozen, progress(bar_shown, console, "loss {task.fields[loss]:.4f}", "{task.fields[tps]:,.0f} tok/s") as bar:
        task_id = bar.add_task("training", total=total, completed=state["step"], loss=float("nan"), tps=0.0)
        for step in range(state["step"], total):
            if _deadline_passed(accelerator):
                state["seconds"] = state.get("seconds", 0.0) + time.time() - started
                if accelerator.is_main_process:
                    _save_checkpoint(ckpt_dir, accelerator.unwrap_model(model), method, optimizer, state, init_fp)
                accelerator.wait_for_everyone()
                raise timing.DeadlineReached(f"training {out.name} stopped at step {step} of {total} (checkpoint "
                                             f"{ckpt_dir}); rerun the same command to continue")
            # bf16: autocast around the forward only; weights, gradients and the optimizer stay fp32
            with torch.autocast(accelerator.device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
                loss, n_tokens = loss_at(step)
            accelerator.backward(loss)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            value = float(accelerator.reduce(loss.detach(), "mean"))
            state["losses"].append(value)
            state["tokens"] += n_tokens * world
            state["step"] = step + 1
            tps = (state["tokens"] - loop_tokens) / max(time.time() - loop_started, 1e-9)
            bar.update(task_id, advance=1, loss=value, tps=tps)
            if spec.checkpoint_every and state["step"] % spec.checkpoint_every == 0 and state["step"] < total:
                state["seconds"] = state.get("seconds", 0.0) + time.time() - started
                started = time.time()
                if accelerator.is_main_process:
                    _save_checkpoint(ckpt_dir, accelerator.unwrap_model(model), method, optimizer, state, init_fp)
                accelerator.wait_for_everyone()
    loop_s = time.time() - loop_started
    model.eval()
    after = _heldout_loss(model, heldout, spec, info.family, objective, tokenizer) if heldout is not None else None
    from accelerate.utils import gather_object

    final = gather_object([fingerprint(method.trainable(accelerator.unwrap_model(model)))])

    if accelerator.is_main_process:
        from langarith.formats.files import atomic_folder, write_json

        manifest = {
            "langarith_version": __version__,
            "language": spec.language,
            "role": spec.role,
            "objective": objective,
            "model": {"name": info.name, "path": info.path, "family": info.family, "type": info.model_type},
            "method": {"name": method.name, "options": options},
            "init": {"seed": seed0, "fingerprint": init_fp},
            "seed": spec.seed,
            "lang_module": str(spec.lang_module) if spec.lang_module else None,
            "steps": state["step"],
            "tokens": state["tokens"],
            "batch_size": spec.batch_size,
            "lr": spec.lr,
            "precision": precision,
            "device": devices.describe()["name"],
            "saved_dtype": spec.save_dtype,
            "resumed_at_steps": state.get("resumed_at", []),
            "loss_curve": state["losses"],
            "heldout_loss": {"before": before, "after": after,
                             "fell": None if before is None else bool(after < before)},
            "processes": world,
            "final_fingerprints": final,  # one per process: data-parallel replicas must agree
            "wall_time_s": round(state.get("seconds", 0.0) + time.time() - started, 2),  # over every resumed part
            "loop_s": round(loop_s, 3),
            "tokens_per_s": round((state["tokens"] - loop_tokens) / max(loop_s, 1e-9), 1),
            "versions": _versions(),
            **facts,
            **extra,
        }
        trained = accelerator.unwrap_model(model).to("cpu")  # PEFT and AdapterHub save from the CPU alike
        if spec.save_dtype == "bf16":
            with torch.no_grad():
                for param in method.trainable(trained).values():
                    param.data = param.data.to(torch.bfloat16)
        with atomic_folder(out) as tmp:
            method.save(trained, tmp)
            write_json(tmp / "langarith.json", manifest)
        shutil.rmtree(ckpt_dir, ignore_errors=True)
    accelerator.wait_for_everyone()
    return (out, accelerator.unwrap_model(model)) if return_model else out


def _deadline_passed(accelerator: Any) -> bool:
    """Whether the deadline has passed, agreed by every process (one would otherwise wait for the others)."""
    remaining = timing.left()
    if remaining is None:
        return False
    if accelerator.num_processes == 1:
        return remaining <= 0
    import torch

    flag = torch.tensor(float(remaining <= 0), device=accelerator.device)
    return bool(accelerator.reduce(flag, "max").item())


def _total_steps(spec: TrainSpec, tokens_per_step: int | None) -> int:
    if spec.steps is not None and spec.tokens is not None:
        raise TrainError("give --steps or --tokens, not both")
    if spec.tokens is not None:
        if tokens_per_step is None:
            raise TrainError("--tokens budgets language modules; task modules take --steps")
        if spec.tokens < tokens_per_step:
            raise TrainError(f"--tokens {spec.tokens} is less than one step ({tokens_per_step} tokens)")
        return math.ceil(spec.tokens / tokens_per_step)
    steps = spec.steps if spec.steps is not None else 100
    if steps < 1:
        raise TrainError(f"--steps must be positive, got {steps}")
    return steps


def _heldout_loss(model: Any, heldout: np.ndarray | None, spec: TrainSpec, family: str, objective: str,
                  tokenizer: Any) -> float | None:
    import torch

    if heldout is None or len(heldout) == 0:
        return None
    with torch.no_grad():  # a fixed split and mask, so that before and after are comparable
        return float(language_loss(model, torch.from_numpy(heldout), spec.seq_len // 2, objective, family, tokenizer,
                                   torch.Generator().manual_seed(12345)))


def _save_checkpoint(folder: Path, model: Any, method: Any, optimizer: Any, state: dict, init_fp: str) -> None:
    import torch

    from langarith.formats.files import atomic_folder

    trainable = {n: p.detach().clone() for n, p in method.trainable(model).items()}
    payload = {"trainable": trainable, "optimizer": optimizer.state_dict(), "state": state,
               "torch_rng": torch.get_rng_state(), "init_fingerprint": init_fp}
    with atomic_folder(folder, overwrite=True) as tmp:
        torch.save(payload, tmp / CHECKPOINT)


def _load_checkpoint(path: Path, params: dict[str, Any], optimizer: Any, init_fp: str) -> dict:
    import torch

    payload = torch.load(path, map_location="cpu", weights_only=True)
    if payload.get("init_fingerprint") != init_fp or set(payload["trainable"]) != set(params):
        raise TrainError(f"{path} was written by a different model, method or configuration; delete it to start over")
    with torch.no_grad():
        for name, value in payload["trainable"].items():
            params[name].copy_(value)
    optimizer.load_state_dict(payload["optimizer"])
    torch.set_rng_state(payload["torch_rng"])
    return dict(payload["state"])


def _check_language(texts: list[str], language: str, console: Any) -> None:
    """Warn when a sample of the text does not look like the declared language."""
    from langarith.langid import share_in_language

    share, detected = share_in_language(texts, language)
    if share is not None and share < 0.5:
        _say(console, f"[yellow]warning:[/] only {share:.0%} of a sample of the text looks like {language}; "
                      f"most looks like {detected}. Check --lang and --text.")


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in ("torch", "transformers", "peft", "adapters", "accelerate", "numpy"):
        with contextlib.suppress(PackageNotFoundError):
            out[pkg] = version(pkg)
    out["langarith"] = __version__
    out["python"] = ".".join(map(str, __import__("sys").version_info[:3]))
    return out


def _say(console: Any, message: str) -> None:
    if os.environ.get("LOCAL_RANK", "0") != "0":
        return
    if console is None:
        from rich.console import Console

        console = Console(stderr=True)
    console.print(message)


@contextlib.contextmanager
def progress(enabled: bool, console: Any, *fields: str, transient: bool = False):
    """A rich progress bar with ETA; `fields` are extra columns (format strings over the task's fields)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                   *(TextColumn(f) for f in fields), TimeRemainingColumn(), console=console, disable=not enabled,
                   transient=transient)
    with bar:
        yield bar
