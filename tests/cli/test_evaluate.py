"""`langarith evaluate`, `search-lambda` and `experiment` through the CLI, on the tiny model."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import SHARED

SIB = SHARED / "sib200"
pytestmark = pytest.mark.skipif(not SIB.exists(), reason="needs the shared SIB-200 data")


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", "from langarith.cli import main; main()", *args],
                          capture_output=True, text=True, timeout=300)


@pytest.fixture
def modules(tmp_path, isolated_cache):
    from langarith.training import TrainSpec, train

    out = {}
    for role, lang in (("task", "en"), ("language", "en"), ("language", "pt")):
        spec = TrainSpec(role=role, language=lang, out=tmp_path / f"{role}_{lang}", model="tiny", steps=2,
                         batch_size=4, seq_len=16, progress=False, task="sib200" if role == "task" else None,
                         data=SIB if role == "task" else None, text=[f"tatoeba:{lang}"] if role == "language" else [])
        out[f"{role}_{lang}"] = train(spec).path
    return out


def test_evaluate_and_search_lambda(modules, tmp_path):
    done = cli("evaluate", "--module", str(modules["task_en"]), "--task", "sib200", "--lang", "pt", "--data",
               str(SIB), "--split", "dev", "--limit", "6", "--model", "tiny", "--json",
               "--predictions", str(tmp_path / "p.jsonl"))
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["n"] == 6 and result["primary"] == "accuracy"
    assert len((tmp_path / "p.jsonl").read_text(encoding="utf-8").splitlines()) == 6

    args = ["search-lambda", "--recipe", "add-subtract", "--task-module", f"en={modules['task_en']}",
            "--lang-module", f"en={modules['language_en']}", "--lang-module", f"pt={modules['language_pt']}",
            "--target", "pt", "--task", "sib200", "--data", str(SIB), "--limit", "6", "--step", "0.5", "--model",
            "tiny"]
    done = cli(*args, "--json", "--strategy", "grid", "--out", str(tmp_path / "chosen"))
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert [lam for lam, _ in found["curve"]] == [0.0, 0.5, 1.0] and found["evaluations"] == 3.0
    manifest = json.loads((tmp_path / "chosen" / "langarith.json").read_text(encoding="utf-8"))
    assert manifest["provenance"]["recipe"]["lambda"] == found["best"]

    # the spellings of the release before: the same search, and one line on stderr for each old flag
    old = ["search-lambda", "--recipe", "add-subtract", "--task", f"en={modules['task_en']}",
           "--lang", f"en={modules['language_en']}", "--lang", f"pt={modules['language_pt']}", "--target", "pt",
           "--eval-task", "sib200", "--dev", str(SIB), "--limit", "6", "--step", "0.5", "--model", "tiny"]
    done = cli(*old, "--json", "--strategy", "grid")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["curve"] == found["curve"]
    notes = [line for line in done.stderr.splitlines() if "deprecated" in line]
    assert len(notes) == 4 and all(line.startswith("warning:") for line in notes), done.stderr
    assert any("use --task-module LANG=DIR" in line for line in notes)

    refused = cli(*args, "--split", "test")
    assert refused.returncode == 2 and "Invalid value for '--split'" in refused.stderr

    for strategy, best, evaluations in (("fixed", 0.5, 0.0), ("unlabeled", None, 3.0)):
        done = cli(*args, "--json", "--strategy", strategy)
        assert done.returncode == 0, done.stderr
        found = json.loads(done.stdout)
        assert found["strategy"] == strategy and found["evaluations"] == evaluations
        assert best is None or found["best"] == best
    done = cli(*args, "--strategy", "transfer", "--transfer", "pt", "--target", "es")  # pt's λ, applied to es
    assert done.returncode == 0 and "the median of the dev-tuned λ on pt" in done.stdout, done.stderr
    refused = cli(*args, "--strategy", "transfer")
    assert refused.returncode == 2 and "--transfer LANG" in refused.stderr

    ties = ["search-lambda", "--recipe", "ties", "--lang", f"en={modules['language_en']}", "--lang",
            f"pt={modules['language_pt']}", "--target", "pt", "--eval-task", "sib200", "--dev", str(SIB), "--limit",
            "2", "--step", "0.5", "--model", "tiny", "--strategy", "grid", "--json"]
    done = cli(*ties)
    assert done.returncode == 0, done.stderr
    assert [lam for lam, _ in json.loads(done.stdout)["curve"]] == [0.8, 1.3, 1.8]  # TIES' λ scales: paper 2's range


@pytest.mark.parametrize("spelled", [["--split", "Test"], ["--split", " TEST"],
                                     ["--data", str(SIB / "por_Latn" / "test.tsv")]])
def test_search_lambda_never_tunes_on_test_however_spelled(spelled):
    args = ["search-lambda", "--recipe", "la", "--lang-module", "en=a", "--lang-module", "pt=b", "--target", "pt",
            "--task", "sib200", "--data", str(SIB)]
    refused = cli(*args, *spelled)
    assert refused.returncode == 2, refused.stderr
    assert "would tune it on the test set" in refused.stderr or "Invalid value for '--split'" in refused.stderr


def test_experiment_cli_reports_config_errors(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nsetting: one-language\ntask: sib200\n", encoding="utf-8")
    done = cli("experiment", str(bad))
    assert done.returncode == 2 and "ExperimentError" in done.stderr and "sources" in done.stderr
