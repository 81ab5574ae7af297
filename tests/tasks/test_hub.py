"""Where the shared data is absent, tasks read the same datasets from the Hugging Face hub. No hub can be
reached here, so the loader runs on local copies laid out like the hub's parquet export."""

from __future__ import annotations

from pathlib import Path

import pytest

from langarith.paths import data_dir
from langarith.tasks import TaskError, get_task

SIB, NEWS = data_dir() / "sib200", data_dir() / "masakhanews"
pytestmark = pytest.mark.skipif(not (SIB.exists() and NEWS.exists()), reason="needs the shared data")


def export_sib(root: Path) -> Path:
    """Davlan/sib200's export: <config>/<split>/0000.parquet with index_id, category, text."""
    import csv

    from datasets import Dataset

    for split, hub_split in (("train", "train"), ("dev", "validation"), ("test", "test")):
        with (SIB / "por_Latn" / f"{split}.tsv").open(encoding="utf-8", newline="") as f:
            rows = list(csv.DictReader(f, delimiter="\t"))
        folder = root / "por_Latn" / hub_split
        folder.mkdir(parents=True)
        Dataset.from_list(rows).to_parquet(str(folder / "0000.parquet"))
    return root


def export_news(root: Path) -> Path:
    """masakhane/masakhanews's export: <config>/masakhanews-<split>.parquet with an integer ClassLabel."""
    from datasets import ClassLabel, Dataset, Features, Value

    from langarith.corpora import read_file

    names = [n.strip() for n in (NEWS / "yor" / "labels.txt").read_text(encoding="utf-8").split() if n.strip()]
    features = Features({"label": ClassLabel(names=names), "headline": Value("string"), "text": Value("string")})
    (root / "yor").mkdir(parents=True)
    for split, hub_split in (("train", "train"), ("dev", "validation"), ("test", "test")):
        path = NEWS / "yor" / f"{split}.tsv"
        rows = {"label": [names.index(c) for c in read_file(path, "category")],
                "headline": read_file(path, "headline"), "text": read_file(path, "text")}
        Dataset.from_dict(rows, features=features).to_parquet(str(root / "yor" / f"masakhanews-{hub_split}.parquet"))
    return root


def test_sib200_from_the_hub_layout_equals_the_local_tsv(tmp_path):
    hub = f"hf:{export_sib(tmp_path / 'sib')}"
    task = get_task("sib200")
    for split in ("train", "dev", "test"):
        assert task.load(Path(hub), "pt", split) == task.load(SIB, "pt", split)
    assert task.labels(Path(hub), "pt") == sorted(task.labels(SIB, "pt"))


def test_masakhanews_class_ids_become_label_names(tmp_path):
    hub = Path(f"hf:{export_news(tmp_path / 'news')}")
    topic, headline = get_task("news-topic"), get_task("headline")
    assert topic.load(hub, "yo", "dev") == topic.load(NEWS, "yo", "dev")
    assert headline.load(hub, "yor", "test") == headline.load(NEWS, "yor", "test")
    with pytest.raises(TaskError, match="MasakhaNEWS has no"):
        topic.load(hub, "pt", "dev")


def test_configs_fall_back_to_the_hub_without_shared_data(tmp_path, monkeypatch):
    from langarith.experiment import load_config

    monkeypatch.setenv("LANGARITH_DATA", str(tmp_path / "nothing-here"))
    root = Path(__file__).resolve().parents[2] / "configs"
    assert str(load_config(root / "sib200-one-language.yaml").data_path()) == "hf:Davlan/sib200"
    assert str(load_config(root / "headline-one-language.yaml").data_path()) == "hf:masakhane/masakhanews"
