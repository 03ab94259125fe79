"""Fidelity of ICE's approximate models, swept over the number of concepts c'.

Each class j has its own reducer R_j fitted on its training images' activations,
and the approximate logit of class j is F̂_j(I) = C(R_j⁻¹(R_j(E(I))))_j
(Zhang et al. 2021, "Fidelity for Approximate Models"). On held-out images:

- classification: the approximate prediction is the argmax of F̂_j over the top-k
  (default 5) classes j of the model's logits F; Fid_c is the share of images where
  it equals argmax F, and accuracy the share where it equals the ground truth;
- regression: for the images of class g,
  Fid_r_g = Σ|F_g − F̂_g| / (Σ|F_g| + ε), reported as the mean over classes.

When the sweep covers only some of the model's classes, F is restricted to those
classes (the model is read as a classifier over them), so both sides compete over
the same candidates; with every class covered this is the paper's protocol.
Everything runs on precomputed activations, so the CNN runs once.

Every reducer reports whether its solver converged (``converged_``) and in how
many iterations (``n_iter_``); the table counts the fits of each row that did not,
and the plot marks such rows, so a fidelity that reflects an early stop rather
than the method shows as such.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure

from .devices import resolve_device
from .features import FeatureExtractor, Head
from .files import atomic_write_text
from .progress import Progress

DEFAULT_REDUCERS = ("nmf", "pca", "kmeans")
DEFAULT_N_COMPONENTS = tuple(range(5, 55, 5))
DEFAULT_EPSILON = 1e-8
_TABLE_COLUMNS = [
    "reducer",
    "n_components",
    "fid_c",
    "fid_r",
    "accuracy",
    "n_test_images",
    "fit_seconds",
    "eval_seconds",
    "converged",
    "n_unconverged",
    "mean_n_iter",
    "max_n_iter",
]


@dataclass(frozen=True)
class FidelitySweep:
    """Results of :func:`fidelity_sweep`.

    Attributes
    ----------
    table : one row per (reducer, n_components) with columns reducer, n_components,
        fid_c, fid_r, accuracy, n_test_images, fit_seconds, eval_seconds, and the
        convergence of the row's class reducers: converged (all of them),
        n_unconverged (how many not), mean_n_iter and max_n_iter.
    per_class : one row per (reducer, n_components, class) with fid_r, n_images,
        n_iter and converged.
    model_accuracy : the model's own accuracy on the test images (over the swept classes).
    classes : the class indices swept, in column order.
    top_k, random_state, epsilon : the settings used.
    settings : reducers, n_components, batch_size and, from the engine, ``meta``:
        versions (torch, torchvision, sklearn, numpy), device, host and timings.
    """

    table: pd.DataFrame
    per_class: pd.DataFrame
    model_accuracy: float
    classes: tuple[int, ...]
    top_k: int
    random_state: int | None
    epsilon: float = DEFAULT_EPSILON
    settings: dict = field(default_factory=dict)

    def smallest_n_components(
        self, reducer: str, fid_c: float | None = None, fid_r: float | None = None
    ) -> int | None:
        """The smallest c' whose Fid_c ≥ ``fid_c`` and Fid_r ≤ ``fid_r`` (None when none does)."""
        if fid_c is None and fid_r is None:
            raise ValueError(
                "give a target: fid_c (at least this share) and/or fid_r (at most this error)."
            )
        rows = self.table[self.table["reducer"] == reducer]
        if rows.empty:
            raise ValueError(
                f"reducer={reducer!r} is not in this sweep; it has {sorted(set(self.table['reducer']))}."
            )
        meets = np.ones(len(rows), dtype=bool)
        if fid_c is not None:
            meets &= rows["fid_c"].to_numpy() >= fid_c
        if fid_r is not None:
            meets &= rows["fid_r"].to_numpy() <= fid_r
        candidates = rows["n_components"].to_numpy()[meets]
        return int(candidates.min()) if candidates.size else None

    @property
    def unconverged(self) -> pd.DataFrame:
        """The table's rows with at least one class reducer that stopped before converging."""
        if "converged" not in self.table:
            return self.table.iloc[:0]
        return self.table[~self.table["converged"].astype(bool)]

    def caption(self) -> str:
        """One line saying what was run, where, with what, and how long it took."""
        values = self.settings.get("n_components") or sorted(set(self.table["n_components"]))
        parts = [
            f"{len(self.classes)} classes, {int(self.table['n_test_images'].max())} test images, "
            f"c' = {min(values)}..{max(values)} ({len(values)} values), top-{self.top_k}, "
            f"seed {self.random_state}"
        ]
        meta = self.settings.get("meta") or {}
        if meta:
            versions = meta.get("versions", {})
            parts.append(f"{meta.get('device')} ({meta.get('device_name')})")
            parts.append(
                " ".join(f"{name} {version}" for name, version in versions.items() if version)
            )
            timings = meta.get("timings", {})
            if "total_seconds" in timings:
                parts.append(
                    f"{timings['total_seconds']:.1f} s (fits {timings.get('fit_seconds', 0):.1f} s, "
                    f"scoring {timings.get('eval_seconds', 0):.1f} s)"
                )
        return "; ".join(parts)

    def to_json(self) -> dict:
        """Table, settings (with the run's meta) and model accuracy, as plain JSON values."""
        return {
            "classes": list(self.classes),
            "top_k": self.top_k,
            "random_state": self.random_state,
            "epsilon": self.epsilon,
            "model_accuracy": self.model_accuracy,
            "settings": self.settings,
            "caption": self.caption(),
            "table": json.loads(self.table.to_json(orient="records")),
        }

    def write_json(self, path: str | Path) -> Path:
        """Write :meth:`to_json` to ``path`` atomically (the figure's sidecar)."""
        return atomic_write_text(path, json.dumps(self.to_json(), indent=2, default=str) + "\n")

    def figure(self) -> Figure:
        """Accuracy, Fid_c and Fid_r against c', one line per reducer (the paper's Figure 3).

        Rows with an unconverged class reducer get a hollow marker and the figure
        says so in its title.
        """
        figure = Figure(figsize=(12, 3.6), layout="constrained")
        axes = figure.subplots(1, 3)
        panels = [
            ("accuracy", "Accuracy of F̂"),
            ("fid_c", "Fid_c (higher is better)"),
            ("fid_r", "Fid_r (lower is better)"),
        ]
        for axis, (column, title) in zip(axes, panels, strict=True):
            for reducer, rows in self.table.groupby("reducer", sort=False):
                rows = rows.sort_values("n_components")
                (line,) = axis.plot(
                    rows["n_components"], rows[column], marker="o", label=str(reducer)
                )
                stopped = self.unconverged.index.intersection(rows.index)
                if len(stopped):
                    axis.scatter(
                        rows.loc[stopped, "n_components"],
                        rows.loc[stopped, column],
                        s=60,
                        facecolors="white",
                        edgecolors=line.get_color(),
                        zorder=3,
                    )
            axis.set_title(title)
            axis.set_xlabel("number of concepts c'")
            axis.grid(alpha=0.3)
        axes[0].axhline(self.model_accuracy, color="grey", linestyle="--", label="CNN")
        axes[0].legend()
        figure.get_layout_engine().set(rect=(0, 0.07, 1, 0.93))  # room for the caption
        figure.text(0.01, 0.01, self.caption(), fontsize=7, color="dimgrey", wrap=True)
        if len(self.unconverged):
            stopped = int(self.unconverged["n_unconverged"].sum())
            figure.suptitle(
                f"hollow markers: {stopped} class fit(s) stopped at max_iter before converging",
                color="firebrick",
            )
        return figure


def regression_fidelity(
    original: np.ndarray | torch.Tensor,
    approximate: np.ndarray | torch.Tensor,
    *,
    epsilon: float = DEFAULT_EPSILON,
) -> float:
    """Fid_r of one class: Σ|F(i)_g − F̂_g(i)| / (Σ|F(i)_g| + ε) over its images, both shape (n,)."""
    F, F_hat = (np.asarray(_cpu(x), dtype=np.float64) for x in (original, approximate))
    return float(np.abs(F - F_hat).sum() / (np.abs(F).sum() + epsilon))


def fidelity_scores(
    logits: np.ndarray | torch.Tensor,
    approximate: np.ndarray | torch.Tensor,
    labels: np.ndarray | torch.Tensor,
    *,
    top_k: int = 5,
    epsilon: float = DEFAULT_EPSILON,
) -> dict[str, object]:
    """Fid_c, Fid_r and accuracy of an approximate model on a set of images.

    Parameters
    ----------
    logits : (n, m) the model's logits F over m classes.
    approximate : (n, m) F̂_j(i); only the entries of each image's top-k classes
        and of its ground-truth class are read (others may be NaN).
    labels : (n,) ground-truth class of each image, as a column index 0..m-1.
    top_k : candidates for the approximate prediction.
    epsilon : added to the denominator of Fid_r.

    Returns
    -------
    dict with fid_c, accuracy, fid_r (mean over the classes present) and
    fid_r_per_class ({column: Fid_r of that class's images}).
    """
    F, F_hat, y = (np.asarray(_cpu(x), dtype=np.float64) for x in (logits, approximate, labels))
    y = y.astype(np.int64)
    if F.ndim != 2 or F.shape != F_hat.shape or y.shape != (F.shape[0],) or F.shape[0] == 0:
        raise ValueError(
            f"logits {F.shape}, approximate {F_hat.shape}, labels {y.shape}: expected (n, m), (n, m), (n,), n >= 1."
        )
    rows = np.arange(F.shape[0])
    candidates = np.argsort(-F, axis=1, kind="stable")[:, : min(top_k, F.shape[1])]
    candidate_scores = F_hat[rows[:, None], candidates]
    if np.isnan(candidate_scores).any() or np.isnan(F_hat[rows, y]).any():
        raise ValueError("approximate has NaN where a top-k or ground-truth entry is needed.")
    predicted = candidates[rows, np.argmax(candidate_scores, axis=1)]
    per_class = {
        int(g): regression_fidelity(F[y == g, g], F_hat[y == g, g], epsilon=epsilon)
        for g in np.unique(y)
    }
    return {
        "fid_c": float(np.mean(predicted == np.argmax(F, axis=1))),
        "accuracy": float(np.mean(predicted == y)),
        "fid_r": float(np.mean(list(per_class.values()))),
        "fid_r_per_class": per_class,
    }


def fidelity_sweep(
    head: Head,
    train_features: Mapping[int, torch.Tensor | np.ndarray],
    test_features: Mapping[int, torch.Tensor | np.ndarray],
    *,
    reducers: Sequence[str] = DEFAULT_REDUCERS,
    n_components: Iterable[int] = DEFAULT_N_COMPONENTS,
    top_k: int = 5,
    random_state: int | None = 0,
    device: str | torch.device = "auto",
    batch_size: int = 64,
    epsilon: float = DEFAULT_EPSILON,
    progress: Progress | None = None,
    results_dir: str | Path | None = None,
) -> FidelitySweep:
    """Sweep reducers × c' and measure the approximate models' fidelity on held-out images.

    Runs the class-by-class engine (``sweep_engine``): each class's reducers are
    fitted for every c' at once (``reducers.batched``) and scored on the test rows
    that need them, then the results are combined.

    Parameters
    ----------
    head : the head C after the layer (``FeatureExtractor(model, layer).head``).
    train_features : {class index: activations (n, h, w, c)} to fit each class's
        reducer (or a function returning them, called when the class's turn comes).
    test_features : {class index: activations (n, h, w, c)} of held-out images; every
        key must also be in ``train_features``.
    reducers : reducer names, e.g. ("nmf", "pca", "kmeans").
    n_components : the c' values.
    top_k : candidate classes of the approximate prediction (the paper: 5).
    random_state : seed of every reducer.
    device : where the reducers run.
    batch_size : images per transform / head call.
    epsilon : added to Fid_r's denominator.
    progress : ``progress(fraction, step)`` after each (class, reducer, c') is scored.
    results_dir : keep each class's result there (``class-00042.npz``) and skip
        classes already done, so a killed sweep resumes.
    """
    from .sweep_engine import SweepTestSet, check_sweep_settings, combine, run_meta, run_sweep
    from .sweep_test_set import check_test_classes

    classes = sorted(int(g) for g in train_features)
    if not classes:
        raise ValueError("train_features is empty; give at least one class's activations.")
    check_test_classes(test_features, classes)
    reducers, n_components = check_sweep_settings(reducers, n_components, top_k)
    device = resolve_device(device)
    started = time.perf_counter()
    test = SweepTestSet.build(head, test_features, classes, top_k=top_k, batch_size=batch_size)
    test_seconds = time.perf_counter() - started
    results = run_sweep(
        head,
        test,
        train_features,
        reducers=reducers,
        n_components=n_components,
        results_dir=results_dir,
        random_state=random_state,
        device=device,
        batch_size=batch_size,
        progress=progress,
    )
    timings = {
        "test_set_seconds": test_seconds,
        "fit_seconds": sum(sum(r.fit_seconds.values()) for r in results.values()),
        "eval_seconds": sum(float(r.eval_seconds.sum()) for r in results.values()),
        "total_seconds": time.perf_counter() - started,
    }
    meta = {**run_meta(device), "timings": timings}
    return combine(test, results, epsilon=epsilon, meta=meta)


def fidelity_sweep_images(
    model: torch.nn.Module,
    layer: str,
    train_images: Mapping[int, torch.Tensor | Iterable[torch.Tensor]],
    test_images: Mapping[int, torch.Tensor | Iterable[torch.Tensor]],
    *,
    device: str | torch.device = "auto",
    batch_size: int = 32,
    **kwargs: object,
) -> FidelitySweep:
    """:func:`fidelity_sweep` from images: {class index: images (n, 3, H, W) or batches}.

    The CNN runs once per image; keyword arguments go to :func:`fidelity_sweep`.
    """
    extractor = FeatureExtractor(model, layer, device=device)

    def features(images: torch.Tensor | Iterable[torch.Tensor]) -> torch.Tensor:
        batches = images.split(batch_size) if isinstance(images, torch.Tensor) else images
        return extractor.extract(batches)

    train = {g: features(images) for g, images in train_images.items()}
    test = {g: features(images) for g, images in test_images.items()}
    first_class = next(iter(test_images))
    if isinstance(test_images[first_class], torch.Tensor):
        extractor.verify_head(test_images[first_class][:2], test[first_class][:2])
    return fidelity_sweep(
        extractor.head, train, test, device=device, batch_size=batch_size, **kwargs
    )


def _cpu(x: object) -> object:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else x
