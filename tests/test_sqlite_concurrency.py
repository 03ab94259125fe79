"""On SQLite, two requests that read then write at the same time both succeed (config/settings.py).

The script below runs the race deterministically in a process of its own, on a SQLite
file configured by the settings: A writes and holds its transaction open; meanwhile B
reads, then writes. With SQLite's default deferred transactions B fails at once with
"database is locked" (its read snapshot is older than A's write, so waiting cannot help);
with the settings' ``BEGIN IMMEDIATE`` B waits for A and then succeeds. The test runs
both, so it shows the failure it guards against is real.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

RACE = """
import json, sys, threading, time
sys.path.insert(0, sys.argv[1])
import django
from django.conf import settings
django.setup()
if sys.argv[2] != "settings":
    settings.DATABASES["default"]["OPTIONS"]["transaction_mode"] = sys.argv[2]
from django.db import connection, transaction

with connection.cursor() as cursor:
    cursor.execute("CREATE TABLE counter (n integer)")
    cursor.execute("INSERT INTO counter VALUES (0)")
    journal = cursor.execute("PRAGMA journal_mode").fetchone()[0]
connection.close()
a_wrote, outcome = threading.Event(), {}

def a():
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE counter SET n = n + 1")
        a_wrote.set()
        time.sleep(1.0)
    connection.close()

def b():
    a_wrote.wait()
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT n FROM counter").fetchone()
            cursor.execute("UPDATE counter SET n = n + 1")
        outcome["b"] = "ok"
    except Exception as error:
        outcome["b"] = str(error)
    connection.close()

threads = [threading.Thread(target=a), threading.Thread(target=b)]
[t.start() for t in threads]
[t.join() for t in threads]
with connection.cursor() as cursor:
    outcome["n"] = cursor.execute("SELECT n FROM counter").fetchone()[0]
outcome["journal"] = journal
print(json.dumps(outcome))
"""


def _race(tmp_path: Path, mode: str) -> dict:
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / mode}.sqlite3",
        "ICELAB_HOME": str(tmp_path / "home"),
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }
    env.pop("DATABASE_URL_FILE", None)
    done = subprocess.run(
        [sys.executable, "-c", RACE, str(ROOT), mode],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("mode", ["settings", "DEFERRED"])
def test_it_lets_a_read_then_write_wait_for_another_writer(tmp_path, mode):
    outcome = _race(tmp_path, mode)
    assert outcome["journal"] == "wal"
    if mode == "settings":
        assert outcome == {"b": "ok", "n": 2, "journal": "wal"}
    else:  # SQLite's default: the failure the settings avoid
        assert outcome["b"] == "database is locked" and outcome["n"] == 1
