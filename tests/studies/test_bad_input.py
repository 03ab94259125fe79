"""Bad input gets a clear page with a 4xx status, never a 500, and nothing half-stored."""

from __future__ import annotations

import pytest

from studies.models import Description, Participant, TrialResponse
from tests.studies.conftest import walk_to


def state():
    return (
        list(Participant.objects.values_list("page", "status")),
        list(TrialResponse.objects.values_list("pk", flat=True)),
        Description.objects.count(),
    )


@pytest.mark.parametrize(
    "query",
    [
        "workerId=W1",
        "assignmentId=A1&hitId=H1&workerId=W1",
        "assignmentId=A1&hitId=H1&workerId=W1&turkSubmitTo=https%3A%2F%2Fevil.example",
        "assignmentId=A1&hitId=H1&workerId=%3Cscript%3E&turkSubmitTo=https%3A%2F%2Fwww.mturk.com",
        "PROLIFIC_PID=%FF%FE&STUDY_ID=S&SESSION_ID=X",
        "PROLIFIC_PID={{%25PROLIFIC_PID%25}}&STUDY_ID=S&SESSION_ID=X",
    ],
)
def test_missing_or_malformed_platform_parameters_get_a_400(make_study, walker, query):
    study = make_study(allow_anonymous=False)
    for page in (walker.get(f"/s/{study.slug}/?{query}"), walker.get(f"/s/{study.slug}/")):
        assert page.status == 400 and "This link is not complete" in page.html
    assert not Participant.objects.exists()


@pytest.mark.parametrize("choice", ["", "0", "6", "abc", "1.5", "-1", "1" * 5000])
def test_an_invalid_choice_is_refused_and_nothing_is_stored(study, walker, choice):
    url = walker.start(study)
    walk_to(walker, url, "choice")
    before = state()
    page = walker.answer(url, {"choice": choice} if choice else {})
    assert page.status == 400 and 'role="alert"' in page.html
    assert state() == before


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "Describe this row"),
        ("   ", "Describe this row"),
        ("three little words", "one or two words"),
        ("x" * 41, "at most 40 characters"),
        ("<script>alert(1)</script>", "letters and digits only"),
        ('"><img src=x onerror=alert(1)>', "one or two words"),
        ('"><svg/onload=alert(1)>', "letters and digits only"),
        ("tab\there", None),
        ("zero\u200bwidth", "characters we cannot read"),
        ("ctrl\x07bell", "characters we cannot read"),
    ],
)
def test_bad_descriptions_are_refused_and_none_of_the_five_is_stored(study, walker, text, message):
    url = walker.start(study)
    walk_to(walker, url, "describe")
    before = state()
    page = walker.answer(url, {"row1": "wing", "row2": text, "row3": "a", "row4": "b", "row5": "c"})
    if message is None:  # whitespace inside is normalised: "tab here" is two words
        assert page.status == 303 and Description.objects.get(position=2).text == "tab here"
        return
    assert page.status == 400 and message in page.html
    assert "<script>alert" not in page.html  # shown back escaped, never as markup
    assert state() == before


def test_descriptions_are_trimmed_and_may_use_any_alphabet(study, walker):
    url = walker.start(study)
    walk_to(walker, url, "describe")
    texts = ["  wing  ", "tail-fin", "bird's eye", "Flügel", "羽"]
    walker.answer(url, {f"row{n}": text for n, text in enumerate(texts, 1)})
    stored = list(Description.objects.order_by("position").values_list("text", flat=True))
    assert stored == ["wing", "tail-fin", "bird's eye", "Flügel", "羽"]


def test_a_body_that_is_not_utf8_is_refused(study, walker):
    url = walker.start(study)
    participant = walk_to(walker, url, "describe")
    before = state()
    body = (
        f"page={participant.page}&form_token={participant.form_token}&row1=w%FF%FEing&row2=a"
        "&row3=b&row4=c&row5=d"
    ).encode() + b"&row2=\xff\xfe"
    walker.client.cookies.clear()
    response = walker.client.post(
        url,
        body,
        content_type="application/x-www-form-urlencoded",
        headers={"Origin": "http://testserver"},
    )
    assert response.status_code == 400
    assert state() == before


@pytest.mark.parametrize(
    ("page", "status"), [("abc", 400), ("-1", 400), ("", 400), ("99", 400), ("9" * 30, 400)]
)
def test_a_forged_page_index_is_refused(study, walker, page, status):
    url = walker.start(study)
    participant = walk_to(walker, url, "choice")
    before = state()
    reply = walker.post(url, {"page": page, "form_token": participant.form_token, "choice": "1"})
    assert reply.status == status and "Unknown page" in reply.html
    assert state() == before


def test_a_page_ahead_of_the_participant_is_refused_not_skipped_to(study, walker):
    url = walker.start(study)
    participant = walk_to(walker, url, "consent")
    reply = walker.post(url, {"page": "2", "form_token": participant.form_token, "choice": "1"})
    assert reply.status == 400
    participant.refresh_from_db()
    assert participant.page == 0 and not TrialResponse.objects.exists()


def test_bad_demographics_are_refused(study, walker):
    url = walker.start(study)
    walk_to(walker, url, "demographics")
    for data in ({"age": "12"}, {"age": "abc"}, {"age": "30", "gender": "<b>x</b>"}, {}):
        assert walker.answer(url, data).status == 400
    assert Participant.objects.get().status == "started"


@pytest.mark.parametrize("method", ["put", "delete", "patch"])
def test_other_methods_are_not_allowed(study, walker, method):
    url = walker.start(study)
    assert getattr(walker.client, method)(url).status_code == 405
