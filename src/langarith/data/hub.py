"""Reading the Hugging Face hub's parquet export of a dataset (`hf:NAME`), or a local folder laid out like it
(`hf:/a/folder`: what `langarith data pull` writes), through `datasets`; and copying what is read, which is
how `data pull` writes a folder in exactly the layout the readers read."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from langarith.data import DataError, for_hub_id, is_hub, missing

PARQUET = "refs/convert/parquet"  # the hub's parquet export of every dataset: <config>/<split>/*.parquet
SPLITS = {"dev": "validation"}  # langarith's split names → the hub's

Copied = list[tuple[str, str, str, int]]  # (dataset, config, split, rows) of each split copied
_copies: list[tuple[Path, Copied]] = []  # where `copying_to` puts each split read, innermost last


@contextlib.contextmanager
def copying_to(folder: Path) -> Iterator[Copied]:
    """Inside the block, every split read from the hub is also written to `folder/<config>/<split>/0000.parquet`
    (the export's own layout); yields what was written."""
    written: Copied = []
    _copies.append((folder, written))
    try:
        yield written
    finally:
        _copies.pop()


def hub_split(split: str) -> str:
    return SPLITS.get(split, split)


def read_split(data: str | Path, config: str, split: str) -> Any:
    """One split of `hf:NAME` (the hub's export) or `hf:/a/folder` (a local copy of it), as a `datasets.Dataset`."""
    from datasets import load_dataset

    name = str(data)[3:] if is_hub(data) else str(data)
    local = Path(name).expanduser()
    if local.is_dir() and not (local / config).is_dir() and not list(local.glob(f"{config}-*.parquet")):
        dataset = for_hub_id(name)
        pull = f", or `langarith data pull {dataset.name} --langs LANG --out {local.parent}` adds it" if dataset else ""
        raise DataError(f"{local} has no {config!r} (it has: {', '.join(hub_configs(local)) or 'nothing'}); pass "
                        f"--data with a copy that has it{pull}")
    try:
        if local.exists():
            ds = load_dataset(str(local), data_dir=config, split=hub_split(split))
        else:
            ds = load_dataset(name, data_dir=config, split=hub_split(split), revision=PARQUET)
    except (FileNotFoundError, ValueError, ConnectionError, OSError) as err:
        dataset = for_hub_id(name)
        if local.exists() or dataset is None:
            raise DataError(f"cannot read split {split!r} of {config!r} from {name} ({_said(err)}); check the folder "
                            "and that it has this configuration and split, or pass --data with another copy") from err
        raise DataError(missing(dataset, why=f"split {split!r} of {config!r}: {_said(err)}")) from err
    if _copies:
        folder, written = _copies[-1]
        out = folder / config / hub_split(split) / "0000.parquet"
        if not out.exists():
            out.parent.mkdir(parents=True, exist_ok=True)
            with _no_datasets_bars():  # the copy is quick; the download's own bars stay
                ds.to_parquet(str(out))
            written.append((name, config, hub_split(split), len(ds)))
    return ds


@contextlib.contextmanager
def _no_datasets_bars() -> Iterator[None]:
    import datasets

    was_off = datasets.are_progress_bars_disabled()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if not was_off:
            datasets.enable_progress_bars()


def _said(err: Exception) -> str:
    """An error in a few words: its type, and its first line unless the type says it all (offline, no network)."""
    if any(word in kind.__name__ for kind in type(err).__mro__ for word in ("Connection", "Offline", "Timeout")):
        return f"{type(err).__name__}, no connection"  # requests' and the hub's errors are not the builtin one
    first = (str(err).strip().splitlines() or [""])[0]
    return f"{type(err).__name__}: {first[:160]}{'…' if len(first) > 160 else ''}"


def hub_rows(data: str | Path, config: str, split: str) -> list[dict[str, Any]]:
    """Rows of one split of a Hugging Face dataset (`hf:NAME`, or `hf:/a/folder` with its export's layout:
    `<config>/<split>/*.parquet` or `<config>/<name>-<split>.parquet`). Integer class labels become their names
    (column `category`); a sequence of them gets a column of names beside it (`ner_tags` → `ner_tags_names`),
    since the export stores only the ids and the names live in the features."""
    ds = read_split(data, config, split)
    label = ds.features.get("label")
    names = getattr(label, "names", None)
    rows = [dict(r) for r in ds]
    if names:
        for r in rows:
            r.setdefault("category", names[r["label"]])
    for column, feature in ds.features.items():
        tags = getattr(getattr(feature, "feature", None), "names", None)
        if tags:
            for r in rows:
                r[f"{column}_names"] = [tags[i] for i in r[column]]
    return rows


def hub_configs(data: str | Path) -> list[str]:
    """The configurations of `hf:NAME` (folders of its parquet export) or of a local copy (its folders)."""
    name = str(data)[3:] if is_hub(data) else str(data)
    local = Path(name).expanduser()
    if local.exists():
        return sorted(p.name for p in local.iterdir() if p.is_dir())
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled
    from huggingface_hub.hf_api import RepoFolder

    try:
        tree = HfApi().list_repo_tree(name, repo_type="dataset", revision=PARQUET)
        return sorted(entry.path for entry in tree if isinstance(entry, RepoFolder))
    except (HfHubHTTPError, OfflineModeIsEnabled, OSError, ValueError) as err:
        dataset = for_hub_id(name)
        what = f"its configurations: {_said(err)}"
        raise DataError(missing(dataset, why=what) if dataset else f"cannot list {name}'s {what}") from err
