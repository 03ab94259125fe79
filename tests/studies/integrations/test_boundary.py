"""Only studies/integrations talks to the platforms: no boto3 or HTTP client anywhere else."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
APPS = ["config", "icelab", "jobs", "explainers", "studies", "analysis"]
PLATFORM_MODULES = ("boto3", "botocore", "requests", "urllib.request", "http.client", "httpx")
ALLOWED = ROOT / "studies" / "integrations"
# Simulated participants speak HTTP to ICE Lab's own pages, never to a platform.
OWN_SERVER_CLIENTS = {ROOT / "studies" / "services" / "bots.py"}


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _talks_to_a_platform(name: str) -> bool:
    return any(name == module or name.startswith(module + ".") for module in PLATFORM_MODULES)


def test_no_module_outside_the_integrations_imports_a_platform_client():
    offenders = []
    for app in APPS:
        for path in (ROOT / app).rglob("*.py") if (ROOT / app).is_dir() else []:
            if ALLOWED in path.parents or path in OWN_SERVER_CLIENTS:
                continue
            found = sorted(name for name in _imports(path) if _talks_to_a_platform(name))
            if found:
                offenders.append(f"{path.relative_to(ROOT)}: {', '.join(found)}")
    assert not offenders, "call studies.integrations instead:\n" + "\n".join(offenders)


def test_the_check_sees_the_integrations_own_imports():
    # The control: the scan does find the clients where they belong.
    found = {name for path in ALLOWED.glob("*.py") for name in _imports(path)}
    assert {"boto3", "botocore.exceptions", "urllib.request"} <= found
