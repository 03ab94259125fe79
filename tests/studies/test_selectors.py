"""Reads: accuracy over test trials only, and the bonus rule."""

from __future__ import annotations

from studies.models import Participant, TrialResponse
from studies.selectors import participant_accuracy, participant_earns_bonus
from studies.services import participants_simulate


def test_accuracy_counts_test_trials_only(study):
    participants_simulate(study=study, n=1, policy="oracle")
    participant = Participant.objects.get()
    assert participant_accuracy(participant=participant) == (3, 3)
    # A wrong training answer changes nothing; a wrong test answer does.
    TrialResponse.objects.filter(phase="training").update(is_correct=False)
    assert participant_accuracy(participant=participant) == (3, 3)
    first_test = TrialResponse.objects.filter(phase="test").order_by("pk").first()
    TrialResponse.objects.filter(pk=first_test.pk).update(is_correct=False)
    assert participant_accuracy(participant=participant) == (2, 3)


def test_the_bonus_rule_flags_completed_participants_at_or_above_the_threshold(make_study):
    study = make_study(bonus_rule={"min_accuracy": 0.66, "amount": "0.50"})
    participants_simulate(study=study, n=1, policy="oracle")
    participant = Participant.objects.get()
    assert participant_earns_bonus(participant=participant)
    responses = TrialResponse.objects.filter(phase="test").order_by("pk")
    TrialResponse.objects.filter(pk=responses[0].pk).update(is_correct=False)
    assert participant_earns_bonus(participant=participant)  # 2/3 >= 0.66
    TrialResponse.objects.filter(pk=responses[1].pk).update(is_correct=False)
    assert not participant_earns_bonus(participant=participant)  # 1/3


def test_no_bonus_without_a_rule(study):
    participants_simulate(study=study, n=1, policy="oracle")
    assert not participant_earns_bonus(participant=Participant.objects.get())
