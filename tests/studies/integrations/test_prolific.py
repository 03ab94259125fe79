"""ProlificClient and sync_submissions against recorded responses; urllib_transport on loopback."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from studies.integrations.base import PlatformError
from studies.integrations.prolific import (
    HttpRequest,
    HttpResponse,
    ProlificClient,
    SubmissionStatus,
    completion_url,
    study_url,
    sync_submissions,
    urllib_transport,
)

from .doubles import API, STUDY_ID, recording

SUBMISSIONS = f"{API}studies/{STUDY_ID}/submissions/"


@pytest.fixture
def client(transport):
    return ProlificClient(token="tok-123", transport=transport)


def _two_pages(transport):
    transport.add("GET", SUBMISSIONS, "study_submissions_page1.json")
    transport.add("GET", SUBMISSIONS + "?page=2", "study_submissions_page2.json")


def test_the_study_url_carries_prolifics_placeholders():
    assert study_url("https://icelab.example.org/s/abc/") == (
        "https://icelab.example.org/s/abc/?PROLIFIC_PID={{%PROLIFIC_PID%}}"
        "&STUDY_ID={{%STUDY_ID%}}&SESSION_ID={{%SESSION_ID%}}"
    )
    assert study_url("https://icelab.example.org/s/?lang=en").startswith(
        "https://icelab.example.org/s/?lang=en&PROLIFIC_PID={{%PROLIFIC_PID%}}&"
    )
    with pytest.raises(ValueError, match="https"):
        study_url("http://icelab.example.org/s/abc/")


def test_the_completion_url_carries_the_code():
    assert completion_url("C1ICE7AB") == "https://app.prolific.com/submissions/complete?cc=C1ICE7AB"


@pytest.mark.parametrize("code", ["", "C1 ICE", "C1&cc=X", "x" * 65])
def test_a_completion_code_prolific_would_not_make_is_refused(code):
    with pytest.raises(ValueError, match="completion code"):
        completion_url(code)


def test_it_lists_every_page_with_the_token_header(client, transport):
    _two_pages(transport)
    submissions = client.list_submissions(study_id=STUDY_ID)
    assert [s.submission_id[-2:] for s in submissions] == ["01", "02", "03", "04", "05", "06"]
    assert [r.url for r in transport.requests] == [SUBMISSIONS, SUBMISSIONS + "?page=2"]
    assert all(r.headers["Authorization"] == "Token tok-123" for r in transport.requests)
    first = submissions[0]
    assert first.participant_id == "5f0c1a2b3c4d5e6f70819201"
    assert first.status is SubmissionStatus.AWAITING_REVIEW and first.study_code == "C1ICE7AB"


def test_statuses_map_to_what_the_slot_needs(client, transport):
    _two_pages(transport)
    by_pid = {s.participant_id[-2:]: s for s in client.list_submissions(study_id=STUDY_ID)}
    assert by_pid["02"].status is SubmissionStatus.RETURNED and by_pid["02"].frees_slot
    assert by_pid["04"].status is SubmissionStatus.TIMED_OUT and by_pid["04"].frees_slot
    assert not by_pid["03"].frees_slot  # ACTIVE still holds its place
    assert not by_pid["05"].frees_slot  # APPROVED
    assert by_pid["06"].status is None and by_pid["06"].raw_status == "ON HOLD"


def test_sync_frees_returned_and_timed_out_slots_through_the_callback(client, transport):
    _two_pages(transport)
    calls = []

    def free_slot(*, participant_id, submission_id, status):
        calls.append((participant_id[-2:], submission_id[-2:], status))
        return participant_id.endswith("02")  # "04" was freed by an earlier sync

    result = sync_submissions(client, study_id=STUDY_ID, free_slot=free_slot)
    assert calls == [
        ("02", "02", SubmissionStatus.RETURNED),
        ("04", "04", SubmissionStatus.TIMED_OUT),
    ]
    assert result.freed == ["5f0c1a2b3c4d5e6f70819202"]
    assert result.returned_or_timed_out == ["5f0c1a2b3c4d5e6f70819202", "5f0c1a2b3c4d5e6f70819204"]
    assert result.counts == {
        "AWAITING REVIEW": 1,
        "RETURNED": 1,
        "ACTIVE": 1,
        "TIMED-OUT": 1,
        "APPROVED": 1,
        "ON HOLD": 1,
    }
    assert result.unknown_statuses == {"ON HOLD"}


def test_sync_without_a_callback_only_reports(client, transport):
    _two_pages(transport)
    result = sync_submissions(client, study_id=STUDY_ID)
    assert result.freed == [] and len(result.returned_or_timed_out) == 2


def test_the_token_never_follows_a_link_to_another_host(client, transport):
    page = json.loads(recording("study_submissions_page1.json"))
    page["_links"]["next"]["href"] = "https://evil.example/api/v1/steal/"
    transport.add("GET", SUBMISSIONS, HttpResponse(200, json.dumps(page).encode()))
    with pytest.raises(PlatformError, match="another host"):
        client.list_submissions(study_id=STUDY_ID)
    assert [r.url for r in transport.requests] == [SUBMISSIONS]


def test_a_bad_token_is_explained(client, transport):
    transport.add("GET", SUBMISSIONS, "error_401.json", status=401)
    with pytest.raises(PlatformError, match="Invalid token.*PROLIFIC_API_TOKEN") as caught:
        client.list_submissions(study_id=STUDY_ID)
    assert caught.value.acted is False and caught.value.code == "401"


def test_a_server_error_leaves_the_outcome_unknown(client, transport):
    transport.add("POST", f"{API}bulk-bonus-payments/B1/pay/", HttpResponse(502, b"Bad gateway"))
    with pytest.raises(PlatformError, match="HTTP 502") as caught:
        client.pay_bonus(bulk_bonus_id="B1")
    assert caught.value.outcome_unknown


def test_it_sets_up_then_pays_a_bonus(client, transport):
    transport.add("POST", f"{API}submissions/bonus-payments/", "bonus_setup.json")
    transport.add(
        "POST", f"{API}bulk-bonus-payments/65a0b1c2d3e4f5a6b7c8d9e0/pay/", "bonus_pay.json"
    )
    bulk_id = client.setup_bonus(study_id=STUDY_ID, participant_id="5f0c01", amount="0.75")
    client.pay_bonus(bulk_bonus_id=bulk_id)
    assert transport.json_bodies("POST", f"{API}submissions/bonus-payments/") == [
        {"study_id": STUDY_ID, "csv_bonuses": "5f0c01,0.75"}
    ]
    assert transport.requests[1].headers["Authorization"] == "Token tok-123"


@pytest.mark.parametrize("participant_id", ["5f0c01,9.99\n5f0c02", "", "5f0c 01"])
def test_an_id_that_would_change_the_bonus_csv_is_refused(client, participant_id):
    with pytest.raises(ValueError, match="participant_id"):  # nothing queued: nothing sent
        client.setup_bonus(study_id=STUDY_ID, participant_id=participant_id, amount="0.75")


def test_a_study_id_cannot_leave_its_path(client):
    with pytest.raises(ValueError, match="study_id"):
        client.list_submissions(study_id="../users/me")


def test_an_empty_token_is_refused_with_the_setting_to_fill(settings):
    settings.PROLIFIC_API_TOKEN = ""
    with pytest.raises(ValueError, match="PROLIFIC_API_TOKEN"):
        ProlificClient.from_settings()


# --- urllib_transport on a loopback server --------------------------------------------------


class _Echo(BaseHTTPRequestHandler):
    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        status = 400 if self.path.startswith("/refuse") else 200
        payload = {
            "method": self.command,
            "path": self.path,
            "authorization": self.headers.get("Authorization"),
            "content_type": self.headers.get("Content-Type"),
            "body": body.decode(),
        }
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _answer

    def log_message(self, *args):
        pass


@pytest.fixture
def echo_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/api/v1/"
    server.shutdown()
    server.server_close()


def test_the_urllib_transport_sends_the_token_and_json(echo_server):
    client = ProlificClient(token="tok-9", base_url=echo_server)
    echoed = client._request("POST", "submissions/bonus-payments/", {"a": 1})
    assert echoed == {
        "method": "POST",
        "path": "/api/v1/submissions/bonus-payments/",
        "authorization": "Token tok-9",
        "content_type": "application/json",
        "body": '{"a": 1}',
    }


def test_the_urllib_transport_returns_http_errors_as_responses(echo_server):
    response = urllib_transport(HttpRequest("GET", echo_server.replace("/api/v1/", "/refuse"), {}))
    assert response.status == 400 and b'"path": "/refuse"' in response.body


def test_a_refused_connection_means_nothing_was_sent():
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(PlatformError) as caught:
        urllib_transport(HttpRequest("POST", f"http://127.0.0.1:{port}/pay/", {}, b"{}"))
    assert caught.value.acted is False
