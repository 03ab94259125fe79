"""k-means concept reducer (the ACE baseline): S is the one-hot of the nearest centroid."""

from __future__ import annotations

import math

import numpy as np
import torch

from explainers.ice.reducers import _arrays as xp
from explainers.ice.reducers._arrays import Array
from explainers.ice.reducers.base import ConceptReducer, check_non_negative, check_positive_int


class KMeansReducer(ConceptReducer):
    """k-means clustering by Lloyd's algorithm from greedy k-means++ seeds.

    Minimises the inertia ``Σ_i min_k ||v_i - p_k||²``. Seeds follow Arthur &
    Vassilvitskii (2007), "k-means++: the advantages of careful seeding", in the
    greedy form that tries ``2 + ⌊ln k⌋`` candidates per centre and keeps the one
    that lowers the potential most. Distances are computed in row blocks as
    ``||v||² - 2·v·p + ||p||²`` on the device.

    Parameters
    ----------
    n_components : int
        Number of clusters k; at most n_samples.
    n_init : int
        Independent seedings; the run with the lowest inertia is kept.
    max_iter : int
        Lloyd iterations per run.
    tol : float
        A run stops when the centroids move by at most ``tol`` times the mean
        per-feature variance (summed squared shift, as scikit-learn), or when no
        label changes.
    batch_size : int
        Rows per block of the distance computation (bounds the temporary
        (batch_size, n_components) distances on the device).
    random_state, device, cpu_backend, input_name
        See :class:`~explainers.ice.reducers.base.ConceptReducer`.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        The centroids; float64 when fitted on float64 data, else float32.
    labels_ : ndarray of shape (n_samples,), int64
        Nearest centroid of each training row.
    inertia_ : float
        Sum of squared distances of the training rows to their centroids.
    n_iter_ : int
        Lloyd iterations of the kept run.
    converged_ : bool
        Whether the kept run stopped because no label changed or the centroids
        moved by at most ``tol``, rather than at ``max_iter``.
    reconstruction_err_ : float
        ``sqrt(inertia_)``: the Frobenius error of replacing each row by its centroid.
    n_features_in_, device_
        See the base class.
    """

    def __init__(
        self,
        n_components: int = 10,
        *,
        n_init: int = 1,
        max_iter: int = 300,
        tol: float = 1e-4,
        batch_size: int = 8192,
        random_state: int | None = None,
        device: str | torch.device = "auto",
        cpu_backend: str = "numpy",
        input_name: str | None = None,
    ) -> None:
        super().__init__(
            n_components,
            random_state=random_state,
            device=device,
            cpu_backend=cpu_backend,
            input_name=input_name,
        )
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.batch_size = batch_size

    def _validate_params(self) -> None:
        for name in ("n_init", "max_iter", "batch_size"):
            check_positive_int(name, getattr(self, name))
        check_non_negative("tol", self.tol)

    def _max_components(self, n_samples: int, n_features: int) -> tuple[int, str]:
        return n_samples, "one cluster per sample at most"

    def _fit(self, X: torch.Tensor) -> torch.Tensor:
        data = self._working(X)
        squared_norms = xp.row_squared_norms(data)
        shift_tol = self.tol * _mean_feature_variance(data, self.batch_size)
        rng = self._seeded_generator()
        best = None
        for _ in range(self.n_init):
            centers = self._seed_centers(data, squared_norms, rng)
            run = self._lloyd(data, squared_norms, centers, shift_tol)
            if best is None or run[2] < best[2]:
                best = run
        centers, labels, inertia, n_iter, converged = best
        self.components_ = xp.as_tensor(centers).cpu().numpy()
        self.labels_, self.inertia_, self.n_iter_ = labels, inertia, n_iter
        self.converged_ = converged
        self.reconstruction_err_ = math.sqrt(inertia)
        return xp.as_tensor(xp.one_hot(labels, self.n_components, data))

    def _transform(self, X: torch.Tensor) -> torch.Tensor:
        data = self._working(X)
        centers = self._working(self._components_tensor(X.dtype))
        labels, _ = self._nearest(data, xp.row_squared_norms(data), centers)
        return xp.as_tensor(xp.one_hot(labels, self.n_components, data))

    # ------------------------------------------------------------------ solver
    def _nearest(
        self, data: Array, squared_norms: Array, centers: Array
    ) -> tuple[np.ndarray, np.ndarray]:
        """Label (int64) and squared distance (float64) of each row's nearest centre."""
        labels, distances, _ = self._assign(data, squared_norms, centers, with_sums=False)
        return labels, distances

    def _seed_centers(self, data: Array, squared_norms: Array, rng: np.random.Generator) -> Array:
        """Greedy k-means++: each centre is the best of a few distance²-weighted draws."""
        n, k = data.shape[0], self.n_components
        trials = 2 + int(math.log(k))
        chosen = [int(rng.integers(n))]
        closest = self._distances_to(data, squared_norms, [chosen[0]])[0]
        for _ in range(1, k):
            cumulative = np.cumsum(closest)
            if cumulative[-1] <= 0:  # every row sits on a centre: draw uniformly
                candidates = rng.integers(n, size=trials)
            else:
                draws = rng.random(trials) * cumulative[-1]
                candidates = np.minimum(np.searchsorted(cumulative, draws), n - 1)
            candidate_distances = np.minimum(
                closest[None, :], self._distances_to(data, squared_norms, candidates)
            )
            best = int(np.argmin(candidate_distances.sum(axis=1)))
            chosen.append(int(candidates[best]))
            closest = candidate_distances[best]
        return xp.take_rows(data, np.asarray(chosen))

    def _distances_to(
        self, data: Array, squared_norms: Array, rows: list[int] | np.ndarray
    ) -> np.ndarray:
        """Squared distances from the given rows of ``data`` to all rows, shape (len(rows), n)."""
        picked = xp.take_rows(data, np.asarray(rows))
        product = picked @ data.T
        distances = xp.row_squared_norms(picked)[:, None] - 2.0 * product + squared_norms[None, :]
        return np.clip(xp.host64(distances), 0.0, None)

    def _lloyd(
        self, data: Array, squared_norms: Array, centers: Array, shift_tol: float
    ) -> tuple[Array, np.ndarray, float, int, bool]:
        """Lloyd's iterations; returns centres, labels, inertia, iterations and convergence."""
        previous_labels, converged = None, False
        for iteration in range(1, self.max_iter + 1):
            labels, distances, sums = self._assign(data, squared_norms, centers, with_sums=True)
            if previous_labels is not None and np.array_equal(labels, previous_labels):
                # The centres already are these clusters' means: labels, distances fit them.
                return centers, labels, float(distances.sum()), iteration, True
            updated = self._centroids(data, labels, distances, sums)
            shift = xp.norm(updated - centers) ** 2
            centers, previous_labels = updated, labels
            if shift <= shift_tol:
                converged = True
                break
        # Labels and inertia consistent with the final centres.
        labels, distances = self._nearest(data, squared_norms, centers)
        return centers, labels, float(distances.sum()), iteration, converged

    def _assign(
        self, data: Array, squared_norms: Array, centers: Array, *, with_sums: bool
    ) -> tuple[np.ndarray, np.ndarray, Array | None]:
        """Nearest centres, and (``with_sums``) each cluster's row sum (k, m), in one pass.

        Distances are ``||v||² - 2·v·p + ||p||²`` over row blocks; labels are int64
        and squared distances float64, on the host.
        """
        k, center_norms = self.n_components, xp.row_squared_norms(centers)
        sums = xp.zeros((k, data.shape[1]), data) if with_sums else None
        labels, distances = [], []
        for start in range(0, data.shape[0], self.batch_size):
            block = data[start : start + self.batch_size]
            to_centers = squared_norms[start : start + self.batch_size, None] - 2.0 * (
                block @ centers.T
            )
            block_labels, block_distances = xp.row_argmin(to_centers + center_norms[None, :])
            if with_sums:
                sums += xp.thin_times(xp.one_hot(block_labels, k, data).T, block)
            labels.append(block_labels)
            distances.append(block_distances)
        return np.concatenate(labels), np.clip(np.concatenate(distances), 0.0, None), sums

    def _centroids(
        self, data: Array, labels: np.ndarray, distances: np.ndarray, sums: Array
    ) -> Array:
        """Means of the clusters; an empty cluster moves to a row far from its centre."""
        counts = np.bincount(labels, minlength=self.n_components).astype(np.float64)
        empty = np.flatnonzero(counts == 0)
        if empty.size:
            # As scikit-learn: the rows farthest from their centres seed the empty clusters.
            far = np.argsort(distances)[::-1][: empty.size]
            for cluster, row in zip(empty.tolist(), far.tolist(), strict=True):
                sums[cluster] = data[row]
            counts[empty] = 1.0
        return sums * xp.like(1.0 / counts[:, None], data)


def _mean_feature_variance(data: Array, batch_size: int) -> float:
    """Mean over features of the per-feature variance (float64, one pass over blocks)."""
    n = data.shape[0]
    sums = sum(xp.host64(xp.column_sums(data[s : s + batch_size])) for s in range(0, n, batch_size))
    squares = sum(
        xp.host64(xp.column_sums(data[s : s + batch_size] ** 2)) for s in range(0, n, batch_size)
    )
    means = sums / n
    return float(np.mean(np.clip(squares / n - means**2, 0.0, None)))
