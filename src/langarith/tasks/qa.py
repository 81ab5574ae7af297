"""Extractive QA on XQuAD (SQuAD v1.1 JSON). XQuAD has only a test set, so splits are disjoint articles:
the first half of the articles trains, the next quarter validates, the last quarter tests."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from langarith.languages.codes import find_in, to_iso1
from langarith.prompts import prompt, target
from langarith.scoring.metrics import squad_em_f1, squad_scores
from langarith.tasks import Example, Scores, Task, TaskError, hub_rows, is_hub, register, same_language_as_name

XQUAD = ("ar", "de", "el", "en", "es", "hi", "ro", "ru", "th", "tr", "vi", "zh")
PARAGRAPHS_PER_ARTICLE = 5


def articles_from_rows(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """SQuAD-style articles from the hub's flat rows, which have no titles. XQuAD took 5 paragraphs from each
    of 48 SQuAD articles and lists the questions in paragraph order, so consecutive rows with one context form
    a paragraph and consecutive groups of 5 paragraphs an article: the article ranges that split the JSON then
    split the hub's rows into the same questions."""
    paragraphs: list[dict[str, Any]] = []
    for r in rows:
        if not paragraphs or paragraphs[-1]["context"] != r["context"]:
            paragraphs.append({"context": r["context"], "qas": []})
        answers = [{"text": t, "answer_start": s}
                   for t, s in zip(r["answers"]["text"], r["answers"]["answer_start"], strict=True)]
        paragraphs[-1]["qas"].append({"id": r.get("id"), "question": r["question"], "answers": answers})
    if len(paragraphs) % PARAGRAPHS_PER_ARTICLE:
        raise TaskError(f"the XQuAD rows hold {len(paragraphs)} paragraphs, not whole articles of "
                        f"{PARAGRAPHS_PER_ARTICLE}; the split into articles would not match the JSON's")
    return [{"paragraphs": paragraphs[i:i + PARAGRAPHS_PER_ARTICLE]}
            for i in range(0, len(paragraphs), PARAGRAPHS_PER_ARTICLE)]


def example(paragraph: dict[str, Any], qa: dict[str, Any]) -> Example:
    """One SQuAD question: the prompt, the first answer as the target, every answer as gold."""
    answers = [a["text"] for a in qa["answers"]]
    answer = answers[0] if answers else ""
    start = qa["answers"][0].get("answer_start", -1) if answers else -1
    return Example(prompt("qa", context=paragraph["context"], question=qa["question"]), target(answer), answer,
                   gold=answers, inputs={"context": paragraph["context"], "question": qa["question"],
                                         "answer_start": start})


@register
class Qa(Task):
    name = "qa"
    head = "qa"
    kind = "generation"
    primary = "f1"
    max_new_tokens = 24
    dataset = "xquad"

    def hub_config(self, language: str) -> str:
        found = find_in(language, XQUAD)
        if found is None:
            raise TaskError(f"XQuAD has no {language!r}; it covers {', '.join(XQUAD)}. Pass --data with a local "
                            "SQuAD JSON file for other languages")
        return f"xquad.{found}"

    def articles(self, data: Path, language: str) -> list[dict[str, Any]]:
        """Every article; on the hub all of XQuAD is one `validation` split, which the article ranges divide."""
        if is_hub(data):
            return articles_from_rows(hub_rows(data, self.hub_config(language), "validation"))
        data = Path(data).expanduser()
        if data.is_file():
            same_language_as_name(data, r"xquad\.(?P<lang>[^.]+)\.json", language, self.name)
        path = data if data.is_file() else data / f"xquad.{to_iso1(language) or language}.json"
        if not path.exists():
            raise TaskError(f"{path} does not exist; pass --data with the XQuAD folder or a SQuAD JSON file")
        return json.loads(path.read_text(encoding="utf-8"))["data"]

    def load(self, data: Path, language: str, split: str) -> list[Example]:
        if split not in ("train", "dev", "test"):
            raise TaskError(f"qa splits are train, dev, test; got {split!r}")
        articles = self.articles(data, language)
        n = len(articles)
        lo, hi = {"train": (0, n // 2), "dev": (n // 2, 3 * n // 4), "test": (3 * n // 4, n)}[split]
        return [example(para, qa) for article in articles[lo:hi] for para in article["paragraphs"]
                for qa in para["qas"]]

    def score(self, examples: Sequence[Example], predictions: Sequence[str], language: str,
              tokenize: Callable[[str], list[str]] | None = None) -> Scores:
        golds = [e.gold or [e.label or ""] for e in examples]
        em, f1 = squad_em_f1(golds, predictions)
        return Scores({"exact_match": em, "f1": f1}, self.primary, squad_scores(golds, predictions)[1], "bootstrap")
