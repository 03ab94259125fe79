"""A participant in a real browser: answers the study's pages through the DOM.

:class:`Participant` clicks and types as a person would, in a Playwright ``Page`` or
``Frame`` (the study inside another site's iframe). The right row comes from the
database (:func:`studies.pages.correct_position`), never from the page, and which page
is current is read from the participant's row, so a test notices when the browser and
the server disagree.

Platform sites are never reached: :func:`fake_site` answers every request to a host
with a small page and records it (the MTurk externalSubmit POST, the Prolific redirect).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from studies.models import Participant as ParticipantRow
from studies.models import Study
from studies.pages import correct_position, participant_flow

MTURK_SANDBOX = "https://workersandbox.mturk.com"
PROLIFIC_SITE = "https://app.prolific.com"
AGE = "33"
WORDS = "round blob"
LIKERT_CHOICE = 4  # "Agree"


def entry_url(app_url: str, study: Study, **params: str) -> str:
    query = f"?{urlencode(params)}" if params else ""
    return f"{app_url}/s/{study.slug}/{query}"


def mturk_params(n: int = 1) -> dict[str, str]:
    return {
        "assignmentId": f"ASSIGN{n:04d}",
        "hitId": "HIT0001",
        "workerId": f"WORKER{n:04d}",
        "turkSubmitTo": MTURK_SANDBOX,
    }


@dataclass
class Visit:
    method: str
    url: str
    form: dict[str, list[str]]

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.url).query)


@dataclass
class FakeSite:
    """Requests a route answered instead of the real site, in order."""

    visits: list[Visit] = field(default_factory=list)


def fake_site(
    page: Any, origin: str, body: str = "<p id='fake-site'>platform site</p>"
) -> FakeSite:
    """Answer every request of ``page`` to ``origin`` locally with ``body`` and record it.

    Registered on the page, so it wins over the context's routes (``no_cookies``): nothing
    is sent to ``origin``. ``body`` may be a callable of the :class:`Visit` (a top page
    that frames the study).
    """
    site = FakeSite()

    def answer(route: Any) -> None:
        request = route.request
        form = parse_qs(request.post_data or "") if request.method == "POST" else {}
        visit = Visit(request.method, request.url, form)
        site.visits.append(visit)
        content = body(visit) if callable(body) else body
        route.fulfill(
            status=200,
            content_type="text/html; charset=utf-8",
            body=f"<!doctype html><html><head><title>Platform</title></head><body>{content}"
            "</body></html>",
        )

    page.route(f"{origin}/**", answer)
    return site


def hold_redirects_away(page: Any, app_url: str) -> list[tuple[int, str]]:
    """Let the routes of ``page`` see where the study redirects to another site.

    Playwright cannot route the target of a redirect (microsoft/playwright#33882): the
    browser would ask the real site. So the study's responses pass through a route that
    records each redirect to another site as (status, Location) and hands the browser,
    instead, a page that goes to that Location: a navigation the routes of
    :func:`fake_site` answer. Returns the list it records into.
    """
    held: list[tuple[int, str]] = []

    def relay(route: Any) -> None:
        response = route.fetch(max_redirects=0)
        location = response.headers.get("location", "")
        if 300 <= response.status < 400 and not location.startswith(("/", app_url)):
            held.append((response.status, location))
            target = json.dumps(location)
            route.fulfill(
                status=200,
                content_type="text/html; charset=utf-8",
                body=f"<!doctype html><script>location.replace({target});</script>",
            )
        else:
            route.fulfill(response=response)

    page.route(f"{app_url}/s/**", relay)
    return held


class Person:
    """Answers the pages shown in ``frame`` (a Page or a Frame) as a person would.

    ``shoot(name)`` (optional) is called on the pages worth a screenshot, with the page's
    name: ``consent``, ``training-choice``, ``training-reveal``, ``test-choice``,
    ``questionnaire``, ``demographics``, ``completion``.
    """

    def __init__(
        self,
        frame: Any,
        *,
        shoot: Callable[[str], None] | None = None,
        double_click: bool = False,
    ) -> None:
        self.frame = frame
        self.double_click = double_click
        self.shoot = shoot or (lambda name: None)
        self.token = ""

    # What the server says -------------------------------------------------------------

    def row(self) -> ParticipantRow:
        """The participant's row (the token is read from the page's URL once, after Start)."""
        if not self.token:
            path = urlsplit(self.frame.url).path
            assert "/p/" in path, f"not a participant page: {self.frame.url}"
            self.token = path.split("/p/", 1)[1].split("/", 1)[0]
        return ParticipantRow.objects.get(url_token=self.token)

    def current(self) -> str:
        """The name of the participant's current page, from the database."""
        return participant_flow(self.row()).current.name

    def right_row(self) -> int:
        participant = self.row()
        flow = participant_flow(participant)
        return correct_position(participant=participant, trial=flow.trials[flow.current.trial_id])

    # What the participant does --------------------------------------------------------

    def submit(self, button: str) -> None:
        """Click (or double-click) the submit button named ``button``; wait for the next page."""
        from playwright.sync_api import Error as PlaywrightError

        target = self.frame.get_by_role("button", name=button)
        try:
            with self.frame.expect_navigation():
                if self.double_click:
                    target.dblclick()
                else:
                    target.click()
        except PlaywrightError as error:
            # Without the page script a double click submits twice and the browser aborts
            # the first navigation for the second, which the server answers with the
            # participant's current page: wait for that one to arrive.
            if not (self.double_click and "ERR_ABORTED" in str(error)):
                raise
            self.frame.wait_for_load_state("networkidle")
        self.frame.wait_for_load_state()

    def start(self, url: str) -> None:
        """Open the entry ``url`` and press Start (for a Page; a framed study is already open)."""
        if url:
            self.frame.goto(url)
        self.submit("Start")

    def step(self) -> str:
        """Answer the current page (right row, one word pair, "Agree", age 33); return its name."""
        name = self.current()
        frame = self.frame
        if name == "consent":
            self.shoot("consent")
            self.submit("I agree and want to take part")
        elif name == "instructions":
            self.submit("Start the training")
        elif name == "choice":
            phase = participant_flow(self.row()).current.phase
            frame.locator(f"input[name=choice][value='{self.right_row()}']").check()
            self.shoot(f"{phase}-choice")
            self.submit("Choose")
        elif name == "describe":
            phase = participant_flow(self.row()).current.phase
            self.shoot(f"{phase}-reveal" if phase == "training" else f"{phase}-describe")
            for n in range(1, 6):
                frame.fill(f"input[name=row{n}]", WORDS)
            self.submit("Next")
        elif name == "questionnaire":
            for fieldset in frame.locator("fieldset.likert").all():
                fieldset.locator("input[type=radio]").nth(LIKERT_CHOICE - 1).check()
            self.shoot("questionnaire")
            self.submit("Next")
        elif name == "demographics":
            frame.get_by_label("Age in years").fill(AGE)
            self.shoot("demographics")
            self.submit("Finish")
        else:
            raise AssertionError(f"no answer for the page {name!r}")
        return name

    def walk_to(self, name: str, *, check: Callable[[str], None] | None = None) -> None:
        """Answer pages until the current one is ``name`` (a page name, or ``choice:test:2`` for
        a trial's page by phase and number); ``check(name)`` runs on each page."""
        for _ in range(100):
            page = participant_flow(self.row()).current
            current = page.name
            if check is not None:
                check(current)
            if name in (current, f"{current}:{page.phase}:{getattr(page, 'number', '')}"):
                return
            self.step()
        raise AssertionError(f"never reached the page {name!r}")

    def finish(self, *, check: Callable[[str], None] | None = None) -> None:
        """Answer every page up to the last (the completion page, or the platform's site)."""
        for _ in range(100):
            current = self.current()
            if check is not None:
                check(current)
            if self.step() == "demographics":
                assert self.row().completion_code, "the last answer gave no completion code"
                return
        raise AssertionError("the study never ended")
