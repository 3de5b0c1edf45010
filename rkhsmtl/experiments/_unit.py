"""One unit of an experiment -- an estimator on one split of one data set -- in a worker.

The unit clones the estimator, hides every label outside the split's training
entries, fits on the rows that keep a label, predicts the rows that have a test
label and scores every task on its test entries. It returns a plain record (JSON
types only, so that it can be stored and read back unchanged): the scores, the
fit and predict times, what the estimator says of its convergence, the solver it
chose and the worker's peak memory -- or, when anything raised, the exception's
type and message.
"""

from __future__ import annotations

import os
import sys
import time
import traceback
import warnings

import numpy as np
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning

from .._labels import missing_mask
from ..datasets._layout import _take_rows
from ._data import _python_scalar
from ._scoring import default_metrics, score_unit

__all__ = ["run_unit"]

# Masks of the last split of this process (several estimators share a split).
_MASKS = {}


def _final_estimator(estimator):
    """The estimator that holds ``n_iter_``/``solver_``: a pipeline's last step, a
    search's best estimator."""
    for _ in range(8):
        if hasattr(estimator, "steps") and estimator.steps:
            estimator = estimator.steps[-1][1]
        elif hasattr(estimator, "best_estimator_"):
            estimator = estimator.best_estimator_
        else:
            break
    return estimator


def _n_iter(estimator):
    n_iter = getattr(estimator, "n_iter_", None)
    if n_iter is None:
        return None
    try:
        values = np.asarray(n_iter, dtype=float).reshape(-1)
    except (TypeError, ValueError):
        return None
    return int(values.max()) if values.size and np.all(np.isfinite(values)) else None


def _peak_rss_mib():
    """Peak resident memory of this process so far (MiB), None where unknown."""
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024.0


def _hide(Y, keep):
    """A copy of ``Y`` with every entry outside ``keep`` missing."""
    out = Y.copy()
    out[~keep] = np.nan if Y.dtype.kind == "f" else None
    return out


def _split_masks(dataset, splits, index, X, Y):
    key = (dataset.fingerprint(), splits.split_key(index))
    masks = _MASKS.get(key)
    if masks is None:
        masks = splits.masks(X, Y, ~missing_mask(Y), index,
                             data_key=dataset.fingerprint())
        # Threads of one process may race here: at worst a split is recomputed.
        _MASKS.clear()
        _MASKS[key] = masks
    return masks


def _limits(inner_threads):
    if inner_threads is None:
        from contextlib import nullcontext

        return nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=int(inner_threads))


def _fit_and_score(estimator, dataset, splits, index, metrics, record):
    """Fill ``record`` for one unit; return the fitted estimator."""
    X, Y, names = dataset.load()
    record["task_names"] = [_python_scalar(name) for name in names]
    train, test = _split_masks(dataset, splits, index, X, Y)
    train_rows = np.flatnonzero(train.any(axis=1))
    test_rows = np.flatnonzero(test.any(axis=1))
    record["n_train"] = int(train.sum())
    record["n_test"] = int(test.sum())
    if train_rows.size == 0 or test_rows.size == 0:
        part = "training" if not train_rows.size else "test"
        raise ValueError(f"Split {index} has no {part} label: every task has too few "
                         "labels for this split.")
    model = clone(estimator, safe=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        start = time.perf_counter()
        model.fit(_take_rows(X, train_rows), _hide(Y[train_rows], train[train_rows]))
        record["fit_time"] = time.perf_counter() - start
    converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    final = _final_estimator(model)
    converged_attr = getattr(final, "converged_", None)
    if isinstance(converged_attr, (bool, np.bool_)):
        converged = converged and bool(converged_attr)
    record["converged"] = converged
    record["n_iter"] = _n_iter(final)
    solver = getattr(final, "solver_", None)
    record["solver"] = solver if isinstance(solver, str) else None
    if metrics is None:
        metrics = default_metrics(model)
    responses = {}
    Y_test = _hide(Y[test_rows], test[test_rows])
    with warnings.catch_warnings(record=True) as caught_later:
        warnings.simplefilter("always")
        record["scores"] = score_unit(model, _take_rows(X, test_rows), Y_test, metrics,
                                      responses)
    record["predict_time"] = sum(v for k, v in responses.items()
                                 if isinstance(k, tuple))
    # Kept in the record (a worker's warnings would be lost): the first few kinds.
    record["warnings"] = sorted({f"{w.category.__name__}: {w.message}"
                                 for w in [*caught, *caught_later]})[:5]
    return model


def run_unit(key, estimator, dataset, splits, index, metrics, inner_threads=None,
             on_error="record", return_model=False):
    """Fit and score one unit; return ``(key, record)`` or ``(key, record, model)``.

    Parameters
    ----------
    key : str
        The unit's cache key (returned unchanged, so that results can arrive in
        any order).
    estimator : estimator
        Unfitted; cloned here.
    dataset : Dataset
        The data (a loader is called at most once per process).
    splits : split description
        Gives the train/test masks of split ``index``.
    index : int
        Position of the split.
    metrics : list of MetricSpec or None
        What to record; None for the defaults of the estimator's kind.
    inner_threads : int or None, default=None
        Limit of the BLAS/OpenMP threads of this unit (None: no limit).
    on_error : {"record", "raise"}, default="record"
        Return a record of the exception, or let it propagate.
    return_model : bool, default=False
        Also return the fitted estimator (None when the unit failed).

    Returns
    -------
    key : str
    record : dict
    model : estimator or None
        Only with ``return_model=True``.
    """
    record = {"status": "ok", "fit_time": None, "predict_time": None, "n_iter": None,
              "converged": None, "solver": None, "n_train": None, "n_test": None,
              "task_names": None, "scores": {}, "warnings": [], "error_type": None,
              "error_message": None, "traceback": None, "pid": os.getpid()}
    model = None
    try:
        with _limits(inner_threads):
            model = _fit_and_score(estimator, dataset, splits, index, metrics, record)
    except Exception as exc:
        if on_error == "raise":
            raise
        record.update(status="error", scores={}, error_type=type(exc).__name__,
                      error_message=str(exc),
                      traceback="".join(traceback.format_exception(
                          type(exc), exc, exc.__traceback__))[-4000:])
    record["peak_rss_mib"] = _peak_rss_mib()
    if return_model:
        return key, record, (model if record["status"] == "ok" else None)
    return key, record
