"""Balanced assignment: least-filled group, freed slots, random ties, and concurrent arrivals."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client
from django.utils import timezone

from studies.models import Participant
from studies.services import Arrival, group_fill, participant_enter, participant_set_status

ON_POSTGRESQL = "postgresql" in settings.DATABASES["default"]["ENGINE"]


def enter(study, worker: str):
    return participant_enter(
        study=study,
        arrival=Arrival(platform="prolific", external_id=worker, attempt_id=f"S{worker}"),
    )


def test_new_participants_fill_the_groups_in_turn(study):
    groups = [enter(study, f"P{i}").group_id for i in range(9)]
    for start in range(0, 9, 3):
        assert len(set(groups[start : start + 3])) == 3  # each round of three covers every group


def test_ties_are_broken_at_random_from_the_participants_seed(study):
    firsts = Counter()
    for i in range(12):
        participant = enter(study, f"P{i}")
        firsts[participant.group_id] += 1
        participant_set_status(participant=participant, status="returned")
    assert len(firsts) > 1  # 12 draws all landing on one of three groups: p = 3 / 3**12


@pytest.mark.parametrize("status", ["returned", "timed_out", "excluded"])
def test_a_participant_who_drops_out_frees_their_slot(study, status):
    first, second = enter(study, "P0"), enter(study, "P1")
    third = enter(study, "P2")
    participant_set_status(participant=second, status=status, rule="test")
    assert enter(study, "P3").group_id == second.group_id
    assert len({first.group_id, second.group_id, third.group_id}) == 3


def test_completed_participants_hold_their_slot_and_late_ones_do_not(study):
    done = participant_set_status(participant=enter(study, "P0"), status="completed")
    late = enter(study, "P1")
    Participant.objects.filter(pk=late.pk).update(
        started_at=timezone.now() - timedelta(hours=2),
        deadline=timezone.now() - timedelta(seconds=1),
    )
    fill = group_fill(version=study.current_version, now=timezone.now())
    assert fill[done.group_id] == 1 and sum(fill.values()) == 1


def test_a_new_version_counts_its_own_participants(study):
    from studies.services import study_update

    for i in range(3):
        enter(study, f"P{i}")
    study = study_update(study=study, title="Edited")
    fill = group_fill(version=study.current_version, now=timezone.now())
    assert set(fill.values()) == {0}


@pytest.mark.skipif(not ON_POSTGRESQL, reason="needs PostgreSQL's row locks (SQLite has none)")
def test_fifty_simultaneous_arrivals_leave_the_groups_at_most_one_apart(
    transactional_db, make_study
):
    study = make_study(allow_anonymous=False)
    barrier = threading.Barrier(50)
    statuses, errors = [], []

    def arrive(index: int) -> None:
        try:
            client = Client()
            params = {"PROLIFIC_PID": f"P{index}", "STUDY_ID": "S", "SESSION_ID": f"X{index}"}
            barrier.wait()
            statuses.append(client.post(f"/s/{study.slug}/", params).status_code)
        except Exception as error:  # reported below, with the thread's failure
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=arrive, args=(i,)) for i in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and statuses == [303] * 50
    sizes = Counter(Participant.objects.values_list("group_id", flat=True))
    assert sum(sizes.values()) == 50 and len(sizes) == 3
    assert max(sizes.values()) - min(sizes.values()) <= 1
