"""The sweep benchmark runs end to end and reports what docs/PERFORMANCE.md quotes."""

import importlib.util
import json
from pathlib import Path

import pytest

BENCHMARK = Path(__file__).resolve().parents[3] / "benchmarks" / "sweep.py"


@pytest.mark.slow
def test_it_times_each_stage_and_projects_to_1000_classes(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("sweep_benchmark", BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path / "sweep.json"
    argv = ["--device", "cpu", "--classes", "2", "--train-images", "2", "--test-images", "1"]
    result = module.main([*argv, "--components", "3,6", "--out", str(out)])
    first, second = result["per_class"]
    assert set(first["fit_seconds"]) == {"nmf", "pca", "kmeans"}
    assert first["decode_seconds"] > 0 and first["features_seconds"] > 0
    assert "nmf_one_at_a_time_seconds" in first and "nmf_one_at_a_time_seconds" not in second
    assert first["nmf_single_vs_batched_max_rel_error_difference"] < 1e-3
    assert result["settings"]["rows_per_class_fit"] == 2 * 49  # ResNet50 layer4 is 7×7
    assert [(row["reducer"], row["n_components"]) for row in result["metrics"]] == [
        (name, k) for name in ("nmf", "pca", "kmeans") for k in (3, 6)
    ]
    assert result["projection_1000_classes"]["total_seconds"] > 0
    assert json.loads(out.read_text()) == json.loads(json.dumps(result))
    assert "projected 1,000 classes" in capsys.readouterr().out
