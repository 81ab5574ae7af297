from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from langarith.arith.formats import load
from langarith.cli import app


def cli(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=True)


def cli_process(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "langarith", *map(str, args)], capture_output=True, text=True)


def test_expression_contract_and_inspect_json(make_peft, tmp_path):
    t, p, e = make_peft("t", seed=1), make_peft("p", seed=2), make_peft("e", seed=3)
    out = tmp_path / "task_pt"
    r = cli("compose", "0.7*task_en + 0.3*(lang_pt - lang_en)", "--module", f"task_en={t}",
            "--module", f"lang_pt={p}", "--module", f"lang_en={e}", "--out", out)
    assert r.exit_code == 0, r.output
    assert "+0.7·task_en +0.3·lang_pt -0.3·lang_en" in r.output
    info = json.loads(cli("inspect", out, "--json").output)
    assert info["format"] == "peft" and info["kind"] == "lora" and info["rank"] == 4
    assert info["targets"] == ["k_proj", "o_proj", "q_proj", "v_proj"] and info["num_params"] > 0
    assert info["provenance"]["expression"] == "0.7*task_en + 0.3*(lang_pt - lang_en)"
    human = cli("inspect", out)
    assert human.exit_code == 0 and "made by" in human.output and "task_en (+0.7)" in human.output


def test_recipe_contract(make_peft, tmp_path):
    t, p, e = make_peft("t", seed=1), make_peft("p", seed=2), make_peft("e", seed=3)
    out = tmp_path / "as"
    r = cli("compose", "--recipe", "add-subtract", "--task-module", f"en={t}", "--lang-module", f"en={e}",
            "--lang-module", f"pt={p}", "--source", "en", "--target", "pt", "--lambda", "0.7", "--out", out,
            "--semantics", "delta", "--rank", "4")
    assert r.exit_code == 0, r.output
    manifest = json.loads((out / "langarith.json").read_text())
    assert manifest["language"] == "pt" and manifest["role"] == "task"
    assert manifest["provenance"]["recipe"]["name"] == "add-subtract"
    assert manifest["provenance"]["recipe"]["lambda"] == 0.7 and manifest["provenance"]["rank"] == 4
    ties = cli("compose", "--recipe", "ties", "--lang-module", f"en={e}", "--lang-module", f"pt={p}", "--top-k", "20",
               "--lambda", "1.2", "--out", tmp_path / "ties")
    assert ties.exit_code == 0, ties.output
    assert json.loads((tmp_path / "ties" / "langarith.json").read_text())["provenance"]["recipe"]["top_k"] == 0.2


@pytest.mark.parametrize("args, message", [
    (["0.7*a + ", "--module", "a={t}"], "syntax error"),
    (["a + bb", "--module", "a={t}"], "unknown module name 'bb'"),
    (["a", "--module", "a-b={t}"], "cannot be used in an expression"),
    (["a", "--module", "a={missing}"], "does not exist"),
    (["--recipe", "add", "--task-module", "en={t}", "--lang-module", "pt={t}", "--lambda", "1.5"], r"λ in \[0, 1\]"),
    (["--recipe", "nope", "--task-module", "en={t}"], "Invalid value for '--recipe'"),
    (["a", "--module", "a={t}", "--rank", "2"], "needs --semantics delta"),
    (["--recipe", "add", "--task-module", "en={t}", "--lang-module", "qq={t}", "--target", "qq", "--lambda", "0.5"],
     "unknown language code 'qq'"),
])
def test_errors_exit_2_with_one_clear_line(make_peft, tmp_path, args, message):
    t = make_peft("t")
    filled = [a.format(t=t, missing=tmp_path / "missing") for a in args]
    r = cli_process("compose", *filled, "--out", tmp_path / "o")
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr
    assert re.search(message, r.stderr), r.stderr
    assert not (tmp_path / "o").exists()


def test_a_module_given_in_the_wrong_role_is_refused(make_peft, tmp_path):
    t, p = make_peft("t", seed=1), make_peft("p", seed=2)
    (p / "langarith.json").write_text(json.dumps({"language": "pt", "role": "language"}))
    r = cli_process("compose", "--recipe", "add", "--task-module", f"en={p}", "--lang-module", f"pt={t}",
                    "--lambda", "0.5", "--out", tmp_path / "o")
    assert r.returncode == 2 and "is a language module (its langarith.json says so), given as a task module; " \
        "pass it with --lang" in r.stderr, r.stderr


def test_an_unwritable_out_is_one_clear_line(make_peft, tmp_path):
    (tmp_path / "file").write_text("not a folder")
    r = cli_process("compose", "a", "--module", f"a={make_peft('t')}", "--out", tmp_path / "file" / "o")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "OutputWriteError: cannot write" in r.stderr, r.stderr


def test_compose_never_imports_torch(make_peft, tmp_path):
    a, b = make_peft("a", seed=1), make_peft("b", seed=2)
    code = (
        "import sys\n"
        "from langarith.cli import app\n"
        f"app(['compose', '0.5*a + 0.5*b', '--module', 'a={a}', '--module', 'b={b}', '--out', '{tmp_path / 'o'}'],"
        " standalone_mode=False)\n"
        f"app(['inspect', '{tmp_path / 'o'}'], standalone_mode=False)\n"
        "heavy = sorted(m for m in ('torch', 'transformers', 'peft', 'adapters') if m in sys.modules)\n"
        "print('HEAVY', heavy)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "HEAVY []" in r.stdout


def test_the_spellings_before_still_compose_with_a_note(make_peft, tmp_path):
    t, e, p = make_peft("t", seed=1), make_peft("e", seed=2), make_peft("p", seed=3)
    given = ["--recipe", "add-subtract", "--source", "en", "--target", "pt", "--lambda", "0.7"]
    now = cli_process("compose", *given, "--task-module", f"en={t}", "--lang-module", f"en={e}", "--lang-module",
                      f"pt={p}", "--out", tmp_path / "now")
    before = cli_process("compose", *given, "--task", f"en={t}", "--lang", f"en={e}", "--lang", f"pt={p}",
                         "--out", tmp_path / "before")
    assert now.returncode == before.returncode == 0, before.stderr
    assert "deprecated" not in now.stderr
    notes = [line for line in before.stderr.splitlines() if "deprecated" in line]
    assert notes == ["warning: --task LANG=DIR is deprecated and goes in the next release; use --task-module LANG=DIR",
                     "warning: --lang LANG=DIR is deprecated and goes in the next release; use --lang-module LANG=DIR"]
    made, made_before = load(tmp_path / "now").tensors, load(tmp_path / "before").tensors
    assert made.keys() == made_before.keys() and all((made[k] == made_before[k]).all() for k in made)


def test_add_weighted_takes_its_temperature(make_peft, tmp_path):
    en, ru = make_peft("en", seed=1), make_peft("ru", seed=2)
    weights = {}
    for tau in ("1000", "0.01"):
        r = cli("compose", "--recipe", "add-weighted", "--task-module", f"en={en}", "--task-module", f"ru={ru}",
                "--target", "pt", "--tau", tau, "--out", tmp_path / tau)
        assert r.exit_code == 0, r.output
        weights[tau] = json.loads((tmp_path / tau / "langarith.json").read_text())["provenance"]["weights"]
    assert all(abs(w - 0.5) < 0.01 for w in weights["1000"].values())  # a high τ: the plain mean
    assert max(weights["0.01"].values()) > 0.9  # a low τ: the nearest source
