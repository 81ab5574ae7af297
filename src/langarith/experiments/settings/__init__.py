"""The papers' tables, one file each; each registers itself in `langarith.experiments.setting.SETTINGS`.

Paper 1 (decoders, LoRA / LoKr): `one_language` (Task-in-One-Language), `many_languages`
(Task-in-Many-Languages), `in_language` (Table 6: PEFT against full fine-tuning on seen languages).
Paper 2 (MAD-X on encoders): `zero_shot`, `enhancement`, `low_resource`, `relatedness`, `ties`.
"""

from __future__ import annotations

from langarith.experiments.settings import enhancement as _enhancement  # noqa: F401  (registers)
from langarith.experiments.settings import in_language as _in_language  # noqa: F401
from langarith.experiments.settings import low_resource as _low_resource  # noqa: F401
from langarith.experiments.settings import many_languages as _many_languages  # noqa: F401
from langarith.experiments.settings import one_language as _one_language  # noqa: F401
from langarith.experiments.settings import relatedness as _relatedness  # noqa: F401
from langarith.experiments.settings import ties as _ties  # noqa: F401
from langarith.experiments.settings import zero_shot as _zero_shot  # noqa: F401
