"""`manage.py build_stimulus_set`: builds and freezes a set."""

from explainers.models import StimulusSet
from tests.command_output import command_json as _json


def test_build_stimulus_set_builds_and_freezes(scenario):
    result = _json(
        "build_stimulus_set",
        "--scenario",
        scenario.name,
        "--reducer",
        "nmf",
        "--n-classes",
        "3",
        "--n-training",
        "1",
        "--seed",
        "4",
        "--freeze",
        "--device",
        "cpu",
    )
    (entry,) = result["stimulus_sets"]
    assert entry["trials"] == 3 and entry["frozen"] and len(entry["classes"]) == 3
    assert StimulusSet.objects.get(pk=entry["id"]).is_frozen
