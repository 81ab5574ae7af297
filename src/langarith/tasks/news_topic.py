"""MasakhaNEWS topic classification: TSV with quoted multi-line fields (category, headline, text, url)."""

from __future__ import annotations

from langarith.tasks import register
from langarith.tasks.sib200 import Sib200


class NewsTopic(Sib200):
    name = "news-topic"


register(NewsTopic())
