"""langarith: give a language model a skill in a language with no labeled data, by composing
parameter-efficient language and task modules with element-wise arithmetic.

Model-free parts (module vectors, formats, recipes, typology) import without torch; the names below
are loaded on first use so that `import langarith` stays instant.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "Module": "langarith.module",
    "ModuleVector": "langarith.algebra",
    "mean": "langarith.algebra",
    "vsum": "langarith.algebra",
    "weighted_sum": "langarith.algebra",
    "load": "langarith.formats",
    "save": "langarith.formats",
    "compose": "langarith.compose",
    "related": "langarith.typology",
    "distance_matrix": "langarith.typology",
    "resolve": "langarith.codes",
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'langarith' has no attribute {name!r}")


__all__ = ["__version__", *_EXPORTS]
