"""λ choosers: every way langarith picks λ, in one registry that the CLI (`search-lambda --strategy`), the
experiment runner (`search:` and `label_free:` in a config) and the benchmarks read.

A chooser declares what it reads of the target language (`reads`):

- `labels`: its labeled dev rows (the papers' searches: grid, bracket, coarse-to-fine, halving);
- `inputs`: its dev inputs, no label (`unlabeled`);
- `elsewhere`: λ chosen on other languages' labeled dev data (`transfer`);
- `nothing` (`fixed`).

Adding one is a file in this folder (or a plugin under the entry points `langarith.choosers`) with
`@chooser("name", reads=…, help=…)` over a function `Evidence → SearchResult`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from langarith.core.registry import Registry
from langarith.scoring.search import SearchError, SearchResult

Reads = Literal["labels", "inputs", "elsewhere", "nothing"]


@dataclass(frozen=True)
class Evidence:
    """What a chooser may read: the λ grid, and of the target what its kind reads."""

    grid: Sequence[float]
    predict: Callable[[float, Sequence[int]], Sequence[Any]] | None = None  # (λ, dev rows) → predictions
    metric: Callable[[Sequence[int], Sequence[Any]], float] | None = None  # (rows, predictions) → score
    n: int = 0  # dev rows
    seed: int = 0
    elsewhere: Mapping[str, float] | None = None  # language → λ its labeled dev data chose


@dataclass(frozen=True)
class Chooser:
    name: str
    reads: Reads
    fn: Callable[[Evidence], SearchResult]
    help: str
    summary: str = ""  # what the chosen λ is, in a few words, for a table's note ("median of the dev-tuned λ")

    @property
    def label_free(self) -> bool:
        """Whether it reads no label of the target."""
        return self.reads != "labels"

    def __call__(self, evidence: Evidence) -> SearchResult:
        missing = {"labels": evidence.predict is None or evidence.metric is None,
                   "inputs": evidence.predict is None,
                   "elsewhere": not evidence.elsewhere, "nothing": False}[self.reads]
        if missing:
            raise SearchError(f"the λ chooser {self.name} reads {_WHAT[self.reads]}, and none was given")
        return self.fn(evidence)


_WHAT = {"labels": "the target's labeled dev rows", "inputs": "the target's dev inputs",
         "elsewhere": "λ chosen on other languages' labeled dev data", "nothing": "nothing"}

CHOOSERS: Registry[Chooser] = Registry("λ chooser", SearchError, group="choosers")


def chooser(name: str, reads: Reads, help: str, summary: str = "") -> Callable[[Callable[[Evidence], SearchResult]],
                                                                              Callable]:
    """Register the decorated `fn(evidence) → SearchResult` as the λ chooser `name`."""

    def wrap(fn: Callable[[Evidence], SearchResult]) -> Callable[[Evidence], SearchResult]:
        CHOOSERS.register(Chooser(name, reads, fn, help, summary or help))
        return fn

    return wrap


def names(*reads: Reads) -> list[str]:
    """The choosers that read one of `reads` (all of them when none is given), in registration order."""
    return [c.name for c in CHOOSERS.values() if not reads or c.reads in reads]


get_chooser = CHOOSERS.get_or_raise

# every chooser file of this folder registers itself; then installed plugins (entry points `langarith.choosers`)
CHOOSERS.discover(__name__)
