"""Build stimulus sets in the foreground (the admin runs the same service as a job)."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand

from icelab.cli import command_errors, progress_bar

from ...services import stimulus_set_build, stimulus_set_freeze
from ..cli import reducers_arg, scenario_arg


class Command(BaseCommand):
    help = "Build one stimulus set per reducer for a scenario (20 classes, 5 training + 15 test trials)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--scenario", required=True, help="Scenario id or name.")
        parser.add_argument(
            "--reducer",
            action="append",
            help="nmf, pca or kmeans (repeatable; default: all three).",
        )
        parser.add_argument(
            "--seed", type=int, default=0, help="Seed of every draw; stored with the set."
        )
        parser.add_argument("--n-classes", type=int, default=20)
        parser.add_argument("--n-training", type=int, default=5)
        parser.add_argument("--n-components", type=int, default=10)
        parser.add_argument("--explainer-seed", type=int, default=0)
        parser.add_argument(
            "--draw-rule",
            choices=["v1", "v2"],
            help="Sampling rule: default the current one (v2) for a new set, the recorded one for "
            "an existing set; v1 only to rebuild a set built before v2.",
        )
        parser.add_argument("--device", default="auto")
        parser.add_argument("--freeze", action="store_true", help="Freeze the sets once built.")
        parser.add_argument("--json", action="store_true", help="Print one JSON object on stdout.")

    def handle(self, *args, **options) -> None:
        scenario = scenario_arg(options["scenario"])
        built = []
        with command_errors():
            for reducer in reducers_arg(options["reducer"]):
                with progress_bar(enabled=options["verbosity"] > 0) as progress:
                    stimulus_set = stimulus_set_build(
                        scenario=scenario,
                        reducer=reducer,
                        seed=options["seed"],
                        n_classes=options["n_classes"],
                        n_training=options["n_training"],
                        n_components=options["n_components"],
                        explainer_seed=options["explainer_seed"],
                        draw_rule=options["draw_rule"],
                        device=options["device"],
                        progress=progress,
                    )
                if options["freeze"]:
                    stimulus_set = stimulus_set_freeze(stimulus_set=stimulus_set)
                built.append(
                    {
                        "id": stimulus_set.pk,
                        "reducer": reducer,
                        "trials": stimulus_set.trials.count(),
                        "classes": stimulus_set.classes,
                        "draw_rule": stimulus_set.draw_rule,
                        "frozen": stimulus_set.is_frozen,
                    }
                )
        if options["json"]:
            self.stdout.write(json.dumps({"scenario": scenario.pk, "stimulus_sets": built}))
        else:
            for entry in built:
                self.stdout.write(
                    f"stimulus set {entry['id']} ({entry['reducer']}): {entry['trials']} trials"
                )
