"""NMF's fidelity under each stopping rule, on the same features of one scenario; JSON.

    ICELAB_HOME=... python benchmarks/nmf_fidelity.py [--scenario 1] [--components 5,10,20]
                                                      [--out FILE]

Runs the fidelity sweep (all the scenario's classes, held-out images, top-5) three times
on the same activations and the same seed, changing only how the NMF fit stops:

- ``old``: the rule before 2026-11-30: the first single iteration that improved the
  error by less than ``tol=1e-4`` ends the fit;
- ``fast``: ``NMFReducer(tol=1e-4)``, the looser option kept: the 10-iteration window
  at 1e-4;
- ``default``: ``NMFReducer()``: the 10-iteration window at 1e-6.

So a change in Fid_c between the rows is the stopping rule's and nothing else's (the
demo's own numbers moved between runs on different machines because the classifier
did; this compares on one). Needs a scenario with a feature bank, e.g. the demo's
(``make demo``, then point ``ICELAB_HOME`` at its home).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

RULES = {
    # name: (NMFReducer keyword arguments, the solver's window of iterations)
    "old": ({"tol": 1e-4}, 1),
    "fast": ({"tol": 1e-4}, 10),
    "default": ({}, 10),
}


def sweep_with_rule(scenario, rule: str, components: list[int], features) -> dict[str, Any]:
    from explainers.ice import fidelity
    from explainers.ice.reducers import NMFReducer, solvers

    params, window = RULES[rule]
    # The sweep builds its reducers by name with their defaults: change the defaults (and
    # the solver's window) for this run only.
    defaults = NMFReducer.__init__.__kwdefaults__
    saved = dict(defaults), solvers.TOL_WINDOW
    defaults.update(params)
    solvers.TOL_WINDOW = window
    train, test, head, device = features
    started = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # unconverged fits are counted in the table
            sweep = fidelity.fidelity_sweep(
                head, train, test, reducers=("nmf",), n_components=components, device=device
            )
    finally:
        defaults.clear()
        defaults.update(saved[0])
        solvers.TOL_WINDOW = saved[1]
    table = sweep.table.drop(columns=["reducer"]).to_dict(orient="records")
    return {
        "rule": rule,
        "params": params or "defaults",
        "window": window,
        "seconds": round(time.perf_counter() - started, 1),
        "rows": table,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="1", help="scenario id or name (default 1)")
    parser.add_argument("--components", default="5,10,20")
    parser.add_argument("--rules", default=",".join(RULES))
    parser.add_argument("--out")
    args = parser.parse_args()
    import django

    django.setup()
    import torch

    from benchmarks.reducers import machine_info
    from explainers.ice.features import float_tensor_view
    from explainers.selectors import scenario_by_id_or_name
    from explainers.services.scenarios import (
        scenario_class_features,
        scenario_class_indices,
        scenario_feature_bank,
    )

    scenario = scenario_by_id_or_name(value=args.scenario)
    bank = scenario_feature_bank(scenario=scenario, device="cpu")
    indices = scenario_class_indices(scenario=scenario)
    train, test = {}, {}
    for name, index in indices.items():
        for split, target in (("train", train), ("test", test)):
            entry = scenario_class_features(
                scenario=scenario, bank=bank, split=split, class_name=name
            )
            target[index] = float_tensor_view(entry.features)
    features = (train, test, bank.extractor.head, bank.extractor.device)
    components = [int(k) for k in args.components.split(",")]
    result = {
        "benchmark": "nmf_fidelity",
        "scenario": str(scenario),
        "classes": len(indices),
        "machine": machine_info(torch.device("cpu")),
        "load_before": os.getloadavg(),
        "runs": [],
    }
    for rule in args.rules.split(","):
        result["runs"].append(sweep_with_rule(scenario, rule, components, features))
        result["load_after"] = os.getloadavg()
        text = json.dumps(result, indent=1, default=float)
        if args.out:  # after each rule, so a stopped run keeps what it measured
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            Path(args.out).write_text(text + "\n", encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
