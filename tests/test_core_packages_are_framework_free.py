"""The core packages must import without Django (DESIGN.md: usable from a notebook with no settings)."""

import subprocess
import sys

import pytest

SCRIPT = """
import sys, importlib
import {package}
for name in {package}.__all__:
    getattr({package}, name)
leaked = sorted(m for m in sys.modules if m == "django" or m.startswith("django."))
print(",".join(leaked))
"""


@pytest.mark.parametrize("package", ["explainers.ice", "analysis.stats"])
def test_it_imports_without_django(package):
    # A fresh interpreter, so modules imported by other tests cannot hide a leak.
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(package=package)],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": ".", "PATH": ""},
    )
    assert result.stdout.strip() == "", f"{package} imported Django modules: {result.stdout}"
