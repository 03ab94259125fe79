"""Migration 0002: the stimulus sets that exist were drawn under rule v1 and are marked so."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("explainers", "0001_initial")]
AFTER = [("explainers", "0002_stimulusset_draw_rule")]


@pytest.mark.django_db(transaction=True)
def test_it_marks_existing_sets_v1_and_new_sets_default_to_v2():
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps
    dataset = old.get_model("explainers", "Dataset").objects.create(name="d", path="/nowhere")
    classifier = old.get_model("explainers", "Classifier").objects.create(
        name="c", arch="resnet18", weights="IMAGENET1K_V1"
    )
    scenario = old.get_model("explainers", "Scenario").objects.create(
        name="s", dataset=dataset, classifier=classifier, layer="layer4", input_size=224
    )
    stimulus_set = old.get_model("explainers", "StimulusSet").objects.create(
        scenario=scenario, reducer="nmf", seed=3
    )
    try:
        executor = MigrationExecutor(connection)  # reload the graph after migrating backwards
        executor.migrate(AFTER)
        new = executor.loader.project_state(AFTER).apps.get_model("explainers", "StimulusSet")
        assert new.objects.get(pk=stimulus_set.pk).draw_rule == "v1"
        assert new.objects.create(scenario_id=scenario.pk, reducer="pca").draw_rule == "v2"
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
