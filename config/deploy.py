"""The command lines of the production services, shared by docker-compose.yml and the tests.

docker-compose.yml repeats each of these literally (a compose file cannot import Python);
``tests/test_docker_compose.py`` checks that it does, and the tests and benchmarks start
the same commands themselves (the Celery worker test, ``benchmarks/load.py``'s gunicorn, the
migrate and collectstatic steps), so a command in the compose file is one that has run.

Each command is an argv list whose first item is a program name as found on the image's
PATH; :func:`local` turns it into one that runs with this interpreter's environment.
Numbers that depend on the machine (gunicorn workers) come from the environment
(``WEB_CONCURRENCY``, read by gunicorn itself), not from the command line.
"""

from __future__ import annotations

import sys
from pathlib import Path

WEB_PORT = 8000

# gthread workers: a participant page waits on the database, not the CPU, so each process
# serves several requests at once. Access log on stdout for the container's log.
WEB = [
    "gunicorn",
    "config.wsgi:application",
    f"--bind=0.0.0.0:{WEB_PORT}",
    "--worker-class=gthread",
    "--threads=4",
    "--timeout=60",
    "--access-logfile=-",
]
# Light jobs (reports, exports, platform sync) on the default queue.
WORKER = [
    "celery",
    "-A",
    "config",
    "worker",
    "--queues=celery",
    "--concurrency=2",
    "--loglevel=INFO",
]
# Torch work (fitting explainers, building stimuli): one job at a time on the GPU.
GPU_WORKER = [
    "celery",
    "-A",
    "config",
    "worker",
    "--queues=gpu",
    "--concurrency=1",
    "--loglevel=INFO",
]
# A worker's health check: a ping to this worker only (its node name), answered within 10 s.
WORKER_PING = ["celery", "-A", "config", "inspect", "ping", "--timeout=10"]
MIGRATE = ["python", "manage.py", "migrate", "--noinput"]
COLLECTSTATIC = ["python", "manage.py", "collectstatic", "--noinput"]

ROOT = Path(__file__).resolve().parents[1]


def local(command: list[str]) -> list[str]:
    """``command`` run by this interpreter (``python -m celery``/``gunicorn``, ``python manage.py``)."""
    program, *args = command
    if program == "python":
        return [sys.executable, *args]
    return [sys.executable, "-m", program, *args]


def with_option(command: list[str], option: str, value: str) -> list[str]:
    """``command`` with ``--option=value`` replacing the one it has (e.g. gunicorn's --bind)."""
    prefix = f"--{option}="
    if not any(arg.startswith(prefix) for arg in command):
        raise ValueError(f"{command[:2]} has no {prefix}…; add it with + [{prefix + value!r}].")
    return [prefix + value if arg.startswith(prefix) else arg for arg in command]
