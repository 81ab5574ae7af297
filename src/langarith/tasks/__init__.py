"""Labeled tasks: one file per task, registered here. A task turns its dataset files into examples
(prompt, target) for a decoder, using the prompt templates of `langarith.prompts`.

A task reads its dataset (`Task.dataset`, a name of `langarith.data`) from where `Task.where` finds it: `--data`
(a data folder, the dataset's folder such as `../shared/data/sib200`, a language folder, or a file),
`$LANGARITH_DATA`, the data folder beside the checkout, or the Hugging Face hub (`hf:<id>`). Language codes in
any spelling find the dataset's own folder (`en` → `eng_Latn`).
"""

from __future__ import annotations

import contextlib
import itertools
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langarith.core.errors import LangarithError, UnknownLanguageError
from langarith.core.registry import Registry
from langarith.data import get_dataset, is_hub, locate
from langarith.data.hub import hub_rows
from langarith.languages.codes import find_in, resolve, same_language

__all__ = ["TASKS", "Example", "Scores", "Task", "TaskError", "get_task", "hub_rows", "is_hub", "register",
           "same_language_as_name"]


class TaskError(LangarithError):
    """Task data is missing, malformed, or does not fit the model or the module it goes with."""


@dataclass(frozen=True)
class Example:
    prompt: str
    target: str
    label: str | None = None
    gold: Any = None  # what the task's scorer compares a prediction with (all answers; words and tags)
    inputs: Any = None  # the raw fields an encoder's prediction head reads (text; question and context)


@dataclass
class Scores:
    """One system's scores on one evaluation set, with what paired significance tests need."""
    metrics: dict[str, float]
    primary: str
    per_example: list[float]  # 0/1 correctness (classification) or a per-example score
    test: str  # "mcnemar" on correctness, "bootstrap" on scores
    corpus: Callable[[Any], float] | None = field(default=None, repr=False)  # primary metric over resampled rows

    @property
    def value(self) -> float:
        return self.metrics[self.primary]


SPLIT_ALIASES = {"validation": "dev", "valid": "dev", "val": "dev"}  # the hub's words for what langarith calls dev


def split_name(split: str) -> str:
    """langarith's name of a split: `validation` (the hub's word) is `dev`; train, dev and test as they are."""
    return SPLIT_ALIASES.get(split.strip().lower(), split)


class Task(ABC):
    name: str
    kind: str  # "classification" (label scoring) | "generation" (greedy decoding)
    primary: str  # the metric λ is tuned on and tables report
    max_new_tokens: int = 32
    #: its scorer counts ROUGE on the pieces of a tokenizer (`score`'s `tokenize`; a config's `rouge_tokenizer`)
    rouge_pieces: bool = False

    @abstractmethod
    def load(self, data: Path, language: str, split: str) -> list[Example]: ...

    @abstractmethod
    def score(self, examples: Sequence[Example], predictions: Sequence[str], language: str,
              tokenize: Callable[[str], list[str]] | None = None) -> Scores:
        """Metrics of `predictions` against `examples`; `tokenize` gives SentencePiece pieces for ROUGE on
        languages other than English."""
    def labels(self, data: Path, language: str) -> list[str] | None:
        return None

    #: what an example's inputs may hold that is part of its answer (extractive QA's answer position)
    answer_fields: tuple[str, ...] = ("answer_start",)

    def without_labels(self, example: Example) -> Example:
        """What a zero-shot user has of a target example: the prompt and inputs, no label, target or gold
        (label-free λ is chosen on these)."""
        inputs = {k: v for k, v in (example.inputs or {}).items() if k not in self.answer_fields}
        return Example(example.prompt, "", None, None, inputs or None)

    #: the AdapterHub prediction head an encoder learns this task with (`langarith.models.heads`):
    #: "classification", "tagging", "qa", or None for a task only decoders can learn (generation)
    head: str | None = None

    def head_labels(self, data: Path, language: str, examples: Sequence[Example]) -> list[str] | None:
        """The label set of this task's encoder head: the class names for classification, none for spans."""
        return self.labels(data, language) if self.head == "classification" else None

    #: the dataset it reads (`langarith.data.DATASETS`): where it is found, and its hub id
    dataset: str

    @property
    def hub(self) -> str | None:
        """The same dataset on the Hugging Face hub, read where no local copy is (None: no fallback)."""
        return get_dataset(self.dataset).hub

    def where(self, data: str | Path | None = None) -> Path:
        """Where this task's data is read from: `data` if given, else local copies first, then the hub."""
        return locate(self.dataset, data)

    def hub_config(self, language: str) -> str:
        """The hub dataset's configuration (subset) for `language`."""
        raise TaskError(f"{self.name} has no Hugging Face hub fallback; pass --data with a local copy")

    def locate(self, data: Path, language: str, split: str, pattern: str) -> Path:
        """The split file for `language` under `data` (root, language folder, or the file itself)."""
        data = Path(data).expanduser()
        if data.is_file():
            _same_language_as_folder(data, language, self.name)
            return data
        if not data.exists():
            raise TaskError(f"{data} does not exist; pass --data with the {self.name} dataset folder or a file")
        candidates = [data, *(data / p.name for p in data.iterdir() if p.is_dir())]
        if (data / pattern.format(split=split)).exists():
            return data / pattern.format(split=split)
        folder = find_in(language, [p.name for p in candidates[1:]])
        if folder is None:
            raise TaskError(f"{data} has no {self.name} data for language {language!r}")
        path = data / folder / pattern.format(split=split)
        if not path.exists():
            present = ", ".join(sorted(p.name for p in (data / folder).iterdir()))
            raise TaskError(f"{path} does not exist (the {split} split is missing; present: {present})")
        return path


def _same_language_as_folder(path: Path, language: str, task: str) -> None:
    """Refuse a file of one language's folder in a dataset's layout (`sib200/eng_Latn/test.tsv`, beside
    `sib200/por_Latn/test.tsv`) given for another language: its rows would be scored as that language's."""
    folder = path.parent
    try:
        if same_language(folder.name, language):
            return
    except UnknownLanguageError:  # the folder names no language (or --lang is unknown: said elsewhere)
        return
    with contextlib.suppress(OSError):
        for sibling in itertools.islice(folder.parent.iterdir(), 500):
            if sibling != folder and (sibling / path.name).is_file() and _names_language(sibling.name):
                raise TaskError(f"{path} is in the {folder.name} folder of a {task} dataset, not {language}'s; pass "
                                f"--lang {folder.name}, or {language}'s own file")


def same_language_as_name(path: Path, pattern: str, language: str, task: str) -> None:
    """Refuse a file whose own name says it holds another language (`xquad.ar.json`, given for de): `pattern`, a
    regular expression, finds the code in the name as its group `lang`."""
    found = re.fullmatch(pattern, path.name)
    if found is None or not _names_language(found["lang"]) or not _names_language(language):
        return
    if not same_language(found["lang"], language):
        raise TaskError(f"{path} is the {found['lang']} file of {task}, not {language}'s; pass --lang {found['lang']}, "
                        f"or {language}'s own file")


def _names_language(name: str) -> bool:
    try:
        resolve(name)
    except UnknownLanguageError:
        return False
    return True


TASKS: Registry[Task] = Registry("task", TaskError, group="tasks")
register = TASKS.register
get_task = TASKS.get_or_raise


def rouge_tasks() -> list[str]:
    """The tasks scored by ROUGE on a tokenizer's pieces: those a `rouge_tokenizer` is for."""
    return [name for name, task in TASKS.items() if task.rouge_pieces]


# every task file of this package registers itself; then installed plugins (entry points `langarith.tasks`)
TASKS.discover(__name__)
