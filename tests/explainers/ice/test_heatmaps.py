"""Heatmaps: min-max normalisation, PCA shift, upsampling, thresholding, highlighting."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from explainers.ice.heatmaps import (
    blank_maps,
    concept_heatmap,
    concept_heatmaps,
    concept_mask,
    has_contrast,
    highlight_concept,
    resize_heatmap,
)


def test_it_min_max_normalises_a_hand_made_map():
    heatmap = concept_heatmap(np.array([[0.0, 2.0], [4.0, 8.0]]), shift_negative=False)
    assert heatmap.dtype == np.float32
    np.testing.assert_allclose(heatmap, [[0, 0.25], [0.5, 1.0]])


def test_it_normalises_a_map_whose_minimum_is_positive():
    # (x - 1) / (9 - 1): min-max, not division by the maximum.
    np.testing.assert_allclose(
        concept_heatmap(np.array([[1.0, 5.0, 9.0]]), shift_negative=False), [[0, 0.5, 1]]
    )


def test_pca_shift_maps_negative_scores_onto_zero_to_one():
    pca_map = np.array([[-2.0, 0.0], [2.0, 6.0]])
    np.testing.assert_allclose(
        concept_heatmap(pca_map, shift_negative=True), [[0, 0.25], [0.5, 1.0]]
    )


def test_pca_shift_changes_nothing_for_non_negative_maps():
    # Min-max already subtracts the minimum: the documented equivalence.
    nmf_map = np.random.default_rng(0).uniform(0.5, 3.0, size=(5, 5))
    np.testing.assert_allclose(
        concept_heatmap(nmf_map, shift_negative=True),
        concept_heatmap(nmf_map, shift_negative=False),
        atol=1e-6,
    )


def test_it_refuses_negative_scores_without_the_shift():
    with pytest.raises(ValueError, match="shift_negative=True"):
        concept_heatmap(np.array([[-1.0, 1.0]]), shift_negative=False)


@pytest.mark.parametrize("value", [0.0, 3.5, -2.0])
def test_a_constant_pca_map_is_shifted_to_zero_and_highlights_nothing(value):
    heatmap = concept_heatmap(np.full((4, 4), value), shift_negative=True, size=(8, 8))
    assert np.isfinite(heatmap).all()
    np.testing.assert_array_equal(heatmap, np.zeros((8, 8)))


def test_a_constant_positive_map_highlights_everything():
    # A k-means map where one cluster covers the whole image: the concept is everywhere.
    kmeans_map = np.ones((4, 4))
    heatmap = concept_heatmap(kmeans_map, shift_negative=False, size=(8, 8))
    np.testing.assert_array_equal(heatmap, np.ones((8, 8)))
    image = np.full((8, 8, 3), 200, dtype=np.uint8)
    shown = np.asarray(highlight_concept(image, heatmap))
    np.testing.assert_array_equal(shown, image)  # nothing dimmed, no contour inside


def test_an_all_zero_map_highlights_nothing():
    heatmap = concept_heatmap(np.zeros((4, 4)), shift_negative=False, size=(8, 8))
    np.testing.assert_array_equal(heatmap, np.zeros((8, 8)))
    assert not concept_mask(heatmap).any()


def test_rounding_noise_on_a_constant_pca_map_is_not_contrast():
    noisy = np.full((4, 4), 3.5, dtype=np.float32)
    noisy[1, 2] = np.nextafter(np.float32(3.5), np.float32(4))
    np.testing.assert_array_equal(concept_heatmap(noisy, shift_negative=True), np.zeros((4, 4)))
    assert not has_contrast(noisy)


def test_the_flat_as_blank_option_reproduces_the_old_rule():
    np.testing.assert_array_equal(
        concept_heatmap(np.ones((3, 3)), shift_negative=False, flat_as_blank=True),
        np.zeros((3, 3)),
    )


def test_blank_maps_are_exactly_the_maps_whose_heatmap_is_all_zero():
    rng = np.random.default_rng(5)
    maps = rng.uniform(0, 2, size=(4, 3, 3, 3))
    maps[0, :, :, 0] = 0.0  # all zero
    maps[1, :, :, 1] = 2.5  # constant positive (one cluster everywhere)
    maps[2, :, :, 2] = 0.0
    maps[2, 1, 1, 2] = 0.3  # one weak cell: contrast
    for shift in (False, True):
        heatmaps = concept_heatmaps(
            np.moveaxis(maps, 3, 1).reshape(-1, 3, 3), shift_negative=shift
        ).reshape(4, 3, 3, 3)
        reference = (heatmaps == 0).all(axis=(2, 3))  # (n, n_components), computed from heatmaps
        np.testing.assert_array_equal(blank_maps(maps, shift_negative=shift), reference)
    expected = np.zeros((4, 3), dtype=bool)
    expected[0, 0] = True
    np.testing.assert_array_equal(blank_maps(maps, shift_negative=False), expected)
    expected[1, 1] = True  # PCA: shifted by its minimum, a constant map is all zero
    np.testing.assert_array_equal(blank_maps(maps, shift_negative=True), expected)
    np.testing.assert_array_equal(has_contrast(np.moveaxis(maps, 3, 1)), ~expected)


def test_upsampling_gives_the_requested_size_and_stays_in_unit_range():
    heatmap = concept_heatmap(
        np.random.default_rng(2).uniform(size=(5, 7)), shift_negative=False, size=(40, 56)
    )
    assert heatmap.shape == (40, 56)
    assert heatmap.min() >= 0 and heatmap.max() <= 1


def test_upsampling_matches_hand_computed_bilinear_values():
    # align_corners=False: source x = (x + 0.5) / 2 - 0.5, clamped to the edge cells.
    heatmap = concept_heatmap(np.array([[0.0, 1.0], [0.0, 0.0]]), shift_negative=False, size=(4, 4))
    np.testing.assert_allclose(heatmap[0], [0.0, 0.25, 0.75, 1.0], atol=1e-6)
    np.testing.assert_allclose(heatmap[:, 3], [1.0, 0.75, 0.25, 0.0], atol=1e-6)


def test_a_single_hot_cell_lands_in_its_own_block_after_upsampling():
    score_map = np.zeros((4, 4))
    score_map[1, 2] = 5.0
    heatmap = concept_heatmap(score_map, shift_negative=False, size=(32, 32))
    rows, columns = np.nonzero(concept_mask(heatmap))
    assert rows.size > 0
    assert rows.min() >= 8 and rows.max() < 16 and columns.min() >= 16 and columns.max() < 24
    peak = np.unravel_index(np.argmax(heatmap), heatmap.shape)
    assert 8 <= peak[0] < 16 and 16 <= peak[1] < 24


def test_torch_and_numpy_inputs_agree_and_batches_match_single_maps():
    maps = np.random.default_rng(4).normal(size=(3, 5, 5))
    batch = concept_heatmaps(torch.tensor(maps), shift_negative=True, size=(10, 10))
    for index in range(3):
        single = concept_heatmap(maps[index], shift_negative=True, size=(10, 10))
        np.testing.assert_allclose(batch[index], single, atol=1e-6)


def test_resize_heatmap_keeps_a_uniform_map_uniform():
    np.testing.assert_allclose(
        resize_heatmap(np.full((3, 3), 0.7), (9, 12)), np.full((9, 12), 0.7), atol=1e-6
    )


@pytest.mark.parametrize("bad", [np.array([[np.nan, 1.0]]), np.array([[np.inf, 1.0]])])
def test_it_rejects_non_finite_maps(bad):
    with pytest.raises(ValueError, match="NaN or infinite"):
        concept_heatmap(bad, shift_negative=True)


@pytest.mark.parametrize("size", [(0, 4), (4,), 8, (4.0, 4)])
def test_it_rejects_bad_sizes(size):
    with pytest.raises(ValueError, match="size="):
        concept_heatmap(np.ones((2, 2)), shift_negative=False, size=size)


def test_mask_keeps_values_strictly_above_the_threshold():
    mask = concept_mask(np.array([[0.49, 0.5, 0.51, 1.0]]))
    np.testing.assert_array_equal(mask, [[False, False, True, True]])
    np.testing.assert_array_equal(
        concept_mask(np.array([[0.2, 0.3]]), threshold=0.25), [[False, True]]
    )


def _left_half_heatmap(height: int = 8, width: int = 8) -> np.ndarray:
    heatmap = np.zeros((height, width), dtype=np.float32)
    heatmap[:, : width // 2] = 1.0
    return heatmap


def test_highlight_dims_outside_and_keeps_inside_pixels():
    image = np.full((8, 8, 3), 200, dtype=np.uint8)
    shown = np.asarray(highlight_concept(image, _left_half_heatmap(), dim=0.3, contour=False))
    assert (shown[:, :4] == 200).all()
    assert (shown[:, 4:] == 60).all()  # 200 * 0.3


def test_highlight_draws_the_contour_just_outside_the_region():
    image = np.full((8, 8, 3), 100, dtype=np.uint8)
    shown = np.asarray(highlight_concept(image, _left_half_heatmap(), contour_color=(1, 2, 3)))
    assert (shown[:, :4] == 100).all()  # inside untouched
    assert (shown[:, 4] == [1, 2, 3]).all()  # one-pixel line right of the region
    assert (shown[:, 5:] == 30).all()
    wide = np.asarray(
        highlight_concept(image, _left_half_heatmap(), contour_color=(1, 2, 3), contour_width=2)
    )
    assert (wide[:, 4:6] == [1, 2, 3]).all() and (wide[:, 6:] == 30).all()


def test_highlight_accepts_tensor_pil_and_float_images_alike():
    rng = np.random.default_rng(5)
    pixels = rng.integers(0, 256, size=(8, 8, 3), dtype=np.uint8)
    expected = np.asarray(highlight_concept(pixels, _left_half_heatmap()))
    as_tensor = torch.tensor(pixels.transpose(2, 0, 1) / 255.0, dtype=torch.float32)
    for image in (as_tensor, Image.fromarray(pixels), pixels / 255.0):
        result = highlight_concept(image, _left_half_heatmap())
        assert result.size == (8, 8) and result.mode == "RGB"
        np.testing.assert_array_equal(np.asarray(result), expected)


def test_highlight_upsamples_a_small_heatmap_to_the_image():
    image = np.full((8, 8, 3), 200, dtype=np.uint8)
    shown = np.asarray(highlight_concept(image, np.array([[1.0, 0.0]]), contour=False))
    assert (shown[:, :4] == 200).all() and (shown[:, 4:] == 60).all()


def test_highlight_with_an_empty_region_dims_everything_and_draws_no_line():
    image = np.full((6, 6, 3), 100, dtype=np.uint8)
    assert (np.asarray(highlight_concept(image, np.zeros((6, 6)))) == 30).all()


def test_highlight_rejects_unnormalised_inputs():
    with pytest.raises(ValueError, match="concept_heatmap first"):
        highlight_concept(np.zeros((4, 4, 3), dtype=np.uint8), np.full((4, 4), 3.0))
    with pytest.raises(ValueError, match="ImageNet"):
        highlight_concept(torch.full((3, 4, 4), -1.5), np.zeros((4, 4)))
    with pytest.raises(ValueError, match="dim="):
        highlight_concept(np.zeros((4, 4, 3), dtype=np.uint8), np.zeros((4, 4)), dim=2.0)
