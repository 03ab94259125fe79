"""Alignment and stability sweeps on a hand-made case whose answer is known."""

import numpy as np
import pytest

from explainers.ice.alignment_sweep import alignment_sweep, stability_sweep


def _planted_class(n: int = 12, size: int = 8, seed: int = 0):
    """Channel 0 fires exactly on part 'wheel', channel 1 on part 'eye', nothing elsewhere."""
    rng = np.random.default_rng(seed)
    activations = np.zeros((n, size, size, 6), dtype=np.float32)
    wheel = np.zeros((n, size, size), dtype=bool)
    eye = np.zeros((n, size, size), dtype=bool)
    for i in range(n):
        r, c = rng.integers(0, 3, size=2)
        wheel[i, r : r + 3, c : c + 3] = True
        eye[i, r + 4 : r + 6, c + 4 : c + 6] = True
    activations[..., 0][wheel] = rng.uniform(1.0, 2.0, wheel.sum())
    activations[..., 1][eye] = rng.uniform(1.0, 2.0, eye.sum())
    return activations, {"wheel": wheel, "eye": eye}


def test_nmf_concepts_find_the_planted_parts():
    train, _ = _planted_class(seed=0)
    test, masks = _planted_class(seed=1)
    concepts, summary = alignment_sweep(
        {0: train}, {0: test}, {0: masks}, (8, 8), reducers=["nmf"], n_components=[2], device="cpu"
    )
    assert sorted(concepts["best_part"]) == ["eye", "wheel"]
    # Each concept's thresholded map equals its part's mask: IoU 1 and purity 1 (hand-computed).
    np.testing.assert_allclose(concepts["best_iou"], 1.0)
    np.testing.assert_allclose(concepts["purity"], 1.0)
    row = summary.iloc[0]
    assert (row["reducer"], row["n_components"], row["parts_covered"]) == ("nmf", 2, 2)


def test_it_sweeps_every_reducer_and_size():
    train, _ = _planted_class(seed=0)
    test, masks = _planted_class(seed=1)
    calls = []
    _, summary = alignment_sweep(
        {0: train},
        {0: test},
        {0: masks},
        (8, 8),
        n_components=[2, 3],
        device="cpu",
        progress=lambda fraction, step: calls.append((fraction, step)),
    )
    assert list(zip(summary["reducer"], summary["n_components"], strict=True)) == [
        ("nmf", 2),
        ("nmf", 3),
        ("pca", 2),
        ("pca", 3),
        ("kmeans", 2),
        ("kmeans", 3),
    ]
    assert calls[-1] == (1.0, "alignment fits 6/6")
    assert summary["mean_best_iou"].between(0, 1).all()


def test_it_refuses_classes_without_activations():
    test, masks = _planted_class()
    with pytest.raises(ValueError, match="no train/test activations"):
        alignment_sweep({}, {0: test}, {0: masks}, (8, 8))


def test_stability_is_one_for_a_deterministic_planted_structure():
    train, _ = _planted_class(n=40)
    table = stability_sweep({0: train}, reducers=["nmf", "pca"], n_components=2, device="cpu")
    np.testing.assert_allclose(table["mean"], 1.0, atol=1e-3)


def test_stability_is_low_for_isotropic_noise():
    # Isotropic noise has no preferred axes: two PCA fits on different halves pick unrelated ones.
    rng = np.random.default_rng(0)
    noise = rng.standard_normal((40, 4, 4, 64)).astype(np.float32)
    table = stability_sweep(
        {0: noise}, reducers=["pca"], n_components=8, subsample=0.5, device="cpu"
    )
    assert table["mean"].iloc[0] < 0.6
    with pytest.raises(ValueError, match="subsample"):
        stability_sweep({0: noise}, subsample=0)
