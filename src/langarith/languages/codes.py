"""Language codes: one resolver for every way the datasets and users spell a language.

The benchmark data mixes ISO 639-1 (`pt`, MasakhaNER, XQuAD), ISO 639-3 (`por`, Tatoeba),
macrolanguages (`swa`, MasakhaNEWS), FLORES-200 (`por_Latn`, SIB-200) and users type BCP-47
(`pt-BR`). langarith compares languages by one key, the ISO 639-3 code of the *individual*
language, so that `sw`, `swa`, `swh` and `swh_Latn` are the same language. The code the user
wrote is kept on the result and is what the CLI prints back.

Macrolanguages are mapped to the individual language they almost always stand for (`ara` ->
`arb` Standard Arabic, `zho` -> `cmn` Mandarin). The table follows CLDR's macrolanguage data, which
langcodes ships, so a code means the same here as in the rest of the Unicode locale world.
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass

import langcodes
from langcodes import data_dicts

from langarith.core.errors import UnknownLanguageError

# Macrolanguage -> the individual language the macrolanguage code is used for in practice.
# Derived from CLDR's macrolanguage replacements (langcodes.data_dicts.NORMALIZED_MACROLANGUAGES,
# inverted), plus `nor` -> `nob` (Bokmål, the written standard) and `aka` -> `twi` (CLDR names
# both Twi and Fante). Left out on purpose: `man` (CLDR names two varieties), `hmn` and `syr`
# (CLDR picks a variety that is not what users mean by Hmong or Syriac): those stay macrolanguages.
# fmt: off
MACRO_TO_INDIVIDUAL: dict[str, str] = {
    "aka": "twi", "ara": "arb", "aym": "ayr", "aze": "azj", "bal": "bcc", "bik": "bcl",
    "bnc": "lbk", "bua": "bxr", "chm": "mhr", "cre": "cwd", "del": "umu", "den": "xsl",
    "din": "dik", "doi": "dgo", "est": "ekk", "fas": "pes", "ful": "fuc", "gba": "gya",
    "gon": "gno", "grb": "gbo", "grn": "gug", "hai": "hdn", "iku": "ike", "ipk": "esk",
    "jrb": "aju", "kau": "knc", "kln": "spy", "kok": "knn", "kom": "kpv", "kon": "kng",
    "kpe": "xpe", "kur": "kmr", "lah": "pnb", "lav": "lvs", "luy": "bxk", "mlg": "plt",
    "mon": "khk", "msa": "zsm", "mwr": "dhd", "nep": "npi", "nor": "nob", "oji": "ojg",
    "ori": "ory", "orm": "gaz", "pus": "pbu", "que": "quz", "raj": "mup", "rom": "rmy",
    "sqi": "als", "srd": "src", "swa": "swh", "tmh": "ttq", "uzb": "uzn", "yid": "ydd",
    "zap": "zai", "zha": "zyb", "zho": "cmn", "zza": "diq",
}
# fmt: on

# FLORES-200 names a few languages by their macrolanguage code (zho_Hans, est_Latn, ...).
_FLORES_USES_MACRO = {"cmn": "zho", "ekk": "est", "gug": "grn", "kng": "kon", "src": "srd"}

# CLDR rewrites Tagalog as Filipino and Serbo-Croatian as Serbian; ISO 639-3 (and URIEL) keep
# them apart, so those rewrites are not applied.
_KEEP_AS_GIVEN = {"tgl", "tl", "sh", "hbs"}
_SPECIAL = {"und", "mis", "mul", "zxx"}
_FLORES_CODE = re.compile(r"^([A-Za-z]{2,3})_([A-Za-z]{4})$")
_BARE_2 = re.compile(r"^[a-z]{2}$")
_BARE_3 = re.compile(r"^[a-z]{3}$")
# ISO 639-3 -> ISO 639-1, without the withdrawn two-letter codes (iw, in, ji, jw, mo).
_ALPHA2_OF = {
    a3: a2
    for a2, a3 in data_dicts.LANGUAGE_ALPHA3.items()
    if _BARE_2.match(a2) and a2 not in ("in", "iw", "ji", "jw", "mo")
}


@dataclass(frozen=True)
class Language:
    """A resolved language. `code` is what the user wrote; compare languages by `iso639_3`."""

    code: str
    iso639_3: str
    iso639_1: str | None
    name: str
    script: str | None = None
    region: str | None = None
    # The code the user wrote, when ISO retired it or it names the macrolanguage (`kzj`, `swa`):
    # older databases such as URIEL may still file the data under it.
    aliases: tuple[str, ...] = ()

    def __str__(self) -> str:
        return self.code

    @property
    def macrolanguage(self) -> str | None:
        """ISO 639-3 code of the macrolanguage this language belongs to (`arb` -> `ara`), if any."""
        return macrolanguage(self.iso639_3)

    @property
    def flores(self) -> str:
        return to_flores(self)


def resolve(code: str | Language) -> Language:
    """Resolve any supported spelling of a language; unknown codes raise UnknownLanguageError."""
    if isinstance(code, Language):
        return code
    if not isinstance(code, str) or not code.strip():
        raise UnknownLanguageError(
            f"empty language code {code!r}: give an ISO 639-1/639-3 code (pt, por), "
            "a FLORES code (por_Latn) or a BCP-47 tag (pt-BR)"
        )
    return _resolve(code.strip())


@functools.lru_cache(maxsize=4096)
def _resolve(raw: str) -> Language:
    match = _FLORES_CODE.match(raw)
    tag = f"{match[1]}-{match[2]}" if match else raw.replace("_", "-")
    try:
        parsed = langcodes.Language.get(tag, normalize=False)
    except (langcodes.tag_parser.LanguageTagError, ValueError):
        parsed = None
    primary = (parsed.language or "").lower() if parsed is not None else ""
    iso3, aliases = _individual_iso3(primary)
    if iso3 is None:
        raise UnknownLanguageError(_unknown_message(raw))
    return Language(
        code=raw,
        iso639_3=iso3,
        iso639_1=_iso1_of(iso3),
        name=_display_name(iso3),
        script=parsed.script if parsed is not None else None,
        region=parsed.territory if parsed is not None else None,
        aliases=aliases,
    )


def _individual_iso3(primary: str) -> tuple[str | None, tuple[str, ...]]:
    """ISO 639-1/639-3 primary subtag -> (individual ISO 639-3 code, codes it replaced)."""
    aliases: list[str] = []
    if _BARE_2.match(primary):
        replacement = data_dicts.LANGUAGE_REPLACEMENTS.get(primary)  # in -> id, iw -> he, mo -> ro
        if replacement and _BARE_2.match(replacement) and primary not in _KEEP_AS_GIVEN:
            primary = replacement
        iso3 = data_dicts.LANGUAGE_ALPHA3.get(primary)
        if iso3 is None:
            return None, ()
    elif _BARE_3.match(primary):
        iso3 = primary
        replacement = data_dicts.LANGUAGE_REPLACEMENTS.get(iso3)
        if replacement and iso3 not in _KEEP_AS_GIVEN:
            if _BARE_3.match(replacement):  # a code ISO retired and merged: kzj -> dtp
                aliases.append(iso3)
                iso3 = replacement
            elif _BARE_2.match(replacement):  # bibliographic or overlong: fre -> fr, mol -> mo -> ro
                replacement = data_dicts.LANGUAGE_REPLACEMENTS.get(replacement, replacement)
                iso3 = data_dicts.LANGUAGE_ALPHA3.get(replacement, iso3)
    else:
        return None, ()
    if iso3 in MACRO_TO_INDIVIDUAL:
        aliases.append(iso3)
        iso3 = MACRO_TO_INDIVIDUAL[iso3]
    if not _is_language(iso3):
        return None, ()
    return iso3, tuple(aliases)


def _is_language(iso3: str) -> bool:
    if iso3 in _SPECIAL or "qaa" <= iso3 <= "qtz":  # special and private-use codes name no language
        return False
    return langcodes.Language.get(iso3).is_valid()


def _iso1_of(iso3: str) -> str | None:
    """ISO 639-1 code; an individual language that stands for its macrolanguage takes the
    macrolanguage's (arb -> ar, swh -> sw), as CLDR and the datasets (XQuAD `ar`, `zh`) do."""
    if iso3 in _ALPHA2_OF:
        return _ALPHA2_OF[iso3]
    macro = macrolanguage(iso3)
    if macro is not None and MACRO_TO_INDIVIDUAL.get(macro) == iso3:
        return _ALPHA2_OF.get(macro)
    return None


@functools.lru_cache(maxsize=4096)
def _display_name(iso3: str) -> str:
    iso1 = _iso1_of(iso3)
    if iso1 is not None:
        return langcodes.Language.get(iso1, normalize=False).display_name()
    name = langcodes.Language.get(iso3, normalize=False).display_name()
    if not name.startswith("Unknown language"):
        return name
    return _registry().get(iso3, iso3)


def macrolanguage(code: str | Language) -> str | None:
    """The ISO 639-3 macrolanguage containing this language (`arb` -> `ara`), or None."""
    iso3 = code.iso639_3 if isinstance(code, Language) else code
    macro = data_dicts.MACROLANGUAGES.get(iso3) or data_dicts.MACROLANGUAGES.get(_ALPHA2_OF.get(iso3, ""))
    if macro is None:
        individual_of = {v: k for k, v in MACRO_TO_INDIVIDUAL.items()}
        return individual_of.get(iso3)
    return data_dicts.LANGUAGE_ALPHA3.get(macro, macro)


def to_iso3(code: str | Language) -> str:
    """ISO 639-3 code of the individual language (`pt` -> `por`, `swa` -> `swh`)."""
    return resolve(code).iso639_3


def to_iso1(code: str | Language) -> str | None:
    """ISO 639-1 code, or None for languages that have none (`yue`)."""
    return resolve(code).iso639_1


def to_flores(code: str | Language, script: str | None = None) -> str:
    """Best-guess FLORES-200 code (`pt` -> `por_Latn`, `zh` -> `zho_Hans`).

    The script is the one in the code, else `script`, else the language's most likely script. To
    find a language among the folders of a real FLORES-style dataset, use `find_in`, which also
    matches FLORES's choice of variety (`pbt_Arab` for `ps`)."""
    lang = resolve(code)
    chosen = lang.script or script or _likely_script(lang)
    return f"{_FLORES_USES_MACRO.get(lang.iso639_3, lang.iso639_3)}_{chosen}"


def _likely_script(lang: Language) -> str:
    tag = langcodes.Language.get(lang.iso639_1 or lang.iso639_3)
    if lang.region:
        tag = tag.update_dict({"territory": lang.region})
    return tag.maximize().script or "Latn"


def same_language(a: str | Language, b: str | Language) -> bool:
    """True when two codes name the same individual language (`pt-BR` and `por_Latn`)."""
    return resolve(a).iso639_3 == resolve(b).iso639_3


def find_in(code: str | Language, available: Iterable[str]) -> str | None:
    """The entry of `available` (dataset folder names, any format) that names this language.

    An entry for the same individual language wins (preferring the script the code asked for).
    Failing that, when either side was written as a macrolanguage (`ps`, `pus`, `swa`), any
    language of that macrolanguage matches (`ps` finds `pbt_Arab`); a specific code (`ind`) never
    falls back to a sibling (`zsm`). Entries that are not language codes (`LICENSE`) are ignored.
    None when nothing matches."""
    lang = resolve(code)
    exact: list[tuple[str, Language]] = []
    related: list[tuple[str, Language]] = []
    for entry in available:
        try:
            other = resolve(entry)
        except UnknownLanguageError:
            continue
        if other.iso639_3 == lang.iso639_3:
            exact.append((entry, other))
        elif (
            lang.macrolanguage is not None
            and lang.macrolanguage == other.macrolanguage
            and (lang.macrolanguage in lang.aliases or lang.macrolanguage in other.aliases)
        ):
            related.append((entry, other))
    for group in (exact, related):
        if group:
            same_script = [entry for entry, other in group if lang.script and other.script == lang.script]
            return (same_script or [entry for entry, _ in group])[0]
    return None


@functools.lru_cache(maxsize=1)
def _registry() -> dict[str, str]:
    """ISO 639-3 code -> English name, for every language in the IANA registry langcodes ships."""
    from langcodes import registry_parser

    names: dict[str, str] = {}
    for entry in registry_parser.parse_registry():
        if entry.get("Type") != "language" or entry.get("Scope") in ("special", "private-use"):
            continue
        subtag = entry["Subtag"]
        if ".." in subtag:
            continue
        iso3 = data_dicts.LANGUAGE_ALPHA3.get(subtag, subtag)
        names.setdefault(iso3, entry["Description"][0])
        if len(subtag) == 2:
            names.setdefault(subtag, entry["Description"][0])
    return names


def suggest(code: str, among: Iterable[str] | None = None, n: int = 5) -> list[str]:
    """Close matches for a code or a language name, as `code (Name)` strings.

    `among` restricts the candidates to some ISO codes (for example the languages URIEL has)."""
    names = _registry()
    if among is not None:
        allowed = set(among)
        names = {c: name for c, name in names.items() if c in allowed}
    query = code.strip().lower()
    head = re.split(r"[-_]", query, maxsplit=1)[0]
    code_hits = difflib.get_close_matches(head, list(names), n=n, cutoff=0.6)
    by_name: dict[str, list[str]] = {}
    for c, name in names.items():
        by_name.setdefault(name.lower(), []).append(c)
    name_hits: list[str] = []
    if len(query) >= 3:
        for name in difflib.get_close_matches(query, list(by_name), n=n, cutoff=0.75):
            name_hits.extend(by_name[name])
        if len(query) >= 4:
            name_hits.extend(c for name, codes in by_name.items() if name.startswith(query) for c in codes)
    # A short query is more likely a mistyped code, a long one a language name.
    hits = code_hits + name_hits if len(head) <= 3 else name_hits + code_hits
    unique = list(dict.fromkeys(hits))
    # Prefer the short code when both spellings of one language matched.
    shown = [c for c in unique if not (len(c) == 3 and _ALPHA2_OF.get(c) in unique)]
    return [f"{c} ({names[c]})" for c in shown[:n]]


def _unknown_message(raw: str) -> str:
    hints = suggest(raw)
    hint = f"did you mean {', '.join(hints)}? " if hints else "no close match; "
    return (
        f"unknown language code {raw!r}: {hint}use an ISO 639-1/639-3 code (pt, por), "
        "a FLORES code (por_Latn) or a BCP-47 tag (pt-BR)"
    )
