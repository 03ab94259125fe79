"""`manage.py fit_explainers`: fits in the foreground, JSON when asked, errors as command errors."""

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from explainers.models import ExplainerRun
from tests.command_output import command_json as _json


def test_fit_explainers_fits_the_requested_classes(scenario):
    result = _json(
        "fit_explainers",
        "--scenario",
        str(scenario.pk),
        "--reducer",
        "pca",
        "--classes",
        "class_01,class_02",
        "--device",
        "cpu",
    )
    assert [r["class"] for r in result["runs"]["pca"]] == ["class_01", "class_02"]
    assert ExplainerRun.objects.filter(reducer="pca", status="succeeded").count() == 2


def test_bad_input_becomes_a_command_error(scenario):
    with pytest.raises(CommandError, match="no scenario 'nope'"):
        call_command("fit_explainers", "--scenario", "nope")
    with pytest.raises(CommandError, match="unknown reducer"):
        call_command("fit_explainers", "--scenario", str(scenario.pk), "--reducer", "ica")
    with pytest.raises(CommandError, match="needs 21"):
        call_command(
            "build_stimulus_set",
            "--scenario",
            str(scenario.pk),
            "--reducer",
            "nmf",
            "--n-classes",
            "21",
            stderr=io.StringIO(),
        )
