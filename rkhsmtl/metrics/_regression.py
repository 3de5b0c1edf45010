"""NaN-aware multi-task regression metrics (array-API code).

Every function moves ``Y_true`` and ``sample_weight`` to the namespace and device of
``Y_pred`` and computes there; per-task arrays stay in that namespace, scalars are
Python floats. Each metric has a per-task form on columns (``_*_columns``); the micro
average is the same computation on one column holding every observed entry.
"""

from __future__ import annotations

import warnings

from sklearn.exceptions import UndefinedMetricWarning

from .._backend import array_device, get_namespace, is_array, to_namespace
from .._labels import missing_mask
from ._common import aggregate_tasks, check_average, micro_value

__all__ = [
    "explained_variance_score",
    "mean_squared_error",
    "nan_r2_score",
    "normalized_mean_squared_error",
    "pooled_explained_variance",
    "r2_score",
]


def _to_float_array(a):
    # Lists and pandas objects may hold None / pandas.NA: map them to NaN on the host.
    import numpy as np

    if is_array(a) and not (isinstance(a, np.ndarray) and a.dtype.kind not in "fiub"):
        return a
    if hasattr(a, "to_numpy"):
        a = a.to_numpy()
    a = np.asarray(a)
    if a.dtype.kind in "fiub":
        return a.astype(np.float64)
    if a.dtype.kind != "O":
        raise ValueError(f"Regression targets must be numeric, got dtype {a.dtype}.")
    missing = missing_mask(a)
    out = np.full(a.shape, np.nan)
    try:
        out[~missing] = a[~missing].astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"Regression targets must be numeric: {exc}") from exc
    return out


def _as_2d(Y_true, Y_pred, sample_weight):
    """Namespace and (Y, P, W) of shape (n, T): Y and W zeroed where Y is missing."""
    if not is_array(Y_pred):
        Y_pred = _to_float_array(Y_pred)
    xp = get_namespace(Y_pred)
    device = array_device(Y_pred)
    Y_pred = xp.astype(Y_pred, xp.float64)
    Y_true = xp.astype(to_namespace(_to_float_array(Y_true), xp, device), xp.float64)
    if Y_true.ndim == 1:
        Y_true = xp.reshape(Y_true, (-1, 1))
    if Y_pred.ndim == 1:
        Y_pred = xp.reshape(Y_pred, (-1, 1))
    if Y_true.ndim != 2:
        raise ValueError(f"Y_true must be 1-D or 2-D, got shape {tuple(Y_true.shape)}.")
    if tuple(Y_true.shape) != tuple(Y_pred.shape):
        raise ValueError(
            f"Y_true and Y_pred have different shapes: {tuple(Y_true.shape)} and "
            f"{tuple(Y_pred.shape)}."
        )
    if bool(xp.any(xp.isnan(Y_pred))):
        raise ValueError("Y_pred contains NaN.")
    if bool(xp.any(xp.isinf(Y_pred))):
        raise ValueError("Y_pred contains infinity.")
    if bool(xp.any(xp.isinf(Y_true))):
        raise ValueError("Y_true contains infinity; use NaN to mark a missing label.")
    observed = ~xp.isnan(Y_true)
    if sample_weight is None:
        W = xp.ones(Y_true.shape, dtype=xp.float64, device=device)
    else:
        W = xp.astype(to_namespace(_to_float_array(sample_weight), xp, device),
                      xp.float64)
        if W.ndim == 1 and W.shape[0] == Y_true.shape[0]:
            W = xp.broadcast_to(W[:, None], Y_true.shape)
        if tuple(W.shape) != tuple(Y_true.shape):
            raise ValueError(
                f"sample_weight has shape {tuple(W.shape)}; expected "
                f"({Y_true.shape[0]},) or {tuple(Y_true.shape)}."
            )
        if not bool(xp.all(xp.isfinite(W))) or bool(xp.any(W < 0)):
            raise ValueError("sample_weight must be finite and non-negative.")
    W = xp.where(observed, W, xp.zeros_like(W))
    Y_true = xp.where(observed, Y_true, xp.zeros_like(Y_true))
    return xp, Y_true, Y_pred, W


def _pooled(xp, Y, P, W):
    """The same arrays as one column of every entry (for the micro average)."""
    return (xp.reshape(Y, (-1, 1)), xp.reshape(P, (-1, 1)), xp.reshape(W, (-1, 1)))


def _moments(xp, Y, W):
    """Positive-weight counts, weight sums (>0 made safe) and weighted means per column."""
    counts = xp.sum(xp.astype(W > 0, xp.float64), axis=0)
    wsum = xp.sum(W, axis=0)
    safe_wsum = xp.where(wsum > 0, wsum, xp.ones_like(wsum))
    mean = xp.sum(W * Y, axis=0) / safe_wsum
    return counts, wsum, safe_wsum, mean


def _nan_like(xp, a):
    return xp.full(a.shape, float("nan"), dtype=a.dtype, device=array_device(a))


def _ratio_forced(xp, numerator, denominator):
    # scikit-learn's force_finite rule: 0/0 -> perfect (1), x/0 -> 0 for the score.
    ok = denominator > 0
    safe = xp.where(ok, denominator, xp.ones_like(denominator))
    return xp.where(ok, 1.0 - numerator / safe,
                    xp.where(numerator == 0, xp.ones_like(numerator),
                             xp.zeros_like(numerator)))


def _mse_columns(xp, Y, P, W):
    counts, wsum, safe_wsum, _ = _moments(xp, Y, W)
    value = xp.sum(W * (Y - P) ** 2, axis=0) / safe_wsum
    defined = wsum > 0
    return xp.where(defined, value, _nan_like(xp, value)), defined


def _nmse_columns(xp, Y, P, W):
    counts, wsum, safe_wsum, mean = _moments(xp, Y, W)
    mse = xp.sum(W * (Y - P) ** 2, axis=0) / safe_wsum
    var = xp.sum(W * (Y - mean[None, :]) ** 2, axis=0) / safe_wsum
    defined = (counts >= 2) & (var > 0)
    safe_var = xp.where(defined, var, xp.ones_like(var))
    return xp.where(defined, mse / safe_var, _nan_like(xp, mse)), defined


def _r2_forced(xp, Y, P, W):
    """R^2 of every column (scikit-learn's rule for constant labels) and the counts."""
    counts, _, _, mean = _moments(xp, Y, W)
    numerator = xp.sum(W * (Y - P) ** 2, axis=0)
    denominator = xp.sum(W * (Y - mean[None, :]) ** 2, axis=0)
    return _ratio_forced(xp, numerator, denominator), counts


def _r2_columns(xp, Y, P, W):
    value, counts = _r2_forced(xp, Y, P, W)
    defined = counts >= 2
    return xp.where(defined, value, _nan_like(xp, value)), defined


def _explained_variance_columns(xp, Y, P, W):
    counts, _, safe_wsum, mean = _moments(xp, Y, W)
    residual = Y - P
    residual_mean = xp.sum(W * residual, axis=0) / safe_wsum
    numerator = xp.sum(W * (residual - residual_mean[None, :]) ** 2, axis=0)
    denominator = xp.sum(W * (Y - mean[None, :]) ** 2, axis=0)
    value = _ratio_forced(xp, numerator, denominator)
    defined = counts >= 2
    return xp.where(defined, value, _nan_like(xp, value)), defined


def _score(columns, what, why, Y_true, Y_pred, sample_weight, average):
    check_average(average)
    xp, Y, P, W = _as_2d(Y_true, Y_pred, sample_weight)
    if average == "micro":
        value, defined = columns(xp, *_pooled(xp, Y, P, W))
        return micro_value(value[0], defined[0], what, why, stacklevel=4)
    values, defined = columns(xp, Y, P, W)
    return aggregate_tasks(xp, values, defined, average, what, why, stacklevel=4)


_PARAMETERS = """
    Parameters
    ----------
    Y_true : array-like of shape (n_samples,) or (n_samples, n_tasks)
        True targets; NaN, None or ``pandas.NA`` mark a missing label.
    Y_pred : array of the same shape
        Predictions (finite). The result follows its array namespace and device.
    sample_weight : array-like of shape (n_samples,) or (n_samples, n_tasks), \
default=None
        Non-negative weights; entries with zero weight count as not observed.
    average : {"macro", "micro"} or None, default="macro"
        ``"macro"``: mean of the per-task values over the tasks where the metric is
        defined (the others are named in an ``UndefinedMetricWarning``; NaN if none
        is). ``"micro"``: the metric on all observed ``(i, t)`` entries pooled as
        one task. ``None``: the per-task values, NaN where undefined.

    Returns
    -------
    score : float or array of shape (n_tasks,)
        A Python float for ``"macro"`` and ``"micro"``, an array in the namespace of
        ``Y_pred`` for ``None``.
"""


def _append_doc(text):
    def decorate(function):
        function.__doc__ += text
        return function
    return decorate


@_append_doc(_PARAMETERS)
def mean_squared_error(Y_true, Y_pred, *, sample_weight=None, average="macro"):
    """Mean squared error per task, on the observed entries only.

    For task ``t`` with observed entries ``O_t`` and weights ``w``::

        MSE_t = sum_{O_t} w (y - yhat)^2 / sum_{O_t} w

    (:func:`sklearn.metrics.mean_squared_error` on the task's observed rows). The
    micro average is the weighted mean of the squared errors of all observed entries
    of all tasks, so tasks with more labels weigh more. Undefined for a task without
    an observed label of positive weight.
    """
    return _score(_mse_columns, "The mean squared error",
                  "no observed label with positive weight",
                  Y_true, Y_pred, sample_weight, average)


@_append_doc(_PARAMETERS)
def normalized_mean_squared_error(Y_true, Y_pred, *, sample_weight=None,
                                  average="macro"):
    """Mean squared error of each task divided by the variance of its targets.

    For task ``t`` with observed entries ``O_t``, weights ``w`` and
    ``ybar_t = sum_{O_t} w y / sum_{O_t} w``::

        nMSE_t = MSE_t / Var_t,   Var_t = sum_{O_t} w (y - ybar_t)^2 / sum_{O_t} w

    The variance is the weighted population variance (divisor ``sum w``, no
    ``ddof`` correction) of the *same* observed targets that are scored, so
    ``nMSE_t = 1 - R2_t`` (see :func:`r2_score`). 0 is perfect and 1 is the score of
    predicting the task's mean. Undefined for a task with fewer than two observed
    labels or with constant observed labels (zero variance). The micro average
    divides the pooled MSE by the variance of all observed targets about their
    pooled mean: ``1 -`` :func:`pooled_explained_variance`.
    """
    return _score(_nmse_columns, "The normalised mean squared error",
                  "fewer than two observed labels, or constant observed labels",
                  Y_true, Y_pred, sample_weight, average)


@_append_doc(_PARAMETERS)
def r2_score(Y_true, Y_pred, *, sample_weight=None, average="macro"):
    """Coefficient of determination per task, on the observed entries only.

    For task ``t`` with observed entries ``O_t``, weights ``w`` and weighted mean
    ``ybar_t`` of its observed labels::

        R2_t = 1 - sum_{O_t} w (y - yhat)^2 / sum_{O_t} w (y - ybar_t)^2

    (:func:`sklearn.metrics.r2_score` on the task's observed rows). As there, a
    task with constant observed labels scores 1.0 if predicted exactly and 0.0
    otherwise. Undefined for a task with fewer than two observed labels. The micro
    average is ``R2`` of all observed entries pooled, about their pooled mean: it
    equals :func:`pooled_explained_variance` and also credits a model for
    getting the differences between the tasks' means right.
    """
    return _score(_r2_columns, "R^2", "fewer than two observed labels",
                  Y_true, Y_pred, sample_weight, average)


@_append_doc(_PARAMETERS)
def explained_variance_score(Y_true, Y_pred, *, sample_weight=None, average="macro"):
    """Explained variance per task, on the observed entries only.

    For task ``t`` with observed entries ``O_t``, weights ``w`` and residuals
    ``r = y - yhat``::

        EV_t = 1 - Var_w(r on O_t) / Var_w(y on O_t)

    with weighted population variances
    (:func:`sklearn.metrics.explained_variance_score` on the task's observed rows):
    unlike R2 it ignores a constant bias of the predictions. A task with constant
    observed labels scores 1.0 if the residual variance is zero too, else 0.0; a
    task with fewer than two observed labels is undefined. The micro average is the
    same formula on all observed entries pooled (variances about the pooled
    means). It is *not* :func:`pooled_explained_variance`, which is the pooled R2
    despite the name it has in the School literature.
    """
    return _score(_explained_variance_columns, "The explained variance",
                  "fewer than two observed labels",
                  Y_true, Y_pred, sample_weight, average)


def nan_r2_score(Y_true, Y_pred, *, sample_weight=None, multioutput="uniform_average"):
    """Coefficient of determination per task, on the observed entries only.

    The form of :func:`r2_score` with scikit-learn's ``multioutput`` parameter,
    used by :meth:`rkhsmtl.MultiTaskKernelRidge.score`. For task ``t`` with
    observed entries ``O_t`` and weights ``w``::

        R2_t = 1 - sum_{O_t} w (y - yhat)^2 / sum_{O_t} w (y - ybar_t)^2

    with ``ybar_t`` the weighted mean of the observed labels of task ``t``. As in
    :func:`sklearn.metrics.r2_score`, a task with constant observed labels scores
    1.0 if predicted exactly and 0.0 otherwise. Tasks with fewer than two observed
    entries have no R2 (NaN in ``"raw_values"``) and are left out of the average
    silently; only when no task has an R2 is an ``UndefinedMetricWarning`` raised.

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
    if multioutput not in ("uniform_average", "raw_values"):
        raise ValueError(
            f"multioutput must be 'uniform_average' or 'raw_values', got {multioutput!r}."
        )
    xp, Y, P, W = _as_2d(Y_true, Y_pred, sample_weight)
    r2, defined = _r2_columns(xp, Y, P, W)
    if multioutput == "raw_values":
        return r2
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
    (Bakker & Heskes 2003; Argyriou, Evgeniou & Pontil 2008). It is the micro
    average of :func:`r2_score` (an R2, not scikit-learn's explained variance,
    which would subtract the mean residual).

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
        1.0 or 0.0 when the observed labels are constant (predicted exactly or
        not).

    Raises
    ------
    ValueError
        If no label is observed.
    """
    xp, Y, P, W = _as_2d(Y_true, Y_pred, sample_weight)
    if float(xp.sum(W)) <= 0:
        raise ValueError("No observed label to score.")
    # The micro R^2, but defined from one observed label on (1.0 or 0.0 then).
    value, _ = _r2_forced(xp, *_pooled(xp, Y, P, W))
    return float(value[0])
