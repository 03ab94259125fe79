"""Fitting explainers through the service: concepts, weights, prototypes, fidelity, idempotency, failures."""

import hashlib
import re

import numpy as np
import pytest
import torch
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from sklearn.exceptions import ConvergenceWarning

from explainers.ice.reducer_files import reducer_load
from explainers.models import ExplainerRun, RunStatus
from explainers.services import explainer_runs_fit
from explainers.services.explainer_runs import run_concept_maps


@pytest.fixture
def nmf_run(scenario):
    (run,) = explainer_runs_fit(
        scenario=scenario, reducer="nmf", classes=["class_03"], seed=0, device="cpu"
    )
    return run


def _head(checkpoint):
    state = torch.load(checkpoint, weights_only=True)["state_dict"]
    return state["fc.weight"].numpy().astype(np.float64), state["fc.bias"].numpy().astype(
        np.float64
    )


def test_it_fits_one_explainer_with_ten_concepts(nmf_run):
    assert nmf_run.status == RunStatus.SUCCEEDED
    assert nmf_run.concepts.count() == 10
    assert nmf_run.n_train_images == 6 and nmf_run.n_test_images == 10
    assert nmf_run.reducer_sha256 and nmf_run.timings["fit_seconds"] >= 0


def test_concept_weights_are_the_components_times_the_head(nmf_run, checkpoint):
    weight, _ = _head(checkpoint)  # fc.weight is (n_classes, c)
    for concept in nmf_run.concepts.all():
        expected = np.asarray(concept.vector) @ weight.T
        np.testing.assert_allclose(concept.class_weights, expected, rtol=1e-4, atol=1e-5)
        assert concept.weight == pytest.approx(expected[3], rel=1e-4, abs=1e-5)


def test_prototypes_are_stored_under_content_hashes(nmf_run):
    for concept in nmf_run.concepts.all():
        assert len(concept.prototypes) == 5
        scores = [p["score"] for p in concept.prototypes]
        assert scores == sorted(scores, reverse=True)
        for prototype in concept.prototypes:
            assert re.fullmatch(r"stimuli/[0-9a-f]{64}\.png", prototype["file"])
            with default_storage.open(prototype["file"], "rb") as handle:
                data = handle.read()
            assert (
                hashlib.sha256(data).hexdigest()
                == prototype["file_sha256"]
                == prototype["file"][8:72]
            )
            assert prototype["image"].startswith("train/class_03/")


def test_the_stored_reducer_recomputes_the_concept_scores(nmf_run, scenario):
    from explainers.services.scenarios import scenario_class_features, scenario_feature_bank

    bank = scenario_feature_bank(scenario=scenario, device="cpu")
    train = scenario_class_features(
        scenario=scenario, bank=bank, split="train", class_name="class_03"
    )
    scores = run_concept_maps(nmf_run, np.asarray(train.features), device="cpu").mean(axis=(1, 2))
    for concept in nmf_run.concepts.all():
        rows = [
            train.paths.index(str(scenario.dataset.path) + "/" + p["image"])
            for p in concept.prototypes
        ]
        np.testing.assert_allclose(
            scores[rows, concept.index],
            [p["score"] for p in concept.prototypes],
            rtol=1e-4,
            atol=1e-6,
        )


def test_fid_r_matches_an_independent_reconstruction(nmf_run, scenario, checkpoint, icelab_home):
    from explainers.services.scenarios import scenario_class_features, scenario_feature_bank

    bank = scenario_feature_bank(scenario=scenario, device="cpu")
    test = scenario_class_features(
        scenario=scenario, bank=bank, split="test", class_name="class_03"
    )
    reducer = reducer_load(icelab_home / nmf_run.reducer_file, device="cpu")
    activations = np.asarray(test.features, dtype=np.float32)
    n, h, w, c = activations.shape
    rebuilt = reducer.inverse_transform(reducer.transform(activations.reshape(-1, c))).reshape(
        n, h, w, c
    )
    weight, bias = _head(checkpoint)
    approximate = rebuilt.mean(axis=(1, 2)) @ weight[3] + bias[3]
    original = np.asarray(test.logits[:, 3], dtype=np.float64)
    expected = np.abs(original - approximate).sum() / (np.abs(original).sum() + 1e-8)
    assert nmf_run.fidelity["fid_r"] == pytest.approx(expected, rel=1e-3, abs=1e-5)


def test_it_records_that_the_reducer_converged_and_in_how_many_iterations(nmf_run, scenario):
    from explainers.ice.reducers import NMFReducer
    from explainers.services.scenarios import scenario_class_features, scenario_feature_bank

    bank = scenario_feature_bank(scenario=scenario, device="cpu")
    train = scenario_class_features(
        scenario=scenario, bank=bank, split="train", class_name="class_03"
    )
    rows = np.asarray(train.features).reshape(-1, train.features.shape[-1])
    refit = NMFReducer(10, random_state=0, device="cpu").fit(rows)  # the run's reducer, again
    assert nmf_run.converged is True
    assert nmf_run.n_iter == refit.n_iter_ and 1 < nmf_run.n_iter < refit.max_iter
    (pca,) = explainer_runs_fit(
        scenario=scenario, reducer="pca", classes=["class_03"], seed=0, device="cpu"
    )
    assert (pca.converged, pca.n_iter) == (True, 0)  # exact


def test_a_fit_stopped_by_max_iter_is_recorded_as_unconverged(scenario, monkeypatch):
    from explainers.ice import reducers

    original = reducers.make_reducer
    monkeypatch.setattr(
        reducers, "make_reducer", lambda *args, **kwargs: original(*args, max_iter=2, **kwargs)
    )
    with pytest.warns(ConvergenceWarning, match="max_iter=2"):
        (run,) = explainer_runs_fit(
            scenario=scenario, reducer="nmf", classes=["class_04"], seed=0, device="cpu"
        )
    assert run.status == RunStatus.SUCCEEDED  # usable, but flagged
    assert (run.converged, run.n_iter) == (False, 2)


def test_fitting_again_reuses_the_finished_run(nmf_run, scenario, monkeypatch):
    from explainers.ice import explainer

    monkeypatch.setattr(
        explainer.ConceptExplainer, "fit_features", lambda *a, **k: pytest.fail("refitted")
    )
    (again,) = explainer_runs_fit(
        scenario=scenario, reducer="nmf", classes=["class_03"], seed=0, device="cpu"
    )
    assert again.pk == nmf_run.pk


def test_a_layer_that_is_not_post_relu_fails_nmf_with_a_clear_message(dataset, classifier):
    from explainers.services import scenario_create

    # bn1 comes before the stem's ReLU, so its activations have negative values.
    scenario = scenario_create(dataset=dataset, classifier=classifier, layer="bn1", input_size=64)
    with pytest.raises(ValidationError, match="not non-negative"):
        explainer_runs_fit(
            scenario=scenario, reducer="nmf", n_components=5, classes=["class_00"], device="cpu"
        )
    run = ExplainerRun.objects.get(scenario=scenario)
    assert run.status == RunStatus.FAILED and "not non-negative" in run.error
    # PCA accepts signed activations, so the same layer works with it.
    (pca,) = explainer_runs_fit(
        scenario=scenario, reducer="pca", n_components=5, classes=["class_00"], device="cpu"
    )
    assert pca.status == RunStatus.SUCCEEDED


def test_unknown_classes_and_reducers_are_explained(scenario):
    with pytest.raises(ValidationError, match=r"\['owl'\] are not in dataset"):
        explainer_runs_fit(scenario=scenario, reducer="nmf", classes=["owl"])
    with pytest.raises(ValidationError, match="reducer='ica' is not one of nmf, pca, kmeans"):
        explainer_runs_fit(scenario=scenario, reducer="ica", classes=["class_00"])


def test_on_the_synthetic_dataset_concepts_get_their_best_matching_part(db, icelab_home, tmp_path):
    from explainers.ice.classifiers import build_model, save_checkpoint
    from explainers.ice.synthetic import CLASSES_BY_NAME
    from explainers.services import classifier_create, dataset_create_synthetic, scenario_create

    dataset = dataset_create_synthetic(seed=1, n_classes=2, per_class=(5, 1, 3), size=64, workers=1)
    torch.manual_seed(0)
    arch_kwargs = {"widths": [8, 16, 16, 24]}
    model = build_model("icelab_resnet", num_classes=2, arch_kwargs=arch_kwargs).eval()
    checkpoint = save_checkpoint(
        tmp_path / "synthetic.pt",
        model,
        meta={
            "arch": "icelab_resnet",
            "arch_kwargs": arch_kwargs,
            "class_names": dataset.class_names,
            "input_size": 64,
            "mean": (0.5, 0.5, 0.5),
            "std": (0.25, 0.25, 0.25),
        },
    )
    classifier = classifier_create(name="synthetic", checkpoint=checkpoint)
    scenario = scenario_create(dataset=dataset, classifier=classifier, layer="layer4")
    name = dataset.class_names[0]
    (run,) = explainer_runs_fit(scenario=scenario, reducer="nmf", classes=[name], device="cpu")
    matched = [c for c in run.concepts.all() if c.best_part]
    assert matched, "no concept was matched to a part"
    for concept in matched:
        assert concept.best_part in CLASSES_BY_NAME[name].parts
        assert 0.0 <= concept.best_part_iou <= 1.0
