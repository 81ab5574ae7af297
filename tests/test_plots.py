"""plots: the numbers behind the figures against numpy by hand, and every figure as a real,
non-blank PNG."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from conftest import synthetic_lora

from langarith import plots
from langarith.errors import IncompatibleModulesError
from langarith.module import Module
from langarith.typology import distance

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def module(tensors: dict[str, np.ndarray], **meta) -> Module:
    return Module(tensors={k: np.asarray(v, dtype=np.float32) for k, v in tensors.items()}, kind="lora",
                  format="peft", config={"peft_type": "LORA"}, **meta)


def flat(m: Module, keys: list[str]) -> np.ndarray:
    return np.concatenate([m.tensors[k].reshape(-1).astype(np.float64) for k in keys])


def assert_png(path: Path) -> np.ndarray:
    """A PNG that is more than a blank canvas: valid header, some size, varied pixels."""
    import matplotlib.image

    assert path.is_file()
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    assert len(data) > 10_000
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[0] > 300 and image.shape[1] > 300
    assert float(image[..., :3].var()) > 1e-3
    rgb = np.round(image[..., :3] * 255).astype(np.uint32)
    colours = np.unique((rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2])
    assert colours.size > 20  # colours, not just black on white
    return image


def test_cosine_identical_negated_orthogonal() -> None:
    a = synthetic_lora(1, label="a")
    neg = a.with_tensors({k: -v for k, v in a.tensors.items()}, name="neg")
    x = module({"w": [[1.0, 0.0], [0.0, 0.0]]}, name="x")
    y = module({"w": [[0.0, 2.0], [0.0, 0.0]]}, name="y")
    labels, cos = plots.cosine_matrix([a, neg, a.with_tensors(dict(a.tensors), name="a2")])
    assert labels == ["a", "neg", "a2"]
    np.testing.assert_allclose(cos, [[1, -1, 1], [-1, 1, -1], [1, -1, 1]], atol=1e-12)
    _, cos = plots.cosine_matrix([x, y])
    np.testing.assert_allclose(cos, [[1, 0], [0, 1]], atol=1e-12)


def test_cosine_matches_numpy_over_shared_tensors() -> None:
    a, b = synthetic_lora(1, label="a"), synthetic_lora(2, label="b")
    keys = sorted(a.tensors)
    extra = {**b.tensors, "only_in_c": np.ones((3, 3), dtype=np.float32)}
    c = b.with_tensors(extra, name="c")
    del c.tensors["l0.lora_A.weight"]  # c lacks one tensor a has: compared over the rest
    _, cos = plots.cosine_matrix([a, b, c])
    va, vb = flat(a, keys), flat(b, keys)
    assert cos[0, 1] == pytest.approx(va @ vb / np.linalg.norm(va) / np.linalg.norm(vb), rel=1e-9)
    shared = [k for k in keys if k != "l0.lora_A.weight"]
    va, vc = flat(a, shared), flat(c, shared)
    assert cos[0, 2] == pytest.approx(va @ vc / np.linalg.norm(va) / np.linalg.norm(vc), rel=1e-9)
    assert cos[1, 2] == pytest.approx(1.0)  # b and c agree on every tensor they share
    np.testing.assert_allclose(cos, cos.T)


def test_zero_module_has_undefined_cosine() -> None:
    a = synthetic_lora(1, label="a")
    zero = a.with_tensors({k: np.zeros_like(v) for k, v in a.tensors.items()}, name="zero")
    _, cos = plots.cosine_matrix([a, zero])
    assert cos[0, 0] == pytest.approx(1.0)
    assert math.isnan(cos[0, 1]) and math.isnan(cos[1, 1])


def test_cosine_errors_name_both_modules() -> None:
    a = synthetic_lora(1, rank=3, label="rank3")
    b = synthetic_lora(2, rank=4, label="rank4")
    mismatch = r"rank3 and rank4 .*'l0\.lora_A\.weight'.*\(3, 7\) and \(4, 7\)"
    with pytest.raises(IncompatibleModulesError, match=mismatch):
        plots.cosine_matrix([a, b])
    other = module({"adapter.down": np.ones((2, 2))}, name="bottleneck")
    with pytest.raises(IncompatibleModulesError, match="rank3 and bottleneck share no tensor names"):
        plots.cosine_matrix([a, other])
    with pytest.raises(plots.AnalysisError, match="no modules"):
        plots.cosine_matrix([])


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
    assert plots.module_labels(mods) == ["named", "pt (language)", "pt (task)", "x/task_sw", "y/task_sw", "module 6"]


def test_density_stats_by_hand() -> None:
    m = module({"a": [0.0, 1e-4, 5e-3], "b": [[0.5, -2.0]]})
    stats = plots.density_stats(m)
    assert stats["num_params"] == 5 and stats["max_abs"] == pytest.approx(2.0)
    assert stats["share_zero"] == pytest.approx(1 / 5)
    assert stats["share_below_1e-3"] == pytest.approx(2 / 5)  # 0 and 1e-4 are below 2e-3
    assert stats["share_below_1e-2"] == pytest.approx(3 / 5)  # ... and 5e-3 below 2e-2
    assert stats["mean_abs"] == pytest.approx((1e-4 + 5e-3 + 0.5 + 2.0) / 5, rel=1e-6)
    assert plots.density_stats(module({"a": np.zeros(4)}))["share_below_1e-3"] == 1.0
    with pytest.raises(plots.AnalysisError, match="empty-one has no parameters"):
        plots.density_stats(module({}, name="empty-one"))


def test_mean_pairwise_and_between() -> None:
    matrix = np.array([[1.0, 0.2, 0.4, 0.0], [0.2, 1.0, 0.3, 0.1], [0.4, 0.3, 1.0, np.nan], [0.0, 0.1, np.nan, 1.0]])
    assert plots.mean_pairwise(matrix, [0, 1, 2]) == pytest.approx(0.3)
    assert plots.mean_pairwise(matrix, [2]) is None
    assert plots.mean_pairwise(matrix, [2, 3]) is None  # the only pair is undefined
    assert plots.mean_between(matrix, [0, 1], [3]) == pytest.approx(0.05)


def test_best_point() -> None:
    points = [(0.0, 50.0), (0.5, 53.0), (0.3, 53.0), (1.0, float("nan"))]
    assert plots.best_point(points) == (0.5, 53.0)
    assert plots.best_point(points, higher_is_better=False) == (0.0, 50.0)
    assert plots.best_point([(0.1, float("nan"))]) is None


def languaged(seeds_langs_roles: list[tuple[int, str, str]]) -> list[Module]:
    return [synthetic_lora(seed, label=None).with_tensors(synthetic_lora(seed).tensors, name=None, language=lang,
                                                        role=role) for seed, lang, role in seeds_langs_roles]


@pytest.mark.usefixtures("isolated_cache")
def test_distance_cosine_pairs_skips_languages_unknown_to_uriel() -> None:
    mods = languaged([(1, "pt", "language"), (2, "es", "language"), (3, "ja", "task"), (4, "art", "task")])
    data = plots.distance_cosine_pairs(mods, "syntactic")
    assert [(p["a"], p["b"]) for p in data.pairs] == [("pt", "es"), ("pt", "ja"), ("es", "ja")]
    assert data.skipped_pairs == 3 and list(data.unknown) == ["art"] and "not in URIEL" in data.unknown["art"]
    _, cos = plots.cosine_matrix(mods)
    assert data.pairs[0]["distance"] == pytest.approx(distance("pt", "es", "syntactic"))
    assert data.pairs[1]["cosine"] == pytest.approx(cos[0, 2])
    assert data.pairs[2]["group"] == "language–task"
    xs, ys = [p["distance"] for p in data.pairs], [p["cosine"] for p in data.pairs]
    assert data.pearson_r == pytest.approx(np.corrcoef(xs, ys)[0, 1])
    with pytest.raises(plots.NotEnoughLanguagesError, match="1 of 2 modules have a language"):
        plots.distance_cosine_pairs([mods[0], synthetic_lora(9)])
    with pytest.raises(plots.NotEnoughLanguagesError, match="URIEL knows the language of 1 of the 2"):
        plots.distance_cosine_pairs([mods[0], mods[3]])


def test_improvement_heatmap_png_with_grey_missing_cell(tmp_path: Path) -> None:
    values = {(row, col): float(i * 3 - 10) for i, (row, col) in enumerate(
        (r, c) for r in ("en", "de", "ru") for c in ("pt", "es", "sw", "yo"))}
    values[("de", "yo")] = float("nan")
    image = assert_png(plots.improvement_heatmap(values, tmp_path / "sub" / "improve.png"))
    grey = np.all(np.abs(image[..., :3] - 211 / 255) < 0.01, axis=-1)
    assert grey.sum() > 500  # the NaN cell is drawn, in light grey
    with pytest.raises(plots.AnalysisError):
        plots.improvement_heatmap({}, tmp_path / "none.png")


def test_lambda_curves_png(tmp_path: Path) -> None:
    lams = [i / 10 for i in range(11)]
    curves = {"add-subtract": [(x, 50 + 10 * x - 8 * x * x) for x in lams], "la": [(x, 49 + 3 * x) for x in lams]}
    assert_png(plots.lambda_curves(curves, {"zero-shot": 50.0, "task only": 51.5}, tmp_path / "lambda.png"))
    with pytest.raises(plots.AnalysisError, match="'empty' has no"):
        plots.lambda_curves({"empty": []}, {}, tmp_path / "x.png")


def test_cosine_heatmap_and_density_png(tmp_path: Path) -> None:
    mods = languaged([(1, "pt", "language"), (2, "es", "language"), (3, "en", "task")])
    assert plots.cosine_heatmap(mods, tmp_path / "cos.png") == tmp_path / "cos.png"
    assert_png(tmp_path / "cos.png")
    assert_png(plots.density_plot(mods, tmp_path / "density.png"))
    many = [synthetic_lora(i, layers=1, label=f"m{i}") for i in range(18)]  # no annotations, role-only legend
    assert_png(plots.cosine_heatmap(many, tmp_path / "cos_many.png"))
    assert_png(plots.density_plot(many, tmp_path / "density_many.png"))


@pytest.mark.usefixtures("isolated_cache")
def test_distance_vs_cosine_png(tmp_path: Path) -> None:
    mods = languaged([(1, "pt", "language"), (2, "es", "language"), (3, "ja", "task"), (4, "sw", "task")])
    assert_png(plots.distance_vs_cosine(mods, tmp_path / "dist.png", kind="genetic"))
    with pytest.raises(plots.NotEnoughLanguagesError):
        plots.distance_vs_cosine(mods[:1], tmp_path / "none.png")
    assert not (tmp_path / "none.png").exists()


def test_lora_modules_are_compared_by_their_update_not_their_shared_start() -> None:
    from langarith.algebra import lora_delta

    a, b = synthetic_lora(1, label="a"), synthetic_lora(2, label="b")
    for layer, pair in b.lora.items():  # b starts where a starts: same A, different B
        b.tensors[pair.a] = a.tensors[a.lora[layer].a].copy()
    _, raw = plots.cosine_matrix([a, b])
    _, upd = plots.cosine_matrix([plots.as_updates(a), plots.as_updates(b)])
    da = np.concatenate([lora_delta(a, k).ravel() for k in a.lora])
    db = np.concatenate([lora_delta(b, k).ravel() for k in b.lora])
    assert upd[0, 1] == pytest.approx(da @ db / np.linalg.norm(da) / np.linalg.norm(db), abs=1e-5)
    assert raw[0, 1] > upd[0, 1] + 0.2  # the shared A inflates the factor cosine
    assert plots.as_updates(upd_module := synthetic_lora(3)).lora == {} and upd_module.lora
