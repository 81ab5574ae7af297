"""The package's shape: wings whose imports go one way — cli → offline → experiments → evaluation/training →
models/tasks/methods → analysis → arith → scoring → languages → data → core — with no import cycle
(function-level and type-checking imports included) but the `module`↔`algebra` operator pair, which no longer
cycle may run through, few modules loose at the root, and no file or class longer than a reader can hold."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "langarith"
#: the one cycle: `Module`'s operators build `ModuleVector`s (a deferred import) and the algebra acts on `Module`s
ALLOWED_CYCLE = ["langarith.arith.algebra", "langarith.arith.module"]
MAX_LINES = 450
MAX_CLASS_LINES = 250
MAX_LOOSE = 8  # modules at the package root, outside every wing
#: classes still over MAX_CLASS_LINES, each to be split
LONG_CLASSES: set[str] = set()
LAYERS = {  # the wings, bottom up; first matching prefix; the root's loose modules are the core's (layer 1)
    "langarith.__main__": 12,
    "langarith.cli": 11,
    "langarith.offline": 10,
    "langarith.experiments": 9,
    "langarith.evaluation": 8,
    "langarith.training": 8,
    "langarith.data.pull": 8,  # runs the tasks' and text sources' own readers against the hub
    "langarith.models": 7,
    "langarith.tasks": 7,
    "langarith.methods": 7,
    "langarith.analysis": 6,
    "langarith.arith": 5,
    "langarith.scoring": 4,
    "langarith.languages": 3,
    "langarith.data": 2,
    "langarith.core": 1,
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
                if target and target != module and not own_submodule:
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


def test_no_import_cycle_but_the_operator_pair():
    """The pair is a strongly connected component of its own: a module that both imports and is imported by
    the pair (as `formats` was, when `algebra` built configs) would join it and fail here."""
    assert cycles(imports(modules())) == [ALLOWED_CYCLE]


def test_imports_go_one_way():
    graph = imports(modules())
    upward = sorted(f"{a} (layer {layer(a)}) imports {b} (layer {layer(b)})" for a, targets in graph.items()
                    for b in targets if layer(b) > layer(a))
    assert upward == []


@pytest.mark.parametrize("path", sorted(modules().values()), ids=lambda p: str(p.relative_to(SRC)))
def test_no_file_over_450_lines(path: Path):
    assert len(path.read_text(encoding="utf-8").splitlines()) <= MAX_LINES


def test_few_modules_lie_loose_at_the_root():
    loose = sorted(p.name for p in (SRC / PACKAGE).glob("*.py"))
    assert len(loose) <= MAX_LOOSE, loose


def test_no_class_over_250_lines():
    long = set()
    for module, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef) and node.end_lineno - node.lineno + 1 > MAX_CLASS_LINES:
                long.add(f"{module}.{node.name}")
    assert long == LONG_CLASSES


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
