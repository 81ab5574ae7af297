"""XL-Sum through `datasets`, on a local folder laid out like csebuetnlp/xlsum's parquet export (no hub here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from langarith.data import DataError
from langarith.tasks import TaskError, get_task

task = get_task("xlsum")
ROWS = [{"id": f"swahili_{i}", "url": f"https://www.bbc.com/swahili/{i}", "title": f"Kichwa {i}",
         "summary": f"Rais amezungumza na wananchi {i}.", "text": f"Rais  amezungumza\nna wananchi wa mji {i}."}
        for i in range(6)]


def export(root: Path, config: str = "swahili", rows=ROWS, splits=("train", "validation", "test")) -> Path:
    """`<config>/<split>/0000.parquet`, the export's layout, with its columns."""
    from datasets import Dataset

    for split in splits:
        folder = root / config / split
        folder.mkdir(parents=True)
        Dataset.from_list(rows).to_parquet(str(folder / "0000.parquet"))
    return root


def test_the_parquet_layout_reads_by_language_code(tmp_path):
    root = export(tmp_path / "xlsum")
    for data in (root, f"hf:{root}"):
        dev = task.load(data, "swh", "dev")
        assert len(dev) == 6
        assert dev[0].prompt == "Article: Rais amezungumza na wananchi wa mji 0.\nSummary:"
        assert dev[0].target == " Rais amezungumza na wananchi 0." and dev[0].gold == "Rais amezungumza na wananchi 0."
    scores = task.score(dev, [e.gold for e in dev], "sw", tokenize=str.split)
    assert scores.value == pytest.approx(100.0) and scores.metrics["chrf"] == pytest.approx(100.0)


def test_what_the_export_lacks_is_a_one_line_error(tmp_path):
    root = export(tmp_path / "xlsum", splits=("train",))
    with pytest.raises(DataError, match="cannot read split 'test'"):
        task.load(root, "sw", "test")
    with pytest.raises(TaskError, match="XL-Sum has no 'qu'"):
        task.load(root, "qu", "train")
    with pytest.raises(TaskError, match="is not a folder"):
        task.load(tmp_path / "missing", "sw", "train")
    bad = export(tmp_path / "bad", rows=[{"text": "a", "headline": "b"}], splits=("train",))
    with pytest.raises(TaskError, match="has no summary column"):
        task.load(bad, "sw", "train")
    empty = export(tmp_path / "empty", rows=[{"text": "a", "summary": " "}], splits=("train",))
    with pytest.raises(TaskError, match="1 rows have an empty summary"):
        task.load(empty, "sw", "train")


def test_configurations_follow_language_and_script():
    from langarith.tasks.xlsum import xlsum_config

    assert [xlsum_config(c) for c in ("sw", "swh", "zh", "zh-Hant", "sr-Latn", "pes", "en")] == [
        "swahili", "swahili", "chinese_simplified", "chinese_traditional", "serbian_latin", "persian", "english"]
