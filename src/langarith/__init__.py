"""langarith: give a language model a skill in a language with no labeled data, by composing
parameter-efficient language and task modules with element-wise arithmetic.

Model-free parts (module vectors, formats, recipes, typology) import without torch; the names below
are loaded on first use so that `import langarith` stays instant.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

__version__ = "0.1.0"

# the library's messages go to the `langarith` logger hierarchy; what shows them is the application's choice
# (the CLI prints them on stderr)
logging.getLogger("langarith").addHandler(logging.NullHandler())

_EXPORTS = {
    "Module": "langarith.arith.module",
    "ModuleVector": "langarith.arith.algebra",
    "mean": "langarith.arith.algebra",
    "vsum": "langarith.arith.algebra",
    "weighted_sum": "langarith.arith.algebra",
    "load": "langarith.arith.formats",
    "save": "langarith.arith.formats",
    "compose": "langarith.arith.compose",
    # the papers' recipes, as their equations: add(task=…, target=…, lam=…) is λ·task + (1−λ)·target
    "add": "langarith.arith.recipes",
    "add_subtract": "langarith.arith.recipes",
    "add_all": "langarith.arith.recipes",
    "add_related": "langarith.arith.recipes",
    "add_subtract_related": "langarith.arith.recipes",
    "add_weighted": "langarith.arith.recipes",
    "la": "langarith.arith.recipes",
    "scaled": "langarith.arith.recipes",
    "train": "langarith.training.api",
    "TrainSpec": "langarith.training.spec",
    "analyze": "langarith.analysis.report",
    "evaluate": "langarith.evaluation.run",
    "apply": "langarith.evaluation.inplace",
    "applied": "langarith.evaluation.inplace",
    "search_lambda": "langarith.evaluation.choose",
    "related": "langarith.languages.typology",
    "distance_matrix": "langarith.languages.typology",
    "resolve": "langarith.languages.codes",
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'langarith' has no attribute {name!r}")


__all__ = ["__version__", *_EXPORTS]
