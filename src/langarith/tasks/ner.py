"""MasakhaNER 2.0 / CoNLL-03 NER (BIO tags). For decoders, entities are generated as
"PER: Ada Lovelace; LOC: London" (or "none"); encoders tag tokens directly (issue E)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from langarith.prompts import prompt, target
from langarith.tasks import Example, Scores, Task, TaskError, register


def read_conll(path: Path) -> list[tuple[list[str], list[str]]]:
    sentences, words, tags = [], [], []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            if words:
                sentences.append((words, tags))
                words, tags = [], []
            continue
        parts = line.split()
        if len(parts) < 2:
            raise TaskError(f"{path}:{n}: expected 'token TAG', got {line!r}")
        words.append(parts[0])
        tags.append(parts[-1])
    if words:
        sentences.append((words, tags))
    return sentences


def entities(words: list[str], tags: list[str]) -> list[tuple[str, str]]:
    spans: list[tuple[str, list[str]]] = []
    for word, tag in zip(words, tags, strict=True):
        if tag.startswith("B-") or (tag.startswith("I-") and (not spans or spans[-1][0] != tag[2:])):
            spans.append((tag[2:], [word]))
        elif tag.startswith("I-"):
            spans[-1][1].append(word)
    return [(kind, " ".join(ws)) for kind, ws in spans]


class Ner(Task):
    name = "ner"
    kind = "generation"
    primary = "f1"
    max_new_tokens = 48

    def load(self, data: Path, language: str, split: str) -> list[Example]:
        path = self.locate(data, language, split, "{split}.txt")
        out = []
        for words, tags in read_conll(path):
            found = entities(words, tags)
            text = "; ".join(f"{k}: {v}" for k, v in found) or "none"
            out.append(Example(prompt("ner", text=" ".join(words)), target(text), gold=(words, tags)))
        return out

    def score(self, examples: Sequence[Example], predictions: Sequence[str], language: str,
              tokenize: Callable[[str], list[str]] | None = None) -> Scores:
        """seqeval entity F1. A decoder's generated entities are mapped back onto the sentence's words as BIO
        tags; an encoder's tagging head predicts the tags themselves (a list per sentence)."""
        from langarith.metrics import entity_f1, parse_entities, tags_from_entities

        gold = [list(e.gold[1]) for e in examples]
        pred = [list(p) if isinstance(p, list) else tags_from_entities(list(e.gold[0]), parse_entities(p))
                for e, p in zip(examples, predictions, strict=True)]
        per = [float(g == p) for g, p in zip(gold, pred, strict=True)]

        def corpus(rows) -> float:
            return entity_f1([gold[i] for i in rows], [pred[i] for i in rows])

        return Scores({"f1": entity_f1(gold, pred), "sentence_exact": 100.0 * sum(per) / max(len(per), 1)},
                      self.primary, per, "bootstrap", corpus)


register(Ner())
