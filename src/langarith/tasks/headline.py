"""MasakhaNEWS headline generation (article → headline): our stand-in for XL-Sum one-line summaries.

Scored like paper 1: ROUGE-2 for English, SentencePiece-ROUGE-2 (ROUGE over the pieces of a multilingual
SentencePiece tokenizer) for other languages; also ROUGE-1/L, chrF and the off-target rate (the share of
headlines not in the target language — what Add & Subtract is meant to fix).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from langarith.languages.codes import same_language
from langarith.languages.corpora import read_file
from langarith.prompts import prompt, target
from langarith.scoring.metrics import chrf, off_target_rate, rouge, rouge_scores
from langarith.tasks import Example, Scores, Task, hub_rows, is_hub, register
from langarith.tasks.news_topic import masakhanews_config


@register
class Headline(Task):
    name = "headline"
    kind = "generation"
    primary = "rouge2"
    max_new_tokens = 32
    rouge_pieces = True
    dataset = "masakhanews"

    def hub_config(self, language: str) -> str:
        return masakhanews_config(language)

    def load(self, data: Path, language: str, split: str) -> list[Example]:
        if is_hub(data):
            rows = hub_rows(data, self.hub_config(language), split)
            texts, heads = [r["text"] for r in rows], [r["headline"] for r in rows]
        else:
            path = self.locate(data, language, split, "{split}.tsv")
            texts, heads = read_file(path, "text"), read_file(path, "headline")
        return [Example(prompt("headline", text=" ".join(t.split())), target(h), gold=h.strip())
                for t, h in zip(texts, heads, strict=True)]

    def score(self, examples: Sequence[Example], predictions: Sequence[str], language: str,
              tokenize: Callable[[str], list[str]] | None = None) -> Scores:
        refs = [e.gold if e.gold is not None else e.target.strip() for e in examples]
        pieces = None if same_language(language, "en") else tokenize
        metrics = rouge(refs, predictions, tokenize=pieces)
        metrics["chrf"] = chrf(refs, predictions)
        off = off_target_rate(predictions, language)
        if off is not None:
            metrics["off_target"] = off
        metrics["rouge_tokens"] = 0.0 if pieces is None else 1.0  # 1: SentencePiece pieces, 0: English words
        per = rouge_scores(refs, predictions, tokenize=pieces, kind="rouge2")
        return Scores(metrics, self.primary, per, "bootstrap")
