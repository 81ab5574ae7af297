"""URIEL, the data behind the typological distances, and the six distances computed from it
(`langarith.languages.typology` is the public side: distance matrices and the choice of related languages).

Data. URIEL's feature vectors come from the PyPI package `lang2vec`, which ships them inside its
wheel (`lang2vec/data/*.npz`, 7970 languages) and needs no network. Its precomputed distance files
are *not* on PyPI (the GitHub version downloads them at run time), so the six distances are
recomputed here from the vectors, vectorised with numpy, following URIEL's published definitions:

- syntactic, phonological, inventory: angular distance between the `syntax_knn`,
  `phonology_knn` and `inventory_knn` vectors (103, 28 and 158 binary features). The `_knn` sets
  are URIEL's own imputation: features no source (WALS, SSWL, Ethnologue, PHOIBLE) records are
  predicted from the language's nearest neighbours, so every language has a full vector and no
  pair silently compares nothing. Angular distance is arccos(cosine similarity) / (pi/2); for
  these non-negative vectors it lies in [0, 1]. It is the metric URIEL+ uses by default, it obeys
  the triangle inequality, and its scale is close to the published URIEL distances the paper's
  0.7 threshold was set on (English-French syntactic: 0.40 here, 0.46 in lang2vec's documented
  example), where plain cosine distance squeezes the same pair to 0.19 and makes "< 0.7" select
  almost everything.
- featural: the same angular distance over all 289 typological features together (URIEL+'s
  definition of "featural").
- geographic: great-circle (orthodromic) distance divided by the antipodal distance, URIEL's
  definition, in [0, 1]. lang2vec ships no coordinates, only the `geo` vector: the normalised
  great-circle distance from the language to 299 fixed points named by their integer latitude
  and longitude (`GC_-83_42`). The position is recovered exactly in principle by least squares
  on cos(pi * d_i) = x . p_i; because the point names are rounded to whole degrees, the residual
  is at most 0.004 (about 80 km) for every real language. Codes with no location (`mis`, `und`)
  fail with NoTypologyError.
- genetic: from the `fam` vectors (membership in Glottolog families and subgroups). Each
  language's lineage is its set of ancestor groups plus itself as the leaf; the distance is
  1 - shared / max(len_a, len_b), the fraction of the longer root-to-leaf path the two do not
  share. Sisters in the same lowest subgroup get a small positive distance; languages with no
  common group, including isolates and the 676 URIEL languages with an empty lineage, get 1.
  This is an explicit reading of URIEL's tree-based genetic distance, not a copy of its numbers.

Macrolanguages. URIEL files much of its data under macrolanguage codes (WALS's "Arabic",
"Estonian", "Nepali" are `ara`, `est`, `nep`), and the individual code is often nearly empty
(`lvs` Standard Latvian: no observed feature and no lineage). For the individual language a
macrolanguage code stands for (codes.MACRO_TO_INDIVIDUAL: `arb` for `ara`), each feature block
comes from whichever of the two rows has more *observed* (not imputed) features, and any language
with an empty lineage takes its macrolanguage's lineage. `DistanceMatrix.sources` says which URIEL
row each value came from.

The reduced table is cached on disk (`paths.cache_dir("typology")`), keyed by `data_version()`.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import langarith
from langarith.core.errors import TypologyError, UnknownLanguageError
from langarith.core.paths import cache_dir, read_npz, write_npz
from langarith.languages.codes import MACRO_TO_INDIVIDUAL, Language, suggest

KINDS: tuple[str, ...] = ("syntactic", "geographic", "genetic", "phonological", "inventory", "featural")

# Bump when a distance definition or the cached layout changes: old cache files are then ignored.
_ALGORITHM_VERSION = 1
_BLOCKS = {"syntax": "S_", "phonology": "P_", "inventory": "INV_"}
_KIND_BLOCKS = {
    "syntactic": ("syntax",),
    "phonological": ("phonology",),
    "inventory": ("inventory",),
    "featural": ("syntax", "phonology", "inventory"),
}
_DATA_FILES = ("feature_predictions.npz", "features.npz", "family_features.npz", "geocoord_features.npz")


class NotInURIELError(TypologyError, UnknownLanguageError):
    """A valid language code that URIEL has no entry for; the message suggests URIEL languages."""


class NoTypologyError(TypologyError):
    """URIEL knows the language but lacks the data one distance needs (e.g. no location)."""


# ----------------------------------------------------------------------------------- URIEL table


@dataclass(frozen=True)
class Table:
    """lang2vec's data reduced to what the distances need, one row per URIEL language."""

    codes: np.ndarray  # (n,) ISO 639-3
    typology: np.ndarray  # (n, 289) uint8, kNN-imputed binary features
    columns: dict[str, np.ndarray]  # block -> column indices into `typology`
    observed: np.ndarray  # (n, 3) observed-feature counts for syntax, phonology, inventory
    lineage: np.ndarray  # (n, ceil(groups / 8)) packed bits: membership in Glottolog groups
    groups: int
    lineage_len: np.ndarray  # (n,)
    xyz: np.ndarray  # (n, 3) unit vectors of the recovered locations
    located: np.ndarray  # (n,) bool
    index: dict[str, int] = field(repr=False)


_tables: dict[str, Table] = {}


def _data_dir() -> Path:
    """lang2vec's data folder, found through its installed metadata rather than by importing it:
    the wheel also installs a `lang2vec.py` script that shadows the package when the scripts folder
    is first on sys.path (as under `.venv/bin/pytest`), and that script needs pkg_resources."""
    try:
        folder = Path(str(importlib.metadata.distribution("lang2vec").locate_file("lang2vec/data")))
    except importlib.metadata.PackageNotFoundError:
        folder = None
    if folder is None or not (folder / _DATA_FILES[0]).is_file():
        raise TypologyError(
            "URIEL data not found: install the lang2vec package (pip install lang2vec==1.1.2), "
            "which ships URIEL's feature vectors"
        )
    return folder


def data_version() -> str:
    """Key of everything a cached distance depends on: algorithm, langarith, lang2vec's data."""
    parts = [f"algorithm={_ALGORITHM_VERSION}", f"langarith={langarith.__version__}"]
    try:
        dist = importlib.metadata.distribution("lang2vec")
        parts.append(f"lang2vec={dist.version}")
        hashes = {str(f): f.hash.value for f in dist.files or () if f.hash and f.name in _DATA_FILES}
        parts.extend(f"{name}={value}" for name, value in sorted(hashes.items()))
    except importlib.metadata.PackageNotFoundError:
        pass
    if len(parts) < 3 + len(_DATA_FILES):  # no recorded hashes: fall back on sizes and times
        for name in _DATA_FILES:
            stat = (_data_dir() / name).stat()
            parts.append(f"{name}={stat.st_size}:{stat.st_mtime_ns}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def load_table() -> Table:
    key = data_version()
    if key in _tables:
        return _tables[key]
    path = cache_dir("typology", write=False) / f"uriel-{key}.npz"
    arrays = read_npz(path)
    if arrays is None:
        arrays = _build_table_arrays()
        write_npz(path, arrays)
    table = _table_from_arrays(arrays)
    _tables.clear()
    _tables[key] = table
    return table


def _build_table_arrays() -> dict[str, np.ndarray]:
    """Reduce lang2vec's 250 MB of float arrays to a few MB (the slow, cold path)."""
    data = _data_dir()
    with np.load(data / "feature_predictions.npz") as z:
        codes = z["langs"].astype("U3")
        feats = z["feats"]
        typology = (z["data"][:, :, 0] > 0.5).astype(np.uint8)
    order = {code: i for i, code in enumerate(codes)}
    with np.load(data / "features.npz") as z:
        if not np.array_equal(z["feats"], feats):
            raise TypologyError("lang2vec's features.npz and feature_predictions.npz disagree on features")
        observed_features = np.zeros(typology.shape, dtype=bool)
        observed_features[_reindex(z["langs"], order)] = (z["data"] >= 0).any(axis=2)
    blocks = [np.array([f.startswith(prefix) for f in feats]) for prefix in _BLOCKS.values()]
    observed = np.stack([observed_features[:, b].sum(axis=1) for b in blocks], axis=1).astype(np.int16)
    with np.load(data / "family_features.npz") as z:
        member = np.zeros((len(codes), z["feats"].shape[0]), dtype=bool)
        member[_reindex(z["langs"], order)] = z["data"][:, :, 0] > 0.5
    with np.load(data / "geocoord_features.npz") as z:
        geo = np.zeros((len(codes), z["feats"].shape[0]), dtype=np.float64)
        geo[_reindex(z["langs"], order)] = z["data"][:, :, 0]
        points = np.array([[float(v) for v in name[3:].split("_")] for name in z["feats"]])
    xyz, located = _locate(geo, points)
    return {
        "codes": codes,
        "feats": feats,
        "typology": typology,
        "observed": observed,
        "lineage": np.packbits(member, axis=1),
        "groups": np.array(member.shape[1]),
        "lineage_len": member.sum(axis=1).astype(np.int16),
        "xyz": xyz,
        "located": located,
    }


def _reindex(langs: np.ndarray, order: dict[str, int]) -> np.ndarray:
    try:
        return np.array([order[str(code)] for code in langs])
    except KeyError as err:
        raise TypologyError(f"lang2vec's data files list different languages ({err}); reinstall lang2vec") from err


def _locate(geo: np.ndarray, points_deg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions from distances to fixed points: for unit vectors, x . p_i = cos(pi * d_i)."""
    lat, lon = np.radians(points_deg[:, 0]), np.radians(points_deg[:, 1])
    anchors = np.stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)], axis=1)
    solution = np.linalg.lstsq(anchors, np.cos(np.pi * geo.T), rcond=None)[0].T
    norm = np.linalg.norm(solution, axis=1)
    xyz = solution / np.maximum(norm, 1e-12)[:, None]
    predicted = np.arccos(np.clip(xyz @ anchors.T, -1.0, 1.0)) / np.pi
    residual = np.abs(predicted - geo).max(axis=1)
    # A real location fits every anchor to within the rounding of the anchor names (< 0.005).
    located = (np.abs(norm - 1.0) < 0.05) & (residual < 0.02)
    return xyz, located


def _table_from_arrays(arrays: dict[str, np.ndarray]) -> Table:
    feats = arrays["feats"]
    columns = {block: np.flatnonzero([f.startswith(prefix) for f in feats]) for block, prefix in _BLOCKS.items()}
    codes = arrays["codes"]
    return Table(
        codes=codes,
        typology=arrays["typology"],
        columns=columns,
        observed=arrays["observed"],
        lineage=arrays["lineage"],
        groups=int(arrays["groups"]),
        lineage_len=arrays["lineage_len"],
        xyz=arrays["xyz"],
        located=arrays["located"],
        index={str(code): i for i, code in enumerate(codes)},
    )


def clear_memory_cache() -> None:
    """Forget the in-memory URIEL table (the disk cache stays), e.g. to time the warm path."""
    _tables.clear()


# ------------------------------------------------------------------------------- rows per language


def uriel_languages() -> list[str]:
    """ISO 639-3 codes of every language URIEL has an entry for."""
    return [str(code) for code in load_table().codes]


def rows_for(lang: Language, table: Table) -> dict[str, int]:
    """The URIEL row each block of this language's data comes from (see the module docstring)."""
    own = table.index.get(lang.iso639_3)
    macro_code = lang.macrolanguage
    macro = table.index.get(macro_code) if macro_code else None
    if own is None:
        own = next((table.index[a] for a in lang.aliases if a in table.index), macro)
    if own is None:
        hints = list(dict.fromkeys(suggest(lang.name, among=table.index) + suggest(lang.code, among=table.index)))
        hints = hints[:5]
        hint = f" Closest URIEL languages: {', '.join(hints)}." if hints else ""
        raise NotInURIELError(
            f"{lang.code} ({lang.name}, ISO 639-3 {lang.iso639_3}) is not in URIEL, so no typological "
            f"distance can be computed for it.{hint} Use one of those codes or drop it from the pool."
        )
    rows = {}
    stands_for_macro = macro is not None and MACRO_TO_INDIVIDUAL.get(macro_code or "") == lang.iso639_3
    for j, block in enumerate(_BLOCKS):
        better = stands_for_macro and table.observed[macro, j] > table.observed[own, j]
        rows[block] = macro if better else own
    borrow_lineage = table.lineage_len[own] == 0 and macro is not None and table.lineage_len[macro] > 0
    rows["lineage"] = macro if borrow_lineage else own
    rows["geo"] = own if table.located[own] or macro is None else macro
    return rows


def compute(table: Table, rows: list[dict[str, int]], identity: list[str], kinds: tuple[str, ...]) -> dict:
    """All requested matrices at once: a few matrix products, no Python loop over pairs."""
    values: dict[str, np.ndarray] = {}
    for kind in kinds:
        if kind == "geographic":
            _require_location(table, rows, identity)
            xyz = table.xyz[[r["geo"] for r in rows]]
            matrix = np.arccos(np.clip(xyz @ xyz.T, -1.0, 1.0)) / np.pi
        elif kind == "genetic":
            matrix = _genetic(table, [r["lineage"] for r in rows], identity)
        else:
            blocks = _KIND_BLOCKS[kind]
            vectors = np.concatenate(
                [table.typology[[r[b] for r in rows]][:, table.columns[b]] for b in blocks], axis=1
            ).astype(np.float64)
            matrix = _angular(vectors)
        same = np.equal.outer(np.array(identity), np.array(identity))
        matrix = np.clip((matrix + matrix.T) / 2.0, 0.0, 1.0)
        matrix[same] = 0.0
        values[kind] = matrix
    return values


def _angular(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1)
    if np.any(norms == 0):  # cannot happen with the kNN sets, which predict every feature
        raise NoTypologyError("a language has an all-zero typological vector; its angle is undefined")
    cosine = (vectors @ vectors.T) / np.outer(norms, norms)
    return np.arccos(np.clip(cosine, 0.0, 1.0)) / (np.pi / 2.0)


def _genetic(table: Table, lineage_rows: list[int], identity: list[str]) -> np.ndarray:
    member = np.unpackbits(table.lineage[lineage_rows], axis=1, count=table.groups).astype(np.float32)
    shared = member @ member.T + np.equal.outer(np.array(identity), np.array(identity))
    length = table.lineage_len[lineage_rows].astype(np.float64) + 1.0  # + the language itself
    return 1.0 - shared / np.maximum.outer(length, length)


def _require_location(table: Table, rows: list[dict[str, int]], identity: list[str]) -> None:
    missing = [code for code, r in zip(identity, rows, strict=True) if not table.located[r["geo"]]]
    if missing:
        raise NoTypologyError(
            f"URIEL has no location for {', '.join(missing)}, so no geographic distance; "
            "choose another distance kind or drop these languages"
        )
