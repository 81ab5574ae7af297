"""Name → implementation tables (formats, methods, tasks, recipes, merges, experiment settings, datasets).

Adding one is adding one file: its definition carries the registry's decorator (`@register` over a class,
which registers an instance of it; `@register("name")`, `@setting("name", …)`, `@recipe("name", …)` over a
function), and the package finds the file itself (`Registry.discover`): every module of the package is
imported, then every plugin module another installed package declares under the entry-point group
`langarith.<group>`. A name registered twice is an error, and an unknown name is a typed error that lists
the known ones and suggests the close ones (`unknown`).
"""

from __future__ import annotations

import difflib
import importlib
import importlib.metadata
import pkgutil
from collections.abc import Iterable
from typing import Any, Generic, Protocol, TypeVar


class _Named(Protocol):
    name: str


T = TypeVar("T", bound=_Named)


class Registry(dict[str, T], Generic[T]):
    def __init__(self, what: str, error: type[Exception], group: str | None = None):
        super().__init__()
        self.what, self.error = what, error
        #: plugins of other packages register through the entry-point group `langarith.<group>`
        self.group = group

    def register(self, item: Any) -> Any:
        """Register `item`; a class is registered as an instance of it and returned as it is, so that
        `@register` can stand over its definition."""
        made = item() if isinstance(item, type) else item
        if made.name in self:
            raise self.error(f"two {self.what}s are named {made.name!r} ({self[made.name]!r} and {made!r}); "
                             "rename one")
        self[made.name] = made
        return item

    def get_or_raise(self, name: str) -> T:
        if name not in self:
            raise self.error(unknown(self.what, name, self))
        return self[name]

    def discover(self, package: str) -> None:
        """Import every module of `package` in name order (each registers what it defines; names starting
        with `_` are skipped), then the plugins (`load_plugins`)."""
        path = importlib.import_module(package).__path__
        for found in sorted(pkgutil.iter_modules(path), key=lambda m: m.name):
            if not found.name.startswith("_"):
                importlib.import_module(f"{package}.{found.name}")
        self.load_plugins()

    def load_plugins(self) -> None:
        """Import each module installed packages name under the entry-point group `langarith.<group>`, e.g.
        `[project.entry-points."langarith.tasks"] my-task = "my_package.my_task"` in their pyproject."""
        if self.group is None:
            return
        for point in importlib.metadata.entry_points(group=f"langarith.{self.group}"):
            try:
                point.load()
            except Exception as err:
                source = f" of {point.dist.name}" if point.dist is not None else ""
                raise self.error(f"the {self.what} plugin {point.name!r} ({point.value}{source}) failed to import: "
                                 f"{type(err).__name__}: {err}; fix or uninstall that package") from err


def unknown(what: str, name: str, known: Iterable[str]) -> str:
    """The one line for a `what` named `name` that is none of `known`: the known ones, then the close ones."""
    known = list(known)
    return f"unknown {what} {name!r}; choose one of {', '.join(known)}{suggest(name, known)}"


def suggest(name: str, known: Iterable[str]) -> str:
    """`; did you mean X or Y?` for the names of `known` close to `name` (difflib's), else nothing."""
    close = difflib.get_close_matches(name, list(known), n=2)
    return f"; did you mean {' or '.join(close)}?" if close else ""
