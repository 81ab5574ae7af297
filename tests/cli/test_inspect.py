from __future__ import annotations

import json

from typer.testing import CliRunner

from langarith.cli import app
from langarith.training import TrainSpec, train


def cli(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_inspect_shows_the_training_record_and_readable_provenance(tiny_models, tmp_path):
    trained = train(TrainSpec(role="language", language="pt", text=["tatoeba:pt"], model=str(tiny_models["decoder"]),
                              out=tmp_path / "lang_pt", steps=2, batch_size=2, seq_len=16, progress=False)).path
    shown = cli("inspect", trained)
    assert shown.exit_code == 0, shown.output
    assert "prefix-lm on tatoeba:pt" in shown.output and "lora (rank 4, alpha 8" in shown.output
    assert "2 steps" in shown.output and "before →" in shown.output and "after" in shown.output
    record = json.loads(cli("inspect", trained, "--json").output)["training"]
    assert record["steps"] == 2 and record["sources"] == ["tatoeba:pt"] and record["method"]["rank"] == 4
    merged = tmp_path / "ties"
    assert cli("compose", "--recipe", "ties", "--lang", f"en={trained}", "--lang", f"pt={trained}", "--trim",
               "tensor", "--out", merged).exit_code == 0
    made = cli("inspect", merged).output
    assert "recipe ties (λ 1, top_k 0.2, trim tensor)" in made and "{" not in made
    assert json.loads(cli("inspect", merged, "--json").output)["training"] is None


def test_inspect_says_how_a_module_was_made(make_peft, tmp_path):
    import subprocess
    import sys

    a = make_peft("a", seed=1)
    made = subprocess.run([sys.executable, "-m", "langarith", "compose", "0.5*a", "--module", f"a={a}", "--out",
                           str(tmp_path / "half")], capture_output=True, text=True, cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    shown = cli("inspect", str(tmp_path / "half"), "--json")
    provenance = json.loads(shown.stdout)["provenance"]
    assert provenance["command"].startswith("python -m langarith compose '0.5*a' --module")
    assert provenance["cwd"] == str(tmp_path)
    lines = cli("inspect", str(tmp_path / "half")).stdout
    assert "langarith compose" in lines and "working folder" in lines and str(tmp_path) in lines
