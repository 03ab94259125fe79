"""benchmarks/load.py at a tiny N: gunicorn on SQLite, 3 participants at once, every answer stored once.

It starts the production gunicorn command of config/deploy.py (docker-compose.yml's web
service), so this is also the test that runs that command. No timing is asserted: the
numbers are for docs/PERFORMANCE.md.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(
    shutil.which("gunicorn", path=str(Path(sys.executable).parent)) is None,
    reason="gunicorn is not installed (pip install '.[prod]')",
)


def test_it_stores_every_response_of_concurrent_participants_exactly_once(tmp_path):
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    for name in ("DATABASE_URL", "DATABASE_URL_FILE", "ICELAB_HOME"):
        env.pop(name, None)
    done = subprocess.run(
        [sys.executable, "benchmarks/load.py", "--participants", "3", "--database", "sqlite",
         "--workers", "2", "--think-s", "0.02", "--ramp-s", "0.1", "--json"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    (line,) = done.stdout.strip().splitlines()
    run = json.loads(line)
    keys = {"participants", "responses_expected", "responses_stored", "duplicates", "errors",
            "p50_ms", "p95_ms", "requests_per_s", "machine", "database"}  # fmt: skip
    assert keys <= set(run)
    assert run["database"] == "sqlite" and run["participants"] == 3
    assert (run["think_s"], run["ramp_s"]) == (0.02, 0.1)
    assert run["responses_expected"] == 3 * 4  # 1 training + 3 test trials each
    assert run["responses_stored"] == run["responses_expected"]
    assert run["duplicates"] == 0 and run["errors"] == 0 and run["database_locked_logged"] == 0
    assert run["participants_stored"] == 3
    assert run["requests"] == 3 * 27  # every participant took the whole study
    assert 0 < run["p50_ms"] <= run["p95_ms"] <= run["max_ms"]
    assert not list(tmp_path.glob("icelab-load-*"))  # the temporary ICELAB_HOME is gone
