"""Stimulus images: shown exactly as the classifier saw them, stored under content-hash names."""

import hashlib

import numpy as np
from django.core.files.storage import default_storage
from PIL import Image

from explainers.models import Classifier, Scenario
from explainers.services.scenarios import Geometry, scenario_geometry
from explainers.services.stimulus_files import display_image, render_highlight, store_png


def test_the_shown_image_is_the_classifiers_centre_crop(tmp_path):
    pixels = np.random.default_rng(0).integers(0, 255, (50, 100, 3), dtype=np.uint8)
    path = tmp_path / "wide.png"
    Image.fromarray(pixels).save(path)
    shown = display_image(path, Geometry(resize=64, crop=64))
    # Independent reference with Pillow alone: shorter side to 64 (100x50 -> 128x64), then the centre 64x64.
    expected = Image.fromarray(pixels).resize((128, 64), Image.BILINEAR).crop((32, 0, 96, 64))
    assert shown.size == (64, 64)
    assert np.abs(np.asarray(shown, dtype=int) - np.asarray(expected, dtype=int)).max() <= 1


def test_a_scenario_keeps_the_classifiers_resize_ratio():
    classifier = Classifier(input_size=224, resize_size=256)
    assert scenario_geometry(scenario=Scenario(classifier=classifier, input_size=112)) == Geometry(
        resize=128, crop=112
    )
    assert scenario_geometry(scenario=Scenario(classifier=classifier, input_size=224)) == Geometry(
        resize=256, crop=224
    )


def test_the_highlight_lines_up_with_the_concept_map(tmp_path):
    path = tmp_path / "grey.png"
    Image.fromarray(np.full((64, 64, 3), 200, dtype=np.uint8)).save(path)
    concept_map = np.zeros((8, 8))
    concept_map[:4, :4] = 1.0  # the concept is the top-left quarter
    shown = np.asarray(
        render_highlight(path, concept_map, geometry=Geometry(64, 64), shift_negative=False)
    )
    assert (shown[5:25, 5:25] == 200).all()  # kept
    assert (shown[40:, 40:] == 60).all()  # dimmed to 0.3


def test_images_are_stored_once_under_their_hash(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    image = Image.fromarray(np.arange(48, dtype=np.uint8).reshape(4, 4, 3))
    name, digest = store_png(image)
    again, _ = store_png(image.copy())
    assert name == again == f"stimuli/{digest}.png"
    with default_storage.open(name, "rb") as handle:
        data = handle.read()
    assert hashlib.sha256(data).hexdigest() == digest
    assert len(list((tmp_path / "media" / "stimuli").iterdir())) == 1
