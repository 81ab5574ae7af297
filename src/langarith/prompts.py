"""Every prompt a decoder model sees, in one place, so training and evaluation cannot drift apart.

Classification is trained as generation of the label name and evaluated by label scoring (the label
whose tokens are most likely after the prompt); the manifest records this.
"""

from __future__ import annotations

TEMPLATES = {
    "topic": "Text: {text}\nTopic:",
    "headline": "Article: {text}\nHeadline:",
    "ner": "Sentence: {text}\nEntities:",
    "qa": "Context: {context}\nQuestion: {question}\nAnswer:",
    "nli": "Premise: {premise}\nHypothesis: {hypothesis}\nRelation:",
    "summary": "Article: {text}\nSummary:",
}


def prompt(kind: str, **fields: str) -> str:
    return TEMPLATES[kind].format(**fields)


def target(text: str) -> str:
    """Targets follow the prompt after one space; the tokenizer's EOS ends them."""
    return " " + text.strip()


def fit_prompt(ids: list[int], budget: int, tail: int = 16) -> list[int]:
    """A prompt's token ids cut to `budget` in the middle: its start and its last `tail` tokens (the
    instruction that precedes the answer, e.g. "\\nHeadline:") survive. Training and evaluation cut alike."""
    if len(ids) <= budget:
        return ids
    return ids[: budget - tail] + ids[-tail:]
