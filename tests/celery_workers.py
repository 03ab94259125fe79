"""Real Celery workers for tests: a database of their own, a queue of their own, killable whole.

Each worker is the deployed GPU worker command (``celery -A config worker --concurrency=1``,
prefork) in its own process group, so a test can kill a worker with its pool process
(``os.killpg``), as when a machine dies. The workers and the scripts a test runs share
a database of their own (``_worker_database``: a SQLite file, or a fresh PostgreSQL
database when the suite runs on PostgreSQL) and ``ICELAB_HOME``. The gpu route goes to
a queue named for this run, deleted afterwards with kombu's bindings for it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from config import deploy
from tests.explainers.test_celery_worker import BROKER, _worker_database, process_environment

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Workers:
    env: dict[str, str]
    processes: list[subprocess.Popen]
    logs: list[Path]
    folder: Path
    scripts: dict[str, Path] = field(default_factory=dict)

    def run_script(self, code: str, *args: str, timeout: float = 180) -> str:
        """Run ``code`` (after ``django.setup()``) with the workers' settings; returns its stdout."""
        path = self.folder / f"script-{uuid.uuid4().hex[:6]}.py"
        path.write_text("import django\ndjango.setup()\n" + code)
        done = subprocess.run(
            [sys.executable, str(path), *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert done.returncode == 0, done.stderr[-3000:] + "\n" + self.log_tails()
        return done.stdout

    def holding(self, pid: int) -> subprocess.Popen:
        """The worker whose process group ``pid`` (a pool process) belongs to."""
        (worker,) = [w for w in self.processes if os.getpgid(pid) == w.pid]
        return worker

    def log_tails(self) -> str:
        return "\n".join(log.read_text()[-2500:] for log in self.logs)


@contextmanager
def celery_workers(folder: Path, n: int = 2, *, include: str = "", **env: str) -> Iterator[Workers]:
    """``n`` workers on a migrated database of their own; ``env`` adds settings (strings)."""
    database_url, cleanup = _worker_database(folder)
    queue = f"test-{uuid.uuid4().hex[:8]}"  # no message of another run reaches these workers
    environment = process_environment(
        folder,
        database_url,
        CELERY_BROKER_URL=BROKER,
        CELERY_RESULT_BACKEND="",
        ICELAB_GPU_QUEUE=queue,
        **env,
    )
    command = deploy.with_option(deploy.GPU_WORKER, "queues", queue)
    command += ["--without-mingle", "--without-gossip"]
    if include:
        command += [f"--include={include}"]
    workers = Workers(environment, [], [], folder)
    try:
        for index in range(n):
            log = folder / f"worker-{index}.log"
            workers.logs.append(log)
            node = f"test-{index}-{uuid.uuid4().hex[:6]}@{socket.gethostname()}"
            workers.processes.append(
                subprocess.Popen(
                    deploy.local(command) + ["-n", node],
                    cwd=ROOT,
                    env=environment,
                    stdout=log.open("w"),
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # its own process group: killed whole, pool included
                )
            )
        subprocess.run(
            deploy.local(deploy.MIGRATE) + ["-v", "0"],
            cwd=ROOT,
            env=environment,
            check=True,
            timeout=120,
        )
        yield workers
    finally:
        for worker in workers.processes:
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGTERM)
        for worker in workers.processes:
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
        cleanup()
        _forget_queue(queue)


def _forget_queue(queue: str) -> None:
    """Remove the queue and kombu's bindings for it, so runs leave nothing in the test's Redis db."""
    import redis

    client = redis.Redis.from_url(BROKER)
    client.delete(queue, *client.keys(f"_kombu.binding*.{queue}"))
