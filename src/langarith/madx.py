"""MAD-X on encoders through AdapterHub (paper 2's setting): a task adapter with its prediction head is
trained on top of a frozen language adapter, and at inference the language slot below it takes the
target's adapter — or an arithmetic of several, LA(a, b) = λ·a + (1−λ)·b — through `Stack(lang, task)`.

The heads are AdapterHub's own (classification, tagging, extractive QA), so a task module is an
ordinary AdapterHub folder with `head_config.json`, loadable with `model.load_adapter(folder)`. Examples
come from the same task files as for decoders; the raw fields sit in `Example.inputs` (NER: the words).

The evaluator loads the base model and the task adapter once. Swapping the language slot writes the
composed adapter to a temporary folder and loads it with AdapterHub's own loader, so what is evaluated is
exactly what a user loading the saved folder would run. torch is imported inside functions.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from langarith import devices, timing
from langarith.errors import LangarithError
from langarith.experiment import Runner
from langarith.methods.bottleneck import quiet
from langarith.module import Module
from langarith.tasks import Example, Task, get_task

LANG = "lang"  # the language slot's adapter name at inference
HEADS = {"classification": "classification", "ner": "tagging", "qa": "qa"}


class MadxError(LangarithError):
    """A task, model or module does not fit the MAD-X pipeline."""


def head_kind(task: Task) -> str:
    """Which AdapterHub head a task trains: classification (topics), tagging (NER) or qa (spans)."""
    if task.kind == "classification":
        return "classification"
    if task.name in HEADS:
        return HEADS[task.name]
    raise MadxError(f"task {task.name} has no encoder head (encoders do classification, ner and qa); train it on "
                    "a decoder model instead")


def tag_set(examples: Sequence[Example]) -> list[str]:
    """The BIO tags of NER examples, O first, then sorted."""
    tags = {t for e in examples for t in e.gold[1]}
    return ["O", *sorted(tags - {"O"})]


@contextlib.contextmanager
def fresh_weights_unreported() -> Iterator[None]:
    """transformers' "Some weights … were not initialized" report, silenced where it is expected."""
    from transformers.utils import logging

    verbosity = logging.get_verbosity()
    logging.set_verbosity_error()
    try:
        yield
    finally:
        logging.set_verbosity(verbosity)


def load_model(path: str) -> Any:
    """An AdapterHub flexible-head model of the encoder at `path`, without the heads a checkpoint brings
    (a converted MLM head would otherwise train along and cost a 250k-row softmax)."""
    from adapters import AutoAdapterModel
    with fresh_weights_unreported():  # the pooler and converted heads are reported as fresh; none is used
        model = AutoAdapterModel.from_pretrained(path)
    for name in list(model.heads):
        model.delete_head(name)
    return model


def add_head(model: Any, name: str, task: Task, labels: Sequence[str]) -> None:
    """The task's head under the adapter's name, trainable; label names go into the head's config."""
    kind = head_kind(task)
    id2label = dict(enumerate(labels))
    if kind == "classification":
        model.add_classification_head(name, num_labels=len(labels), id2label=id2label)
    elif kind == "tagging":
        model.add_tagging_head(name, num_labels=len(labels), id2label=id2label)
    else:
        model.add_qa_head(name)
    for param in model.heads[name].parameters():
        param.requires_grad = True


# --- examples → tensors --------------------------------------------------------------------------------------
def encode(task: Task, examples: Sequence[Example], tokenizer: Any, max_len: int,
           labels: Sequence[str] | None) -> list[dict[str, Any]]:
    """One dict per example: `input_ids`, and what the head is trained on and decoded from."""
    kind = head_kind(task)
    index = {lab: i for i, lab in enumerate(labels or [])}
    out: list[dict[str, Any]] = []
    if kind == "classification":
        enc = tokenizer([_field(e, "text") for e in examples], truncation=True, max_length=max_len)
        for e, ids in zip(examples, enc["input_ids"], strict=True):
            out.append({"input_ids": ids, "labels": index.get(e.label or "", -100)})
    elif kind == "tagging":
        for e in examples:
            words, tags = e.gold
            enc = tokenizer(list(words), is_split_into_words=True, truncation=True, max_length=max_len)
            word_ids = enc.word_ids()
            first = [w is not None and (i == 0 or word_ids[i - 1] != w) for i, w in enumerate(word_ids)]
            out.append({"input_ids": enc["input_ids"], "word_ids": word_ids, "n_words": len(words),
                        "labels": [index.get(tags[w], 0) if f else -100 for w, f in zip(word_ids, first,
                                                                                         strict=True)]})
    else:
        for e in examples:
            context, start_char = _field(e, "context"), e.inputs.get("answer_start", -1)
            enc = tokenizer(_field(e, "question"), context, truncation="only_second", max_length=max_len,
                            return_offsets_mapping=True)
            seq = enc.sequence_ids()
            offsets = [o if s == 1 else None for o, s in zip(enc["offset_mapping"], seq, strict=True)]
            start = end = 0  # the first token when the answer was cut off
            if start_char >= 0 and e.label:
                end_char = start_char + len(e.label)
                inside = [i for i, o in enumerate(offsets) if o is not None and o[0] < end_char and o[1] > start_char]
                if inside:
                    start, end = inside[0], inside[-1]
            out.append({"input_ids": enc["input_ids"], "offsets": offsets, "context": context,
                        "start_positions": start, "end_positions": end})
    return out


def _field(example: Example, name: str) -> str:
    if not example.inputs or name not in example.inputs:
        raise MadxError(f"a {name!r} field is missing from the example's inputs; this task's files cannot feed an "
                        "encoder head")
    return example.inputs[name]


def collate(rows: Sequence[dict[str, Any]], pad_id: int, with_targets: bool = True) -> dict[str, Any]:
    """Right-padded batch with the targets the head's loss reads."""
    import torch

    length = max(len(r["input_ids"]) for r in rows)
    ids = torch.full((len(rows), length), pad_id, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, r in enumerate(rows):
        ids[i, : len(r["input_ids"])] = torch.tensor(r["input_ids"])
        mask[i, : len(r["input_ids"])] = 1
    batch: dict[str, Any] = {"input_ids": ids, "attention_mask": mask}
    if not with_targets:
        return batch
    if "start_positions" in rows[0]:
        batch["start_positions"] = torch.tensor([r["start_positions"] for r in rows])
        batch["end_positions"] = torch.tensor([r["end_positions"] for r in rows])
    elif isinstance(rows[0]["labels"], list):
        labels = torch.full_like(ids, -100)
        for i, r in enumerate(rows):
            labels[i, : len(r["labels"])] = torch.tensor(r["labels"])
        batch["labels"] = labels
    else:
        batch["labels"] = torch.tensor([r["labels"] for r in rows])
    return batch


def head_loss(model: Any, batch: dict[str, Any]) -> Any:
    """The loss AdapterHub's head computes (cross-entropy over labels, tags or span ends)."""
    return model(**batch).loss


def decode(kind: str, row: dict[str, Any], output: Any, i: int, labels: Sequence[str]) -> Any:
    """The prediction for row `i` of a batch: a label name, one tag per word, or an answer span."""
    if kind == "classification":
        return labels[int(output.logits[i].argmax())]
    if kind == "tagging":
        tags = ["O"] * row["n_words"]
        best = output.logits[i].argmax(-1).tolist()
        for pos, w in enumerate(row["word_ids"]):
            if w is not None and (pos == 0 or row["word_ids"][pos - 1] != w):
                tags[w] = labels[best[pos]]
        return tags
    start_logits, end_logits = output.start_logits[i], output.end_logits[i]
    positions = [p for p, o in enumerate(row["offsets"]) if o is not None]
    if not positions:
        return ""
    best_score, span = float("-inf"), (positions[0], positions[0])
    starts = sorted(positions, key=lambda p: -float(start_logits[p]))[:20]
    ends = sorted(positions, key=lambda p: -float(end_logits[p]))[:20]
    for s in starts:
        for e in ends:
            if s <= e < s + 30 and float(start_logits[s] + end_logits[e]) > best_score:
                best_score, span = float(start_logits[s] + end_logits[e]), (s, e)
    return row["context"][row["offsets"][span[0]][0]: row["offsets"][span[1]][1]]


# --- inference -----------------------------------------------------------------------------------------------
class MadxEvaluator:
    """A base encoder and one task adapter (with its head) in memory; language adapters come and go below it.

    Same interface as `langarith.evaluate.Evaluator`, with one difference: the module passed to `evaluate` and
    built by `tune` is the *language* adapter (a folder, a Module, an arithmetic of Modules, or None to run the
    task adapter alone)."""

    def __init__(self, model: str | None, task_module: str | Path, *, batch_size: int | None = None,
                 max_len: int = 256, progress: bool = True, console: Any = None):
        import json

        from adapters.composition import Stack

        from langarith import models

        self.info = models.resolve(model)
        if self.info.family != "encoder":
            raise MadxError(f"MAD-X evaluation needs an encoder model; {self.info.name} is a {self.info.family}")
        self.tokenizer = models.load_tokenizer(self.info)
        self.device = devices.device()
        self.model = load_model(self.info.path).eval()
        folder = Path(task_module).expanduser()
        if not (folder / "head_config.json").exists():
            raise MadxError(f"{folder} has no prediction head (head_config.json); train the task module on an "
                            "encoder with `langarith train task --method bottleneck`")
        with quiet():
            self.task_name = self.model.load_adapter(str(folder), set_active=False)
        head = json.loads((folder / "head_config.json").read_text(encoding="utf-8"))
        label2id = head.get("config", {}).get("label2id") or {}
        self.labels = [lab for lab, _ in sorted(label2id.items(), key=lambda kv: kv[1])]
        self._stack = Stack
        self.model.to(self.device)
        self.pieces = None  # scores need no tokenizer here (no ROUGE on encoder tasks)
        self.batch_size = devices.eval_batch_size(self.info.family, batch_size)
        self.max_len, self.progress, self.console = max_len, progress, console
        self._current: Any = object()

    def use_language(self, module: Module | Any | str | Path | None) -> None:
        """Put `module` in the language slot (no-op when it is already there)."""
        if module is self._current:
            return
        with quiet():
            self._swap(module)
        self._current = module

    def _swap(self, module: Any) -> None:
        from langarith.algebra import ModuleVector
        from langarith.formats import save

        if LANG in self.model.adapters_config:
            self.model.delete_adapter(LANG)
        if module is None:
            self.model.active_adapters = self._stack(self.task_name)
        else:
            if isinstance(module, ModuleVector):
                module = module.materialize("factor")
            if isinstance(module, Module):
                with tempfile.TemporaryDirectory() as tmp:
                    self.model.load_adapter(str(save(module, Path(tmp) / LANG, adapter_name=LANG)), load_as=LANG,
                                            with_head=False, set_active=False)
            else:
                self.model.load_adapter(str(Path(module).expanduser()), load_as=LANG, with_head=False,
                                        set_active=False)
            self.model.active_adapters = self._stack(LANG, self.task_name)
        self.model.active_head = self.task_name
        self.model.to(self.device)  # the adapter just loaded, where the model is

    def predict(self, task: Task, examples: Sequence[Example], description: str = "predicting") -> list[Any]:
        import torch

        from langarith.train import progress

        kind = head_kind(task)
        rows = encode(task, examples, self.tokenizer, self.max_len, self.labels)
        order = sorted(range(len(rows)), key=lambda i: len(rows[i]["input_ids"]))  # less padding
        out: list[Any] = [None] * len(rows)
        # bf16 autocast on a GPU: the adapters stay separate modules here (nothing is merged into the weights)
        bf16 = torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.device.type == "cuda")
        with progress(self.progress, self.console, transient=True) as bar, torch.no_grad(), bf16:
            job = bar.add_task(description, total=len(rows))
            for lo in range(0, len(order), self.batch_size):
                timing.check(description)
                chunk = order[lo: lo + self.batch_size]
                batch = collate([rows[i] for i in chunk], self.tokenizer.pad_token_id, with_targets=False)
                output = self.model(**devices.to_device(batch, self.device))
                for name in ("logits", "start_logits", "end_logits"):  # decoded on the CPU, one copy per batch
                    if getattr(output, name, None) is not None:
                        output[name] = output[name].float().cpu()
                for j, i in enumerate(chunk):
                    out[i] = decode(kind, rows[i], output, j, self.labels)
                bar.update(job, advance=len(chunk))
        return out

    def evaluate(self, module: Any, task: str | Task, data: str | Path, language: str, split: str = "test",
                 limit: int | None = None, examples: Sequence[Example] | None = None,
                 labels: Sequence[str] | None = None) -> Any:
        from langarith.evaluate import EvalResult, load_examples

        task = get_task(task) if isinstance(task, str) else task
        if examples is None:
            examples = load_examples(task, data, language, split, limit)
        started = time.time()
        self.use_language(module)
        predictions = self.predict(task, examples, f"{task.name} {language} {split}")
        scores = task.score(examples, predictions, language, self.pieces)
        label = getattr(module, "name", None) or (str(module) if module is not None else None)
        return EvalResult(task.name, language, split, label, scores, predictions, len(examples),
                          time.time() - started)

    def tune(self, build: Callable[[float], Any], task: Task, dev: Sequence[Example], language: str,
             labels: Sequence[str] | None, grid: Sequence[float], strategy: str, seed: int = 0) -> Any:
        """λ on validation examples only: `build(λ)` is the language adapter put in the slot."""
        from langarith.evaluate import cached_search

        def predict(lam: float, examples: list[Example]) -> list[Any]:
            self.use_language(build(lam))
            return self.predict(task, examples, f"dev λ={lam:g}")

        return cached_search(predict, task, dev, language, grid, strategy, seed)


# --- paper 2's experiments ---------------------------------------------------------------------------------
def budget_label(tokens: int) -> str:
    """10000 → 10k, 1000000 → 1M: how the low-resource rows are named."""
    for size, suffix in ((1_000_000, "M"), (1_000, "k")):
        if tokens >= size and tokens % size == 0:
            return f"{tokens // size}{suffix}"
    return str(tokens)


def la_rows(setting: str, pool: Sequence[str], budgets: Sequence[int]) -> list[str]:
    """The table's rows per setting ("en" is the task adapter's language, the config's source)."""
    if setting == "zero-shot":
        return ["madx-en", "madx-rel", "best-proxy", "en-scaled", "la"]
    if setting == "ties":
        return ["madx-en", "madx-rel", "best-proxy", "en-scaled", "la", "ties-20", "ties-80"]
    if setting == "enhancement":
        return ["madx", "la-en", "la-rel", "la-best"]
    if setting == "relatedness":
        return ["madx-en", *(f"la-{p}" for p in pool)]
    if setting == "low-resource":
        return ["madx-en", *(row for b in budgets for row in (f"direct-{budget_label(b)}", f"la-en-{budget_label(b)}"))]
    raise MadxError(f"unknown language-arithmetic setting {setting!r}")


TIES_LAMBDAS = (0.8, 1.8)  # paper 2's range for TIES' scaling factor


def nearest_partner(target: str, pool: Sequence[str], source: str) -> str:
    """LA's partner for `target`: the pool language nearest to it by URIEL (never the target or the source)."""
    from langarith.typology import related

    candidates = [p for p in pool if p not in (target, source)]
    if not candidates:
        raise MadxError(f"the pool has no language besides {target} and {source}; add partners to pool")
    return related(target, candidates, rule="nearest").codes[0]


class MadxRunner(Runner):
    """`langarith experiment` for paper 2's settings: MAD-X language adapters (`seq_bn_inv`, masked LM, MAD-X's
    reduction factor 2) per language, one task adapter (`seq_bn`, factor 16) with its head trained on the
    source's language adapter, and language arithmetic in the language slot, λ chosen on dev.

    - zero-shot: the target has no adapter; LA(en, rel) = λ·en + (1−λ)·rel, with rel the pool language nearest
      to the target by URIEL. Its proxies are its ends (λ = 1: en alone, λ = 0: rel alone); `best-proxy` is the
      one better on dev, and LA is tested against it. Its control, `en-scaled` (λ·en, the same λ search), asks
      whether the partner matters or shrinking the English adapter alone would do as well.
    - enhancement: the target's own adapter (MAD-X) against LA(en, T) and LA(rel, T).
    - low-resource: the target's adapter trained on its first b tokens only, used directly or as LA(T_b, en).
    - relatedness: LA(en, p) for every pool language p, with p's URIEL distance to the target in the notes.
    - ties: TIES-merging of (en, rel) keeping the top 20% or 80% of each adapter, scale λ ∈ [0.8, 1.8], next to LA.
    """

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._initials: dict[str, Module | None] = {}  # init fingerprint → the adapter as training began

    def options(self, role: str) -> dict[str, Any]:
        made = {"config": "seq_bn_inv", "reduction_factor": 2} if role == "language" \
            else {"config": "seq_bn", "reduction_factor": 16}
        return {**made, **self.config.method_options}

    @property
    def source(self) -> str:
        return self.config.sources[0]

    def task_module(self, language: str) -> Path:
        cfg = self.config
        return self._train("task", language, task=cfg.task, data=self.data, steps=cfg.spend.task_steps,
                           split=cfg.train_split.get(language, "train"), lang_module=self.language_module(language))

    @property
    def evaluator(self) -> Any:
        if self._evaluator is None:
            task = self.task_module(self.source)
            self.load(task)  # for the analysis plots: task adapter next to the language adapters
            self._evaluator = MadxEvaluator(self.config.spend.model or self.config.model, task,
                                            progress=self.progress, console=self.console,
                                            batch_size=self.config.spend.eval_batch_size)
        return self._evaluator

    def eval_precision(self) -> str:
        return "bf16" if devices.device().type == "cuda" else "fp32"  # MadxEvaluator autocasts on a GPU

    def language(self, code: str, max_text_tokens: int | None = None) -> Module:
        return self.load(self.language_module(code, max_text_tokens))

    def partner(self, target: str) -> tuple[str, str]:
        code = nearest_partner(target, self.config.pool, self.source)
        return code, f"rel = {code} (nearest to {target} in the pool by URIEL)"

    def cells(self, target: str) -> dict[str, Any]:
        from langarith.recipes import la

        setting, made = self.config.setting, {}
        en = self.language(self.source)
        if setting in ("zero-shot", "ties"):
            rel_code, note = self.partner(target)
            rel = self.language(rel_code)
            made["madx-en"] = self._fixed("madx-en", target, en)
            made["madx-rel"] = self._fixed("madx-rel", target, rel, note)
            dev = {"madx-en": self.dev_score(en, target), "madx-rel": self.dev_score(rel, target)}
            self.dev_lines[target] = {f"{self.source} alone (dev)": dev["madx-en"],
                                      f"{rel_code} alone (dev)": dev["madx-rel"]}
            made["best-proxy"] = self._best("best-proxy", made, dev)
            if "en-scaled" in self.config.rows:  # LA's control: the same λ on the English adapter alone
                made["en-scaled"] = self._tuned("en-scaled", target, lambda lam: lam * en)
            made["la"] = self._tuned("la", target, lambda lam: la(en, rel, lam), note)
            if setting == "ties":
                from langarith.merges import merge
                from langarith.search import lambda_grid

                grid = lambda_grid(self.config.spend.lambda_step, *TIES_LAMBDAS)
                for k in (20, 80):
                    made[f"ties-{k}"] = self._tuned(
                        f"ties-{k}", target, lambda lam, k=k: merge("ties", [en, rel], top_k=k / 100, lam=lam),
                        note, grid=grid)
        elif setting == "enhancement":
            rel_code, note = self.partner(target)
            own, rel = self.language(target), self.language(rel_code)
            made["madx"] = self._fixed("madx", target, own)
            self.dev_lines[target] = {f"{target} alone (dev)": self.dev_score(own, target)}
            made["la-en"] = self._tuned("la-en", target, lambda lam: la(en, own, lam))
            made["la-rel"] = self._tuned("la-rel", target, lambda lam: la(rel, own, lam), note)
            made["la-best"] = self._best("la-best", made, {m: made[m].dev for m in ("la-en", "la-rel")})
        elif setting == "low-resource":
            made["madx-en"] = self._fixed("madx-en", target, en)
            self.dev_lines[target] = {f"{self.source} alone (dev)": self.dev_score(en, target)}
            for budget in self.config.spend.token_budgets or []:
                own, label = self.language(target, budget), budget_label(budget)
                made[f"direct-{label}"] = self._fixed(f"direct-{label}", target, own,
                                                      note=f"{target} adapter on its first {budget:,} tokens")
                made[f"la-en-{label}"] = self._tuned(f"la-en-{label}", target,
                                                     lambda lam, own=own: la(own, en, lam))
        elif setting == "relatedness":
            from langarith.typology import distance

            made["madx-en"] = self._fixed("madx-en", target, en)
            for code in self.config.pool:
                if code == self.source:
                    continue
                partner = self.language(code)
                made[f"la-{code}"] = self._tuned(f"la-{code}", target, lambda lam, p=partner: la(en, p, lam),
                                                 note=f"URIEL distance {code}–{target}: {distance(code, target):.3f}")
        return {m: made[m] for m in self.config.rows if m in made}

    def analysis_vector(self, module: Module) -> Module | None:
        """What training changed, θ − θ₀, for language adapters: adapters of one base and config share their
        initial weights, so the cosine of raw parameters would mostly measure that shared start (raw cosine
        0.64–0.67 between the cpu run's language adapters, Δθ 0.12–0.18). The one task adapter has another
        shape and start, and is left out."""
        if (module.role or "language") != "language":
            return None
        start = self._initial(module)
        if start is None:
            return module
        from dataclasses import replace

        delta = {k: v - start.tensors[k] for k, v in module.tensors.items() if k in start.tensors}
        return replace(module, tensors=delta, extras={}, kind=f"{module.kind} Δθ")

    def _initial(self, module: Module) -> Module | None:
        """The module's initial weights, rebuilt exactly as training built them (checked by fingerprint)."""
        import torch

        from langarith import models
        from langarith.formats import load
        from langarith.methods import fingerprint, get_method, init_seed

        role = module.role or "language"
        if not module.init_fingerprint or role != "language":
            return None
        cache = self._initials
        if module.init_fingerprint not in cache:
            info = models.resolve(self.config.spend.model or self.config.model)
            method = get_method("bottleneck")
            options = method.options(self.options(role))
            with fresh_weights_unreported():  # the fresh MLM head is reported again; it plays no part here
                model, _ = models.load(info)
            torch.manual_seed(init_seed(info.name, method.name, options))
            model = method.attach(model, options, info.family)
            if fingerprint(method.trainable(model)) != module.init_fingerprint:
                cache[module.init_fingerprint] = None
            else:
                with tempfile.TemporaryDirectory() as tmp:
                    method.save(model, Path(tmp))
                    cache[module.init_fingerprint] = load(tmp)
        return cache[module.init_fingerprint]

    @staticmethod
    def _best(name: str, made: dict[str, Any], dev: dict[str, float | None]) -> Any:
        """The row better on dev, reported under `name` (its test scores are that row's)."""
        from dataclasses import replace

        choice = max(dev, key=lambda m: (dev[m] if dev[m] is not None else float("-inf"), m))
        cell = made[choice]
        return replace(cell, method=name, note=f"{choice} (better on dev: {dev[choice]:.1f})", p_baseline=None,
                       p_control=None)
