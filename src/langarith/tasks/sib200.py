"""SIB-200 topic classification: TSV (index_id, category, text), 7 labels in labels.txt."""

from __future__ import annotations

from pathlib import Path

from langarith.corpora import read_file
from langarith.prompts import prompt, target
from langarith.tasks import Example, Task, TaskError, register


class Sib200(Task):
    name = "sib200"
    kind = "classification"
    column = "category"

    def load(self, data: Path, language: str, split: str) -> list[Example]:
        path = self.locate(data, language, split, "{split}.tsv")
        texts, labels = read_file(path, "text"), read_file(path, self.column)
        known = self.labels(data, language)
        unknown = sorted({lab for lab in labels if known and lab not in known})
        if unknown:
            raise TaskError(f"{path} has labels outside {known}: {unknown}; the label sets must match")
        return [Example(prompt("topic", text=t), target(lab), lab) for t, lab in zip(texts, labels, strict=True)]

    def labels(self, data: Path, language: str) -> list[str] | None:
        path = self.locate(data, language, "train", "labels.txt")
        if not path.exists() or path.suffix != ".txt":
            path = path.parent / "labels.txt"
        if not path.exists():
            return None
        return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


register(Sib200())
