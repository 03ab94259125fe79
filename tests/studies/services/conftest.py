from tests.studies.integrations.doubles import mturk_stub, transport  # noqa: F401  (fixtures)


def enter(study, *, platform, person, attempt, platform_study_id=""):
    """A participant of ``study`` arriving from ``platform`` (no pages walked)."""
    from studies.services import participant_enter
    from studies.services.arrivals import Arrival

    submit_to = "https://workersandbox.mturk.com" if platform == "mturk" else ""
    return participant_enter(
        study=study,
        arrival=Arrival(
            platform=platform,
            external_id=person,
            attempt_id=attempt,
            platform_study_id=platform_study_id,
            turk_submit_to=submit_to,
        ),
    )


def finish(participant, correct, *, status="completed"):
    """Give ``participant`` one test response per entry of ``correct`` and move them to ``status``."""
    from explainers.models import Concept
    from studies.models import TrialResponse
    from studies.services import participant_set_status

    group = next(g for g in participant.version.config["groups"] if g["id"] == participant.group_id)
    assert len(correct) <= len(group["test"]), "the test stimulus sets have fewer test trials"
    concept = Concept.objects.first()
    for trial_id, is_correct in zip(group["test"], correct, strict=False):
        TrialResponse.objects.create(
            participant=participant,
            version=participant.version,
            trial_id=trial_id,
            phase="test",
            chosen_concept=concept,
            chosen_position=1,
            shown_order=[concept.pk] * 5,
            is_correct=is_correct,
            rt_ms=1000,
        )
    rule = "excluded in review" if status == "excluded" else ""
    return participant_set_status(participant=participant, status=status, rule=rule)
