"""Test doubles for the platform clients: replayed Prolific responses and a stubbed MTurk client."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber

from studies.integrations.mturk import ENDPOINTS, MTurkClient
from studies.integrations.prolific import HttpRequest, HttpResponse

RECORDINGS = Path(__file__).parent / "recordings"
API = "https://api.prolific.com/api/v1/"
STUDY_ID = "64f0aa00bb11cc22dd33ee44"


def recording(name: str) -> bytes:
    return (RECORDINGS / name).read_bytes()


Answer = HttpResponse | Callable[[HttpRequest], HttpResponse]


class RecordedTransport:
    """Answers each (method, URL) from a queue of recorded responses; keeps every request.

    A request with no answer left fails the test, so an unexpected call (a second
    "pay", say) cannot pass unnoticed.
    """

    def __init__(self) -> None:
        self.answers: dict[tuple[str, str], list[Answer]] = {}
        self.requests: list[HttpRequest] = []

    def add(self, method: str, url: str, answer: Answer | str, status: int = 200) -> None:
        if isinstance(answer, str):
            answer = HttpResponse(status=status, body=recording(answer))
        self.answers.setdefault((method, url), []).append(answer)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        self.requests.append(request)
        queue = self.answers.get((request.method, request.url))
        if not queue:
            raise AssertionError(f"unexpected request {request.method} {request.url}")
        answer = queue.pop(0)
        return answer(request) if callable(answer) else answer

    def json_bodies(self, method: str, url: str) -> list[object]:
        return [
            json.loads(r.body or b"null")
            for r in self.requests
            if (r.method, r.url) == (method, url)
        ]

    def assert_all_used(self) -> None:
        left = {key: len(queue) for key, queue in self.answers.items() if queue}
        assert not left, f"recorded answers never requested: {left}"


@pytest.fixture
def mturk_stub():
    """An MTurkClient on the sandbox whose boto3 client answers only what the test queues."""
    client = boto3.client(
        "mturk",
        region_name="us-east-1",
        endpoint_url=ENDPOINTS[True],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    with Stubber(client) as stubber:
        yield MTurkClient(sandbox=True, client=client), stubber
        stubber.assert_no_pending_responses()


@pytest.fixture
def transport():
    """A RecordedTransport that fails the test if a queued answer was never asked for."""
    recorded = RecordedTransport()
    yield recorded
    recorded.assert_all_used()
