"""Faults during a study: the database connection drops mid-answer; the job broker is down.

A participant's answer is one transaction (``page_submit``): the connection dropping
between its writes leaves nothing of it, the participant gets an error page, and their
next request shows the same page again and stores the answer. On PostgreSQL the server
really drops a kept connection (``pg_terminate_backend``) between two requests: the
health check (``CONN_HEALTH_CHECKS``) replaces it and the next request succeeds.
"""

from __future__ import annotations

import pytest
from django.db import OperationalError, close_old_connections, connection
from django.test import Client

from studies.models import Participant, TrialResponse
from tests.studies.conftest import ORIGIN, answer_for, walk_to


def _state(participant: Participant) -> tuple:
    participant.refresh_from_db()
    return participant.page, participant.status, TrialResponse.objects.count()


def test_a_connection_dropped_between_the_writes_of_an_answer_leaves_nothing_half_written(
    study, walker, monkeypatch
):
    url = walker.start(study)
    participant = walk_to(walker, url, "choice")
    page = walker.get(url)
    form = {"page": page.field("page"), "form_token": page.field("form_token")}
    form |= answer_for(participant)
    before = _state(participant)

    # The trial response is written; then moving the participant on meets a dead connection.
    original_save = Participant.save

    def dropped(self, *args, **kwargs):
        assert TrialResponse.objects.filter(participant=self).exists()  # the first write happened
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(Participant, "save", dropped)
    browser = Client(raise_request_exception=False)
    failed = browser.post(url, form, headers={"Origin": ORIGIN})
    assert failed.status_code == 500
    monkeypatch.setattr(Participant, "save", original_save)
    assert _state(participant) == before  # neither the response nor the move survived

    # The next request: the same page, and the same answer is stored once.
    again = walker.get(url)
    assert again.status == 200 and again.field("page") == form["page"]
    stored = walker.post(url, form)
    assert stored.status == 303
    page_before, status_before, responses_before = before
    assert _state(participant) == (page_before + 1, status_before, responses_before + 1)


def test_participants_are_served_while_the_job_broker_is_down(broker_down, study, walker):
    url = walker.start(study)
    participant = walk_to(walker, url, "choice")
    assert walker.get(url).status == 200
    assert walker.answer(url, answer_for(participant)).status == 303
    participant.refresh_from_db()
    assert TrialResponse.objects.filter(participant=participant).count() == 1


@pytest.mark.django_db(transaction=True)  # the server must see the study: no test transaction
def test_a_kept_connection_the_server_dropped_is_replaced_by_the_next_request(
    study, walker, monkeypatch
):
    if connection.vendor != "postgresql":
        pytest.skip("dropping a server connection needs PostgreSQL (SQLite has none)")
    import psycopg

    url = walker.start(study)
    participant = walk_to(walker, url, "choice")
    answer = answer_for(participant)
    # As deployed with DATABASE_CONN_MAX_AGE > 0: one connection serves request after request.
    monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", 600)
    connection.close()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    # The server drops it between two requests (a restart, a failover, an idle timeout).
    server = connection.get_connection_params()
    server.pop("cursor_factory", None)
    server.pop("context", None)
    with psycopg.connect(**server, autocommit=True) as other:
        assert other.execute("SELECT pg_terminate_backend(%s)", [pid]).fetchone()[0]

    # What Django's handler does as each request starts (the test client leaves it out).
    close_old_connections()
    page = walker.answer(url, answer)
    assert page.status == 303
    participant.refresh_from_db()
    assert TrialResponse.objects.filter(participant=participant).count() == 1


def test_participants_are_served_while_the_cache_redis_is_down(cache_redis_down, study, walker):
    url = walker.start(study)  # the study entry counts its rate limit in the cache
    participant = walk_to(walker, url, "choice")
    assert walker.answer(url, answer_for(participant)).status == 303
