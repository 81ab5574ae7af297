from __future__ import annotations

from importlib.metadata import version

from typer.testing import CliRunner

from langarith import __version__
from langarith.cli import app


def test_version_names_langarith_and_its_stack():
    r = CliRunner().invoke(app, ["--version"])
    assert r.exit_code == 0, r.output
    assert r.output.splitlines()[0] == f"langarith {__version__}" == f"langarith {version('langarith')}"
    assert f"torch {version('torch')}" in r.output and f"peft {version('peft')}" in r.output


def test_shell_completion_is_offered():
    r = CliRunner().invoke(app, ["--help"])
    assert "--install-completion" in r.output and "--show-completion" in r.output


def test_errors_print_paths_as_typed_even_with_brackets(tmp_path):
    import subprocess
    import sys

    missing = tmp_path / "runs[x]" / "[bold]task"
    done = subprocess.run([sys.executable, "-m", "langarith", "inspect", str(missing)], capture_output=True, text=True)
    assert done.returncode == 2 and str(missing) in done.stderr and "Traceback" not in done.stderr


def test_train_writes_its_progress_to_stderr_and_nothing_else_to_stdout(tiny_models, tmp_path, isolated_cache):
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "langarith", "train", "language", "--lang", "pt", "--text",
                           "tatoeba:pt", "--model", str(tiny_models["decoder"]), "--steps", "3", "--batch-size", "2",
                           "--seq-len", "16", "--out", str(tmp_path / "lang_pt")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "3/3" in done.stderr and "━" not in done.stdout and "3/3" not in done.stdout
