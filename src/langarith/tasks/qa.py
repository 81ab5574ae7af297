"""Extractive QA on XQuAD (SQuAD v1.1 JSON). XQuAD has only a test set, so splits are disjoint articles:
the first half of the articles trains, the next quarter validates, the last quarter tests."""

from __future__ import annotations

import json
from pathlib import Path

from langarith.prompts import prompt, target
from langarith.tasks import Example, Task, TaskError, register


class Qa(Task):
    name = "qa"
    kind = "generation"

    def load(self, data: Path, language: str, split: str) -> list[Example]:
        from langarith.codes import to_iso1

        data = Path(data).expanduser()
        path = data if data.is_file() else data / f"xquad.{to_iso1(language) or language}.json"
        if not path.exists():
            raise TaskError(f"{path} does not exist; pass --data with the XQuAD folder or a SQuAD JSON file")
        articles = json.loads(path.read_text(encoding="utf-8"))["data"]
        n = len(articles)
        ranges = {"train": (0, n // 2), "dev": (n // 2, 3 * n // 4), "test": (3 * n // 4, n)}
        if split not in ranges:
            raise TaskError(f"qa splits are train, dev, test; got {split!r}")
        lo, hi = ranges[split]
        out = []
        for article in articles[lo:hi]:
            for para in article["paragraphs"]:
                for qa in para["qas"]:
                    answer = qa["answers"][0]["text"] if qa["answers"] else ""
                    out.append(Example(prompt("qa", context=para["context"], question=qa["question"]),
                                       target(answer), answer))
        return out


register(Qa())
