"""docker-compose.yml and the Dockerfile run the commands the tests run, and are wired as documented.

No Docker engine runs here, so the file is read as YAML (PyYAML resolves the ``<<`` merge
keys and anchors as compose does; no compose parser installs from PyPI for Python 3.11
without pinning an old PyYAML). Each service's command must equal its constant in
``config/deploy.py``; the constants are what the tests start: the Celery worker test
(tests/explainers/test_celery_worker.py) runs WORKER and WORKER_PING, ``benchmarks/load.py``
(tests/test_load_benchmark.py) runs WEB, and the tests below run MIGRATE and COLLECTSTATIC.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from config import deploy

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parents[1]
LONG_RUNNING = ("db", "redis", "web", "worker", "gpu-worker")
ONE_SHOT = ("migrate", "collectstatic")
APP_SERVICES = ("migrate", "collectstatic", "web", "worker", "gpu-worker")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_it_runs_each_service_with_its_shared_command(compose):
    services = compose["services"]
    assert services["web"]["command"] == deploy.WEB
    assert services["worker"]["command"] == deploy.WORKER
    assert services["gpu-worker"]["command"] == deploy.GPU_WORKER
    assert services["migrate"]["command"] == deploy.MIGRATE
    assert services["collectstatic"]["command"] == deploy.COLLECTSTATIC
    assert set(services) == set(LONG_RUNNING) | set(ONE_SHOT)


def test_it_health_checks_every_long_running_service(compose):
    services = compose["services"]
    for name in LONG_RUNNING:
        assert services[name]["healthcheck"]["test"], name
    assert services["db"]["healthcheck"]["test"][:2] == ["CMD", "pg_isready"]
    assert services["redis"]["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    assert "http://127.0.0.1:8000/health/ready" in " ".join(services["web"]["healthcheck"]["test"])
    ping = " ".join(deploy.WORKER_PING)
    for name in ("worker", "gpu-worker"):
        check = services[name]["healthcheck"]["test"]
        assert check[0] == "CMD-SHELL" and check[1].startswith(ping + " -d celery@$$HOSTNAME")
    for name in ONE_SHOT:
        assert services[name]["restart"] == "no"  # a finished step must stay finished


def test_it_starts_the_app_only_after_the_migration_step(compose):
    services = compose["services"]
    for name in ("web", "worker", "gpu-worker"):
        depends = services[name]["depends_on"]
        assert depends["migrate"] == {"condition": "service_completed_successfully"}, name
        assert depends["redis"] == {"condition": "service_healthy"}, name
    assert services["web"]["depends_on"]["collectstatic"] == {
        "condition": "service_completed_successfully"
    }
    assert services["migrate"]["depends_on"]["db"] == {"condition": "service_healthy"}


def test_it_keeps_the_database_and_icelab_home_in_named_volumes(compose):
    services, volumes = compose["services"], compose["volumes"]
    assert "pg-data:/var/lib/postgresql/data" in services["db"]["volumes"]
    for name in APP_SERVICES:
        home = services[name]["environment"]["ICELAB_HOME"]
        mounts = dict(v.split(":")[::-1] for v in services[name]["volumes"])
        assert mounts[home] in volumes, name


def test_it_reads_the_secrets_from_files_the_settings_accept(compose):
    settings_source = (ROOT / "config" / "settings.py").read_text()
    accepted = set(re.findall(r'envsecret\("([A-Z_]+)"', settings_source))
    for name in APP_SERVICES:
        service = compose["services"][name]
        files = {
            k[: -len("_FILE")]: v for k, v in service["environment"].items() if k.endswith("_FILE")
        }
        assert set(files) == {"DJANGO_SECRET_KEY", "DATABASE_URL", "CELERY_BROKER_URL"}, name
        assert set(files) <= accepted
        for path in files.values():
            secret = path.removeprefix("/run/secrets/")
            assert secret in service["secrets"] and "file" in compose["secrets"][secret]
        assert not {"DJANGO_SECRET_KEY", "DATABASE_URL"} & set(service["environment"])
    db = compose["services"]["db"]
    assert db["environment"]["POSTGRES_PASSWORD_FILE"] == "/run/secrets/postgres_password"
    assert (
        "secrets" in (ROOT / ".gitignore").read_text()
        and "secrets" in (ROOT / ".dockerignore").read_text()
    )


def test_it_gives_the_gpu_worker_an_nvidia_device_and_the_gpu_queue(compose):
    from django.conf import settings

    service = compose["services"]["gpu-worker"]
    (device,) = service["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and "gpu" in device["capabilities"]
    assert f"--queues={settings.ICELAB_GPU_QUEUE}" in service["command"]
    assert (
        f"--queues={settings.CELERY_TASK_DEFAULT_QUEUE}" in compose["services"]["worker"]["command"]
    )


def test_the_image_installs_the_prod_extra_and_defaults_to_the_web_command():
    dockerfile = (ROOT / "Dockerfile").read_text()
    (cmd,) = re.findall(r"^CMD (.+)$", dockerfile, flags=re.M)
    assert json.loads(cmd) == deploy.WEB
    assert "'.[prod]'" in dockerfile
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert re.search(r'prod = \[\s*"gunicorn>=', pyproject)


def _run(command: list[str], home: Path) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "ICELAB_HOME": str(home),
        "DATABASE_URL": f"sqlite:///{home / 'db.sqlite3'}",
        "DJANGO_SECRET_KEY": "icelab-tests-not-secret",
        "DJANGO_DEBUG": "0",
    }
    env.pop("DATABASE_URL_FILE", None)
    return subprocess.run(
        deploy.local(command), cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )


def test_the_migrate_step_migrates_a_fresh_database_and_is_a_no_op_the_second_time(tmp_path):
    first = _run(deploy.MIGRATE, tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "Applying studies.0001" in first.stdout
    second = _run(deploy.MIGRATE, tmp_path)
    assert second.returncode == 0 and "No migrations to apply" in second.stdout


def test_the_collectstatic_step_writes_hashed_files_and_their_manifest(tmp_path):
    done = _run(deploy.COLLECTSTATIC, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    manifest = json.loads((tmp_path / "static" / "staticfiles.json").read_text())
    hashed = manifest["paths"]["admin/css/base.css"]
    assert hashed != "admin/css/base.css" and (tmp_path / "static" / hashed).is_file()
    assert (tmp_path / "static" / (hashed + ".gz")).is_file()  # WhiteNoise's compressed copy
