"""URIEL distances and related-language selection, checked against known facts about languages."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import langarith
from langarith.core.errors import TypologyError, UnknownLanguageError
from langarith.languages import typology, uriel
from langarith.languages.codes import resolve

POOL = ["pt", "es", "fr", "it", "en", "de", "ru", "ja", "ko", "zh", "ar", "sw", "hi", "ur", "tr", "fi"]
PAPER1_SEEN = ["ar", "bn", "en", "ja", "ko", "id", "sw", "ru", "te", "th", "tr"]
pytestmark = pytest.mark.usefixtures("isolated_cache")


@pytest.fixture(scope="module")
def matrix(shared_cache: Path) -> typology.DistanceMatrix:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LANGARITH_CACHE", str(shared_cache))
        return typology.distance_matrix(POOL)


@pytest.mark.parametrize("kind", typology.KINDS)
def test_matrices_are_symmetric_in_unit_range_with_zero_diagonal(matrix: typology.DistanceMatrix, kind: str) -> None:
    values = matrix[kind]
    assert values.shape == (len(POOL), len(POOL))
    assert np.array_equal(values, values.T)
    assert np.all(np.diag(values) == 0.0)
    assert values.min() >= 0.0 and values.max() <= 1.0
    off = values[~np.eye(len(POOL), dtype=bool)]
    assert off.min() > 0.0 or kind == "genetic"  # distinct languages differ; genetic may tie
    assert off.std() > 0.02  # not a constant or degenerate matrix


def test_portuguese_is_closer_to_spanish_than_to_japanese(matrix: typology.DistanceMatrix) -> None:
    for kind in ("syntactic", "geographic", "genetic", "featural"):
        assert matrix.get("pt", "es", kind) < matrix.get("pt", "ja", kind), kind
    assert matrix.get("pt", "es", "syntactic") < 0.3
    assert matrix.get("pt", "ja", "syntactic") > 0.6


def test_geographic_is_great_circle_over_antipodal(matrix: typology.DistanceMatrix) -> None:
    half_circumference_km = 20015.0
    assert matrix.get("pt", "es", "geographic") * half_circumference_km < 1000
    assert 7000 < matrix.get("en", "ja", "geographic") * half_circumference_km < 11000
    assert matrix.get("ja", "ko", "geographic") < matrix.get("ja", "zh", "geographic") + 0.05


def test_genetic_follows_the_family_tree(matrix: typology.DistanceMatrix) -> None:
    pt_es, pt_fr, pt_en, pt_ja = (matrix.get("pt", x, "genetic") for x in ("es", "fr", "en", "ja"))
    assert 0.0 < pt_es < pt_fr < pt_en < pt_ja == 1.0
    assert matrix.get("hi", "ur", "genetic") < 0.2
    assert matrix.get("ar", "sw", "genetic") == 1.0  # Afro-Asiatic vs Atlantic-Congo


def test_hindi_and_urdu_are_close_in_every_respect(matrix: typology.DistanceMatrix) -> None:
    for kind in ("syntactic", "geographic", "genetic", "featural"):
        assert matrix.get("hi", "ur", kind) < matrix.get("hi", "en", kind), kind
    assert matrix.get("hi", "ur", "syntactic") < 0.25


def test_lookup_by_any_spelling(matrix: typology.DistanceMatrix) -> None:
    assert matrix.get("por_Latn", "spa", "syntactic") == matrix.get("pt", "es", "syntactic")
    with pytest.raises(UnknownLanguageError, match="not one of the languages"):
        matrix.get("pt", "el")


def test_distance_helpers_agree_with_the_matrix(matrix: typology.DistanceMatrix) -> None:
    both = typology.distances("pt", "es")
    assert set(both) == set(typology.KINDS)
    assert both["syntactic"] == pytest.approx(matrix.get("pt", "es", "syntactic"))
    assert typology.distance("es", "pt", "geographic") == pytest.approx(matrix.get("pt", "es", "geographic"))


def test_same_language_in_two_spellings_is_at_distance_zero() -> None:
    m = typology.distance_matrix(["ara", "arb_Arab", "ar", "en"])
    for kind in typology.KINDS:
        assert m[kind][0, 1] == m[kind][0, 2] == 0.0
        assert m[kind][0, 3] > 0.0


def test_macrolanguage_data_fills_thin_individual_rows() -> None:
    # URIEL files Latvian data under `lav`; `lvs` alone has no observed feature and no lineage.
    m = typology.distance_matrix(["lv", "lt", "ja"])
    assert m.sources["lv"]["syntax"] == "lav" and m.sources["lv"]["lineage"] == "lav"
    assert m.get("lv", "lt", "genetic") < 0.5  # both Baltic, which the empty `lvs` lineage would hide
    assert m.sources["lt"]["syntax"] == "lit"


def test_unknown_and_uncovered_languages_are_typed_errors() -> None:
    with pytest.raises(UnknownLanguageError, match=r"did you mean"):
        typology.distance_matrix(["pt", "portugese"])
    with pytest.raises(typology.NotInURIELError, match=r"ber .*not in URIEL") as info:
        typology.distance_matrix(["pt", "ber"])  # a valid ISO 639-2 collection code URIEL lacks
    assert isinstance(info.value, TypologyError) and isinstance(info.value, UnknownLanguageError)
    with pytest.raises(typology.SelectionError, match="unknown distance kind"):
        typology.distance_matrix(["pt", "es"], kinds=["lexical"])


def test_missing_location_is_an_error_not_a_zero(monkeypatch: pytest.MonkeyPatch) -> None:
    table = uriel.load_table()
    located = table.located.copy()
    located[table.index["jpn"]] = False
    monkeypatch.setattr(uriel, "_tables", {typology.data_version(): _replace(table, located=located)})
    with pytest.raises(typology.NoTypologyError, match="no location for jpn"):
        typology.distance_matrix(["pt", "ja"], kinds=["geographic"])


def _replace(table: object, **changes: object) -> object:
    import dataclasses

    return dataclasses.replace(table, **changes)  # type: ignore[type-var]


# ------------------------------------------------------------------------------------------ rules


def test_paper_rule_applies_both_thresholds() -> None:
    result = typology.related("pt", ["es", "ja", "en", "fr", "ru", "ko", "sw"], "paper")
    assert "es" in result.codes and "fr" in result.codes
    assert "ja" not in result.codes and "ko" not in result.codes
    for lang in result.candidates:
        d = result.distances[lang.code]
        passes = d["syntactic"] < 0.7 and d["geographic"] < 0.3
        assert passes == (lang in result.related), lang.code
    syntactic = [result.distances[c]["syntactic"] for c in result.codes]
    assert syntactic == sorted(syntactic)
    assert set(result.distances) == {"es", "ja", "en", "fr", "ru", "ko", "sw"}


def test_paper_rule_thresholds_are_configurable() -> None:
    loose = typology.related("pt", PAPER1_SEEN, "paper", max_geographic=1.0)
    default = typology.related("pt", PAPER1_SEEN, "paper")
    assert set(default.codes) < set(loose.codes)
    tight = typology.related("pt", PAPER1_SEEN, "paper", max_syntactic=0.34)
    assert tight.codes == ["ru"]


def test_empty_selection_says_so_and_suggests_candidates() -> None:
    result = typology.related("ja", ["pt", "es", "sw"], "paper")
    assert result.related == ()
    assert "No pool language" in result.message
    assert len(result.nearest) == 3
    assert all(lang.code in result.message for lang in result.nearest)
    data = result.to_json()
    assert data["related"] == [] and data["nearest"] == [lang.code for lang in result.nearest]


def test_top_k_by_chosen_kind() -> None:
    result = typology.related("pt", ["ja", "es", "ru", "fr", "en"], "top-k", k=2, kind="geographic")
    assert result.codes == ["es", "fr"]
    geo = [result.distances[lang.code]["geographic"] for lang in result.candidates]
    assert geo == sorted(geo)
    too_many = typology.related("pt", ["ja", "es"], "top-k", k=5)
    assert len(too_many.related) == 2 and "only 2" in too_many.message


def test_nearest_is_one_language() -> None:
    assert typology.related("pt", ["ja", "es", "en"], "nearest").codes == ["es"]
    assert typology.related("uk", PAPER1_SEEN, "nearest", kind="genetic").codes == ["ru"]
    assert typology.related("hi", ["ja", "ur", "en"], "nearest", kind="syntactic").codes == ["ur"]


def test_ties_break_deterministically() -> None:
    # No Sino-Tibetan language in the pool: every genetic distance is 1.0, syntactic decides.
    pool = ["tr", "en", "ja", "ko", "ar"]
    result = typology.related("zh", pool, "top-k", k=5, kind="genetic")
    assert {result.distances[c]["genetic"] for c in result.codes} == {1.0}
    syntactic = [result.distances[c]["syntactic"] for c in result.codes]
    assert syntactic == sorted(syntactic)
    assert typology.related("zh", list(reversed(pool)), "top-k", k=5, kind="genetic").codes == result.codes


def test_target_and_duplicates_leave_the_pool() -> None:
    result = typology.related("pt", ["por", "es", "spa", "es-MX", "pt-BR", "fr"], "top-k", k=10)
    assert result.codes == ["es", "fr"]  # first spelling of each language, target dropped
    with pytest.raises(typology.SelectionError, match="no language other than the target"):
        typology.related("pt", ["por_Latn", "pt-BR"])


def test_bad_queries_are_typed_errors() -> None:
    with pytest.raises(typology.SelectionError, match="unknown rule"):
        typology.related("pt", ["es"], "closest")
    with pytest.raises(typology.SelectionError, match="k must be"):
        typology.related("pt", ["es"], "top-k", k=0)
    with pytest.raises(typology.SelectionError, match="max_geographic"):
        typology.related("pt", ["es"], max_geographic=3.0)
    with pytest.raises(UnknownLanguageError):
        typology.related("pt", ["es", "xx"])


# ------------------------------------------------------------------------------- cache and speed


def test_cache_is_reused_and_invalidated_by_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LANGARITH_CACHE", str(tmp_path))
    calls = {"build": 0, "compute": 0}
    real_build, real_compute = uriel._build_table_arrays, uriel.compute
    built: dict[str, object] = {}

    def build():  # count builds; pay for the real one only once in this test
        calls["build"] += 1
        if "arrays" not in built:
            built["arrays"] = real_build()
        return built["arrays"]

    def compute(*args, **kwargs):
        calls["compute"] += 1
        return real_compute(*args, **kwargs)

    monkeypatch.setattr(uriel, "_build_table_arrays", build)
    monkeypatch.setattr(uriel, "compute", compute)
    monkeypatch.setattr(uriel, "_tables", {})
    folder = tmp_path / "typology"

    first = typology.distance_matrix(["pt", "es", "ja"])
    assert calls == {"build": 1, "compute": 1}
    assert len(list(folder.glob("uriel-*.npz"))) == 1 and len(list(folder.glob("matrix-*.npz"))) == 1

    uriel.clear_memory_cache()
    again = typology.distance_matrix(["pt", "es", "ja"])
    assert calls == {"build": 1, "compute": 1}  # both read back from disk
    for kind in typology.KINDS:
        assert np.array_equal(first[kind], again[kind])

    typology.distance_matrix(["pt", "es", "en"])  # another pool: new matrix, same table
    assert calls == {"build": 1, "compute": 2}

    old_key = typology.data_version()
    monkeypatch.setattr(uriel, "_ALGORITHM_VERSION", uriel._ALGORITHM_VERSION + 1)
    assert typology.data_version() != old_key
    typology.distance_matrix(["pt", "es", "ja"])
    assert calls == {"build": 2, "compute": 3}  # a code change invalidates table and matrices
    assert len(list(folder.glob("uriel-*.npz"))) == 2

    monkeypatch.setattr(langarith, "__version__", "999.0")
    typology.distance_matrix(["pt", "es", "ja"])
    assert calls == {"build": 3, "compute": 4}  # so does a new langarith release

    for path in folder.glob("matrix-*.npz"):
        path.write_bytes(b"not an npz")  # a damaged cache file is rebuilt, not trusted
    typology.distance_matrix(["pt", "es", "ja"])
    assert calls["compute"] == 5


def test_data_version_tracks_the_uriel_data_files() -> None:
    import importlib.metadata

    hashed = [f for f in importlib.metadata.distribution("lang2vec").files or () if f.name.endswith(".npz")]
    assert hashed and all(f.hash is not None for f in hashed)  # the key includes their sha256


def test_200_languages_by_6_kinds_is_fast_when_warm() -> None:
    table = uriel.load_table()
    codes = [c for c in typology.uriel_languages()[::30] if table.located[table.index[c]] and _resolves(c)][:200]
    assert len(codes) == 200
    typology.distance_matrix(codes)  # cold for this pool (table already built)
    uriel.clear_memory_cache()
    start = time.perf_counter()
    matrix = typology.distance_matrix(codes)
    elapsed = time.perf_counter() - start
    assert elapsed < 2.0, f"warm 200x6 took {elapsed:.2f}s"
    assert all(matrix[kind].shape == (200, 200) for kind in typology.KINDS)


def _resolves(code: str) -> bool:
    try:
        resolve(code)
    except UnknownLanguageError:
        return False
    return True


def test_modules_import_without_torch() -> None:
    code = (
        "import sys\n"
        "import langarith.languages.codes, langarith.languages.typology, langarith.cli.typology\n"
        "heavy = [m for m in ('torch', 'transformers', 'matplotlib') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
