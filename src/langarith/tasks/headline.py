"""MasakhaNEWS headline generation (article → headline): our stand-in for XL-Sum one-line summaries."""

from __future__ import annotations

from pathlib import Path

from langarith.corpora import read_file
from langarith.prompts import prompt, target
from langarith.tasks import Example, Task, register


class Headline(Task):
    name = "headline"
    kind = "generation"

    def load(self, data: Path, language: str, split: str) -> list[Example]:
        path = self.locate(data, language, split, "{split}.tsv")
        texts, heads = read_file(path, "text"), read_file(path, "headline")
        return [Example(prompt("headline", text=" ".join(t.split())), target(h)) for t, h in zip(texts, heads,
                                                                                               strict=True)]


register(Headline())
