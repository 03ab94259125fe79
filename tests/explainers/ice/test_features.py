"""FeatureExtractor and the heads: activations, head recognition, input checks.

References are computed independently: the model's own output (``model(images)``)
and the ResNet stages run by hand.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision
from torch import nn

from explainers.ice.features import FeatureExtractor, GeneralHead, LinearHead


@pytest.fixture(scope="module")
def resnet18() -> nn.Module:
    torch.manual_seed(0)
    return torchvision.models.resnet18(weights=None, num_classes=7).eval()


@pytest.fixture(scope="module")
def inception() -> nn.Module:
    torch.manual_seed(0)
    model = torchvision.models.inception_v3(
        weights=None, aux_logits=False, init_weights=False, transform_input=False, num_classes=6
    )
    return model.eval()


@pytest.fixture(scope="module")
def inception_images(inception) -> tuple[torch.Tensor, torch.Tensor]:
    """One 80-px image and the model's own logits for it."""
    images = torch.randn(1, 3, 80, 80, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        return images, inception(images)


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return torch.randn(3, 3, 64, 64, generator=torch.Generator().manual_seed(1))


class _FunctionalReluNet(nn.Module):
    """Children look like GAP + linear, but forward applies a ReLU the children do not show."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Conv2d(3, 4, 3)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(torch.relu(self.features(x))).flatten(1))


class _EfficientNetLike(nn.Module):
    """GAP child, flatten in forward, classifier = Sequential(Dropout, Linear)."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 5, 3), nn.ReLU())
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(0.5), nn.Linear(5, 4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


def _resnet_layer4_by_hand(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    x = model.maxpool(model.relu(model.bn1(model.conv1(images))))
    for stage in (model.layer1, model.layer2, model.layer3, model.layer4):
        x = stage(x)
    return x.permute(0, 2, 3, 1)


@torch.no_grad()
def test_it_returns_channels_last_activations_of_the_layer(resnet18, images):
    activations = FeatureExtractor(resnet18, "layer4", device="cpu")(images)
    expected = _resnet_layer4_by_hand(resnet18, images)
    assert activations.shape == (3, 2, 2, 512)
    assert activations.dtype == torch.float32
    torch.testing.assert_close(activations, expected)


def test_it_stops_the_forward_pass_after_the_layer(resnet18, images):
    calls = []
    handle = resnet18.fc.register_forward_hook(lambda *args: calls.append(1))
    try:
        FeatureExtractor(resnet18, "layer4", device="cpu")(images)
    finally:
        handle.remove()
    assert calls == []
    assert not resnet18.layer4._forward_hooks, "the extractor must remove its hook"


def test_it_puts_the_model_in_eval_mode():
    model = torchvision.models.resnet18(weights=None, num_classes=3).train()
    FeatureExtractor(model, "layer4", device="cpu")
    assert not model.training


@torch.no_grad()
def test_resnet_layer4_head_is_linear_and_reproduces_the_model(resnet18, images):
    extractor = FeatureExtractor(resnet18, "layer4", device="cpu")
    assert isinstance(extractor.head, LinearHead) and extractor.head.is_linear
    torch.testing.assert_close(extractor.head.weight, resnet18.fc.weight.T)
    torch.testing.assert_close(extractor.head.bias, resnet18.fc.bias)
    torch.testing.assert_close(
        extractor.head(extractor(images)), resnet18(images), atol=1e-4, rtol=1e-4
    )
    torch.testing.assert_close(extractor.logits(images), resnet18(images))


@torch.no_grad()
def test_inception_mixed_7c_head_is_linear_and_reproduces_the_model(inception, inception_images):
    images, expected = inception_images
    extractor = FeatureExtractor(inception, "Mixed_7c", device="cpu")
    assert isinstance(extractor.head, LinearHead)
    torch.testing.assert_close(extractor.head(extractor(images)), expected, atol=1e-4, rtol=1e-4)


@torch.no_grad()
def test_resnet_layer3_gets_a_general_head_that_reproduces_the_model(resnet18, images):
    extractor = FeatureExtractor(resnet18, "layer3", device="cpu")
    assert isinstance(extractor.head, GeneralHead) and not extractor.head.is_linear
    activations = extractor(images)
    assert activations.shape == (3, 4, 4, 256)
    torch.testing.assert_close(extractor.head(activations), resnet18(images), atol=1e-4, rtol=1e-4)


@torch.no_grad()
def test_general_head_works_before_any_extraction(resnet18, images):
    activations = FeatureExtractor(resnet18, "layer3", device="cpu")(images)
    fresh = FeatureExtractor(resnet18, "layer3", device="cpu")  # has never seen an image
    torch.testing.assert_close(fresh.head(activations), resnet18(images), atol=1e-4, rtol=1e-4)


@torch.no_grad()
def test_inception_general_head_reproduces_the_model(inception, inception_images):
    images, expected = inception_images
    extractor = FeatureExtractor(inception, "Mixed_6e", device="cpu")
    assert not extractor.head.is_linear
    torch.testing.assert_close(extractor.head(extractor(images)), expected, atol=1e-4, rtol=1e-4)


def test_nested_last_block_of_a_stage_is_still_linear_but_a_block_internal_layer_is_not(resnet18):
    assert FeatureExtractor(resnet18, "layer4.1", device="cpu").head.is_linear
    # bn2 is followed by the residual add and a ReLU inside BasicBlock.forward.
    assert not FeatureExtractor(resnet18, "layer4.1.bn2", device="cpu").head.is_linear


@torch.no_grad()
def test_dropout_and_sequential_classifier_are_recognised():
    torch.manual_seed(0)
    model = _EfficientNetLike().eval()
    images = torch.randn(2, 3, 12, 12)
    extractor = FeatureExtractor(model, "features", device="cpu")
    assert extractor.head.is_linear
    torch.testing.assert_close(extractor.head(extractor(images)), model(images))


def test_verify_head_catches_a_forward_the_children_do_not_show():
    torch.manual_seed(0)
    model = _FunctionalReluNet()
    extractor = FeatureExtractor(model, "features", device="cpu")
    with pytest.raises(ValueError, match="'features'.*does not reproduce"):
        extractor.verify_head(torch.randn(4, 3, 10, 10))


def test_extract_concatenates_batches_and_labels_pairs_and_reports_progress(resnet18, images):
    extractor = FeatureExtractor(resnet18, "layer4", device="cpu")
    seen = []
    batches = [(images[:2], torch.tensor([0, 1])), (images[2:], torch.tensor([2]))]
    activations = extractor.extract(
        batches, progress=lambda fraction, step: seen.append((fraction, step))
    )
    torch.testing.assert_close(activations, extractor(images), atol=1e-5, rtol=1e-5)
    assert seen == [(0.5, "feature batches 1/2"), (1.0, "feature batches 2/2")]


def test_unknown_layer_lists_the_valid_names_of_a_small_model():
    model = _EfficientNetLike()
    with pytest.raises(
        ValueError,
        match=r"layer='conv9'.*valid layers: features, features\.0, features\.1, avgpool",
    ):
        FeatureExtractor(model, "conv9", device="cpu")


def test_unknown_layer_of_a_big_model_names_top_level_layers_and_how_to_list_all(resnet18):
    with pytest.raises(ValueError, match=r"layer4, avgpool, fc .*named_modules"):
        FeatureExtractor(resnet18, "layer5", device="cpu")


@pytest.mark.parametrize(
    ("shape", "match"),
    [
        ((3, 64, 64), r"\(n, 3, H, W\)"),
        ((2, 1, 64, 64), r"\(n, 3, H, W\)"),
        ((0, 3, 64, 64), "n >= 1"),
    ],
)
def test_wrong_shaped_batch_names_the_expected_shape(resnet18, shape, match):
    with pytest.raises(ValueError, match=match):
        FeatureExtractor(resnet18, "layer4", device="cpu")(torch.zeros(shape))


def test_integer_images_are_a_type_error(resnet18):
    with pytest.raises(TypeError, match="float32"):
        FeatureExtractor(resnet18, "layer4", device="cpu")(
            torch.zeros((1, 3, 64, 64), dtype=torch.uint8)
        )


def test_images_too_small_for_inception_name_the_minimum(inception):
    with pytest.raises(ValueError, match=r"too small.*75"):
        FeatureExtractor(inception, "Mixed_7c", device="cpu")(torch.zeros(1, 3, 40, 40))


def test_a_layer_without_a_feature_map_is_refused(resnet18, images):
    with pytest.raises(ValueError, match="'fc' outputs .*not a feature map"):
        FeatureExtractor(resnet18, "fc", device="cpu")(images)


def test_read_only_activations_are_shared_not_copied():
    # Feature-bank entries are read-only memory maps; a copy per class would double the memory.
    from explainers.ice.features import check_activations

    array = np.zeros((2, 3, 3, 4), dtype=np.float32)
    array.setflags(write=False)
    tensor = check_activations(array)
    assert np.shares_memory(tensor.numpy(), array)
    assert tensor.dtype == torch.float32
