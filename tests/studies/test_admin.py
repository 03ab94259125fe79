"""The studies admin: staff only, monitoring figures, actions and forms that go through services."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from studies.models import Participant, Study
from studies.selectors import study_group_stats
from studies.services import participant_set_status, participants_simulate


@pytest.fixture
def staff(db):
    return User.objects.create_superuser("admin", "admin@example.org", "pw-not-secret")


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


def test_monitoring_and_participants_are_for_staff_only(study, client, db):
    urls = [
        f"/admin/studies/study/{study.pk}/monitor/",
        "/admin/studies/study/",
        "/admin/studies/participant/",
    ]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 302 and "/admin/login/" in response["Location"]
    User.objects.create_user("visitor", password="pw-not-secret")
    client.login(username="visitor", password="pw-not-secret")
    for url in urls:
        assert client.get(url).status_code == 302


def test_group_figures_count_each_status_accuracy_and_median_duration(study):
    participants_simulate(study=study, n=3, policy="oracle")
    late = Participant.objects.order_by("pk").first()
    rows = study_group_stats(study=study, now=timezone.now() + timedelta(hours=2))
    assert sum(r["completed"] for r in rows) == 3 and sum(r["started"] for r in rows) == 3
    assert all(r["accuracy"] == 1.0 for r in rows if r["completed"])
    assert all(
        r["median_minutes"] is not None and r["median_minutes"] < 5 for r in rows if r["completed"]
    )
    participant_set_status(participant=late, status="excluded", rule="review")
    rows = study_group_stats(study=study)
    row = next(r for r in rows if r["group"].pk == late.group_id)
    assert row["excluded"] == 1 and row["completed"] == 0


def test_group_figures_by_hand(study, walker):
    from studies.services import Arrival, participant_enter

    people = [
        participant_enter(
            study=study,
            arrival=Arrival(platform="prolific", external_id=f"P{i}", attempt_id=f"S{i}"),
        )
        for i in range(6)
    ]
    participant_set_status(participant=people[0], status="returned")
    Participant.objects.filter(pk=people[1].pk).update(
        started_at=timezone.now() - timedelta(hours=2),
        deadline=timezone.now() - timedelta(minutes=1),
    )
    rows = study_group_stats(study=study)
    totals = {
        key: sum(r[key] for r in rows) for key in ("started", "active", "returned", "timed_out")
    }
    assert totals == {"started": 6, "active": 4, "returned": 1, "timed_out": 1}
    assert all(r["accuracy"] is None and r["median_minutes"] is None for r in rows)


def test_the_monitor_page_shows_every_group(staff_client, study):
    participants_simulate(study=study, n=2, policy="random")
    page = staff_client.get(f"/admin/studies/study/{study.pk}/monitor/")
    assert page.status_code == 200
    for group in study.groups.all():
        assert group.label in page.content.decode()


def test_the_participant_page_lists_every_response_and_event(staff_client, study):
    participants_simulate(study=study, n=1, policy="labels")
    participant = Participant.objects.get()
    page = staff_client.get(f"/admin/studies/participant/{participant.pk}/change/").content.decode()
    assert page.count('class="field-rt_ms"') == 4  # one cell per response
    assert "page_view" in page or "Page view" in page
    assert participant.url_token not in page and participant.form_token not in page


def test_pause_and_close_actions_go_through_the_services(staff_client, study):
    changelist = "/admin/studies/study/"
    staff_client.post(changelist, {"action": "pause", "_selected_action": [study.pk]})
    assert Study.objects.get().status == "paused"
    staff_client.post(changelist, {"action": "launch", "_selected_action": [study.pk]})
    assert Study.objects.get().status == "live"
    staff_client.post(changelist, {"action": "close", "_selected_action": [study.pk]})
    response = staff_client.post(
        changelist, {"action": "pause", "_selected_action": [study.pk]}, follow=True
    )
    assert Study.objects.get().status == "closed"
    assert "only a study that is live can become paused" in response.content.decode()


def test_the_add_form_creates_a_study_through_the_service(staff_client, stimulus_sets):
    data = {
        "slug": "from-admin",
        "title": "From the admin",
        "description": "",
        "consent_text": "Consent.",
        "instructions": "Instructions.",
        "exclusion_threshold": "0.2",
        "bonus_rule": "{}",
        "questionnaire": '[{"key": "confidence", "text": "I am confident."}]',
        "demographics": "[]",
        "code_completed": "ADMIN123",
        "platforms": '["prolific"]',
        "platform_settings": "{}",
        "time_limit_minutes": "30",
        "stimulus_sets": [s.pk for s in stimulus_sets[:2]],
        "groups-TOTAL_FORMS": "0",
        "groups-INITIAL_FORMS": "0",
    }
    response = staff_client.post("/admin/studies/study/add/", data)
    assert response.status_code == 302, response.content.decode()[:3000]
    study = Study.objects.get(slug="from-admin")
    assert study.groups.count() == 2 and study.status == "draft"
    bad = staff_client.post("/admin/studies/study/add/", {**data, "slug": "bad", "n_test": "9"})
    assert bad.status_code == 200 and "n_test=9 but stimulus set" in bad.content.decode()
    assert not Study.objects.filter(slug="bad").exists()


def test_study_links_name_the_entry_and_the_monitor(study):
    from studies.selectors import study_links

    assert study_links(study=study, base_url="http://127.0.0.1:8000/") == {
        "participant_url": "http://127.0.0.1:8000/s/match/",
        "admin_url": f"http://127.0.0.1:8000/admin/studies/study/{study.pk}/monitor/",
    }


def test_staff_can_exclude_participants_and_the_rule_names_them(staff_client, study):
    participants_simulate(study=study, n=2, policy="oracle")
    first, second = Participant.objects.order_by("pk")
    staff_client.post(
        "/admin/studies/participant/",
        {"action": "exclude_participants", "_selected_action": [first.pk]},
    )
    first.refresh_from_db(), second.refresh_from_db()
    assert first.status == "excluded" and first.exclusion_rule == "excluded in review by admin"
    assert second.status == "completed"
    assert first.responses.count() == 4  # kept
