"""Security of the participant pages: CSRF without cookies, one participant per token, framing, staff only."""

from __future__ import annotations

import pytest

from studies.models import Description, Participant, QuestionnaireAnswer, TrialResponse
from studies.pages import participant_flow
from tests.studies.conftest import answer_for, walk_to

PAGES = ["consent", "instructions", "choice", "describe", "questionnaire", "demographics"]


def written() -> tuple:
    return (
        list(Participant.objects.values_list("page", "status")),
        TrialResponse.objects.count(),
        Description.objects.count(),
        QuestionnaireAnswer.objects.count(),
    )


@pytest.mark.parametrize("name", PAGES)
@pytest.mark.parametrize(
    "attack",
    ["no form token", "wrong form token", "another site's origin", "origin null", "referer only"],
)
def test_every_post_needs_the_form_token_and_our_origin(study, walker, name, attack):
    url = walker.start(study)
    participant = walk_to(walker, url, name)
    page = walker.get(url)
    form = {"page": page.field("page"), "form_token": page.field("form_token")}
    form.update(answer_for(participant))
    before = written()
    if attack == "no form token":
        reply = walker.post(url, {k: v for k, v in form.items() if k != "form_token"})
    elif attack == "wrong form token":
        reply = walker.post(url, {**form, "form_token": participant.url_token})
    elif attack == "another site's origin":
        reply = walker.post(url, form, origin="https://evil.example")
    elif attack == "origin null":
        reply = walker.post(url, form, origin="null")
    else:
        walker.client.cookies.clear()
        response = walker.client.post(url, form, headers={"Referer": "https://evil.example/x"})
        reply = walker._page(response)
    assert reply.status == 403 and "Request refused" in reply.html
    assert written() == before
    assert walker.post(url, form).status == 303  # the genuine form still works


def test_starting_from_another_site_is_refused(study, walker):
    reply = walker.post(f"/s/{study.slug}/", {}, origin="https://evil.example")
    assert reply.status == 403 and not Participant.objects.exists()


def test_a_participant_cannot_open_or_answer_another_participants_pages(study, walker):
    first, second = walker.start(study), walker.start(study)
    a, b = (
        Participant.objects.get(url_token=u.rstrip("/").rsplit("/", 1)[1]) for u in (first, second)
    )
    # A's form token on B's page is refused; B's page is untouched.
    reply = walker.post(second, {"page": "0", "form_token": a.form_token, "decision": "agree"})
    assert reply.status == 403
    b.refresh_from_db()
    assert b.page == 0
    # A token that is nobody's, or a token used under another study's slug, finds nothing.
    assert walker.get(f"/s/{study.slug}/p/{'x' * 43}/").status == 404
    assert walker.get(f"/s/other/p/{a.url_token}/").status == 404
    assert walker.get(f"/s/{study.slug}/p/{a.url_token[:-1]}/training/1/").status == 404


def test_study_pages_may_be_framed_by_mturk_only(study, walker):
    url = walker.start(study)
    for page in (walker.get(url), walker.get(f"/s/{study.slug}/"), walker.get("/s/nope/")):
        response = walker.client.get(url)
        policy = directives(response["Content-Security-Policy"])
        assert policy["frame-ancestors"] == "https://www.mturk.com https://workersandbox.mturk.com"
        assert policy["script-src"] == "'self'" and policy["object-src"] == "'none'"
        assert "https://www.mturk.com" in policy["form-action"]  # the completion form posts there
        assert "X-Frame-Options" not in response
        assert response["Referrer-Policy"] == "same-origin"
        assert response["Cache-Control"] == "no-store"
        assert page.status in (200, 404)
    admin = walker.client.get("/admin/login/")
    assert admin["X-Frame-Options"] == "DENY"
    assert directives(admin["Content-Security-Policy"])["frame-ancestors"] == "'none'"


def directives(header: str) -> dict[str, str]:
    parts = (part.strip().split(" ", 1) for part in header.split(";") if part.strip())
    return {part[0]: part[1] if len(part) > 1 else "" for part in parts}


def test_no_page_sets_a_cookie(study, walker):
    url = walker.start(study)
    while True:
        participant = Participant.objects.get()
        walker.client.cookies.clear()
        response = walker.client.get(url)
        assert not response.cookies
        if participant_flow(participant).current.name == "completion":
            break
        form = {
            "page": str(participant.page),
            "form_token": participant.form_token,
            **answer_for(participant),
        }
        walker.client.cookies.clear()
        posted = walker.client.post(url, form, headers={"Origin": "http://testserver"})
        assert posted.status_code == 303 and not posted.cookies


def test_our_own_host_is_accepted_over_https_as_behind_a_tls_proxy(study, walker):
    url = walker.start(study)
    page = walker.get(url)
    form = {"page": page.field("page"), "form_token": page.field("form_token"), "decision": "agree"}
    assert walker.post(url, form, origin="https://testserver").status == 303
    assert walker.post(url, form, origin="https://testserver.evil.example").status == 403
