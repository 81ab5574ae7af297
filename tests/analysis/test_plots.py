"""plots: every figure as a real, non-blank PNG."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import languaged, synthetic_lora

from langarith.analysis import measures as analysis
from langarith.analysis import plots

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


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


def test_best_point() -> None:
    points = [(0.0, 50.0), (0.5, 53.0), (0.3, 53.0), (1.0, float("nan"))]
    assert plots.best_point(points) == (0.5, 53.0)
    assert plots.best_point(points, higher_is_better=False) == (0.0, 50.0)
    assert plots.best_point([(0.1, float("nan"))]) is None


def test_improvement_heatmap_png_with_grey_missing_cell(tmp_path: Path) -> None:
    values = {(row, col): float(i * 3 - 10) for i, (row, col) in enumerate(
        (r, c) for r in ("en", "de", "ru") for c in ("pt", "es", "sw", "yo"))}
    values[("de", "yo")] = float("nan")
    image = assert_png(plots.improvement_heatmap(values, tmp_path / "sub" / "improve.png"))
    grey = np.all(np.abs(image[..., :3] - 211 / 255) < 0.01, axis=-1)
    assert grey.sum() > 500  # the NaN cell is drawn, in light grey
    with pytest.raises(analysis.AnalysisError):
        plots.improvement_heatmap({}, tmp_path / "none.png")


def test_lambda_curves_png(tmp_path: Path) -> None:
    lams = [i / 10 for i in range(11)]
    curves = {"add-subtract": [(x, 50 + 10 * x - 8 * x * x) for x in lams], "la": [(x, 49 + 3 * x) for x in lams]}
    assert_png(plots.lambda_curves(curves, {"zero-shot": 50.0, "task only": 51.5}, tmp_path / "lambda.png"))
    with pytest.raises(analysis.AnalysisError, match="'empty' has no"):
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
    with pytest.raises(analysis.NotEnoughLanguagesError):
        plots.distance_vs_cosine(mods[:1], tmp_path / "none.png")
    assert not (tmp_path / "none.png").exists()


def test_a_heatmap_of_hundreds_of_languages_stays_a_bounded_image(tmp_path: Path) -> None:
    from langarith.languages.codes import resolve
    from langarith.languages.typology import DistanceMatrix
    from langarith.languages.uriel import uriel_languages

    def known(code: str) -> bool:
        try:
            resolve(code)
        except ValueError:
            return False
        return True

    languages = tuple(resolve(c) for c in [c for c in uriel_languages() if known(c)][:300])
    values = np.random.default_rng(0).random((len(languages), len(languages)))
    matrix = DistanceMatrix(languages, {"syntactic": values}, {})
    image = assert_png(plots.distance_heatmap(matrix, "syntactic", tmp_path / "d.png"))
    assert max(image.shape[:2]) <= plots.MAX_INCHES * plots.DPI * 1.1  # was 137 inches (20k pixels) a side
