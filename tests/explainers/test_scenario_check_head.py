"""The head check: a scenario's layer must be a cut where head(E(I)) reproduces the model's logits."""

import pytest
from django.core.exceptions import ValidationError

from explainers.ice.features import FeatureExtractor
from explainers.models import ExplainerRun, RunStatus, Scenario
from explainers.services import explainer_runs_fit, scenario_create
from explainers.services.scenarios import scenario_check_head, scenario_feature_bank

# Inside a residual block: the add after bn2 also reads the block's input, so the rest of
# the network run from bn2's output alone (the general head) does not give the logits.
INSIDE_A_BLOCK = "layer4.0.bn2"


def test_a_new_scenario_records_that_its_head_reproduces_the_logits(scenario):
    scenario.refresh_from_db()
    assert scenario.head_checked_at is not None
    assert 0.0 <= scenario.head_max_difference < 1e-3


def test_a_layer_whose_head_does_not_reproduce_the_logits_is_refused(dataset, classifier):
    with pytest.raises(ValidationError) as error:
        scenario_create(dataset=dataset, classifier=classifier, layer=INSIDE_A_BLOCK)
    message = " ".join(error.value.messages)
    assert f"after layer '{INSIDE_A_BLOCK}' does not reproduce the model's logits" in message
    assert "max difference" in message
    assert not Scenario.objects.exists()


def _unchecked(dataset, classifier, layer: str) -> Scenario:
    """A scenario as rows made before the head check existed: saved without it."""
    return Scenario.objects.create(
        name=layer, dataset=dataset, classifier=classifier, layer=layer, input_size=64
    )


def test_an_unchecked_scenario_is_refused_before_its_first_fit(dataset, classifier):
    scenario = _unchecked(dataset, classifier, INSIDE_A_BLOCK)
    # PCA accepts bn2's signed activations, so without the check this fit would succeed
    # and store logits that are not the model's.
    with pytest.raises(ValidationError, match=f"'{INSIDE_A_BLOCK}' does not reproduce"):
        explainer_runs_fit(scenario=scenario, reducer="pca", classes=["class_00"], device="cpu")
    assert not ExplainerRun.objects.filter(status=RunStatus.SUCCEEDED).exists()
    scenario.refresh_from_db()
    assert scenario.head_checked_at is None


def test_the_check_runs_once_per_scenario(dataset, classifier, monkeypatch):
    calls = []
    original = FeatureExtractor.verify_head

    def counting(self, *args, **kwargs):
        calls.append(self.layer)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(FeatureExtractor, "verify_head", counting)
    scenario = _unchecked(dataset, classifier, "layer4")
    scenario_feature_bank(scenario=scenario, device="cpu")
    scenario.refresh_from_db()
    assert scenario.head_checked_at is not None and calls == ["layer4"]
    scenario_feature_bank(scenario=scenario, device="cpu")
    stale = Scenario.objects.get(pk=scenario.pk)
    Scenario.objects.filter(pk=scenario.pk).update(head_max_difference=0.5)
    stale.head_checked_at = None  # as an instance loaded before the check was recorded
    assert scenario_check_head(scenario=stale).head_max_difference == 0.5
    assert calls == ["layer4"]
