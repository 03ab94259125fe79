"""Test-only job kinds for fan-out: ``test_squares`` fans out ``test_square`` units.

Imported by the fan-out tests and by the Celery workers they start (``--include``), so
the kinds exist only where a test asked for them. Only ``jobs.registry`` is imported at
module level: a worker imports this module before Django's apps are ready.

A unit writes ``square-<n>.json`` under ``params["out"]`` in two halves through
:func:`explainers.ice.files.atomic_file`, logs each start to ``starts.log``, and, when
``params["hold"]`` is set and ``release`` does not exist yet, waits between the halves
after writing ``holding-<n>`` (its pid): the moment at which a test kills its worker.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from jobs.registry import GPU, register

PARENT = "test_squares"
UNIT = "test_square"


def squares(params: dict[str, Any], progress) -> Any:
    from jobs.fanout import fan_out

    progress(0.0, "listing units")
    units = [
        {
            "out": params["out"],
            "n": n,
            "hold": n in params.get("hold", []),
            "fail": n in params.get("fail", []),
        }
        for n in range(params["units"])
    ]
    return fan_out(units, child_kind=UNIT)


def square(params: dict[str, Any], progress) -> dict[str, Any]:
    from explainers.ice.files import atomic_file

    out, n = Path(params["out"]), params["n"]
    with open(out / "starts.log", "a") as log:
        log.write(f"{n} {os.getpid()}\n")
    if params.get("fail") and not (out / "mended").exists():
        raise RuntimeError(f"unit {n} broke")
    payload = json.dumps({"n": n, "square": n * n, "padding": "x" * 4096})
    with atomic_file(out / f"square-{n}.json", "w") as stream:
        stream.write(payload[: len(payload) // 2])
        stream.flush()
        progress(0.5, f"half of unit {n} written")
        if params.get("hold"):
            (out / f"holding-{n}").write_text(str(os.getpid()))
            while not (out / "release").exists():
                time.sleep(0.05)
        stream.write(payload[len(payload) // 2 :])
    return {"n": n, "square": n * n}


def combine(params: dict[str, Any], results: list[dict[str, Any]]) -> dict[str, Any]:
    return {"sum_of_squares": sum(result["square"] for result in results), "units": len(results)}


register(PARENT, squares, queue=GPU, combine=combine)
register(UNIT, square, queue=GPU)
