"""Fitted reducers survive the trip to disk: the restored one transforms exactly like the original."""

import numpy as np
import pytest

from explainers.ice.reducer_files import reducer_load, reducer_save
from explainers.ice.reducers import make_reducer


@pytest.mark.parametrize("name", ["nmf", "pca", "kmeans"])
def test_a_saved_reducer_restores_identically(tmp_path, name):
    data = np.abs(np.random.default_rng(0).normal(size=(300, 16))).astype(np.float32)
    fitted = make_reducer(name, 4, random_state=0, device="cpu").fit(data)
    digest = reducer_save(fitted, name, tmp_path / "r.npz")
    assert len(digest) == 64
    restored = reducer_load(tmp_path / "r.npz", device="cpu")
    assert type(restored) is type(fitted)
    np.testing.assert_array_equal(restored.components_, fitted.components_)
    np.testing.assert_array_equal(restored.transform(data), fitted.transform(data))
    assert not list(tmp_path.glob(".*.tmp"))  # written atomically


def test_the_file_holds_no_pickle(tmp_path):
    fitted = make_reducer("pca", 2, random_state=0, device="cpu").fit(np.eye(8, dtype=np.float32))
    reducer_save(fitted, "pca", tmp_path / "r.npz")
    with np.load(tmp_path / "r.npz", allow_pickle=False) as stored:
        assert {"components_", "mean_"} <= set(stored.files)
