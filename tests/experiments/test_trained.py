"""How each module of a run trained, read from its manifest (`experiments.trained`)."""

from __future__ import annotations

import json

from langarith.experiments import trained


def test_a_task_adapters_validation_and_loss_ends_are_summarised(tmp_path):
    folder = tmp_path / "task_en_0123456789"
    folder.mkdir()
    (folder / "langarith.json").write_text(json.dumps({
        "role": "task", "language": "en", "steps": 40, "tokens": 81920, "wall_time_s": 12.3,
        "loss_curve": [2.0] * 10 + [1.5] * 20 + [1.0] * 10, "heldout_loss": {"before": None, "after": None},
        "selection": {"metric": "dev_accuracy", "every": 20, "keep": "best", "best_step": 20, "best_value": 61.5,
                      "curve": [[20, 61.5], [40, 58.0]]}}))
    found = trained.summary(folder)
    assert found["loss_start"] == 2.0 and found["loss_end"] == 1.0 and found["last_value"] == 58.0
    row = trained.section([found])[-1]
    assert row == ("| task en | 40 | 81,920 | 12 s | 2.000 → 1.000 | – | dev_accuracy best 61.5 at step 20, last 58; "
                   "step 20 kept |")
    assert trained.summary(tmp_path / "nothing") is None and trained.section([]) == []
