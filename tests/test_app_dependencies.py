"""Dependencies between the apps point one way (DESIGN.md): jobs ← explainers ← studies ←
analysis. An app may use the ones to its left, never one to its right: so ``studies``
works without ``analysis`` and ``jobs`` without any of them. Imports inside functions
count too (a lazy import is still a dependency)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ORDER = ["jobs", "explainers", "studies", "analysis"]


def imported_apps(path: Path) -> set[tuple[str, int]]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found.update((name.split(".")[0], node.lineno) for name in names)
    return {(app, line) for app, line in found if app in ORDER}


@pytest.mark.parametrize("app", ORDER)
def test_an_app_imports_only_the_apps_before_it(app):
    allowed = set(ORDER[: ORDER.index(app) + 1])
    files = sorted((ROOT / app).rglob("*.py"))
    assert len(files) > 3  # the walk found the app
    wrong = [
        f"{path.relative_to(ROOT)}:{line} imports {imported}"
        for path in files
        for imported, line in imported_apps(path)
        if imported not in allowed
    ]
    assert not wrong, f"{app} may only import {sorted(allowed)}: " + "; ".join(sorted(wrong))


def test_the_check_sees_a_lazy_import(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from analysis.services import x\n", encoding="utf-8")
    assert imported_apps(module) == {("analysis", 2)}
