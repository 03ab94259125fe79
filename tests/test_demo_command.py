"""`manage.py demo --no-serve --json`: the whole job on the embedded default, as `make demo` runs it."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_demo_runs_end_to_end_and_prints_one_json_object(tmp_path):
    env = {
        "PATH": "/usr/bin:/bin",
        "ICELAB_HOME": str(tmp_path),
        "HOME": str(tmp_path),
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "demo", "--no-serve", "--json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=3000,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout)
    assert Path(summary["dataset_dir"], "metadata.json").exists()
    assert Path(summary["classifier"]).exists()
    assert summary["test_accuracy"] >= 0.95
    core = summary["core"]
    assert core["concept_map_size"][0] >= 6
    assert core["explanation"]["max_abs_error"] < 1e-3
    assert {row["reducer"] for row in core["fidelity"]["rows"]} == {"nmf", "pca", "kmeans"}
    assert sorted(s["reducer"] for s in summary["stimulus_sets"]) == ["kmeans", "nmf", "pca"]
    assert all(s["trials"] == 20 for s in summary["stimulus_sets"])
    manifest = json.loads(Path(summary["manifest"]).read_text())
    assert len(manifest["stimulus_sets"]) == 3
    assert summary["study"] == "demo" and summary["participant_url"].endswith("/s/demo/")
    assert "/admin/" in summary["admin_url"]
    assert Path(summary["report_dir"], "table1.md").exists()
    assert "Admin login: user admin, password" in result.stderr
