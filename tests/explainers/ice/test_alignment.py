"""Concept-part alignment (IoU, purity) and concept stability (Hungarian matching)."""

from __future__ import annotations

from itertools import permutations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import jaccard_score, precision_score

from explainers.ice.alignment import (
    align_concepts,
    alignment_summary,
    concept_part_iou,
    concept_stability,
    stack_part_masks,
)
from explainers.ice.heatmaps import concept_heatmaps


def _columns(first: int, last: int, n: int = 1, size: int = 8) -> np.ndarray:
    mask = np.zeros((n, size, size), dtype=bool)
    mask[:, :, first:last] = True
    return mask


def test_a_heatmap_equal_to_a_part_has_iou_one_with_it_and_zero_with_a_disjoint_part():
    parts = {"head": _columns(0, 4), "tail": _columns(6, 8)}
    ious = concept_part_iou(parts["head"].astype(float), parts)
    assert ious == {"head": 1.0, "tail": 0.0}


def test_half_overlap_gives_the_hand_computed_iou():
    # Concept: columns 0-3, part: columns 2-5 -> intersection 2 columns, union 6.
    ious = concept_part_iou(_columns(0, 4).astype(float), {"part": _columns(2, 6)})
    assert ious["part"] == pytest.approx(1 / 3)


def test_iou_is_pooled_over_images_and_skips_empty_ones():
    heatmaps = np.concatenate([_columns(0, 4), _columns(0, 3), np.zeros((1, 8, 8), bool)]).astype(
        float
    )
    part = np.concatenate([_columns(2, 4), _columns(3, 6), np.zeros((1, 8, 8), bool)])
    # Image 1: 2/4 columns; image 2: 0/6; image 3: 0/0 skipped -> pooled 2/10 (not the mean 0.25).
    assert concept_part_iou(heatmaps, {"part": part})["part"] == pytest.approx(0.2)
    reference = jaccard_score(part.ravel(), heatmaps.ravel() > 0.5)
    assert concept_part_iou(heatmaps, {"part": part})["part"] == pytest.approx(reference)


def test_iou_is_nan_when_neither_region_is_ever_present():
    assert np.isnan(
        concept_part_iou(np.zeros((2, 4, 4)), {"part": np.zeros((2, 4, 4), bool)})["part"]
    )


def test_iou_validates_part_masks():
    with pytest.raises(ValueError, match="shape"):
        concept_part_iou(np.zeros((2, 4, 4)), {"part": np.zeros((2, 5, 4), bool)})
    with pytest.raises(TypeError, match="bool"):
        concept_part_iou(np.zeros((2, 4, 4)), {"part": np.zeros((2, 4, 4))})


def _block_scene() -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """4×4 concept maps of 2 images upsampled to 16×16; a 2×2 cell block covers an 8×8 pixel block."""
    maps = np.zeros((2, 4, 4, 3))
    maps[:, :2, :2, 0] = 1.0  # top-left quarter: the head
    maps[:, 2:, :, 1] = 1.0  # bottom half: the body
    maps[:, :2, :, 2] = 1.0  # top half: the head and the background beside it
    head = np.zeros((2, 16, 16), dtype=bool)
    head[:, :8, :8] = True
    body = np.zeros((2, 16, 16), dtype=bool)
    body[:, 8:, :] = True
    return maps, {"head": head, "body": body}


def test_align_concepts_finds_each_concepts_part():
    maps, parts = _block_scene()
    table = align_concepts(maps, parts, (16, 16), shift_negative=False)
    assert list(table.columns) == [
        "concept",
        "best_part",
        "best_iou",
        "purity",
        "iou_head",
        "iou_body",
    ]
    assert table["best_part"].tolist() == ["head", "body", "head"]
    # Bilinear corner of the head block: pixel (7, 7) gets 0.625 * 0.625 < 0.5, so 63 of 64 pixels.
    np.testing.assert_allclose(table["best_iou"], [63 / 64, 1.0, 0.5])
    np.testing.assert_allclose(table["purity"], [1.0, 1.0, 0.5])
    np.testing.assert_allclose(table["iou_body"], [0.0, 1.0, 0.0])


def test_align_concepts_agrees_with_sklearn_on_random_maps():
    rng = np.random.default_rng(7)
    maps = rng.uniform(size=(3, 4, 4, 2))
    parts = {"a": rng.uniform(size=(3, 16, 16)) > 0.6, "b": rng.uniform(size=(3, 16, 16)) > 0.3}
    table = align_concepts(maps, parts, (16, 16), shift_negative=False)
    for concept in range(2):
        highlighted = (
            concept_heatmaps(maps[..., concept], shift_negative=False, size=(16, 16)).ravel() > 0.5
        )
        for part, mask in parts.items():
            assert table.loc[concept, f"iou_{part}"] == pytest.approx(
                jaccard_score(mask.ravel(), highlighted)
            )
        best = table.loc[concept, "best_part"]
        assert table.loc[concept, "purity"] == pytest.approx(
            precision_score(parts[best].ravel(), highlighted)
        )


def test_align_concepts_gives_the_same_answer_for_shifted_pca_scores():
    maps, parts = _block_scene()
    nmf = align_concepts(maps, parts, (16, 16), shift_negative=False)
    pca = align_concepts(2 * maps - 1, parts, (16, 16), shift_negative=True)
    pd.testing.assert_frame_equal(nmf, pca)


def test_summary_averages_best_iou_and_purity():
    maps, parts = _block_scene()
    summary = alignment_summary(align_concepts(maps, parts, (16, 16), shift_negative=False))
    assert summary == {
        "n_concepts": 3,
        "mean_best_iou": pytest.approx((63 / 64 + 1.5) / 3),
        "mean_purity": pytest.approx(2.5 / 3),
        "parts_covered": 2,
    }
    with pytest.raises(ValueError, match="align_concepts"):
        alignment_summary(pd.DataFrame({"concept": [0]}))


def test_stability_of_a_permuted_copy_is_one_with_the_right_pairs():
    components = np.random.default_rng(0).uniform(size=(5, 12))
    order = np.array([3, 0, 4, 1, 2])
    mean_cosine, pairs = concept_stability(components, components[order])
    assert mean_cosine == pytest.approx(1.0)
    # Row i of a is row j of b where order[j] == i.
    np.testing.assert_array_equal(pairs, np.stack([np.arange(5), np.argsort(order)], axis=1))


def test_stability_ignores_pca_sign_flips_only_when_asked():
    components = np.linalg.qr(np.random.default_rng(1).normal(size=(12, 4)))[0].T
    flipped = components * np.array([1, -1, -1, 1])[:, None]
    assert concept_stability(components, flipped, absolute=True)[0] == pytest.approx(1.0)
    # Signed: the two kept rows match (cosine 1); the two flipped ones are best paired
    # with each other (orthogonal, cosine 0) rather than with themselves (-1).
    assert concept_stability(components, flipped)[0] == pytest.approx(0.5)


def test_stability_of_orthogonal_directions_is_low():
    basis = np.linalg.qr(np.random.default_rng(2).normal(size=(20, 20)))[0].T
    mean_cosine, _ = concept_stability(basis[:5], basis[5:10], absolute=True)
    assert mean_cosine == pytest.approx(0.0, abs=1e-9)


def test_stability_matches_a_brute_force_search():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(4, 6)), rng.normal(size=(4, 6))
    unit_a = a / np.linalg.norm(a, axis=1, keepdims=True)
    unit_b = b / np.linalg.norm(b, axis=1, keepdims=True)
    cosine = unit_a @ unit_b.T
    best = max(np.mean([cosine[i, p[i]] for i in range(4)]) for p in permutations(range(4)))
    assert concept_stability(a, b)[0] == pytest.approx(best)


def test_stability_pairs_fewer_components_and_rejects_mismatches():
    components = np.eye(4)
    mean_cosine, pairs = concept_stability(components[[2, 0]], components)
    assert mean_cosine == pytest.approx(1.0)
    np.testing.assert_array_equal(pairs, [[0, 2], [1, 0]])
    with pytest.raises(ValueError, match="channels"):
        concept_stability(np.eye(3), np.eye(4))
    with pytest.raises(ValueError, match="all-zero"):
        concept_stability(np.zeros((2, 3)), np.eye(3))


def test_stack_part_masks_fills_absent_parts_with_false():
    head = np.eye(3, dtype=bool)
    stacked = stack_part_masks([{"head": head}, {"tail": ~head, "head": head}], (3, 3))
    assert list(stacked) == ["head", "tail"]
    np.testing.assert_array_equal(stacked["head"], [head, head])
    np.testing.assert_array_equal(stacked["tail"], [np.zeros((3, 3), bool), ~head])
    with pytest.raises(ValueError, match="shape"):
        stack_part_masks([{"head": head}], (4, 4))
