"""``manage.py fidelity_sweep`` killed with SIGKILL mid-sweep, then run again: it resumes.

The command runs as its own process on a database and ICELAB_HOME of its own (as the
Celery worker tests do). Once a few classes' results are written it is killed without
warning; the rerun with the same arguments must keep those files (not refit them: same
mtimes), write the rest, and give the table of an uninterrupted run (the service in this
process).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from config import deploy
from tests.explainers.test_celery_worker import _worker_database, process_environment
from tests.explainers.test_fidelity_sweep_runs import REDUCERS, assert_same_table

ROOT = Path(__file__).resolve().parents[2]
N_COMPONENTS = (2, 4, 6, 8)
CLASSES = [f"class_{index:02d}" for index in range(10)]
CREATE_SCENARIO = """
import sys, django
django.setup()
from explainers.services import classifier_create, dataset_create_imagefolder, scenario_create
scenario = scenario_create(
    dataset=dataset_create_imagefolder(name="tiny", path=sys.argv[1]),
    classifier=classifier_create(name="tiny-resnet", checkpoint=sys.argv[2]),
    layer="layer4", input_size=64,
)
print(scenario.pk)
"""

pytestmark = pytest.mark.slow  # ~30 s: three processes import torch; 10 classes are swept twice


@pytest.fixture
def own_database(tmp_path):
    folder = tmp_path / "command"
    folder.mkdir()
    database_url, cleanup = _worker_database(folder)
    env = process_environment(folder, database_url, CELERY_BROKER_URL="")
    try:
        subprocess.run(
            deploy.local(deploy.MIGRATE) + ["-v", "0"], cwd=ROOT, env=env, check=True, timeout=120
        )
        yield env, folder / "home"
    finally:
        cleanup()


def test_a_command_killed_mid_sweep_resumes_where_it_stopped(
    own_database, scenario, imagefolder, checkpoint
):
    env, home = own_database
    created = subprocess.run(
        [sys.executable, "-c", CREATE_SCENARIO, str(imagefolder), str(checkpoint)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert created.returncode == 0, created.stderr[-3000:]
    command = deploy.local(["python", "manage.py", "fidelity_sweep"]) + [
        "--scenario",
        created.stdout.strip().splitlines()[-1],
        "--classes",
        ",".join(CLASSES),
        "--reducers",
        ",".join(REDUCERS),
        "--components",
        ",".join(map(str, N_COMPONENTS)),
        "--device",
        "cpu",
        "--json",
        "-v",
        "0",
    ]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while len(list(home.glob("sweeps/*/class-*.npz"))) < 3:
        assert process.poll() is None, "the sweep ended before it could be killed"
        assert time.monotonic() < deadline, "no class result appeared"
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    (folder,) = (home / "sweeps").iterdir()
    done = {p.name: p.stat().st_mtime_ns for p in folder.glob("class-*.npz")}
    assert 3 <= len(done) < len(CLASSES), sorted(done)  # killed mid-sweep, not after it

    rerun = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    result = json.loads(rerun.stdout.strip().splitlines()[-1])
    # Read back, not refitted (a damaged file would have been refitted and rewritten).
    assert {name: (folder / name).stat().st_mtime_ns for name in done} == done
    assert len(list(folder.glob("class-*.npz"))) == len(CLASSES)

    from explainers.services.fidelity import fidelity_sweep_run

    uninterrupted = fidelity_sweep_run(
        scenario=scenario,
        reducers=REDUCERS,
        n_components=N_COMPONENTS,
        classes=CLASSES,
        device="cpu",
    )
    assert_same_table(result["table"], uninterrupted.table)
