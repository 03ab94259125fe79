"""Simulated participants walk the real pages: policies, platforms, and the HTTP transport."""

from __future__ import annotations

import pytest

from explainers.models import Concept
from icelab.errors import ServiceError
from studies.models import Description, Participant, TrialResponse
from studies.services import bots, participants_simulate


@pytest.fixture(autouse=True)
def bots_raise(monkeypatch):
    monkeypatch.setattr(bots, "RAISE_ERRORS", True)


def test_oracle_bots_answer_every_trial_right_and_complete(study):
    summary = participants_simulate(study=study, n=3, policy="oracle")
    assert summary["statuses"] == {"completed": 3} and summary["codes"] == {"DONE1234": 3}
    assert summary["rejected_posts"] == 0 and not summary["errors"]
    # 3 bots x (2 entry requests + 12 pages answered x 2 + the completion page)
    assert summary["requests"] == 3 * (2 + 12 * 2 + 1)
    timing = summary["request_ms"]
    assert 0 < timing["p50"] <= timing["p95"] <= timing["max"]
    assert (
        TrialResponse.objects.count() == 12
        and TrialResponse.objects.filter(is_correct=False).count() == 0
    )
    assert len({p.group_id for p in Participant.objects.all()}) == 3


def test_label_bots_pick_the_targets_part_and_describe_rows_by_their_part(study):
    for concept in Concept.objects.all():
        concept.best_part = f"part_{concept.index % 4}"
        concept.save(update_fields=["best_part"])
    participants_simulate(study=study, n=2, policy="labels", platform="prolific", seed=1)
    for response in TrialResponse.objects.select_related("trial", "chosen_concept"):
        target = Concept.objects.get(run=response.trial.run, index=response.trial.target_concept)
        assert response.chosen_concept.best_part == target.best_part
    for description in Description.objects.select_related("concept"):
        assert description.text == description.concept.best_part.replace("_", " ")


def test_random_bots_finish_with_a_code_on_mturk(study):
    summary = participants_simulate(study=study, n=4, policy="random", platform="mturk", seed=2)
    assert sum(summary["statuses"].values()) == 4
    assert set(summary["statuses"]) <= {"completed", "excluded"}
    assert Participant.objects.filter(platform="mturk").count() == 4


def test_the_same_seed_gives_the_same_answers(make_study):
    answers = []
    for slug in ("first", "second"):
        study = make_study(slug)
        participants_simulate(study=study, n=1, policy="random", seed=5)
        answers.append(
            list(
                TrialResponse.objects.filter(participant__study=study)
                .order_by("answered_at")
                .values_list("chosen_position", flat=True)
            )
        )
    assert answers[0] == answers[1]


def test_bad_arguments_are_refused(study):
    with pytest.raises(ServiceError, match="policy='smart'"):
        participants_simulate(study=study, n=1, policy="smart")
    with pytest.raises(ServiceError, match="platform='web'"):
        participants_simulate(study=study, n=1, platform="web")
    with pytest.raises(ServiceError, match="n=0"):
        participants_simulate(study=study, n=0)


def test_bots_over_http_use_no_cookies_and_complete(live_server, make_study):
    study = make_study()
    summary = participants_simulate(
        study=study, n=2, policy="oracle", platform="prolific", base_url=live_server.url
    )
    assert summary["statuses"] == {"completed": 2}, summary
    assert TrialResponse.objects.filter(is_correct=True).count() == 8


@pytest.mark.parametrize("n", [1, 2, 7, 20, 101])
def test_latency_percentiles_are_nearest_rank(n):
    import numpy as np

    values = sorted(np.random.default_rng(n).exponential(0.05, n).tolist())
    for q in (0.5, 0.95, 1.0):
        expected = np.percentile(values, 100 * q, method="inverted_cdf")
        assert bots._percentile_ms(values, q) == round(1000 * float(expected), 1)
