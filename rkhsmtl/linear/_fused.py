r"""Exact proximal operators of the fused penalties of the progression models.

The convex fused sparse group lasso (Zhou et al. 2012) penalises each row
``w = W[j, :]`` (one feature over ``T`` consecutive time points) by

    a ||w||_1 + f sum_t |w_{t+1} - w_t| + c ||w||_2 .

Its proximal operator is computed exactly in three steps (Friedman, Hastie,
Hoefling & Tibshirani 2007 for the first two; Zhou, Liu, Narayan & Ye 2012 for
the third): the proximal operator of the 1-D total variation (:func:`tv_prox_rows`),
then soft-thresholding (which gives the fused lasso signal approximator), then
shrinkage of the whole row.

The 1-D total-variation prox follows the solution path in the fusion weight
(Friedman et al. 2007, Hoefling 2010): starting from ``x = v`` at weight 0, every
group of equal neighbouring entries moves linearly with the weight, with slope
``-(s_left + s_right) / |group|`` (``s`` the signs of the differences to the
neighbouring groups), until two neighbouring groups meet and fuse; on a chain
fused groups never split, so there are at most ``T - 1`` events. The path is run
for all rows at once, one event per row and round, in array-API operations; a
round costs ``O(d T^2)`` (group sums through a ``(d, T, T)`` membership matrix), so
a prox costs ``O(d T^3)`` operations and ``O(d T^2)`` memory -- for the few time
points of a progression model, much less than the products with ``X`` of a FISTA
step. The result is exact up to rounding: the final values are computed from the
final groups and signs by the closed form, not accumulated along the path.
"""

from __future__ import annotations

import math

from .._backend import array_device

__all__ = ["fused_sparse_group_dual", "fused_sparse_group_prox", "tv_prox_rows"]


def _as_row_weights(lam, d, V, xp):
    """``lam`` (a number or an array of shape ``(d,)``) as a ``(d,)`` array."""
    if isinstance(lam, (int, float)):
        return xp.full((d,), float(lam), dtype=V.dtype, device=array_device(V))
    return xp.astype(lam, V.dtype)


def tv_prox_rows(V, lam, xp):
    r"""Row-wise ``argmin_x 1/2 ||x - v||^2 + lam sum_t |x_{t+1} - x_t|``, exactly.

    Parameters
    ----------
    V : array of shape (d, T)
        One signal per row.
    lam : float or array of shape (d,)
        Weight of the total variation (per row when an array), ``>= 0``.
    xp : module
        Array namespace of ``V``.

    Returns
    -------
    X : array of shape (d, T)
    """
    d, T = V.shape
    if T < 2 or d == 0:
        return V
    lam = _as_row_weights(lam, d, V, xp)
    dev = array_device(V)
    dtype = V.dtype
    zero_col = xp.zeros((d, 1), dtype=dtype, device=dev)
    edges = xp.arange(T - 1, device=dev)
    boundary = xp.ones((d, T - 1), dtype=xp.bool, device=dev)
    lam_now = xp.zeros((d,), dtype=dtype, device=dev)
    x = V
    inf = xp.asarray(float("inf"), dtype=dtype, device=dev)
    # Each round fuses one pair of groups in every row whose next event comes
    # before lam; a row has at most T - 1 events, so T rounds always end with one
    # that fuses nothing (and leaves `same`, `size`, `turn` of the final groups).
    for _ in range(T):
        starts = xp.concat([xp.ones((d, 1), dtype=xp.bool, device=dev), boundary], axis=1)
        group = xp.cumulative_sum(xp.astype(starts, xp.int64), axis=1)
        same = xp.astype(group[:, :, None] == group[:, None, :], dtype)
        size = xp.sum(same, axis=2)
        # Members of a group agree up to rounding; use the group mean.
        x = xp.sum(same * x[:, None, :], axis=2) / size
        gap = x[:, :-1] - x[:, 1:]
        sign = xp.where(boundary, xp.sign(gap), 0.0)
        # Per entry: the sign towards its right neighbour group if it ends its
        # group, minus the sign from its left one if it starts it; summed over a
        # group, s_left + s_right.
        turn_entry = xp.concat([sign, zero_col], axis=1) - xp.concat([zero_col, sign],
                                                                     axis=1)
        turn = xp.sum(same * turn_entry[:, None, :], axis=2)
        slope = -turn / size
        closing = -xp.sign(gap) * (slope[:, :-1] - slope[:, 1:])
        safe = xp.where(closing > 0, closing, 1.0)
        when = xp.where(closing > 0, lam_now[:, None] + xp.abs(gap) / safe, inf)
        when = xp.where(gap == 0, lam_now[:, None], when)
        when = xp.where(boundary, when, inf)
        first = xp.argmin(when, axis=1)
        at = xp.min(when, axis=1)
        fuse = at <= lam
        if not bool(xp.any(fuse)):
            break
        step = xp.where(fuse, at, lam_now) - lam_now
        x = x + step[:, None] * slope
        lam_now = xp.where(fuse, at, lam_now)
        boundary = boundary & ~(fuse[:, None] & (edges[None, :] == first[:, None]))
    mean = xp.sum(same * V[:, None, :], axis=2) / size
    return mean - lam[:, None] * turn / size


def fused_sparse_group_prox(V, l1, fused, group, xp):
    r"""Row-wise prox of ``l1 ||w||_1 + fused sum_t |w_{t+1} - w_t| + group ||w||_2``.

    Parameters
    ----------
    V : array of shape (d, T)
        Rows ``v`` to shrink.
    l1, fused, group : float or array of shape (d,)
        The three weights (already multiplied by the step), ``>= 0``.
    xp : module
        Array namespace of ``V``.

    Returns
    -------
    W : array of shape (d, T)
        Exact: total-variation prox, then soft-thresholding (together the fused
        lasso signal approximator), then shrinkage of each row.
    """
    d = V.shape[0]
    U = tv_prox_rows(V, fused, xp) if _positive(fused, xp) else V
    if _positive(l1, xp):
        t1 = _as_row_weights(l1, d, V, xp)[:, None]
        U = xp.sign(U) * xp.maximum(xp.abs(U) - t1, 0.0)
    if _positive(group, xp):
        t3 = _as_row_weights(group, d, V, xp)[:, None]
        norms = xp.sqrt(xp.sum(U * U, axis=1, keepdims=True))
        U = U * xp.maximum(1.0 - t3 / xp.where(norms > 0, norms, 1.0), 0.0)
    return U


def _positive(weight, xp):
    if isinstance(weight, (int, float)):
        return weight > 0
    return bool(xp.any(weight > 0))


# The bracket of the dual norm is cut into _POINTS + 1 pieces per round, all
# tested by one (stacked) prox: 5 bits per round, 2^-55 of the bracket in all.
_POINTS = 31
_ROUNDS = 11
# Entries of the (rows x points, T, T) membership matrix of one stacked prox.
_STACK_ENTRIES = 2**22


def fused_sparse_group_dual(G, l1, fused, group, xp):
    r"""Row-wise dual norm of ``l1 ||w||_1 + fused TV(w) + group ||w||_2``.

    The smallest ``a`` with ``g`` in ``a`` times the subdifferential at 0, i.e.
    with ``prox_{a Omega}(g) = 0``: the zero set of ``a -> prox_{a Omega}(g)`` is an
    interval ``[a*, inf)`` (the subdifferential at 0 is convex and contains 0) and
    the prox is exact, so ``a*`` is bracketed from ``[0, min(||g||_inf / l1,
    ||g||_2 / group)]`` by testing many points of the bracket at once, all rows
    together, to ``2^-55`` of the bracket. Needs ``l1 > 0`` or ``group > 0`` (the
    fused term alone cannot zero a row of non-zero mean).

    Parameters
    ----------
    G : array of shape (d, T)
        E.g. the gradient of the loss at ``W = 0``.
    l1, fused, group : float
        The weights of the three terms.
    xp : module
        Array namespace of ``G``.

    Returns
    -------
    dual : array of shape (d,)
    """
    d, T = G.shape
    dev = array_device(G)
    bounds = []
    if l1 > 0:
        bounds.append(xp.max(xp.abs(G), axis=1) / l1)
    if group > 0:
        bounds.append(xp.sqrt(xp.sum(G * G, axis=1)) / group)
    if not bounds:
        raise ValueError("The dual norm needs l1 > 0 or group > 0.")
    hi = bounds[0] if len(bounds) == 1 else xp.minimum(bounds[0], bounds[1])
    lo = xp.zeros((d,), dtype=G.dtype, device=dev)
    points = max(1, min(_POINTS, _STACK_ENTRIES // max(d * T * T, 1)))
    rounds = _ROUNDS if points == _POINTS else math.ceil(55 / math.log2(points + 1))
    k = xp.arange(1, points + 1, dtype=G.dtype, device=dev)
    stacked = xp.reshape(G[:, None, :] * xp.ones((1, points, 1), dtype=G.dtype,
                                                  device=dev), (d * points, T))
    for _ in range(rounds):
        trial = lo[:, None] + (hi - lo)[:, None] * k[None, :] / (points + 1)
        flat = xp.reshape(trial, (-1,))
        P = fused_sparse_group_prox(stacked, flat * l1, flat * fused, flat * group, xp)
        zero = xp.reshape(xp.all(P == 0, axis=1), (d, points))
        # Monotone in the point: the first zero point is the count of non-zero ones.
        first = xp.sum(xp.astype(~zero, xp.int64), axis=1)
        index = xp.arange(points, device=dev)[None, :]
        new_hi = xp.sum(xp.where(index == first[:, None], trial, 0.0), axis=1)
        new_lo = xp.sum(xp.where(index == first[:, None] - 1, trial, 0.0), axis=1)
        hi = xp.where(first < points, new_hi, hi)
        lo = xp.where(first > 0, new_lo, lo)
    return hi
