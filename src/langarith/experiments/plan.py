"""A table as a plan: the rows a setting's table has for one target, each naming the modules it needs and the
recipe that builds it from them — before anything is trained, loaded or evaluated. The runner collects every
row's needs, trains what is missing ahead, then makes the rows in order.

    task, lang_t = need.task("en"), need.language("pt")
    Tuned("add", of(add, task=task, target=lang_t))        # eq. 1, λ chosen on dev

Kinds of row: `Fixed` (a module or a composition, evaluated as it is), `Tuned` (a recipe of λ, λ chosen on
dev), `BetterOnDev` (whichever of other rows scores better on dev), `BestOf` (the candidate module best on
dev), `Averaged` (a control averaged over several random draws).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Need:
    """A module a row needs, named by what defines it; the module store turns it into a folder (trained if
    missing). `language` is a tuple for a multilingual task module (every language's data at once)."""

    role: str  # "language" or "task"
    language: str | tuple[str, ...]
    method: str | None = None  # None: the config's method
    max_text_tokens: int | None = None  # a language module on only the first this-many tokens of its text

    @property
    def label(self) -> str:
        return self.language if isinstance(self.language, str) else "mul"


def task(language: str, method: str | None = None) -> Need:
    """The task module trained on `language`'s labeled data."""
    return Need("task", language, method)


def multilingual(languages: Sequence[str], method: str | None = None) -> Need:
    """One task module trained on every language's labeled data."""
    return Need("task", tuple(languages), method)


def language(code: str, max_text_tokens: int | None = None) -> Need:
    """The language module of `code` (on its first `max_text_tokens` tokens of text: low resource)."""
    return Need("language", code, max_text_tokens=max_text_tokens)


def _needs(value: Any) -> list[Need]:
    """The Needs in `value` (in lists, tuples, dicts and nested Builds too), in order."""
    if isinstance(value, Need):
        return [value]
    if isinstance(value, Build):
        return _needs((value.args, dict(value.kwargs)))
    items = value.values() if isinstance(value, Mapping) else value if isinstance(value, list | tuple) else ()
    return [n for item in items for n in _needs(item)]


def _resolve(value: Any, module: Callable[[Need], Any]) -> Any:
    """`value` with every Need in it replaced by `module(need)`, and every nested Build by what it builds."""
    if isinstance(value, Need):
        return module(value)
    if isinstance(value, Build):
        return value(module)
    if isinstance(value, Mapping):
        return {k: _resolve(v, module) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_resolve(v, module) for v in value)
    return value


@dataclass(frozen=True)
class Build:
    """A recipe over modules: `recipe(*args, **kwargs)` (and `lam=λ` for a λ row) with every Need among the
    arguments replaced by its module and every nested Build by what it builds; no recipe: the one module (or
    None, the bare model)."""

    recipe: Callable[..., Any] | None
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    def needs(self) -> list[Need]:
        return _needs(self)

    def __call__(self, module: Callable[[Need], Any], lam: float | None = None) -> Any:
        args, kwargs = _resolve((self.args, dict(self.kwargs)), module)
        if self.recipe is None:
            return args[0] if args else None
        return self.recipe(*args, **kwargs) if lam is None else self.recipe(*args, **kwargs, lam=lam)


def of(recipe: Callable[..., Any], *args: Any, **kwargs: Any) -> Build:
    """`recipe` over the modules named by the Needs among its arguments."""
    return Build(recipe, args, kwargs)


def the(need: Need | None) -> Build:
    """The module `need` itself (None: the base model alone)."""
    return Build(None, () if need is None else (need,))


@dataclass(frozen=True, kw_only=True)
class Row:
    name: str
    note: str = ""

    def needs(self) -> list[Need]:
        return []

    def uses(self) -> tuple[str, ...]:
        """The other rows this one is made from (made first, shown or not)."""
        return ()


@dataclass(frozen=True, kw_only=True)
class Fixed(Row):
    """`build` evaluated on test as it is. `on`: the model or task module the row is evaluated on, when not
    the run's (a whole fine-tuned model, a language's own task adapter); `dev_line`: the row's dev score is
    drawn on the λ plots under this label."""

    build: Build
    on: Need | None = None
    dev_line: str | None = None

    def needs(self) -> list[Need]:
        return [*self.build.needs(), *([self.on] if self.on else [])]


@dataclass(frozen=True, kw_only=True)
class Tuned(Row):
    """`build(λ)` with λ chosen on dev over `grid` (default: the budget's), then on test; its label-free twins
    (`ROW@STRATEGY`) choose λ without the target's labels."""

    build: Build
    grid: tuple[float, ...] | None = None

    def needs(self) -> list[Need]:
        return self.build.needs()


@dataclass(frozen=True, kw_only=True)
class BetterOnDev(Row):
    """The row among `among` with the better dev score, reported under this name."""

    among: tuple[str, ...]

    def uses(self) -> tuple[str, ...]:
        return self.among


@dataclass(frozen=True, kw_only=True)
class BestOf(Row):
    """The candidate best on dev, on test; the note and dev line name it (`{best}` in them)."""

    candidates: Mapping[str, Build]
    dev_line: str = "best ({best}, dev)"

    def needs(self) -> list[Need]:
        return [n for build in self.candidates.values() for n in build.needs()]


@dataclass(frozen=True, kw_only=True)
class Averaged(Row):
    """A control drawn at random: each draw on test, the scores averaged (its significance tests read the
    first draw's predictions)."""

    draws: tuple[tuple[str, Build], ...]  # (label, what it builds), a draw twice counted twice

    def needs(self) -> list[Need]:
        return [n for _, build in self.draws for n in build.needs()]


def needs_of(rows: Sequence[Row]) -> list[Need]:
    """Every module `rows` need, each once, in the order they are first named."""
    return list(dict.fromkeys(n for row in rows for n in row.needs()))
