"""Entering a study is rate-limited per address, generously; participants' own pages are not."""

from __future__ import annotations

from studies.models import Participant


def test_the_entry_after_the_limit_gets_429_and_can_still_be_framed_by_mturk(
    study, walker, settings
):
    settings.ICELAB_RATE_STUDY_ENTRY = "4/m"
    url = walker.start(study)  # GET + POST: two of the four
    assert walker.get(f"/s/{study.slug}/").status == 200
    assert walker.post(f"/s/{study.slug}/", {}).status == 303
    walker.client.cookies.clear()
    refused = walker.client.get(f"/s/{study.slug}/")
    assert refused.status_code == 429 and b"Too many requests" in refused.content
    assert "mturk.com" in refused["Content-Security-Policy"]
    assert "X-Frame-Options" not in refused
    assert walker.post(f"/s/{study.slug}/", {}).status == 429
    assert Participant.objects.count() == 2
    # Participants already in the study carry on: their pages are not limited.
    for _ in range(6):
        assert walker.get(url).status == 200
    other = walker.client.get(f"/s/{study.slug}/", REMOTE_ADDR="192.0.2.1")
    assert other.status_code == 200


def test_the_default_lets_a_classroom_behind_one_address_in(study, walker):
    for _ in range(60):  # 60 students, each opening the link and starting
        walker.start(study)
    assert Participant.objects.count() == 60
