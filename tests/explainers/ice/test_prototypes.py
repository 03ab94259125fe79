"""Prototypes: the images with the highest concept score, per concept."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from explainers.ice.prototypes import prototype_gallery, top_prototypes, visible_prototypes


def _reference_top(scores: np.ndarray, k: int) -> np.ndarray:
    # Plain Python: sort by descending score, then by ascending index.
    n, c = scores.shape
    return np.array([sorted(range(n), key=lambda i: (-scores[i, j], i))[:k] for j in range(c)])


def test_it_matches_a_plain_sort_with_ties_by_lower_index():
    rng = np.random.default_rng(3)
    scores = rng.integers(0, 4, size=(20, 6)).astype(float)  # many ties on purpose
    np.testing.assert_array_equal(top_prototypes(scores, k=5), _reference_top(scores, 5))


def test_it_orders_a_hand_made_case():
    scores = np.array([[0.1, 5.0], [0.9, 5.0], [0.5, 1.0], [0.9, 7.0]])
    np.testing.assert_array_equal(top_prototypes(scores, k=3), [[1, 3, 2], [3, 0, 1]])


def test_it_accepts_torch_scores():
    scores = np.random.default_rng(0).normal(size=(9, 4))
    result = top_prototypes(torch.tensor(scores, dtype=torch.float32), k=2)
    assert result.shape == (4, 2) and result.dtype == np.int64
    np.testing.assert_array_equal(result, _reference_top(scores.astype(np.float32), 2))


@pytest.mark.parametrize("k", [0, 4, -1, 2.0, True])
def test_it_rejects_k_outside_one_to_n(k):
    with pytest.raises(ValueError, match="k="):
        top_prototypes(np.zeros((3, 2)), k=k)


def test_it_rejects_non_finite_or_badly_shaped_scores():
    with pytest.raises(ValueError, match="NaN"):
        top_prototypes(np.array([[np.nan, 1.0], [0.0, 1.0]]), k=1)
    with pytest.raises(ValueError, match="shape"):
        top_prototypes(np.zeros(5), k=1)


def test_gallery_picks_top_images_and_their_normalised_heatmaps():
    n, h, w, c = 6, 3, 3, 2
    rng = np.random.default_rng(1)
    maps = rng.uniform(0, 1, size=(n, h, w, c))
    maps[4, :, :, 1] = [[0, 0, 0], [0, 4, 0], [0, 0, 2]]  # image 4 is concept 1's best prototype
    scores = maps.mean(axis=(1, 2))
    images = [np.full((8, 8, 3), i, dtype=np.uint8) for i in range(n)]
    gallery = prototype_gallery(images, maps, scores, shift_negative=False, k=3)
    assert sorted(gallery) == [0, 1]
    chosen, heatmaps = gallery[1]
    assert [int(image[0, 0, 0]) for image in chosen] == _reference_top(scores, 3)[1].tolist()
    assert heatmaps.shape == (3, h, w)
    np.testing.assert_allclose(heatmaps[0], [[0, 0, 0], [0, 1, 0], [0, 0, 0.5]], atol=1e-6)


def test_gallery_rejects_maps_that_do_not_match_the_images():
    with pytest.raises(ValueError, match="one map per image"):
        prototype_gallery(
            [np.zeros((4, 4, 3))] * 2,
            np.zeros((3, 2, 2, 1)),
            np.zeros((3, 1)),
            shift_negative=False,
        )


def test_visible_prototypes_skip_images_where_the_concept_is_blank():
    scores = np.array([[0.9, 0.0], [0.5, 0.4], [0.7, 0.0], [0.1, 0.2], [0.3, 0.0]])
    blank = np.array([[True, True], [False, False], [False, True], [False, False], [False, True]])
    rows = visible_prototypes(scores, blank, k=3)
    # Concept 0: image 0 scores highest but its map is blank; concept 1 is visible on 2 images only.
    assert [r.tolist() for r in rows] == [[2, 1, 4], [1, 3]]
    assert all(r.dtype == np.int64 for r in rows)


def test_a_kmeans_cluster_covering_one_image_gives_one_prototype_with_the_cluster_highlighted():
    # k-means maps are one-hot: image 0 lies wholly in cluster 0, the others wholly in cluster 1.
    maps = np.zeros((4, 2, 2, 2))
    maps[0, :, :, 0] = 1.0
    maps[1:, :, :, 1] = 1.0
    images = [np.full((4, 4, 3), i, dtype=np.uint8) for i in range(4)]
    gallery = prototype_gallery(images, maps, maps.mean(axis=(1, 2)), shift_negative=False, k=3)
    chosen, heatmaps = gallery[0]
    assert [int(image[0, 0, 0]) for image in chosen] == [0]  # not the three blank images
    np.testing.assert_array_equal(heatmaps, np.ones((1, 2, 2)))  # the whole image is the concept
    assert [int(image[0, 0, 0]) for image in gallery[1][0]] == [1, 2, 3]
    maps[0, :, :, 0] = 0.0  # now concept 0 shows nowhere: it has no row at all
    gallery = prototype_gallery(images, maps, maps.mean(axis=(1, 2)), shift_negative=False, k=3)
    assert sorted(gallery) == [1]


def test_visible_prototypes_reject_a_mask_of_the_wrong_shape():
    with pytest.raises(ValueError, match="blank has shape"):
        visible_prototypes(np.zeros((3, 2)), np.zeros((2, 2), dtype=bool))
