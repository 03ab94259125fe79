"""The demo: ICE Lab's whole job on the embedded default, one step after another.

It stands above the apps and is the only place that runs them all: the explainers app
makes the scenario, explainers and stimulus sets (the studies and analysis apps follow
them here). Every step reuses what an earlier run made (the dataset, the checkpoint,
the feature bank, fitted runs), so running the demo again is quick. It returns one
JSON-ready dict.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from PIL import Image

from explainers.ice.alignment import align_concepts, alignment_summary, stack_part_masks
from explainers.ice.classifiers import classifier_meta
from explainers.ice.explainer import ConceptExplainer
from explainers.ice.feature_bank import FeatureBank
from explainers.ice.fidelity import fidelity_sweep
from explainers.ice.figures import render_local_explanation
from explainers.ice.prototypes import prototype_gallery
from explainers.ice.synthetic import SyntheticDataset

Say = Callable[[str], None]

DEMO_SEED = 0
# A short sweep keeps the demo to minutes; `manage.py fidelity_sweep` runs the full 5..50.
DEMO_SWEEP_COMPONENTS = (5, 10, 20)
DEMO_REDUCERS = ("nmf", "pca", "kmeans")
DEMO_STUDY = "demo"
# Simulated participants per group: enough for the report's tests to have something to test.
DEMO_PARTICIPANTS_PER_GROUP = 8


def run_demo(
    *, say: Say = lambda message: None, base_url: str = "http://127.0.0.1:8000"
) -> dict[str, Any]:
    """Run every step of the demo and return its summary; links in it start with ``base_url``."""
    from explainers.services import (
        default_scenario_create,
        explainer_runs_fit,
        manifest_export,
        stimulus_set_build,
    )

    started = time.perf_counter()
    home = Path(settings.ICELAB_HOME)
    out = home / "demo"
    out.mkdir(parents=True, exist_ok=True)
    say("1/6 synthetic concept dataset, 2/6 default classifier (trained once, then reused)")
    scenario, trained = default_scenario_create()
    summary: dict[str, Any] = {
        "icelab_home": str(home),
        "dataset_dir": scenario.dataset.path,
        "classifier": str(trained.checkpoint),
        "test_accuracy": round(trained.test_accuracy, 4),
        "scenario": {"id": scenario.pk, "name": scenario.name, "layer": scenario.layer},
    }
    say("3/6 ICE core: exact explanation, fidelity sweep, concept-part alignment")
    summary["core"] = core_showcase(scenario, out, say=say)

    say("4/6 study explainers and stimulus sets")
    sets = []
    for reducer in DEMO_REDUCERS:
        explainer_runs_fit(scenario=scenario, reducer=reducer, n_components=10, seed=DEMO_SEED)
        sets.append(stimulus_set_build(scenario=scenario, reducer=reducer, seed=DEMO_SEED))
    summary["stimulus_sets"] = [
        {"id": s.pk, "reducer": s.reducer, "trials": s.trials.count()} for s in sets
    ]
    summary["manifest"] = str(manifest_export(out=out / "manifest.json", stimulus_sets=sets))
    say("5/6 the study: one group per stimulus set, simulated participants through its pages")
    summary.update(demo_study(sets, base_url=base_url))
    say("6/6 the study's report: Table 1, tests, plots, exports")
    summary["report_dir"] = demo_report(summary["study"], out / "report")
    summary["seconds"] = round(time.perf_counter() - started, 1)
    return summary


def demo_report(slug: str, out: Path) -> str:
    """The demo study's report, written to ``out`` (and stored for the admin's download page)."""
    from analysis.services import study_report_build
    from studies.selectors import study_by_slug

    report = study_report_build(study=study_by_slug(slug=slug), out_dir=out)
    return str(report.local_dir)


def demo_study(stimulus_sets: list, *, base_url: str) -> dict[str, Any]:
    """The demo study (made and launched once) with its simulated participants, and its links."""
    from studies.selectors import study_by_slug, study_links
    from studies.services import participants_simulate, study_create, study_launch

    study = study_by_slug(slug=DEMO_STUDY)
    if study is None:
        study = study_create(
            slug=DEMO_STUDY,
            title="Which concept is highlighted?",
            stimulus_sets=stimulus_sets,
            platforms=[],
            allow_anonymous=True,
        )
    if study.status == "draft":
        study = study_launch(study=study)
    wanted = DEMO_PARTICIPANTS_PER_GROUP * len(stimulus_sets)
    missing = wanted - study.participants.count()
    if missing > 0:
        # "labels" answers with each concept's known part name, so the report has real signal.
        participants_simulate(study=study, n=missing, policy="labels", seed=DEMO_SEED)
    return {"study": study.slug, **study_links(study=study, base_url=base_url)}


def _split_features(scenario, bank: FeatureBank, split: str) -> dict[int, Any]:
    from explainers.services.scenarios import scenario_class_features

    return {
        g: scenario_class_features(scenario=scenario, bank=bank, split=split, class_name=name)
        for g, name in enumerate(scenario.dataset.class_names)
    }


def core_showcase(scenario, out: Path, *, say: Say) -> dict[str, Any]:
    """Explain one image exactly, sweep fidelity, align concepts with parts."""
    from explainers.services.scenarios import scenario_feature_bank

    data = SyntheticDataset(scenario.dataset.path)
    bank = scenario_feature_bank(scenario=scenario)
    model = bank.extractor.model
    train = _split_features(scenario, bank, "train")
    test = _split_features(scenario, bank, "test")

    target = 0
    explainer = ConceptExplainer(model, scenario.layer, "nmf", 10, random_state=DEMO_SEED)
    explainer.fit_features(np.asarray(train[target].features), target)
    explanation = explainer.explain_features(np.asarray(test[target].features[:1]))
    reconstructed = explanation.contributions.sum(0) + explanation.residual + explanation.bias
    figure_path = _render_explanation(
        explainer, explanation, test[target], data.classes[target], out
    )

    say("   fidelity sweep")
    sweep = fidelity_sweep(
        bank.extractor.head,
        {g: np.asarray(e.features) for g, e in train.items()},
        {g: np.asarray(e.features) for g, e in test.items()},
        n_components=DEMO_SWEEP_COMPONENTS,
        random_state=DEMO_SEED,
    )
    sweep.table.to_csv(out / "fidelity.csv", index=False)
    sweep.figure().savefig(out / "fidelity.png", dpi=120)
    sweep.write_json(out / "fidelity.json")  # settings, versions, device, timings

    return {
        "layer": scenario.layer,
        "concept_map_size": list(train[target].features.shape[1:3]),
        "explanation": {
            "class": data.classes[target],
            "max_abs_error": float(np.abs(reconstructed - explanation.logits).max()),
            "logit": float(explanation.logits[target]),
            "figure": str(figure_path),
        },
        "fidelity": {
            "table": str(out / "fidelity.csv"),
            "figure": str(out / "fidelity.png"),
            "meta": str(out / "fidelity.json"),
            "rows": json.loads(
                sweep.table[["reducer", "n_components", "fid_c", "fid_r", "accuracy"]]
                .round(4)
                .to_json(orient="records")
            ),
        },
        "alignment": _alignment(explainer, test[target], data),
    }


def _display_images(paths: tuple[str, ...], size: int) -> np.ndarray:
    return np.stack([np.asarray(Image.open(p).convert("RGB").resize((size, size))) for p in paths])


def _render_explanation(explainer, explanation, entry, class_name: str, out: Path) -> Path:
    size = classifier_meta(explainer.model)["input_size"]
    images = _display_images(entry.paths, size)
    maps = explainer.concept_maps_from_features(np.asarray(entry.features)).cpu().numpy()
    gallery = prototype_gallery(images, maps, maps.mean(axis=(1, 2)), shift_negative=False)
    figure = render_local_explanation(
        images[0], explanation, explanation.target_class, maps[0], gallery, class_name=class_name
    )
    path = out / "local_explanation.png"
    figure.save(path)
    return path


def _alignment(explainer, entry, data: SyntheticDataset) -> dict[str, Any]:
    maps = explainer.concept_maps_from_features(np.asarray(entry.features)).cpu().numpy()
    size = (data.size, data.size)
    masks = stack_part_masks([data.part_masks(p) for p in entry.paths], size)
    table = align_concepts(maps, masks, size, shift_negative=False)
    return {
        "reducer": "nmf",
        "n_components": explainer.n_components,
        **alignment_summary(table),
        "concepts": table[["concept", "best_part", "best_iou", "purity"]]
        .round(3)
        .to_dict(orient="records"),
    }
