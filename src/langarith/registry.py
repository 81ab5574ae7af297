"""Name → implementation tables (formats, methods, tasks, recipes, merges, experiment settings): adding one
means adding one file that registers itself. A name registered twice is an error at import, and an unknown
name is a typed error that lists the known ones."""

from __future__ import annotations

from typing import Generic, Protocol, TypeVar


class _Named(Protocol):
    name: str


T = TypeVar("T", bound=_Named)


class Registry(dict[str, T], Generic[T]):
    def __init__(self, what: str, error: type[Exception]):
        super().__init__()
        self.what, self.error = what, error

    def register(self, item: T) -> T:
        if item.name in self:
            raise self.error(f"two {self.what}s are named {item.name!r} ({self[item.name]!r} and {item!r}); "
                             "rename one")
        self[item.name] = item
        return item

    def get_or_raise(self, name: str) -> T:
        if name not in self:
            raise self.error(f"unknown {self.what} {name!r}; choose one of {', '.join(self)}")
        return self[name]
