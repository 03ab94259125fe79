"""load_classifier, the default architecture and the checkpoint format."""

from __future__ import annotations

import hashlib
import os
import stat
import urllib.request

import pytest
import torch
import torchvision
from torch import nn

from explainers.ice import checkpoints
from explainers.ice.checkpoints import read_checkpoint
from explainers.ice.classifiers import (
    DEFAULT_ARCH,
    WeightsNotAvailableError,
    load_classifier,
    replace_head,
    save_checkpoint,
    weights_cache_path,
)


@pytest.fixture
def hub_dir(tmp_path, monkeypatch):
    """An empty torch hub cache, so no test sees (or writes to) the real one."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(
        torch.hub, "_hub_dir", None, raising=False
    )  # an earlier set_dir() would win otherwise
    assert torch.hub.get_dir() == str(tmp_path / "torch" / "hub")
    return tmp_path / "torch" / "hub"


@pytest.fixture
def no_network(monkeypatch):
    """Fail the test on any attempt to download."""

    def refuse(*args, **kwargs):
        pytest.fail(f"network access attempted: {args[:1]}")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", refuse)
    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)
    monkeypatch.setattr(torchvision.models._api, "load_state_dict_from_url", refuse)
    monkeypatch.setattr(urllib.request, "urlopen", refuse)


def _inputs(size: int = 96, n: int = 2) -> torch.Tensor:
    return torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(0))


def test_default_arch_keeps_resnet_head_and_gives_12x12_maps_at_96px():
    model = load_classifier(DEFAULT_ARCH, num_classes=20)
    names = [name for name, _ in model.named_children()]
    assert names[-3:] == ["layer4", "avgpool", "fc"]
    assert isinstance(model.avgpool, nn.AdaptiveAvgPool2d) and model.avgpool.output_size in (
        1,
        (1, 1),
    )
    assert isinstance(model.fc, nn.Linear) and model.fc.out_features == 20
    assert not model.training
    x = _inputs()
    stem = nn.Sequential(*list(model.children())[:-2])
    maps = stem(x)
    assert maps.shape == (2, model.fc.in_features, 12, 12)
    # The head is exactly GAP then the linear layer, as the explainer assumes.
    torch.testing.assert_close(model(x), model.fc(maps.mean(dim=(2, 3))), rtol=1e-5, atol=1e-5)


def test_unknown_arch_lists_close_matches():
    with pytest.raises(ValueError, match="resnet50") as caught:
        load_classifier("resnt50")
    assert "Unknown architecture" in str(caught.value)


def test_random_torchvision_arch_has_its_default_preprocessing():
    model = load_classifier("squeezenet1_1", num_classes=7)
    meta = model.icelab_meta
    # Reference: torchvision's own preprocessing of this architecture's weights.
    reference = torchvision.models.SqueezeNet1_1_Weights.IMAGENET1K_V1.transforms()
    assert (meta["input_size"], meta["resize_size"]) == (
        reference.crop_size[0],
        reference.resize_size[0],
    )
    assert list(meta["mean"]) == list(reference.mean) and meta["source"] == "random"
    assert model(_inputs(64)).shape == (2, 7)


def test_enum_weights_not_cached_raise_offline_error_without_network(hub_dir, no_network):
    with pytest.raises(WeightsNotAvailableError) as caught:
        load_classifier("resnet18", "IMAGENET1K_V1")
    message = str(caught.value)
    expected = hub_dir / "checkpoints" / "resnet18-f37072fd.pth"
    assert str(expected) in message and "not available offline" in message
    assert "https://download.pytorch.org/models/resnet18-f37072fd.pth" in message
    assert "local checkpoint" in message


def test_enum_weights_in_the_hub_cache_load(hub_dir):
    source = torchvision.models.resnet18(weights=None)
    expected_file = hub_dir / "checkpoints" / "resnet18-f37072fd.pth"
    expected_file.parent.mkdir(parents=True)
    torch.save(source.state_dict(), expected_file)
    assert weights_cache_path(torchvision.models.ResNet18_Weights.IMAGENET1K_V1) == expected_file

    model = load_classifier("resnet18", "ResNet18_Weights.IMAGENET1K_V1")
    for name, tensor in source.state_dict().items():
        assert torch.equal(model.state_dict()[name], tensor), name
    meta = model.icelab_meta
    categories = torchvision.models.ResNet18_Weights.IMAGENET1K_V1.meta["categories"]
    assert meta["class_names"] == categories and len(categories) == 1000
    assert (meta["input_size"], meta["resize_size"], meta["source"]) == (224, 256, "torchvision")


def test_num_classes_replaces_only_the_head_of_cached_weights(hub_dir):
    source = torchvision.models.resnet18(weights=None)
    path = hub_dir / "checkpoints" / "resnet18-f37072fd.pth"
    path.parent.mkdir(parents=True)
    torch.save(source.state_dict(), path)
    model = load_classifier("resnet18", "DEFAULT", num_classes=5)
    assert model.fc.out_features == 5 and model.icelab_meta["class_names"] is None
    assert torch.equal(model.layer4[0].conv1.weight, source.layer4[0].conv1.weight)
    assert model(_inputs(64)).shape == (2, 5)


def test_weights_of_another_architecture_are_refused():
    with pytest.raises(ValueError, match="ResNet50_Weights"):
        load_classifier("resnet18", "ResNet50_Weights.IMAGENET1K_V2")
    with pytest.raises(ValueError, match="IMAGENET1K_V1"):
        load_classifier("resnet18", "NOT_A_WEIGHT")


def test_checkpoint_round_trip_gives_identical_outputs_and_metadata(tmp_path):
    torch.manual_seed(0)
    model = load_classifier(DEFAULT_ARCH, num_classes=3)
    model.icelab_meta["class_names"] = ["a", "b", "c"]
    with torch.no_grad():  # non-trivial batch-norm statistics, so a lost buffer would show
        model.bn1.running_mean.uniform_(-1, 1)
    path = save_checkpoint(
        tmp_path / "sub" / "model.pt", model, seed=3, test_accuracy=0.5, epochs=2, data_hash="abc"
    )
    assert [p.name for p in path.parent.iterdir()] == ["model.pt"]  # no temporary file left behind

    loaded = load_classifier(DEFAULT_ARCH, path)
    assert torch.equal(loaded(_inputs()), model(_inputs()))
    meta = loaded.icelab_meta
    assert meta["class_names"] == ["a", "b", "c"] and meta["num_classes"] == 3
    assert (meta["input_size"], meta["seed"], meta["test_accuracy"], meta["epochs"]) == (
        96,
        3,
        0.5,
        2,
    )
    assert meta["source"] == "checkpoint" and tuple(meta["mean"]) == (0.485, 0.456, 0.406)
    stored = read_checkpoint(path)
    assert stored["versions"]["torch"] == str(torch.__version__) and stored["data_hash"] == "abc"
    assert load_classifier(None, path).icelab_meta["arch"] == DEFAULT_ARCH


def test_checkpoint_of_another_arch_names_both(tmp_path):
    path = save_checkpoint(tmp_path / "m.pt", load_classifier(DEFAULT_ARCH, num_classes=3))
    with pytest.raises(ValueError) as caught:
        load_classifier("resnet18", path)
    assert "icelab_resnet" in str(caught.value) and "resnet18" in str(caught.value)


def test_plain_state_dict_loads_and_infers_class_count(tmp_path):
    source = torchvision.models.resnet18(weights=None, num_classes=4).eval()
    path = tmp_path / "plain.pth"
    torch.save(
        {"module." + k: v for k, v in source.state_dict().items()}, path
    )  # as DataParallel saves it
    loaded = load_classifier("resnet18", str(path))
    assert loaded.fc.out_features == 4
    assert torch.equal(loaded(_inputs(64)), source(_inputs(64)))


def test_plain_state_dict_of_another_arch_is_a_clear_error(tmp_path):
    path = tmp_path / "plain.pth"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), path)
    with pytest.raises(ValueError, match="do not fit architecture 'squeezenet1_1'"):
        load_classifier("squeezenet1_1", path)


def test_failed_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    model = load_classifier(DEFAULT_ARCH, num_classes=3)
    path = save_checkpoint(tmp_path / "m.pt", model, epochs=1)
    before = hashlib.sha256(path.read_bytes()).hexdigest()

    def crash(obj, handle):
        handle.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(checkpoints.torch, "save", crash)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, model, epochs=2)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]


def test_checkpoints_get_the_usual_file_permissions(tmp_path):
    umask = os.umask(0o027)
    try:
        path = save_checkpoint(tmp_path / "m.pt", load_classifier(DEFAULT_ARCH, num_classes=2))
    finally:
        os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640  # 0o666 less the umask, like any new file


def test_files_that_are_not_checkpoints_are_refused(tmp_path):
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a readable torch checkpoint"):
        load_classifier(DEFAULT_ARCH, garbage)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_classifier(DEFAULT_ARCH, tmp_path / "missing.pt")
    other = tmp_path / "other.pt"
    torch.save({"weights": [1, 2]}, other)
    with pytest.raises(ValueError, match="not an ICE Lab checkpoint"):
        read_checkpoint(other)


def test_replace_head_handles_auxiliary_heads_and_conv_heads():
    googlenet = torchvision.models.googlenet(weights=None, aux_logits=True, init_weights=False)
    replace_head(googlenet, 6)
    assert googlenet.fc.out_features == 6
    assert googlenet.aux1.fc2.out_features == 6 and googlenet.aux2.fc2.out_features == 6
    assert googlenet.aux1.fc1.out_features == 1024  # an inner layer is left alone
    squeezenet = replace_head(torchvision.models.squeezenet1_1(weights=None), 6)
    assert squeezenet.classifier[1].out_channels == 6
    assert squeezenet.eval()(_inputs(64)).shape == (2, 6)
