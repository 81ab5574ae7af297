"""`langarith data pull` and `data list` print what they did and where each dataset comes from; a missing
dataset is one line that says what to do."""

from __future__ import annotations

import json
import subprocess
import sys

from hub_layout import SIB, export_sib, fake_hub, needs
from typer.testing import CliRunner

from langarith.cli import app


@needs(SIB)
def test_pull_then_list_then_train_from_the_pulled_folder(tmp_path, monkeypatch, no_local_data):
    export_sib(fake_hub(monkeypatch, tmp_path / "hub") / "Davlan/sib200", ("eng_Latn", "por_Latn"))
    runner = CliRunner()
    r = runner.invoke(app, ["data", "pull", "sib200", "--langs", "pt", "--out", str(tmp_path / "pulled")])
    assert r.exit_code == 0, r.output
    assert "sib200: 3 splits" in r.output and f"--data {tmp_path / 'pulled'}" in r.output
    r = runner.invoke(app, ["data", "list", "--data", str(tmp_path / "pulled")])
    assert r.exit_code == 0, r.output
    lines = {line.split()[0]: line for line in r.output.splitlines()}
    assert lines["sib200"].endswith(f"{tmp_path / 'pulled' / 'sib200'} (pulled from the hub)")
    assert lines["xquad"].endswith("the hub: google/xquad") and "nowhere" in lines["masakhane"]
    r = runner.invoke(app, ["data", "list", "--data", str(tmp_path / "pulled"), "--json"])
    listed = {row["name"]: row for row in json.loads(r.stdout)}
    assert listed["sib200"]["where"] == lines["sib200"].split(None, 2)[2].strip()
    r = runner.invoke(app, ["data", "pull", "sib200", "--langs", "en", "--out", str(tmp_path / "pulled"), "--overwrite",
                            "--json"])
    assert r.exit_code == 0, r.output
    assert [p["dataset"] for p in json.loads(r.stdout)] == ["sib200"]
    assert not list((tmp_path / "pulled" / "sib200").glob("por_Latn*"))  # replaced, not added to


def test_a_data_path_that_does_not_exist_is_one_clean_line(tmp_path):
    """As a user runs it (a subprocess, no hub): the path named is used or refused, never replaced."""
    env = {"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin", "LANGARITH_CACHE": str(tmp_path / "cache")}
    done = subprocess.run([sys.executable, "-m", "langarith", "evaluate", "--task", "sib200", "--lang", "pt",
                           "--data", str(tmp_path / "typo"), "--model", "tiny"], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0, done.stderr
    assert "DataError" in done.stderr and "does not exist" in done.stderr and "never replaced by the hub" in done.stderr
