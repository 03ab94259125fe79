"""No page, URL, form field or image name reveals the right row, the group or the reducer."""

from __future__ import annotations

import re

from explainers.models import Concept
from studies.models import Participant
from studies.pages import participant_flow
from tests.studies.conftest import answer_for


def walk_all_pages(walker, study):
    """Every page a participant sees, start to finish: [(url, html, page name, participant)]."""
    url = walker.start(study)
    seen = [(f"/s/{study.slug}/", walker.get(f"/s/{study.slug}/").html, "start", None)]
    while True:
        participant = Participant.objects.get(url_token=url.split("/")[-2])
        name = participant_flow(participant).current.name
        seen.append((url, walker.get(url).html, name, participant))
        if name == "completion":
            break
        if name == "describe" and participant_flow(participant).current.phase == "test":
            review = url + "training/1/"
            seen.append((review, walker.get(review).html, "review", participant))
        walker.answer(url, answer_for(participant, correct=False))
    return participant, seen


def secrets_of(study, participant):
    group = participant.group
    words = {"nmf", "pca", "kmeans", "k-means", "reducer", "ncav", "secret-label", "group"}
    words |= {group.label.lower(), group.stimulus_set.scenario.name.lower(), "tiny"}
    words |= {name.lower() for name in group.stimulus_set.classes}
    return words


def test_no_page_names_the_reducer_the_group_or_the_class(study, walker):
    participant, pages = walk_all_pages(walker, study)
    forbidden = secrets_of(study, participant)
    for url, html, name, _ in pages:
        text = (url + html).replace(participant.url_token, "").replace(participant.form_token, "")
        text = text.lower()
        for word in forbidden:
            assert word not in text, f"{word!r} on the {name} page"


def test_image_names_are_content_hashes_and_choice_values_are_row_numbers(study, walker):
    _, pages = walk_all_pages(walker, study)
    for url, html, name, _ in pages:
        assert re.fullmatch(r"/s/match/(p/[\w-]{43}/(training/1/)?)?", url)  # only the token
        for src in re.findall(r'src="([^"]+)"', html):
            assert re.fullmatch(r"/media/stimuli/[0-9a-f]{64}\.png|/static/studies/study\.js", src)
        if name == "choice":
            assert re.findall(r'name="choice" value="([^"]*)"', html) == ["1", "2", "3", "4", "5"]
        assert "data-" not in html.replace("data-warn-leave", "").replace("data-count", "")


def test_test_trial_pages_look_the_same_wherever_the_right_row_is(study, walker):
    _, pages = walk_all_pages(walker, study)
    shapes = set()
    for _, html, name, _ in pages:
        if name not in ("choice", "describe") or "Task " not in html:
            continue
        # Normalise what differs by design: image hashes, the trial number, the chosen row.
        shape = re.sub(r"[0-9a-f]{64}", "H", html)
        shape = re.sub(r"Task \d+ of", "Task N of", shape)
        shape = re.sub(r"You chose row \d", "You chose row N", shape)
        shape = re.sub(r'name="page" value="\d+"', "", shape)
        # How many examples a row shows depends on the concept (an image where it is blank is
        # never an example), not on whether it is the answer.
        shape = re.sub(
            r'(<img src="/media/stimuli/H\.png" alt="Row \d, example \d">)+', "ROW", shape
        )
        shapes.add((name, re.sub(r'aria-valuenow="\d+"|width: \d+%', "", shape)))
    assert len(shapes) == 2  # one choice page and one describe page shape for every test trial


def test_concept_ids_and_indexes_are_nowhere_in_the_pages(study, walker):
    participant, pages = walk_all_pages(walker, study)
    ids = set(Concept.objects.values_list("pk", flat=True))
    for _, html, _, _ in pages:
        values = re.findall(r'value="([^"]*)"', html)
        numeric = {int(v) for v in values if v.isdigit()}
        # Only the page index, row numbers (1-5) and quality counters (0) are numeric values.
        assert numeric <= {0, 1, 2, 3, 4, 5} | set(range(participant.page + 1))
    assert ids  # the scan above had concepts to miss
