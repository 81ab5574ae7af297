"""analysis: the numbers behind the figures (cosine, density, distance against cosine, ΔW updates) against
numpy by hand."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from conftest import languaged, synthetic_lora

from langarith.analysis import measures as analysis
from langarith.arith.module import Module
from langarith.core.errors import IncompatibleModulesError
from langarith.languages.typology import distance


def module(tensors: dict[str, np.ndarray], **meta) -> Module:
    return Module(tensors={k: np.asarray(v, dtype=np.float32) for k, v in tensors.items()}, kind="lora",
                  format="peft", config={"peft_type": "LORA"}, **meta)


def flat(m: Module, keys: list[str]) -> np.ndarray:
    return np.concatenate([m.tensors[k].reshape(-1).astype(np.float64) for k in keys])


def test_cosine_identical_negated_orthogonal() -> None:
    a = synthetic_lora(1, label="a")
    neg = a.with_tensors({k: -v for k, v in a.tensors.items()}, name="neg")
    x = module({"w": [[1.0, 0.0], [0.0, 0.0]]}, name="x")
    y = module({"w": [[0.0, 2.0], [0.0, 0.0]]}, name="y")
    labels, cos = analysis.cosine_matrix([a, neg, a.with_tensors(dict(a.tensors), name="a2")])
    assert labels == ["a", "neg", "a2"]
    np.testing.assert_allclose(cos, [[1, -1, 1], [-1, 1, -1], [1, -1, 1]], atol=1e-12)
    _, cos = analysis.cosine_matrix([x, y])
    np.testing.assert_allclose(cos, [[1, 0], [0, 1]], atol=1e-12)


def test_cosine_matches_numpy_over_shared_tensors() -> None:
    a, b = synthetic_lora(1, label="a"), synthetic_lora(2, label="b")
    keys = sorted(a.tensors)
    extra = {**b.tensors, "only_in_c": np.ones((3, 3), dtype=np.float32)}
    c = b.with_tensors(extra, name="c")
    del c.tensors["l0.lora_A.weight"]  # c lacks one tensor a has: compared over the rest
    _, cos = analysis.cosine_matrix([a, b, c])
    va, vb = flat(a, keys), flat(b, keys)
    assert cos[0, 1] == pytest.approx(va @ vb / np.linalg.norm(va) / np.linalg.norm(vb), rel=1e-9)
    shared = [k for k in keys if k != "l0.lora_A.weight"]
    va, vc = flat(a, shared), flat(c, shared)
    assert cos[0, 2] == pytest.approx(va @ vc / np.linalg.norm(va) / np.linalg.norm(vc), rel=1e-9)
    assert cos[1, 2] == pytest.approx(1.0)  # b and c agree on every tensor they share
    np.testing.assert_allclose(cos, cos.T)


def test_modules_of_different_layouts_are_compared_within_each_layout() -> None:
    """MAD-X's language and task adapters differ in shape: each layout's cosine as alone, NaN between."""
    langs = [synthetic_lora(i, rank=3, label=f"l{i}") for i in (1, 2)]
    tasks = [synthetic_lora(i, rank=4, label=f"t{i}") for i in (3, 4)]
    labels, cos = analysis.cosine_by_shape([langs[0], tasks[0], langs[1], tasks[1]])
    assert labels == ["l1", "t3", "l2", "t4"]
    np.testing.assert_array_equal(cos[np.ix_([0, 2], [0, 2])], analysis.cosine_matrix(langs)[1])
    np.testing.assert_array_equal(cos[np.ix_([1, 3], [1, 3])], analysis.cosine_matrix(tasks)[1])
    assert np.isnan(cos[np.ix_([0, 2], [1, 3])]).all() and np.isnan(cos[np.ix_([1, 3], [0, 2])]).all()


def test_roles_agree_is_pearson_over_the_languages_both_roles_have() -> None:
    codes = ["en", "de", "fr", "sw"]
    mods = [Module(tensors={}, kind="lora", format="peft", config={}, role=role, language=code)
            for role in ("language", "task") for code in codes]
    rng = np.random.default_rng(0)
    cos = rng.uniform(-1, 1, (8, 8))
    cos = (cos + cos.T) / 2  # a cosine matrix is symmetric
    found = analysis.roles_agree(mods, cos)
    pairs = [(a, b) for n, a in enumerate(range(4)) for b in range(n + 1, 4)]
    expected = np.corrcoef([cos[a, b] for a, b in pairs], [cos[4 + a, 4 + b] for a, b in pairs])[0, 1]
    assert found["languages"] == sorted(codes) and found["pairs"] == 6
    assert found["pearson_r"] == pytest.approx(expected)
    assert analysis.roles_agree(mods[:2] + mods[4:6], cos) is None  # fewer than three languages in common


def test_zero_module_has_undefined_cosine() -> None:
    a = synthetic_lora(1, label="a")
    zero = a.with_tensors({k: np.zeros_like(v) for k, v in a.tensors.items()}, name="zero")
    _, cos = analysis.cosine_matrix([a, zero])
    assert cos[0, 0] == pytest.approx(1.0)
    assert math.isnan(cos[0, 1]) and math.isnan(cos[1, 1])


def test_cosine_errors_name_both_modules() -> None:
    a = synthetic_lora(1, rank=3, label="rank3")
    b = synthetic_lora(2, rank=4, label="rank4")
    mismatch = r"rank3 and rank4 .*'l0\.lora_A\.weight'.*\(3, 7\) and \(4, 7\)"
    with pytest.raises(IncompatibleModulesError, match=mismatch):
        analysis.cosine_matrix([a, b])
    other = module({"adapter.down": np.ones((2, 2))}, name="bottleneck")
    with pytest.raises(IncompatibleModulesError, match="rank3 and bottleneck share no tensor names"):
        analysis.cosine_matrix([a, other])
    with pytest.raises(analysis.AnalysisError, match="no modules"):
        analysis.cosine_matrix([])


def test_labels_fall_back_and_stay_unique() -> None:
    t = {"w": np.ones((2, 2))}
    mods = [
        module(t, name="named", language="pt"),
        module(t, language="pt", role="language"),
        module(t, language="pt", role="task"),
        module(t, source=Path("/x/task_sw")),
        module(t, source=Path("/y/task_sw")),
        module(t),
    ]
    assert analysis.module_labels(mods) == ["named", "pt (language)", "pt (task)", "x/task_sw", "y/task_sw", "module 6"]


def test_density_stats_by_hand() -> None:
    m = module({"a": [0.0, 1e-4, 5e-3], "b": [[0.5, -2.0]]})
    stats = analysis.density_stats(m)
    assert stats["num_params"] == 5 and stats["max_abs"] == pytest.approx(2.0)
    assert stats["share_zero"] == pytest.approx(1 / 5)
    assert stats["share_below_1e-3"] == pytest.approx(2 / 5)  # 0 and 1e-4 are below 2e-3
    assert stats["share_below_1e-2"] == pytest.approx(3 / 5)  # ... and 5e-3 below 2e-2
    assert stats["mean_abs"] == pytest.approx((1e-4 + 5e-3 + 0.5 + 2.0) / 5, rel=1e-6)
    assert analysis.density_stats(module({"a": np.zeros(4)}))["share_below_1e-3"] == 1.0
    with pytest.raises(analysis.AnalysisError, match="empty-one has no parameters"):
        analysis.density_stats(module({}, name="empty-one"))


def test_mean_pairwise_and_between() -> None:
    matrix = np.array([[1.0, 0.2, 0.4, 0.0], [0.2, 1.0, 0.3, 0.1], [0.4, 0.3, 1.0, np.nan], [0.0, 0.1, np.nan, 1.0]])
    assert analysis.mean_pairwise(matrix, [0, 1, 2]) == pytest.approx(0.3)
    assert analysis.mean_pairwise(matrix, [2]) is None
    assert analysis.mean_pairwise(matrix, [2, 3]) is None  # the only pair is undefined
    assert analysis.mean_between(matrix, [0, 1], [3]) == pytest.approx(0.05)


@pytest.mark.usefixtures("isolated_cache")
def test_distance_cosine_pairs_skips_languages_unknown_to_uriel() -> None:
    mods = languaged([(1, "pt", "language"), (2, "es", "language"), (3, "ja", "task"), (4, "art", "task")])
    data = analysis.distance_cosine_pairs(mods, "syntactic")
    assert [(p["a"], p["b"]) for p in data.pairs] == [("pt", "es"), ("pt", "ja"), ("es", "ja")]
    assert data.skipped_pairs == 3 and list(data.unknown) == ["art"] and "not in URIEL" in data.unknown["art"]
    _, cos = analysis.cosine_matrix(mods)
    assert data.pairs[0]["distance"] == pytest.approx(distance("pt", "es", "syntactic"))
    assert data.pairs[1]["cosine"] == pytest.approx(cos[0, 2])
    assert data.pairs[2]["group"] == "language–task"
    assert data.groups() == ["language–language", "language–task"]  # same-role pairs first, never pooled
    mixed = [p for p in data.pairs if p["group"] == "language–task"]
    assert data.pearson_r["language–task"] is None and len(mixed) == 2  # two pairs give no r
    assert data.pearson_r["language–language"] is None
    with pytest.raises(analysis.NotEnoughLanguagesError, match="1 of 2 modules have a language"):
        analysis.distance_cosine_pairs([mods[0], synthetic_lora(9)])
    with pytest.raises(analysis.NotEnoughLanguagesError, match="URIEL knows the language of 1 of the 2"):
        analysis.distance_cosine_pairs([mods[0], mods[3]])


@pytest.mark.usefixtures("isolated_cache")
def test_pearson_r_is_computed_within_each_pair_type(tmp_path) -> None:
    mods = languaged([(1, "pt", "language"), (2, "es", "language"), (3, "ja", "language"),
                      (4, "pt", "task"), (5, "es", "task"), (6, "ja", "task")])
    data = analysis.distance_cosine_pairs(mods, "syntactic")
    assert data.groups() == ["language–language", "task–task", "language–task"]
    for group in data.groups():
        members = [p for p in data.pairs if p["group"] == group]
        want = np.corrcoef([p["distance"] for p in members], [p["cosine"] for p in members])[0, 1]
        assert data.pearson_r[group] == pytest.approx(want)
    from langarith.analysis.plots import distance_vs_cosine

    assert distance_vs_cosine(data, tmp_path / "d.png").stat().st_size > 5000


def test_lora_modules_are_compared_by_their_update_not_their_shared_start() -> None:
    from langarith.arith.lowrank import lora_delta

    a, b = synthetic_lora(1, label="a"), synthetic_lora(2, label="b")
    for layer, pair in b.lora.items():  # b starts where a starts: same A, different B
        b.tensors[pair.a] = a.tensors[a.lora[layer].a].copy()
    _, raw = analysis.cosine_matrix([a, b])
    _, upd = analysis.cosine_matrix([analysis.as_updates(a), analysis.as_updates(b)])
    da = np.concatenate([lora_delta(a, k).ravel() for k in a.lora])
    db = np.concatenate([lora_delta(b, k).ravel() for k in b.lora])
    assert upd[0, 1] == pytest.approx(da @ db / np.linalg.norm(da) / np.linalg.norm(db), abs=1e-5)
    assert raw[0, 1] > upd[0, 1] + 0.2  # the shared A inflates the factor cosine
    assert analysis.as_updates(upd_module := synthetic_lora(3)).lora == {} and upd_module.lora
