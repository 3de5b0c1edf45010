"""Weight hygiene: tempering, normalisation to mean 1, capping, effective sample size."""

from __future__ import annotations

import numbers

from .._backend import get_namespace

__all__ = ["effective_sample_size", "normalize_weights"]

_BISECTION_STEPS = 100


def _as_2d(R, xp):
    return (R[:, None], True) if R.ndim == 1 else (R, False)


def normalize_weights(R, *, tempering=1.0, clip=None):
    """Temper, normalise to mean 1 per column, and cap importance weights.

    Parameters
    ----------
    R : array of shape (n_samples,) or (n_samples, n_tasks)
        Non-negative raw weights (density ratios), one column per task.
    tempering : float in [0, 1], default=1.0
        Exponent ``gamma`` of ``r ** gamma``: 1 keeps the ratios, 0 gives uniform
        weights, values in between trade bias for variance.
    clip : float or None, default=None
        Largest weight allowed after normalisation (must be >= 1). The scale ``s``
        with ``mean(min(s r, clip)) = 1`` is found by bisection, so the result has
        mean exactly 1 *and* no weight above ``clip``.

    Returns
    -------
    W : array of the shape of ``R``
        Weights with mean 1 over the rows, per column.
    """
    xp = get_namespace(R)
    if (isinstance(tempering, bool) or not isinstance(tempering, numbers.Real)
            or not 0 <= tempering <= 1):
        raise ValueError(f"tempering must be a number in [0, 1], got {tempering!r}.")
    if clip is not None and (isinstance(clip, bool) or not isinstance(clip, numbers.Real)
                             or not clip >= 1):
        raise ValueError(f"clip must be None or a number >= 1, got {clip!r}.")
    W, was_1d = _as_2d(R, xp)
    if not bool(xp.all(xp.isfinite(W))) or bool(xp.any(W < 0)):
        raise ValueError("Weights must be finite and non-negative.")
    totals = xp.sum(W, axis=0)
    empty = [int(t) for t in range(W.shape[1]) if not float(totals[t]) > 0]
    if empty:
        raise ValueError(f"The weights of column(s) {empty} are all zero.")
    if tempering != 1:
        W = W ** float(tempering)
    W = W / xp.mean(W, axis=0)[None, :]
    if clip is not None:
        W = xp.stack([_cap_column(W[:, t], float(clip), xp) for t in range(W.shape[1])],
                     axis=1)
    return W[:, 0] if was_1d else W


def _cap_column(w, cap, xp):
    """``min(s w, cap)`` with the scale ``s >= 1`` that restores mean 1."""
    if float(xp.max(w)) <= cap:
        return w
    n_positive = int(xp.sum(xp.astype(w > 0, xp.int64)))
    if n_positive * cap < w.shape[0]:
        raise ValueError(
            f"clip={cap} is too small: only {n_positive} of {w.shape[0]} weights are "
            "positive, so no capped weights can have mean 1.")
    # Zeros replaced by the largest weight (on w's own device) leave the minimum of
    # the positive weights.
    smallest = float(xp.min(xp.where(w > 0, w, xp.max(w))))
    lo, hi = 1.0, cap / smallest
    for _ in range(_BISECTION_STEPS):
        mid = 0.5 * (lo + hi)
        if float(xp.mean(xp.clip(mid * w, None, cap))) < 1.0:
            lo = mid
        else:
            hi = mid
    return xp.clip(hi * w, None, cap)


def effective_sample_size(W):
    """Kish's effective sample size ``(sum w)^2 / sum w^2`` per column.

    Parameters
    ----------
    W : array of shape (n_samples,) or (n_samples, n_tasks)
        Non-negative weights.

    Returns
    -------
    ess : float or array of shape (n_tasks,)
        Between 1 (one row carries all the weight) and ``n_samples`` (uniform).

    Raises
    ------
    ValueError
        If ``W`` has no row, holds NaN, infinity or negative values, or a column
        is all zero (its effective sample size is undefined).
    """
    xp = get_namespace(W)
    W2, was_1d = _as_2d(W, xp)
    if W2.shape[0] == 0:
        raise ValueError("W has no row: the effective sample size is undefined.")
    if not bool(xp.all(xp.isfinite(W2))) or bool(xp.any(W2 < 0)):
        raise ValueError("Weights must be finite and non-negative.")
    total = xp.sum(W2, axis=0)
    if not bool(xp.all(total > 0)):
        zero = [int(j) for j in range(W2.shape[1]) if not float(total[j]) > 0]
        raise ValueError(
            f"The weights of column(s) {zero} are all zero: their effective sample "
            "size is undefined.")
    # In units of the largest weight: the squares neither overflow nor underflow.
    W2 = W2 / xp.max(W2, axis=0)[None, :]
    ess = xp.sum(W2, axis=0) ** 2 / xp.sum(W2 * W2, axis=0)
    return float(ess[0]) if was_1d else ess
