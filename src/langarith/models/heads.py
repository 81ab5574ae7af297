"""AdapterHub prediction heads for encoder task adapters (MAD-X): the flexible-head model, the head a task
declares (`Task.head`: classification, tagging or extractive QA) with its label set, examples turned into
tensors, batches, the head's own loss, and predictions decoded back into labels, tags or answer spans.

The heads are AdapterHub's own, so a task module is an ordinary AdapterHub folder with `head_config.json`,
loadable with `model.load_adapter(folder)`. Examples come from the same task files as for decoders; the raw
fields sit in `Example.inputs` (NER: the words). Training and MAD-X evaluation both use this module. torch
is imported inside functions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langarith.core.errors import LangarithError
from langarith.models import fresh_weights_unreported
from langarith.tasks import TASKS, Example, Task

KINDS = ("classification", "tagging", "qa")


class HeadError(LangarithError):
    """A task or model does not fit an encoder prediction head."""


def head_kind(task: Task) -> str:
    """The AdapterHub head the task declares (classification, tagging or qa)."""
    if task.head not in KINDS:
        with_heads = ", ".join(name for name, t in TASKS.items() if t.head in KINDS)
        raise HeadError(f"task {task.name} has no encoder head (encoders learn {with_heads}); train it on a decoder "
                        "model instead")
    return task.head


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
def unseen_labels(task: Task, examples: Sequence[Example], labels: Sequence[str] | None) -> list[str]:
    """The labels (classification) or tags (tagging) of `examples` outside a head's `labels`, which `encode` could
    only drop: a row's gold the head cannot predict."""
    kind = head_kind(task)
    if kind == "classification":
        found = {e.label for e in examples if e.label}
    elif kind == "tagging":
        found = {t for e in examples if e.gold for t in e.gold[1]}
    else:
        return []
    return sorted(found - set(labels or []))


def encode(task: Task, examples: Sequence[Example], tokenizer: Any, max_len: int,
           labels: Sequence[str] | None) -> list[dict[str, Any]]:
    """One dict per example: `input_ids`, and what the head is trained on and decoded from."""
    kind = head_kind(task)
    index = {lab: i for i, lab in enumerate(labels or [])}
    out: list[dict[str, Any]] = []
    if kind == "classification":
        texts = [_field(e, "text") for e in examples]
        pairs = [e.inputs.get("text_pair") for e in examples]  # XNLI: the hypothesis, a sequence pair
        enc = tokenizer(texts, pairs, truncation=True, max_length=max_len) if all(pairs) else \
            tokenizer(texts, truncation=True, max_length=max_len)
        for e, ids in zip(examples, enc["input_ids"], strict=True):
            out.append({"input_ids": ids, "labels": index.get(e.label or "", -100)})
    elif kind == "tagging":
        for e in examples:
            words = (e.inputs or {}).get("words") or e.gold[0]
            tags = e.gold[1] if e.gold else ["O"] * len(words)  # unlabeled rows (label-free λ): no tag is read
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
        raise HeadError(f"a {name!r} field is missing from the example's inputs; this task's files cannot feed an "
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
