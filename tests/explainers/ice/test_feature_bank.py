"""The feature bank caches activations per class, keyed by model and image content."""

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from explainers.ice.classifiers import load_classifier
from explainers.ice.feature_bank import FeatureBank, model_fingerprint
from explainers.ice.features import FeatureExtractor


def _write_images(directory: Path, count: int, seed: int = 0) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for index in range(count):
        path = directory / f"{index:03d}.png"
        Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    model = load_classifier("resnet18", num_classes=4)
    model.icelab_meta.update(input_size=64, resize_size=64)  # small images keep the test fast
    return model


@pytest.fixture
def bank(tmp_path, model):
    return FeatureBank(
        tmp_path / "bank", FeatureExtractor(model, "layer4", device="cpu"), batch_size=4, workers=0
    )


def test_it_stores_the_models_own_activations_and_logits(tmp_path, bank, model):
    paths = _write_images(tmp_path / "imgs" / "a", 6)
    entry = bank.get("test", "a", paths)
    assert entry.features.shape == (6, 2, 2, 512)
    assert isinstance(entry.features, np.memmap)
    # Independent reference: the model's own forward pass on the same preprocessing.
    batch = torch.stack([bank.transform(Image.open(p).convert("RGB")) for p in paths])
    with torch.no_grad():
        expected = model(batch).numpy()
    np.testing.assert_allclose(entry.logits, expected, rtol=1e-4, atol=1e-4)


def test_it_reuses_the_cache_without_running_the_model(tmp_path, bank, monkeypatch):
    paths = _write_images(tmp_path / "imgs" / "a", 3)
    first = bank.get("train", "a", paths)
    monkeypatch.setattr(
        bank, "_run_model", lambda *a, **k: pytest.fail("model re-run on a cache hit")
    )
    second = bank.get("train", "a", paths)
    assert second.directory == first.directory
    np.testing.assert_array_equal(second.features, first.features)


def test_a_copy_of_the_images_elsewhere_shares_the_entry_but_gets_its_own_paths(
    tmp_path, bank, monkeypatch
):
    paths = _write_images(tmp_path / "imgs" / "a", 3)
    corrupt = paths[0].parent / "corrupt.png"
    corrupt.write_bytes(b"not an image")
    first = bank.get("train", "a", [paths[0], corrupt, *paths[1:]])
    copies = _write_images(tmp_path / "moved" / "a", 3)  # same names, same bytes
    (tmp_path / "moved" / "a" / "corrupt.png").write_bytes(b"not an image")
    monkeypatch.setattr(
        bank, "_run_model", lambda *a, **k: pytest.fail("model re-run for identical images")
    )
    second = bank.get("train", "a", [copies[0], copies[0].parent / "corrupt.png", *copies[1:]])
    assert second.directory == first.directory
    assert second.paths == tuple(str(c) for c in copies)
    assert second.skipped == (str(copies[0].parent / "corrupt.png"),)


def test_a_changed_image_invalidates_the_entry(tmp_path, bank):
    paths = _write_images(tmp_path / "imgs" / "a", 3)
    first = bank.get("train", "a", paths)
    Image.fromarray(np.zeros((40, 40, 3), dtype=np.uint8)).save(paths[1])
    second = bank.get("train", "a", paths)
    assert second.directory != first.directory
    assert not np.allclose(second.features[1], first.features[1])


def test_a_changed_model_invalidates_the_entry(tmp_path, model):
    paths = _write_images(tmp_path / "imgs" / "a", 2)
    other = load_classifier("resnet18", num_classes=4)
    assert model_fingerprint(other) != model_fingerprint(model)
    bank_a = FeatureBank(
        tmp_path / "bank", FeatureExtractor(model, "layer4", device="cpu"), workers=0
    )
    bank_b = FeatureBank(
        tmp_path / "bank",
        FeatureExtractor(other, "layer4", device="cpu"),
        workers=0,
        transform=bank_a.transform,
    )
    assert bank_a.get("train", "a", paths).directory != bank_b.get("train", "a", paths).directory


def test_it_skips_and_reports_unreadable_images(tmp_path, bank):
    paths = _write_images(tmp_path / "imgs" / "a", 3)
    corrupt = paths[0].parent / "corrupt.png"
    corrupt.write_bytes(b"not an image")
    entry = bank.get("train", "a", [*paths, corrupt])
    assert len(entry) == 3
    assert entry.skipped == (str(corrupt),)


def test_it_leaves_no_entry_when_every_image_is_unreadable(tmp_path, bank):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"garbage")
    with pytest.raises(ValueError, match="could be read"):
        bank.get("train", "a", [bad])
    assert not any(
        p.name.endswith(tuple("0123456789abcdef"))
        for p in (tmp_path / "bank").rglob("*")
        if p.is_dir() and (p / "index.json").exists()
    )
    assert not list((tmp_path / "bank").rglob("index.json"))


def test_an_empty_class_is_a_clear_error(bank):
    with pytest.raises(ValueError, match="has no images"):
        bank.get("train", "empty", [])


def test_streaming_drops_each_class_after_use(tmp_path, bank):
    classes = [
        ("a", _write_images(tmp_path / "imgs" / "a", 2)),
        ("b", _write_images(tmp_path / "imgs" / "b", 2, 1)),
    ]
    seen = []
    for entry in bank.stream("train", classes):
        seen.append(entry.class_name)
        assert entry.directory.exists()
        directory = entry.directory
    assert seen == ["a", "b"]
    assert not directory.exists()
