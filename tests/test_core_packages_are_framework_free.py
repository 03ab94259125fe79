"""The core packages must import without Django (DESIGN.md: usable from a notebook with no settings)."""

import subprocess
import sys

import pytest

# Every module of the package, not only those its __all__ names: a helper module that no
# public name reaches yet would otherwise be free to import Django.
SCRIPT = """
import importlib, pkgutil, sys
import {package}
modules = [{package}.__name__]
for found in pkgutil.walk_packages({package}.__path__, prefix="{package}."):
    importlib.import_module(found.name)
    modules.append(found.name)
for name in getattr({package}, "__all__", []):
    getattr({package}, name)
leaked = sorted(m for m in sys.modules if m == "django" or m.startswith("django."))
print(",".join(leaked))
print(len(modules), file=sys.stderr)
"""


@pytest.mark.parametrize(("package", "at_least"), [("explainers.ice", 20), ("analysis.stats", 1)])
def test_it_imports_without_django(package, at_least):
    # A fresh interpreter, so modules imported by other tests cannot hide a leak.
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(package=package)],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": ".", "PATH": ""},
    )
    assert result.stdout.strip() == "", f"{package} imported Django modules: {result.stdout}"
    # The walk really reached the modules (a broken walk would pass vacuously).
    assert int(result.stderr.strip().splitlines()[-1]) >= at_least
