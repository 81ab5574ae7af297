"""MasakhaNEWS topic classification: TSV with quoted multi-line fields (category, headline, text, url)."""

from __future__ import annotations

from langarith.languages.codes import find_in
from langarith.tasks import TaskError, register
from langarith.tasks.sib200 import Sib200

MASAKHANEWS = ("amh", "eng", "fra", "hau", "ibo", "lin", "lug", "orm", "pcm", "run", "sna", "som", "swa", "tir",
               "xho", "yor")


def masakhanews_config(language: str) -> str:
    """The hub's subset for `language` (`sw`, `swh`, `swa` → `swa`)."""
    found = find_in(language, MASAKHANEWS)
    if found is None:
        raise TaskError(f"MasakhaNEWS has no {language!r}; it covers {', '.join(MASAKHANEWS)}")
    return found


@register
class NewsTopic(Sib200):
    name = "news-topic"
    dataset = "masakhanews"

    def hub_config(self, language: str) -> str:
        return masakhanews_config(language)
