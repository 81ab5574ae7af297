"""Offline language identification (py3langid, whose model ships in its wheel).

Used to warn when training text is not in the declared language, and for the off-target rate of
generations. Languages the identifier does not know are reported as "cannot judge" (None),
never as a mismatch.
"""

from __future__ import annotations

from collections import Counter

from langarith.core.errors import UnknownLanguageError
from langarith.languages.codes import resolve


def identify(text: str) -> str:
    """ISO 639-1 code of the most likely language of `text` (as py3langid names it)."""
    import py3langid

    return py3langid.classify(text)[0]


def languages() -> list[str]:
    """The codes the identifier can answer with."""
    import py3langid.langid

    py3langid.langid.classify("")  # loads the model shipped in the wheel on first use
    return list(py3langid.langid.IDENTIFIER.nb_classes)


def known(language: str) -> bool:
    try:
        iso3 = resolve(language).iso639_3
    except UnknownLanguageError:
        return False
    return any(_iso3(code) == iso3 for code in languages())


def share_in_language(texts: list[str], language: str, sample: int = 200) -> tuple[float | None, str | None]:
    """(share of a spread-out sample identified as `language`, the most common identified language);
    (None, None) when the identifier does not cover `language`, or cannot load its model (it unpacks it into a
    temporary file: a full disk there makes this warning-only check say nothing rather than stop a training)."""
    try:
        if not texts or not known(language):
            return None, None
    except OSError:
        return None, None

    target = resolve(language).iso639_3
    step = max(1, len(texts) // sample)
    picked = [t for t in texts[::step][:sample] if len(t.strip()) >= 20] or texts[:sample]
    found = [identify(t) for t in picked]
    share = sum(_iso3(code) == target for code in found) / len(found)
    return share, Counter(found).most_common(1)[0][0]


def _iso3(code: str) -> str | None:
    try:
        return resolve(code).iso639_3
    except UnknownLanguageError:
        return None
