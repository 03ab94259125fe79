"""Participant pages. Each view checks who is asking, calls one service and renders or redirects.

The server owns the position: GET renders the participant's current page, POST answers
the page it names and is redirected (303) to the current page, whatever happened.
Errors a participant can cause get a page that says what happened, with a 4xx status.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods
from django_ratelimit.decorators import ratelimit

from icelab.errors import ServiceError, error_message

from .models import Participant, ParticipantStatus, Platform, Study
from .pages import correct_position, participant_flow, trial_rows
from .security import form_token_ok, origin_ok, study_page
from .selectors import (
    participant_by_person,
    participant_by_token,
    participant_mturk_attempt,
    participant_response,
    study_by_slug,
)
from .services import (
    AlreadyTookPart,
    Outcome,
    StudyNotOpen,
    arrival_from_params,
    page_shown,
    page_submit,
    participant_enter,
    training_revisit,
)

PROLIFIC_COMPLETION_URL = "https://app.prolific.com/submissions/complete"


class SeeOther(HttpResponseRedirect):
    status_code = 303


def problem(request: HttpRequest, title: str, message: str, status: int) -> HttpResponse:
    return render(
        request, "studies/problem.html", {"title": title, "message": message}, status=status
    )


def _closed_study(request: HttpRequest, study: Study | None) -> HttpResponse | None:
    if study is None or study.status == Study.Status.DRAFT:
        return problem(request, "No such study", "Check the link you were given.", 404)
    if study.status == Study.Status.CLOSED:
        return problem(request, "This study is closed", "It takes no more participants.", 410)
    return None


def _entry_rate(group: str, request: HttpRequest) -> str:
    return settings.ICELAB_RATE_STUDY_ENTRY  # read per request: a setting, not an import-time value


@study_page
@ratelimit(key="ip", rate=_entry_rate, block=False)
@require_http_methods(["GET", "POST"])
def entry(request: HttpRequest, slug: str) -> HttpResponse:
    """``/s/<slug>/``: platform parameters -> preview, start page, or the participant's own pages."""
    if request.limited:  # answered here, not by RATELIMIT_VIEW, so MTurk may still frame it
        return problem(
            request, "Too many requests", "Too many came from your network; try again soon.", 429
        )
    study = study_by_slug(slug=slug)
    if (refused := _closed_study(request, study)) is not None:
        return refused
    params = request.GET if request.method == "GET" else request.POST
    try:
        arrival = arrival_from_params(study=study, params=params)
    except ServiceError as error:
        return problem(request, "This link is not complete", error_message(error), 400)
    context = {"study": study, "arrival": arrival, "params": arrival.as_params()}
    if arrival.preview:
        return render(request, "studies/start.html", {**context, "preview": True})
    if request.method == "POST" and not origin_ok(request):
        return problem(request, "Request refused", "Start the study from its own page.", 403)
    known = arrival.platform != Platform.ANONYMOUS and participant_by_person(
        study=study, platform=arrival.platform, external_id=arrival.external_id
    )
    if request.method == "GET" and not known:
        if study.status == Study.Status.PAUSED:
            return problem(request, "This study is paused", "Please try again later.", 403)
        return render(request, "studies/start.html", context)
    try:
        participant = participant_enter(study=study, arrival=arrival)
    except AlreadyTookPart as error:
        return _screened_out(request, study, arrival.platform, error_message(error))
    except StudyNotOpen as error:
        return problem(request, "This study is not open", error_message(error), 403)
    return SeeOther(_page_url(participant))


@study_page
@require_http_methods(["GET", "POST"])
def participant_page(request: HttpRequest, slug: str, token: str) -> HttpResponse:
    """The participant's current page (GET), or an answer to the page the form names (POST)."""
    study = study_by_slug(slug=slug)
    participant = participant_by_token(study=study, token=token) if study else None
    if participant is None:
        return problem(request, "No such page", "Open the study from the link you were given.", 404)
    if request.method == "POST":
        return _answer(request, participant)
    if study.status == Study.Status.CLOSED and participant.status == ParticipantStatus.STARTED:
        return problem(request, "This study is closed", "It takes no more answers.", 410)
    return _render_current(request, page_shown(participant=participant))


@study_page
@require_GET
def training_review(request: HttpRequest, slug: str, token: str, number: int) -> HttpResponse:
    """A training task again, with its answer, during the test tasks (each visit is logged)."""
    study = study_by_slug(slug=slug)
    participant = participant_by_token(study=study, token=token) if study else None
    if participant is None:
        return problem(request, "No such page", "Open the study from the link you were given.", 404)
    try:
        trial = training_revisit(participant=participant, number=number)
    except ServiceError as error:
        return problem(request, "Not available now", error_message(error), 403)
    return render(
        request,
        "studies/training_review.html",
        {
            "participant_url": _page_url(participant),
            "number": number,
            "trial": trial_rows(participant=participant, trial=trial),
            "chosen": participant_response(
                participant=participant, trial_id=trial.pk
            ).chosen_position,
            "correct": correct_position(participant=participant, trial=trial),
        },
    )


def _answer(request: HttpRequest, participant: Participant) -> HttpResponse:
    if not origin_ok(request) or not form_token_ok(request, participant.form_token):
        return problem(
            request,
            "Request refused",
            "This form did not come from your study page. Reload the page and answer again.",
            403,
        )
    raw = request.POST.get("page", "")
    if not raw.isdigit() or len(raw) > 6:
        return problem(request, "Unknown page", "The form named no page of this study.", 400)
    try:
        submission = page_submit(participant=participant, page=int(raw), data=request.POST)
    except StudyNotOpen as error:
        return problem(request, "This study is closed", error_message(error), 410)
    if submission.outcome is Outcome.FORGED:
        return problem(request, "Unknown page", "The form named a page you have not reached.", 400)
    if submission.outcome is Outcome.INVALID:
        return _render_current(request, participant, form=submission.form, status=400)
    participant.refresh_from_db()
    if (
        submission.outcome is Outcome.STORED
        and participant.platform == Platform.PROLIFIC
        and participant.completion_code
    ):
        return SeeOther(_prolific_url(participant))
    return SeeOther(_page_url(participant))


def _render_current(
    request: HttpRequest, participant: Participant, *, form=None, status: int = 200
) -> HttpResponse:
    if participant.completion_code:
        return _completion(request, participant)
    if participant.status != ParticipantStatus.STARTED:
        return render(
            request,
            "studies/ended.html",
            {"status": participant.status, "study": participant.study},
            status=200,
        )
    flow = participant_flow(participant)
    page = flow.current
    context = {
        "study": participant.study,
        "page_index": participant.page,
        "form_token": participant.form_token,
        "action": _page_url(participant),
        "training_url": _page_url(participant) + "training/",
        "form": form if form is not None else page.form(flow),
        "progress": round(100 * participant.page / max(1, len(flow.pages) - 1)),
        **page.context(flow),
    }
    return render(request, page.template, context, status=status)


def _completion(request: HttpRequest, participant: Participant) -> HttpResponse:
    context = {"study": participant.study, "code": participant.completion_code}
    if participant.platform == Platform.MTURK:
        attempt = participant_mturk_attempt(participant=participant)
        context["mturk_action"] = f"{attempt.turk_submit_to}/mturk/externalSubmit"
        context["assignment_id"] = attempt.attempt_id
    elif participant.platform == Platform.PROLIFIC:
        context["prolific_url"] = _prolific_url(participant)
    return render(request, "studies/completion.html", context)


def _screened_out(request: HttpRequest, study: Study, platform: str, message: str) -> HttpResponse:
    code = study.code_screened_out
    context = {"title": "You cannot take part again", "message": message, "code": code}
    if platform == Platform.PROLIFIC and code:
        context["prolific_url"] = f"{_prolific_base(study)}?{urlencode({'cc': code})}"
    return render(request, "studies/problem.html", context, status=403)


def _page_url(participant: Participant) -> str:
    return reverse(
        "studies:page", kwargs={"slug": participant.study.slug, "token": participant.url_token}
    )


def _prolific_base(study: Study) -> str:
    return (study.platform_settings or {}).get("prolific_completion_url", PROLIFIC_COMPLETION_URL)


def _prolific_url(participant: Participant) -> str:
    base = participant.version.config.get("platform_settings", {}).get(
        "prolific_completion_url", PROLIFIC_COMPLETION_URL
    )
    return f"{base}?{urlencode({'cc': participant.completion_code})}"
