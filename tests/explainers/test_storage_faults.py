"""A full disk while a stimulus set renders its images: the set fails with a clear error, no partial file, no trials."""

from __future__ import annotations

import hashlib

import pytest
from django.core.exceptions import ValidationError

from explainers.models import StimulusSet, Trial
from explainers.services import stimulus_set_build

SMALL = {"n_classes": 4, "n_training": 1, "seed": 7, "device": "cpu"}


def _whole_stimuli(media) -> list[str]:
    """Names of the stored stimuli; each must hold the bytes its content-hash name says."""
    names = []
    for path in sorted((media / "stimuli").glob("*")):
        assert hashlib.sha256(path.read_bytes()).hexdigest() == path.stem, f"{path} is partial"
        names.append(path.name)
    return names


def test_a_full_disk_while_rendering_fails_the_set_and_leaves_nothing_half_written(
    scenario, icelab_home, full_disk, settings
):
    media = settings.MEDIA_ROOT
    full_disk["left"] = 10**6  # the explainers fit (and store their prototypes) first
    built = stimulus_set_build(scenario=scenario, reducer="pca", **SMALL)
    # Render the set again from its fitted explainers, this time onto a full disk.
    built.delete()
    for path in (media / "stimuli").glob("*"):
        path.unlink()
    full_disk["left"] = 0

    with pytest.raises(ValidationError) as raised:
        stimulus_set_build(scenario=scenario, reducer="pca", **SMALL)
    message = raised.value.messages[0]
    assert f"could not write {media / 'stimuli'}" in message
    assert "No space left on device" in message and "free disk space there" in message
    failed = StimulusSet.objects.get(scenario=scenario, reducer="pca", seed=SMALL["seed"])
    assert failed.status == StimulusSet.Status.FAILED and "No space left" in failed.error
    assert not Trial.objects.filter(stimulus_set=failed).exists()
    assert full_disk["failed"] and _whole_stimuli(media) == []

    full_disk["left"] = 10**6  # space again: the same call builds it
    rebuilt = stimulus_set_build(scenario=scenario, reducer="pca", **SMALL)
    assert rebuilt.pk == failed.pk and rebuilt.status == StimulusSet.Status.READY
    assert len(_whole_stimuli(media)) > 0
