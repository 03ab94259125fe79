"""Shared fixtures for the explainers app: a tiny ImageFolder dataset and a tiny classifier checkpoint.

Both are made once per session in a temporary folder. Each test gets its own
ICELAB_HOME and MEDIA_ROOT; the feature bank is shared through a symlink so the
CNN runs once per class for the whole session.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

N_CLASSES = 20
N_TRAIN = 6
N_TEST = 10
IMAGE_SIZE = 64
SMALL_WIDTHS = [8, 16, 16, 24]


def _draw(rng: np.random.Generator, colour: tuple[int, int, int]) -> Image.Image:
    pixels = rng.integers(0, 60, (IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8)
    image = Image.fromarray(pixels)
    draw = ImageDraw.Draw(image)
    for _ in range(3):
        x, y = rng.integers(0, IMAGE_SIZE - 16, 2)
        size = int(rng.integers(8, 20))
        shade = tuple(int(c * rng.uniform(0.6, 1.0)) for c in colour)
        draw.ellipse([int(x), int(y), int(x) + size, int(y) + size], fill=shade)
    return image


def write_imagefolder(
    root: Path, n_classes: int = N_CLASSES, n_train: int = N_TRAIN, n_test: int = N_TEST
) -> Path:
    rng = np.random.default_rng(0)
    for index in range(n_classes):
        colour = tuple(int(v) for v in rng.integers(80, 256, 3))
        for split, count in (("train", n_train), ("test", n_test)):
            folder = root / split / f"class_{index:02d}"
            folder.mkdir(parents=True, exist_ok=True)
            for image_index in range(count):
                _draw(rng, colour).save(folder / f"{image_index:03d}.png")
    return root


@pytest.fixture(scope="session")
def session_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("explainers-app")


@pytest.fixture(scope="session")
def imagefolder(session_dir) -> Path:
    return write_imagefolder(session_dir / "dataset")


@pytest.fixture(scope="session")
def checkpoint(session_dir, imagefolder) -> Path:
    import torch

    from explainers.ice.classifiers import build_model, save_checkpoint

    torch.manual_seed(0)
    names = sorted(p.name for p in (imagefolder / "train").iterdir())
    arch_kwargs = {"widths": SMALL_WIDTHS}
    model = build_model("icelab_resnet", num_classes=len(names), arch_kwargs=arch_kwargs)
    meta = {
        "arch": "icelab_resnet",
        "arch_kwargs": arch_kwargs,
        "class_names": names,
        "input_size": IMAGE_SIZE,
        "mean": (0.5, 0.5, 0.5),
        "std": (0.25, 0.25, 0.25),
    }
    return save_checkpoint(session_dir / "classifier.pt", model.eval(), meta=meta)


@pytest.fixture
def icelab_home(settings, tmp_path, session_dir) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    shared = session_dir / "features"
    shared.mkdir(exist_ok=True)
    (home / "features").symlink_to(shared, target_is_directory=True)
    settings.ICELAB_HOME = home
    settings.MEDIA_ROOT = home / "media"
    settings.CELERY_BROKER_URL = ""
    return home


@pytest.fixture
def dataset(db, icelab_home, imagefolder):
    from explainers.services import dataset_create_imagefolder

    return dataset_create_imagefolder(name="tiny", path=imagefolder)


@pytest.fixture
def classifier(db, icelab_home, checkpoint):
    from explainers.services import classifier_create

    return classifier_create(name="tiny-resnet", checkpoint=checkpoint)


@pytest.fixture
def scenario(dataset, classifier):
    from explainers.services import scenario_create

    return scenario_create(
        dataset=dataset, classifier=classifier, layer="layer4", input_size=IMAGE_SIZE
    )
