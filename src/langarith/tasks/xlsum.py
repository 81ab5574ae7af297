"""XL-Sum, paper 1's summarisation task: a BBC article → its one-sentence summary; scored as headlines are
(SentencePiece-ROUGE-2 outside English, ROUGE-1/L, chrF, off-target rate).

XL-Sum is read through Hugging Face `datasets` from `csebuetnlp/xlsum`, one configuration per language
(`english`, `swahili`, `chinese_simplified`, …), or from a local folder laid out like that dataset's parquet
export (`<configuration>/<split>/*.parquet` with `text` and `summary` columns) — a plain path or `hf:/path`.
It is not in the shared data; MasakhaNEWS `headline` is the offline stand-in.
"""

from __future__ import annotations

from pathlib import Path

from langarith.languages.codes import find_in, resolve
from langarith.prompts import prompt, target
from langarith.tasks import Example, TaskError, hub_rows, is_hub, register
from langarith.tasks.headline import Headline

#: ISO 639-3 → the dataset's configuration, for its 45 languages (scripts below)
CONFIGS = {
    "amh": "amharic", "ara": "arabic", "aze": "azerbaijani", "ben": "bengali", "mya": "burmese",
    "zho": "chinese_simplified", "eng": "english", "fra": "french", "guj": "gujarati", "hau": "hausa",
    "hin": "hindi", "ibo": "igbo", "ind": "indonesian", "jpn": "japanese", "run": "kirundi", "kor": "korean",
    "kir": "kyrgyz", "mar": "marathi", "nep": "nepali", "orm": "oromo", "pus": "pashto", "fas": "persian",
    "pcm": "pidgin", "por": "portuguese", "pan": "punjabi", "rus": "russian", "gla": "scottish_gaelic",
    "srp": "serbian_cyrillic", "sin": "sinhala", "som": "somali", "spa": "spanish", "swa": "swahili",
    "tam": "tamil", "tel": "telugu", "tha": "thai", "tir": "tigrinya", "tur": "turkish", "ukr": "ukrainian",
    "urd": "urdu", "uzb": "uzbek", "vie": "vietnamese", "cym": "welsh", "yor": "yoruba",
}
#: (language, script) → the configuration of a second script
SCRIPTS = {("zho", "Hant"): "chinese_traditional", ("srp", "Latn"): "serbian_latin"}
COLUMNS = ("text", "summary")


def xlsum_config(language: str) -> str:
    """The configuration for `language` (`sw`/`swh` → swahili, `zh-Hant` → chinese_traditional)."""
    found = find_in(language, CONFIGS)
    if found is None:
        raise TaskError(f"XL-Sum has no {language!r}; it covers {', '.join(sorted(CONFIGS.values()))}")
    return SCRIPTS.get((found, resolve(language).script or ""), CONFIGS[found])


@register
class XlSum(Headline):
    name = "xlsum"
    dataset = "xlsum"
    max_new_tokens = 64

    def hub_config(self, language: str) -> str:
        return xlsum_config(language)

    def load(self, data: Path, language: str, split: str) -> list[Example]:
        where = data if is_hub(data) else f"hf:{Path(data).expanduser()}"
        if not is_hub(data) and not Path(data).expanduser().is_dir():
            raise TaskError(f"{data} is not a folder; xlsum reads csebuetnlp/xlsum's parquet export "
                            "(<configuration>/<split>/*.parquet) or hf:csebuetnlp/xlsum")
        config = self.hub_config(language)
        rows = hub_rows(where, config, split)
        missing = [c for c in COLUMNS if rows and c not in rows[0]]
        if missing:
            raise TaskError(f"{data} [{config}/{split}] has no {', '.join(missing)} column "
                            f"(columns: {', '.join(rows[0])}); XL-Sum rows have text and summary")
        empty = sum(1 for r in rows if not str(r["summary"]).strip())
        if empty:
            raise TaskError(f"{data} [{config}/{split}]: {empty} rows have an empty summary")
        return [Example(prompt("summary", text=" ".join(str(r["text"]).split())), target(str(r["summary"])),
                        gold=str(r["summary"]).strip()) for r in rows]
