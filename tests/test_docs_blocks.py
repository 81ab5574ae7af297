"""Every shell and Python block in the README and the docs runs here, or says why it cannot.

The mark is an HTML comment on the last non-blank line before the block (docs/extending.md, "Code blocks in
the docs"): `<!-- run -->` runs it in an empty workspace, `<!-- run with: fixture modules -->` in one that
holds the tiny modules of `examples/make_modules.py` under runs/quickstart/modules, and `<!-- not run: REASON
-->` skips it. A `console` block's `$` commands run one by one, and the lines shown under each must appear in
order in what it prints ("..." elides); a ```text block right after a run Python block is that block's output.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]  # docs/reference/ is generated
LANGUAGES = {"bash": "shell", "sh": "shell", "console": "console", "python": "python"}
MARK = re.compile(r"<!--\s*(run|run with:\s*(?P<setup>[\w -]+?)|not run:\s*(?P<reason>\S.*?))\s*-->")
SETUPS = {"fixture modules"}
FENCE = re.compile(r"^(?P<indent> *)(?P<ticks>`{3,})(?P<lang>[\w-]*)\s*$")
BLOCK_TIMEOUT = 60


@dataclass(frozen=True)
class Block:
    page: str
    line: int
    lang: str
    text: str
    mark: str | None  # the comment's inside, or None when unmarked
    output: str | None  # a ```text block right after it

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"

    @property
    def setup(self) -> str | None:
        return self.mark.removeprefix("run with:").strip() if self.mark and self.mark.startswith("run with:") else None


def blocks(path: Path, root: Path = ROOT) -> list[Block]:
    """The fenced blocks of one page, in order, with the mark above each and a ```text block after it."""
    lines = path.read_text(encoding="utf-8").splitlines()
    found, i = [], 0
    while i < len(lines):
        fence = FENCE.match(lines[i])
        if not fence:
            i += 1
            continue
        end = next(j for j in range(i + 1, len(lines)) if lines[j].rstrip() == fence["indent"] + fence["ticks"])
        before = next((lines[j].strip() for j in range(i - 1, -1, -1) if lines[j].strip()), "")
        mark = MARK.fullmatch(before)
        body = "\n".join(line[len(fence["indent"]):] for line in lines[i + 1:end]) + "\n"
        found.append(Block(path.relative_to(root).as_posix(), i + 1, fence["lang"], body,
                           mark.group(1) if mark else None, None))
        i = end + 1
    return [b if not (found[k + 1:] and found[k + 1].lang == "text" and _adjacent(lines, b, found[k + 1]))
            else Block(b.page, b.line, b.lang, b.text, b.mark, found[k + 1].text) for k, b in enumerate(found)]


def _adjacent(lines: list[str], block: Block, after: Block) -> bool:
    end = block.line + block.text.count("\n") + 1  # the closing fence's line number
    return all(not line.strip() for line in lines[end:after.line - 1])


def runnable() -> list[Block]:
    return [b for page in PAGES for b in blocks(page) if b.lang in LANGUAGES]


def unique_runs() -> list[Block]:
    """The blocks marked to run, each distinct (block, setup) once: the README repeats some of compose.md."""
    seen: dict[tuple[str, str, str], Block] = {}
    for b in runnable():
        if b.mark is not None and not b.mark.startswith("not run"):
            seen.setdefault((b.lang, b.text, b.mark), b)
    return list(seen.values())


# --- marks ----------------------------------------------------------------------------------------------------
def test_every_shell_and_python_block_is_marked_run_or_not_run_with_a_reason():
    unmarked = [b.where for b in runnable() if b.mark is None]
    assert not unmarked, ("mark each block with <!-- run -->, <!-- run with: fixture modules --> or <!-- not run: "
                          f"REASON --> on the line before it (docs/extending.md): {unmarked}")
    unknown = [b.where for b in runnable() if b.setup not in (None, *SETUPS)]
    assert not unknown, f"unknown setup (known: {sorted(SETUPS)}): {unknown}"


def test_the_block_reader_finds_marks_reasons_and_outputs(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("<!-- not run: needs the hub -->\n```bash\nlangarith data pull sib200\n```\n\n<!-- run -->\n"
                    "```python\nprint(1)\n```\n\n```text\n1\n```\n\n- item\n  ```bash\n  ls\n  ```\n"
                    "````markdown\n```bash\nrm -r x\n```\n````\n", encoding="utf-8")
    found = blocks(page, tmp_path)
    assert [(b.line, b.lang, b.mark) for b in found] == [(2, "bash", "not run: needs the hub"), (7, "python", "run"),
                                                         (11, "text", None), (16, "bash", None), (19, "markdown", None)]
    assert found[3].text == "ls\n"  # a list item's block, its indent removed
    assert found[1].output == "1\n" and found[0].output is None
    assert MARK.fullmatch("<!-- not run: -->") is None  # a reason is required
    assert Block("p", 1, "bash", "", "run with: fixture modules", None).setup == "fixture modules"


# --- running ----------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fixture_modules(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("doc-modules") / "modules"
    subprocess.run([sys.executable, str(ROOT / "examples" / "make_modules.py"), str(out)], check=True,
                   capture_output=True, env=_env(), timeout=BLOCK_TIMEOUT)
    return out


def _env(bin_dir: Path | None = None, cache: Path | None = None) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT / "src"), os.environ.get("PYTHONPATH"))
                                                         if p),
           "COLUMNS": "120", "HF_HUB_OFFLINE": "1", "NO_COLOR": "1", "TERM": "dumb"}
    if bin_dir is not None:
        env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    if cache is not None:
        env["LANGARITH_CACHE"] = str(cache)
    return env


def workspace(root: Path) -> Path:
    """A folder laid out like a checkout after `make install`: .venv/bin/{python,langarith}, examples/, configs/."""
    bin_dir = root / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    for name, command in (("python", ""), ("langarith", " -m langarith")):  # scripts: a link would leave the venv
        (bin_dir / name).write_text(f'#!/bin/sh\nexec "{sys.executable}"{command} "$@"\n')
        (bin_dir / name).chmod(0o755)
    for name in ("examples", "configs"):
        (root / name).symlink_to(ROOT / name)
    return bin_dir


def squeeze(text: str) -> str:
    return " ".join(text.split())


def assert_shows(expected: str, printed: str, where: str) -> None:
    """Each line of `expected` (but "...") appears in `printed`, in order, whitespace and line breaks aside."""
    flat, at = squeeze(printed), 0
    for line in expected.splitlines():
        if not line.strip() or line.strip() == "...":
            continue
        found = flat.find(squeeze(line), at)
        assert found >= 0, f"{where}: the docs show {line.strip()!r}, which the command does not print:\n{printed}"
        at = found + len(squeeze(line))


def console_steps(text: str) -> list[tuple[str, str]]:
    """(command, the output shown under it) for each `$ ` line of a console block."""
    steps: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        if line.startswith("$ "):
            steps.append((line[2:], []))
        elif steps:
            steps[-1][1].append(line)
    return [(command, "\n".join(shown)) for command, shown in steps]


def run_in(root: Path, block: Block, env: dict[str, str]) -> None:
    def go(args: list[str]) -> str:
        done = subprocess.run(args, cwd=root, env=env, capture_output=True, text=True, timeout=BLOCK_TIMEOUT)
        assert done.returncode == 0, (
            f"{block.where} exits {done.returncode}:\n{done.stdout[-2000:]}{done.stderr[-3000:]}")
        return done.stdout + done.stderr

    if block.lang == "python":
        (root / "block.py").write_text(block.text, encoding="utf-8")
        printed = go([sys.executable, "block.py"])
        if block.output is not None:
            assert_shows(block.output, printed, block.where)
    elif LANGUAGES[block.lang] == "console":
        for command, shown in console_steps(block.text):
            assert_shows(shown, go(["bash", "-eo", "pipefail", "-c", command]), f"{block.where} ({command})")
    else:
        go(["bash", "-eo", "pipefail", "-c", block.text])


@pytest.mark.parametrize("block", unique_runs(), ids=lambda b: b.where)
def test_the_block_runs(block: Block, tmp_path: Path, request: pytest.FixtureRequest, shared_cache: Path):
    bin_dir = workspace(tmp_path)
    if block.setup == "fixture modules":
        shutil.copytree(request.getfixturevalue("fixture_modules"), tmp_path / "runs" / "quickstart" / "modules")
    run_in(tmp_path, block, _env(bin_dir, shared_cache))


def test_shown_output_must_appear_in_order_whatever_the_line_breaks():
    assert_shows("related: ru,\n...\nen", "table\nrelated: ru, en\n", "page.md:1")
    with pytest.raises(AssertionError, match=r"page\.md:1"):
        assert_shows("en\nrelated: ru", "related: ru, en\n", "page.md:1")
