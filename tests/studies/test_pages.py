"""The declared page sequence and the per-participant candidate order."""

from __future__ import annotations

from collections import Counter

from explainers.selectors import trial_display
from studies.pages import (
    PAGE_SEQUENCE,
    TrialPages,
    correct_position,
    participant_flow,
    shown_candidates,
    trial_order_seed,
    trial_rows,
)
from studies.services import Arrival, participant_enter


def enter(study, person: str):
    return participant_enter(
        study=study, arrival=Arrival(platform="prolific", external_id=person, attempt_id="S")
    )


def test_the_sequence_expands_trials_of_the_participants_group_in_order(make_study):
    study = make_study(n_test=2)
    participant = enter(study, "P1")
    flow = participant_flow(participant)
    group = next(
        g for g in study.current_version.config["groups"] if g["id"] == participant.group_id
    )
    trial_pages = [p for p in flow.pages if p.phase]
    assert [(p.name, p.trial_id, p.phase) for p in trial_pages] == [
        (name, trial_id, phase)
        for phase in ("training", "test")
        for trial_id in group[phase]
        for name in ("choice", "describe")
    ]
    assert len(group["test"]) == 2 and len(flow.pages) == 2 + 2 * 3 + 3
    assert sum(isinstance(entry, TrialPages) for entry in PAGE_SEQUENCE) == 2


def test_the_row_order_is_fixed_per_participant_and_differs_between_participants(study):
    people = [enter(study, f"P{i}") for i in range(12)]
    orders = Counter()
    for participant in people:
        flow = participant_flow(participant)
        trial = flow.trials[flow.group["test"][0]]
        first = shown_candidates(participant=participant, trial=trial)
        assert first == shown_candidates(participant=participant, trial=trial)
        assert sorted(first) == [0, 1, 2, 3, 4]
        orders[(trial.pk, tuple(first))] += 1
    assert len(orders) > 3  # 12 random shuffles of 5 rows: repeats are rare


def test_rows_and_the_right_position_agree_with_the_explainers_display(study):
    participant = enter(study, "P1")
    flow = participant_flow(participant)
    for trial in flow.trials.values():
        seed = trial_order_seed(participant=participant, trial=trial)
        display = trial_display(trial=trial, order_seed=seed)
        rows = trial_rows(participant=participant, trial=trial)
        assert [r["prototypes"] for r in rows["rows"]] == [r["prototypes"] for r in display["rows"]]
        assert all(set(row) == {"label", "prototypes"} for row in rows["rows"])  # no concept key
        right = correct_position(participant=participant, trial=trial)
        key = display["rows"][right - 1]["key"]
        assert trial.candidates[key]["concept"] == trial.target_concept
