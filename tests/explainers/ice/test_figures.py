"""Figures: prototype rows, prototype grids, the paper's Figure 1."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from explainers.ice.figures import (
    render_local_explanation,
    render_prototype_grid,
    render_prototype_row,
)

N_COMPONENTS, N_CLASSES, TILE = 4, 3, 32


def _images(count: int, size: int = 24) -> list[np.ndarray]:
    return [np.full((size, size, 3), 40 * (i + 1), dtype=np.uint8) for i in range(count)]


def _gallery(count: int = 3) -> dict[int, tuple[list[np.ndarray], np.ndarray]]:
    heatmaps = np.zeros((count, 4, 4))
    heatmaps[:, :2, :2] = 1.0
    return {concept: (_images(count), heatmaps) for concept in range(N_COMPONENTS)}


def _explanation(is_estimate: bool = False) -> SimpleNamespace:
    rng = np.random.default_rng(0)
    scores = rng.uniform(0, 1, N_COMPONENTS)
    weights = rng.normal(0, 5, (N_COMPONENTS, N_CLASSES))
    contributions = scores[:, None] * weights
    residual, bias = np.full(N_CLASSES, 0.25), np.full(N_CLASSES, -0.5)
    return SimpleNamespace(
        logits=contributions.sum(axis=0) + residual + bias,
        concept_scores=scores,
        weights=weights,
        contributions=contributions,
        residual=residual,
        bias=bias,
        is_estimate=is_estimate,
    )


def _concept_maps() -> np.ndarray:
    return np.random.default_rng(1).uniform(0, 1, (5, 5, N_COMPONENTS))


def test_row_has_the_expected_size_and_white_gaps():
    row = render_prototype_row(_images(3), np.ones((3, 4, 4)), tile=TILE, gap=4)
    assert row.size == (3 * TILE + 2 * 4, TILE)
    pixels = np.asarray(row)
    assert (pixels[:, TILE : TILE + 4] == 255).all()


def test_row_tiles_show_the_images_with_the_concept_kept():
    # A heatmap that is all concept keeps every pixel; all background dims it.
    kept = np.asarray(render_prototype_row(_images(2), np.ones((2, 4, 4)), tile=TILE, gap=0))
    assert (kept[:, :TILE] == 40).all() and (kept[:, TILE:] == 80).all()
    dimmed = np.asarray(render_prototype_row(_images(1), np.zeros((1, 4, 4)), tile=TILE, dim=0.5))
    assert (dimmed == 20).all()


def test_row_accepts_a_tensor_batch():
    images = torch.rand(2, 3, 20, 20)
    assert render_prototype_row(images, torch.rand(2, 5, 5), tile=TILE).size == (2 * TILE + 4, TILE)


def test_row_rejects_mismatched_inputs():
    with pytest.raises(ValueError, match="one heatmap per image"):
        render_prototype_row(_images(2), np.ones((3, 4, 4)))


def test_grid_has_one_row_per_concept():
    small = render_prototype_grid(_gallery(), concepts=[0], tile=TILE)
    large = render_prototype_grid(_gallery(), tile=TILE)
    assert large.width == small.width
    assert large.height - small.height == (N_COMPONENTS - 1) * (TILE + 12)
    with pytest.raises(ValueError, match="no prototypes"):
        render_prototype_grid(_gallery(), concepts=[9])


@pytest.mark.parametrize("is_estimate", [False, True])
def test_local_explanation_renders_with_exact_and_estimated_weights(is_estimate):
    figure = render_local_explanation(
        torch.rand(3, 24, 24),
        _explanation(is_estimate),
        1,
        _concept_maps(),
        _gallery(),
        top_k=2,
        class_name="dog",
        tile=TILE,
    )
    assert figure.mode == "RGB"
    # Wider than image + prototypes (3 tiles) + text; tall enough for 2 rows and the footer.
    assert figure.width > TILE + 3 * TILE and figure.height > 2 * TILE + 4 * 22


def test_local_explanation_grows_by_one_row_per_concept_and_one_line_for_estimates():
    def render(**options):
        return render_local_explanation(
            np.zeros((24, 24, 3), dtype=np.uint8),
            options.pop("explanation", _explanation()),
            0,
            _concept_maps(),
            _gallery(),
            tile=TILE,
            **options,
        )

    assert render(top_k=3).height - render(top_k=2).height == TILE + 12
    assert render(top_k=10).height == render(top_k=N_COMPONENTS).height  # capped at n_components
    assert render(explanation=_explanation(True), top_k=2).height - render(top_k=2).height == 22


def test_local_explanation_handles_pca_maps_and_missing_prototypes():
    pca_maps = np.random.default_rng(2).normal(size=(1, 5, 5, N_COMPONENTS))
    figure = render_local_explanation(
        np.zeros((24, 24, 3)), _explanation(), 2, pca_maps, None, tile=TILE
    )
    assert figure.width > 0


def test_local_explanation_rejects_bad_inputs():
    image = np.zeros((24, 24, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match="class_index"):
        render_local_explanation(image, _explanation(), N_CLASSES, _concept_maps(), None)
    with pytest.raises(ValueError, match="n_components"):
        render_local_explanation(image, _explanation(), 0, np.zeros((5, 5, N_COMPONENTS + 1)), None)
    with pytest.raises(TypeError, match="LocalExplanation"):
        render_local_explanation(
            image, SimpleNamespace(logits=np.zeros(3)), 0, _concept_maps(), None
        )
    with pytest.raises(ValueError, match="top_k"):
        render_local_explanation(image, _explanation(), 0, _concept_maps(), None, top_k=0)
