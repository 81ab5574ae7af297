"""The package's shape: imports go one way — cli → offline → experiments → evaluation/training →
models/tasks/methods → core — with no import cycle (function-level imports included; the `module`↔`algebra`
operator pair aside), and no file longer than a reader can hold."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "langarith"
ALLOWED_PAIRS = {frozenset({"langarith.module", "langarith.algebra"})}
MAX_LINES = 450
LAYERS = {  # first matching prefix; everything else is the core (layer 1)
    "langarith.__main__": 7,
    "langarith.cli": 6,
    "langarith.offline": 5,
    "langarith.experiments": 4,
    "langarith.evaluation": 3,
    "langarith.data.pull": 3,  # runs the tasks' and text sources' own readers against the hub
    "langarith.training": 3,
    "langarith.models.identity": 1,  # torch-free and core-only: formats, algebra and Module compare base models
    "langarith.models": 2,
    "langarith.tasks": 2,
    "langarith.methods": 2,
}


def modules(src: Path = SRC) -> dict[str, Path]:
    found = {}
    for path in (src / PACKAGE).rglob("*.py"):
        parts = list(path.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def layer(module: str) -> int:
    return next((n for prefix, n in LAYERS.items() if module == prefix or module.startswith(prefix + ".")), 1)


def imports(files: dict[str, Path]) -> dict[str, set[str]]:
    """Every module each module imports from the package, anywhere in the file. A package's `__init__`
    importing its own submodules (registration, re-exports) is not an edge."""

    def owner(name: str) -> str | None:
        while name and name not in files:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {m: set() for m in files}
    for module, path in files.items():
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = module.split(".") if is_package else module.split(".")[:-1]
                    base = ".".join(anchor[: len(anchor) - node.level + 1] + ([base] if base else []))
                names = [f"{base}.{a.name}" for a in node.names] + [base]
            else:
                continue
            for name in names:
                target = owner(name) if name.startswith(PACKAGE) else None
                own_submodule = target is not None and is_package and target.startswith(module + ".")
                if target and target != module and not own_submodule and {module, target} not in ALLOWED_PAIRS:
                    graph[module].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_no_import_cycle():
    assert cycles(imports(modules())) == []


def test_imports_go_one_way():
    graph = imports(modules())
    upward = sorted(f"{a} (layer {layer(a)}) imports {b} (layer {layer(b)})" for a, targets in graph.items()
                    for b in targets if layer(b) > layer(a))
    assert upward == []


@pytest.mark.parametrize("path", sorted(modules().values()), ids=lambda p: str(p.relative_to(SRC)))
def test_no_file_over_450_lines(path: Path):
    assert len(path.read_text(encoding="utf-8").splitlines()) <= MAX_LINES


def test_the_checks_find_a_cycle_and_an_upward_import(tmp_path):
    package = tmp_path / PACKAGE
    (package / "cli").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("def f():\n    from langarith import b\n")
    (package / "b.py").write_text("from langarith.a import f\n")
    (package / "cli" / "__init__.py").write_text("")
    (package / "c.py").write_text("import langarith.cli\n")
    graph = imports(modules(tmp_path))
    assert cycles(graph) == [["langarith.a", "langarith.b"]]
    assert "langarith.cli" in graph["langarith.c"] and layer("langarith.cli") > layer("langarith.c")
