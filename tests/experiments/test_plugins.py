"""A task and an experiment setting from another installed package (entry points `langarith.tasks` and
`langarith.settings`) run end to end on the tiny model, with no line of langarith changed."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import yaml

TASK = '''
from langarith.data import DATASETS, DataSet
from langarith.tasks import register
from langarith.tasks.sib200 import Sib200

DATASETS.register(DataSet("weather", "Weather reports", "weather"))


@register
class Weather(Sib200):
    """Weather reports by kind, in SIB-200's layout."""

    name = "weather"
    dataset = "weather"
'''

SETTING = '''
from langarith.arith.recipes import scaled
from langarith.experiments.family import DECODER
from langarith.experiments.plan import Fixed, of, task, the
from langarith.experiments.setting import fixed_rows, setting


@setting("half-task", rows=fixed_rows("baseline", "half"), baseline="baseline", family=DECODER, single_source=True)
def half_task(config, target):
    source = task(config.sources[0])
    return [Fixed(name="baseline", build=the(source)), Fixed(name="half", build=of(scaled, source, lam=0.5))]
'''


def plugin_package(root: Path) -> Path:
    """`weather_plugin` and its dist-info, as `pip install` would leave them in site-packages."""
    (root / "weather_plugin").mkdir(parents=True)
    (root / "weather_plugin" / "__init__.py").write_text("")
    (root / "weather_plugin" / "task.py").write_text(TASK)
    (root / "weather_plugin" / "setting.py").write_text(SETTING)
    info = root / "weather_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: weather-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[langarith.tasks]\nweather = weather_plugin.task\n\n"
                                           "[langarith.settings]\nhalf-task = weather_plugin.setting\n")
    return root


def weather_data(root: Path) -> Path:
    kinds = ["sunny", "rainy", "windy"]
    (root / "weather").mkdir(parents=True)
    (root / "weather" / "labels.txt").write_text("\n".join(kinds) + "\n")
    for lang, words in (("en", "today it is"), ("pt", "hoje está")):
        (root / "weather" / lang).mkdir()
        for split in ("train", "dev", "test"):
            rows = [f"{i}\t{kinds[i % 3]}\t{words} {kinds[i % 3]}, report {i}." for i in range(12)]
            (root / "weather" / lang / f"{split}.tsv").write_text("index_id\tcategory\ttext\n" + "\n".join(rows))
    return root / "weather"


def test_a_plugin_task_and_setting_run_end_to_end(tmp_path):
    site = plugin_package(tmp_path / "site")
    config = {"name": "weather", "setting": "half-task", "task": "weather", "data": str(weather_data(tmp_path)),
              "sources": ["en"], "targets": ["pt"], "budget": "smoke",
              "budgets": {"smoke": {"model": "tiny", "task_steps": 2, "language_steps": 2, "dev_limit": 6,
                                    "test_limit": 6, "lambda_step": 0.5, "batch_size": 4, "seq_len": 16}}}
    (tmp_path / "weather.yaml").write_text(yaml.safe_dump(config))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]),
           "LANGARITH_CACHE": str(tmp_path / "cache")}
    done = subprocess.run([sys.executable, "-m", "langarith", "experiment", str(tmp_path / "weather.yaml"), "--out",
                           str(tmp_path / "run"), "--quiet"], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    with (tmp_path / "run" / "results.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [r["method"] for r in rows] == ["baseline", "half"] and all(r["target"] == "pt" for r in rows)
    listed = subprocess.run([sys.executable, "-m", "langarith", "train", "task", "--help"], capture_output=True,
                            text=True, env={**env, "COLUMNS": "300"}, timeout=120)  # the choices on one line
    assert "|weather" in listed.stdout
