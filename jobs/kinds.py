"""The jobs app's own kind: ``ping`` proves that a worker runs jobs (health checks, tests)."""

from __future__ import annotations

import os
import time
from typing import Any

from .progress import Progress


def ping(params: dict[str, Any], progress: Progress) -> dict[str, Any]:
    time.sleep(float(params.get("sleep", 0)))
    progress(1.0, "pong")
    return {"pong": True, "pid": os.getpid()}
