"""NMF concept reducer: ``V ≈ S·P`` with ``S, P ≥ 0``; the rows of P are the NCAVs."""

from __future__ import annotations

import warnings

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning

from explainers.ice.reducers import _arrays as xp
from explainers.ice.reducers import nnls, solvers
from explainers.ice.reducers.base import ConceptReducer, check_non_negative, check_positive_int

INITS = ("nndsvda", "nndsvd", "random")


class NMFReducer(ConceptReducer):
    """Non-negative matrix factorisation by accelerated HALS.

    Minimises ``½||V - S·P||_F²`` over ``S ≥ 0`` (n_samples, n_components) and
    ``P ≥ 0`` (n_components, n_features) — the objective of ICE (Zhang et al.,
    AAAI 2021). The solver is HALS (Cichocki & Phan 2009) with Gillis &
    Glineur's (2012) repeated inner passes, started from NNDSVD (Boutsidis &
    Gallopoulos 2008); ``transform`` solves the non-negative least-squares
    problem ``min_{S ≥ 0} ||X - S·P||`` with P fixed: HALS passes to a
    tolerance (as scikit-learn's coordinate descent), or exactly with
    ``transform_exact=True``.

    Parameters
    ----------
    n_components : int
        Number of concepts c'; at most ``min(n_samples, n_features)``.
    max_iter : int
        Most outer iterations of the fit (each: one S update and one P update).
        A fit that reaches it before ``tol`` stops it is flagged
        (``converged_ = False``) and warns.
    tol : float
        Stop when the last 10 iterations improved ``||V - S·P||_F`` by at most
        ``tol`` times its value per iteration, on average; 0 runs all
        ``max_iter`` iterations. The default, 1e-6, ends within 0.1% of the error
        of scikit-learn's NMF run to convergence on the demo's layer4
        activations, where 1e-5 stopped on a plateau 0.3% above it (see
        docs/PERFORMANCE.md, "NMF stopping rule"). ``tol=1e-4`` is a faster,
        looser setting: a fifth to a third of the iterations, but up to 1.7%
        above the converged error, which costs NMF fidelity.
    init : {"nndsvda", "nndsvd", "random"}
        NNDSVD with zeros filled by the data's mean (as scikit-learn's
        ``"nndsvda"``), plain NNDSVD, or scaled half-normal noise.
    transform_max_iter : int
        Most HALS passes over S in ``transform``.
    transform_tol : float
        The passes stop once one changes S by at most this times ``||S||``. At
        the default, S's reconstruction error matches scikit-learn's
        ``NMF.transform`` to about 1e-7 (relative) on ResNet-like activations.
    transform_exact : bool
        After the passes, make every row the exact NNLS solution by block
        principal pivoting (Kim & Park 2011) from the support they found: the
        same scores for any batch split, to float64 rounding. About 1.5–2× the
        time of the passes alone on 2 CPU cores.
    batch_size : int
        Rows per block in ``transform`` (bounds device memory).
    random_state, device, cpu_backend, input_name
        See :class:`~explainers.ice.reducers.base.ConceptReducer`.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features), ≥ 0
        float64 when fitted on float64 data, else float32.
    n_iter_ : int
    converged_ : bool
        Whether the ``tol`` test stopped the fit before ``max_iter``.
    reconstruction_err_ : float
        ``||V - S·P||_F`` at the end of the fit (as scikit-learn's NMF).
    n_features_in_, device_
        See the base class.
    """

    def __init__(
        self,
        n_components: int = 10,
        *,
        max_iter: int = 1000,
        tol: float = 1e-6,
        init: str = "nndsvda",
        transform_max_iter: int = 30,
        transform_tol: float = 1e-3,
        transform_exact: bool = False,
        batch_size: int = 16384,
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
        self.max_iter = max_iter
        self.tol = tol
        self.init = init
        self.transform_max_iter = transform_max_iter
        self.transform_tol = transform_tol
        self.transform_exact = transform_exact
        self.batch_size = batch_size

    def _validate_params(self) -> None:
        for name in ("max_iter", "transform_max_iter", "batch_size"):
            check_positive_int(name, getattr(self, name))
        for name in ("tol", "transform_tol"):
            check_non_negative(name, getattr(self, name))
        if not isinstance(self.transform_exact, bool | np.bool_):
            raise TypeError(f"transform_exact must be True or False, got {self.transform_exact!r}.")
        if self.init not in INITS:
            raise ValueError(f"init={self.init!r} is not one of {INITS}.")

    def _max_components(self, n_samples: int, n_features: int) -> tuple[int, str]:
        return min(n_samples, n_features), "the smaller of n_samples and n_features"

    _requires_nonnegative = True

    def _check_values(self, X: torch.Tensor, minimum: float) -> None:
        if minimum < 0:
            count = xp.count_below(self._working(X), 0.0)
            # "Negative values in data passed to" is scikit-learn's wording (its checks
            # look for it); the rest says what that means for a layer's activations.
            raise ValueError(
                f"{self._input_label()} is not non-negative: {count} values are below 0 "
                f"(the smallest is {minimum:.4g}). Negative values in data passed to "
                f"{type(self).__name__}: NMF needs non-negative data, so the layer is "
                "probably not post-ReLU; pick a layer whose activations pass through a "
                "ReLU, or use the PCA reducer."
            )

    def _fit(self, X: torch.Tensor) -> torch.Tensor:
        data = self._working(X)
        rng = self._seeded_generator()
        if self.init == "random":
            St, P = solvers.random_nmf_init(data, self.n_components, rng)
        else:
            St, P = solvers.nndsvd(data, self.n_components, rng, fill_mean=self.init == "nndsvda")
        self.n_iter_, self.reconstruction_err_, self.converged_ = solvers.nmf_hals(
            data, St, P, max_iter=self.max_iter, tol=self.tol
        )
        if not self.converged_ and self.tol > 0:  # tol=0 asks for max_iter iterations exactly
            warnings.warn(
                f"NMF stopped at max_iter={self.max_iter} before its improvement fell below "
                f"tol={self.tol:g} (error {self.reconstruction_err_:.6g}); raise max_iter to "
                "let it converge.",
                ConvergenceWarning,
                stacklevel=4,  # the caller of fit()
            )
        self.components_ = xp.as_tensor(P).cpu().numpy()
        return xp.as_tensor(St).T.contiguous()

    def _transform(self, X: torch.Tensor) -> torch.Tensor:
        data = self._working(X)
        P = self._working(self._components_tensor(X.dtype))
        gram = P @ P.T
        exact_gram = None
        if self.transform_exact:
            components = self.components_.astype(np.float64)
            exact_gram = components @ components.T
        blocks = []
        for start in range(0, data.shape[0], self.batch_size):
            A = P @ data[start : start + self.batch_size].T
            F = nnls.nonnegative_least_squares(
                A,
                gram,
                max_iter=self.transform_max_iter,
                tol=self.transform_tol,
                exact=self.transform_exact,
                exact_gram=exact_gram,
            )
            blocks.append(xp.as_tensor(F).T)
        return blocks[0].contiguous() if len(blocks) == 1 else torch.cat(blocks)
