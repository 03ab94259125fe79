"""ConceptExplainer and concept weights, checked against the model itself.

Independent references: the model's own logits ``model(images)``, the dense
layer's weight read from ``model.fc`` with numpy, a hand-differentiated quadratic
head, and the real network run on reconstructed activations.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision
from sklearn.exceptions import NotFittedError
from torch import nn

from explainers.ice.concept_weights import finite_difference_weights
from explainers.ice.explainer import ConceptExplainer, LocalExplanation, approximate_logits
from explainers.ice.features import FeatureExtractor, GeneralHead
from explainers.ice.reducers import make_reducer

REDUCERS = ["nmf", "pca", "kmeans"]


def _resnet18() -> nn.Module:
    torch.manual_seed(0)
    return torchvision.models.resnet18(weights=None, num_classes=7).eval()


def _resnet50() -> nn.Module:
    torch.manual_seed(0)
    return torchvision.models.resnet50(weights=None, num_classes=5).eval()


def _inception() -> nn.Module:
    torch.manual_seed(0)
    return torchvision.models.inception_v3(
        weights=None, aux_logits=False, init_weights=False, transform_input=False, num_classes=6
    ).eval()


# (constructor, layer, image size, number of fit images): each fit has at least 4 positions.
ARCHITECTURES = {
    "resnet18": (_resnet18, "layer4", 64, 3),
    "resnet50": (_resnet50, "layer4", 48, 2),
    "inception_v3": (_inception, "Mixed_7c", 80, 4),
}


def _images(n: int, size: int, seed: int = 1) -> torch.Tensor:
    return torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module", params=list(ARCHITECTURES))
def case(request) -> dict:
    """A model, its images, their activations and the model's own logits (computed once)."""
    build, layer, size, n_fit = ARCHITECTURES[request.param]
    model = build()
    images = _images(n_fit + 1, size)
    with torch.no_grad():
        features = FeatureExtractor(model, layer, device="cpu")(images)
        logits = model(images).numpy()
    return {
        "model": model,
        "layer": layer,
        "images": images,
        "features": features,
        "logits": logits,
        "n_fit": n_fit,
    }


@pytest.fixture(scope="module")
def resnet18() -> nn.Module:
    return _resnet18()


@pytest.fixture(scope="module")
def resnet18_features(resnet18) -> torch.Tensor:
    """layer4 activations (4, 2, 2, 512) of four 64-px images (``_images(4, 64)``)."""
    return FeatureExtractor(resnet18, "layer4", device="cpu")(_images(4, 64))


def _assert_sums_to(explanation: LocalExplanation, expected: np.ndarray) -> None:
    scale = max(1.0, float(np.abs(expected).max()))
    np.testing.assert_allclose(explanation.logits, expected, rtol=1e-4, atol=1e-4 * scale)
    total = explanation.contributions.sum(axis=0) + explanation.residual + explanation.bias
    np.testing.assert_allclose(total, expected, rtol=1e-4, atol=1e-3 * scale)


@pytest.mark.parametrize("reducer", REDUCERS)
@torch.no_grad()
def test_local_explanation_sums_to_the_models_logits(case, reducer):
    n_fit = case["n_fit"]
    explainer = ConceptExplainer(
        case["model"], case["layer"], reducer, 3, random_state=0, device="cpu"
    )
    explainer.fit_features(case["features"][:n_fit], 1)
    explanation = explainer.explain_features(case["features"][n_fit])
    _assert_sums_to(explanation, case["logits"][n_fit])
    assert not explanation.is_estimate and not explainer.weights_are_estimates_


@pytest.mark.parametrize("reducer", REDUCERS)
@torch.no_grad()
def test_the_residual_is_the_models_logit_minus_the_approximate_logit(case, reducer):
    # The parts of a local explanation sum to the logit by construction, whatever the
    # concept scores; the residual is what pins them down. Independent references: F from
    # the model's own forward pass, F̂ from the model's own dense layer applied to the GAP of
    # the reconstruction S·P (+ mean) assembled here in numpy.
    n_fit, model = case["n_fit"], case["model"]
    explainer = ConceptExplainer(model, case["layer"], reducer, 3, random_state=0, device="cpu")
    explainer.fit_features(case["features"][:n_fit], 1)
    activations = case["features"][n_fit]  # (h, w, c) of an image not used for the fit
    positions = activations.reshape(-1, activations.shape[-1]).numpy()
    S = np.asarray(explainer.reducer_.transform(positions), dtype=np.float64)
    mean = np.asarray(getattr(explainer.reducer_, "mean_", 0.0), dtype=np.float64)
    reconstruction = S @ explainer.reducer_.components_.astype(np.float64) + mean
    W = model.fc.weight.detach().numpy().T.astype(np.float64)
    F_hat = reconstruction.mean(axis=0) @ W + model.fc.bias.detach().numpy()
    F = case["logits"][n_fit].astype(np.float64)
    mean_term = np.broadcast_to(mean, (W.shape[0],)) @ W  # zero for NMF and k-means

    explanation = explainer.explain_features(activations)
    scale = max(1.0, float(np.abs(F).max()))
    np.testing.assert_allclose(explanation.residual, F - F_hat + mean_term, atol=1e-3 * scale)
    np.testing.assert_allclose(explanation.mean_term, mean_term, atol=1e-4 * scale)
    np.testing.assert_allclose(explanation.concept_scores, S.mean(axis=0), rtol=1e-5, atol=1e-6)


@torch.no_grad()
def test_fit_and_explain_from_images_end_to_end(case):
    n_fit, images = case["n_fit"], case["images"]
    explainer = ConceptExplainer(
        case["model"], case["layer"], "nmf", 3, random_state=0, device="cpu"
    )
    explanation = explainer.fit(images[:n_fit], 1).explain(images[n_fit])
    _assert_sums_to(explanation, case["logits"][n_fit])
    assert explanation.target_class == 1 and explainer.n_images_fit_ == n_fit
    torch.testing.assert_close(
        explainer.approximate_logits(images[n_fit:]),
        explainer.reconstruct_logits(case["features"][n_fit:]),
        atol=1e-4,
        rtol=1e-4,
    )


@pytest.mark.parametrize("reducer", REDUCERS)
def test_concept_weights_are_components_times_the_dense_weight(
    resnet18, resnet18_features, reducer
):
    explainer = ConceptExplainer(resnet18, "layer4", reducer, 3, random_state=0, device="cpu")
    explainer.fit_features(resnet18_features[:3], 2)
    fc_weight = resnet18.fc.weight.detach().numpy().astype(np.float64)
    expected = explainer.reducer_.components_.astype(np.float64) @ fc_weight.T
    assert explainer.concept_weights_.shape == (3, 7)
    np.testing.assert_allclose(explainer.concept_weights_, expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(explainer.bias_, resnet18.fc.bias.detach().numpy(), rtol=1e-6)


def test_pca_mean_term_is_the_means_share_of_the_residual(resnet18, resnet18_features):
    explainer = ConceptExplainer(resnet18, "layer4", "pca", 3, random_state=0, device="cpu")
    explanation = explainer.fit_features(resnet18_features[:3], 0).explain_features(
        resnet18_features[3]
    )
    expected = explainer.reducer_.mean_.astype(np.float64) @ resnet18.fc.weight.detach().numpy().T
    np.testing.assert_allclose(explanation.mean_term, expected, rtol=1e-4, atol=1e-5)


def test_nmf_and_kmeans_have_no_mean_term(resnet18, resnet18_features):
    for reducer in ("nmf", "kmeans"):
        explainer = ConceptExplainer(resnet18, "layer4", reducer, 3, random_state=0, device="cpu")
        explainer.fit_features(resnet18_features[:3], 0)
        assert not explainer.explain_features(resnet18_features[3]).mean_term.any()


@torch.no_grad()
def test_finite_differences_on_a_linear_head_equal_the_exact_weights(resnet18, resnet18_features):
    # The general head runs the real avgpool -> fc; only differences are taken.
    head = GeneralHead(resnet18, "layer4", torch.device("cpu"), (64, 64))
    activations = resnet18_features[:3]
    components = (
        make_reducer("nmf", 3, random_state=0, device="cpu")
        .fit(activations.reshape(-1, 512))
        .components_
    )
    estimate = finite_difference_weights(
        head, activations, torch.from_numpy(components), batch_size=2
    )
    exact = components.astype(np.float64) @ resnet18.fc.weight.detach().numpy().T.astype(np.float64)
    np.testing.assert_allclose(estimate.numpy(), exact, rtol=2e-3, atol=2e-3 * np.abs(exact).max())


def test_finite_differences_of_a_quadratic_head_match_its_derivative():
    # C(A) = GAP(A)^2 · W: the directional derivative along p at every position is
    # 2 (GAP(A) ⊙ p) · W, and central differences are exact for a quadratic.
    rng = np.random.default_rng(0)
    activations = torch.from_numpy(rng.random((4, 2, 3, 5)).astype(np.float32))
    components = torch.from_numpy(rng.random((2, 5)).astype(np.float32))
    weight = torch.from_numpy(rng.standard_normal((5, 3)).astype(np.float32))
    estimate = finite_difference_weights(
        lambda a: a.mean(dim=(1, 2)) ** 2 @ weight, activations, components, epsilon=0.1
    )
    pooled = activations.numpy().astype(np.float64).mean(axis=(1, 2))  # (4, 5)
    expected = np.mean([2 * (g * components.numpy()) @ weight.numpy() for g in pooled], axis=0)
    np.testing.assert_allclose(estimate.numpy(), expected, rtol=1e-3, atol=1e-4)


@torch.no_grad()
def test_general_head_explainer_flags_estimates_and_still_sums_to_the_logits(resnet18):
    images = _images(4, 64)
    explainer = ConceptExplainer(resnet18, "layer3", "nmf", 3, random_state=0, device="cpu").fit(
        images[:3], 4
    )
    assert explainer.weights_are_estimates_
    explanation = explainer.explain(images[3])
    assert explanation.is_estimate
    expected = resnet18(images[3:]).numpy()[0]
    np.testing.assert_allclose(explanation.logits, expected, rtol=1e-4, atol=1e-4)
    total = explanation.contributions.sum(axis=0) + explanation.residual + explanation.bias
    np.testing.assert_allclose(total, expected, rtol=1e-4, atol=1e-4)
    # The bias of a general head is C(0): the logits of an all-zero feature map.
    zeros = torch.zeros(1, 4, 4, 256)
    np.testing.assert_allclose(explanation.bias, explainer.head_(zeros)[0].numpy(), rtol=1e-6)


@pytest.mark.parametrize("reducer", REDUCERS)
@torch.no_grad()
def test_approximate_logits_match_the_real_head_on_the_reconstruction(
    resnet18, resnet18_features, reducer
):
    # The linear shortcut pools S before inverting; the reference reconstructs every
    # position and runs the network's own avgpool -> fc on it.
    activations = resnet18_features
    explainer = ConceptExplainer(resnet18, "layer4", reducer, 3, random_state=0, device="cpu")
    explainer.fit_features(activations[:3], 0)
    V = activations.reshape(-1, 512)
    reconstruction = explainer.reducer_.inverse_transform(explainer.reducer_.transform(V)).reshape(
        activations.shape
    )
    expected = GeneralHead(resnet18, "layer4", torch.device("cpu"), (64, 64))(reconstruction)
    torch.testing.assert_close(
        explainer.reconstruct_logits(activations), expected, atol=1e-4, rtol=1e-4
    )
    only_class_2 = approximate_logits(
        explainer.head_, explainer.reducer_, activations, classes=torch.tensor([2])
    )
    torch.testing.assert_close(only_class_2[:, 0], expected[:, 2], atol=1e-4, rtol=1e-4)


def test_concept_scores_are_the_gap_of_the_concept_maps(resnet18, resnet18_features):
    images = _images(4, 64)  # the images of resnet18_features
    explainer = ConceptExplainer(resnet18, "layer4", "nmf", 3, random_state=0, device="cpu")
    explainer.fit_features(resnet18_features, 0)
    maps = explainer.concept_maps(images)
    assert maps.shape == (4, 2, 2, 3)
    direct = explainer.reducer_.transform(resnet18_features.reshape(-1, 512)).reshape(4, 2, 2, 3)
    torch.testing.assert_close(maps, direct)
    torch.testing.assert_close(explainer.concept_scores(images), direct.mean(dim=(1, 2)))
    torch.testing.assert_close(
        explainer.concept_scores_from_features(resnet18_features), direct.mean(dim=(1, 2))
    )


def test_fit_on_batches_equals_fit_on_one_tensor_and_on_features(resnet18, resnet18_features):
    images = _images(4, 64)
    whole = ConceptExplainer(resnet18, "layer4", "pca", 3, random_state=0, device="cpu").fit(
        images, 3
    )
    batched = ConceptExplainer(resnet18, "layer4", "pca", 3, random_state=0, device="cpu")
    batched.fit([(images[:2], torch.zeros(2)), (images[2:], torch.zeros(2))], 3)
    features = resnet18_features.numpy()  # numpy, as the feature bank stores them
    from_features = ConceptExplainer(
        resnet18, "layer4", "pca", 3, random_state=0, device="cpu"
    ).fit_features(features, 3)
    for other in (batched, from_features):
        np.testing.assert_allclose(np.abs(other.components_), np.abs(whole.components_), atol=1e-4)
        assert other.n_images_fit_ == 4 and other.target_class_ == 3


def test_a_reducer_object_is_cloned_not_fitted_in_place(resnet18, resnet18_features):
    reducer = make_reducer("pca", 2, random_state=0, device="cpu")
    explainer = ConceptExplainer(resnet18, "layer4", reducer, device="cpu").fit_features(
        resnet18_features, 0
    )
    assert explainer.components_.shape == (2, 512)
    assert not hasattr(reducer, "components_")


def test_top_concepts_rank_by_weight_and_by_contribution():
    explanation = LocalExplanation(
        target_class=1,
        logits=np.zeros(2),
        concept_scores=np.array([1.0, 2.0, 0.5]),
        weights=np.array([[1.0, 3.0], [1.0, 1.0], [1.0, 4.0]]),
        contributions=np.array([[1.0, 3.0], [2.0, 2.0], [0.5, 2.0]]),
        residual=np.zeros(2),
        bias=np.zeros(2),
        mean_term=np.zeros(2),
        is_estimate=False,
    )
    assert explanation.top_concepts(k=2).tolist() == [0, 1]  # class 1 contributions 3, 2, 2
    assert explanation.top_concepts(class_index=0, k=1).tolist() == [1]


def test_empty_class_is_refused(resnet18):
    explainer = ConceptExplainer(resnet18, "layer4", "nmf", 3, device="cpu")
    with pytest.raises(ValueError, match="empty"):
        explainer.fit(torch.zeros(0, 3, 64, 64), 0)
    with pytest.raises(ValueError, match="empty"):
        explainer.fit([], 0)
    with pytest.raises(ValueError, match="empty"):
        explainer.fit_features(torch.zeros(0, 2, 2, 512), 0)


def test_nan_or_infinite_activations_are_refused_naming_the_layer(resnet18):
    activations = torch.rand(2, 2, 2, 512)
    activations[0, 0, 0, 0] = float("nan")
    activations[1, 0, 0, 0] = float("inf")
    with pytest.raises(ValueError, match="'layer4' contain 2 NaN or infinite"):
        ConceptExplainer(resnet18, "layer4", "pca", 3, device="cpu").fit_features(activations, 0)


def test_nmf_on_a_layer_that_is_not_post_relu_names_the_layer(resnet18):
    # bn1 comes before the stem's ReLU: batch norm output has negative values.
    explainer = ConceptExplainer(resnet18, "bn1", "nmf", 3, device="cpu")
    with pytest.raises(ValueError, match="'bn1' is not non-negative.*post-ReLU"):
        explainer.fit(_images(2, 64), 0)


def test_bad_target_class_and_unfitted_use_are_refused(resnet18):
    features = torch.rand(2, 2, 2, 512)
    with pytest.raises(ValueError, match="target_class=7"):
        ConceptExplainer(resnet18, "layer4", "pca", 2, device="cpu").fit_features(features, 7)
    with pytest.raises(TypeError, match="target_class"):
        ConceptExplainer(resnet18, "layer4", "pca", 2, device="cpu").fit_features(features, "cat")
    with pytest.raises(NotFittedError):
        ConceptExplainer(resnet18, "layer4", "pca", 2, device="cpu").explain(_images(1, 64)[0])


def test_channels_first_features_get_a_hint(resnet18):
    with pytest.raises(ValueError, match="channels-first"):
        ConceptExplainer(resnet18, "layer4", "pca", 2, device="cpu").fit_features(
            torch.rand(2, 512, 2, 2), 0
        )


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("layer", ["layer4", "layer3"])
@torch.no_grad()
def test_explainer_on_cuda_keeps_tensors_on_the_device_and_sums_exactly(layer):
    model = _resnet18()
    images = _images(4, 64)
    expected = model(images[3:]).numpy()[0]
    explainer = ConceptExplainer(model, layer, "nmf", 3, random_state=0, device="cuda").fit(
        images[:3].cuda(), 0
    )
    assert explainer.concept_scores(images.cuda()).device.type == "cuda"
    explanation = explainer.explain(images[3].cuda())
    # cuDNN may use TF32 convolutions, hence the looser tolerance.
    np.testing.assert_allclose(
        explanation.logits, expected, rtol=1e-2, atol=1e-2 * max(1.0, np.abs(expected).max())
    )
    total = explanation.contributions.sum(axis=0) + explanation.residual + explanation.bias
    np.testing.assert_allclose(
        total, explanation.logits, rtol=1e-4, atol=1e-3 * max(1.0, np.abs(expected).max())
    )
