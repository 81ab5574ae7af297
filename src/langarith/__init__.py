"""langarith: give a language model a skill in a language with no labeled data, by composing
parameter-efficient language and task modules with element-wise arithmetic.

Model-free parts (module vectors, formats, recipes, typology) import without torch.
"""

from __future__ import annotations

__version__ = "0.1.0"
