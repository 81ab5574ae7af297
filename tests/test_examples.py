"""The notebook-style tour in examples/ runs as written: compose, save, reload into PEFT, apply in memory."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_api_tour_runs(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "examples" / "api_tour.py"), str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "largest logit difference, in memory vs PEFT" in done.stdout
    assert (tmp_path / "task_pt" / "adapter_config.json").exists()
