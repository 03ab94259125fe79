"""Building stimulus sets: the study's sampling rules end to end, rebuilds, freezing, bad input."""

import io
import re
import shutil

import numpy as np
import pytest
import torch
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from PIL import Image

from explainers.models import DrawRule, ExplainerRun, FrozenStimulusSetError, StimulusSet
from explainers.services import (
    dataset_create_imagefolder,
    scenario_create,
    stimulus_set_build,
    stimulus_set_freeze,
)

SMALL = {"n_classes": 4, "n_training": 1}


def _snapshot(stimulus_set):
    fields = [
        "position",
        "phase",
        "class_name",
        "target_concept",
        "target_percentile",
        "target_image",
        "target_image_sha256",
        "target_file",
        "target_file_sha256",
        "concept_weights",
        "candidates",
    ]
    return stimulus_set.classes, list(stimulus_set.trials.order_by("position").values(*fields))


def test_a_full_set_has_twenty_classes_five_training_and_fifteen_test_trials(scenario):
    stimulus_set = stimulus_set_build(scenario=scenario, reducer="nmf", seed=1, device="cpu")
    assert stimulus_set.status == StimulusSet.Status.READY
    trials = list(stimulus_set.trials.order_by("position"))
    assert [t.phase for t in trials] == ["training"] * 5 + ["test"] * 15
    assert sorted(stimulus_set.classes) == sorted(
        scenario.dataset.class_names
    )  # all 20 of 20, each once
    assert [t.class_name for t in trials] == stimulus_set.classes
    for trial in trials:
        assert len(trial.candidates) == 5
        assert all(len(c["prototypes"]) == 5 for c in trial.candidates)


def test_candidates_are_the_top_five_concepts_and_the_target_is_in_the_top_ten_percent(
    scenario, checkpoint
):
    stimulus_set = stimulus_set_build(
        scenario=scenario, reducer="nmf", seed=2, device="cpu", **SMALL
    )
    for trial in stimulus_set.trials.all():
        concepts = list(trial.run.concepts.all())
        by_weight = sorted(concepts, key=lambda c: (-c.weight, c.index))
        assert [c["concept"] for c in trial.candidates] == [c.index for c in by_weight[:5]]
        assert trial.target_concept in [c["concept"] for c in trial.candidates]
        assert trial.concept_weights == [c.weight for c in sorted(concepts, key=lambda c: c.index)]
        # Independent check of the top-10% rule: refit the explainer (same seed) with the core alone.
        scores = _independent_test_scores(trial, scenario, checkpoint)
        target_row = _row_of(trial.target_image, trial.class_name, scenario)
        assert (
            scores[target_row, trial.target_concept] == scores[:, trial.target_concept].max()
        )  # 10 images -> top 1
        assert trial.target_percentile == 1.0


def _row_of(relpath, class_name, scenario):
    from explainers.selectors import dataset_image_paths

    paths = [
        p.name
        for p in dataset_image_paths(dataset=scenario.dataset, split="test", class_name=class_name)
    ]
    return paths.index(relpath.rsplit("/", 1)[1])


def _independent_test_scores(trial, scenario, checkpoint):
    from explainers.ice.classifiers import eval_transform, load_classifier
    from explainers.ice.explainer import ConceptExplainer
    from explainers.selectors import dataset_image_paths

    model = load_classifier(None, checkpoint)
    transform = eval_transform(model.icelab_meta)

    def images(split):
        paths = dataset_image_paths(
            dataset=scenario.dataset, split=split, class_name=trial.class_name
        )
        return torch.stack([transform(Image.open(p).convert("RGB")) for p in paths])

    index = scenario.classifier.class_names.index(trial.class_name)
    explainer = ConceptExplainer(model, "layer4", "nmf", 10, random_state=0, device="cpu").fit(
        images("train"), index
    )
    np.testing.assert_allclose(
        explainer.concept_weights_[:, index], trial.concept_weights, rtol=1e-3, atol=1e-4
    )
    return explainer.concept_scores(images("test")).numpy()


def test_every_reducer_gets_the_same_classes(scenario):
    sets = [
        stimulus_set_build(scenario=scenario, reducer=r, seed=5, device="cpu", **SMALL)
        for r in ("nmf", "pca", "kmeans")
    ]
    assert sets[0].classes == sets[1].classes == sets[2].classes
    assert len({s.pk for s in sets}) == 3


def test_a_set_rebuilt_from_its_seed_is_identical(scenario, icelab_home):
    first = stimulus_set_build(scenario=scenario, reducer="pca", seed=7, device="cpu", **SMALL)
    before = _snapshot(first)
    first.delete()
    ExplainerRun.objects.all().delete()
    shutil.rmtree(icelab_home / "media")
    shutil.rmtree(icelab_home / "explainers")
    rebuilt = stimulus_set_build(scenario=scenario, reducer="pca", seed=7, device="cpu", **SMALL)
    assert (
        _snapshot(rebuilt) == before
    )  # file names are sha256 of the bytes: the images are byte-identical
    assert (
        stimulus_set_build(scenario=scenario, reducer="pca", seed=7, device="cpu", **SMALL).pk
        == rebuilt.pk
    )
    other = stimulus_set_build(scenario=scenario, reducer="pca", seed=8, device="cpu", **SMALL)
    assert _snapshot(other) != before


def test_stimulus_files_reveal_nothing(scenario):
    stimulus_set = stimulus_set_build(
        scenario=scenario, reducer="kmeans", seed=3, device="cpu", **SMALL
    )
    for trial in stimulus_set.trials.all():
        names = [trial.target_file] + [p["file"] for c in trial.candidates for p in c["prototypes"]]
        for name in names:
            assert re.fullmatch(r"stimuli/[0-9a-f]{64}\.png", name)
            assert "kmeans" not in default_storage.url(
                name
            ) and trial.class_name not in default_storage.url(name)
            with default_storage.open(name, "rb") as handle:
                image = Image.open(io.BytesIO(handle.read()))
                assert not getattr(image, "text", {}) and "comment" not in image.info


def test_a_frozen_set_is_not_rebuilt_and_refuses_changes(scenario):
    stimulus_set = stimulus_set_build(
        scenario=scenario, reducer="nmf", seed=4, device="cpu", **SMALL
    )
    frozen = stimulus_set_freeze(stimulus_set=stimulus_set)
    assert frozen.is_frozen and len(frozen.manifest["trials"]) == 4
    assert (
        frozen.manifest["trials"][0]["image"]["path"] == frozen.trials.get(position=0).target_file
    )
    assert (
        stimulus_set_build(scenario=scenario, reducer="nmf", seed=4, device="cpu", **SMALL).pk
        == frozen.pk
    )
    trial = frozen.trials.first()
    trial.target_concept = (trial.target_concept + 1) % 10
    with pytest.raises(FrozenStimulusSetError):
        trial.save()
    with pytest.raises(FrozenStimulusSetError):
        frozen.delete()
    assert stimulus_set_freeze(stimulus_set=frozen).frozen_at == frozen.frozen_at


def test_a_set_must_be_built_before_it_is_frozen(scenario):
    draft = StimulusSet.objects.create(scenario=scenario, reducer="nmf")
    with pytest.raises(ValidationError, match="build it before freezing"):
        stimulus_set_freeze(stimulus_set=draft)


def test_too_few_classes_names_the_counts(scenario):
    with pytest.raises(ValidationError, match="has 20 classes but a stimulus set needs 21"):
        stimulus_set_build(scenario=scenario, reducer="nmf", n_classes=21, device="cpu")
    assert StimulusSet.objects.get().status == StimulusSet.Status.FAILED


def test_a_class_with_too_few_test_images_names_it(db, icelab_home, classifier, tmp_path):
    from tests.explainers.conftest import write_imagefolder

    root = write_imagefolder(tmp_path / "short", n_classes=3, n_train=6, n_test=10)
    for extra in sorted((root / "test" / "class_01").iterdir())[9:]:
        extra.unlink()
    dataset = dataset_create_imagefolder(name="short", path=root)
    scenario = scenario_create(
        dataset=dataset, classifier=classifier, layer="layer4", input_size=64
    )
    with pytest.raises(
        ValidationError, match=r"needs at least 10 test images per class: 'class_01' has 9"
    ):
        stimulus_set_build(
            scenario=scenario, reducer="nmf", n_classes=3, n_training=1, device="cpu"
        )
    assert not ExplainerRun.objects.exists()  # checked before any fitting


def test_a_failed_build_is_recorded_and_can_be_run_again(scenario, monkeypatch):
    from explainers.services import stimulus_sets

    monkeypatch.setattr(
        stimulus_sets, "store_png", lambda image: (_ for _ in ()).throw(OSError("disk full"))
    )
    with pytest.raises(OSError):
        stimulus_set_build(scenario=scenario, reducer="nmf", seed=9, device="cpu", **SMALL)
    failed = StimulusSet.objects.get(seed=9)
    assert failed.status == StimulusSet.Status.FAILED and "disk full" in failed.error
    monkeypatch.undo()
    rebuilt = stimulus_set_build(scenario=scenario, reducer="nmf", seed=9, device="cpu", **SMALL)
    assert (
        rebuilt.pk == failed.pk
        and rebuilt.status == StimulusSet.Status.READY
        and rebuilt.trials.count() == 4
    )


def _shows_its_concept(name: str, source_relpath: str, scenario) -> bool:
    """Some visible pixel of the stored stimulus is the image itself, not dimmed."""
    from pathlib import Path

    from explainers.services.scenarios import scenario_geometry
    from explainers.services.stimulus_files import display_image

    source = np.asarray(
        display_image(
            Path(scenario.dataset.path) / source_relpath, scenario_geometry(scenario=scenario)
        ),
        dtype=np.int16,
    )
    with default_storage.open(name, "rb") as handle:
        shown = np.asarray(Image.open(io.BytesIO(handle.read())).convert("RGB"), dtype=np.int16)
    kept = (shown == source).all(axis=2) & (source.max(axis=2) > 10)  # dimming changes these
    return bool(kept.any())


def test_no_kmeans_target_or_prototype_is_shown_blank(scenario):
    # A k-means map is one-hot: where one cluster covers the whole image the map is
    # constant, and it must highlight the whole image, not dim it.
    stimulus_set = stimulus_set_build(
        scenario=scenario, reducer="kmeans", seed=3, device="cpu", **SMALL
    )
    for trial in stimulus_set.trials.all():
        assert _shows_its_concept(trial.target_file, trial.target_image, scenario)
        for candidate in trial.candidates:
            for prototype in candidate["prototypes"]:
                assert _shows_its_concept(prototype["file"], prototype["image"], scenario)
    for concept in ExplainerRun.objects.get(
        class_name=stimulus_set.classes[0], reducer="kmeans"
    ).concepts.all():
        for prototype in concept.prototypes:
            assert _shows_its_concept(prototype["file"], prototype["image"], scenario)


def test_a_new_set_is_drawn_per_reducer_and_records_its_rule(scenario):
    from explainers.ice import stimuli

    assert set(DrawRule.values) == set(stimuli.DRAW_RULES)  # the model names the core's rules
    built = stimulus_set_build(scenario=scenario, reducer="pca", seed=5, device="cpu", **SMALL)
    assert built.draw_rule == "v2" == stimuli.CURRENT_DRAW_RULE
    assert stimulus_set_freeze(stimulus_set=built).manifest["draw_rule"] == "v2"
    # The targets follow the reducer's own stream: replay it on the stored evidence.
    for trial in built.trials.order_by("position"):
        concepts = sorted(trial.run.concepts.all(), key=lambda c: c.index)
        rng = stimuli.target_stream(5, reducer="pca", position=trial.position)
        eligible = [c["concept"] for c in trial.candidates]  # PCA maps are never flat here
        assert trial.target_concept == eligible[rng.integers(len(eligible))]
        assert len(concepts) == 10


def test_an_existing_set_is_rebuilt_under_the_rule_it_records(scenario):
    from explainers.ice import stimuli

    old = StimulusSet.objects.create(
        scenario=scenario, reducer="nmf", seed=6, draw_rule="v1", **SMALL
    )
    rebuilt = stimulus_set_build(scenario=scenario, reducer="nmf", seed=6, device="cpu", **SMALL)
    assert rebuilt.pk == old.pk and rebuilt.draw_rule == "v1"
    for trial in rebuilt.trials.order_by("position"):
        rng = stimuli.random_stream(6, 1, trial.position)  # v1: (seed, position) only
        candidates = [c["concept"] for c in trial.candidates]
        assert trial.target_concept == candidates[rng.integers(len(candidates))]
    with pytest.raises(ValidationError, match="drawn under rule 'v1', not 'v2'"):
        stimulus_set_build(
            scenario=scenario, reducer="nmf", seed=6, device="cpu", draw_rule="v2", **SMALL
        )
    with pytest.raises(ValidationError, match="draw_rule='v9'"):
        stimulus_set_build(scenario=scenario, reducer="nmf", seed=6, draw_rule="v9", **SMALL)
