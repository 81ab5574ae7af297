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
