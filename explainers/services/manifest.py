"""The manifest: everything needed to reproduce and audit stimulus sets, as JSON.

``manifest_export`` writes::

    {"stimulus_sets": [{"id", "scenario", "reducer", "seed", "draw_rule", "classes": [...], "trials": [
        {"phase", "class", "image": {"path", "sha256", "source": {"path", "sha256"}},
         "target", "target_percentile", "concept_weights": [...],
         "candidates": [{"concept", "weight", "prototypes": [{"path", "sha256", "source"}, ...]}, ...],
         "explainer": {"run", "reducer_file", "reducer_sha256", "converged", "n_iter"}},
        ...], "unconverged_explainer_runs": [...]}, ...],
     "classifier": {"arch", "sha256"}, "versions": {...}}

with every path relative to the manifest file. The output has no timestamps besides
the sets' own (freezing time), so exporting the same sets twice gives the same bytes.
"""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path
from typing import Any

from django.core.files.storage import default_storage

from explainers.ice.files import atomic_write_text

from ..models import Classifier, StimulusSet

_PACKAGES = ("torch", "torchvision", "numpy", "scikit-learn", "scipy", "pillow", "django", "icelab")


def manifest_export(*, out: str | Path, stimulus_sets: Iterable[StimulusSet] | None = None) -> Path:
    """Write the manifest of ``stimulus_sets`` (default: every ready or frozen set) to ``out``; return its path."""
    out = Path(out).expanduser().resolve()
    sets = (
        list(stimulus_sets)
        if stimulus_sets is not None
        else list(
            StimulusSet.objects.filter(status=StimulusSet.Status.READY).select_related(
                "scenario__classifier"
            )
        )
    )
    payload = manifest_payload(stimulus_sets=sets, base_dir=out.parent)
    atomic_write_text(out, json.dumps(payload, indent=1, sort_keys=True) + "\n")
    return out


def manifest_payload(*, stimulus_sets: list[StimulusSet], base_dir: Path | None) -> dict[str, Any]:
    classifiers = {s.scenario.classifier_id: s.scenario.classifier for s in stimulus_sets}
    described = [_classifier(c) for c in classifiers.values()]
    return {
        "stimulus_sets": [
            stimulus_set_manifest(stimulus_set=s, base_dir=base_dir) for s in stimulus_sets
        ],
        # One classifier is the usual case; "classifiers" lists them all when sets differ.
        "classifier": described[0] if len(described) == 1 else None,
        "classifiers": described,
        "versions": library_versions(),
    }


def stimulus_set_manifest(
    *, stimulus_set: StimulusSet, base_dir: Path | None = None
) -> dict[str, Any]:
    """One set's manifest entry; paths relative to ``base_dir`` (storage names when None)."""
    scenario = stimulus_set.scenario
    dataset_root = Path(scenario.dataset.path)
    trials = list(stimulus_set.trials.order_by("position").select_related("run"))
    return {
        "id": stimulus_set.pk,
        "scenario": scenario.name,
        "scenario_detail": {
            "id": scenario.pk,
            "dataset": scenario.dataset.name,
            "dataset_kind": scenario.dataset.kind,
            "dataset_seed": scenario.dataset.seed,
            "layer": scenario.layer,
            "input_size": scenario.input_size,
        },
        "classifier": _classifier(scenario.classifier),
        "reducer": stimulus_set.reducer,
        "seed": stimulus_set.seed,
        # Which sampling rule drew the trials (explainers.ice.stimuli); sets built before
        # it was recorded are "v1".
        "draw_rule": stimulus_set.draw_rule,
        "explainer_seed": stimulus_set.explainer_seed,
        "n_components": stimulus_set.n_components,
        "n_classes": stimulus_set.n_classes,
        "n_training": stimulus_set.n_training,
        "frozen_at": stimulus_set.frozen_at.isoformat() if stimulus_set.frozen_at else None,
        "classes": list(stimulus_set.classes),
        "trials": [_trial(t, base_dir, dataset_root) for t in trials],
        # Explainers whose solver stopped at max_iter: their concepts come from an early stop.
        "unconverged_explainer_runs": sorted(
            {t.run_id for t in trials if t.run.converged is False}
        ),
    }


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for package in _PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "unknown"
    return versions


def _classifier(classifier: Classifier) -> dict[str, Any]:
    return {
        "name": classifier.name,
        "arch": classifier.arch,
        "sha256": classifier.sha256,
        "weights": classifier.weights or None,
        "checkpoint": classifier.checkpoint or None,
    }


def _trial(trial, base_dir: Path | None, dataset_root: Path) -> dict[str, Any]:
    return {
        "position": trial.position,
        "phase": trial.phase,
        "class": trial.class_name,
        "image": {
            "path": _stored_path(trial.target_file, base_dir),
            "sha256": trial.target_file_sha256,
            "source": _source(
                trial.target_image, trial.target_image_sha256, base_dir, dataset_root
            ),
        },
        "target": trial.target_concept,
        "target_percentile": trial.target_percentile,
        "concept_weights": list(trial.concept_weights),
        "candidates": [
            {
                "concept": c["concept"],
                "weight": c["weight"],
                "prototypes": [
                    {
                        "path": _stored_path(p["file"], base_dir),
                        "sha256": p["file_sha256"],
                        "source": _source(p["image"], p["sha256"], base_dir, dataset_root),
                    }
                    for p in c["prototypes"]
                ],
            }
            for c in trial.candidates
        ],
        "explainer": {
            "run": trial.run_id,
            "reducer_file": trial.run.reducer_file,
            "reducer_sha256": trial.run.reducer_sha256,
            "converged": trial.run.converged,  # None: fitted before convergence was recorded
            "n_iter": trial.run.n_iter,
        },
    }


def _stored_path(name: str, base_dir: Path | None) -> str:
    if base_dir is None:
        return name
    try:
        return Path(os.path.relpath(default_storage.path(name), base_dir)).as_posix()
    except NotImplementedError:  # remote storage: the URL is the only address
        return default_storage.url(name)


def _source(relpath: str, sha256: str, base_dir: Path | None, dataset_root: Path) -> dict[str, str]:
    path = (
        relpath
        if base_dir is None
        else Path(os.path.relpath(dataset_root / relpath, base_dir)).as_posix()
    )
    return {"path": path, "sha256": sha256}
