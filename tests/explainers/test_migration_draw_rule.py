"""Migration draw_rule: the stimulus sets that exist were drawn under rule v1 and are marked so."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor


def _draw_rule_migration(executor: MigrationExecutor) -> tuple[list, list]:
    """([the migration before it], [the draw-rule migration]), whatever its number."""
    (node,) = [
        key
        for key in executor.loader.graph.nodes
        if key[0] == "explainers" and key[1].endswith("_stimulusset_draw_rule")
    ]
    parents = [p for p in executor.loader.graph.node_map[node].parents if p.key[0] == "explainers"]
    return [parents[0].key], [node]


@pytest.mark.django_db(transaction=True)
def test_it_marks_existing_sets_v1_and_new_sets_default_to_v2():
    executor = MigrationExecutor(connection)
    before, after = _draw_rule_migration(executor)
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
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
        executor.migrate(after)
        new = executor.loader.project_state(after).apps.get_model("explainers", "StimulusSet")
        assert new.objects.get(pk=stimulus_set.pk).draw_rule == "v1"
        assert new.objects.create(scenario_id=scenario.pk, reducer="pca").draw_rule == "v2"
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
