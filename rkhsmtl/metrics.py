"""NaN-aware multi-task regression metrics.

Targets are wide ``(n_samples, n_tasks)`` arrays with NaN for a missing label; every
metric uses the observed entries only. Written against the array API: the result
follows the namespace of ``Y_pred`` (scalars are Python floats).
"""

from __future__ import annotations

import warnings

from sklearn.exceptions import UndefinedMetricWarning

from ._backend import array_device, get_namespace, to_namespace

__all__ = ["nan_r2_score", "pooled_explained_variance"]


def _as_2d(Y_true, Y_pred, sample_weight):
    xp = get_namespace(Y_pred)
    device = array_device(Y_pred) if hasattr(Y_pred, "shape") else None
    Y_pred = xp.astype(to_namespace(Y_pred, xp, device), xp.float64)
    Y_true = xp.astype(to_namespace(_to_float_array(Y_true), xp, device), xp.float64)
    if Y_true.ndim == 1:
        Y_true = xp.reshape(Y_true, (-1, 1))
    if Y_pred.ndim == 1:
        Y_pred = xp.reshape(Y_pred, (-1, 1))
    if tuple(Y_true.shape) != tuple(Y_pred.shape):
        raise ValueError(
            f"Y_true and Y_pred have different shapes: {tuple(Y_true.shape)} and "
            f"{tuple(Y_pred.shape)}."
        )
    if bool(xp.any(xp.isnan(Y_pred))):
        raise ValueError("Y_pred contains NaN.")
    observed = ~xp.isnan(Y_true)
    if sample_weight is None:
        W = xp.ones(Y_true.shape, dtype=xp.float64, device=device)
    else:
        W = xp.astype(to_namespace(_to_float_array(sample_weight), xp, device),
                      xp.float64)
        if W.ndim == 1:
            W = xp.broadcast_to(W[:, None], Y_true.shape)
        if tuple(W.shape) != tuple(Y_true.shape):
            raise ValueError(
                f"sample_weight has shape {tuple(W.shape)}; expected "
                f"({Y_true.shape[0]},) or {tuple(Y_true.shape)}."
            )
    W = xp.where(observed, W, xp.zeros_like(W))
    Y_true = xp.where(observed, Y_true, xp.zeros_like(Y_true))
    return xp, Y_true, Y_pred, W


def _to_float_array(a):
    # Lists and pandas objects with None/NaN: go through NumPy as float.
    if hasattr(a, "__array_namespace__"):
        return a
    import numpy as np

    return np.asarray(a, dtype=np.float64)


def nan_r2_score(Y_true, Y_pred, *, sample_weight=None, multioutput="uniform_average"):
    """Coefficient of determination per task, on the observed entries only.

    For task ``t`` with observed entries ``O_t`` and weights ``w``::

        R2_t = 1 - sum_{O_t} w (y - yhat)^2 / sum_{O_t} w (y - ybar_t)^2

    with ``ybar_t`` the weighted mean of the observed labels of task ``t``. As in
    :func:`sklearn.metrics.r2_score`, a task with constant observed labels scores
    1.0 if predicted exactly and 0.0 otherwise. Tasks with fewer than two observed
    entries have no R2 (NaN in ``"raw_values"``) and are left out of the average.

    Parameters
    ----------
    Y_true : array-like of shape (n_samples,) or (n_samples, n_tasks)
        True labels, NaN for missing.
    Y_pred : array-like of the same shape
        Predictions (no NaN).
    sample_weight : array-like of shape (n_samples,) or (n_samples, n_tasks), default=None
        Weights.
    multioutput : {"uniform_average", "raw_values"}, default="uniform_average"
        Mean over tasks, or the per-task values.

    Returns
    -------
    score : float or array of shape (n_tasks,)
    """
    xp, Y, P, W = _as_2d(Y_true, Y_pred, sample_weight)
    counts = xp.sum(xp.astype(W > 0, xp.float64), axis=0)
    wsum = xp.sum(W, axis=0)
    safe_wsum = xp.where(wsum > 0, wsum, xp.ones_like(wsum))
    mean = xp.sum(W * Y, axis=0) / safe_wsum
    numerator = xp.sum(W * (Y - P) ** 2, axis=0)
    denominator = xp.sum(W * (Y - mean[None, :]) ** 2, axis=0)
    ok_den = denominator > 0
    safe_den = xp.where(ok_den, denominator, xp.ones_like(denominator))
    r2 = xp.where(ok_den, 1.0 - numerator / safe_den,
                  xp.where(numerator == 0, xp.ones_like(numerator),
                           xp.zeros_like(numerator)))
    defined = counts >= 2
    nan = xp.full(r2.shape, float("nan"), dtype=r2.dtype, device=array_device(r2))
    r2 = xp.where(defined, r2, nan)
    if multioutput == "raw_values":
        return r2
    if multioutput != "uniform_average":
        raise ValueError(
            f"multioutput must be 'uniform_average' or 'raw_values', got {multioutput!r}."
        )
    n_defined = int(xp.sum(xp.astype(defined, xp.int64)))
    if n_defined == 0:
        warnings.warn("R^2 is not defined: no task has two observed labels.",
                      UndefinedMetricWarning, stacklevel=2)
        return float("nan")
    return float(xp.sum(xp.where(defined, r2, xp.zeros_like(r2))) / n_defined)


def pooled_explained_variance(Y_true, Y_pred, *, sample_weight=None):
    """Explained variance pooled over every observed entry of every task.

    ``1 - sum (y - yhat)^2 / sum (y - ybar)^2`` over all observed entries, with
    ``ybar`` the mean of all observed labels: one minus the test mean squared error
    divided by the variance of the test labels, the School benchmark's measure
    (Bakker & Heskes 2003; Argyriou, Evgeniou & Pontil 2008).

    Parameters
    ----------
    Y_true : array-like of shape (n_samples,) or (n_samples, n_tasks)
        True labels, NaN for missing.
    Y_pred : array-like of the same shape
        Predictions.
    sample_weight : array-like of shape (n_samples,) or (n_samples, n_tasks), default=None
        Weights.

    Returns
    -------
    score : float
    """
    xp, Y, P, W = _as_2d(Y_true, Y_pred, sample_weight)
    total = xp.sum(W)
    if float(total) <= 0:
        raise ValueError("No observed label to score.")
    mean = xp.sum(W * Y) / total
    residual = xp.sum(W * (Y - P) ** 2)
    spread = xp.sum(W * (Y - mean) ** 2)
    if float(spread) == 0.0:
        return 1.0 if float(residual) == 0.0 else 0.0
    return float(1.0 - residual / spread)
