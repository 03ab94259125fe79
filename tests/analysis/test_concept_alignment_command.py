"""`manage.py concept_alignment`: end to end on a tiny synthetic scenario, and its refusals.

The synthetic dataset (3 classes, 3/1/2 images per split, 96 px) and a random-weight
default classifier (``icelab_resnet``, layer4 = 128 channels on 12×12 maps) are made
once for the module. 3 train images give 432 activation rows per class, plenty for
the command's fixed c' = 10 stability fits, and the fits' 80 % subsamples (2 of 3
images) differ between the two seeds; with 2 train images both fits would see the
same images and the deterministic NMF (NNDSVDa) and PCA would score exactly 1.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

N_CLASSES = 3
PER_CLASS = (3, 1, 2)
SIZE = 96
REDUCERS = {"nmf", "pca", "kmeans"}


@pytest.fixture(scope="module")
def synthetic_dir(tmp_path_factory) -> Path:
    from explainers.ice.synthetic import make_synthetic_dataset

    out = tmp_path_factory.mktemp("concept-alignment") / "synthetic"
    return make_synthetic_dataset(
        out, seed=0, per_class=PER_CLASS, size=SIZE, n_classes=N_CLASSES, workers=1
    ).path


@pytest.fixture(scope="module")
def synthetic_checkpoint(synthetic_dir) -> Path:
    import torch

    from explainers.ice.classifiers import build_model, save_checkpoint
    from explainers.ice.synthetic import SyntheticDataset

    torch.manual_seed(0)
    names = SyntheticDataset(synthetic_dir).classes
    model = build_model("icelab_resnet", num_classes=len(names))
    return save_checkpoint(
        synthetic_dir.parent / "default.pt", model.eval(), meta={"class_names": names}
    )


@pytest.fixture
def synthetic_scenario(db, icelab_home, synthetic_dir, synthetic_checkpoint):
    # The dataset stays where the module fixture wrote it: the feature bank (shared by
    # every test through icelab_home) keys entries by file names and contents and
    # returns the paths it first saw, which must lie inside the registered dataset.
    from explainers.models import Dataset
    from explainers.selectors import folder_class_names
    from explainers.services import classifier_create, scenario_create

    dataset = Dataset(
        name="tiny synthetic",
        kind=Dataset.Kind.SYNTHETIC,
        path=str(synthetic_dir),
        seed=0,
        generator_params={"n_classes": N_CLASSES, "size": SIZE, "per_class": list(PER_CLASS)},
    )
    dataset.full_clean(exclude=["class_names"])
    dataset.class_names = folder_class_names(synthetic_dir)
    dataset.save()
    classifier = classifier_create(name="tiny-default", checkpoint=synthetic_checkpoint)
    return scenario_create(dataset=dataset, classifier=classifier, layer="layer4")


def _run(*args: str) -> dict:
    out = io.StringIO()
    call_command("concept_alignment", *args, "--json", stdout=out, stderr=io.StringIO())
    return json.loads(out.getvalue())


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def _in_unit_interval(value: float) -> bool:
    return not math.isnan(value) and 0.0 <= value <= 1.0


def test_it_aligns_every_reducer_and_c_on_the_synthetic_scenario(synthetic_scenario, tmp_path):
    from explainers.ice.synthetic import SyntheticDataset

    data = SyntheticDataset(synthetic_scenario.dataset.path)
    out = tmp_path / "alignment"
    summary = _run(
        "--scenario", str(synthetic_scenario.pk), "--components", "2,3", "--out", str(out)
    )

    assert summary["out"] == str(out)
    assert summary["classes"] == N_CLASSES
    assert summary["layer"] == "layer4"
    records = summary["alignment"]
    assert sorted((r["reducer"], r["n_components"]) for r in records) == sorted(
        (reducer, k) for reducer in REDUCERS for k in (2, 3)
    )
    max_parts = max(len(parts) for parts in data.class_parts.values())
    for record in records:
        assert _in_unit_interval(record["mean_best_iou"]), record
        assert _in_unit_interval(record["mean_purity"]), record
        # A class has at most c' concepts and at most its own parts to cover.
        assert 0 <= record["parts_covered"] <= min(max_parts, record["n_components"]), record
    stability = summary["stability_c10"]
    assert {r["reducer"] for r in stability} == REDUCERS and len(stability) == len(REDUCERS)
    assert all(_in_unit_interval(r["mean"]) for r in stability), stability
    # The two fits see different images, so even the deterministic reducers move.
    assert all(r["mean"] < 0.99 for r in stability if r["reducer"] in {"nmf", "pca"}), stability

    assert {p.name for p in out.iterdir()} == {
        "alignment.csv",
        "alignment_concepts.csv",
        "stability.csv",
        "alignment.png",
    }
    assert (out / "alignment.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(_rows(out / "alignment.csv")) == len(records)
    assert {r["reducer"] for r in _rows(out / "stability.csv")} == REDUCERS
    concepts = _rows(out / "alignment_concepts.csv")
    # One row per concept: every class gets c' rows from each reducer.
    assert len(concepts) == len(REDUCERS) * N_CLASSES * (2 + 3)
    assert {r["class"] for r in concepts} == set(data.classes)
    for row in concepts:
        if row["best_part"]:  # empty when the concept highlights nothing on any test image
            assert row["best_part"] in data.class_parts[row["class"]], row


def test_classes_limits_the_report_to_the_first_classes(synthetic_scenario, tmp_path):
    from explainers.ice.synthetic import SyntheticDataset

    first = SyntheticDataset(synthetic_scenario.dataset.path).classes[0]
    out = tmp_path / "one-class"
    summary = _run(
        "--scenario",
        str(synthetic_scenario.pk),
        "--components",
        "2",
        "--classes",
        "1",
        "--out",
        str(out),
    )

    assert summary["classes"] == 1
    assert len(summary["alignment"]) == len(REDUCERS)
    assert {r["class"] for r in _rows(out / "alignment_concepts.csv")} == {first}


def test_it_writes_under_icelab_home_by_default(synthetic_scenario, icelab_home):
    summary = _run("--scenario", str(synthetic_scenario.pk), "--components", "2", "--classes", "1")
    assert summary["out"] == str(icelab_home / "alignment")
    assert (icelab_home / "alignment" / "alignment.csv").is_file()


def test_reducers_picks_a_subset(synthetic_scenario, tmp_path):
    out = tmp_path / "nmf-only"
    summary = _run(
        "--scenario",
        str(synthetic_scenario.pk),
        "--components",
        "2",
        "--classes",
        "1",
        "--reducers",
        "NMF",
        "--out",
        str(out),
    )
    assert [r["reducer"] for r in summary["alignment"]] == ["nmf"]
    assert [r["reducer"] for r in summary["stability_c10"]] == ["nmf"]
    assert {r["reducer"] for r in _rows(out / "alignment_concepts.csv")} == {"nmf"}


@pytest.mark.parametrize("reducers", ["ica", "nmf,ica", ""])
def test_unknown_reducers_are_refused(db, tmp_path, reducers):
    with pytest.raises(CommandError, match=r"--reducers=.*choose from nmf, pca, kmeans"):
        call_command(
            "concept_alignment",
            "--scenario",
            "1",
            "--reducers",
            reducers,
            "--out",
            str(tmp_path / "out"),
        )
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("components", ["5,x", "", " , "])
def test_components_must_be_integers(db, tmp_path, components):
    with pytest.raises(CommandError, match=r"--components=.* must be comma-separated integers"):
        call_command(
            "concept_alignment",
            "--scenario",
            "1",
            "--components",
            components,
            "--out",
            str(tmp_path / "out"),
        )
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("classes", ["0", "-1"])
def test_classes_must_be_at_least_one(db, tmp_path, classes):
    with pytest.raises(CommandError, match=rf"--classes={classes} must be at least 1"):
        call_command(
            "concept_alignment",
            "--scenario",
            "1",
            "--classes",
            classes,
            "--out",
            str(tmp_path / "out"),
        )
    assert not (tmp_path / "out").exists()


def test_the_json_is_strict_even_when_a_deviation_is_undefined(synthetic_scenario, tmp_path):
    # One class: the stability's standard deviation over classes is undefined.
    out = io.StringIO()
    call_command(
        "concept_alignment",
        "--scenario",
        str(synthetic_scenario.pk),
        "--components",
        "2",
        "--classes",
        "1",
        "--out",
        str(tmp_path / "out"),
        "--json",
        stdout=out,
        stderr=io.StringIO(),
    )
    summary = json.loads(
        out.getvalue(), parse_constant=lambda name: pytest.fail(f"{name} in the JSON")
    )
    assert all(row["std"] is None for row in summary["stability_c10"])


def test_an_unknown_scenario_is_named(db, tmp_path):
    with pytest.raises(CommandError, match=r"no scenario '999999'; existing scenarios"):
        call_command("concept_alignment", "--scenario", "999999", "--out", str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()


def test_only_synthetic_datasets_have_part_masks(scenario, tmp_path):
    # The conftest scenario is on a plain ImageFolder dataset.
    with pytest.raises(
        CommandError, match=r"not on a synthetic dataset; only those have part masks"
    ) as caught:
        call_command(
            "concept_alignment",
            "--scenario",
            str(scenario.pk),
            "--components",
            "2",
            "--out",
            str(tmp_path / "out"),
            stderr=io.StringIO(),
        )
    assert isinstance(caught.value.__cause__, ValueError)
    assert not (tmp_path / "out").exists()
