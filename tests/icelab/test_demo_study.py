"""The demo's study step: one group per stimulus set, launched once, simulated participants, links."""

from icelab import demo
from studies.models import Participant, ParticipantStatus, Study


def test_it_makes_a_launched_study_with_simulated_participants(stimulus_sets, monkeypatch):
    monkeypatch.setattr(demo, "DEMO_PARTICIPANTS_PER_GROUP", 2)
    summary = demo.demo_study(stimulus_sets, base_url="http://127.0.0.1:8000")
    study = Study.objects.get(slug=summary["study"])
    assert study.status == "live" and study.groups.count() == len(stimulus_sets)
    assert summary["participant_url"] == "http://127.0.0.1:8000/s/demo/"
    assert summary["admin_url"].startswith("http://127.0.0.1:8000/admin/")
    done = Participant.objects.filter(study=study).exclude(status=ParticipantStatus.STARTED)
    assert done.count() == 2 * len(stimulus_sets)


def test_running_it_again_adds_nobody(stimulus_sets, monkeypatch):
    monkeypatch.setattr(demo, "DEMO_PARTICIPANTS_PER_GROUP", 1)
    first = demo.demo_study(stimulus_sets, base_url="")
    count = Participant.objects.count()
    assert demo.demo_study(stimulus_sets, base_url="") == first
    assert Participant.objects.count() == count


def test_the_demo_writes_the_studys_report(stimulus_sets, monkeypatch, tmp_path):
    monkeypatch.setattr(demo, "DEMO_PARTICIPANTS_PER_GROUP", 2)
    slug = demo.demo_study(stimulus_sets, base_url="")["study"]
    report_dir = demo.demo_report(slug, tmp_path / "report")
    written = {p.name for p in (tmp_path / "report").iterdir()}
    assert report_dir == str(tmp_path / "report")
    assert {"responses.csv", "participants.csv", "table1.md", "report.html"} <= written
