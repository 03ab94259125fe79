"""The class-by-class sweep engine: equal to one-at-a-time fits, resumable, file-safe.

The reference is the sweep as it was before the engine: for every (reducer, c',
class) one reducer fitted on its own (``make_reducer(...).fit``), F̂_g computed
on every test image, and ``fidelity_scores`` on the full matrix. PCA must agree
exactly (same covariance solver for 24 features); NMF and k-means, whose batched
fits differ from single fits by float rounding (test_batched_reducers.py), must
give Fid_c and accuracy within one image and Fid_r to 1e-3 relative (an NMF fit
may stop an iteration apart from its single twin; see the test).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from explainers.ice import sweep_engine
from explainers.ice.explainer import approximate_logits
from explainers.ice.features import LinearHead
from explainers.ice.fidelity import fidelity_scores, fidelity_sweep
from explainers.ice.reducers import make_reducer
from explainers.ice.sweep_engine import (
    ClassResult,
    CorruptResultError,
    SweepTestSet,
    combine,
    load_results,
    result_path,
    run_sweep,
    sweep_class,
)

CLASSES = [0, 1, 2, 4, 5, 7]  # swept classes of an 8-class model
N_COMPONENTS = [2, 4, 8]
TIMING_COLUMNS = ["fit_seconds", "eval_seconds"]


@pytest.fixture(scope="module")
def case():
    """A linear head over 24 channels and post-ReLU-like activations (n, 3, 3, 24) per class."""
    generator = torch.Generator().manual_seed(0)
    head = LinearHead(torch.randn(24, 8, generator=generator), torch.randn(8, generator=generator))
    means = torch.rand(8, 24, generator=generator) * 2

    def images(g: int, n: int) -> torch.Tensor:
        noise = torch.randn(n, 3, 3, 24, generator=generator)
        return torch.relu(means[g] + noise)

    train = {g: images(g, 6) for g in CLASSES}
    test = {g: images(g, 5) for g in CLASSES}
    return head, train, test


def reference_table(head, train, test, name: str) -> list[dict]:
    """The pre-engine sweep: one reducer per (c', class), F̂ on every test image."""
    rows = torch.cat([test[g] for g in CLASSES])
    labels = np.concatenate([np.full(len(test[g]), c) for c, g in enumerate(CLASSES)])
    logits = head(rows)[:, CLASSES].numpy()
    table = []
    for k in N_COMPONENTS:
        columns = []
        for g in CLASSES:
            reducer = make_reducer(name, k, random_state=0, device="cpu")
            reducer.fit(train[g].reshape(-1, 24))
            values = approximate_logits(head, reducer, rows, classes=torch.tensor([g]))
            columns.append(values[:, 0].numpy())
        scores = fidelity_scores(logits, np.stack(columns, axis=1), labels)
        table.append({key: scores[key] for key in ("fid_c", "accuracy", "fid_r")})
    return table


def sweep(head, train, test, **kwargs):
    settings = {"reducers": ["nmf", "pca"], "n_components": N_COMPONENTS, "device": "cpu"}
    return fidelity_sweep(head, train, test, **{**settings, **kwargs})


@pytest.mark.parametrize("name", ["pca", "nmf", "kmeans"])
def test_engine_equals_the_one_at_a_time_sweep(case, name):
    head, train, test = case
    table = sweep(head, train, test, reducers=[name]).table
    reference = reference_table(head, train, test, name)
    for row, expected in zip(table.itertuples(), reference, strict=True):
        if name == "pca":
            assert (row.fid_c, row.accuracy) == (expected["fid_c"], expected["accuracy"])
            assert row.fid_r == pytest.approx(expected["fid_r"], rel=1e-6)
        else:
            # An NMF fit may stop one iteration earlier or later when its tol test
            # sits on the boundary (measured here: 4 of 18 fits, errors equal to 1e-6),
            # so F̂ moves by ~1e-4 and a near-tied prediction could flip: one image at most.
            one_image = 1 / row.n_test_images
            assert abs(row.fid_c - expected["fid_c"]) <= one_image + 1e-12
            assert abs(row.accuracy - expected["accuracy"]) <= one_image + 1e-12
            assert row.fid_r == pytest.approx(expected["fid_r"], rel=1e-3)


def test_results_are_files_a_worker_can_write_and_a_parent_combine(case, tmp_path):
    """The process split: a saved test set, one sweep_class per class, then combine."""
    head, train, test = case
    built = SweepTestSet.build(head, test, CLASSES)
    built.save(tmp_path / "test-set.npz")
    loaded = SweepTestSet.load(tmp_path / "test-set.npz")
    assert loaded.fingerprint == built.fingerprint
    assert isinstance(loaded.parts[0], np.memmap)  # a worker reads only its rows
    rows = built.needed[2]
    np.testing.assert_array_equal(loaded.gather(rows).numpy(), built.gather(rows).numpy())
    settings = {"reducers": ["nmf", "pca"], "n_components": N_COMPONENTS, "device": "cpu"}
    for g in CLASSES:  # as separate workers would, each from the file
        sweep_class(head, loaded, g, train[g], **settings).save(result_path(tmp_path, g))
    combined = combine(built, load_results(tmp_path, CLASSES))
    direct = sweep(head, train, test)
    assert combined.table.drop(columns=TIMING_COLUMNS).equals(
        direct.table.drop(columns=TIMING_COLUMNS)
    )
    assert combined.per_class.equals(direct.per_class)


WORKER = textwrap.dedent(
    """
    import sys
    import numpy as np
    import torch
    from explainers.ice.features import LinearHead
    from explainers.ice.sweep_engine import SweepTestSet, result_path, sweep_class

    folder, g = sys.argv[1], int(sys.argv[2])
    weights = torch.load(f"{folder}/head.pt")
    head = LinearHead(weights["weight"], weights["bias"])
    test_set = SweepTestSet.load(f"{folder}/test-set.npz")
    activations = np.load(f"{folder}/train-{g}.npy", mmap_mode="r")
    result = sweep_class(
        head, test_set, g, activations, reducers=["nmf"], n_components=[2, 4], device="cpu"
    )
    result.save(result_path(f"{folder}/results", g))
    """
)


def test_a_worker_process_needs_only_the_files(case, tmp_path):
    """What a Celery task would do: head, test-set file, its class's activations, settings."""
    head, train, test = case
    test_set = SweepTestSet.build(head, test, CLASSES)
    test_set.save(tmp_path / "test-set.npz")
    torch.save({"weight": head.weight, "bias": head.bias}, tmp_path / "head.pt")
    np.save(tmp_path / "train-4.npy", train[4].numpy())
    root = Path(__file__).resolve().parents[3]
    worker = subprocess.run(
        [sys.executable, "-c", WORKER, str(tmp_path), "4"],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert worker.returncode == 0, worker.stderr[-2000:]
    from_worker = ClassResult.load(result_path(tmp_path / "results", 4))
    here = sweep_class(
        head, test_set, 4, train[4], reducers=["nmf"], n_components=[2, 4], device="cpu"
    )
    assert from_worker.test_set == test_set.fingerprint and from_worker.entries == here.entries
    np.testing.assert_allclose(from_worker.values, here.values, rtol=1e-5)


def test_a_killed_sweep_resumes_without_refitting_done_classes(case, tmp_path, monkeypatch):
    head, train, test = case
    test_set = SweepTestSet.build(head, test, CLASSES)
    settings = {"reducers": ["nmf", "kmeans"], "n_components": N_COMPONENTS, "device": "cpu"}
    run_sweep(head, test_set, train, results_dir=tmp_path, classes=CLASSES[:3], **settings)
    done = {g: os.stat(result_path(tmp_path, g)).st_mtime_ns for g in CLASSES[:3]}
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"class-0000{g}.npz" for g in CLASSES[:3]]

    fitted = []
    original = sweep_engine.sweep_class
    monkeypatch.setattr(
        sweep_engine,
        "sweep_class",
        lambda h, t, g, *a, **k: fitted.append(g) or original(h, t, g, *a, **k),
    )
    calls = []
    results = run_sweep(
        head,
        test_set,
        train,
        results_dir=tmp_path,
        progress=lambda f, s: calls.append(s),
        **settings,
    )
    assert fitted == CLASSES[3:]  # the first three were read back, not refitted
    assert {g: os.stat(result_path(tmp_path, g)).st_mtime_ns for g in CLASSES[:3]} == done
    assert calls[-1] == "explainers fitted and scored 36/36"
    resumed = combine(test_set, results).table
    fresh = sweep(head, train, test, reducers=["nmf", "kmeans"]).table
    assert resumed.drop(columns=TIMING_COLUMNS).equals(fresh.drop(columns=TIMING_COLUMNS))


def test_fidelity_sweep_with_a_results_dir_fits_nothing_the_second_time(
    case, tmp_path, monkeypatch
):
    head, train, test = case
    first = sweep(head, train, test, results_dir=tmp_path)
    monkeypatch.setattr(sweep_engine, "sweep_class", lambda *a, **k: pytest.fail("refitted"))
    again = sweep(head, train, test, results_dir=tmp_path)
    assert again.table.equals(first.table)  # timings too: they are the stored ones


def test_a_truncated_result_is_refused_by_load_and_refitted_by_run_sweep(case, tmp_path):
    head, train, test = case
    test_set = SweepTestSet.build(head, test, CLASSES)
    settings = {"reducers": ["pca"], "n_components": N_COMPONENTS, "device": "cpu"}
    good = run_sweep(head, test_set, train, results_dir=tmp_path, **settings)
    path = result_path(tmp_path, 4)
    path.write_bytes(path.read_bytes()[:100])  # cut short outside our code
    with pytest.raises(CorruptResultError, match=r"class-00004\.npz is not a readable"):
        ClassResult.load(path)
    with pytest.warns(RuntimeWarning, match="Fitting the class again"):
        redone = run_sweep(head, test_set, train, results_dir=tmp_path, **settings)
    np.testing.assert_array_equal(redone[4].values, good[4].values)
    ClassResult.load(path)  # whole again


def test_a_result_of_another_sweep_is_an_error_not_reused(case, tmp_path):
    head, train, test = case
    test_set = SweepTestSet.build(head, test, CLASSES)
    run_sweep(
        head,
        test_set,
        train,
        results_dir=tmp_path,
        classes=[0],
        reducers=["pca"],
        n_components=[2],
        device="cpu",
    )
    with pytest.raises(ValueError, match="another sweep.*empty results_dir"):
        run_sweep(
            head,
            test_set,
            train,
            results_dir=tmp_path,
            reducers=["pca"],
            n_components=[3],
            device="cpu",
        )
    other = SweepTestSet.build(head, {g: test[g][:3] for g in CLASSES}, CLASSES)
    with pytest.raises(ValueError, match="another sweep"):
        run_sweep(
            head,
            other,
            train,
            results_dir=tmp_path,
            reducers=["pca"],
            n_components=[2],
            device="cpu",
        )


def test_train_features_can_be_loaded_lazily_one_class_at_a_time(case):
    head, train, test = case
    test_set = SweepTestSet.build(head, test, CLASSES)
    loaded = []
    lazy = {g: (lambda g=g: loaded.append(g) or train[g]) for g in CLASSES}
    settings = {"reducers": ["pca"], "n_components": [2], "device": "cpu"}
    lazy_results = run_sweep(head, test_set, lazy, **settings)
    assert loaded == CLASSES
    eager = run_sweep(head, test_set, train, **settings)
    for g in CLASSES:
        np.testing.assert_array_equal(lazy_results[g].values, eager[g].values)


def test_meta_caption_and_json_sidecar_record_the_run(case, tmp_path):
    head, train, test = case
    result = sweep(head, train, test, reducers=["pca"])
    meta = result.settings["meta"]
    assert meta["versions"]["torch"] == torch.__version__ and meta["device"] == "cpu"
    assert set(meta["versions"]) >= {"torch", "torchvision", "sklearn", "numpy"}
    assert meta["timings"]["total_seconds"] >= meta["timings"]["fit_seconds"] > 0
    caption = result.caption()
    assert "6 classes, 30 test images, c' = 2..8 (3 values)" in caption and "torch " in caption
    figure = result.figure()
    assert caption in [text.get_text() for text in figure.texts]
    written = json.loads(result.write_json(tmp_path / "figure3.json").read_text())
    assert written["caption"] == caption and len(written["table"]) == 3
    assert written["settings"]["meta"]["versions"]["sklearn"] == meta["versions"]["sklearn"]


# ------------------------------------------------------------------ bad input
def test_sweep_class_refuses_bad_input_clearly(case):
    head, train, test = case
    test_set = SweepTestSet.build(head, test, CLASSES)
    settings = {"reducers": ["pca"], "n_components": [2], "device": "cpu"}
    with pytest.raises(ValueError, match=r"class_index=3 is not one of this test set's 6"):
        sweep_class(head, test_set, 3, train[0], **settings)
    with pytest.raises(ValueError, match="train_activations of class 1 is empty"):
        sweep_class(head, test_set, 1, torch.zeros(0, 3, 3, 24), **settings)
    with pytest.raises(ValueError, match=r"shape \(h, w, c\) = \(3, 3, 12\)"):
        sweep_class(head, test_set, 1, torch.ones(2, 3, 3, 12), **settings)
    with pytest.raises(ValueError, match="fitting pca with \\[60\\] components on class 1"):
        sweep_class(head, test_set, 1, train[1], reducers=["pca"], n_components=[60], device="cpu")
    with pytest.raises(ValueError, match="choose one or more of"):
        sweep_class(head, test_set, 1, train[1], reducers=["svd"], n_components=[2])


def test_run_sweep_and_combine_refuse_missing_classes(case):
    head, train, test = case
    test_set = SweepTestSet.build(head, test, CLASSES)
    settings = {"reducers": ["pca"], "n_components": [2], "device": "cpu"}
    with pytest.raises(ValueError, match=r"no activations for classes \[7\]"):
        run_sweep(head, test_set, {g: train[g] for g in CLASSES[:-1]}, **settings)
    partial = run_sweep(head, test_set, train, classes=CLASSES[:2], **settings)
    with pytest.raises(ValueError, match=r"no result for classes \[2, 4, 5, 7\] \(4 of 6\)"):
        combine(test_set, partial)


def test_test_set_files_missing_or_damaged_are_clear_errors(case, tmp_path):
    head, _, test = case
    path = SweepTestSet.build(head, test, CLASSES).save(tmp_path / "test-set.npz")
    activations = tmp_path / "test-set.activations.npy"
    activations.rename(tmp_path / "elsewhere.npy")
    with pytest.raises(FileNotFoundError, match="activations.npy is missing"):
        SweepTestSet.load(path)
    (tmp_path / "elsewhere.npy").rename(activations)
    path.write_bytes(b"not a zip")
    with pytest.raises(CorruptResultError, match="not a readable sweep test set"):
        SweepTestSet.load(path)
    with pytest.raises(ValueError, match=r"classes \[3\] without training"):
        SweepTestSet.build(head, {3: test[0]}, CLASSES)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match=r"test_features\[0\] is empty"):
            SweepTestSet.build(head, {0: torch.zeros(0, 3, 3, 24)}, CLASSES)
