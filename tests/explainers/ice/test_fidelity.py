"""Fidelity formulas (hand-computed cases) and the sweep (against a brute-force reference)."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
import torch
from matplotlib.figure import Figure
from torch import nn

from explainers.ice.explainer import ConceptExplainer
from explainers.ice.features import FeatureExtractor, LinearHead
from explainers.ice.fidelity import (
    FidelitySweep,
    fidelity_scores,
    fidelity_sweep,
    fidelity_sweep_images,
)

NAN = np.nan


class TinyNet(nn.Module):
    """A small CNN with a GAP + linear head: 8×8 images -> 4×4×6 features -> 5 classes."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(8, 6, 3, stride=2, padding=1),
            nn.ReLU(),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(6, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.flatten(self.pool(self.features(x))))


_TEMPLATES = torch.randn(5, 3, 8, 8, generator=torch.Generator().manual_seed(99))


def _class_images(classes, n, seed) -> dict[int, torch.Tensor]:
    """Class g: a fixed random pattern plus noise, so the classes differ in direction, not only scale."""
    generator = torch.Generator().manual_seed(seed)
    return {g: _TEMPLATES[g] + torch.randn(n, 3, 8, 8, generator=generator) for g in classes}


@pytest.fixture(scope="module")
def tiny() -> nn.Module:
    """TinyNet whose dense layer scores each class by its centred mean feature (no training needed),
    so its predictions vary and a poor approximation can change them."""
    torch.manual_seed(2)
    model = TinyNet().eval()
    extractor = FeatureExtractor(model, "features", device="cpu")
    with torch.no_grad():
        means = torch.stack(
            [extractor(x).mean(dim=(0, 1, 2)) for x in _class_images(range(5), 8, seed=0).values()]
        )
        weight = (means - means.mean(dim=0)) * 10 / (means - means.mean(dim=0)).norm()
        model.fc.weight.copy_(weight)
        model.fc.bias.copy_(-weight @ means.mean(dim=0))
    return model


@pytest.fixture(scope="module")
def tiny_features(tiny):
    extractor = FeatureExtractor(tiny, "features", device="cpu")
    classes = [0, 1, 3, 4]  # a subset of the model's 5 classes
    train = {g: extractor(x) for g, x in _class_images(classes, 3, seed=1).items()}
    test = {g: extractor(x) for g, x in _class_images(classes, 3, seed=2).items()}
    return extractor, train, test


def test_fidelity_formulas_on_a_hand_computed_case_with_the_top5_restriction():
    F = np.array(
        [
            [5, 4, 3, 2, 1, 0],  # label 0; top-5 = {0..4}
            [0, 1, 2, 3, 4, 5],  # label 5; top-5 = {1..5}
            [1, 6, 2, -1, -2, -3],  # label 2 (the model is wrong); top-5 = {0..4}
            [1, 0, -1, -2, -3, -4],  # label 0
        ],
        dtype=float,
    )
    F_hat = np.array(
        [
            [1, 2, 0, 0, 0, 9],  # argmax over all = 5, over top-5 = 1: wrong on both counts
            [9, 0, 0, 0, 1, 6],  # argmax over all = 0, over top-5 = 5: agrees, correct
            [0, 3, 4, 0, 0, NAN],  # predicts 2: disagrees with F (1), correct
            [2, 0, 0, 0, 0, NAN],  # predicts 0: agrees, correct
        ]
    )
    scores = fidelity_scores(F, F_hat, np.array([0, 5, 2, 0]), top_k=5, epsilon=0.0)
    assert scores["fid_c"] == pytest.approx(2 / 4)
    assert scores["accuracy"] == pytest.approx(3 / 4)
    # Class 0: (|5-1| + |1-2|) / (5 + 1); class 5: |5-6| / 5; class 2: |2-4| / 2.
    assert scores["fid_r_per_class"] == pytest.approx({0: 5 / 6, 5: 0.2, 2: 1.0})
    assert scores["fid_r"] == pytest.approx((5 / 6 + 0.2 + 1.0) / 3)


def test_top_k_of_two_among_three_classes():
    F = np.array([[3.0, 2.0, 1.0], [1.0, 3.0, 2.0]])  # top-2: {0, 1} and {1, 2}
    F_hat = np.array(
        [[2.0, 1.0, 5.0], [1.0, 9.0, 0.0]]
    )  # image 0's overall argmax (2) is not a candidate
    scores = fidelity_scores(F, F_hat, np.array([0, 1]), top_k=2, epsilon=0.0)
    assert scores["fid_c"] == pytest.approx(
        1.0
    )  # predictions 0 and 1, as F; over all classes image 0 would get 2
    assert scores["accuracy"] == pytest.approx(1.0)
    assert scores["fid_r"] == pytest.approx((1 / 3 + 6 / 3) / 2)


def test_the_sweep_restricts_the_prediction_to_the_models_top_5_of_7_classes():
    # logit_j = GAP(A)_j (identity dense layer). k-means with one concept reconstructs every
    # input as the class's centroid, so F̂_j is the constant centroid_j[j]: 6, 5, 4, 3, 2, 1
    # for classes 0..5 and 50 for class 6. Over all 7 classes the approximate model always
    # predicts 6; over the top 5 of F it never can, since channel 6 is among the two weakest
    # of every test image.
    n_classes, shape = 7, (2, 2, 2, 7)
    head = LinearHead(torch.eye(n_classes), torch.zeros(n_classes))
    train = {}
    for g in range(n_classes):
        train[g] = torch.zeros(shape)
        train[g][..., g] = 50.0 if g == 6 else 6.0 - g
    class_0 = torch.tensor([5.0, 2, 2, 2, 2, 2, 0])  # top 5 = {0, 1, 2, 3, 4}: predicts 0
    class_1 = torch.tensor([0.0, 5, 2, 2, 2, 2, 0])  # top 5 = {1, 2, 3, 4, 5}: predicts 1
    test = {0: class_0.expand(shape).clone(), 1: class_1.expand(shape).clone()}
    sweep = fidelity_sweep(
        head, train, test, reducers=["kmeans"], n_components=[1], top_k=5, device="cpu"
    )
    row = sweep.table.iloc[0]
    assert row["fid_c"] == 1.0 and row["accuracy"] == 1.0  # over all 7 classes: both 0.0
    # Fid_r by hand: class 0 |5 - 6| / 5, class 1 |5 - 5| / 5.
    assert row["fid_r"] == pytest.approx((0.2 + 0.0) / 2, abs=1e-6)
    unrestricted = fidelity_sweep(
        head, train, test, reducers=["kmeans"], n_components=[1], top_k=7, device="cpu"
    ).table.iloc[0]
    assert unrestricted["fid_c"] == 0.0 and unrestricted["accuracy"] == 0.0


def test_nan_in_a_needed_entry_is_an_error():
    with pytest.raises(ValueError, match="NaN"):
        fidelity_scores(np.eye(3), np.full((3, 3), NAN), np.arange(3), top_k=2)


def test_full_rank_pca_reproduces_the_model_exactly(tiny_features):
    extractor, train, test = tiny_features
    sweep = fidelity_sweep(
        extractor.head, train, test, reducers=["pca"], n_components=[6], device="cpu"
    )
    row = sweep.table.iloc[0]
    assert row["fid_r"] == pytest.approx(0.0, abs=1e-5)
    assert row["fid_c"] == 1.0
    assert row["accuracy"] == pytest.approx(sweep.model_accuracy)
    assert row["n_test_images"] == 12
    assert sweep.model_accuracy > 0.5  # the model is not a constant classifier


def test_a_one_concept_pca_changes_some_predictions(tiny_features):
    extractor, train, test = tiny_features
    sweep = fidelity_sweep(
        extractor.head, train, test, reducers=["pca"], n_components=[1], device="cpu"
    )
    assert sweep.table.iloc[0]["fid_c"] < 1.0
    assert sweep.table.iloc[0]["fid_r"] > 0.01


def _brute_force(model, layer, head, train, test, reducer, k, top_k=5):
    """Every class's ConceptExplainer on every test image, then the paper's formulas in numpy."""
    classes = sorted(train)
    images = torch.cat([test[g] for g in classes])
    labels = np.concatenate([[c] * len(test[g]) for c, g in enumerate(classes)])
    F = head(images)[:, classes].numpy().astype(np.float64)
    columns = []
    for g in classes:
        explainer = ConceptExplainer(
            model, layer, reducer, k, random_state=0, device="cpu"
        ).fit_features(train[g], g)
        columns.append(explainer.reconstruct_logits(images)[:, g].numpy())
    F_hat = np.stack(columns, axis=1).astype(np.float64)
    top = np.argsort(-F, axis=1)[:, :top_k]
    predicted = np.array([t[np.argmax(f[t])] for t, f in zip(top, F_hat, strict=True)])
    fid_r = np.mean(
        [
            np.abs(F[labels == c, c] - F_hat[labels == c, c]).sum()
            / (np.abs(F[labels == c, c]).sum() + 1e-8)
            for c in range(len(classes))
        ]
    )
    return np.mean(predicted == F.argmax(axis=1)), np.mean(predicted == labels), fid_r


@pytest.mark.parametrize("reducer", ["nmf", "pca", "kmeans"])
def test_sweep_matches_a_brute_force_reference(tiny, tiny_features, reducer):
    extractor, train, test = tiny_features
    sweep = fidelity_sweep(
        extractor.head,
        train,
        test,
        reducers=[reducer],
        n_components=[2, 4],
        random_state=0,
        device="cpu",
    )
    for k, row in zip([2, 4], sweep.table.itertuples(), strict=True):
        fid_c, accuracy, fid_r = _brute_force(
            tiny, "features", extractor.head, train, test, reducer, k
        )
        assert row.n_components == k
        assert row.fid_c == pytest.approx(fid_c)
        assert row.accuracy == pytest.approx(accuracy)
        assert row.fid_r == pytest.approx(fid_r, rel=1e-4, abs=1e-6)


def test_sweep_with_a_general_head_matches_a_brute_force_reference(tiny):
    extractor = FeatureExtractor(tiny, "features.1", device="cpu")  # before the second conv
    assert not extractor.head.is_linear
    train = {g: extractor(x) for g, x in _class_images([0, 2], 2, seed=3).items()}
    test = {g: extractor(x) for g, x in _class_images([0, 2], 2, seed=4).items()}
    sweep = fidelity_sweep(
        extractor.head, train, test, reducers=["pca"], n_components=[3], device="cpu"
    )
    fid_c, accuracy, fid_r = _brute_force(tiny, "features.1", extractor.head, train, test, "pca", 3)
    row = sweep.table.iloc[0]
    assert (row.fid_c, row.accuracy) == (pytest.approx(fid_c), pytest.approx(accuracy))
    assert row.fid_r == pytest.approx(fid_r, rel=1e-4, abs=1e-6)


def test_sweep_table_progress_and_figure(tiny_features):
    extractor, train, test = tiny_features
    calls = []
    sweep = fidelity_sweep(
        extractor.head,
        train,
        test,
        reducers=["nmf", "kmeans"],
        n_components=[2, 3],
        device="cpu",
        progress=lambda fraction, step: calls.append((fraction, step)),
    )
    assert list(sweep.table.columns[:7]) == [
        "reducer",
        "n_components",
        "fid_c",
        "fid_r",
        "accuracy",
        "n_test_images",
        "fit_seconds",
    ]
    assert sweep.table[["reducer", "n_components"]].values.tolist() == [
        ["nmf", 2],
        ["nmf", 3],
        ["kmeans", 2],
        ["kmeans", 3],
    ]
    assert len(calls) == 16 and calls[-1] == (1.0, "explainers fitted and scored 16/16")
    assert calls[0] == (1 / 16, "explainers fitted and scored 1/16")
    assert set(sweep.per_class["class_index"]) == {0, 1, 3, 4}
    figure = sweep.figure()
    assert isinstance(figure, Figure) and len(figure.axes) == 3
    assert [len(axis.lines) for axis in figure.axes] == [3, 2, 2]  # accuracy also shows the CNN
    figure.savefig(io.BytesIO(), format="png")


def test_sweep_records_convergence_and_marks_unconverged_rows(tiny_features, monkeypatch):
    from sklearn.exceptions import ConvergenceWarning

    from explainers.ice import reducers

    extractor, train, test = tiny_features
    settings = {"reducers": ["nmf", "pca"], "n_components": [2], "device": "cpu"}
    converged = fidelity_sweep(extractor.head, train, test, **settings)
    assert converged.table["converged"].tolist() == [True, True]
    assert converged.table["n_unconverged"].tolist() == [0, 0]
    assert converged.unconverged.empty
    by_reducer = converged.per_class.groupby("reducer")["n_iter"]
    assert by_reducer.min()["nmf"] >= 1 and by_reducer.max()["pca"] == 0  # PCA is exact
    assert converged.figure()._suptitle is None

    original = reducers.make_reducer
    monkeypatch.setattr(
        reducers,
        "make_reducer",
        lambda name, *a, **k: original(name, *a, **({"max_iter": 1} if name == "nmf" else {}), **k),
    )
    with pytest.warns(ConvergenceWarning):
        stopped = fidelity_sweep(extractor.head, train, test, **settings)
    nmf, pca = stopped.table.to_dict(orient="records")
    assert (nmf["converged"], nmf["n_unconverged"], nmf["max_n_iter"]) == (False, 4, 1)
    assert (pca["converged"], pca["n_unconverged"]) == (True, 0)
    assert stopped.unconverged["reducer"].tolist() == ["nmf"]
    nmf_fits = stopped.per_class[stopped.per_class["reducer"] == "nmf"]
    assert not nmf_fits["converged"].any() and (nmf_fits["n_iter"] == 1).all()
    figure = stopped.figure()
    assert "4 class fit(s) stopped at max_iter" in figure._suptitle.get_text()
    # One hollow marker per panel, on the NMF point.
    assert [len(axis.collections) for axis in figure.axes] == [1, 1, 1]


def test_smallest_n_components_meets_the_targets():
    table = pd.DataFrame(
        {
            "reducer": ["nmf"] * 3 + ["pca"] * 3,
            "n_components": [5, 10, 15] * 2,
            "fid_c": [0.7, 0.85, 0.9, 0.8, 0.95, 0.99],
            "fid_r": [0.3, 0.2, 0.1, 0.25, 0.1, 0.05],
        }
    )
    sweep = FidelitySweep(
        table=table,
        per_class=pd.DataFrame(),
        model_accuracy=0.9,
        classes=(0,),
        top_k=5,
        random_state=0,
    )
    assert sweep.smallest_n_components("nmf", fid_c=0.8) == 10
    assert sweep.smallest_n_components("nmf", fid_c=0.8, fid_r=0.15) == 15
    assert sweep.smallest_n_components("pca", fid_r=0.25) == 5
    assert sweep.smallest_n_components("nmf", fid_c=0.99) is None
    with pytest.raises(ValueError, match="target"):
        sweep.smallest_n_components("nmf")
    with pytest.raises(ValueError, match="'kmeans' is not in this sweep"):
        sweep.smallest_n_components("kmeans", fid_c=0.5)


def test_sweep_from_images_runs_the_cnn_once_per_image(tiny):
    calls = []
    handle = tiny.features.register_forward_hook(lambda *args: calls.append(args[1][0].shape[0]))
    try:
        sweep = fidelity_sweep_images(
            tiny,
            "features",
            _class_images([0, 1], 3, seed=5),
            _class_images([0, 1], 2, seed=6),
            reducers=["pca"],
            n_components=[2],
            device="cpu",
        )
    finally:
        handle.remove()
    # Every image once, plus verify_head's full-model pass over 2 test images.
    assert sum(calls) == 3 * 2 + 2 * 2 + 2
    assert sweep.table.iloc[0]["n_test_images"] == 4


def test_test_class_without_training_features_is_refused(tiny_features):
    extractor, train, test = tiny_features
    with pytest.raises(ValueError, match=r"classes \[2\] without training"):
        fidelity_sweep(
            extractor.head, train, {2: test[0]}, reducers=["pca"], n_components=[2], device="cpu"
        )


def test_empty_test_class_is_refused(tiny_features):
    extractor, train, _ = tiny_features
    with pytest.raises(ValueError, match=r"test_features\[0\] is empty"):
        fidelity_sweep(
            extractor.head,
            train,
            {0: torch.zeros(0, 4, 4, 6)},
            reducers=["pca"],
            n_components=[2],
            device="cpu",
        )


@pytest.mark.parametrize(
    ("settings", "match"),
    [
        ({"reducers": ["svd"]}, "choose one or more of"),
        ({"n_components": []}, "positive ints"),
        ({"n_components": [0, 5]}, "positive ints"),
        ({"top_k": 0}, "top_k=0"),
    ],
)
def test_bad_sweep_settings_are_refused(tiny_features, settings, match):
    extractor, train, test = tiny_features
    with pytest.raises(ValueError, match=match):
        fidelity_sweep(
            extractor.head, train, test, **{"reducers": ["pca"], "n_components": [2], **settings}
        )
