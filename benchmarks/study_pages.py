"""Participant pages under load: simulated participants over HTTP, several at a time; print JSON.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/<db> python benchmarks/study_pages.py \
        [--n 60] [--concurrency 1 10 30] [--workers 4]

Sets up its own small study in a temporary ICELAB_HOME (a generated 4-class image folder,
a random-weight classifier, one 4-class stimulus set per reducer: 1 training + 3 test
trials, so 13 pages per participant: 27 requests), starts gunicorn (or ``manage.py runserver`` when
gunicorn is missing) against the same database, and runs ``participants_simulate`` over
HTTP for each concurrency. Each bot drops every cookie, reads each page's form and posts
it, exactly as the tests do. Without DATABASE_URL it uses SQLite, which serialises writes.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def setup_study(home: Path) -> str:
    import torch
    from django.core.management import call_command

    from explainers.ice.classifiers import build_model, save_checkpoint
    from explainers.services import (
        classifier_create,
        dataset_create_imagefolder,
        scenario_create,
        stimulus_set_build,
    )
    from studies.services import study_create, study_launch
    from tests.conftest import IMAGE_SIZE, SMALL_WIDTHS, write_imagefolder

    call_command("migrate", verbosity=0)
    slug = f"load-{int(time.time())}"
    folder = write_imagefolder(home / "dataset", n_classes=4)
    torch.manual_seed(0)
    names = sorted(p.name for p in (folder / "train").iterdir())
    model = build_model("icelab_resnet", num_classes=4, arch_kwargs={"widths": SMALL_WIDTHS})
    meta = {"arch": "icelab_resnet", "arch_kwargs": {"widths": SMALL_WIDTHS}, "class_names": names,
            "input_size": IMAGE_SIZE, "mean": (0.5,) * 3, "std": (0.25,) * 3}  # fmt: skip
    checkpoint = save_checkpoint(home / "classifier.pt", model.eval(), meta=meta)
    dataset = dataset_create_imagefolder(name=f"bench-{slug}", path=folder)
    classifier = classifier_create(name=f"bench-{slug}", checkpoint=str(checkpoint))
    scenario = scenario_create(
        dataset=dataset, classifier=classifier, layer="layer4", input_size=IMAGE_SIZE
    )
    sets = [
        stimulus_set_build(scenario=scenario, reducer=r, n_classes=4, n_training=1, device="cpu")
        for r in ("nmf", "pca", "kmeans")
    ]
    study = study_create(
        slug=slug, title="Load benchmark", stimulus_sets=sets, allow_anonymous=True
    )
    study_launch(study=study)
    return slug


def start_server(port: int, workers: int, env: dict[str, str]) -> subprocess.Popen:
    gunicorn = shutil.which("gunicorn", path=str(Path(sys.executable).parent))
    if gunicorn:
        command = [gunicorn, "config.wsgi", f"--bind=127.0.0.1:{port}", f"--workers={workers}",
                   "--threads=4", "--log-level=warning"]  # fmt: skip
    else:
        command = [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"]
    server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    for _ in range(100):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/admin/login/", timeout=1)
            return server
        except OSError:
            time.sleep(0.2)
    server.terminate()
    raise RuntimeError("the server did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=60, help="Participants per run.")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 10, 30])
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes.")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="icelab-study-bench-"))
    env = {**os.environ, "ICELAB_HOME": str(home), "DJANGO_DEBUG": "1",
           "DJANGO_SETTINGS_MODULE": "config.settings", "DJANGO_LOG_LEVEL": "WARNING"}  # fmt: skip
    os.environ.update(env)
    import django

    django.setup()
    from django.db import connection

    from studies.models import Study
    from studies.services import participants_simulate

    slug = setup_study(home)
    port = free_port()
    server = start_server(port, args.workers, env)
    runs: list[dict[str, Any]] = []
    try:
        for concurrency in args.concurrency:
            summary = participants_simulate(
                study=Study.objects.get(slug=slug),
                n=args.n,
                policy="random",
                base_url=f"http://127.0.0.1:{port}",
                seed=concurrency,
                concurrency=concurrency,
            )
            runs.append({"concurrency": concurrency, **summary})
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(home, ignore_errors=True)
    print(json.dumps({
        "database": connection.vendor,
        "server": "gunicorn" if "gunicorn" in str(server.args) else "runserver",
        "workers": args.workers,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "pages_per_participant": 13,
        "runs": runs,
    }, indent=1))  # fmt: skip


if __name__ == "__main__":
    main()
