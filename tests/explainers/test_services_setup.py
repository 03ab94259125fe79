"""Registering datasets, classifiers and scenarios, with the errors a researcher can cause."""

import hashlib

import pytest
from django.core.exceptions import ValidationError

from explainers.models import Dataset, Scenario
from explainers.services import (
    classifier_create,
    dataset_create_imagefolder,
    dataset_create_synthetic,
    scenario_create,
)


def test_it_registers_an_imagefolder_with_its_classes(dataset, imagefolder):
    assert dataset.class_names == sorted(p.name for p in (imagefolder / "train").iterdir())
    assert len(dataset.class_names) == 20
    assert dataset_create_imagefolder(name="tiny", path=imagefolder).pk == dataset.pk


def test_the_same_name_for_another_folder_is_refused(dataset, tmp_path):
    (tmp_path / "train" / "a").mkdir(parents=True)
    (tmp_path / "test" / "a").mkdir(parents=True)
    with pytest.raises(ValidationError, match="already exists"):
        dataset_create_imagefolder(name="tiny", path=tmp_path)


def test_a_folder_without_splits_is_refused(db, icelab_home, tmp_path):
    with pytest.raises(ValidationError, match="no train/ or test/ folder"):
        dataset_create_imagefolder(name="empty", path=tmp_path)
    assert not Dataset.objects.exists()


def test_it_records_the_checkpoints_hash_and_metadata(classifier, checkpoint):
    assert classifier.sha256 == hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    assert classifier.arch == "icelab_resnet"
    assert classifier.input_size == 64 and classifier.num_classes == 20
    assert classifier.class_names[0] == "class_00"


def test_a_checkpoint_that_does_not_load_is_explained(db, icelab_home, tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ValidationError, match="cannot load classifier"):
        classifier_create(name="bad", checkpoint=bad)


def test_an_unknown_layer_lists_the_valid_ones(dataset, classifier):
    with pytest.raises(ValidationError) as error:
        scenario_create(dataset=dataset, classifier=classifier, layer="layer9")
    message = " ".join(error.value.messages)
    assert "'layer9' is not a layer of icelab_resnet" in message
    assert "layer4" in message and "fc" in message
    assert not Scenario.objects.exists()


def test_a_scenario_is_created_once(scenario, dataset, classifier):
    assert scenario.input_size == 64
    assert (
        scenario_create(dataset=dataset, classifier=classifier, layer="layer4", input_size=64).pk
        == scenario.pk
    )


def test_classes_that_match_no_output_are_explained(db, icelab_home, classifier, tmp_path):
    from tests.explainers.conftest import write_imagefolder

    other = dataset_create_imagefolder(
        name="three", path=write_imagefolder(tmp_path / "d", 3, 1, 1)
    )
    other.class_names = [
        "class_01",
        "class_02",
        "zebra",
    ]  # a class the classifier was never trained on
    with pytest.raises(
        ValidationError, match="3 classes cannot be matched to the classifier's 20 outputs"
    ):
        scenario_create(dataset=other, classifier=classifier, layer="layer4")


def test_it_generates_and_registers_the_synthetic_dataset(db, icelab_home):
    dataset = dataset_create_synthetic(seed=3, n_classes=2, per_class=(2, 1, 1), size=64, workers=1)
    assert dataset.kind == Dataset.Kind.SYNTHETIC and dataset.seed == 3
    assert len(dataset.class_names) == 2
    assert str(icelab_home) in dataset.path
    again = dataset_create_synthetic(seed=3, n_classes=2, per_class=(2, 1, 1), size=64, workers=1)
    assert again.pk == dataset.pk
