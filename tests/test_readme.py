"""The README's Python example runs as written, on the modules its quick start makes."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from langarith import load

ROOT = Path(__file__).resolve().parents[1]


def test_the_readme_python_api_example_runs(tmp_path, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(encoding="utf-8"), re.S)
    example = next(b for b in blocks if "from langarith import load" in b)
    subprocess.run([sys.executable, str(ROOT / "examples" / "make_modules.py"), "runs/quickstart/modules"],
                   cwd=tmp_path, check=True, capture_output=True)
    monkeypatch.chdir(tmp_path)
    exec(compile(example, "README.md", "exec"), {})
    assert load(tmp_path / "runs" / "task_pt_api").kind == "lora"
    assert load(tmp_path / "runs" / "task_related_api").kind == "lora"
