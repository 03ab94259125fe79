"""Analysis fixtures: a launched study taken by simulated participants through the real pages."""

from __future__ import annotations

import pytest


@pytest.fixture
def media_root(settings, tmp_path):
    """A media folder of the test's own, so stored reports never mix between tests."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def pseudonym_key(settings) -> str:
    settings.ICELAB_PSEUDONYM_KEY = "analysis-tests-pseudonym-key-0123456789"
    return settings.ICELAB_PSEUDONYM_KEY


@pytest.fixture
def taken_study(make_study, pseudonym_key):
    """A live study with 6 bots that label rows by their part and 3 that answer at random."""
    from studies.services import participants_simulate

    study = make_study(slug="taken")
    participants_simulate(study=study, n=6, policy="labels", seed=1)
    participants_simulate(study=study, n=3, policy="random", seed=2)
    return study
