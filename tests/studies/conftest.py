"""Studies fixtures: a cookie-less page walker and helpers that answer pages (the studies
themselves come from ``make_study``/``study`` in tests/conftest.py)."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from django.test import Client

from studies.models import Participant
from studies.pages import correct_position, participant_flow

ORIGIN = "http://testserver"


@dataclass
class Page:
    status: int
    html: str
    location: str

    def field(self, name: str) -> str:
        match = re.search(rf'name="{name}" value="([^"]*)"', self.html)
        assert match, f"no field {name} on the page"
        return match.group(1)


class Walker:
    """A browser without cookies: every request starts with an empty cookie jar."""

    def __init__(self) -> None:
        self.client = Client()

    def get(self, url: str) -> Page:
        self.client.cookies.clear()
        return self._page(self.client.get(url))

    def post(self, url: str, data: dict, *, origin: str | None = ORIGIN) -> Page:
        self.client.cookies.clear()
        headers = {"Origin": origin} if origin else {}
        return self._page(self.client.post(url, data, headers=headers))

    def start(self, study, params: dict | None = None) -> str:
        """Enter ``study`` (anonymous unless ``params``) and return the participant's URL."""
        url = f"/s/{study.slug}/"
        if params:
            reply = self.get(url + "?" + "&".join(f"{k}={v}" for k, v in params.items()))
        else:
            reply = self.get(url)
        assert reply.status == 200, reply.html
        page = self.post(url, params or {})
        assert page.status == 303, page.html
        return page.location

    def answer(self, url: str, data: dict) -> Page:
        """Answer the page shown at ``url`` (its page index and form token) with ``data``."""
        page = self.get(url)
        form = {"page": page.field("page"), "form_token": page.field("form_token"), **data}
        return self.post(url, form)

    @staticmethod
    def _page(response) -> Page:
        return Page(
            response.status_code, response.content.decode("utf-8"), response.get("Location", "")
        )


@pytest.fixture
def walker() -> Walker:
    return Walker()


def descriptions(words: str = "wing") -> dict[str, str]:
    return {f"row{n}": words for n in range(1, 6)}


LIKERT = {
    key: "4"
    for key in (
        "confidence understand satisfying detail complete use useful accuracy trust".split()
    )
}


def walk_to(walker, url, name):
    """Answer pages (agree, first row, one word each) until the current page is ``name``."""
    for _ in range(100):
        participant = Participant.objects.get(url_token=url.rstrip("/").rsplit("/", 1)[-1])
        if participant_flow(participant).current.name == name:
            return participant
        walker.answer(url, answer_for(participant))
    raise AssertionError(f"never reached {name}")


def answer_for(participant, *, correct=True):
    flow = participant_flow(participant)
    page = flow.current
    if page.name == "consent":
        return {"decision": "agree"}
    if page.name == "choice":
        right = correct_position(participant=participant, trial=flow.trials[page.trial_id])
        return {"choice": str(right if correct else right % 5 + 1)}
    if page.name == "describe":
        return descriptions()
    if page.name == "questionnaire":
        return LIKERT
    if page.name == "demographics":
        return {"gender": "", "age": "33"}
    return {}
