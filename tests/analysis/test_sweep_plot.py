"""sweep_plot: a score against a count, per target and way of choosing, with the mean over targets."""

from __future__ import annotations

from pathlib import Path

import pytest

from langarith.analysis.measures import AnalysisError
from langarith.analysis.sweep_plot import mean_over, score_by_count

LINES = {"pt": {"nearest": {1: 40.0, 2: 50.0, 4: 55.0}, "random": {1: 30.0, 2: 35.0, 4: 50.0}},
         "mr": {"nearest": {1: 60.0, 2: 58.0}, "random": {1: 20.0, 2: 45.0, 4: 52.0}}}


def test_the_mean_is_taken_at_the_counts_every_target_has():
    assert mean_over(LINES, "nearest") == {1: 50.0, 2: 54.0}
    assert mean_over(LINES, "random") == {1: 25.0, 2: 40.0, 4: 51.0}
    assert mean_over(LINES, "best") == {}


def test_score_by_count_draws_a_png(tmp_path: Path):
    import matplotlib.image

    path = score_by_count(LINES, tmp_path / "sub" / "sweep.png", {"best single": 45.0}, title="k")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert float(matplotlib.image.imread(path)[..., :3].var()) > 1e-3  # not a blank canvas
    with pytest.raises(AnalysisError, match=r"no scores given for none\.png"):
        score_by_count({}, tmp_path / "none.png")
