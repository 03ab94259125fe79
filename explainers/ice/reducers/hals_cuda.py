"""HALS passes on a GPU, replayed as CUDA graphs: one launch per pass instead of ~3·k.

A HALS pass (``hals.hals_sweep``) is k small row updates. Launched one kernel
at a time from Python, the NMF fit on a GPU is bound by launch latency, not
arithmetic: on an H200 an iteration at c' = 10 on 63,700 × 2,048 data took
~5 ms, almost all of it launching ~500 kernels of a few microseconds each. Here
each factor's pass is captured once as a CUDA graph over fixed buffers and then
replayed, with the products of each iteration copied into those buffers.

The row update is written for fewer kernels than the numpy one: with ``A`` and
``B`` scaled by ``1/B_jj`` once per pass, ``F_j ← max(0, F_j + A'_j - B'_j·F)`` is
one ``addmv`` (reading the old F, as HALS requires), one add and one clamp. A
component with ``B_jj = 0`` gets scale 0, so its row stays as it is (the numpy
pass skips it).
"""

from __future__ import annotations

import torch

from explainers.ice.reducers.hals import INNER_DELTA, repeat_passes


def scaled_sweep(F: torch.Tensor, A: torch.Tensor, B: torch.Tensor) -> None:
    """One HALS pass over the rows of ``F`` in place, with A and B pre-scaled rows.

    ``A`` (k, p) and ``B`` (k, k) are the pass's products with each row j divided
    by ``B_jj`` (0 for a dead component), as :meth:`HalsPasses._pass` makes them.
    """
    for j in range(F.shape[0]):
        step = torch.addmv(A[j], F.T, B[j], alpha=-1.0)  # A'_j - B'_j·F, before row j moves
        F[j].add_(step).clamp_(min=0)


class HalsPasses:
    """Repeated HALS passes over one factor ``F`` (a torch tensor), for a whole fit.

    ``run(A, B, max_sweeps)`` has the contract of ``hals.hals_sweeps``, with the
    same stopping rule (``hals.repeat_passes``). On a CUDA device the pass is captured as a graph at the
    second call and replayed from then on; where capture fails (an old driver, a
    memory limit), passes stay eager. ``use_graph=False`` forces eager passes
    (the same arithmetic on any device; the tests use it on the CPU).
    """

    def __init__(
        self, F: torch.Tensor, *, delta: float = INNER_DELTA, use_graph: bool | None = None
    ) -> None:
        self.F = F
        self.delta = delta
        self.use_graph = F.is_cuda if use_graph is None else use_graph
        self._A: torch.Tensor | None = None
        self._B: torch.Tensor | None = None
        self._before = torch.empty_like(F)
        self._change = torch.zeros((), dtype=F.dtype, device=F.device)
        self._graph: torch.cuda.CUDAGraph | None = None
        self._passes_run = 0

    def run(self, A: torch.Tensor, B: torch.Tensor, max_sweeps: int) -> int:
        if self._A is None or self._A.shape != A.shape:
            self._A, self._B, self._graph = A.clone(), B.clone(), None
        else:
            self._A.copy_(A)
            self._B.copy_(B)

        def one_pass(measure: bool) -> float | None:
            self._step()
            return float(self._change) if measure else None  # the one host sync of a pass

        return repeat_passes(one_pass, max_sweeps, self.delta)

    def _pass(self) -> None:
        diagonal = self._B.diagonal()
        scale = torch.where(diagonal > 0, 1.0 / diagonal, torch.zeros_like(diagonal))[:, None]
        self._before.copy_(self.F)
        scaled_sweep(self.F, self._A * scale, self._B * scale)
        self._change.copy_(torch.linalg.vector_norm(self.F - self._before))

    def _step(self) -> None:
        if self._graph is not None:
            self._graph.replay()
            return
        if not self.use_graph or self._passes_run == 0:
            # Eager; on a GPU the first pass also warms up cuBLAS on a side stream,
            # as capture requires.
            self._eager_pass()
            return
        try:
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                self._pass()
        except RuntimeError:
            self.use_graph = False  # keep working, just slower
            self._eager_pass()
            return
        self._graph = graph
        graph.replay()  # capture records the pass without running it

    def _eager_pass(self) -> None:
        if self.use_graph:
            side = torch.cuda.Stream(device=self.F.device)
            side.wait_stream(torch.cuda.current_stream(self.F.device))
            with torch.cuda.stream(side):
                self._pass()
            torch.cuda.current_stream(self.F.device).wait_stream(side)
        else:
            self._pass()
        self._passes_run += 1
