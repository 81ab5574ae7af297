"""The number-of-sources sweep: for each k, the mean of the k typologically nearest sources' task modules beside
k drawn at random; its config checks, its plan and its score-against-k figure."""

from __future__ import annotations

import pytest
from conftest import SHARED
from pydantic import ValidationError

from langarith.arith.recipes import add_related
from langarith.experiments import SETTINGS, Cell
from langarith.experiments.config import Config
from langarith.experiments.plan import Averaged, BestOf, Fixed, task
from langarith.experiments.record import RunRecord
from langarith.experiments.settings.sources_sweep import FIGURE, count_of, sweep_figure
from langarith.languages.typology import distances_to

SMOKE = {"model": "tiny", "task_steps": 2, "dev_limit": 6, "test_limit": 6, "batch_size": 4, "seq_len": 16,
         "random_draws": 2}
SWEEP = SETTINGS["sources-sweep"]
SOURCES = ["ar", "bn", "en", "ja", "ru", "sw", "tr"]


def config(**changes) -> Config:
    return Config(**{"name": "sweep", "setting": "sources-sweep", "task": "sib200", "data": "sib200",
                     "sources": SOURCES, "targets": ["pt", "mr"], "source_counts": [1, 2, 4, 7], "budget": "smoke",
                     "budgets": {"smoke": SMOKE}, **changes})


def test_rows_pair_the_k_nearest_with_k_at_random_against_the_best_single_source():
    assert config().rows == ["best-single", "nearest-1", "random-1", "nearest-2", "random-2", "nearest-4", "random-4",
                             "nearest-7", "random-7"]
    assert SWEEP.control("nearest-4") == "random-4" and SWEEP.control("random-4") is None
    assert SWEEP.baseline_for("nearest-4") == "best-single"
    assert count_of("random-12") == ("random", 12) and count_of("best-single") is None


@pytest.mark.parametrize(("changes", "message"), [
    ({"source_counts": []}, "sources-sweep needs source_counts"),
    ({"source_counts": [1, 8]}, r"source_counts \[8\] are not between 1 and the config's 7 sources"),
    ({"source_counts": [0, 2]}, r"source_counts \[0\] are not between"),
    ({"source_counts": [2, 2]}, "name one count twice"),
    ({"targets": ["pt", "en"]}, "targets en are among the sources"),
])
def test_config_errors(changes, message):
    with pytest.raises(ValidationError, match=message):
        config(**changes)


@pytest.mark.parametrize("target", ["pt", "mr"])
@pytest.mark.parametrize("kind", ["syntactic", "geographic"])
def test_the_k_nearest_are_the_nearest_by_the_configs_typology_distance(target, kind):
    cfg = config(typology={"kind": kind})
    plan = {row.name: row for row in SWEEP.table(cfg, target)}
    distance = distances_to(target, SOURCES, kind)
    previous: set[str] = set()
    for k in cfg.source_counts:
        row = plan[f"nearest-{k}"]
        assert isinstance(row, Fixed) and row.build.recipe is add_related
        chosen = set(row.build.args[1])
        others = set(SOURCES) - chosen
        assert len(chosen) == k and max(distance[s] for s in chosen) <= min((distance[s] for s in others), default=1)
        assert previous <= chosen  # one more source is never a different set
        previous = chosen
    assert row.needs() == [task(s) for s in SOURCES]  # add_related is handed every task module, uses the chosen


def test_the_random_control_draws_k_sources_the_same_way_every_time():
    cfg = config()
    plan = {row.name: row for row in SWEEP.table(cfg, "pt")}
    assert isinstance(plan["best-single"], BestOf) and set(plan["best-single"].candidates) == set(SOURCES)
    for k in (1, 2, 4):
        row = plan[f"random-{k}"]
        assert isinstance(row, Averaged) and len(row.draws) == 2
        assert all(len(label.split("+")) == k and set(label.split("+")) <= set(SOURCES) for label, _ in row.draws)
    assert [label for label, _ in plan["random-7"].draws] == ["+".join(sorted(SOURCES))]  # every source: one draw
    again = {row.name: row for row in SWEEP.table(cfg, "pt")}
    assert [label for label, _ in again["random-4"].draws] == [label for label, _ in plan["random-4"].draws]


def test_the_figure_plots_the_score_against_k(tmp_path, monkeypatch):
    from langarith.experiments.settings import sources_sweep

    drawn = {}
    real = sources_sweep.score_by_count
    monkeypatch.setattr(sources_sweep, "score_by_count", lambda lines, path, baselines, **kw: drawn.update(
        lines=lines, baselines=baselines) or real(lines, path, baselines, **kw))
    cells = [Cell("best-single", "pt", 40.0), Cell("best-single", "mr", 60.0), Cell("nearest-1", "pt", 45.0),
             Cell("random-1", "pt", 30.0), Cell("nearest-2", "pt", 50.0), Cell("nearest-1", "mr", 55.0)]
    run = RunRecord(config(), tmp_path, "accuracy", "best-single", cells, 1.0, {}, "fp32", figures=SWEEP.figures)
    assert f"![score against k]({FIGURE})" in sweep_figure(run) and (tmp_path / FIGURE).stat().st_size > 10_000
    assert drawn["lines"] == {"pt": {"nearest": {1: 45.0, 2: 50.0}, "random": {1: 30.0}}, "mr": {"nearest": {1: 55.0}}}
    assert drawn["baselines"] == {"best single (mean over targets)": 50.0}
    empty = RunRecord(config(), tmp_path / "none", "accuracy", "best-single", cells[:2], 1.0, {}, "fp32")
    assert sweep_figure(empty) == [] and not (tmp_path / "none" / FIGURE).exists()


@pytest.mark.skipif(not (SHARED / "sib200").exists(), reason="needs the shared SIB-200 data")
def test_sources_sweep_end_to_end_at_smoke(tmp_path, isolated_cache):
    from langarith.experiments.runner import Runner

    cfg = config(sources=["en", "sw"], targets=["pt"], source_counts=[1, 2])
    cells = Runner(cfg, tmp_path / "out", progress=False).run()
    by = {c.method: c for c in cells}
    assert list(by) == ["best-single", "nearest-1", "random-1", "nearest-2", "random-2"]
    assert by["nearest-1"].p_control is not None and by["nearest-1"].p_baseline is not None
    assert by["random-2"].note.startswith("1 draw of 2: en+sw=") and by["nearest-2"].note == "every source (Add all)"
    assert (tmp_path / "out" / FIGURE).stat().st_size > 0
    assert f"]({FIGURE})" in (tmp_path / "out" / "results.md").read_text(encoding="utf-8")
