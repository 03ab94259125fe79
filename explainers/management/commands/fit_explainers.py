"""Fit explainers for a scenario in the foreground (the admin runs the same service as a job)."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand

from icelab.cli import command_errors, progress_bar

from ...services import explainer_runs_fit
from ..cli import reducers_arg, scenario_arg


class Command(BaseCommand):
    help = "Fit concept explainers (one per class and reducer) for a scenario; finished runs are reused."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--scenario", required=True, help="Scenario id or name.")
        parser.add_argument(
            "--reducer",
            action="append",
            help="nmf, pca or kmeans (repeatable; default: all three).",
        )
        parser.add_argument(
            "--n-components", type=int, default=10, help="Concepts per explainer c' (default 10)."
        )
        parser.add_argument("--classes", help="Comma-separated class names (default: every class).")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--device", default="auto", help="auto, cpu or cuda[:N].")
        parser.add_argument("--json", action="store_true", help="Print one JSON object on stdout.")

    def handle(self, *args, **options) -> None:
        scenario = scenario_arg(options["scenario"])
        classes = [c.strip() for c in options["classes"].split(",")] if options["classes"] else None
        summary = {}
        with command_errors():
            for reducer in reducers_arg(options["reducer"]):
                with progress_bar(enabled=options["verbosity"] > 0) as progress:
                    runs = explainer_runs_fit(
                        scenario=scenario,
                        reducer=reducer,
                        n_components=options["n_components"],
                        classes=classes,
                        seed=options["seed"],
                        device=options["device"],
                        progress=progress,
                    )
                summary[reducer] = [
                    {"id": r.pk, "class": r.class_name, "fid_r": r.fidelity.get("fid_r")}
                    for r in runs
                ]
        if options["json"]:
            self.stdout.write(json.dumps({"scenario": scenario.pk, "runs": summary}))
        else:
            for reducer, runs in summary.items():
                self.stdout.write(f"{reducer}: {len(runs)} explainers ready")
