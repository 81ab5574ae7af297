"""The repository travels with every transfer to a GPU node (64 MiB each): what it commits must stay small."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _tracked(*patterns: str) -> list[Path]:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    listed = subprocess.run(["git", "ls-files", "-z", "--", *patterns], cwd=ROOT, capture_output=True, check=True)
    return [ROOT / p for p in listed.stdout.decode().split("\0") if p]


def test_committed_modules_stay_under_20_mb():
    modules = _tracked("results/*/modules/*")
    assert sum(p.stat().st_size for p in modules if p.is_file()) <= 20_000_000
    assert not [p for p in modules if ".ckpt" in p.as_posix() or "/." in p.relative_to(ROOT).as_posix()]


def test_the_ignore_rules_keep_full_budget_modules_and_drop_checkpoints_and_bundles():
    def ignored(path: str) -> bool:
        return subprocess.run(["git", "check-ignore", "-q", path], cwd=ROOT).returncode == 0

    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    assert not ignored("results/sib200-one-language-full/modules/lang_por_Latn_0123456789/adapter_model.safetensors")
    assert ignored("results/sib200-one-language-cpu/modules/lang_por_Latn_0123456789/adapter_model.safetensors")
    assert ignored("results/sib200-one-language-full/modules/lang_por_Latn_0123456789.ckpt/checkpoint.pt")
    assert ignored("results/sib200-one-language-full/modules/.lang_por_Latn_0123456789.tmp-ab12/x")
    assert ignored("bundle/h200/payload.part01")


def test_an_unusable_cache_folder_is_a_clean_error(tmp_path, monkeypatch):
    from langarith.core.errors import LangarithError
    from langarith.core.paths import cache_dir

    (tmp_path / "a-file").write_text("not a folder")
    monkeypatch.setenv("LANGARITH_CACHE", str(tmp_path / "a-file"))
    with pytest.raises(LangarithError, match="set LANGARITH_CACHE to a writable folder"):
        cache_dir("models")


def test_no_tracked_text_file_keeps_a_merge_conflict():
    marked = [f"{p.relative_to(ROOT)}:{n}" for p in _tracked("*.md", "*.py", "*.yaml", "*.toml", "*.txt", "*.sh")
              if p.is_file()
              for n, line in enumerate(p.read_text(encoding="utf-8", errors="replace").splitlines(), 1)
              if line.startswith(("<<<<<<< ", ">>>>>>> "))]
    assert not marked, f"merge conflict markers left at {', '.join(marked)}"
