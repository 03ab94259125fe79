"""Simulated participants ("bots") that walk the real participant pages.

A bot arrives with its platform's URL parameters, submits the start form, and then
answers whatever page the server shows, by reading the page's HTML form — exactly
what a browser without JavaScript would do, with no cookies kept between requests.
Pages never reveal the answer, so the ``oracle`` and ``labels`` policies look it up
in the database (the bot's cheat sheet), never in the page:

- ``oracle``: always picks the right row; describes concepts by their part name;
- ``random``: picks a row at random; describes with random words;
- ``labels``: picks the row whose concept's best-matching part (``Concept.best_part``)
  is the highlighted concept's part, and describes every row by its part name, so the
  analysis has real signal where the dataset has part masks.

Two transports: in-process (``django.test.Client``) when no base URL is given, and
HTTP (``urllib``) against a running server.
"""

from __future__ import annotations

import math
import random
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any, Protocol

from icelab.errors import ServiceError

from ..models import Participant, Platform, Study

POLICIES = ("oracle", "random", "labels")
WORDS = ("wing", "head", "leg", "round", "stripe", "blue", "tail", "dot", "edge", "shape")
MAX_PAGES = 500
RAISE_ERRORS = False  # tests set it to see a failing bot's traceback


@dataclass
class Reply:
    status: int
    location: str = ""
    html: str = ""


class Transport(Protocol):
    def get(self, url: str) -> Reply: ...

    def post(self, url: str, data: dict[str, str]) -> Reply: ...


class ClientTransport:
    """In-process requests through Django's test client, with every cookie dropped each time."""

    def __init__(self) -> None:
        from django.conf import settings
        from django.test import Client

        # A host the settings allow (the default list has "testserver"; a deployment may not).
        names = [h for h in settings.ALLOWED_HOSTS if h and h != "*" and not h.startswith(".")]
        host = "testserver" if "testserver" in names or not names else names[0]
        self.origin = f"http://{host}"
        self.client = Client(HTTP_HOST=host)

    def get(self, url: str) -> Reply:
        self.client.cookies.clear()
        return self._reply(self.client.get(url))

    def post(self, url: str, data: dict[str, str]) -> Reply:
        self.client.cookies.clear()
        return self._reply(self.client.post(url, data, headers={"Origin": self.origin}))

    @staticmethod
    def _reply(response) -> Reply:
        return Reply(
            status=response.status_code,
            location=response.get("Location", ""),
            html=response.content.decode("utf-8", "replace"),
        )


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # the bot follows 303s itself, as a check that the server sent them


class HttpTransport:
    """Requests over HTTP to ``base_url``; no cookie jar at all."""

    def __init__(self, base_url: str, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        parts = urllib.parse.urlsplit(self.base_url)
        self.origin = f"{parts.scheme}://{parts.netloc}"
        self.timeout = timeout
        self.opener = urllib.request.build_opener(_NoRedirects)

    def get(self, url: str) -> Reply:
        return self._send(urllib.request.Request(self._absolute(url)))

    def post(self, url: str, data: dict[str, str]) -> Reply:
        body = urllib.parse.urlencode(data).encode()
        request = urllib.request.Request(
            self._absolute(url), data=body, headers={"Origin": self.origin}, method="POST"
        )
        return self._send(request)

    def _absolute(self, url: str) -> str:
        return url if url.startswith("http") else f"{self.base_url}{url}"

    def _send(self, request: urllib.request.Request) -> Reply:
        try:
            with self.opener.open(request, timeout=self.timeout) as response:
                return Reply(response.status, "", response.read().decode("utf-8", "replace"))
        except urllib.error.HTTPError as error:
            location = error.headers.get("Location", "")
            if location.startswith(self.origin):
                location = location[len(self.origin) :]
            return Reply(error.code, location, error.read().decode("utf-8", "replace"))


@dataclass
class Form:
    action: str = ""
    classes: str = ""
    hidden: dict[str, str] = field(default_factory=dict)
    radios: dict[str, list[str]] = field(default_factory=dict)
    texts: list[str] = field(default_factory=list)
    numbers: dict[str, tuple[int, int]] = field(default_factory=dict)
    selects: dict[str, list[str]] = field(default_factory=dict)
    buttons: dict[str, list[str]] = field(default_factory=dict)


class FormParser(HTMLParser):
    """The forms of a page: their action and inputs, as a browser would submit them."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []
        self.strong: list[str] = []
        self._select: str | None = None
        self._in_strong = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append(Form(action=a.get("action", ""), classes=a.get("class", "")))
            return
        if tag == "strong":
            self._in_strong = True
        if not self.forms:
            return
        form = self.forms[-1]
        name = a.get("name", "")
        if tag == "input" and name:
            kind = a.get("type", "text")
            if kind == "hidden":
                form.hidden[name] = a.get("value", "")
            elif kind == "radio":
                form.radios.setdefault(name, []).append(a.get("value", ""))
            elif kind == "number":
                form.numbers[name] = (int(a.get("min") or 18), int(a.get("max") or 99))
            elif kind == "text":
                form.texts.append(name)
        elif tag == "button" and name:
            form.buttons.setdefault(name, []).append(a.get("value", ""))
        elif tag == "select" and name:
            self._select = name
            form.selects[name] = []
        elif tag == "option" and self._select:
            form.selects[self._select].append(a.get("value", ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None
        elif tag == "strong":
            self._in_strong = False

    def handle_data(self, data: str) -> None:
        if self._in_strong and data.strip():
            self.strong.append(data.strip())


def parse_page(html: str) -> FormParser:
    parser = FormParser()
    parser.feed(html)
    return parser


@dataclass
class BotResult:
    status: str = ""
    code: str = ""
    pages: int = 0
    requests: int = 0
    rejected: int = 0
    error: str = ""
    seconds: list[float] = field(default_factory=list)  # each request's round trip


class Bot:
    """One simulated participant following ``policy``."""

    def __init__(
        self, *, study: Study, transport: Transport, policy: str, platform: str, rng: random.Random
    ) -> None:
        self.study, self.transport, self.policy, self.platform, self.rng = (
            study,
            transport,
            policy,
            platform,
            rng,
        )
        self.result = BotResult()

    def run(self) -> BotResult:
        try:
            url = self._enter()
            for _ in range(MAX_PAGES):
                reply = self._request("get", url)
                page = parse_page(reply.html)
                forms = [f for f in page.forms if "study-form" in f.classes]
                if not forms:
                    self.result.code = page.strong[0] if page.strong else ""
                    break
                self.result.pages += 1
                answer = self._answer(forms[0], url)
                posted = self._request("post", forms[0].action or url, answer)
                if posted.status != 303:
                    self.result.rejected += 1
                    if self.result.rejected > 20:
                        raise RuntimeError(f"the server kept refusing answers ({posted.status})")
                elif posted.location and not posted.location.startswith("/"):
                    break  # sent off to the platform (Prolific's completion URL)
            participant = self._participant(url)
            self.result.status = participant.status
            self.result.code = self.result.code or participant.completion_code
        except Exception as error:  # a bot reports its failure instead of stopping the others
            self.result.error = f"{type(error).__name__}: {error}"
            if RAISE_ERRORS:
                raise
        return self.result

    def _request(self, method: str, url: str, data: dict[str, str] | None = None) -> Reply:
        self.result.requests += 1
        started = time.perf_counter()
        reply = self.transport.get(url) if method == "get" else self.transport.post(url, data or {})
        self.result.seconds.append(time.perf_counter() - started)
        if reply.status >= 500:
            raise RuntimeError(f"{method.upper()} {url} answered {reply.status}")
        return reply

    def _enter(self) -> str:
        entry = f"/s/{self.study.slug}/"
        params = _platform_params(self.platform, self.rng)
        url = f"{entry}?{urllib.parse.urlencode(params)}" if params else entry
        start = parse_page(self._request("get", url).html)
        if not start.forms:
            raise RuntimeError(f"the entry page {url} has no start form")
        reply = self._request("post", url, start.forms[0].hidden)
        if reply.status != 303:
            raise RuntimeError(f"starting answered {reply.status}, not 303")
        return reply.location

    def _participant(self, url: str) -> Participant:
        token = url.rstrip("/").rsplit("/", 1)[-1]
        return Participant.objects.select_related("version").get(url_token=token)

    def _answer(self, form: Form, url: str) -> dict[str, str]:
        data = dict(form.hidden)
        if "decision" in form.buttons:
            data["decision"] = "agree"
        elif "choice" in form.radios:
            data["choice"] = str(self._choose(url))
        elif "row1" in form.texts:
            data.update(self._describe(url, form.texts))
        else:
            data.update({name: self.rng.choice(WORDS) for name in form.texts})
        for name, values in form.radios.items():
            if name != "choice":
                data[name] = self.rng.choice(values)
        for name, (low, high) in form.numbers.items():
            data[name] = str(self.rng.randint(low, min(high, 80)))
        for name, values in form.selects.items():
            data[name] = self.rng.choice([v for v in values if v] or [""])
        return data

    def _current_trial(self, url: str):
        from ..pages import participant_flow

        participant = self._participant(url)
        flow = participant_flow(participant)
        return participant, flow.trials[flow.current.trial_id]

    def _choose(self, url: str) -> int:
        from explainers.selectors import trial_candidate_concepts

        from ..pages import correct_position, shown_candidates

        if self.policy == "random":
            return self.rng.randint(1, 5)
        participant, trial = self._current_trial(url)
        if self.policy == "oracle":
            return correct_position(participant=participant, trial=trial)
        concepts = trial_candidate_concepts(trial=trial)
        shown = [concepts[key] for key in shown_candidates(participant=participant, trial=trial)]
        target = next(c for c in concepts if c.index == trial.target_concept)
        same_part = [
            n
            for n, c in enumerate(shown, 1)
            if target.best_part and c.best_part == target.best_part
        ]
        return self.rng.choice(same_part or list(range(1, 6)))

    def _describe(self, url: str, fields: list[str]) -> dict[str, str]:
        from explainers.selectors import trial_candidate_concepts

        from ..pages import shown_candidates

        if self.policy == "random":
            return {name: self.rng.choice(WORDS) for name in fields}
        participant, trial = self._current_trial(url)
        concepts = trial_candidate_concepts(trial=trial)
        shown = [concepts[key] for key in shown_candidates(participant=participant, trial=trial)]
        return {
            f"row{n}": _part_words(concept.best_part) or self.rng.choice(WORDS)
            for n, concept in enumerate(shown, 1)
        }


def _part_words(part: str) -> str:
    words = part.replace("_", " ").replace("-", " ").split()[:2]
    return " ".join(words)[:40]


def _platform_params(platform: str, rng: random.Random) -> dict[str, str]:
    def ident(prefix: str) -> str:
        return prefix + "".join(rng.choice("0123456789ABCDEF") for _ in range(14))

    if platform == Platform.MTURK:
        return {
            "assignmentId": ident("BOTA"),
            "hitId": ident("BOTH"),
            "workerId": ident("BOTW"),
            "turkSubmitTo": "https://workersandbox.mturk.com",
        }
    if platform == Platform.PROLIFIC:
        return {
            "PROLIFIC_PID": ident("BOTP"),
            "STUDY_ID": ident("BOTS"),
            "SESSION_ID": ident("BOTX"),
        }
    return {}


def participants_simulate(
    *,
    study: Study,
    n: int,
    policy: str = "random",
    platform: str = Platform.ANONYMOUS,
    base_url: str | None = None,
    seed: int = 0,
    concurrency: int = 1,
    progress: Callable[[float, str], None] | None = None,
) -> dict[str, Any]:
    """Run ``n`` bots through ``study``'s pages; return what happened (statuses, codes, timings).

    In-process when ``base_url`` is None (one bot after another); over HTTP otherwise,
    ``concurrency`` bots at a time.
    """
    if policy not in POLICIES:
        raise ServiceError(f"policy={policy!r}; use one of {', '.join(POLICIES)}.")
    if platform not in Platform.values:
        raise ServiceError(f"platform={platform!r}; use one of {', '.join(Platform.values)}.")
    if n < 1:
        raise ServiceError(f"n={n}; simulate at least one participant.")
    rngs = [random.Random(f"{seed}:{index}") for index in range(n)]

    def one(index: int) -> BotResult:
        transport = ClientTransport() if base_url is None else HttpTransport(base_url)
        bot = Bot(
            study=study, transport=transport, policy=policy, platform=platform, rng=rngs[index]
        )
        return bot.run()

    started = time.perf_counter()
    results: list[BotResult] = []
    if base_url is None or concurrency <= 1:
        for index in range(n):
            results.append(one(index))
            if progress is not None:
                progress((index + 1) / n, f"{index + 1}/{n} simulated participants")
    else:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            results = list(pool.map(one, range(n)))
    seconds = time.perf_counter() - started
    latencies = sorted(t for r in results for t in r.seconds)
    return {
        "study": study.slug,
        "n": n,
        "policy": policy,
        "platform": Platform(platform).value,
        "statuses": dict(Counter(r.status or "failed" for r in results)),
        "codes": dict(Counter(r.code for r in results if r.code)),
        "errors": [r.error for r in results if r.error][:10],
        "requests": sum(r.requests for r in results),
        "rejected_posts": sum(r.rejected for r in results),
        "seconds": round(seconds, 3),
        "requests_per_second": round(sum(r.requests for r in results) / seconds, 1)
        if seconds
        else None,
        "request_ms": {
            "p50": _percentile_ms(latencies, 0.50),
            "p95": _percentile_ms(latencies, 0.95),
            "max": _percentile_ms(latencies, 1.0),
        },
    }


def _percentile_ms(sorted_seconds: list[float], q: float) -> float | None:
    """The nearest-rank ``q`` quantile in milliseconds."""
    if not sorted_seconds:
        return None
    rank = max(0, math.ceil(q * len(sorted_seconds)) - 1)
    return round(1000 * sorted_seconds[rank], 1)
