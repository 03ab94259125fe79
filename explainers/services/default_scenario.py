"""The embedded default scenario: the synthetic dataset, the default classifier trained on it, layer4.

Made on first use and reused afterwards (each step is idempotent), so the demo, the
alignment report and a newcomer's first session all start from the same scenario.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

from explainers.ice.progress import Progress, report

from ..models import Scenario

DEFAULT_SEED = 0
DEFAULT_LAYER = "layer4"
DEFAULT_CLASSIFIER = "synthetic-default"


def default_scenario_create(*, progress: Progress | None = None) -> tuple[Scenario, object]:
    """(scenario, training result) of the embedded default, made or reused."""
    from explainers.ice.training import train_classifier

    from .classifiers import classifier_create
    from .datasets import dataset_create_synthetic
    from .scenarios import scenario_create

    report(progress, 0.0, "synthetic concept dataset")
    dataset = dataset_create_synthetic(seed=DEFAULT_SEED)
    report(progress, 0.5, "default classifier (trained once, then reused)")
    trained = train_classifier(
        dataset.path,
        out=Path(settings.ICELAB_HOME) / "classifiers" / f"{DEFAULT_CLASSIFIER}.pt",
        seed=DEFAULT_SEED,
        progress=False,
    )
    classifier = classifier_create(name=DEFAULT_CLASSIFIER, checkpoint=str(trained.checkpoint))
    scenario = scenario_create(dataset=dataset, classifier=classifier, layer=DEFAULT_LAYER)
    report(progress, 1.0, f"default scenario {scenario.name!r} ready")
    return scenario, trained
