"""The reducer benchmark runs end to end in its --quick mode and prints one JSON object."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[3] / "benchmarks" / "reducers.py"


@pytest.fixture(scope="module")
def benchmark():
    spec = importlib.util.spec_from_file_location("reducers_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_quick_run_prints_one_json_object_and_writes_it(benchmark, tmp_path, capsys):
    out = tmp_path / "reducers.json"
    report = benchmark.main(["--quick", "--device", "cpu", "--out", str(out)])
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(out.read_text()) == json.loads(json.dumps(report))
    assert printed["machine"]["device"] == "cpu" and printed["quick"] is True
    result = printed["results"]["5"]
    for name in ("nmf", "pca", "kmeans"):
        assert result[name]["time_ratio_ours_over_sklearn"] > 0
        assert 0 < result[name]["ours"]["rel_error"] < 1
    assert result["nmf"]["transform"]["speedup_sklearn_over_ours"] > 0
    # The converged reference and our default fit's distance from it.
    nmf = result["nmf"]
    assert nmf["ours"]["converged"] is True
    assert nmf["sklearn_converged"]["params"] == {"tol": 1e-6, "max_iter": 5000}
    assert nmf["sklearn_converged"]["rel_error"] <= nmf["sklearn"]["rel_error"] * (1 + 1e-6)
    assert nmf["ours_fast"]["params"] == {"tol": 1e-4}
    assert set(nmf["to_converged_error"]) >= {"reached", "target_rel_error"}
    # Both solve the same NNLS problem with the same components.
    assert (
        result["nmf"]["transform"]["ours_rel_error"]
        <= 1.001 * result["nmf"]["transform"]["sklearn_rel_error"]
    )
    assert (
        result["nmf"]["transform"]["exact"]["rel_error"]
        <= 1.001 * result["nmf"]["transform"]["sklearn_rel_error"]
    )


def test_synthetic_activations_look_like_post_relu_maps(benchmark):
    V = benchmark.synthetic_activations(20, channels=256, seed=3)
    assert V.shape == (20 * 49, 256) and V.dtype == np.float32
    assert V.min() == 0 and 0.65 <= np.mean(V == 0) <= 0.85
    assert V.mean() == pytest.approx(0.5, rel=1e-3)
    positive = V[V > 0]
    assert np.percentile(positive, 99.9) > 10 * np.median(positive)  # heavy-tailed
    np.testing.assert_array_equal(V, benchmark.synthetic_activations(20, channels=256, seed=3))
