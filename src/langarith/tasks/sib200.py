"""SIB-200 topic classification: TSV (index_id, category, text), 7 labels in labels.txt."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from langarith.languages.codes import to_flores
from langarith.languages.corpora import read_file
from langarith.prompts import prompt, target
from langarith.scoring.metrics import accuracy, macro_f1
from langarith.tasks import Example, Scores, Task, TaskError, hub_rows, is_hub, register


@register
class Sib200(Task):
    name = "sib200"
    head = "classification"
    kind = "classification"
    primary = "accuracy"
    column = "category"
    dataset = "sib200"

    def hub_config(self, language: str) -> str:
        return to_flores(language)

    def columns(self, data: Path, language: str, split: str) -> tuple[str, list[str], list[str]]:
        """(where, texts, labels) from the local TSV, or from the hub when `data` is `hf:…`."""
        if is_hub(data):
            rows = hub_rows(data, self.hub_config(language), split)
            return f"{data} [{self.hub_config(language)}/{split}]", [r["text"] for r in rows], \
                [r[self.column] for r in rows]
        path = self.locate(data, language, split, "{split}.tsv")
        return str(path), read_file(path, "text"), read_file(path, self.column)

    def score(self, examples: Sequence[Example], predictions: Sequence[str], language: str,
              tokenize: Callable[[str], list[str]] | None = None) -> Scores:
        gold = [e.label or "" for e in examples]
        correct = [float(g == p) for g, p in zip(gold, predictions, strict=True)]
        return Scores({"accuracy": accuracy(gold, predictions), "macro_f1": macro_f1(gold, predictions)},
                      self.primary, correct, "mcnemar")

    def load(self, data: Path, language: str, split: str) -> list[Example]:
        path, texts, labels = self.columns(data, language, split)
        known = self.labels(data, language)
        unknown = sorted({lab for lab in labels if known and lab not in known})
        if unknown:
            raise TaskError(f"{path} has labels outside {known}: {unknown}; the label sets must match")
        return [Example(prompt("topic", text=t), target(lab), lab, inputs={"text": t})
                for t, lab in zip(texts, labels, strict=True)]

    def labels(self, data: Path, language: str) -> list[str] | None:
        if is_hub(data):
            return sorted(set(self.columns(data, language, "train")[2]))
        path = self.locate(data, language, "train", "labels.txt")
        if not path.exists() or path.suffix != ".txt":
            path = path.parent / "labels.txt"
        if not path.exists():
            return None
        return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
