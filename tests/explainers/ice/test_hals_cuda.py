"""HALS passes for the GPU: the fewer-kernel row update and its CUDA-graph replay."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from explainers.ice.reducers.hals import hals_sweeps
from explainers.ice.reducers.hals_cuda import HalsPasses

DELTA = 0.1


def problem(seed: int, k: int = 6, p: int = 300, m: int = 40, dead: int | None = None):
    """A (k, p), B (k, k) and a start F for NNLS with components G (k, m); row ``dead`` of G is 0."""
    rng = np.random.default_rng(seed)
    G = np.abs(rng.standard_normal((k, m))).astype(np.float32)
    if dead is not None:
        G[dead] = 0
    Y = np.abs(rng.standard_normal((p, m))).astype(np.float32)
    F = np.abs(rng.standard_normal((k, p))).astype(np.float32)
    return G @ Y.T, G @ G.T, F


@pytest.mark.parametrize("max_sweeps", [1, 10])
@pytest.mark.parametrize("dead", [None, 2])
def test_eager_passes_match_the_numpy_passes(max_sweeps, dead):
    A, B, F = problem(0, dead=dead)
    expected = F.copy()
    expected_passes = hals_sweeps(expected, A, B, max_sweeps)
    factor = torch.from_numpy(F.copy())
    passes = HalsPasses(factor, delta=DELTA, use_graph=False)
    assert passes.run(torch.from_numpy(A), torch.from_numpy(B), max_sweeps) == expected_passes
    np.testing.assert_allclose(factor.numpy(), expected, rtol=1e-4, atol=1e-5)
    if dead is not None:  # nothing determines a dead component's row: it stays
        np.testing.assert_array_equal(factor.numpy()[dead], F[dead])


def test_eager_passes_keep_working_across_calls_with_new_products():
    A, B, F = problem(1)
    expected, factor = F.copy(), torch.from_numpy(F.copy())
    passes = HalsPasses(factor, delta=DELTA, use_graph=False)
    for seed in (1, 2, 3):
        A, B, _ = problem(seed)
        assert passes.run(torch.from_numpy(A), torch.from_numpy(B), 10) == hals_sweeps(
            expected, A, B, 10
        )
    np.testing.assert_allclose(factor.numpy(), expected, rtol=1e-4, atol=1e-5)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_graph_replay_equals_eager_passes_on_the_gpu():
    _, _, F = problem(1, k=12, p=5000, m=64)
    graphed_factor, eager_factor = (torch.from_numpy(F.copy()).cuda() for _ in range(2))
    graphed = HalsPasses(graphed_factor, delta=DELTA)
    eager = HalsPasses(eager_factor, delta=DELTA, use_graph=False)
    for seed in (1, 2, 3, 4):
        A, B, _ = problem(seed, k=12, p=5000, m=64)
        A, B = torch.from_numpy(A).cuda(), torch.from_numpy(B).cuda()
        assert graphed.run(A, B, 10) == eager.run(A, B, 10)
    assert graphed._graph is not None, "the pass was not captured"
    torch.testing.assert_close(graphed_factor, eager_factor, rtol=1e-5, atol=1e-5)
