"""The feature benchmark runs end to end and reports what docs/PERFORMANCE.md quotes."""

import importlib.util
from pathlib import Path

import pytest

BENCHMARK = Path(__file__).resolve().parents[3] / "benchmarks" / "features.py"


@pytest.mark.slow
def test_it_prints_throughput_and_end_to_end_timings(capsys):
    spec = importlib.util.spec_from_file_location("features_benchmark", BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    result = module.main(["--quick", "--device", "cpu"])
    assert [row["arch"] for row in result["throughput"]] == ["resnet18", "resnet50"]
    assert all(row["images_per_s"] > 0 for row in result["throughput"])
    assert result["throughput"][1]["feature_shape"] == [7, 7, 2048]
    end_to_end = result["explainer_end_to_end"]
    assert end_to_end["feature_shape"] == [12, 12, 128]
    assert set(end_to_end) >= {"cold", "warm", "images"} and end_to_end["images"] == 12
    assert '"benchmark": "features"' in capsys.readouterr().out
