"""The fidelity sweep class by class: streaming, resumable, and splittable across processes.

The Figure 3 experiment of Zhang et al. (2021) at full scale is 1,000 classes ×
3 reducers × c' = 5..50. Its work splits by class: class g's reducers need only
g's training activations, and its approximate logit F̂_g is needed only on the
held-out rows whose top-k classes or ground truth include g. So:

- :class:`SweepTestSet` (in :mod:`~explainers.ice.sweep_test_set`) is built once
  from the held-out activations (the model's logits over the swept classes, the
  labels, the rows each class must score) and saved (``save``/``load``) so separate worker processes share it;
  the activations go to an ``.npy`` file beside it that workers memory-map,
  reading only their class's rows.
- :func:`sweep_class` fits every reducer for every c' on one class's training
  activations (batched: :func:`~explainers.ice.reducers.batched.fit_reducers`),
  computes F̂_g on that class's needed rows and returns a small
  :class:`ClassResult` (tens of kB), saved atomically as ``class-00042.npz``.
- :func:`run_sweep` runs the classes one after another, loading each class's
  activations only when its turn comes, and skips classes whose result file is
  already there: a killed run resumes where it stopped.
- :func:`combine` turns the results into the
  :class:`~explainers.ice.fidelity.FidelitySweep` (table, per-class frame, figure).

A worker needs only the head, the test-set file, its class's training
activations and the settings; results are files. docs/sweep.md has the layout.
"""

from __future__ import annotations

import json
import platform
import time
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from .devices import resolve_device
from .explainer import approximate_logits
from .features import Head, check_activations
from .fidelity import _TABLE_COLUMNS, DEFAULT_EPSILON, FidelitySweep, fidelity_scores
from .progress import Progress, report_count
from .sweep_test_set import (  # noqa: F401 (re-exported: the engine's public names)
    ACTIVATIONS_SUFFIX,
    RESULT_FORMAT,
    UNREADABLE,
    Activations,
    CorruptResultError,
    SweepTestSet,
    save_npz,
)

# Activations for run_sweep: an array per class, or a function that loads it when
# that class's turn comes (so only one class is resident at a time).
ActivationSource = Activations | Callable[[], Activations]


# ------------------------------------------------------------------ one class
@dataclass(frozen=True)
class ClassResult:
    """What one class contributes to a sweep: F̂_g on its needed rows per (reducer, c').

    Attributes
    ----------
    class_index : the class g.
    test_set : fingerprint of the :class:`SweepTestSet` it was computed against.
    rows : the test rows scored (``test_set.needed`` of g's column).
    entries : the (reducer, c') pairs, in sweep order.
    values : (len(entries), len(rows)) float32, F̂_g of each row under each entry.
    n_iter, converged : per entry, the fitted reducer's iterations and convergence.
    reconstruction_err : per entry, the fit's ``reconstruction_err_`` on the class's
        training activations (``||V - S·P||_F``).
    eval_seconds : per entry, the time computing F̂_g.
    fit_seconds : {reducer: seconds of its batched fit of all c'}.
    settings : reducers, n_components, random_state, batch_size, device.
    """

    class_index: int
    test_set: str
    rows: np.ndarray
    entries: tuple[tuple[str, int], ...]
    values: np.ndarray
    n_iter: np.ndarray
    converged: np.ndarray
    reconstruction_err: np.ndarray
    eval_seconds: np.ndarray
    fit_seconds: dict[str, float]
    settings: dict

    def save(self, path: str | Path) -> Path:
        """Write the result to ``path`` (.npz) atomically: a reader sees all of it or nothing."""
        meta = {
            "format": RESULT_FORMAT,
            "class_index": self.class_index,
            "test_set": self.test_set,
            "entries": [list(entry) for entry in self.entries],
            "fit_seconds": self.fit_seconds,
            "settings": self.settings,
        }
        save_npz(
            path,
            meta,
            rows=self.rows,
            values=self.values,
            n_iter=self.n_iter,
            converged=self.converged,
            reconstruction_err=self.reconstruction_err,
            eval_seconds=self.eval_seconds,
        )
        return Path(path)

    @classmethod
    def load(cls, path: str | Path) -> ClassResult:
        """Read a result; a damaged file raises :class:`CorruptResultError` naming it."""
        try:
            with np.load(path, allow_pickle=False) as npz:
                meta = json.loads(str(npz["meta"]))
                result = cls(
                    class_index=int(meta["class_index"]),
                    test_set=str(meta["test_set"]),
                    rows=npz["rows"],
                    entries=tuple((str(name), int(k)) for name, k in meta["entries"]),
                    values=npz["values"],
                    n_iter=npz["n_iter"],
                    converged=npz["converged"],
                    reconstruction_err=npz["reconstruction_err"],
                    eval_seconds=npz["eval_seconds"],
                    fit_seconds={str(k): float(v) for k, v in meta["fit_seconds"].items()},
                    settings=dict(meta["settings"]),
                )
        except FileNotFoundError:
            raise
        except UNREADABLE as error:
            raise CorruptResultError(
                f"{path} is not a readable class result ({type(error).__name__}: {error}); "
                "delete it so the class is fitted again (run_sweep does so itself)."
            ) from error
        shape = (len(result.entries), len(result.rows))
        if meta.get("format") != RESULT_FORMAT or result.values.shape != shape:
            raise CorruptResultError(
                f"{path} has format {meta.get('format')} and values of shape "
                f"{result.values.shape}, expected format {RESULT_FORMAT} and {shape}; delete it."
            )
        return result


def sweep_class(
    head: Head,
    test_set: SweepTestSet,
    class_index: int,
    train_activations: Activations,
    *,
    reducers: Sequence[str],
    n_components: Iterable[int],
    random_state: int | None = 0,
    device: str | torch.device = "auto",
    batch_size: int = 64,
    on_scored: Callable[[str, int], None] | None = None,
) -> ClassResult:
    """Fit every reducer for every c' on one class and score its needed test rows.

    Parameters
    ----------
    head : the head C after the layer.
    test_set : the sweep's held-out set (:meth:`SweepTestSet.build` or ``load``).
    class_index : the class g (one of ``test_set.classes``).
    train_activations : g's training activations, (n, h, w, c).
    reducers, n_components, random_state, device, batch_size : as
        :func:`~explainers.ice.fidelity.fidelity_sweep`.
    on_scored : called as ``on_scored(reducer, c')`` after each entry is scored.

    Returns
    -------
    ClassResult
        Holds no activations; the caller may drop the class's features.
    """
    from .reducers.batched import fit_reducers

    reducers, n_components = check_sweep_settings(reducers, n_components, test_set.top_k)
    column = test_set.column(class_index)
    g = test_set.classes[column]
    activations = check_activations(train_activations)
    if activations.shape[0] == 0:
        raise ValueError(
            f"train_activations of class {g} is empty; give the class's training images' activations."
        )
    if tuple(activations.shape[1:]) != test_set.feature_shape:
        raise ValueError(
            f"train_activations of class {g} have shape (h, w, c) = {tuple(activations.shape[1:])}, "
            f"but the test set's are {test_set.feature_shape}; use activations of the same layer."
        )
    device = resolve_device(device)
    rows = test_set.needed[column]
    held_out = test_set.gather(rows) if rows.size else None
    flat = activations.reshape(-1, activations.shape[-1]).to(device)
    entries, values, n_iter, converged, errors, eval_seconds = [], [], [], [], [], []
    fit_seconds = {}
    target = torch.tensor([g], device=head.device)
    for name in reducers:
        started = time.perf_counter()
        try:
            fitted = fit_reducers(
                name,
                flat,
                n_components,
                random_state=random_state,
                device=device,
                input_name=f"class {g}",
            )
        except ValueError as error:
            raise ValueError(
                f"fitting {name} with {n_components} components on class {g}: {error}"
            ) from error
        fit_seconds[name] = time.perf_counter() - started
        for k in n_components:
            reducer = fitted[k]
            started = time.perf_counter()
            scored = np.zeros(len(rows), dtype=np.float32)
            if held_out is not None:
                logits = approximate_logits(
                    head, reducer, held_out, batch_size=batch_size, device=device, classes=target
                )
                scored = logits[:, 0].float().cpu().numpy()
            entries.append((name, k))
            values.append(scored)
            n_iter.append(int(getattr(reducer, "n_iter_", 0)))
            converged.append(bool(getattr(reducer, "converged_", True)))
            errors.append(float(reducer.reconstruction_err_))
            eval_seconds.append(time.perf_counter() - started)
            if on_scored is not None:
                on_scored(name, k)
    return ClassResult(
        class_index=g,
        test_set=test_set.fingerprint,
        rows=np.asarray(rows, dtype=np.int64),
        entries=tuple(entries),
        values=np.stack(values).astype(np.float32),
        n_iter=np.asarray(n_iter, dtype=np.int64),
        converged=np.asarray(converged, dtype=bool),
        reconstruction_err=np.asarray(errors, dtype=np.float64),
        eval_seconds=np.asarray(eval_seconds, dtype=np.float64),
        fit_seconds=fit_seconds,
        settings={
            "reducers": list(reducers),
            "n_components": list(n_components),
            "random_state": random_state,
            "batch_size": batch_size,
            "device": str(device),
        },
    )


# ------------------------------------------------------------- whole sweeps
def result_path(results_dir: str | Path, class_index: int) -> Path:
    """Where :func:`run_sweep` keeps class ``class_index``'s result."""
    return Path(results_dir) / f"class-{int(class_index):05d}.npz"


def run_sweep(
    head: Head,
    test_set: SweepTestSet,
    train_features: Mapping[int, ActivationSource],
    *,
    reducers: Sequence[str],
    n_components: Iterable[int],
    results_dir: str | Path | None = None,
    classes: Iterable[int] | None = None,
    random_state: int | None = 0,
    device: str | torch.device = "auto",
    batch_size: int = 64,
    progress: Progress | None = None,
) -> dict[int, ClassResult]:
    """:func:`sweep_class` for each class (default: all of the test set's), one at a time.

    With ``results_dir``, each class's result is saved there as it is done, and a
    class whose result is already there (from this test set and these settings)
    is not fitted again: a killed run resumes. A result file that cannot be read
    (truncated or damaged outside this code) is fitted again, with a warning; one
    from another test set or other settings is an error (use another directory).

    ``train_features`` maps each class to its activations, or to a function that
    loads them, called only when the class is fitted.
    """
    reducers, n_components = check_sweep_settings(reducers, n_components, test_set.top_k)
    wanted = list(test_set.classes if classes is None else (int(g) for g in classes))
    for g in wanted:
        test_set.column(g)
    absent = [g for g in wanted if g not in train_features]
    if absent:
        raise ValueError(
            f"train_features has no activations for classes {absent[:10]}; every swept class "
            "needs its training activations."
        )
    settings = {"reducers": list(reducers), "n_components": list(n_components)}
    per_class = len(reducers) * len(n_components)
    total, done = per_class * len(wanted), 0
    results: dict[int, ClassResult] = {}
    for g in wanted:
        path = result_path(results_dir, g) if results_dir is not None else None
        previous = _reusable_result(path, test_set, settings, random_state)
        if previous is not None:
            results[g] = previous
            done += per_class
            report_count(progress, done, total, "explainers fitted and scored")
            continue
        source = train_features[g]
        activations = source() if callable(source) else source

        def scored(name: str, k: int) -> None:
            nonlocal done
            done += 1
            report_count(progress, done, total, "explainers fitted and scored")

        results[g] = sweep_class(
            head,
            test_set,
            g,
            activations,
            reducers=reducers,
            n_components=n_components,
            random_state=random_state,
            device=device,
            batch_size=batch_size,
            on_scored=scored,
        )
        del activations  # only one class's activations are ever resident
        if path is not None:
            results[g].save(path)
    return results


def _reusable_result(
    path: Path | None, test_set: SweepTestSet, settings: dict, random_state: int | None
) -> ClassResult | None:
    if path is None or not path.exists():
        return None
    try:
        result = ClassResult.load(path)
    except CorruptResultError as error:
        warnings.warn(f"{error} Fitting the class again.", RuntimeWarning, stacklevel=3)
        return None
    theirs = {key: result.settings.get(key) for key in settings}
    if (
        result.test_set != test_set.fingerprint
        or theirs != settings
        or result.settings.get("random_state") != random_state
    ):
        raise ValueError(
            f"{path} holds a result of another sweep (test set {result.test_set}, settings "
            f"{result.settings}), not of test set {test_set.fingerprint} with {settings} and "
            f"random_state={random_state}; use an empty results_dir for a new sweep."
        )
    return result


def combine(
    test_set: SweepTestSet,
    results: Mapping[int, ClassResult] | Iterable[ClassResult],
    *,
    epsilon: float = DEFAULT_EPSILON,
    meta: dict | None = None,
) -> FidelitySweep:
    """The sweep's table and per-class frame from every swept class's result.

    Each (reducer, c') row scores the approximate model whose column g is class
    g's F̂_g, as :func:`~explainers.ice.fidelity.fidelity_sweep` always has.
    ``fit_seconds`` of a row is its share of the batched fits: each class's fit
    of a reducer (all c' at once) divided evenly over its c' values. ``meta``
    (e.g. :func:`run_meta` plus timings) goes into ``settings["meta"]``.
    """
    by_class = {
        r.class_index: r for r in (results.values() if isinstance(results, Mapping) else results)
    }
    missing = [g for g in test_set.classes if g not in by_class]
    if missing:
        raise ValueError(
            f"no result for classes {missing[:10]} ({len(missing)} of {len(test_set.classes)}); "
            "sweep them first (run_sweep resumes where it stopped)."
        )
    first = by_class[test_set.classes[0]]
    for g in test_set.classes:
        result = by_class[g]
        if result.test_set != test_set.fingerprint:
            raise ValueError(
                f"the result of class {g} was computed against test set {result.test_set}, "
                f"not this one ({test_set.fingerprint}); sweep it again."
            )
        if result.entries != first.entries or result.settings.get(
            "random_state"
        ) != first.settings.get("random_state"):
            raise ValueError(
                f"the result of class {g} has settings {result.settings}, class "
                f"{first.class_index}'s {first.settings}; every class must be swept alike."
            )
    reducers = list(dict.fromkeys(name for name, _ in first.entries))
    n_components = list(dict.fromkeys(k for _, k in first.entries))
    rows, per_class = [], []
    for position, (name, k) in enumerate(first.entries):
        approximate = np.full(test_set.logits.shape, np.nan, dtype=np.float32)
        iterations, converged = [], []
        fit_seconds = eval_seconds = 0.0
        for column, g in enumerate(test_set.classes):
            result = by_class[g]
            approximate[result.rows, column] = result.values[position]
            iterations.append(int(result.n_iter[position]))
            converged.append(bool(result.converged[position]))
            fit_seconds += result.fit_seconds[name] / len(n_components)
            eval_seconds += float(result.eval_seconds[position])
        scores = fidelity_scores(
            test_set.logits, approximate, test_set.labels, top_k=test_set.top_k, epsilon=epsilon
        )
        rows.append(
            {
                "reducer": name,
                "n_components": k,
                "fid_c": scores["fid_c"],
                "fid_r": scores["fid_r"],
                "accuracy": scores["accuracy"],
                "n_test_images": test_set.n_images,
                "fit_seconds": fit_seconds,
                "eval_seconds": eval_seconds,
                "converged": all(converged),
                "n_unconverged": converged.count(False),
                "mean_n_iter": float(np.mean(iterations)),
                "max_n_iter": max(iterations),
            }
        )
        per_class.extend(
            {
                "reducer": name,
                "n_components": k,
                "class_index": test_set.classes[c],
                "fid_r": value,
                "n_images": int((test_set.labels == c).sum()),
                "n_iter": iterations[c],
                "converged": converged[c],
            }
            for c, value in scores["fid_r_per_class"].items()
        )
    settings = {
        "reducers": reducers,
        "n_components": n_components,
        "batch_size": first.settings.get("batch_size"),
    }
    if meta is not None:
        settings["meta"] = meta
    return FidelitySweep(
        table=pd.DataFrame(rows, columns=_TABLE_COLUMNS),
        per_class=pd.DataFrame(per_class),
        model_accuracy=float(np.mean(test_set.logits.argmax(axis=1) == test_set.labels)),
        classes=tuple(test_set.classes),
        top_k=test_set.top_k,
        random_state=first.settings.get("random_state"),
        epsilon=epsilon,
        settings=settings,
    )


def load_results(results_dir: str | Path, classes: Iterable[int]) -> dict[int, ClassResult]:
    """The saved results of ``classes`` (a missing one is a FileNotFoundError naming it)."""
    results = {}
    for g in classes:
        path = result_path(results_dir, g)
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing: class {g} has not been swept yet.")
        results[int(g)] = ClassResult.load(path)
    return results


def check_sweep_settings(
    reducers: Sequence[str], n_components: Iterable[int], top_k: int
) -> tuple[list[str], list[int]]:
    """Validated reducer names and c' values (ints, in the given order)."""
    from .reducers import REDUCERS

    names = [reducers] if isinstance(reducers, str) else list(reducers)
    unknown = [name for name in names if not isinstance(name, str) or name.lower() not in REDUCERS]
    if not names or unknown:
        raise ValueError(f"reducers={names!r}; choose one or more of {sorted(REDUCERS)}.")
    values = list(n_components)
    if not values or any(
        isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1 for k in values
    ):
        raise ValueError(f"n_components={values!r}; give positive ints, e.g. range(5, 55, 5).")
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise ValueError(f"top_k={top_k!r}; use a positive int (the paper uses 5).")
    return names, [int(k) for k in values]


def run_meta(device: str | torch.device) -> dict:
    """Versions, device and host of a run, for the table's and figure's records."""
    import sklearn

    try:
        import torchvision

        torchvision_version = torchvision.__version__
    except ImportError:  # the core runs without it
        torchvision_version = None
    device = resolve_device(device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else _cpu_model()
    return {
        "versions": {
            "torch": torch.__version__,
            "torchvision": torchvision_version,
            "sklearn": sklearn.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
        },
        "device": str(device),
        "device_name": name or platform.machine(),
        "host": platform.node(),
    }


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()
