"""Model-level invariants: frozen stimulus sets never change; one active job per piece of work;
an explainer run's convergence is recorded whole."""

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from explainers.models import (
    Classifier,
    Dataset,
    ExplainerRun,
    FrozenStimulusSetError,
    Scenario,
    StimulusSet,
    Trial,
)
from jobs.models import Job


@pytest.fixture
def rows(db, tmp_path):
    (tmp_path / "train" / "a").mkdir(parents=True)
    (tmp_path / "test" / "a").mkdir(parents=True)
    dataset = Dataset.objects.create(name="d", path=str(tmp_path), class_names=["a"])
    classifier = Classifier.objects.create(
        name="c", arch="resnet18", checkpoint="/x.pt", sha256="0" * 64
    )
    scenario = Scenario.objects.create(
        name="s", dataset=dataset, classifier=classifier, layer="layer4", input_size=64
    )
    run = ExplainerRun.objects.create(scenario=scenario, class_name="a", reducer="nmf")
    stimulus_set = StimulusSet.objects.create(
        scenario=scenario, reducer="nmf", n_classes=2, n_training=1
    )
    trial = Trial.objects.create(
        stimulus_set=stimulus_set,
        position=0,
        phase="training",
        class_name="a",
        run=run,
        target_concept=0,
        target_percentile=1.0,
        target_image="test/a/0.png",
        target_image_sha256="1" * 64,
        target_file="stimuli/x.png",
        target_file_sha256="2" * 64,
        concept_weights=[1.0],
        candidates=[],
    )
    return stimulus_set, trial


def _freeze(stimulus_set):
    StimulusSet.objects.filter(pk=stimulus_set.pk).update(frozen_at=timezone.now())
    stimulus_set.refresh_from_db()


def test_a_frozen_set_refuses_every_change(rows):
    stimulus_set, trial = rows
    _freeze(stimulus_set)
    stimulus_set.seed = 3
    with pytest.raises(FrozenStimulusSetError):
        stimulus_set.save()
    with pytest.raises(FrozenStimulusSetError):
        stimulus_set.delete()
    with pytest.raises(FrozenStimulusSetError):
        StimulusSet.objects.filter(pk=stimulus_set.pk).update(seed=5)
    with pytest.raises(FrozenStimulusSetError):
        StimulusSet.objects.all().delete()
    trial.target_concept = 4
    with pytest.raises(FrozenStimulusSetError):
        trial.save()
    with pytest.raises(FrozenStimulusSetError):
        trial.delete()
    with pytest.raises(FrozenStimulusSetError):
        Trial.objects.filter(pk=trial.pk).update(target_concept=4)
    assert Trial.objects.get(pk=trial.pk).target_concept == 0
    assert StimulusSet.objects.get(pk=stimulus_set.pk).seed == 0


def test_an_unfrozen_set_can_change(rows):
    stimulus_set, trial = rows
    trial.target_concept = 2
    trial.save()
    stimulus_set.delete()
    assert not Trial.objects.exists()


def test_a_set_needs_at_least_one_test_trial(rows):
    stimulus_set, _ = rows
    with pytest.raises(IntegrityError), transaction.atomic():
        StimulusSet.objects.create(
            scenario=stimulus_set.scenario, reducer="pca", n_classes=5, n_training=5
        )


def test_only_one_active_job_per_key(db):
    Job.objects.create(kind="ping", idempotency_key="k", status=Job.Status.SUCCEEDED)
    Job.objects.create(kind="ping", idempotency_key="k", status=Job.Status.QUEUED)
    with pytest.raises(IntegrityError), transaction.atomic():
        Job.objects.create(kind="ping", idempotency_key="k", status=Job.Status.RUNNING)


def test_a_dataset_without_train_and_test_folders_is_explained(db, tmp_path):
    dataset = Dataset(name="x", path=str(tmp_path))
    with pytest.raises(ValidationError, match=r"no train/ or test/ folder"):
        dataset.full_clean()


def test_a_classifier_needs_weights_or_a_checkpoint(db):
    with pytest.raises(ValidationError, match="exactly one of weights"):
        Classifier(name="c", arch="resnet18").full_clean()


@pytest.mark.parametrize(
    ("converged", "n_iter", "allowed"),
    [
        (None, None, True),
        (True, 131, True),
        (False, 1000, True),
        (True, None, False),
        (None, 5, False),
    ],
)
def test_a_run_records_convergence_and_iterations_together_or_not_at_all(
    rows, converged, n_iter, allowed
):
    run = rows[1].run
    if allowed:
        ExplainerRun.objects.filter(pk=run.pk).update(converged=converged, n_iter=n_iter)
        return
    with pytest.raises(IntegrityError), transaction.atomic():
        ExplainerRun.objects.filter(pk=run.pk).update(converged=converged, n_iter=n_iter)
