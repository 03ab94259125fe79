"""The NMF convergence benchmark runs on activations saved as .npy and prints one JSON object."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np

SCRIPT = Path(__file__).resolve().parents[3] / "benchmarks" / "nmf_convergence.py"


def _script():
    spec = importlib.util.spec_from_file_location("nmf_convergence_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_it_compares_our_stopping_rule_with_a_converged_scikit_learn_fit(tmp_path, capsys):
    rng = np.random.default_rng(0)
    latent = rng.standard_normal((30 * 16, 4)) @ rng.standard_normal((4, 24))
    features = np.maximum(latent - 0.3, 0).astype(np.float32).reshape(30, 4, 4, 24)
    entry = tmp_path / "alien-0123"
    entry.mkdir()
    np.save(entry / "features.npy", features)
    out = tmp_path / "convergence.json"
    report = _script().main(
        [str(entry), "--components", "3", "--tols", "1e-4", "--trace", "40", "--out", str(out)]
    )
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(out.read_text()) == json.loads(json.dumps(report))
    result = printed["classes"]["alien-0123"]["results"]["3"]
    assert printed["classes"]["alien-0123"]["shape"] == [480, 24]
    (reference,) = result["sklearn_converged"]
    assert reference["tol"] == 1e-6 and reference["n_iter"] < 5000
    default, fast = result["ours"]
    assert default["params"] == "defaults" and fast["params"] == {"tol": 1e-4}
    assert default["converged"] and default["n_iter"] >= fast["n_iter"]
    # Each row's distance from the reference is what its errors say.
    for fit in (default, fast):
        assert fit["error_over_sklearn"] == fit["rel_error"] / reference["rel_error"] - 1
    errors = result["trace"]["rel_errors"]
    assert len(errors) == 40
    assert all(
        b <= a * (1 + 1e-6) for a, b in zip(errors, errors[1:], strict=False)
    )  # HALS descends
