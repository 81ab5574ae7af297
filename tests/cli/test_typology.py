"""`langarith related` and `langarith distances` through the typer app, as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import langarith.cli.typology  # noqa: F401  (registers the commands)
from langarith.cli.app import app
from langarith.core.errors import UnknownLanguageError
from langarith.languages.typology import KINDS, SelectionError

runner = CliRunner()
pytestmark = pytest.mark.usefixtures("isolated_cache")


def run(*args: str):
    return runner.invoke(app, list(args))


def test_related_json_format_keeps_the_users_codes() -> None:
    result = run("related", "pt-BR", "--pool", "spa, ja_Jpan,en-GB,ru", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["target"] == "pt-BR" and data["rule"] == "paper"
    assert data["related"][0] == "spa" and "ja_Jpan" not in data["related"]
    assert set(data["distances"]) == {"spa", "ja_Jpan", "en-GB", "ru"}
    for row in data["distances"].values():
        assert set(row) == set(KINDS)
        assert all(0.0 <= value <= 1.0 for value in row.values())
    assert data["distances"]["spa"]["syntactic"] < data["distances"]["ja_Jpan"]["syntactic"]
    # related languages are listed closest first
    syntactic = [data["distances"][code]["syntactic"] for code in data["related"]]
    assert syntactic == sorted(syntactic)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--rule", "nearest"), ["es"]),
        (("--rule", "top-k", "--k", "2", "--kind", "geographic"), ["es", "fr"]),
        (("--rule", "nearest", "--kind", "genetic"), ["es"]),
    ],
)
def test_related_rules(args: tuple[str, ...], expected: list[str]) -> None:
    result = run("related", "pt", "--pool", "ja,fr,es,ko", *args, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["related"] == expected


def test_related_table_marks_the_choice() -> None:
    result = run("related", "pt", "--pool", "es,ja")
    assert result.exit_code == 0, result.output
    assert "✓" in result.stdout and "related: es" in result.stdout
    assert "syntactic < 0.7 and geographic < 0.3" in result.stdout


def test_related_warns_when_nothing_is_selected() -> None:
    result = run("related", "ja", "--pool", "pt,es,sw", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)  # stdout stays pure JSON
    assert data["related"] == [] and len(data["nearest"]) == 3
    assert "warning" in result.stderr and "No pool language" in result.stderr
    table = run("related", "ja", "--pool", "pt,es,sw", "--max-syntactic", "0.5")
    assert "warning" in table.stdout and "Nearest candidates" in table.stdout


def test_unknown_language_is_a_typed_error_with_suggestions() -> None:
    result = run("related", "pt", "--pool", "es,portugese", "--json")
    assert result.exit_code != 0
    assert isinstance(result.exception, UnknownLanguageError)
    assert "pt (Portuguese)" in str(result.exception)
    bad_rule = run("related", "pt", "--pool", "es", "--rule", "closest")
    assert bad_rule.exit_code == 2 and "closest" in bad_rule.output
    only_target = run("related", "pt", "--pool", "por")
    assert isinstance(only_target.exception, SelectionError)


def test_distances_json_matrix() -> None:
    result = run("distances", "pt", "es", "ja_Jpan", "--kind", "geographic", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["kind"] == "geographic" and data["languages"] == ["pt", "es", "ja_Jpan"]
    matrix = data["matrix"]
    assert [matrix[i][i] for i in range(3)] == [0.0, 0.0, 0.0]
    assert all(matrix[i][j] == matrix[j][i] for i in range(3) for j in range(3))
    assert matrix[0][1] < matrix[0][2]


def test_distances_table() -> None:
    result = run("distances", "pt", "es", "en", "--kind", "genetic")
    assert result.exit_code == 0, result.output
    assert "genetic distance" in result.stdout and "pt (Portuguese)" in result.stdout


def test_distances_plot_is_written(tmp_path: Path) -> None:
    png = tmp_path / "plots" / "syntactic.png"
    result = run("distances", "pt", "es", "ja", "en", "--json", "--plot", str(png))
    assert result.exit_code == 0, result.output
    json.loads(result.stdout)  # the note about the file goes to stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert png.stat().st_size > 5000
    assert "wrote" in result.stderr


def test_distances_plot_format_follows_the_extension_and_an_unknown_one_is_refused_first(tmp_path: Path) -> None:
    pdf = tmp_path / "d.pdf"
    assert run("distances", "pt", "es", "--plot", str(pdf)).exit_code == 0
    assert pdf.read_bytes()[:5] == b"%PDF-"
    bad = run("distances", "pt", "es", "--plot", str(tmp_path / "d.xyz"))
    assert bad.exit_code != 0 and "cannot write .xyz images" in str(bad.exception)
    assert not (tmp_path / "d.xyz").exists()


def test_an_existing_plot_is_replaced_only_with_overwrite(tmp_path: Path) -> None:
    png = tmp_path / "d.png"
    png.write_bytes(b"mine")
    refused = run("distances", "pt", "es", "--plot", str(png))
    assert refused.exit_code != 0 and "--overwrite" in str(refused.exception)
    assert png.read_bytes() == b"mine"
    assert run("distances", "pt", "es", "--plot", str(png), "--overwrite").exit_code == 0
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_distances_needs_two_languages() -> None:
    result = run("distances", "pt")
    assert result.exit_code == 2
