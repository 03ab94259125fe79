"""Run a fidelity sweep in the foreground (the admin runs the same service as a job).

Class by class into the sweep's run folder (``$ICELAB_HOME/sweeps/…``): run again after
a kill, it resumes where it stopped; run again once finished, it prints the same sweep.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from django.core.files.storage import default_storage
from django.core.management.base import BaseCommand

from icelab.cli import command_errors, int_list_arg, progress_bar

from ...services import fidelity_sweep_run
from ...services.fidelity import DEFAULT_N_COMPONENTS
from ..cli import reducers_arg, scenario_arg


class Command(BaseCommand):
    help = (
        "Fidelity (accuracy, Fid_c, Fid_r) of the approximate models against c' for each reducer."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--scenario", required=True, help="Scenario id or name.")
        parser.add_argument(
            "--reducers",
            action="append",
            help="Comma-separated reducers (default: nmf,pca,kmeans).",
        )
        parser.add_argument(
            "--components",
            "--n-components",
            dest="n_components",
            default=",".join(map(str, DEFAULT_N_COMPONENTS)),
            help="c' values: comma-separated or a range start:stop:step (default 5:50:5).",
        )
        parser.add_argument(
            "--classes",
            help="Comma-separated class names, or 'all' (the default): every class.",
        )
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--device", default="auto")
        parser.add_argument(
            "--fresh",
            action="store_true",
            help="Discard the run folder of these settings (its finished classes too) and start over.",
        )
        parser.add_argument(
            "--out",
            help="Also copy the plot (PNG) to this file, and its JSON sidecar (table, settings, "
            "versions, device, timings) beside it with the suffix .json.",
        )
        parser.add_argument("--json", action="store_true", help="Print one JSON object on stdout.")

    def handle(self, *args, **options) -> None:
        scenario = scenario_arg(options["scenario"])
        classes = options["classes"]
        classes = None if classes in (None, "all") else [c.strip() for c in classes.split(",")]
        with command_errors(), progress_bar(enabled=options["verbosity"] > 0) as progress:
            sweep = fidelity_sweep_run(
                scenario=scenario,
                reducers=tuple(reducers_arg(options["reducers"])),
                n_components=tuple(int_list_arg(options["n_components"], name="--n-components")),
                classes=classes,
                seed=options["seed"],
                device=options["device"],
                fresh=options["fresh"],
                progress=progress,
            )
        sidecar = _sidecar(sweep)
        if options["out"]:
            out = Path(options["out"])
            out.parent.mkdir(parents=True, exist_ok=True)
            with default_storage.open(sweep.figure, "rb") as source, open(out, "wb") as target:
                shutil.copyfileobj(source, target)
            if sidecar:
                out.with_suffix(".json").write_text(json.dumps(sidecar, indent=2) + "\n")
        if options["json"]:
            self.stdout.write(
                json.dumps(
                    {
                        "fidelity_sweep": sweep.pk,
                        "run": sweep.run_key,
                        "table": sweep.table,
                        "plot": options["out"],
                        "caption": sidecar.get("caption"),
                        "meta": sidecar.get("settings", {}).get("meta"),
                    }
                )
            )
        else:
            for row in sweep.table:
                self.stdout.write(
                    f"{row['reducer']:>7} c'={row['n_components']:<3} accuracy={row['accuracy']:.3f} "
                    f"fid_c={row['fid_c']:.3f} fid_r={row['fid_r']:.3f}"
                )
            if sidecar.get("caption"):
                self.stdout.write(sidecar["caption"])


def _sidecar(sweep) -> dict:
    if not sweep.sidecar:
        return {}  # stored before sidecars existed
    with default_storage.open(sweep.sidecar, "rb") as stream:
        return json.load(stream)
