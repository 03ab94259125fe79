"""The admin pages render, validate with useful messages, submit jobs, and preview trials blind."""

import html
import re

import pytest
from django.urls import reverse

from explainers.models import StimulusSet
from explainers.services import explainer_runs_fit, stimulus_set_build, stimulus_set_freeze
from jobs.models import Job

SMALL = {"n_classes": 3, "n_training": 1}


@pytest.fixture
def built_set(scenario):
    return stimulus_set_build(scenario=scenario, reducer="nmf", seed=0, device="cpu", **SMALL)


@pytest.mark.parametrize(
    "model",
    ["dataset", "classifier", "scenario", "explainerrun", "fidelitysweep", "stimulusset"],
)
def test_every_list_page_renders(admin_client, scenario, model):
    assert admin_client.get(reverse(f"admin:explainers_{model}_changelist")).status_code == 200


@pytest.mark.parametrize(
    "model", ["dataset", "classifier", "scenario", "explainerrun", "stimulusset"]
)
def test_add_pages_render(admin_client, db, model):
    assert admin_client.get(reverse(f"admin:explainers_{model}_add")).status_code == 200


def test_an_unknown_layer_is_explained_on_the_form(admin_client, dataset, classifier):
    response = admin_client.post(
        reverse("admin:explainers_scenario_add"),
        {
            "name": "bad",
            "dataset": dataset.pk,
            "classifier": classifier.pk,
            "layer": "layer9",
            "input_size": 64,
        },
    )
    assert response.status_code == 200
    assert (
        "is not a layer of icelab_resnet" in response.content.decode()
        and "layer4" in response.content.decode()
    )


def test_a_checkpoint_that_does_not_load_is_explained_on_the_form(
    admin_client, db, icelab_home, tmp_path
):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"garbage")
    response = admin_client.post(
        reverse("admin:explainers_classifier_add"),
        {
            "name": "bad",
            "arch": "resnet18",
            "weights": "",
            "checkpoint": str(bad),
        },
    )
    assert "cannot load classifier" in response.content.decode()


def test_scenario_actions_queue_jobs(admin_client, scenario):
    url = reverse("admin:explainers_scenario_changelist")
    for action, kind, count in [
        ("fit_explainers", "fit_explainers", 3),
        ("build_stimulus_sets", "build_stimulus_set", 3),
        ("run_fidelity_sweep", "fidelity_sweep", 1),
    ]:
        response = admin_client.post(
            url, {"action": action, "_selected_action": [scenario.pk]}, follow=True
        )
        assert response.status_code == 200
        assert Job.objects.filter(kind=kind, status=Job.Status.QUEUED).count() == count
    assert {j.params["reducer"] for j in Job.objects.filter(kind="fit_explainers")} == {
        "nmf",
        "pca",
        "kmeans",
    }


def test_the_concept_browser_shows_prototypes_and_weights(admin_client, scenario):
    (run,) = explainer_runs_fit(
        scenario=scenario, reducer="nmf", classes=["class_00"], device="cpu"
    )
    page = admin_client.get(
        reverse("admin:explainers_explainerrun_change", args=[run.pk])
    ).content.decode()
    images = re.findall(r'src="(/?media/stimuli/[0-9a-f]{64}\.png)"', page)
    assert len(images) == 50  # 10 concepts × 5 prototypes
    best = max(run.concepts.all(), key=lambda c: c.weight)
    assert f"{best.weight:+.3f}" in page
    # Highest weight first: the best concept's prototypes come before any other concept's.
    assert page.index(best.prototypes[0]["file"]) == min(
        page.index(p["file"]) for c in run.concepts.all() for p in c.prototypes
    )


def test_runs_and_sweeps_show_whether_their_fits_converged(admin_client, scenario):
    from explainers.models import ExplainerRun, FidelitySweep

    (run,) = explainer_runs_fit(
        scenario=scenario, reducer="pca", classes=["class_00"], device="cpu"
    )
    stopped = ExplainerRun.objects.create(
        scenario=scenario, class_name="class_01", reducer="nmf", converged=False, n_iter=1000
    )
    listing = admin_client.get(reverse("admin:explainers_explainerrun_changelist")).content.decode()
    assert "yes, 0 it." in listing and "stopped at 1000 it." in listing
    filtered = admin_client.get(
        reverse("admin:explainers_explainerrun_changelist"), {"converged__exact": "0"}
    ).content.decode()
    assert f"/{stopped.pk}/change/" in filtered and f"/{run.pk}/change/" not in filtered
    row = {"reducer": "nmf", "n_components": 5, "fid_c": 0.9, "fid_r": 0.1, "accuracy": 0.9}
    sweep = FidelitySweep.objects.create(
        scenario=scenario,
        reducers=["nmf"],
        n_components=[5, 10],
        classes=["class_00"],
        table=[
            {**row, "converged": False, "n_unconverged": 3, "max_n_iter": 1000},
            {**row, "n_components": 10, "converged": True, "n_unconverged": 0, "max_n_iter": 200},
        ],
    )
    page = admin_client.get(
        reverse("admin:explainers_fidelitysweep_change", args=[sweep.pk])
    ).content.decode()
    assert "3 class fit(s) stopped at max_iter before converging" in page
    sweeps = admin_client.get(reverse("admin:explainers_fidelitysweep_changelist")).content.decode()
    assert "3 fit(s) not" in sweeps


def test_the_stimulus_set_page_links_a_preview_of_each_trial(admin_client, built_set):
    page = admin_client.get(
        reverse("admin:explainers_stimulusset_change", args=[built_set.pk])
    ).content.decode()
    for position in range(3):
        assert (
            reverse("admin:explainers_stimulusset_preview", args=[built_set.pk, position]) in page
        )


def test_the_preview_shows_the_trial_without_revealing_the_answer(admin_client, built_set):
    trial = built_set.trials.get(position=1)
    response = admin_client.get(
        reverse("admin:explainers_stimulusset_preview", args=[built_set.pk, 1])
    )
    assert response.status_code == 200
    page = response.content.decode()
    fragment = page[page.index('<div class="icelab-trial"') :]
    assert fragment.count('name="choice"') == 5
    assert fragment.count("<img") == 1 + 25
    assert trial.target_file in fragment
    markup = re.sub(r"<style>.*?</style>", "", fragment.split("</form>")[0], flags=re.S)
    for word in ("nmf", "NMF", trial.class_name, "target", "correct", "weight", "concept 0"):
        assert word not in markup


def test_the_preview_of_a_missing_trial_is_404(admin_client, built_set):
    assert (
        admin_client.get(
            reverse("admin:explainers_stimulusset_preview", args=[built_set.pk, 9])
        ).status_code
        == 404
    )


def test_a_frozen_set_cannot_be_deleted_or_edited_from_the_admin(admin_client, built_set):
    stimulus_set_freeze(stimulus_set=built_set)
    change = reverse("admin:explainers_stimulusset_change", args=[built_set.pk])
    page = admin_client.get(change).content.decode()
    assert 'name="seed"' not in page  # every field is read-only
    assert (
        admin_client.post(
            reverse("admin:explainers_stimulusset_delete", args=[built_set.pk]), {"post": "yes"}
        ).status_code
        == 403
    )
    admin_client.post(
        reverse("admin:explainers_stimulusset_changelist"),
        {"action": "delete_selected", "_selected_action": [built_set.pk], "post": "yes"},
    )
    assert StimulusSet.objects.filter(pk=built_set.pk).exists()


def test_adding_an_explainer_run_checks_the_class_and_queues_the_fit(admin_client, scenario):
    url = reverse("admin:explainers_explainerrun_add")
    data = {
        "scenario": scenario.pk,
        "class_name": "owl",
        "reducer": "nmf",
        "n_components": 10,
        "seed": 0,
    }
    assert "'owl' is not a class of tiny (20 classes" in html.unescape(
        admin_client.post(url, data).content.decode()
    )
    admin_client.post(url, {**data, "class_name": "class_05"})
    job = Job.objects.get(kind="fit_explainers")
    assert job.params["classes"] == ["class_05"] and job.params["reducer"] == "nmf"


def test_adding_a_set_queues_its_build(admin_client, scenario):
    admin_client.post(
        reverse("admin:explainers_stimulusset_add"),
        {
            "scenario": scenario.pk,
            "reducer": "pca",
            "seed": 3,
            "n_classes": 20,
            "n_training": 5,
            "n_components": 10,
            "explainer_seed": 0,
        },
    )
    job = Job.objects.get(kind="build_stimulus_set")
    assert job.params["reducer"] == "pca" and job.params["seed"] == 3


def test_adding_a_dataset_classifier_and_scenario_goes_through_the_services(
    admin_client, db, icelab_home, imagefolder, checkpoint
):
    from explainers.models import Classifier, Dataset, Scenario

    admin_client.post(
        reverse("admin:explainers_dataset_add"),
        {
            "name": "folders",
            "kind": "imagefolder",
            "path": str(imagefolder),
            "generator_params": "{}",
        },
    )
    dataset = Dataset.objects.get(name="folders")
    assert len(dataset.class_names) == 20  # read by the service, not set by the admin
    admin_client.post(
        reverse("admin:explainers_classifier_add"),
        {"name": "net", "arch": "", "weights": "", "checkpoint": str(checkpoint)},
    )
    classifier = Classifier.objects.get(name="net")
    assert classifier.arch == "icelab_resnet" and classifier.num_classes == 20
    admin_client.post(
        reverse("admin:explainers_scenario_add"),
        {
            "name": "s",
            "dataset": dataset.pk,
            "classifier": classifier.pk,
            "layer": "layer4",
            "input_size": 64,
        },
    )
    assert Scenario.objects.filter(name="s", layer="layer4").exists()


def test_a_registered_dataset_cannot_be_edited_in_place(admin_client, dataset):
    page = admin_client.get(reverse("admin:explainers_dataset_change", args=[dataset.pk]))
    assert 'name="path"' not in page.content.decode()
    admin_client.post(
        reverse("admin:explainers_dataset_change", args=[dataset.pk]),
        {"name": "renamed", "path": "/elsewhere"},
    )
    dataset.refresh_from_db()
    assert dataset.name == "tiny" and dataset.path != "/elsewhere"


def test_a_dataset_without_class_folders_is_explained_on_the_form(admin_client, db, tmp_path):
    (tmp_path / "train").mkdir()
    (tmp_path / "test").mkdir()
    response = admin_client.post(
        reverse("admin:explainers_dataset_add"),
        {"name": "empty", "kind": "imagefolder", "path": str(tmp_path), "generator_params": "{}"},
    )
    assert "has no class folders" in response.content.decode()
