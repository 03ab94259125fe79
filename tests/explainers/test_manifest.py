"""The manifest: the documented JSON shape, paths relative to the file, hashes that match the files."""

import hashlib
import json

import pytest
import torch

from explainers.services import manifest_export, stimulus_set_build

SMALL = {"n_classes": 4, "n_training": 1}


@pytest.fixture
def built(scenario):
    return [
        stimulus_set_build(scenario=scenario, reducer=r, seed=2, device="cpu", **SMALL)
        for r in ("nmf", "pca")
    ]


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_it_writes_every_set_with_the_documented_fields(built, tmp_path, checkpoint):
    out = tmp_path / "export" / "manifest.json"
    assert manifest_export(out=out) == out
    manifest = json.loads(out.read_text())
    assert {"stimulus_sets", "classifier", "versions"} <= set(manifest)
    assert manifest["classifier"]["arch"] == "icelab_resnet"
    assert manifest["classifier"]["sha256"] == _sha(checkpoint)
    assert torch.__version__.startswith(manifest["versions"]["torch"].split("+")[0])
    assert [s["reducer"] for s in manifest["stimulus_sets"]] == ["nmf", "pca"]
    entry = manifest["stimulus_sets"][0]
    assert {"id", "scenario", "reducer", "seed", "classes", "trials"} <= set(entry)
    assert entry["seed"] == 2 and len(entry["classes"]) == 4
    assert [t["phase"] for t in entry["trials"]] == ["training", "test", "test", "test"]
    for trial in entry["trials"]:
        assert {
            "phase",
            "class",
            "image",
            "target",
            "target_percentile",
            "concept_weights",
            "candidates",
        } <= set(trial)
        assert 0.9 <= trial["target_percentile"] <= 1.0
        assert len(trial["concept_weights"]) == 10
        assert trial["target"] in [c["concept"] for c in trial["candidates"]]
        assert [c["weight"] for c in trial["candidates"]] == sorted(
            trial["concept_weights"], reverse=True
        )[:5]


def test_it_records_each_explainers_convergence(built, tmp_path):
    from explainers.models import ExplainerRun

    nmf_set = built[0]
    stopped = nmf_set.trials.order_by("position").first().run
    # As a fit cut short by max_iter would have left it (the fit itself is tested elsewhere).
    ExplainerRun.objects.filter(pk=stopped.pk).update(converged=False, n_iter=1000)
    manifest = json.loads(manifest_export(out=tmp_path / "manifest.json").read_text())
    nmf_entry, pca_entry = manifest["stimulus_sets"]
    assert nmf_entry["unconverged_explainer_runs"] == [stopped.pk]
    assert pca_entry["unconverged_explainer_runs"] == []
    for trial in nmf_entry["trials"]:
        run = ExplainerRun.objects.get(pk=trial["explainer"]["run"])
        assert (trial["explainer"]["converged"], trial["explainer"]["n_iter"]) == (
            run.converged,
            run.n_iter,
        )
    assert {
        (t["explainer"]["converged"], t["explainer"]["n_iter"]) for t in pca_entry["trials"]
    } == {(True, 0)}


def test_paths_are_relative_to_the_manifest_and_hashes_match(built, tmp_path):
    out = tmp_path / "deep" / "er" / "manifest.json"
    manifest = json.loads(manifest_export(out=out).read_text())
    trial = manifest["stimulus_sets"][1]["trials"][0]
    files = [trial["image"], trial["image"]["source"]]
    files += [p for c in trial["candidates"] for p in c["prototypes"]]
    files += [p["source"] for c in trial["candidates"] for p in c["prototypes"]]
    assert len(files) == 2 + 2 * 25
    for entry in files:
        assert not entry["path"].startswith("/")
        assert _sha(out.parent / entry["path"]) == entry["sha256"]


def test_one_set_can_be_exported_and_the_output_is_stable(built, tmp_path):
    first = manifest_export(out=tmp_path / "a.json", stimulus_sets=[built[1]]).read_bytes()
    second = manifest_export(out=tmp_path / "a.json", stimulus_sets=[built[1]]).read_bytes()
    assert first == second
    assert [s["id"] for s in json.loads(first)["stimulus_sets"]] == [built[1].pk]
