"""Property-based tests (hypothesis) of every participant endpoint.

Whatever a client sends, the answer is a normal page, a redirect or a 4xx page, never a
500, and a refused request leaves every participant table exactly as it was. Examples
are few (the suite runs on small machines); ``derandomize`` makes every run the same.
"""

from __future__ import annotations

from urllib.parse import quote, quote_from_bytes, urlencode

import pytest
from django.test import Client
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from studies.models import (
    Attempt,
    DemographicAnswer,
    Description,
    Event,
    Participant,
    QuestionnaireAnswer,
    TrialResponse,
)
from tests.studies.conftest import ORIGIN, walk_to

FUZZ = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
PLATFORM_PARAMS = [
    "assignmentId",
    "hitId",
    "workerId",
    "turkSubmitTo",
    "PROLIFIC_PID",
    "STUDY_ID",
    "SESSION_ID",
]
FIELD_NAMES = ["page", "form_token", "decision", "choice", "row1", "row2", "age", "gender"]
NASTY = [
    "",
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "{{7*7}}",
    "ASSIGNMENT_ID_NOT_AVAILABLE",
    "https://evil.example",
    "https://www.mturk.com",
    "../../etc/passwd",
    "\x00",
    "9" * 30,
    "-1",
]
values = st.one_of(st.sampled_from(NASTY), st.text(max_size=60))
names = st.one_of(st.sampled_from(PLATFORM_PARAMS + FIELD_NAMES), st.text(min_size=1, max_size=20))
forms = st.dictionaries(names, values, max_size=8)


def state() -> tuple:
    """Every participant table, row by row, so any write shows."""
    return tuple(
        list(model.objects.order_by("pk").values_list())
        for model in (
            Participant,
            Attempt,
            TrialResponse,
            Description,
            QuestionnaireAnswer,
            DemographicAnswer,
            Event,
        )
    )


def no_cookies() -> Client:
    return Client()


def assert_refused_cleanly(response, before) -> None:
    assert response.status_code < 500, response.content[:500]
    if response.status_code >= 400:
        assert state() == before
    body = response.content.decode("utf-8", errors="replace")
    assert "<script>alert" not in body and "<img src=x" not in body


@pytest.fixture
def entered(study, walker) -> str:
    """The page URL of one anonymous participant of ``study``."""
    return walker.start(study)


def participant_at(url: str) -> Participant:
    return Participant.objects.get(url_token=url.rstrip("/").rsplit("/", 1)[-1])


# Function-scoped fixtures (one study per test) are shared by the test's examples on purpose:
# each example compares the tables before and after its own requests.
@FUZZ
@given(params=forms, method=st.sampled_from(["GET", "POST"]))
def test_entry_with_any_parameters(study, params, method):
    client, before = no_cookies(), state()
    if method == "GET":
        response = client.get(f"/s/{study.slug}/", params)
    else:
        response = client.post(f"/s/{study.slug}/", params, headers={"Origin": ORIGIN})
    assert_refused_cleanly(response, before)
    if response.status_code == 303:  # entered: one participant more, or one resumed
        assert Participant.objects.count() - len(before[0]) in (0, 1)


@FUZZ
@given(raw=st.binary(max_size=200), slug=st.sampled_from(["match", "nope", "MATCH", "m-a"]))
def test_entry_with_non_utf8_query_strings_and_bodies(study, raw, slug):
    client, before = no_cookies(), state()
    response = client.get(f"/s/{slug}/?{quote_from_bytes(raw, safe='=&')}")
    assert_refused_cleanly(response, before)
    response = client.post(
        f"/s/{slug}/",
        raw,
        content_type="application/x-www-form-urlencoded",
        headers={"Origin": ORIGIN},
    )
    assert_refused_cleanly(response, before)


@FUZZ
@given(form=forms, keep_token=st.booleans(), keep_page=st.booleans())
def test_page_posts_with_any_fields(entered, form, keep_token, keep_page):
    url, participant = entered, participant_at(entered)
    if keep_page:
        form["page"] = str(participant.page)
    if keep_token:
        form["form_token"] = participant.form_token
    client, before = no_cookies(), state()
    response = client.post(url, form, headers={"Origin": ORIGIN})
    assert_refused_cleanly(response, before)
    if not keep_token or form.get("page") != str(participant.page):
        assert state() == before  # a forged token or a page not shown writes nothing


@FUZZ
@given(
    token=st.one_of(
        st.text(min_size=1, max_size=80), st.sampled_from(["x" * 64, "%00", "..", "a\x00b"])
    ),
    number=st.integers(min_value=0, max_value=2**70),
    page=st.one_of(st.integers(min_value=-5, max_value=10**12).map(str), values),
)
def test_forged_tokens_pages_and_training_numbers(study, walker, entered, token, number, page):
    url = entered
    participant = walk_to(walker, url, "choice")  # training done: reviews are allowed
    assume(page != str(participant.page))
    client, before = no_cookies(), state()
    forged = f"/s/{study.slug}/p/{quote(token, safe='')}/"
    for response in (
        client.get(forged),
        client.post(forged, {"page": "0", "form_token": token}, headers={"Origin": ORIGIN}),
        client.get(f"{url}training/{number}/"),
        client.post(
            url,
            {"page": page, "form_token": participant.form_token, "choice": "1"},
            headers={"Origin": ORIGIN},
        ),
    ):
        assert_refused_cleanly(response, before)
    assert state() == before


@settings(FUZZ, max_examples=6)
@given(method=st.sampled_from(["PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "PROPFIND"]))
def test_other_methods_are_refused(study, entered, method):
    url, before = entered, state()
    for path in (f"/s/{study.slug}/", url, f"{url}training/1/"):
        response = no_cookies().generic(method, path, b"page=0")
        assert response.status_code == 405
    assert no_cookies().post(f"{url}training/1/", {}).status_code == 405
    assert state() == before


def test_huge_bodies_and_too_many_fields_are_refused(study, walker):
    url = walker.start(study)
    page = walker.get(url)
    token = {"page": page.field("page"), "form_token": page.field("form_token")}
    before, client = state(), no_cookies()
    huge = urlencode({**token, "decision": "agree", "pad": "x" * 3_000_000})
    many = urlencode({**token, "decision": "agree", **{f"f{n}": "1" for n in range(1500)}})
    for body in (huge, many, b"\xff\xfe" * 100_000):
        response = client.post(
            url, body, content_type="application/x-www-form-urlencoded", headers={"Origin": ORIGIN}
        )
        assert 400 <= response.status_code < 500
        assert state() == before
    broken = client.post(
        url,
        b"--x\r\nContent-Disposition: form-data; name=page\r\n\r\n0",
        content_type="multipart/form-data; boundary=x",
        headers={"Origin": ORIGIN},
    )
    assert 400 <= broken.status_code < 500 and state() == before
