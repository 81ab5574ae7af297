"""`analyze` as a library function: what `langarith analyze` prints and writes, from a notebook."""

from __future__ import annotations

import langarith


def test_analyze_from_python_writes_the_report_and_returns_what_the_cli_prints(make_peft, tmp_path):
    entries = [(make_peft("lang_pt", seed=1), "pt", "language"), (make_peft("lang_es", seed=2), "es", "language"),
               (make_peft("task_en", seed=3), "en", "task")]
    result = langarith.analyze(entries, tmp_path / "report")
    assert [m["role"] for m in result["modules"]] == ["language", "language", "task"]
    assert result["group_sizes"] == {"language": 2, "task": 1} and len(result["cosine"]) == 3
    assert result["mean_cosine"]["task"] is None  # one task module: no pair to average
    report = (tmp_path / "report" / "report.md").read_text(encoding="utf-8")
    assert "# Module analysis" in report and "among language modules (2)" in report
    assert {"density", "cosine_heatmap", "report"} <= set(result["files"])
