"""Paper 1's Figure 2 as a setting: one-language rows per task-vector language, each tested against its own
source's baseline and control, and the figure of Add & Subtract's relative gain drawn from a run's record."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from conftest import SHARED
from pydantic import ValidationError

from langarith.analysis import plots
from langarith.experiments import SETTINGS, Cell
from langarith.experiments.config import Config
from langarith.experiments.plan import Fixed, Tuned, language, task
from langarith.experiments.record import RunRecord
from langarith.experiments.settings.cross_language import FIGURE, figure_2

SMOKE = {"model": "tiny", "task_steps": 2, "language_steps": 2, "dev_limit": 6, "test_limit": 6,
         "lambda_step": 0.5, "batch_size": 4, "seq_len": 16}
CROSS = SETTINGS["cross-language"]


def config(**changes) -> Config:
    return Config(**{"name": "fig2", "setting": "cross-language", "task": "sib200", "data": "sib200",
                     "sources": ["en", "sw"], "targets": ["pt", "es"], "budget": "smoke", "budgets": {"smoke": SMOKE},
                     **changes})


def test_rows_are_the_one_language_rows_once_per_source_with_label_free_twins():
    assert config().rows == ["baseline:en", "task-scaled:en", "add-subtract:en",
                             "baseline:sw", "task-scaled:sw", "add-subtract:sw"]
    assert config(label_free=["fixed"]).rows[:4] == ["baseline:en", "task-scaled:en", "add-subtract:en",
                                                     "add-subtract:en@fixed"]


def test_each_source_s_rows_need_its_task_module_and_the_targets_and_its_language_modules():
    plan = {row.name: row for row in CROSS.table(config(), "pt")}
    assert list(plan) == config().rows
    for source in ("en", "sw"):
        assert isinstance(plan[f"baseline:{source}"], Fixed) and plan[f"baseline:{source}"].needs() == [task(source)]
        assert plan[f"task-scaled:{source}"].needs() == [task(source)]
        assert isinstance(plan[f"add-subtract:{source}"], Tuned)
        assert plan[f"add-subtract:{source}"].needs() == [task(source), language("pt"), language(source)]


def test_each_row_is_tested_against_its_own_sources_baseline_and_control():
    assert CROSS.baseline_for("add-subtract:sw") == "baseline:sw" == CROSS.baseline_for("add-subtract:sw@unlabeled")
    assert CROSS.baseline_for("task-scaled:en") == "baseline:en" == CROSS.baseline_for("baseline:en")
    assert CROSS.control("add-subtract:en") == "task-scaled:en" and CROSS.control("task-scaled:en") is None
    assert CROSS.control("add-subtract:en@fixed") == "add-subtract:en"  # a twin against the row it twins
    assert SETTINGS["one-language"].baseline_for("add") == "baseline"  # settings without per-row baselines


def test_the_runner_tests_each_cell_against_its_sources_baseline():
    from langarith.experiments.runner import Runner

    def cell(method: str, correct: int) -> Cell:
        per_example = [1.0] * correct + [0.0] * (30 - correct)
        return Cell(method, "pt", correct / 30, scores=SimpleNamespace(test="mcnemar", per_example=per_example))

    made = {c.method: c for c in (cell("baseline:en", 0), cell("task-scaled:en", 30), cell("add-subtract:en", 30),
                                  cell("baseline:sw", 30), cell("task-scaled:sw", 30), cell("add-subtract:sw", 30))}
    Runner._significance(SimpleNamespace(setting=CROSS), made)
    assert made["add-subtract:en"].p_baseline < 0.05 and made["add-subtract:sw"].p_baseline == 1.0
    assert made["add-subtract:en"].p_control == 1.0 and made["baseline:en"].p_baseline is None


def test_targets_are_unseen_languages():
    with pytest.raises(ValidationError, match="evaluates unseen languages: targets sw are among the sources"):
        config(targets=["pt", "sw"])


def record(tmp_path, scores: dict[tuple[str, str], float]) -> RunRecord:
    cells = [Cell(method, target, score) for (method, target), score in scores.items()]
    return RunRecord(config(), tmp_path, "accuracy", "baseline", cells, 1.0, {}, "fp32", figures=CROSS.figures)


def test_figure_2_draws_the_relative_gain_of_add_subtract_over_each_sources_baseline(tmp_path, monkeypatch):
    drawn = {}
    real = plots.improvement_heatmap
    monkeypatch.setattr(plots, "improvement_heatmap", lambda values, path, **kw: drawn.update(values) or
                        real(values, path, **kw))
    run = record(tmp_path, {("baseline:en", "pt"): 50.0, ("add-subtract:en", "pt"): 60.0,
                            ("baseline:en", "es"): 80.0, ("add-subtract:en", "es"): 60.0,
                            ("baseline:sw", "pt"): 0.0, ("add-subtract:sw", "pt"): 10.0,
                            ("baseline:sw", "es"): 40.0, ("task-scaled:sw", "es"): 90.0})
    from langarith.experiments.report import _plots

    lines = _plots(run)  # the report draws the setting's own figure
    assert f"![paper 1, Figure 2]({FIGURE})" in lines and (tmp_path / FIGURE).stat().st_size > 10_000
    assert drawn == {("en", "pt"): 20.0, ("en", "es"): -25.0, ("sw", "pt"): None, ("sw", "es"): None}


def test_no_figure_2_where_no_gain_is_defined(tmp_path):
    run = record(tmp_path, {("baseline:en", "pt"): 0.0, ("add-subtract:en", "pt"): 0.0})
    assert figure_2(run) == [] and not (tmp_path / FIGURE).exists()


@pytest.mark.skipif(not (SHARED / "sib200").exists(), reason="needs the shared SIB-200 data")
def test_cross_language_end_to_end_at_smoke(tmp_path, isolated_cache):
    from langarith.experiments.runner import Runner

    cfg = config(targets=["pt"], label_free=["fixed"])
    cells = Runner(cfg, tmp_path / "out", progress=False).run()
    assert [c.method for c in cells] == cfg.rows and {c.target for c in cells} == {"pt"}
    by = {c.method: c for c in cells}
    assert all(by[f"add-subtract:{s}"].p_baseline is not None and by[f"add-subtract:{s}"].p_control is not None
               for s in ("en", "sw"))
    assert by["add-subtract:sw@fixed"].lam == 0.5 and by["baseline:sw"].p_baseline is None
    assert "| add-subtract:en |" in (tmp_path / "out" / "results.md").read_text(encoding="utf-8")
