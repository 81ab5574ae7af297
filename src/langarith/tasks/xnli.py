"""XNLI natural language inference, paper 2's NLI task: a premise and a hypothesis → entailment, neutral or
contradiction; accuracy. Decoders score the three label names after the prompt; encoders read the pair as one
sequence pair into a classification head.

The shared `xnli/` folder holds one TSV per split and language (`premise`, `hypothesis`, `label`, quoted as
Python's csv module does) and `labels.txt`. Only English has a train split (MultiNLI); every language has a
labelled dev and test split, the same sentences translated, so the tables compare like with like.
"""

from __future__ import annotations

from pathlib import Path

from langarith.languages.codes import find_in
from langarith.languages.corpora import CorpusError, read_file
from langarith.prompts import prompt, target
from langarith.tasks import Example, TaskError, hub_rows, is_hub, register
from langarith.tasks.sib200 import Sib200

XNLI = ("ar", "bg", "de", "el", "en", "es", "fr", "hi", "ru", "sw", "th", "tr", "ur", "vi", "zh")
LABELS = ("entailment", "neutral", "contradiction")  # the hub's ClassLabel order
COLUMNS = ("premise", "hypothesis", "label")


@register
class Xnli(Sib200):
    """Scored as SIB-200 is (accuracy, macro-F1, McNemar's test); the examples are sentence pairs."""

    name = "xnli"
    dataset = "xnli"

    def hub_config(self, language: str) -> str:
        found = find_in(language, XNLI)
        if found is None:
            raise TaskError(f"XNLI has no {language!r}; it covers {', '.join(XNLI)}")
        return found

    def pairs(self, data: Path, language: str, split: str) -> tuple[str, list[tuple[str, str, str]]]:
        """(where, [(premise, hypothesis, label)]) from the local TSV, or from the hub when `data` is `hf:…`."""
        if is_hub(data):
            rows = hub_rows(data, self.hub_config(language), split)
            return f"{data} [{self.hub_config(language)}/{split}]", \
                [(r["premise"], r["hypothesis"], r["category"]) for r in rows]
        path = self.locate(data, language, split, "{split}.tsv")
        try:
            columns = [read_file(path, c) for c in COLUMNS]
        except CorpusError as err:
            raise TaskError(f"{err}; an XNLI file has the columns {', '.join(COLUMNS)}") from err
        return str(path), list(zip(*columns, strict=True))

    def load(self, data: Path, language: str, split: str) -> list[Example]:
        where, rows = self.pairs(data, language, split)
        known = self.labels(data, language) or list(LABELS)
        unknown = sorted({lab for _, _, lab in rows if lab not in known})
        if unknown:
            raise TaskError(f"{where} has labels outside {known}: {unknown}; XNLI's labels are {', '.join(LABELS)}")
        empty = next((n for n, (p, h, _) in enumerate(rows, 2) if not p.strip() or not h.strip()), None)
        if empty is not None:
            raise TaskError(f"{where}: row {empty} has an empty premise or hypothesis")
        return [Example(prompt("nli", premise=p, hypothesis=h), target(lab), lab,
                        inputs={"text": p, "text_pair": h}) for p, h, lab in rows]

    def labels(self, data: Path, language: str) -> list[str] | None:
        """`labels.txt` next to the data (the root, a language folder's parent, a file's folders), else XNLI's."""
        if is_hub(data):
            return list(LABELS)
        data = Path(data).expanduser()
        for folder in (data, data.parent, data.parent.parent):
            path = folder / "labels.txt"
            if path.is_file():
                return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        return list(LABELS)
