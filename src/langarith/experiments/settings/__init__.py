"""The papers' tables, one file each; each registers itself in `langarith.experiments.setting.SETTINGS` when
imported, and every file of this folder is imported here, so adding a setting is adding its file.

Paper 1 (decoders, LoRA / LoKr): `one_language` (Task-in-One-Language), `cross_language` (Figure 2: the
one-language rows for every task-vector language), `many_languages` (Task-in-Many-Languages), `in_language`
(Table 6: PEFT against full fine-tuning on seen languages); beyond it, `sources_sweep` (Add related against the
number of sources averaged).
Paper 2 (MAD-X on encoders): `zero_shot`, `enhancement`, `low_resource`, `relatedness`, `ties`, and
`task_vectors` (Appendix E: language vectors against task vectors).
"""

from __future__ import annotations

from langarith.experiments.setting import SETTINGS

SETTINGS.discover(__name__)  # then installed plugins (entry points `langarith.settings`)
