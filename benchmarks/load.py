"""Many participants at once over HTTP against gunicorn; print one JSON object per run.

    python benchmarks/load.py --participants 50 100 200 400 --database postgres sqlite --json \
        [--workers 4] [--postgres-url postgres://postgres@127.0.0.1:5432/icelab_load] \
        [--think-s 0] [--ramp-s 0]

For each database: a fresh one (PostgreSQL: the database named in ``--postgres-url``,
created here and dropped at the end, refusing to reuse one that exists; SQLite: a file
in a temporary ICELAB_HOME), migrated, with the small study setup of
``benchmarks/study_pages.py`` (a generated 4-class image folder, a random-weight tiny
classifier, one stimulus set per reducer: nmf, pca, kmeans, each 1 training + 3 test
trials). gunicorn runs the production command of ``config/deploy.py`` on loopback.
For each N a new launched study on those sets takes N simulated participants
(``studies.services.bots``, random policy, every cookie dropped) all at the same time,
each taking the whole study (27 requests): with no pause by default (a stress test:
latency is then set by throughput), or with ``--think-s`` seconds of reading before each
answer on average and starts spread over ``--ramp-s`` seconds (people). Then the database is counted: trial
responses stored against expected (N x 4), duplicates per (participant, trial), and
the server log is searched for "database is locked".

Loopback only; every participant makes a bounded number of requests (``MAX_PAGES``)
with a 30 s timeout each, so the script ends by itself. The simulated participants run in
this process, on the same cores as the server: on a small machine they take a share of
the CPU the server would otherwise have.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from study_pages import free_port  # noqa: E402

from config import deploy  # noqa: E402

DATABASES = ("postgres", "sqlite")
DEFAULT_POSTGRES = "postgres://postgres@127.0.0.1:5432/icelab_load"
THREADS_PER_WORKER = 4  # gunicorn's --threads in config/deploy.py WEB
# At most this many simulated participants hold a database connection of this process at
# once (a bot reads its participant row when it finishes): N connections would exhaust
# PostgreSQL's max_connections before the server got any.
DB_SLOTS = threading.BoundedSemaphore(4)


def web_command(port: int) -> list[str]:
    """The production gunicorn command, bound to loopback."""
    return deploy.local(deploy.with_option(deploy.WEB, "bind", f"127.0.0.1:{port}"))


def start_server(port: int, env: dict[str, str], log: Path) -> subprocess.Popen:
    import urllib.request

    with open(log, "w") as stream:
        server = subprocess.Popen(
            web_command(port), cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=stream
        )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/admin/login/", timeout=2)
            return server
        except OSError:
            if server.poll() is not None:
                break
            time.sleep(0.3)
    server.terminate()
    raise RuntimeError(f"gunicorn did not answer on port {port}; see {log}:\n{log.read_text()}")


def postgres_create(url: str) -> None:
    import psycopg

    parts = urllib.parse.urlsplit(url)
    name = parts.path.lstrip("/")
    admin = urllib.parse.urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as connection:
        # A database of that name is not ours to drop: it may hold someone's data.
        if connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            raise SystemExit(f"Database {name!r} exists; give --postgres-url a new name.")
        connection.execute(f'CREATE DATABASE "{name}"')


def postgres_drop(url: str) -> None:
    import psycopg

    parts = urllib.parse.urlsplit(url)
    admin = urllib.parse.urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{parts.path.lstrip("/")}" WITH (FORCE)')


def run_participants(
    *, slug: str, n: int, base_url: str, seed: int, think_s: float = 0.0, ramp_s: float = 0.0
) -> dict[str, Any]:
    """N bots through study ``slug``, all at once; their results and request timings.

    ``think_s``: mean pause (exponential) before each form a bot submits, as a person
    reads a page before answering; never inside a timed request. ``ramp_s``: the bots
    start spread evenly over this many seconds instead of in one burst."""
    from django.db import connection

    from studies.models import Study
    from studies.services.bots import Bot, HttpTransport

    class LoadBot(Bot):
        def _request(self, method: str, url: str, data: dict[str, str] | None = None):
            if method == "post" and think_s > 0:
                time.sleep(self.think_rng.expovariate(1 / think_s))
            return super()._request(method, url, data)

        def _participant(self, url: str):
            with DB_SLOTS:
                try:
                    return super()._participant(url)
                finally:
                    connection.close()  # this thread's connection; the thread is done with it

    study = Study.objects.get(slug=slug)

    def one(index: int):
        if ramp_s > 0:
            time.sleep(ramp_s * index / n)
        bot = LoadBot(
            study=study,
            transport=HttpTransport(base_url, timeout=30),
            policy="random",
            platform="anonymous",
            rng=random.Random(f"{seed}:{index}"),
        )
        # Pauses from a generator of their own: the answers stay those of the same seed.
        bot.think_rng = random.Random(f"think:{seed}:{index}")
        return bot.run()

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=n) as pool:
        results = list(pool.map(one, range(n)))
    return {"results": results, "seconds": time.perf_counter() - started}


def count_responses(slug: str) -> dict[str, Any]:
    from collections import Counter

    from django.db.models import Count

    from studies.models import Participant, Study, TrialResponse

    study = Study.objects.get(slug=slug)
    responses = TrialResponse.objects.filter(participant__study=study)
    duplicates = (
        responses.values("participant", "trial").annotate(k=Count("pk")).filter(k__gt=1).count()
    )
    participants = Participant.objects.filter(study=study)
    return {
        "participants_stored": participants.count(),
        "statuses": dict(Counter(participants.values_list("status", flat=True))),
        "responses_stored": responses.count(),
        "duplicates": duplicates,
    }


def trials_per_participant(slug: str) -> int:
    """Trials every participant answers (training + test of their group; the same in each group)."""
    from studies.models import Study

    config = Study.objects.get(slug=slug).versions.order_by("-number").first().config
    counts = {len(g["training"]) + len(g["test"]) for g in config["groups"]}
    if len(counts) != 1:
        raise RuntimeError(f"groups of {slug} have different trial counts {counts}")
    return counts.pop()


def percentile_ms(sorted_seconds: list[float], q: float) -> float | None:
    from studies.services.bots import _percentile_ms

    return _percentile_ms(sorted_seconds, q)


def one_database(args: argparse.Namespace, database: str) -> None:
    """Set up, serve and load ``database``; print one JSON line per N. Runs in its own process."""
    home = Path(tempfile.mkdtemp(prefix="icelab-load-"))
    url = args.postgres_url if database == "postgres" else f"sqlite:///{home / 'load.sqlite3'}"
    env = {
        **os.environ,
        "ICELAB_HOME": str(home),
        "DATABASE_URL": url,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": "icelab-load-benchmark-not-secret",
        "DJANGO_LOG_LEVEL": "WARNING",
        "CELERY_BROKER_URL": "",
        "WEB_CONCURRENCY": str(args.workers),
        "OMP_NUM_THREADS": "1",
        # Every simulated participant comes from 127.0.0.1: the per-address entry limit,
        # meant for strangers on the internet, would otherwise cap the run.
        "ICELAB_RATE_STUDY_ENTRY": "1000000/h",
    }
    env.pop("DATABASE_URL_FILE", None)
    os.environ.update(env)
    if database == "postgres":
        postgres_create(url)
    server = None
    try:
        import django

        django.setup()
        from study_pages import setup_study

        from studies.models import Study
        from studies.services import study_create, study_launch

        base_slug = setup_study(home)
        sets = [g.stimulus_set for g in Study.objects.get(slug=base_slug).groups.order_by("pk")]
        port = free_port()
        log = home / "gunicorn.log"
        server = start_server(port, env, log)
        for n in args.participants:
            slug = f"{base_slug}-n{n}"
            study_launch(
                study=study_create(
                    slug=slug, title=f"Load {n}", stimulus_sets=sets, allow_anonymous=True
                )
            )
            load_before = os.getloadavg()
            locked_before = log.read_text(errors="replace").count("database is locked")
            errors_before = log.read_text(errors="replace").count("Internal Server Error")
            run = run_participants(
                slug=slug,
                n=n,
                base_url=f"http://127.0.0.1:{port}",
                seed=n,
                think_s=args.think_s,
                ramp_s=args.ramp_s,
            )
            text = log.read_text(errors="replace")
            results, seconds = run["results"], run["seconds"]
            latencies = sorted(t for r in results for t in r.seconds)
            requests = sum(r.requests for r in results)
            errors = [r.error for r in results if r.error]
            print(
                json.dumps(
                    {
                        "database": database,
                        "participants": n,
                        "concurrency": n,
                        "think_s": args.think_s,
                        "ramp_s": args.ramp_s,
                        "responses_expected": n * trials_per_participant(slug),
                        **count_responses(slug),
                        "errors": len(errors),
                        "error_samples": sorted(set(errors))[:5],
                        "server_errors_logged": text.count("Internal Server Error") - errors_before,
                        "database_locked_logged": text.count("database is locked") - locked_before,
                        "rejected_posts": sum(r.rejected for r in results),
                        "requests": requests,
                        "seconds": round(seconds, 2),
                        "requests_per_s": round(requests / seconds, 1),
                        "p50_ms": percentile_ms(latencies, 0.50),
                        "p95_ms": percentile_ms(latencies, 0.95),
                        "max_ms": percentile_ms(latencies, 1.0),
                        "server": {
                            "command": " ".join(
                                deploy.with_option(deploy.WEB, "bind", f"127.0.0.1:{port}")
                            ),
                            "workers": args.workers,
                            "threads": THREADS_PER_WORKER,
                        },
                        "machine": {
                            "cpus": os.cpu_count(),
                            "platform": platform.platform(),
                            "python": platform.python_version(),
                            "load_before": [round(x, 2) for x in load_before],
                            "load_after": [round(x, 2) for x in os.getloadavg()],
                        },
                        "stimulus_sets": "benchmarks/study_pages.py setup_study: 3 sets "
                        "(nmf, pca, kmeans) of 1 training + 3 test trials, tiny classifier",
                    }
                ),
                flush=True,
            )
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
        from django.db import connections

        connections.close_all()
        if database == "postgres":
            postgres_drop(url)
        shutil.rmtree(home, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--participants", type=int, nargs="+", required=True, metavar="N")
    parser.add_argument("--database", nargs="+", choices=DATABASES, default=["sqlite"])
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes.")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES)
    parser.add_argument(
        "--think-s",
        type=float,
        default=0.0,
        help="mean pause before each submitted form, as a person reads (default 0: no pause).",
    )
    parser.add_argument(
        "--ramp-s", type=float, default=0.0, help="spread the starts over this many seconds."
    )
    parser.add_argument("--json", action="store_true", help="JSON lines on stdout (the default).")
    args = parser.parse_args()
    if args.think_s < 0 or args.ramp_s < 0:
        parser.error("--think-s and --ramp-s: give seconds >= 0.")
    if any(n < 1 for n in args.participants):
        parser.error("--participants: give positive numbers.")
    if urllib.parse.urlsplit(args.postgres_url).hostname not in ("127.0.0.1", "localhost", "::1"):
        parser.error("--postgres-url: loopback only (127.0.0.1 or localhost).")
    if len(args.database) == 1:
        one_database(args, args.database[0])
        return
    # Settings are read once per process, so each database gets a process of its own.
    for database in args.database:
        command = [sys.executable, __file__, "--database", database, "--workers", str(args.workers),
                   "--postgres-url", args.postgres_url,
                   "--think-s", str(args.think_s), "--ramp-s", str(args.ramp_s),
                   "--participants", *map(str, args.participants)]  # fmt: skip
        subprocess.run(command, check=True)


if __name__ == "__main__":
    main()
