"""Fixtures every app's tests share: a tiny ImageFolder dataset, a tiny classifier checkpoint,
and stimulus sets built from them once per session.

The dataset and checkpoint are made once per session in a temporary folder. Each test
gets its own ICELAB_HOME and MEDIA_ROOT; the feature bank is shared through a symlink so
the CNN runs once per class for the whole session.

Stimulus sets (one per reducer) are built once per session with the real services
inside a transaction that is rolled back; their rows are kept as serialized JSON and
loaded into each test's database by :func:`stimulus_sets` (a few milliseconds), and
their image files stay in a session media folder.
"""

from __future__ import annotations

import socket
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

N_CLASSES = 20
N_TRAIN = 6
N_TEST = 10
IMAGE_SIZE = 64
SMALL_WIDTHS = [8, 16, 16, 24]
# Stimulus sets for the studies tests: 4 classes -> 1 training and 3 test trials each.
STUDY_SET = {"n_classes": 4, "n_training": 1, "seed": 3}
STUDY_REDUCERS = ("nmf", "pca", "kmeans")


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
    return tmp_path_factory.mktemp("icelab-tests")


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


def _home_with_shared_features(home: Path, session_dir: Path) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    shared = session_dir / "features"
    shared.mkdir(exist_ok=True)
    if not (home / "features").exists():
        (home / "features").symlink_to(shared, target_is_directory=True)
    return home


@pytest.fixture
def icelab_home(settings, tmp_path, session_dir) -> Path:
    home = _home_with_shared_features(tmp_path / "home", session_dir)
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


@pytest.fixture(scope="session")
def built_stimulus_sets(django_db_setup, django_db_blocker, session_dir, imagefolder, checkpoint):
    """(serialized rows, home folder) of one built stimulus set per reducer of ``STUDY_REDUCERS``."""
    from django.core import serializers
    from django.db import transaction
    from django.test import override_settings

    from explainers.models import Concept, ExplainerRun, Trial
    from explainers.services import (
        classifier_create,
        dataset_create_imagefolder,
        scenario_create,
        stimulus_set_build,
    )

    home = _home_with_shared_features(session_dir / "stimulus-home", session_dir)
    with (
        override_settings(ICELAB_HOME=home, MEDIA_ROOT=home / "media", CELERY_BROKER_URL=""),
        django_db_blocker.unblock(),
        transaction.atomic(),
    ):
        dataset = dataset_create_imagefolder(name="tiny", path=imagefolder)
        classifier = classifier_create(name="tiny-resnet", checkpoint=checkpoint)
        scenario = scenario_create(
            dataset=dataset, classifier=classifier, layer="layer4", input_size=IMAGE_SIZE
        )
        sets = [
            stimulus_set_build(scenario=scenario, reducer=reducer, device="cpu", **STUDY_SET)
            for reducer in STUDY_REDUCERS
        ]
        rows = serializers.serialize(
            "json",
            [dataset, classifier, scenario]
            + list(ExplainerRun.objects.all())
            + list(Concept.objects.all())
            + sets
            + list(Trial.objects.all()),
        )
        transaction.set_rollback(True)  # each test loads the rows into its own database state
    return rows, home


@pytest.fixture
def stimulus_sets(db, settings, built_stimulus_sets) -> list:
    """One built (ready, not yet frozen) stimulus set per reducer, with their image files."""
    from django.core import serializers

    from explainers.models import StimulusSet

    rows, home = built_stimulus_sets
    settings.ICELAB_HOME = home
    settings.MEDIA_ROOT = home / "media"
    settings.CELERY_BROKER_URL = ""
    for obj in serializers.deserialize("json", rows):
        obj.save()
    _reset_sequences()
    return list(StimulusSet.objects.order_by("pk"))


@pytest.fixture
def make_study(stimulus_sets):
    """``make(slug="match", launch=True, **config)``: a study with one group per session set."""
    from studies.services import study_create, study_launch

    def make(slug: str = "match", *, launch: bool = True, **config):
        config.setdefault("allow_anonymous", True)
        config.setdefault("code_completed", "DONE1234")
        study = study_create(
            slug=slug,
            title="Match the concept",
            stimulus_sets=stimulus_sets,
            labels=[f"secret-label-{s.reducer}" for s in stimulus_sets],
            **config,
        )
        return study_launch(study=study) if launch else study

    return make


@pytest.fixture
def study(make_study):
    return make_study()


def _reset_sequences() -> None:
    """Rows were loaded with their primary keys: move PostgreSQL's sequences past them."""
    from django.apps import apps
    from django.core.management.color import no_style
    from django.db import connection

    statements = connection.ops.sequence_reset_sql(
        no_style(), list(apps.get_app_config("explainers").get_models())
    )
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    """Rate-limit counters live in the (local-memory) cache: every test starts with none."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def broker_down(settings, monkeypatch) -> str:
    """CELERY_BROKER_URL pointing at a port nothing listens on."""
    from config.celery import app

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"redis://127.0.0.1:{port}/13"
    settings.CELERY_BROKER_URL = url
    monkeypatch.setattr(app.conf, "broker_url", url)
    # Connections to another broker made earlier in the session are not reused.
    monkeypatch.setattr(app, "_pool", None)
    monkeypatch.setattr(app.amqp, "_producer_pool", None)
    return url


@pytest.fixture
def full_disk(monkeypatch) -> dict:
    """The media disk fills up: ``state["left"]`` more files are written whole, then each
    save writes half its bytes (what a full disk leaves) and raises ENOSPC."""
    import errno

    from django.core.files.storage import FileSystemStorage

    state = {"left": 0, "failed": []}
    original = FileSystemStorage._save

    def save(storage, name, content):
        if state["left"] > 0:
            state["left"] -= 1
            return original(storage, name, content)
        path = Path(storage.path(name))
        path.parent.mkdir(parents=True, exist_ok=True)
        data = content.read()
        path.write_bytes(data[: len(data) // 2])
        state["failed"].append(name)
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(FileSystemStorage, "_save", save)
    return state


@pytest.fixture
def cache_redis_down(settings) -> None:
    """CACHE_URL's Redis (rate-limit counters) on a port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.CACHES = {
        "default": {
            "BACKEND": "icelab.cache.RedisCacheWithLocalFallback",
            "LOCATION": f"redis://127.0.0.1:{port}/12",
        }
    }
