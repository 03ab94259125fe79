"""The study's sampling rules (DESIGN.md "The study, exactly"), checked against hand-made references."""

import numpy as np
import pytest
from scipy import stats

from explainers.ice import stimuli

CLASS_NAMES = [f"class_{i:02d}" for i in range(30)]


def _evidence(
    seed: int, n_test: int = 40, n_train: int = 12, n_components: int = 10
) -> stimuli.ClassEvidence:
    rng = np.random.default_rng(seed)
    return stimuli.ClassEvidence(
        class_weights=rng.normal(size=n_components),
        test_scores=rng.gamma(2.0, size=(n_test, n_components)),
        train_scores=rng.gamma(2.0, size=(n_train, n_components)),
    )


def test_it_draws_distinct_classes_from_the_dataset():
    drawn = stimuli.draw_classes(CLASS_NAMES, 20, seed=3)
    assert len(drawn) == 20 and len(set(drawn)) == 20
    assert set(drawn) <= set(CLASS_NAMES)


def test_the_class_draw_depends_only_on_the_names_and_the_seed():
    shuffled = list(reversed(CLASS_NAMES))
    assert stimuli.draw_classes(shuffled, 20, seed=3) == stimuli.draw_classes(
        CLASS_NAMES, 20, seed=3
    )
    assert stimuli.draw_classes(CLASS_NAMES, 20, seed=3) != stimuli.draw_classes(
        CLASS_NAMES, 20, seed=4
    )


def test_too_few_classes_is_an_error_with_the_counts():
    with pytest.raises(ValueError, match=r"has 12 classes but a stimulus set needs 20"):
        stimuli.draw_classes(CLASS_NAMES[:12], 20, seed=0)


def test_a_negative_seed_is_refused():
    with pytest.raises(ValueError, match="seed"):
        stimuli.draw_classes(CLASS_NAMES, 20, seed=-1)


def test_candidates_are_the_five_highest_weights_in_order():
    weights = np.array([0.3, -1.0, 2.5, 0.3, 7.0, 0.0, 1.1, 2.5, -0.2, 0.9])
    # Independent reference: Python's sort on (-weight, index).
    expected = sorted(range(10), key=lambda i: (-weights[i], i))[:5]
    assert stimuli.choose_candidates(weights).tolist() == expected == [4, 2, 7, 6, 9]


def test_more_candidates_than_concepts_is_an_error():
    with pytest.raises(ValueError, match="has 3 concepts"):
        stimuli.choose_candidates(np.ones(3), 5)


def test_the_target_pool_is_the_top_ten_percent():
    rng = np.random.default_rng(0)
    scores = rng.permutation(100).astype(float)
    pool = stimuli.target_pool(scores)
    assert sorted(scores[pool].tolist()) == list(range(90, 100))


def test_a_class_with_too_few_test_images_is_an_error_with_the_counts():
    with pytest.raises(ValueError, match=r"class 'owl' has 9 test images.*needs at least 10"):
        stimuli.target_pool(np.arange(9.0), class_name="owl")
    assert stimuli.target_pool(np.arange(10.0)).tolist() == [9]


def test_percentile_rank_matches_scipy():
    scores = np.array([3.0, 1.0, 4.0, 1.5, 9.0, 2.6, 5.0])
    for index in range(len(scores)):
        reference = stats.percentileofscore(scores, scores[index], kind="strict") / 100 * 7 / 6
        assert stimuli.percentile_rank(scores, index) == pytest.approx(reference)


def test_prototypes_are_the_highest_scoring_training_images():
    scores = np.array([[0.1, 5.0], [0.9, 1.0], [0.5, 3.0], [0.7, 4.0], [0.2, 2.0], [0.3, 0.0]])
    rows = stimuli.choose_prototypes(scores, [1, 0], k=3)
    assert rows.tolist() == [[0, 3, 2], [1, 3, 2]]


def test_too_few_training_images_for_the_prototypes_is_an_error():
    with pytest.raises(ValueError, match="has 4 training images"):
        stimuli.choose_prototypes(np.ones((4, 10)), [0], k=5)


def test_a_trial_follows_the_rules():
    evidence = _evidence(1)
    trial = stimuli.plan_trial(
        position=0,
        phase="training",
        class_name="a",
        seed=7,
        class_weights=evidence.class_weights,
        test_scores=evidence.test_scores,
        train_scores=evidence.train_scores,
    )
    top5 = sorted(range(10), key=lambda i: -evidence.class_weights[i])[:5]
    assert [c.concept for c in trial.candidates] == top5
    assert trial.target_concept in top5
    target_scores = evidence.test_scores[:, trial.target_concept]
    # The target image is one of the 4 highest-scoring of the 40 test images.
    assert target_scores[trial.target_image] >= np.sort(target_scores)[-4]
    assert trial.target_percentile >= 0.9
    for candidate in trial.candidates:
        assert len(candidate.prototypes) == 5
        best = np.argsort(-evidence.train_scores[:, candidate.concept])[:5]
        assert list(candidate.prototypes) == best.tolist()
        assert candidate.weight == evidence.class_weights[candidate.concept]
    assert trial.concept_weights == tuple(evidence.class_weights)


def test_the_target_is_drawn_among_all_candidates_across_seeds():
    evidence = _evidence(2, n_test=100)
    targets, images = set(), set()
    for seed in range(60):
        trial = stimuli.plan_trial(
            position=0,
            phase="test",
            class_name="a",
            seed=seed,
            class_weights=evidence.class_weights,
            test_scores=evidence.test_scores,
            train_scores=evidence.train_scores,
        )
        targets.add(trial.target_concept)
        images.add((trial.target_concept, trial.target_image))
    assert targets == set(stimuli.choose_candidates(evidence.class_weights).tolist())
    assert len(images) > 5  # not always the single best image


def test_a_set_has_five_training_then_fifteen_test_trials_and_rebuilds_identically():
    classes = stimuli.draw_classes(CLASS_NAMES, 20, seed=11)
    evidence = {name: _evidence(i) for i, name in enumerate(CLASS_NAMES)}
    first = stimuli.plan_trials(classes, evidence, seed=11)
    assert [t.phase for t in first] == ["training"] * 5 + ["test"] * 15
    assert [t.class_name for t in first] == classes
    assert first == stimuli.plan_trials(classes, evidence, seed=11)
    assert first != stimuli.plan_trials(classes, evidence, seed=12)


def test_missing_evidence_names_the_classes():
    with pytest.raises(ValueError, match="class_01"):
        stimuli.plan_trials(
            ["class_00", "class_01"], {"class_00": _evidence(0)}, seed=0, n_training=1
        )


def test_a_set_needs_at_least_one_test_trial():
    with pytest.raises(ValueError, match="n_training=5 with 5 trials"):
        stimuli.trial_phases(5, 5)
