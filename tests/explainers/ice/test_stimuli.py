"""The study's sampling rules (DESIGN.md "The study, exactly"), checked against hand-made references."""

import dataclasses

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
        reducer="nmf",
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
            reducer="nmf",
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
    first = stimuli.plan_trials(classes, evidence, seed=11, reducer="nmf")
    assert [t.phase for t in first] == ["training"] * 5 + ["test"] * 15
    assert [t.class_name for t in first] == classes
    assert first == stimuli.plan_trials(classes, evidence, seed=11, reducer="nmf")
    assert first != stimuli.plan_trials(classes, evidence, seed=12, reducer="nmf")


def test_missing_evidence_names_the_classes():
    with pytest.raises(ValueError, match="class_01"):
        stimuli.plan_trials(
            ["class_00", "class_01"],
            {"class_00": _evidence(0)},
            seed=0,
            reducer="nmf",
            n_training=1,
        )


def test_a_set_needs_at_least_one_test_trial():
    with pytest.raises(ValueError, match="n_training=5 with 5 trials"):
        stimuli.trial_phases(5, 5)


def _plan(evidence: stimuli.ClassEvidence, **kwargs) -> stimuli.TrialPlan:
    arguments = {"position": 0, "phase": "test", "class_name": "a", "seed": 0, "reducer": "nmf"}
    return stimuli.plan_trial(
        **{**arguments, **kwargs},
        class_weights=evidence.class_weights,
        test_scores=evidence.test_scores,
        train_scores=evidence.train_scores,
        test_blank=evidence.test_blank,
        train_blank=evidence.train_blank,
    )


def _reference_draw(rng: np.random.Generator, evidence: stimuli.ClassEvidence) -> tuple[int, int]:
    """The target draw written out with numpy alone: a candidate, then an image of its top 10%."""
    candidates = sorted(range(10), key=lambda i: (-evidence.class_weights[i], i))[:5]
    target = candidates[rng.integers(5)]
    scores = evidence.test_scores[:, target]
    pool = sorted(range(len(scores)), key=lambda i: (-scores[i], i))[: len(scores) // 10]
    return target, pool[rng.integers(len(pool))]


def test_rule_v2_draws_the_target_from_a_stream_that_includes_the_reducer():
    evidence = _evidence(3, n_test=50)
    for reducer in ("nmf", "pca", "kmeans"):
        for position in (0, 7):
            key = (2, int.from_bytes(reducer.encode(), "big"), position)
            rng = np.random.default_rng(np.random.SeedSequence(9, spawn_key=key))
            trial = _plan(evidence, seed=9, reducer=reducer, position=position)
            assert (trial.target_concept, trial.target_image) == _reference_draw(rng, evidence)


def test_rule_v2_draws_are_independent_across_reducers_of_one_seed():
    # The same evidence for two reducers: under a shared stream the candidate rank of the
    # target would always agree; independent draws agree about 1 time in 5.
    evidence = _evidence(4, n_test=50)
    ranks = {}
    for reducer in ("nmf", "pca"):
        candidates = stimuli.choose_candidates(evidence.class_weights).tolist()
        ranks[reducer] = np.array(
            [
                candidates.index(_plan(evidence, reducer=reducer, position=p).target_concept)
                for p in range(300)
            ]
        )
    agreement = float(np.mean(ranks["nmf"] == ranks["pca"]))
    assert 0.12 < agreement < 0.3  # binomial(300, 0.2): 0.2 ± 4.3 sd


def test_rule_v2_needs_the_reducer():
    with pytest.raises(ValueError, match="reducer=None"):
        _plan(_evidence(0), reducer=None)


def test_rule_v1_still_rebuilds_old_sets_with_the_shared_position_stream():
    evidence = _evidence(5, n_test=50)
    for position in (0, 3):
        rng = np.random.default_rng(np.random.SeedSequence(9, spawn_key=(1, position)))
        expected = _reference_draw(rng, evidence)
        for reducer in ("nmf", "pca"):
            trial = _plan(evidence, seed=9, reducer=reducer, position=position, draw_rule="v1")
            assert (trial.target_concept, trial.target_image) == expected
    with pytest.raises(ValueError, match="draw_rule='v3'"):
        _plan(evidence, draw_rule="v3")


def _blank_case() -> stimuli.ClassEvidence:
    """Candidates 0..4 (by weight). Concept 0: its best test and training images are blank.
    Concept 1: every top-10% test image is blank, so it cannot be the target."""
    evidence = _evidence(6, n_test=20, n_train=8)
    weights = np.array([9.0, 8.0, 7.0, 6.0, 5.0, 0.0, 0.0, 0.0, 0.0, 0.0])
    test_blank = np.zeros((20, 10), dtype=bool)
    train_blank = np.zeros((8, 10), dtype=bool)
    test_blank[np.argmax(evidence.test_scores[:, 0]), 0] = True
    test_blank[np.argsort(-evidence.test_scores[:, 1])[:2], 1] = True
    train_blank[np.argsort(-evidence.train_scores[:, 0])[:3], 0] = True
    return stimuli.ClassEvidence(
        weights, evidence.test_scores, evidence.train_scores, test_blank, train_blank
    )


def test_an_image_whose_map_is_blank_is_never_a_target_or_a_prototype():
    evidence = _blank_case()
    targets = set()
    for seed in range(80):
        trial = _plan(evidence, seed=seed)
        targets.add(trial.target_concept)
        assert not evidence.test_blank[trial.target_image, trial.target_concept]
        for candidate in trial.candidates:
            assert not evidence.train_blank[list(candidate.prototypes), candidate.concept].any()
    assert targets == {0, 2, 3, 4}  # concept 1 shows in none of its top-2 test images
    rows = {c.concept: c.prototypes for c in _plan(evidence).candidates}
    order = np.argsort(-evidence.train_scores[:, 0], kind="stable")
    assert list(rows[0]) == order[3:8].tolist()  # the three blank best images are skipped


def test_a_class_where_no_candidate_can_be_shown_is_an_error_naming_it():
    evidence = _blank_case()
    every_test_map_blank = np.ones_like(evidence.test_blank)
    with pytest.raises(ValueError, match="class 'a'.*no candidate concept is visible"):
        _plan(dataclasses.replace(evidence, test_blank=every_test_map_blank))
    no_prototypes = evidence.train_blank.copy()
    no_prototypes[:, 2] = True
    with pytest.raises(ValueError, match=r"candidate concepts \[2\] are visible on none"):
        _plan(dataclasses.replace(evidence, train_blank=no_prototypes))
