"""`langarith analyze` end to end: module folders in, report.md and figures out."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import synthetic_lora
from typer.testing import CliRunner

import langarith
from langarith.analysis.measures import as_updates, cosine_matrix
from langarith.cli import app, main
from langarith.languages.typology import distance

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
pytestmark = pytest.mark.usefixtures("isolated_cache")


def cli(*args: object):
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


def saved(tmp_path: Path, name: str, seed: int, language: str | None = None, role: str | None = None) -> Path:
    """A PEFT folder with langarith.json, as `langarith compose` writes them."""
    module = synthetic_lora(seed).with_tensors(synthetic_lora(seed).tensors, name=None, language=language, role=role)
    return langarith.save(module, tmp_path / name)


@pytest.fixture
def folders(tmp_path: Path) -> dict[str, Path]:
    return {
        "lang_pt": saved(tmp_path, "lang_pt", 1, "pt", "language"),
        "lang_es": saved(tmp_path, "lang_es", 2, "es", "language"),
        "task_pt": saved(tmp_path, "task_pt", 3, "pt", "task"),
        "task_en": saved(tmp_path, "task_en", 4),  # no language in its manifest: given with --task
    }


def test_report_figures_and_summary(folders: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "report"
    r = cli("analyze", folders["task_pt"], folders["lang_pt"], folders["lang_es"], "--task",
            f"en={folders['task_en']}", "--out", out)
    assert r.exit_code == 0, r.output
    assert "mean cosine among language modules" in r.output and "wrote" in r.output
    for name in ("cosine_heatmap.png", "density.png", "distance_vs_cosine.png"):
        data = (out / name).read_bytes()
        assert data[:8] == PNG_MAGIC and len(data) > 10_000
    report = (out / "report.md").read_text(encoding="utf-8")
    for section in ("# Module analysis", "## Modules", "## Cosine similarity", "### Mean pairwise cosine",
                    "## Weight density", "## Typological distance vs cosine similarity"):
        assert f"\n{section}\n" in f"\n{report}", section
    for image in ("cosine_heatmap.png", "density.png", "distance_vs_cosine.png"):
        assert f"]({image})" in report
    # language modules come first; same-language modules are told apart by role
    assert report.index("| pt (language) | language | pt |") < report.index("| es | language | es |") \
        < report.index("| pt (task) | task | pt |") < report.index("| en | task | en |")
    assert "- among language modules (2): " in report and "- among task modules (2): " in report
    assert "Pearson r = " in report and "| pt (language) | pt (task) | pt–pt | language–task | 0.000 |" in report


def test_a_results_folder_is_read_through_its_modules(tmp_path: Path) -> None:
    results = tmp_path / "results" / "run"
    for name, seed, code in (("lang_pt", 1, "pt"), ("lang_es", 2, "es"), ("lang_ja", 3, "ja")):
        saved(results / "modules", name, seed, code, "language")
    (results / "results.csv").write_text("row,score\n")
    r = cli("analyze", results, "--out", tmp_path / "report", "--json")
    assert r.exit_code == 0, r.output
    result = json.loads(r.output)
    assert sorted(m["language"] for m in result["modules"]) == ["es", "ja", "pt"]
    assert list(result["distance_vs_cosine"]["pearson_r"]) == ["language–language"]


def test_json_matches_the_library(folders: dict[str, Path], tmp_path: Path) -> None:
    r = cli("analyze", folders["lang_pt"], folders["lang_es"], folders["task_pt"], "--task-module",
            f"en={folders['task_en']}", "--out", tmp_path / "r", "--json", "--kind", "geographic")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["labels"] == ["pt (language)", "es", "pt (task)", "en"]
    modules = [as_updates(langarith.load(folders[name])) for name in ("lang_pt", "lang_es", "task_pt", "task_en")]
    _, cos = cosine_matrix(modules)
    np.testing.assert_allclose(np.array(data["cosine"]), cos, atol=1e-6)
    assert data["mean_cosine"]["language"] == pytest.approx(cos[0, 1], abs=1e-6)
    assert data["mean_cosine"]["task"] == pytest.approx(cos[2, 3], abs=1e-6)
    assert data["group_sizes"] == {"language": 2, "task": 2}
    assert data["modules"][0]["num_params"] == modules[0].num_params
    assert data["modules"][0]["norm"] == pytest.approx(modules[0].norm())
    pairs = data["distance_vs_cosine"]["pairs"]
    assert data["distance_vs_cosine"]["kind"] == "geographic" and len(pairs) == 6
    assert pairs[0]["distance"] == pytest.approx(distance("pt", "es", "geographic"), abs=1e-4)
    assert {p["group"] for p in pairs} == {"language–language", "language–task", "task–task"}
    assert set(data["files"]) == {"cosine_heatmap", "density", "distance_vs_cosine", "report"}


def test_peft_folders_without_languages_skip_the_distance_plot(make_peft, tmp_path: Path) -> None:
    out = tmp_path / "report"
    out.mkdir()
    (out / "distance_vs_cosine.png").write_bytes(b"stale")  # from an earlier run; must not survive
    a, b, c = make_peft("a", seed=1), make_peft("b", seed=2), make_peft("c", seed=3)
    r = cli("analyze", a, b, "--lang-module", f"pt={c}", "--out", out)
    assert r.exit_code == 0, r.output
    assert "skipped distance_vs_cosine.png" in r.output and "1 of 3 modules have a language" in r.output
    assert not (out / "distance_vs_cosine.png").exists()
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "Skipped: 1 of 3 modules have a language" in report
    assert "among task modules (0): n/a (needs two task modules)" in report
    assert (out / "cosine_heatmap.png").read_bytes()[:8] == PNG_MAGIC


def run_main(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, *args: object) -> tuple[int, str]:
    monkeypatch.setattr(sys, "argv", ["langarith", *map(str, args)])
    with pytest.raises(SystemExit) as exit_info:
        main()
    return exit_info.value.code, capsys.readouterr().err


def test_clean_errors_exit_2(folders, tmp_path, monkeypatch, capsys) -> None:
    not_a_module = tmp_path / "notes"
    not_a_module.mkdir()
    (not_a_module / "readme.txt").write_text("hello")
    code, err = run_main(monkeypatch, capsys, "analyze", folders["lang_pt"], not_a_module, "--out", tmp_path / "o")
    assert code == 2 and "Traceback" not in err
    assert "ModuleFileError" in err and "is not a module langarith can read" in err and "readme.txt" in err

    other_rank = langarith.save(synthetic_lora(5, rank=2).with_tensors(synthetic_lora(5, rank=2).tensors, name=None),
                                tmp_path / "rank2")
    code, err = run_main(monkeypatch, capsys, "analyze", folders["lang_pt"], other_rank, "--out", tmp_path / "o",
                         "--factors")
    assert code == 2 and "IncompatibleModulesError" in err and "rank2" in err and "lang_pt" in err

    code, err = run_main(monkeypatch, capsys, "analyze", "--out", tmp_path / "o")
    assert code == 2 and "no modules given" in err
    code, err = run_main(monkeypatch, capsys, "analyze", "--lang-module", "pt", "--out", tmp_path / "o")
    assert code == 2 and "--lang-module LANG=DIR" in err


def test_analyze_never_imports_torch(folders: dict[str, Path], tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from langarith.cli import app\n"
        f"app(['analyze', {str(folders['lang_pt'])!r}, {str(folders['lang_es'])!r}, '--out', "
        f"{str(tmp_path / 'o')!r}, '--json'], standalone_mode=False)\n"
        "heavy = sorted(m for m in ('torch', 'transformers', 'peft', 'adapters') if m in sys.modules)\n"
        "print('HEAVY', heavy)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "HEAVY []" in r.stdout


def test_single_module_gets_density_but_no_heatmap(folders: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "one"
    r = cli("analyze", folders["lang_pt"], "--out", out, "--json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert set(data["files"]) == {"density", "report"} and data["cosine"] == [[1.0]]
    assert data["mean_cosine"] == {"language": None, "task": None, "language_vs_task": None}
    assert not (out / "cosine_heatmap.png").exists() and (out / "density.png").is_file()
    assert "No heatmap: it needs at least two modules." in (out / "report.md").read_text(encoding="utf-8")


def test_an_earlier_report_is_replaced_only_with_overwrite(folders: dict[str, Path], tmp_path: Path, monkeypatch,
                                                           capsys) -> None:
    out = tmp_path / "r"
    assert cli("analyze", folders["lang_pt"], "--out", out).exit_code == 0
    (out / "report.md").write_text("mine")
    code, err = run_main(monkeypatch, capsys, "analyze", folders["lang_pt"], folders["lang_es"], "--out", out)
    assert code == 2 and "already holds a report (report.md); pass --overwrite" in err
    assert (out / "report.md").read_text() == "mine"
    assert cli("analyze", folders["lang_pt"], folders["lang_es"], "--out", out, "--overwrite").exit_code == 0
    assert (out / "report.md").read_text() != "mine"
