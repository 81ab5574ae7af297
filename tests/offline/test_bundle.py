"""`langarith bundle`: which wheels a node needs, and the whole path on a simulated node — parts moved one
transfer at a time, run.sh with a deadline, the packed results unpacked here — giving the same results.csv
as a run on this machine."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import SHARED

from langarith.offline import OfflineError, wheels

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def test_the_closure_holds_every_requirement_but_torch_at_the_versions_installed_here():
    found = wheels.closure(wheels.target_environment("3.12", "manylinux_2_17_x86_64"))
    assert "torch" not in found and found["langarith"].always
    from importlib.metadata import version

    assert found["transformers"].version == version("transformers") and "<4.58" in found["transformers"].requires
    assert "<=0.23.0" in found["tokenizers"].requires  # transformers 4.57's bound, collected from its requirer


def test_what_the_node_has_at_a_fitting_version_is_not_bundled(tmp_path):
    found = wheels.closure(wheels.target_environment("3.12", "manylinux_2_17_x86_64"))
    listing = tmp_path / "node.txt"
    listing.write_text("# the node's pip list\nPackage    Version\n---------- -------\ntransformers 5.17.0\n"
                       "numpy==2.5.2\ntokenizers==0.23.2\nrich\npeft\ntorch==2.11.0+cu130\n")
    node = wheels.read_node_packages(listing)
    assert node == {"transformers": "5.17.0", "numpy": "2.5.2", "tokenizers": "0.23.2", "rich": None,
                    "peft": None, "torch": "2.11.0+cu130"}
    chosen = {w.name for w in wheels.needed(found.values(), node)}
    assert {"transformers", "tokenizers", "langarith", "adapters"} <= chosen  # too new, or absent
    assert "peft" in chosen  # an unknown version cannot be trusted under an upper bound (<0.22)
    assert not {"numpy", "rich", "torch"} & chosen  # fitting, or bounded from below only, or never bundled


def test_a_bundle_refuses_what_it_cannot_carry(tmp_path):
    from langarith.offline.bundle import build

    config = tmp_path / "c.yaml"
    config.write_text((CONFIGS / "sib200-one-language.yaml").read_text().replace("data: sib200", "data: /abs/sib200"))
    with pytest.raises(OfflineError, match="absolute path"):
        build([config], tmp_path / "b", budget="smoke")
    with pytest.raises(OfflineError, match="xlsum-one-language: rouge_tokenizer 'google/mt5-small' is read from "
                                           "the hub or this machine, which a bundle does not carry"):
        build([CONFIGS / "xlsum-one-language.yaml"], tmp_path / "b", budget="smoke")
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine")
    with pytest.raises(OfflineError, match="exists and is not empty"):
        build([CONFIGS / "sib200-one-language.yaml"], tmp_path / "taken", budget="smoke", overwrite=True)
    assert (tmp_path / "taken" / "notes.txt").exists()


@pytest.mark.slow
@pytest.mark.skipif(not (SHARED / "sib200").exists(), reason="needs the shared SIB-200 data")
def test_a_bundle_runs_on_a_simulated_node_and_gives_the_same_results(tmp_path, isolated_cache):
    from langarith.experiments import load_config
    from langarith.experiments.runner import Runner
    from langarith.offline import node
    from langarith.offline.bundle import build

    config = CONFIGS / "sib200-one-language.yaml"
    listing = tmp_path / "node.txt"  # a node that has this machine's packages: only langarith travels
    freeze = subprocess.run([sys.executable, "-m", "pip", "list", "--format=freeze", "--exclude", "langarith"],
                            capture_output=True, text=True, check=True).stdout
    listing.write_text(freeze)
    manifest = build([config], tmp_path / "bundle", budget="smoke", chunk_mib=0.5, node_packages=listing,
                     python_version=f"{sys.version_info.major}.{sys.version_info.minor}", say=lambda _: None)
    assert [w["name"] for w in manifest["wheels"]] == ["langarith"] and len(manifest["parts"]) > 2
    assert all(p["bytes"] <= 512 * 1024 for p in manifest["parts"])

    arrived = tmp_path / "node" / "bundle"  # each transfer brings the head and one part
    env = {**os.environ, "PYTHON": sys.executable, "LANGARITH_STAGE": str(tmp_path / "stage")}
    env.pop("LANGARITH_DATA", None)

    def run_sh(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["bash", str(arrived / "run.sh"), *args], capture_output=True, text=True, env=env,
                              cwd=tmp_path / "node")

    for part in manifest["parts"][:-1]:
        for name in ("run.sh", "node.py", "manifest.json", part["name"]):
            arrived.mkdir(parents=True, exist_ok=True)
            shutil.copy2(tmp_path / "bundle" / name, arrived / name)
        assert run_sh("stage").returncode == 0
    missing = run_sh("run", "--deadline", "600", "--out", str(tmp_path / "out"))
    assert missing.returncode == 2 and manifest["parts"][-1]["name"] in missing.stderr
    shutil.copy2(tmp_path / "bundle" / manifest["parts"][-1]["name"], arrived)

    too_short = run_sh("run", "--deadline", "30", "--out", str(tmp_path / "out"))  # installs, then no time to run
    assert too_short.returncode == 0, too_short.stderr[-2000:]
    assert "skip sib200-one-language" in too_short.stdout
    done = run_sh("run", "--deadline", "600", "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "install" not in done.stdout  # installed once, by the first call
    record = json.loads((tmp_path / "out" / node.RESULTS_MANIFEST).read_text())
    assert record["left_out"] == [] and len(list((tmp_path / "out").iterdir())) <= 8

    node.unpack(tmp_path / "out", tmp_path / "back")
    back = tmp_path / "back" / "sib200-one-language-smoke"
    Runner(load_config(config, "smoke"), tmp_path / "here", progress=False).run()
    assert (back / "results.csv").read_text() == (tmp_path / "here" / "results.csv").read_text()
    assert json.loads((back / "results.json").read_text())["complete"] is True
    assert (back / "node.log").exists() and any((back / "modules").iterdir())
