"""Batched fits over many c' equal the one-at-a-time fits (reducers/batched.py).

Tolerances. PCA: one eigendecomposition for every c', so the components equal
those of ``PCAReducer(svd_solver="covariance")`` to float32 rounding. NMF and
k-means: same start, same iterations, same stopping rule; the only difference
is that BLAS may sum a slice of a stacked product in another order (~1e-7
relative per product), which HALS can carry along over hundreds of iterations.
When an NMF fit's tol test sits on its boundary that difference can move the
stopping iteration by one (measured on 6 small classes: 4 fits of 18, with
reconstruction errors still equal to 1e-6). So: convergence equal, n_iter
within one, the reconstruction error equal to 1e-5 relative, and the components
to 2e-3 of their largest entry (measured: ≤ 5e-5 at equal n_iter, ≤ 1.4e-3 one
iteration apart). k-means, whose labels are discrete, must match exactly here.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from sklearn.exceptions import ConvergenceWarning

from explainers.ice.reducers import REDUCERS, make_reducer
from explainers.ice.reducers.batched import _FITTERS, fit_reducers

N_COMPONENTS = [2, 5, 10, 20]


@pytest.fixture(scope="module")
def activations() -> np.ndarray:
    """Non-negative low-rank data with noise, (3000, 128), like post-ReLU activations."""
    rng = np.random.default_rng(0)
    latent = rng.standard_normal((3000, 20)) @ rng.standard_normal((20, 128))
    noise = 0.01 * rng.random((3000, 128))
    return (np.maximum(latent, 0) + noise).astype(np.float32)


def one_at_a_time(name: str, X, **params) -> dict:
    return {
        k: make_reducer(name, k, random_state=0, device="cpu", **params).fit(X)
        for k in N_COMPONENTS
    }


def test_every_reducer_has_a_batched_fit():
    assert set(_FITTERS) == set(REDUCERS.values())


def test_pca_components_nest_so_one_decomposition_equals_each_fit(activations):
    batched = fit_reducers("pca", activations, N_COMPONENTS, random_state=0, device="cpu")
    single = one_at_a_time("pca", activations, svd_solver="covariance")
    assert list(batched) == N_COMPONENTS
    for k in N_COMPONENTS:
        b, s = batched[k], single[k]
        assert b.components_.shape == (k, 128)
        np.testing.assert_allclose(b.components_, s.components_, atol=1e-6)
        np.testing.assert_allclose(b.explained_variance_, s.explained_variance_, rtol=1e-6)
        np.testing.assert_allclose(b.mean_, s.mean_, rtol=1e-6)
        assert b.reconstruction_err_ == pytest.approx(s.reconstruction_err_, rel=1e-9)
        assert b.svd_solver == "covariance" and b.converged_ and b.n_iter_ == 0
        # An ordinary fitted reducer: transform works and agrees.
        np.testing.assert_allclose(
            b.transform(activations[:50]), s.transform(activations[:50]), atol=1e-4
        )


@pytest.mark.parametrize("name", ["nmf", "kmeans"])
def test_batched_iterative_fits_equal_one_at_a_time(name, activations):
    batched = fit_reducers(name, activations, N_COMPONENTS, random_state=0, device="cpu")
    single = one_at_a_time(name, activations)
    for k in N_COMPONENTS:
        b, s = batched[k], single[k]
        assert type(b) is type(s) and b.n_components == k and b.n_features_in_ == 128
        assert b.converged_ == s.converged_ and abs(b.n_iter_ - s.n_iter_) <= 1
        assert b.reconstruction_err_ == pytest.approx(s.reconstruction_err_, rel=1e-5)
        scale = np.abs(s.components_).max()
        np.testing.assert_allclose(b.components_, s.components_, atol=2e-3 * scale)
    if name == "kmeans":
        assert all(batched[k].n_iter_ == single[k].n_iter_ for k in N_COMPONENTS)
        assert all(np.array_equal(batched[k].labels_, single[k].labels_) for k in N_COMPONENTS)


def test_nmf_with_random_init_and_float64_equals_one_at_a_time(activations):
    X = activations[:800].astype(np.float64)
    params = {"init": "random", "max_iter": 60}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        batched = fit_reducers("nmf", X, [3, 6], random_state=1, device="cpu", **params)
        single = {
            k: make_reducer("nmf", k, random_state=1, device="cpu", **params).fit(X) for k in [3, 6]
        }
    for k in (3, 6):
        assert batched[k].components_.dtype == np.float64
        assert batched[k].n_iter_ == single[k].n_iter_
        np.testing.assert_allclose(batched[k].components_, single[k].components_, rtol=1e-9)


def test_a_converged_nmf_stops_while_the_others_go_on(activations):
    batched = fit_reducers("nmf", activations, N_COMPONENTS, random_state=0, device="cpu")
    iterations = {k: batched[k].n_iter_ for k in N_COMPONENTS}
    assert len(set(iterations.values())) > 1, iterations  # each kept its own stopping point


def test_unconverged_nmf_warns_and_says_so(activations):
    with pytest.warns(ConvergenceWarning, match="c'=5"):
        batched = fit_reducers("nmf", activations, [5], random_state=0, device="cpu", max_iter=3)
    assert batched[5].n_iter_ == 3 and not batched[5].converged_


def test_kmeans_with_several_inits_keeps_each_best_run(activations):
    X = activations[:600]
    batched = fit_reducers("kmeans", X, [3, 7], random_state=0, device="cpu", n_init=3)
    for k in (3, 7):
        single = make_reducer("kmeans", k, random_state=0, device="cpu", n_init=3).fit(X)
        assert batched[k].inertia_ == pytest.approx(single.inertia_, rel=1e-5)


def test_torch_backend_equals_numpy_backend(activations):
    X = torch.from_numpy(activations[:1000])
    numpy_fits = fit_reducers("nmf", X, [4, 8], random_state=0, device="cpu")
    torch_fits = fit_reducers("nmf", X, [4, 8], random_state=0, device="cpu", cpu_backend="torch")
    for k in (4, 8):
        assert torch_fits[k].n_iter_ == numpy_fits[k].n_iter_
        assert torch_fits[k].reconstruction_err_ == pytest.approx(
            numpy_fits[k].reconstruction_err_, rel=1e-4
        )


@pytest.mark.parametrize(
    ("name", "kwargs", "error", "match"),
    [
        ("svd", {}, ValueError, "Unknown reducer"),
        ("nmf", {"n_components": []}, ValueError, "n_components"),
        ("nmf", {"n_components": [0, 5]}, ValueError, "n_components"),
        ("pca", {"n_components": [5, 500]}, ValueError, "n_components=500 is too many"),
        ("nmf", {"random_state": "seed"}, TypeError, "random_state"),
        ("nmf", {"max_iter": 0}, ValueError, "max_iter"),
        ("pca", {"svd_solver": "randomized"}, ValueError, "exact covariance solver"),
    ],
)
def test_bad_settings_are_refused(activations, name, kwargs, error, match):
    settings = {"n_components": [2, 4], "random_state": 0, "device": "cpu", **kwargs}
    with pytest.raises(error, match=match):
        fit_reducers(name, activations[:100], **settings)


def test_negative_data_is_refused_for_nmf_naming_the_input():
    X = -np.ones((20, 4), dtype=np.float32)
    with pytest.raises(ValueError, match="class 7.*not non-negative"):
        fit_reducers("nmf", X, [2], random_state=0, device="cpu", input_name="class 7")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("name", ["nmf", "pca", "kmeans"])
def test_batched_fits_on_cuda_equal_one_at_a_time_on_cuda(name, activations):
    """On a GPU the NMF passes replay CUDA graphs bound to each c''s slice of the stack."""
    X = torch.from_numpy(activations).cuda()
    batched = fit_reducers(name, X, N_COMPONENTS, random_state=0, device="cuda")
    params = {"svd_solver": "covariance"} if name == "pca" else {}
    for k in N_COMPONENTS:
        single = make_reducer(name, k, random_state=0, device="cuda", **params).fit(X)
        assert batched[k].device_.type == "cuda" and batched[k].converged_ == single.converged_
        assert abs(batched[k].n_iter_ - single.n_iter_) <= 1
        assert batched[k].reconstruction_err_ == pytest.approx(single.reconstruction_err_, rel=1e-4)
