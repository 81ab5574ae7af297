"""Extractive QA on XQuAD (SQuAD v1.1 JSON). XQuAD has only a test set, so splits are disjoint articles:
the first half of the articles trains, the next quarter validates, the last quarter tests."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

from langarith.prompts import prompt, target
from langarith.tasks import Example, Scores, Task, TaskError, register


class Qa(Task):
    name = "qa"
    kind = "generation"
    primary = "f1"
    max_new_tokens = 24

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
                    answers = [a["text"] for a in qa["answers"]]
                    answer = answers[0] if answers else ""
                    start = qa["answers"][0].get("answer_start", -1) if answers else -1
                    out.append(Example(prompt("qa", context=para["context"], question=qa["question"]),
                                       target(answer), answer, gold=answers,
                                       inputs={"context": para["context"], "question": qa["question"],
                                               "answer_start": start}))
        return out

    def score(self, examples: Sequence[Example], predictions: Sequence[str], language: str,
              tokenize: Callable[[str], list[str]] | None = None) -> Scores:
        from langarith.metrics import squad_em_f1, squad_scores

        golds = [e.gold or [e.label or ""] for e in examples]
        em, f1 = squad_em_f1(golds, predictions)
        return Scores({"exact_match": em, "f1": f1}, self.primary, squad_scores(golds, predictions)[1], "bootstrap")


register(Qa())
