"""The reducers keep scikit-learn's estimator contract: its own checks, pipelines, search, pickle."""

from __future__ import annotations

import functools
import pickle
from collections.abc import Iterator

import numpy as np
import pandas
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import make_blobs
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, MinMaxScaler, StandardScaler
from sklearn.utils import get_tags
from sklearn.utils.estimator_checks import estimator_checks_generator

from explainers.ice.reducers import (
    EXPECTED_FAILED_CHECKS,
    REDUCERS,
    ConceptReducer,
    make_reducer,
)

NAMES = list(REDUCERS)


def contract_cases() -> list:
    """(reducer, check) pairs of scikit-learn's suite, listed failures marked xfail (strict)."""
    cases = []
    for name in NAMES:
        # The torch backend is the code path CUDA runs, so the checks cover it on the CPU.
        for backend in ("numpy", "torch"):
            # Two components fit every data set of the checks (some have 2 features; the
            # default 10 is refused there, as scikit-learn runs TruncatedSVD with 1).
            reducer = make_reducer(name, 2, random_state=0, device="cpu", cpu_backend=backend)
            cases += estimator_checks_generator(
                reducer,
                expected_failed_checks=EXPECTED_FAILED_CHECKS[name],
                mark="xfail",
                xfail_strict=True,
            )
    return cases


def case_id(value: object) -> str:
    if isinstance(value, ConceptReducer):
        return f"{type(value).__name__}-{value.cpu_backend}"
    check = value.func if isinstance(value, functools.partial) else value
    return check.__name__ + "".join(f"-{k}={v}" for k, v in getattr(value, "keywords", {}).items())


@pytest.fixture(scope="module")
def one_torch_thread() -> Iterator[None]:
    # The checks fit tiny matrices hundreds of times; on a busy machine each torch
    # operation then waits for its pool's descheduled threads (see _arrays).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("reducer, check", contract_cases(), ids=case_id)
def test_it_passes_scikit_learns_estimator_checks(reducer, check, one_torch_thread):
    check(reducer)


def test_every_expected_failure_is_explained():
    assert set(EXPECTED_FAILED_CHECKS) == set(REDUCERS)
    for checks in EXPECTED_FAILED_CHECKS.values():
        assert all(name.startswith("check_") and reason.strip() for name, reason in checks.items())


@pytest.mark.parametrize("name", NAMES)
def test_tags_say_what_the_reducer_accepts_and_returns(name):
    tags = get_tags(make_reducer(name, 2))
    assert tags.input_tags.positive_only is (name == "nmf")
    assert tags.input_tags.sparse is False
    assert tags.transformer_tags.preserves_dtype == ["float64", "float32"]


# ------------------------------------------------------------ in a pipeline


@pytest.fixture(scope="module")
def signed_data() -> np.ndarray:
    """(300, 12) float64 with negative values and 4 clusters: raw input for a pipeline."""
    X, _ = make_blobs(n_samples=300, n_features=12, centers=4, cluster_std=1.5, random_state=0)
    return X


# What goes in front: NMF needs non-negative data, which MinMaxScaler gives (clip:
# also for held-out rows beyond the training range).
FRONTS = {
    "nmf": lambda: MinMaxScaler(clip=True),
    "pca": lambda: StandardScaler(),
    "kmeans": lambda: FunctionTransformer(np.tanh),
}


def pipeline(name: str, n_components: int = 3) -> Pipeline:
    reducer = make_reducer(name, n_components, random_state=0, device="cpu")
    return Pipeline([("front", FRONTS[name]()), ("reducer", reducer)])


def reconstruction_score(fitted: Pipeline, X: np.ndarray, y: object = None) -> float:
    """Minus the reducer's reconstruction error on X as it reaches the reducer (higher is better)."""
    Z = fitted[:-1].transform(X)
    reducer = fitted[-1]
    return -float(np.linalg.norm(Z - reducer.inverse_transform(reducer.transform(Z))))


@pytest.mark.parametrize("name", NAMES)
def test_it_works_in_a_pipeline_behind_a_scaler(name, signed_data):
    pipe = pipeline(name).fit(signed_data)
    front = pipe.named_steps["front"]
    on_its_own = make_reducer(name, 3, random_state=0, device="cpu").fit(
        front.transform(signed_data)
    )
    np.testing.assert_array_equal(pipe.named_steps["reducer"].components_, on_its_own.components_)
    np.testing.assert_array_equal(
        pipe.transform(signed_data), on_its_own.transform(front.transform(signed_data))
    )
    if name == "nmf":
        with pytest.raises(ValueError, match="Negative values in data"):
            make_reducer(name, 3, device="cpu").fit(signed_data)  # why the scaler is there


@pytest.mark.parametrize("name", NAMES)
def test_a_cloned_pipeline_is_unfitted_and_fits_the_same(name, signed_data):
    fitted = pipeline(name).fit(signed_data)
    copy = clone(fitted)
    assert not hasattr(copy.named_steps["reducer"], "components_")
    assert copy.get_params()["reducer__random_state"] == 0
    np.testing.assert_array_equal(
        copy.fit(signed_data).transform(signed_data), fitted.transform(signed_data)
    )


@pytest.mark.parametrize("name", NAMES)
def test_a_pickled_pipeline_transforms_as_before(name, signed_data):
    fitted = pipeline(name).fit(signed_data)
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(restored.transform(signed_data), fitted.transform(signed_data))
    np.testing.assert_array_equal(
        restored.named_steps["reducer"].components_, fitted.named_steps["reducer"].components_
    )


@pytest.mark.parametrize("name", NAMES)
def test_pandas_output_names_the_concepts(name, signed_data):
    frame = pandas.DataFrame(signed_data, columns=[f"channel{j}" for j in range(12)])
    out = pipeline(name).set_output(transform="pandas").fit(frame).transform(frame)
    prefix = type(REDUCERS[name]()).__name__.lower()
    assert isinstance(out, pandas.DataFrame)
    assert list(out.columns) == [f"{prefix}{k}" for k in range(3)]


@pytest.mark.parametrize("name", NAMES)
def test_grid_search_over_n_components_scores_each_candidate(name, signed_data):
    folds = KFold(3, shuffle=True, random_state=0)
    search = GridSearchCV(
        pipeline(name),
        {"reducer__n_components": [1, 2, 4, 8]},
        scoring=reconstruction_score,
        cv=folds,
    ).fit(signed_data)
    # Each candidate's score, recomputed by hand on the same folds.
    for k, score in zip(
        search.cv_results_["param_reducer__n_components"],
        search.cv_results_["mean_test_score"],
        strict=True,
    ):
        by_hand = [
            reconstruction_score(pipeline(name, int(k)).fit(signed_data[train]), signed_data[test])
            for train, test in folds.split(signed_data)
        ]
        assert score == pytest.approx(np.mean(by_hand), rel=1e-6)
    best = search.best_estimator_.named_steps["reducer"]
    assert best.components_.shape == (search.best_params_["reducer__n_components"], 12)
    if name == "pca":
        # Principal subspaces are nested: more components never reconstruct held-out data worse.
        assert np.all(np.diff(search.cv_results_["mean_test_score"]) >= 0)
        assert search.best_params_ == {"reducer__n_components": 8}
