"""Language-code resolution: every dataset spelling maps to one individual ISO 639-3 code."""

from __future__ import annotations

import pytest

from langarith.core.errors import UnknownLanguageError
from langarith.languages import codes


@pytest.mark.parametrize(
    ("code", "iso3", "iso1"),
    [
        ("pt", "por", "pt"),
        ("por", "por", "pt"),
        ("por_Latn", "por", "pt"),
        ("pt-BR", "por", "pt"),
        ("PT_br", "por", "pt"),
        ("swa", "swh", "sw"),
        ("sw", "swh", "sw"),
        ("swh_Latn", "swh", "sw"),
        ("ara", "arb", "ar"),
        ("ar", "arb", "ar"),
        ("fas", "pes", "fa"),
        ("zho", "cmn", "zh"),
        ("zho_Hans", "cmn", "zh"),
        ("zh-Hant", "cmn", "zh"),
        ("msa", "zsm", "ms"),
        ("est", "ekk", "et"),
        ("lav", "lvs", "lv"),
        ("nep", "npi", "ne"),
        ("npi_Deva", "npi", "ne"),
        ("uzb", "uzn", "uz"),
        ("orm", "gaz", "om"),
        ("no", "nob", "nb"),
        ("eng_Latn", "eng", "en"),
        ("yue", "yue", None),
        ("arz", "arz", None),
    ],
)
def test_codes_resolve_to_the_individual_language(code: str, iso3: str, iso1: str | None) -> None:
    lang = codes.resolve(code)
    assert lang.iso639_3 == iso3
    assert lang.iso639_1 == iso1
    assert lang.code == code  # printed back as the user wrote it
    assert str(lang) == code


def test_script_region_and_name_are_kept() -> None:
    flores = codes.resolve("por_Latn")
    assert (flores.script, flores.region, flores.name) == ("Latn", None, "Portuguese")
    bcp = codes.resolve("pt-BR")
    assert (bcp.script, bcp.region) == (None, "BR")
    assert codes.resolve("swa").name == "Swahili"


def test_old_and_bibliographic_codes() -> None:
    assert codes.to_iso3("fre") == "fra"
    assert codes.to_iso3("ger") == "deu"
    assert codes.to_iso3("chi") == "cmn"
    assert codes.resolve("iw").iso639_1 == "he"  # withdrawn ISO 639-1 code
    retired = codes.resolve("kzj")  # ISO merged Coastal Kadazan into Central Dusun
    assert retired.iso639_3 == "dtp" and retired.aliases == ("kzj",)
    # CLDR would rewrite these; ISO 639-3 and URIEL keep them apart.
    assert codes.to_iso3("tl") == "tgl"
    assert codes.resolve("tgl").name == "Tagalog"
    assert codes.to_iso3("sh") == "hbs"


def test_macrolanguage_links() -> None:
    assert codes.resolve("swa").aliases == ("swa",)
    assert codes.macrolanguage("arb") == "ara"
    assert codes.macrolanguage("arz") == "ara"
    assert codes.resolve("ne").macrolanguage == "nep"
    assert codes.macrolanguage("por") is None
    assert codes.MACRO_TO_INDIVIDUAL["zho"] == "cmn"


def test_same_language_across_formats() -> None:
    assert codes.same_language("pt-BR", "por_Latn")
    assert codes.same_language("swa", "swh")
    assert not codes.same_language("pt", "es")


@pytest.mark.parametrize(
    ("code", "flores"),
    [("pt", "por_Latn"), ("zh", "zho_Hans"), ("zh-Hant", "zho_Hant"), ("ne", "npi_Deva"), ("sw", "swh_Latn"),
     ("ar", "arb_Arab"), ("et", "est_Latn"), ("ja", "jpn_Jpan"), ("uk", "ukr_Cyrl")],
)  # fmt: skip
def test_to_flores(code: str, flores: str) -> None:
    assert codes.to_flores(code) == flores


SIB200 = ["LICENSE", "arb_Arab", "eng_Latn", "npi_Deva", "pes_Arab", "por_Latn", "swh_Latn", "zho_Hans"]


def test_find_in_dataset_folders() -> None:
    assert codes.find_in("zh", SIB200) == "zho_Hans"
    assert codes.find_in("nep", SIB200) == "npi_Deva"
    assert codes.find_in("fa", SIB200) == "pes_Arab"
    assert codes.find_in("pt-BR", SIB200) == "por_Latn"
    assert codes.find_in("swh", ["eng", "swa", "yor"]) == "swa"  # MasakhaNEWS uses the macrolanguage
    assert codes.find_in("ja", SIB200) is None
    # A macrolanguage matches any of its languages; a specific code never falls back to a sibling.
    assert codes.find_in("ps", ["pbt_Arab"]) == "pbt_Arab"
    assert codes.find_in("id", ["zsm_Latn"]) is None
    # The script the user asked for wins among entries for the same language.
    assert codes.find_in("zho_Hant", ["zho_Hans", "zho_Hant"]) == "zho_Hant"


@pytest.mark.parametrize("bad", ["xx", "porr", "portugese", "und", "mis", "qaa", "", "  ", "pt-", "12"])
def test_unknown_codes_are_typed_errors(bad: str) -> None:
    with pytest.raises(UnknownLanguageError) as info:
        codes.resolve(bad)
    assert isinstance(info.value, ValueError)
    assert "ISO 639" in str(info.value)  # says what to write instead


def test_unknown_codes_suggest_close_matches() -> None:
    with pytest.raises(UnknownLanguageError, match=r"did you mean .*pt \(Portuguese\)"):
        codes.resolve("portugese")
    with pytest.raises(UnknownLanguageError, match=r"por \(Portuguese\)"):
        codes.resolve("porr")
    with pytest.raises(UnknownLanguageError, match=r"es \(Spanish\)"):
        codes.resolve("spanich")
    assert codes.suggest("english")[0] == "en (English)"
