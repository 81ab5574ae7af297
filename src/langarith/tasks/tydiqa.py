"""TyDi QA GoldP v1.1, paper 1's QA task: extractive QA on a gold passage; SQuAD F1 and exact match, scored
and prompted as XQuAD (`qa`).

Files: `tydiqa.goldp.<l>.train.json` (en, ko, sw in the shared data) and `tydiqa.goldp.<l>.dev.json` (nine
languages), SQuAD JSON. Splits are disjoint by passage, by a hash of its text, so they do not depend on file
order:

- `train`: the train file minus a held-out tenth of it per bucket below;
- `train-dev`, `train-test`: those held-out questions of the train file (one twentieth each), for validating
  the source's own training and as labelled target data where the dev file cannot be scored;
- `dev`, `test`: the GoldP dev file halved.

The files carry no article titles, so "by article" cannot be checked; passages stand in for them.
The shared copy's dev files are the unlabelled release (every answer empty): they are refused with an error
that points at the held-out splits, since scoring against empty answers would be silently wrong.

Without the files, `hf:google-research-datasets/tydiqa` (configuration `secondary_task`, i.e. GoldP, whose
`validation` split is labelled) gives the same questions: all languages in one split, each question's language
the prefix of its id (`swahili-…`), gathered into passages and split the same way.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from langarith.languages.codes import to_iso1
from langarith.tasks import Example, TaskError, hub_rows, is_hub, register, same_language_as_name
from langarith.tasks.qa import Qa, example

#: split → (file kind, the hash buckets of 20 it keeps)
SPLITS: dict[str, tuple[str, frozenset[int]]] = {
    "train": ("train", frozenset(range(2, 20))),
    "train-dev": ("train", frozenset({0})),
    "train-test": ("train", frozenset({1})),
    "dev": ("dev", frozenset(range(0, 20, 2))),
    "test": ("dev", frozenset(range(1, 20, 2))),
}


#: ISO 639-1 → the language name TyDi QA's ids begin with
HUB_LANGUAGES = {"ar": "arabic", "bn": "bengali", "en": "english", "fi": "finnish", "id": "indonesian",
                 "ja": "japanese", "ko": "korean", "ru": "russian", "sw": "swahili", "te": "telugu", "th": "thai"}
HUB_CONFIG = "secondary_task"  # GoldP


def bucket(paragraph: dict[str, Any]) -> int:
    """A passage's bucket of 20, from its text: questions on one passage stay together (ids do not serve:
    the train files reuse them)."""
    return int.from_bytes(hashlib.sha256(paragraph["context"].encode("utf-8")).digest()[:4], "big") % 20


@register
class TydiQa(Qa):
    name = "tydiqa"
    dataset = "tydiqa"

    def file(self, data: Path, language: str, kind: str) -> Path:
        data = Path(data).expanduser()
        if data.is_file():
            same_language_as_name(data, r"tydiqa\.goldp\.(?P<lang>[^.]+)\..*", language, self.name)
            return data
        code = to_iso1(language) or language
        path = data / f"tydiqa.goldp.{code}.{kind}.json"
        if not path.exists():
            present = sorted(p.name for p in data.glob("tydiqa.goldp.*.json")) if data.is_dir() else []
            raise TaskError(f"{path} does not exist; TyDi QA GoldP files here: {', '.join(present) or 'none'}. "
                            "Pass --data with the folder of tydiqa.goldp.<lang>.{train,dev}.json files")
        return path

    def load(self, data: Path, language: str, split: str) -> list[Example]:
        if split not in SPLITS:
            raise TaskError(f"tydiqa splits are {', '.join(SPLITS)}; got {split!r}")
        kind, buckets = SPLITS[split]
        path, chosen = self.questions(data, language, kind)
        unanswered = sum(1 for _, qa in chosen if not any(a.get("text") for a in qa.get("answers", [])))
        if unanswered == len(chosen) and chosen:
            raise TaskError(f"{path}: all {len(chosen)} answers are empty, so it is an unlabelled release and "
                            "cannot be scored; for languages with a train file use the splits train-dev and "
                            "train-test (held-out questions of it)")
        if unanswered:
            raise TaskError(f"{path}: {unanswered} of {len(chosen)} questions have no answer; GoldP questions "
                            "all have one (remove them or fix the file)")
        return [example(para, qa) for para, qa in chosen if bucket(para) in buckets]

    def questions(self, data: Path, language: str, kind: str) -> tuple[str, list[tuple[dict, dict]]]:
        """Where the questions come from, and each one with its passage, from the GoldP file or the hub."""
        if is_hub(data):
            return self.hub_questions(data, language, kind)
        path = self.file(data, language, kind)
        try:
            articles = json.loads(path.read_text(encoding="utf-8"))["data"]
            return str(path), [(para, qa) for article in articles for para in article["paragraphs"]
                               for qa in para["qas"]]
        except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as err:
            raise TaskError(f"{path} is not SQuAD JSON (data → paragraphs → qas): {err}") from err

    def hub_questions(self, data: Path, language: str, kind: str) -> tuple[str, list[tuple[dict, dict]]]:
        name = HUB_LANGUAGES.get(to_iso1(language) or language)
        if name is None:
            raise TaskError(f"TyDi QA has no {language!r}; it covers {', '.join(HUB_LANGUAGES)}")
        split = "train" if kind == "train" else "validation"
        try:
            rows = [r for r in hub_rows(data, HUB_CONFIG, split) if str(r["id"]).startswith(f"{name}-")]
            chosen = [({"context": r["context"]},
                       {"id": r["id"], "question": r["question"],
                        "answers": [{"text": t, "answer_start": a} for t, a in
                                    zip(r["answers"]["text"], r["answers"]["answer_start"], strict=True)]})
                      for r in rows]
        except (KeyError, TypeError, ValueError) as err:
            raise TaskError(f"{data} ({HUB_CONFIG}/{split}) lacks TyDi QA's columns id, context, question, "
                            f"answers: {err}") from err
        if not chosen:
            raise TaskError(f"{data} ({HUB_CONFIG}/{split}) has no question whose id begins with {name}-")
        return f"{data} ({HUB_CONFIG}/{split}, {name})", chosen
