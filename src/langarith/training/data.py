"""What a module trains on, turned into rows that every step indexes.

- Language modules: the text of every source, packed into fixed-length sequences (documents joined with
  EOS, so no padding is trained on); a few sequences are held out to measure the loss before and after.
- Task modules on decoders: prompt → target pairs (loss on the target only); prompts are left-padded so all
  targets end together and one `logits_to_keep` range covers them.
- Task modules on encoders: examples encoded for the task's AdapterHub head (`langarith.models.heads`).

Every batch is a pure function of (seed, step) (`Batches`): resuming needs no data state.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from langarith.core.errors import UnknownLanguageError
from langarith.core.paths import cache_dir, read_npz, write_npz
from langarith.core.progress import say
from langarith.languages.codes import same_language
from langarith.languages.corpora import read_texts
from langarith.languages.langid import share_in_language
from langarith.models import heads
from langarith.prompts import TEMPLATES, fit_prompt
from langarith.tasks import Task, get_task, split_name
from langarith.training.spec import TrainError, TrainSpec


@dataclass
class TrainingData:
    """The rows of one run and what the manifest records about them."""

    objective: str  # "prefix-lm" | "mlm" | "<kind>:<task>" | "<head>-head:<task>"
    rows: int
    tokens_per_step: int | None  # language modules: a step's tokens (for --tokens budgets)
    manifest: dict[str, Any]
    sequences: np.ndarray | None = None  # language modules: (rows, seq_len) token ids
    heldout: np.ndarray | None = None
    texts: list[str] = field(default_factory=list, repr=False)
    pairs: list[Any] = field(default_factory=list, repr=False)  # task modules: encoded examples
    task: Task | None = None
    head: str | None = None  # encoder task modules: the AdapterHub head (classification, tagging, qa)
    labels: list[str] | None = None  # and its label set


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


# A document is tokenized in pieces of at most PIECE_CHARS characters, cut at whitespace where there is some,
# and a tokenizer call sees at most PIECES_PER_CALL pieces or CALL_CHARS characters: a corpus of one huge line
# needs bounded memory.
PIECE_CHARS = 100_000
PIECES_PER_CALL = 256
CALL_CHARS = 1_000_000


def _pieces(texts: list[str]) -> Iterator[tuple[str, bool]]:
    """(piece, whether it ends its document), in order."""
    for doc in texts:
        start = 0
        while len(doc) - start > PIECE_CHARS:
            cut = doc.rfind(" ", start + 1, start + PIECE_CHARS)
            cut = cut if cut > start else start + PIECE_CHARS
            yield doc[start:cut], False
            start = cut
        yield doc[start:], True


def _calls(pieces: Iterator[tuple[str, bool]]) -> Iterator[list[tuple[str, bool]]]:
    batch: list[tuple[str, bool]] = []
    chars = 0
    for piece in pieces:
        batch.append(piece)
        chars += len(piece[0])
        if len(batch) == PIECES_PER_CALL or chars >= CALL_CHARS:
            yield batch
            batch, chars = [], 0
    if batch:
        yield batch


def pack(texts: list[str], tokenizer: Any, seq_len: int, max_sequences: int | None = None) -> np.ndarray:
    """Concatenate documents (EOS between them) and cut fixed-length sequences: no padding is trained on.
    Tokenizing stops once `max_sequences` sequences are there, so a small budget never tokenizes a big corpus."""
    eos = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else tokenizer.sep_token_id
    chunks: list[np.ndarray] = []
    tokens = 0
    for batch in _calls(_pieces(texts)):
        if max_sequences is not None and tokens >= max_sequences * seq_len:
            break
        for ids, (_, ends) in zip(tokenizer([p for p, _ in batch], add_special_tokens=False)["input_ids"], batch,
                                  strict=True):
            chunk = np.asarray([*ids, eos] if ends and eos is not None else ids, dtype=np.int64)
            chunks.append(chunk)
            tokens += chunk.size
    n = tokens // seq_len if max_sequences is None else min(tokens // seq_len, max_sequences)
    if n == 0:
        raise TrainError(f"the text has {tokens} tokens, fewer than one sequence of {seq_len}; give more text")
    return np.concatenate(chunks)[: n * seq_len].reshape(n, seq_len)


def encode_examples(examples: list[Any], tokenizer: Any, max_len: int, seq2seq: bool = False
                    ) -> list[tuple[list[int], list[int]]]:
    """(prompt ids, target ids + EOS); long prompts lose their middle so the target always fits. For an
    encoder-decoder the prompt is the encoder's input and ends with EOS, as T5 was trained; a decoder's
    starts with BOS."""
    bos = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None and not seq2seq else []
    eos = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    prompts = tokenizer([e.prompt for e in examples], add_special_tokens=False)["input_ids"]
    targets = tokenizer([e.target for e in examples], add_special_tokens=False)["input_ids"]
    out = []
    for p, t in zip(prompts, targets, strict=True):
        t = (t + eos)[: max_len // 2]
        if seq2seq:
            out.append((fit_prompt(p, max_len - len(t) - len(eos)) + eos, t))
        else:
            out.append((fit_prompt(bos + p, max_len - len(t)), t))
    return out


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


def collate_seq2seq(pairs: list[tuple[list[int], list[int]]], pad_id: int) -> dict[str, Any]:
    """Encoder inputs right-padded with their mask, decoder labels padded with -100 (the model shifts them)."""
    import torch

    ids = torch.full((len(pairs), max(len(p) for p, _ in pairs)), pad_id, dtype=torch.long)
    labels = torch.full((len(pairs), max(len(t) for _, t in pairs)), -100, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, (p, t) in enumerate(pairs):
        ids[i, : len(p)], mask[i, : len(p)], labels[i, : len(t)] = torch.tensor(p), 1, torch.tensor(t)
    return {"ids": ids, "mask": mask, "labels": labels, "tokens": int(mask.sum()) + int((labels >= 0).sum())}


PACKED_VERSION = 1  # bump when `pack` changes what it makes


def packed(texts: list[str], tokenizer: Any, seq_len: int, max_sequences: int | None = None) -> np.ndarray:
    """`pack`, cached by the text, the tokenizer and the shape: every seed of an experiment, and every module
    trained on the same text, tokenizes it once (the English Bible, Tatoeba and SIB-200, 5.2 M tokens for
    multilingual-e5-small: 12 s on 2 cores, 0.3 s from the cache). Kept as int32, half the disk."""
    digest = hashlib.sha256(json.dumps([PACKED_VERSION, tokenizer.name_or_path, type(tokenizer).__name__,
                                        len(tokenizer), seq_len, max_sequences]).encode())
    for text in texts:
        digest.update(text.encode("utf-8", "surrogatepass"))
        digest.update(b"\0")
    path = cache_dir("packed", write=False) / f"{digest.hexdigest()[:24]}.npz"
    cached = read_npz(path)  # None: not there yet, or unreadable
    if cached is not None and "sequences" in cached:
        return cached["sequences"].astype(np.int64)
    sequences = pack(texts, tokenizer, seq_len, max_sequences)
    write_npz(path, {"sequences": sequences.astype(np.int32)})  # atomic; a read-only cache is skipped
    return sequences


def language_data(spec: TrainSpec, family: str, tokenizer: Any) -> TrainingData:
    """Packed text of every source, a held-out slice, and (low resource) only the first tokens asked for."""
    objective = "mlm" if family == "encoder" else "prefix-lm"
    texts, sources = read_texts(spec.text, spec.language, spec.data)
    check_language(texts, spec.language)
    sequences = packed(texts, tokenizer, spec.seq_len, _sequences_needed(spec))
    held = min(spec.heldout, len(sequences) // 10)
    heldout, sequences = sequences[:held], sequences[held:]
    if spec.max_text_tokens is not None:
        if max(1, spec.max_text_tokens // spec.seq_len) > len(sequences):  # whole sequences: 100,000 tokens are
            # 1,562 of 64, and those 99,968 tokens are all that was asked for
            say(f"the text has {len(sequences) * spec.seq_len:,} tokens, fewer than the {spec.max_text_tokens:,} "
                "asked for; all of it is used", logging.WARNING, __name__)
        sequences = sequences[: max(1, spec.max_text_tokens // spec.seq_len)]
    manifest = {"sources": [asdict(s) for s in sources], "seq_len": spec.seq_len, "text_tokens": int(sequences.size),
                "max_text_tokens": spec.max_text_tokens}
    per_step = spec.batch_size * spec.grad_accum * spec.seq_len
    return TrainingData(objective, len(sequences), per_step, manifest, sequences=sequences, heldout=heldout,
                        texts=texts)


def _sequences_needed(spec: TrainSpec) -> int | None:
    """Enough sequences that the held-out slice and the budget come out as from the whole text (None: all)."""
    if spec.max_text_tokens is None:
        return None
    budget = max(1, spec.max_text_tokens // spec.seq_len)
    return max(10 * spec.heldout, spec.heldout + budget)


def task_data(spec: TrainSpec, family: str, method: str, tokenizer: Any) -> TrainingData:
    """Labeled examples of every training language: prompt → target pairs on decoders and encoder-decoders
    (on an encoder-decoder the prompt goes into the encoder and the target comes out of the decoder), head
    inputs on encoders (MAD-X task adapters, which are bottleneck adapters)."""
    if family != "encoder" and method == "bottleneck":
        raise TrainError(f"a bottleneck task module on a {family} could not be evaluated or composed into one: "
                         "evaluation merges PEFT modules into the weights. Use --method lora (or lokr); bottleneck "
                         "task adapters are for encoders (MAD-X)")
    if spec.task is None:
        raise TrainError("a task module needs --task")
    task = get_task(spec.task)
    data = task.where(spec.data)
    first = (spec.languages or [spec.language])[0]
    examples = []
    for lang in spec.languages or [spec.language]:
        loaded = task.load(data, lang, split_name(spec.split))
        if not loaded:
            raise TrainError(f"{data}: no {task.name} examples for {lang} in the {spec.split} split (an empty "
                             "file, or a header only); give labeled rows to train on")
        examples.extend(loaded)
    common = {"task": task.name, "data": str(data), "split": spec.split, "examples": len(examples),
              "languages": spec.languages}
    if family == "encoder":
        if method != "bottleneck":
            raise TrainError(f"task modules on encoders are AdapterHub adapters with a prediction head (MAD-X); use "
                             f"--method bottleneck, not {method}")
        kind = heads.head_kind(task)
        labels = task.head_labels(data, first, examples)
        unseen = heads.unseen_labels(task, examples, labels)
        if unseen and labels:
            raise TrainError(f"{data}: the rows have labels {unseen[:5]} outside the head's ({', '.join(labels)}, "
                             f"read for {first}); they would be left out of training. Give languages that share "
                             "one label set")
        pairs = heads.encode(task, examples, tokenizer, spec.max_len, labels)
        return TrainingData(f"{kind}-head:{task.name}", len(pairs), None,
                            {"task": task.name, "labels": labels, "head": kind, **common}, pairs=pairs, task=task,
                            head=kind, labels=labels)
    pairs = encode_examples(examples, tokenizer, spec.max_len, seq2seq=family == "encoder-decoder")
    scoring = "label scoring (trained as label generation)" if task.kind == "classification" else None
    manifest = {"task": task.name, "labels": task.labels(data, first), "classification": scoring, **common,
                "prompt_template": TEMPLATES}
    return TrainingData(f"{task.kind}:{task.name}", len(pairs), None, manifest, pairs=pairs, task=task)


def _same(code: str | None, language: str) -> bool:
    try:
        return code is not None and same_language(code, language)
    except UnknownLanguageError:  # the identifier's "?" or a code the registry lacks
        return False


def check_language(texts: list[str], language: str) -> None:
    """Warn when a sample of the text does not look like the declared language."""
    share, detected = share_in_language(texts, language)
    # short or list-like text (WikiANN's entity fragments) spreads the identifier over many languages: when the
    # declared language is still the one most seen, there is nothing to warn about
    if share is not None and share < 0.5 and not _same(detected, language):
        most = detected if detected != "?" else "no language the identifier knows"
        say(f"only {share:.0%} of a sample of the text looks like {language}; most looks like {most}. Check "
            "--lang and --text.", logging.WARNING, __name__)
