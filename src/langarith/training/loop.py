"""`train(spec)`: a language module (unlabeled text) or a task module (labeled data) on any Hugging Face model,
as named steps read top to bottom — set up the run, its data, the module, the optimizer; the loop; save.

What the rest of langarith relies on:
- Every batch is a pure function of (seed, step), and checkpoints hold the trainable tensors, the optimizer,
  its learning-rate schedule and the RNG state: a run resumed after a kill or a deadline reaches bitwise the
  same weights on the CPU.
- A step's batch is `batch_size × grad_accum` rows, backpropagated in micro-batches of `batch_size` (the
  step's rows in order), so a step of 4 × 2 trains as one of 8 × 1 does (`knobs` holds the schedule, clipping
  and the scalar log).
- Every module trained for one (base model, method, options) starts from the same initial weights, drawn
  on the CPU from a seed of those (`methods.init_seed`), so factor-wise arithmetic between them means
  something on every machine; the manifest records a fingerprint of that start.
- It runs under `accelerate launch` unchanged: each process takes its rows of the global batch.
- The deadline (`langarith.core.timing`) is checked before every step: past it, a checkpoint is written and
  `DeadlineReached` raised, and the same call later continues from there.
- `--eval-every` scores the module in memory between steps (`selection`): no weight changes and no random
  number is drawn, so the steps train as without it; `--keep best` puts the best step's tensors back at the end.
"""

from __future__ import annotations

import contextlib
import logging
import math
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langarith import __version__, models
from langarith.arith.formats.files import write_json
from langarith.core import devices, timing
from langarith.core.atomic import atomic_folder, check_out
from langarith.core.progress import progress, say
from langarith.languages.codes import resolve
from langarith.methods import fingerprint, get_method
from langarith.methods.bottleneck import NAME
from langarith.models import heads
from langarith.training import knobs, selection
from langarith.training.budget import check_numbers, total_steps
from langarith.training.card import made_by, trained_card
from langarith.training.checkpoints import CHECKPOINT, checkpoint_dir, load_checkpoint, save_checkpoint
from langarith.training.data import Batches, TrainingData, language_data, task_data
from langarith.training.mlm_head import shared_mlm_head
from langarith.training.objectives import batch_loss, frozen_linears_in, heldout_loss
from langarith.training.spec import ROLES, SAVE_DTYPES, Trained, TrainError, TrainSpec
from langarith.training.start import attach_fresh


@dataclass
class _Run:
    """What the steps of one training run hand each other."""

    spec: TrainSpec
    out: Path
    console: Any
    started: float
    precision: str
    accelerator: Any
    info: Any  # models.ModelInfo
    tokenizer: Any
    method: Any
    options: dict[str, Any]
    data: TrainingData | None = None
    total: int = 0
    model: Any = None
    optimizer: Any = None
    scheduler: Any = None
    params: list[Any] = field(default_factory=list)  # the trainable tensors the optimizer steps
    writer: Any = None  # --log-to: the scalars' SummaryWriter (main process)
    selection: Any = None  # --eval-every: how the run scores itself (`selection.Selection`)
    init: dict[str, Any] = field(default_factory=dict)  # seed and fingerprint of the initial module
    facts: dict[str, Any] = field(default_factory=dict)  # what the base model needed (a shared MLM head)
    state: dict[str, Any] = field(default_factory=lambda: {"step": 0, "losses": [], "tokens": 0})

    @property
    def ckpt(self) -> Path:
        return checkpoint_dir(self.out)


def train(spec: TrainSpec, console: Any = None) -> Trained:
    """Train and write the module folder (the library's standard folder plus `langarith.json`)."""
    run = _setup_run(spec, console)
    run.data = _setup_data(run)
    run.total = total_steps(spec, run.data.tokens_per_step, run.data.rows)
    say(f"training {run.out.name}: {run.total} steps of {spec.batch_size} × {spec.grad_accum} rows, lr {spec.lr:g} "
        f"{spec.schedule} (warm-up {knobs.warmup_steps(spec.warmup, run.total)}, clip {spec.clip}), {run.precision} "
        f"on {run.accelerator.device}", logging.DEBUG, __name__)
    _setup_module(run)
    _setup_optimizer(run)
    run.selection = selection.selection(run)  # --eval-every: its held-out text or dev rows, read once
    before = _heldout_before(run)
    loop_s, loop_tokens = _loop(run)
    selection.restore_best(run)  # --keep best: the best step's tensors, in place of the last's
    run.model.eval()
    after = heldout_loss(run.model, run.data, spec.seq_len, run.info.family, run.tokenizer)
    return _save(run, before, after, loop_s, loop_tokens)


# --- the steps ----------------------------------------------------------------------------------------------
def _setup_run(spec: TrainSpec, console: Any) -> _Run:
    """Check what was asked for, then resolve the model, its tokenizer and the method."""
    from accelerate import Accelerator

    out = Path(spec.out).expanduser()
    ckpt = checkpoint_dir(out)
    inputs = [Path(p) for p in (spec.lang_module, spec.data, *spec.text) if p is not None and Path(p).exists()]
    check_out(out, spec.overwrite, protect=[p for p in inputs if p.is_file() or p == spec.lang_module])
    if spec.resume and not (ckpt / CHECKPOINT).exists():
        say(f"--resume: no checkpoint at {ckpt}; starting from step 0", name=__name__)
    if not spec.resume and ckpt.exists():
        raise TrainError(f"{ckpt} holds a checkpoint of an interrupted run: pass --resume to continue it, "
                         "or delete it to start over")
    if spec.precision not in devices.PRECISIONS:
        raise TrainError(f"precision must be auto, fp32 or bf16, got {spec.precision!r}")
    if spec.save_dtype not in SAVE_DTYPES:
        raise TrainError(f"save_dtype must be fp32 or bf16, got {spec.save_dtype!r}")
    check_numbers(spec)
    knobs.check_knobs(spec)
    selection.check_selection(spec)
    for code in spec.languages or [spec.language]:  # a multilingual module's label ("mul") is not a language
        resolve(code)  # an unknown language is an error that suggests close codes
    timing.check(f"the start of training {out.name}")
    accelerator = Accelerator(cpu=devices.device().type != "cuda")  # --device cpu trains on the CPU with a GPU
    info = models.resolve(spec.model)
    method = get_method(spec.method)
    options = method.options(dict(spec.method_options))
    if spec.role not in ROLES:
        raise TrainError(f"role must be language or task, got {spec.role!r}")
    return _Run(spec, out, console, time.time(), devices.training_precision(spec.precision), accelerator, info,
                models.load_tokenizer(info), method, options)


def _setup_data(run: _Run) -> TrainingData:
    if run.spec.role == "language":
        return language_data(run.spec, run.info.family, run.tokenizer)
    return task_data(run.spec, run.info.family, run.method.name, run.tokenizer)


def _setup_module(run: _Run) -> None:
    """The base model (with a shared MLM head where it has none) and the module attached to it. The module
    is attached on the CPU, so that its initial weights come from the CPU generator on every machine;
    accelerate moves the model to the device."""

    spec, info, data = run.spec, run.info, run.data
    encoder_task = data.head is not None
    model, facts = (heads.load_model(info.path), {}) if encoder_task else models.load(info)
    if facts.get("fresh_mlm_head") and spec.role == "language":
        model.to(run.accelerator.device)
        facts.update(shared_mlm_head(model, info, run.tokenizer, spec.seq_len, data.texts, run.console,
                                     spec.progress))
        model.to("cpu")
    model, seed = attach_fresh(model, info, run.method, run.options, spec.lang_module)
    if encoder_task:
        heads.add_head(model, NAME, data.task, data.labels or [])
    run.model, run.facts = model, facts
    run.init = {"seed": seed, "fingerprint": fingerprint(run.method.trainable(model))}


def _setup_optimizer(run: _Run) -> None:
    """AdamW over the trainable tensors and its learning-rate schedule, the state of an interrupted run when
    resuming (refused if the run was defined otherwise), and accelerate (which leaves the schedule alone: it
    steps once per optimizer step, whatever the processes)."""
    import torch

    params = run.method.trainable(run.model)
    torch.manual_seed(run.spec.seed)
    optimizer = torch.optim.AdamW(list(params.values()), lr=run.spec.lr)
    run.scheduler, run.params = knobs.scheduler(optimizer, run.spec, run.total), list(params.values())
    defined = _definition(run)
    if run.spec.resume and (run.ckpt / CHECKPOINT).exists():
        run.state = load_checkpoint(run.ckpt / CHECKPOINT, params, optimizer, run.init["fingerprint"], run.scheduler)
        before = knobs.before_knobs(run.state.get("definition", defined))
        changed = [f"{k} {before.get(k)!r} → {v!r}" for k, v in defined.items() if before.get(k) != v]
        if changed:
            raise TrainError(f"--resume: {run.ckpt} was made by another run ({'; '.join(changed)}); resume with the "
                             "arguments it was started with, or delete it to start over")
    run.state["definition"] = defined
    run.model, run.optimizer = run.accelerator.prepare(run.model, optimizer)


def _definition(run: _Run) -> dict[str, Any]:
    """What makes a run this run (a resume may change its length, not these); folders by name, so a run
    stopped on one machine continues on another."""
    spec = run.spec
    return {"model": run.info.name, "method": run.method.name, "options": run.options, "role": spec.role,
            "language": spec.language, "text": list(spec.text), "task": spec.task,
            "data": Path(spec.data).name if spec.data and spec.role == "task" else None,  # text: where, not what
            "languages": spec.languages, "split": spec.split,
            "lang_module": Path(spec.lang_module).name if spec.lang_module else None, "batch_size": spec.batch_size,
            "seq_len": spec.seq_len, "max_len": spec.max_len, "lr": spec.lr, "seed": spec.seed,
            "heldout": spec.heldout, "max_text_tokens": spec.max_text_tokens, "precision": run.precision,
            **knobs.definition(spec),
            # a schedule that decays, or warms up for a share of the run, is drawn over its length
            **({"steps": run.total} if spec.schedule != "constant" or 0 < spec.warmup < 1 else {})}


def _heldout_before(run: _Run) -> float | None:
    """The held-out loss before the first step; a resumed run keeps the one measured when it first started."""
    state = run.state
    if "heldout_before" not in state:
        state["heldout_before"] = heldout_loss(run.model, run.data, run.spec.seq_len, run.info.family, run.tokenizer)
    if state["step"]:
        state.setdefault("resumed_at", []).append(state["step"])
    return state["heldout_before"]


def _loop(run: _Run) -> tuple[float, int]:
    """The steps from the state's to the total; returns the loop's seconds and the tokens it started from."""
    import torch

    spec, accelerator, state = run.spec, run.accelerator, run.state
    batches = Batches(run.data.rows, spec.batch_size * spec.grad_accum, spec.seed)
    generator = torch.Generator()
    run.model.train()
    started, tokens_at_start = time.time(), state["tokens"]
    frozen = frozen_linears_in(run.model, torch.bfloat16) if run.precision == "bf16" else contextlib.nullcontext()
    shown = spec.progress and accelerator.is_main_process
    run.writer = knobs.open_writer(spec, run.out, state["step"]) if accelerator.is_main_process else None
    losses = _Losses(run, every=1 if accelerator.device.type == "cpu" else SYNC_EVERY, writer=run.writer)
    with frozen, _closing(run.writer), progress(shown, run.console, "loss {task.fields[loss]:.4f}",
                                                "{task.fields[tps]:,.0f} tok/s") as bar:
        job = bar.add_task("training", total=run.total, completed=state["step"], loss=float("nan"), tps=0.0)
        for step in range(state["step"], run.total):
            if _deadline_passed(accelerator):
                losses.flush()
                _checkpoint(run)
                raise timing.DeadlineReached(f"training {run.out.name} stopped at step {step} of {run.total} "
                                             f"(checkpoint {run.ckpt}); rerun the same command to continue")
            _score(run, losses)
            loss, n_tokens, lr, norm = _step(run, batches.rows(step), step, generator)
            state["tokens"] += n_tokens * accelerator.num_processes
            state["step"] = step + 1
            if knobs.varies(spec):
                state.setdefault("lrs", []).append(lr)
            value = losses.add(loss, lr, norm)
            tps = (state["tokens"] - tokens_at_start) / max(time.time() - started, 1e-9)
            bar.update(job, advance=1, tps=tps, **({} if value is None else {"loss": value}))
            if spec.checkpoint_every and state["step"] % spec.checkpoint_every == 0 and state["step"] < run.total:
                losses.flush()
                _checkpoint(run)
        losses.flush()
        _score(run, losses)
    return time.time() - started, tokens_at_start


def _score(run: _Run, losses: _Losses) -> None:
    """--eval-every: score the step just trained where it is due (`selection`); a deadline passing while it is
    scored, on any process, leaves a checkpoint from which the rerun scores it."""
    if run.selection is None or not run.selection.due(run.state, run.total):
        return
    stopped = False
    try:
        selection.score(run)
    except timing.DeadlineReached:
        stopped = True
    if _on_any(run.accelerator, stopped):
        losses.flush()
        _checkpoint(run)
        raise timing.DeadlineReached(f"training {run.out.name} stopped while step {run.state['step']} was scored "
                                     f"(checkpoint {run.ckpt}); rerun the same command to continue")


def _step(run: _Run, rows: Any, step: int, generator: Any) -> tuple[Any, int, float, Any]:
    """One optimizer step over the step's `rows`, `grad_accum` micro-batches of `batch_size` in order, each
    process taking its rows of each: (the step's loss, this process's tokens, the learning rate it used, the
    gradient norm before clipping, or None where neither clipping nor the log asks for it)."""
    import torch

    spec, accelerator, accum = run.spec, run.accelerator, run.spec.grad_accum
    rank, world = accelerator.process_index, accelerator.num_processes
    losses, tokens = [], 0
    for k in range(accum):
        part = rows[k * spec.batch_size:(k + 1) * spec.batch_size][rank::world]
        # processes agree on the gradients once, after the last micro-batch
        with accelerator.no_sync(run.model) if k < accum - 1 else contextlib.nullcontext():
            # bf16: autocast around the forward only; weights, gradients and the optimizer stay fp32
            with torch.autocast(accelerator.device.type, dtype=torch.bfloat16, enabled=run.precision == "bf16"):
                loss, n_tokens = batch_loss(run.data, run.model, part, step, spec.seed, spec.seq_len, run.info.family,
                                            run.tokenizer, generator, first=k == 0)
            accelerator.backward(loss if accum == 1 else loss / accum)
        losses.append(loss)
        tokens += n_tokens
    norm = knobs.clip_or_measure(accelerator, run.params, spec.clip, run.writer is not None)
    lr = run.optimizer.param_groups[0]["lr"]
    run.optimizer.step()
    run.scheduler.step()
    run.optimizer.zero_grad(set_to_none=True)
    return (losses[0] if accum == 1 else torch.stack([v.detach() for v in losses]).mean()), tokens, lr, norm


@contextlib.contextmanager
def _closing(writer: Any) -> Any:
    try:
        yield writer
    finally:
        if writer is not None:
            writer.close()


# Steps between reading the loss back on an accelerator: a float() of it each step makes the host wait for the
# GPU, which then idles while the next batch is prepared. Losses stay exact; a NaN is found within this many
# steps (and nothing is written either way).
SYNC_EVERY = 25


class _Losses:
    """The steps' losses, kept on the device and read back (averaged over processes) every `every` steps, at
    checkpoints and at the end, into the state's loss curve; a loss that is not finite stops the run."""

    def __init__(self, run: _Run, every: int, writer: Any = None):
        self.run, self.every, self.writer, self.pending, self.extras = run, every, writer, [], []

    def add(self, loss: Any, lr: float | None = None, norm: Any = None) -> float | None:
        """Keep this step's loss (and for the scalar log its learning rate and gradient norm); the last value
        read back if this step read them back."""
        self.pending.append(loss.detach())
        self.extras.append((lr, None if norm is None else norm.detach()))
        return self.flush() if len(self.pending) >= self.every else None

    def flush(self) -> float | None:
        if not self.pending:
            return None
        import torch

        run, state = self.run, self.run.state
        values = run.accelerator.reduce(torch.stack(self.pending), "mean").tolist()
        first = state["step"] - len(self.pending)
        extras, self.pending, self.extras = self.extras, [], []
        for i, value in enumerate(values):
            if not math.isfinite(value):
                raise TrainError(f"the loss of {run.out.name} became {value} at step {first + i + 1} (lr "
                                 f"{run.spec.lr:g}); no module was written. Lower --lr (paper 1: 2e-4) or check "
                                 "the text or data")
        state["losses"] += values
        if self.writer is not None:
            knobs.write_scalars(self.writer, first, values, [lr for lr, _ in extras],
                                [None if norm is None else float(norm) for _, norm in extras])
        return values[-1]


def _checkpoint(run: _Run) -> None:
    """Save the state (the wall time so far included) from the main process; the others wait."""
    run.state["seconds"] = run.state.get("seconds", 0.0) + time.time() - run.started
    run.started = time.time()
    if run.accelerator.is_main_process:
        save_checkpoint(run.ckpt, run.accelerator.unwrap_model(run.model), run.method, run.optimizer, run.state,
                        run.init["fingerprint"], run.scheduler)
    run.accelerator.wait_for_everyone()


def _deadline_passed(accelerator: Any) -> bool:
    """Whether the deadline has passed, agreed by every process (one would otherwise wait for the others)."""
    remaining = timing.left()
    return remaining is not None and _on_any(accelerator, remaining <= 0)


def _on_any(accelerator: Any, flag: bool) -> bool:
    """Whether `flag` holds on any process; every process learns it."""
    if accelerator.num_processes == 1:
        return flag
    import torch

    return bool(accelerator.reduce(torch.tensor(float(flag), device=accelerator.device), "max").item())


def _save(run: _Run, before: float | None, after: float | None, loop_s: float, loop_tokens: int) -> Trained:
    """Write the module (in `save_dtype`) and its manifest atomically; drop the checkpoint."""
    import torch
    from accelerate.utils import gather_object

    accelerator = run.accelerator
    trainable = run.method.trainable(accelerator.unwrap_model(run.model))
    broken = [name for name, p in trainable.items() if not bool(torch.isfinite(p.detach()).all())]
    if broken:
        raise TrainError(f"{run.out.name}: {len(broken)} trained tensor(s) hold NaN or Inf ({', '.join(broken[:3])}); "
                         "no module was written. Lower --lr or check the data")
    final = gather_object([fingerprint(trainable)])
    trained = accelerator.unwrap_model(run.model)
    manifest: dict[str, Any] = {}
    if accelerator.is_main_process:
        manifest = _manifest(run, before, after, final, loop_s, loop_tokens)
        manifest.update(made_by(manifest))  # command line, commit, working folder, inputs with their sha256
        trained = trained.to("cpu")  # PEFT and AdapterHub save from the CPU alike
        if run.spec.save_dtype == "bf16":
            with torch.no_grad():
                for param in run.method.trainable(trained).values():
                    param.data = param.data.to(torch.bfloat16)
        with atomic_folder(run.out, overwrite=run.spec.overwrite) as tmp:
            run.method.save_portable(trained, tmp, run.info.identity.portable)
            write_json(tmp / "langarith.json", manifest)
            (tmp / "README.md").write_text(trained_card(manifest, run.out.name), encoding="utf-8")  # not PEFT's
            knobs.keep_logs(run.spec, run.out, tmp)
        shutil.rmtree(run.ckpt, ignore_errors=True)
        knobs.drop_staged_logs(run.spec, run.out)
    accelerator.wait_for_everyone()
    return Trained(run.out, trained, manifest)


def _manifest(run: _Run, before: float | None, after: float | None, final: list[str], loop_s: float,
              loop_tokens: int) -> dict[str, Any]:
    """What reproduces the run: language, role, objective, model, method, data, budget, losses, machine."""
    spec, info, state = run.spec, run.info, run.state
    return {
        "langarith_version": __version__,
        "language": spec.language,
        "role": spec.role,
        "objective": run.data.objective,
        "model": {"name": info.name, "path": info.path, "family": info.family, "type": info.model_type},
        "base": info.identity.to_json(),  # the same on every machine: what compose and evaluate compare
        "method": {"name": run.method.name, "options": run.options},
        "init": run.init,
        "seed": spec.seed,
        "lang_module": str(spec.lang_module) if spec.lang_module else None,
        "steps": state["step"],
        "tokens": state["tokens"],
        "batch_size": spec.batch_size,
        "grad_accum": spec.grad_accum,  # a step's batch: batch_size × grad_accum
        "lr": spec.lr,
        "schedule": spec.schedule,
        "warmup": spec.warmup,
        "warmup_steps": knobs.warmup_steps(spec.warmup, run.total),
        "clip": spec.clip,
        **({"lr_curve": state["lrs"]} if "lrs" in state else {}),
        **({"epochs": spec.epochs} if spec.epochs is not None else {}),
        **selection.record(run),  # --eval-every: the metric, its curve and the step kept
        "log_to": spec.log_to,
        "log_dir": None if spec.log_to is None else str(spec.log_dir) if spec.log_dir else "logs",
        "precision": run.precision,
        "device": devices.describe()["name"],
        "saved_dtype": spec.save_dtype,
        "resumed_at_steps": state.get("resumed_at", []),
        "loss_curve": state["losses"],
        "heldout_loss": {"before": before, "after": after, "fell": None if before is None else bool(after < before)},
        "processes": run.accelerator.num_processes,
        "final_fingerprints": final,  # one per process: data-parallel replicas must agree
        "wall_time_s": round(state.get("seconds", 0.0) + time.time() - run.started, 2),  # over every resumed part
        "loop_s": round(loop_s, 3),
        "tokens_per_s": round((state["tokens"] - loop_tokens) / max(loop_s, 1e-9), 1),
        "versions": devices.versions(),
        **run.facts,
        **run.data.manifest,
    }
