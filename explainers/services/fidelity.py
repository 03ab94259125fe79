"""Fidelity sweeps of a scenario: accuracy, Fid_c and Fid_r against c' per reducer (the paper's Figure 3).

A sweep runs in three steps around a **run folder**,
``$ICELAB_HOME/sweeps/<scenario pk>-<hash of classes, reducers, c', seed, top_k>/``,
named by its settings so that running the same sweep again finds it:

- :func:`fidelity_sweep_prepare` builds the held-out test set once (the model's
  logits, the labels, the rows each class scores) and saves it there with
  ``run.json`` (settings, a run id, when it started);
- :func:`fidelity_sweep_run_block` sweeps a block of classes: each class's training
  activations are loaded when its turn comes, its reducers fitted for every c',
  scored, and only the result (``class-00042.npz``, tens of kB: F̂ on the rows it
  needs, iterations, errors, timings) is kept, written atomically. A class whose
  file is there is read back, not refitted, so a killed run resumes;
- :func:`fidelity_sweep_finish` combines the results into the table, stores the
  plot and its JSON sidecar, and creates the :class:`~explainers.models.FidelitySweep`
  row, once per run (its ``run_key``), however often it is called.

:func:`fidelity_sweep_run` does the three in one process (the command); the
``fidelity_sweep`` job fans the blocks out over workers (:mod:`explainers.job_kinds`).
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from explainers.ice.files import atomic_write_text
from explainers.ice.progress import Progress, report, scaled
from icelab.storage import storage_save

from ..models import FidelitySweep, Scenario
from .explainer_runs import check_classes, check_reducer
from .scenarios import scenario_class_features, scenario_class_indices, scenario_feature_bank

if TYPE_CHECKING:
    import torch

    from explainers.ice.feature_bank import FeatureBank
    from explainers.ice.sweep_engine import SweepTestSet

DEFAULT_N_COMPONENTS = tuple(range(5, 55, 5))
DEFAULT_TOP_K = 5
# A fan-out lists at most this many units by default: each unit loads the classifier
# once, so at ImageNet scale (1,000 classes) a unit sweeps a block of 5 classes.
MAX_UNITS = 200
TEST_SET = "test-set.npz"
RUN_FILE = "run.json"


@dataclass(frozen=True)
class SweepPlan:
    """What a sweep is: its scenario, classes, reducers, c' values, seed and top-k.

    Everything that changes the numbers is in :attr:`key`, so the run folder of
    the same sweep is found again (and resumed), and another sweep gets its own.
    The device is not: a sweep resumed on another device keeps the classes done.
    """

    scenario: Scenario
    classes: tuple[str, ...]
    reducers: tuple[str, ...]
    n_components: tuple[int, ...]
    seed: int
    top_k: int = DEFAULT_TOP_K

    @property
    def key(self) -> str:
        identity = {
            "scenario": self.scenario.pk,
            "classifier": self.scenario.classifier.sha256,
            "classes": sorted(self.classes),
            "reducers": list(self.reducers),
            "n_components": list(self.n_components),
            "seed": self.seed,
            "top_k": self.top_k,
        }
        digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()
        return f"{self.scenario.pk}-{digest[:16]}"

    @property
    def folder(self) -> Path:
        return Path(settings.ICELAB_HOME) / "sweeps" / self.key

    def to_params(self) -> dict[str, Any]:
        """The plan as job params (JSON)."""
        return {
            "scenario": self.scenario.pk,
            "classes": list(self.classes),
            "reducers": list(self.reducers),
            "n_components": list(self.n_components),
            "seed": self.seed,
            "top_k": self.top_k,
        }


def fidelity_sweep_plan(
    *,
    scenario: Scenario,
    reducers: tuple[str, ...] = ("nmf", "pca", "kmeans"),
    n_components: tuple[int, ...] = DEFAULT_N_COMPONENTS,
    classes: list[str] | None = None,
    seed: int = 0,
    top_k: int = DEFAULT_TOP_K,
) -> SweepPlan:
    """Check the settings (ValidationError naming the bad one) and return the sweep's plan."""
    reducers = tuple(dict.fromkeys(check_reducer(r) for r in reducers))
    if not reducers:
        raise ValidationError("reducers is empty; give one or more of nmf, pca, kmeans.")
    n_components = tuple(sorted({int(k) for k in n_components}))
    if not n_components or n_components[0] < 1:
        raise ValidationError(
            f"n_components={n_components!r}; give positive numbers of concepts, e.g. 5, 10, …, 50."
        )
    if isinstance(seed, bool) or int(seed) < 0:
        raise ValidationError(f"seed={seed!r}; give a non-negative int.")
    if int(top_k) < 1:
        raise ValidationError(f"top_k={top_k!r}; give a positive int (the paper uses 5).")
    return SweepPlan(
        scenario=scenario,
        classes=tuple(check_classes(scenario=scenario, classes=classes)),
        reducers=reducers,
        n_components=n_components,
        seed=int(seed),
        top_k=int(top_k),
    )


def fidelity_sweep_plan_from_params(params: dict[str, Any]) -> SweepPlan:
    """The plan of a job's params (``SweepPlan.to_params`` or the admin's shorter form)."""
    try:
        scenario = Scenario.objects.get(pk=params["scenario"])
    except Scenario.DoesNotExist:
        raise ValidationError(
            f"scenario {params['scenario']!r} does not exist; pick one from the admin."
        ) from None
    return fidelity_sweep_plan(
        scenario=scenario,
        reducers=tuple(params.get("reducers") or ("nmf", "pca", "kmeans")),
        n_components=tuple(params.get("n_components") or DEFAULT_N_COMPONENTS),
        classes=params.get("classes"),
        seed=int(params.get("seed", 0)),
        top_k=int(params.get("top_k", DEFAULT_TOP_K)),
    )


def fidelity_sweep_plan_of_run(run: str) -> SweepPlan:
    """The plan of a prepared run folder (``SweepPlan.key``), from its ``run.json``.

    ValidationError when the folder is missing (not prepared, or not on a file system
    this machine shares) or its settings no longer give its name (the scenario's
    classifier changed since).
    """
    folder = Path(settings.ICELAB_HOME) / "sweeps" / run
    if not (folder / RUN_FILE).exists():
        raise ValidationError(
            f"{folder} holds no prepared sweep; prepare it first, and give every worker the "
            "same ICELAB_HOME/sweeps (a shared mount on several machines)."
        )
    plan = fidelity_sweep_plan_from_params(json.loads((folder / RUN_FILE).read_text()))
    if plan.key != run:
        raise ValidationError(
            f"{folder}'s settings now give run {plan.key}: the scenario or its classifier "
            "changed since the sweep started; start the sweep again."
        )
    return plan


def fidelity_sweep_finished(*, plan: SweepPlan) -> FidelitySweep | None:
    """The sweep stored from this plan's current run folder, if it has been finished."""
    path = plan.folder / RUN_FILE
    if not path.exists():
        return None
    run_key = f"{plan.key}/{json.loads(path.read_text())['run_id']}"
    return FidelitySweep.objects.filter(run_key=run_key).first()


def fidelity_sweep_prepare(
    *,
    plan: SweepPlan,
    device: str = "auto",
    fresh: bool = False,
    progress: Progress | None = None,
) -> Path:
    """Build and save the run folder's test set, unless it is there (idempotent); returns the folder.

    ``fresh`` deletes the folder first (its class results too), so the sweep starts over.
    """
    from explainers.ice.sweep_engine import ACTIVATIONS_SUFFIX, SweepTestSet

    folder = plan.folder
    prepared = (folder / TEST_SET).exists() and (folder / RUN_FILE).exists()
    if prepared and not (folder / TEST_SET.replace(".npz", ACTIVATIONS_SUFFIX)).exists():
        # Finished (its activations copy deleted) but its row is gone (deleted in the
        # admin, another database): nothing can resume from it, so it starts over.
        fresh = fresh or fidelity_sweep_finished(plan=plan) is None
    if fresh and folder.exists():
        shutil.rmtree(folder)
    elif prepared:
        return folder
    started_at = time.time()
    started = time.perf_counter()
    bank = scenario_feature_bank(scenario=plan.scenario, device=device)
    indices = scenario_class_indices(scenario=plan.scenario)
    test = {}
    for position, name in enumerate(plan.classes):
        report(progress, position / len(plan.classes), f"held-out activations of {name!r}")
        test[indices[name]] = _activations(plan.scenario, bank, "test", name)
    test_set = SweepTestSet.build(
        bank.extractor.head,
        test,
        sorted(indices[name] for name in plan.classes),
        top_k=plan.top_k,
    )
    test_set.save(folder / TEST_SET)
    # Written last: a folder with run.json has its whole test set.
    run = {
        **plan.to_params(),
        "run_id": uuid.uuid4().hex[:12],
        "started_at": started_at,
        "test_set_seconds": time.perf_counter() - started,
        "test_set": test_set.fingerprint,
    }
    atomic_write_text(folder / RUN_FILE, json.dumps(run, indent=2) + "\n")
    report(progress, 1.0, "test set saved")
    return folder


def fidelity_sweep_run_block(
    *,
    plan: SweepPlan,
    classes: list[str],
    device: str = "auto",
    progress: Progress | None = None,
) -> list[str]:
    """Sweep ``classes`` (a block of the plan's) into the run folder; done classes are skipped.

    Needs :func:`fidelity_sweep_prepare` first. Only one class's training
    activations are resident at a time; each class's result is saved as it is done.
    Returns the classes swept or found done.
    """
    from explainers.ice.sweep_engine import run_sweep

    unknown = [name for name in classes if name not in plan.classes]
    if unknown:
        raise ValidationError(
            f"classes {unknown} are not in this sweep's {len(plan.classes)} classes; "
            "sweep a block of its own classes."
        )
    if fidelity_sweep_finished(plan=plan) is not None:
        return list(classes)  # combined already (and its activations copy deleted)
    test_set = _load_test_set(plan)
    bank = scenario_feature_bank(scenario=plan.scenario, device=device)
    indices = scenario_class_indices(scenario=plan.scenario)

    def loader(name: str) -> Callable[[], torch.Tensor]:
        return lambda: _activations(plan.scenario, bank, "train", name)

    try:
        run_sweep(
            bank.extractor.head,
            test_set,
            {indices[name]: loader(name) for name in classes},
            classes=[indices[name] for name in classes],
            reducers=plan.reducers,
            n_components=plan.n_components,
            results_dir=plan.folder,
            random_state=plan.seed,
            device=bank.extractor.device,
            progress=progress,
        )
    except ValueError as error:
        raise ValidationError(f"fidelity sweep of {plan.scenario}: {error}") from error
    return list(classes)


def fidelity_sweep_finish(*, plan: SweepPlan, progress: Progress | None = None) -> FidelitySweep:
    """Combine the run folder's class results into the stored table, plot and JSON sidecar.

    Once per run: called again (a combine redone, a command rerun), it returns the
    row it created. Every class must be done (ValidationError naming the missing ones).
    """
    from explainers.ice.sweep_engine import ACTIVATIONS_SUFFIX, combine, load_results, run_meta

    run = _run_file(plan)
    run_key = f"{plan.key}/{run['run_id']}"
    existing = FidelitySweep.objects.filter(run_key=run_key).first()
    if existing is not None:
        return existing
    test_set = _load_test_set(plan)
    try:
        results = load_results(plan.folder, test_set.classes)
    except FileNotFoundError as error:
        raise ValidationError(
            f"fidelity sweep of {plan.scenario} is not finished: {error} Run its classes first."
        ) from error
    report(progress, 0.2, "combining the class results")
    fit_seconds = sum(sum(r.fit_seconds.values()) for r in results.values())
    eval_seconds = sum(float(r.eval_seconds.sum()) for r in results.values())
    wall_seconds = time.time() - float(run["started_at"])
    devices = sorted({str(r.settings.get("device")) for r in results.values()})
    meta = {
        **_meta(devices, run_meta),
        "run": run_key,
        "timings": {
            "test_set_seconds": float(run["test_set_seconds"]),
            "fit_seconds": fit_seconds,
            "eval_seconds": eval_seconds,
            # Compute summed over classes (on any number of workers), and the time from
            # the test set's start to this combine (pauses of a resumed run included).
            "compute_seconds": float(run["test_set_seconds"]) + fit_seconds + eval_seconds,
            "total_seconds": wall_seconds,
        },
    }
    try:
        sweep = combine(test_set, results, meta=meta)
    except ValueError as error:
        raise ValidationError(f"fidelity sweep of {plan.scenario}: {error}") from error
    report(progress, 0.6, "drawing the plot")
    figure = _store_figure(sweep.figure())
    sidecar = storage_save(
        "fidelity/sweep.json",
        (json.dumps(sweep.to_json(), indent=2, default=str) + "\n").encode(),
    )
    try:
        with transaction.atomic():
            record = FidelitySweep.objects.create(
                scenario=plan.scenario,
                reducers=list(plan.reducers),
                n_components=list(plan.n_components),
                classes=list(plan.classes),
                seed=plan.seed,
                table=_records(sweep.table),
                figure=figure,
                sidecar=sidecar,
                run_key=run_key,
                seconds=wall_seconds,
            )
    except IntegrityError:  # another process combined the same run meanwhile
        record = FidelitySweep.objects.get(run_key=run_key)
    # The held-out activations copied for the workers duplicate the feature bank (20 GB
    # at ImageNet scale); the row is stored, so nothing reads them again. The rest of
    # the folder (settings, logits, class results) stays as the run's record.
    (plan.folder / TEST_SET.replace(".npz", ACTIVATIONS_SUFFIX)).unlink(missing_ok=True)
    report(progress, 1.0, "fidelity sweep done")
    return record


def fidelity_sweep_blocks(
    *, plan: SweepPlan, classes_per_unit: int | None = None
) -> list[list[str]]:
    """The plan's classes in blocks of ``classes_per_unit`` (default: at most ``MAX_UNITS`` blocks)."""
    n = len(plan.classes)
    size = math.ceil(n / MAX_UNITS) if classes_per_unit is None else int(classes_per_unit)
    if size < 1:
        raise ValidationError(f"classes_per_unit={classes_per_unit!r}; give a positive int.")
    return [list(plan.classes[start : start + size]) for start in range(0, n, size)]


def fidelity_sweep_run(
    *,
    scenario: Scenario,
    reducers: tuple[str, ...] = ("nmf", "pca", "kmeans"),
    n_components: tuple[int, ...] = DEFAULT_N_COMPONENTS,
    classes: list[str] | None = None,
    seed: int = 0,
    device: str = "auto",
    fresh: bool = False,
    progress: Progress | None = None,
) -> FidelitySweep:
    """Run the sweep on held-out (test) images of ``classes`` (default: all) and store table and plot.

    In one process, class by class, resuming the run folder of the same settings
    (``fresh`` starts over). Run again once finished, it returns the same row.
    Finished, the run folder keeps ``run.json``, ``test-set.npz`` (the model's logits,
    labels and rows per class) and one small result per class; the copy of the
    held-out activations is deleted.
    """
    plan = fidelity_sweep_plan(
        scenario=scenario, reducers=reducers, n_components=n_components, classes=classes, seed=seed
    )
    if not fresh and (finished := fidelity_sweep_finished(plan=plan)) is not None:
        return finished
    fidelity_sweep_prepare(
        plan=plan, device=device, fresh=fresh, progress=scaled(progress, 0.0, 0.1)
    )
    fidelity_sweep_run_block(
        plan=plan,
        classes=list(plan.classes),
        device=device,
        progress=scaled(progress, 0.1, 0.95),
    )
    return fidelity_sweep_finish(plan=plan, progress=scaled(progress, 0.95, 1.0))


def _meta(devices: list[str], run_meta: Callable[[str], dict]) -> dict[str, Any]:
    """Versions and host of this process; the device(s) the classes were fitted on."""
    import torch

    here = devices[0] if len(devices) == 1 else "cpu"
    if here.startswith("cuda") and not torch.cuda.is_available():
        here = "cpu"  # combined on a machine without the workers' GPU
    meta = run_meta(here)
    if devices != [meta["device"]]:
        meta["device"], meta["device_name"] = ", ".join(devices), "as fitted by the workers"
    meta["class_devices"] = devices
    return meta


def _run_file(plan: SweepPlan) -> dict[str, Any]:
    path = plan.folder / RUN_FILE
    if not path.exists():
        raise ValidationError(
            f"{plan.folder} has no prepared sweep ({RUN_FILE} is missing); prepare it first "
            "(the fidelity_sweep command and job do)."
        )
    return json.loads(path.read_text())


def _load_test_set(plan: SweepPlan) -> SweepTestSet:
    from explainers.ice.sweep_engine import CorruptResultError, SweepTestSet

    _run_file(plan)
    try:
        return SweepTestSet.load(plan.folder / TEST_SET)
    except (CorruptResultError, FileNotFoundError) as error:
        raise ValidationError(
            f"{error} Start the sweep over (the command's --fresh, or delete {plan.folder})."
        ) from error


def _activations(scenario: Scenario, bank: FeatureBank, split: str, name: str) -> torch.Tensor:
    from explainers.ice.features import float_tensor_view

    features = scenario_class_features(scenario=scenario, bank=bank, split=split, class_name=name)
    return float_tensor_view(features.features)


def _records(table) -> list[dict]:
    return [
        {key: (value.item() if hasattr(value, "item") else value) for key, value in row.items()}
        for row in table.to_dict(orient="records")
    ]


def _store_figure(figure) -> str:
    import io

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, metadata={"Software": None})
    return storage_save("fidelity/sweep.png", buffer.getvalue())
