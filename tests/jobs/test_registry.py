"""Apps register their job kinds and routes; the jobs app itself imports no other app."""

import ast
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from jobs import registry

ROOT = Path(__file__).resolve().parents[2]
APPS = {"explainers", "studies", "analysis", "icelab"}


def test_each_app_registers_its_kinds_with_their_queue(settings):
    settings.ICELAB_GPU_QUEUE = "gpu-h200"
    assert registry.job_kind("fit_explainers").queue == "gpu-h200"
    assert registry.job_kind("build_stimulus_set").route == registry.GPU
    assert registry.job_kind("ping").queue == settings.CELERY_TASK_DEFAULT_QUEUE


def test_a_kind_cannot_be_registered_twice_with_another_handler():
    with pytest.raises(ImproperlyConfigured, match="registered twice"):
        registry.register("ping", lambda params, progress: {})


def test_an_unknown_queue_is_refused():
    with pytest.raises(ImproperlyConfigured, match="queue='fast'"):
        registry.register("new_kind", lambda params, progress: {}, queue="fast")


def test_the_jobs_app_imports_no_other_app():
    imported = set()
    for path in (ROOT / "jobs").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                imported.add(node.module.split(".")[0])
            elif isinstance(node, ast.Import):
                imported.update(alias.name.split(".")[0] for alias in node.names)
    assert not imported & (APPS - {"icelab"}), imported & APPS
    # icelab.errors is a leaf module (it imports no app), the one error type every app shares.
    errors = ast.parse((ROOT / "icelab" / "errors.py").read_text())
    modules = {n.module for n in ast.walk(errors) if isinstance(n, ast.ImportFrom)}
    assert all(m.split(".")[0] not in APPS for m in modules if m)
