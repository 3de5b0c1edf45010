r"""Exact leave-one-out and generalised cross-validation for a grid of ``alpha``.

With ``O`` the observed (non-NaN, positive-weight) entries, ``D = diag(w_O)`` and
``G = A (x) K``, the fitted values on ``O`` are ``f_O = S y_O`` with the smoother

    S = G_OO (G_OO + alpha D^{-1})^{-1} = I - alpha D^{-1} (G_OO + alpha D^{-1})^{-1}.

* Leave one *entry* out: ``y_p - f_{-p} = (y_p - f_p) / (1 - S_pp)`` (also with
  weights: removing an entry is giving it weight 0).
* Leave one *sample* out (every observed entry of row ``i`` at once):
  ``r_{-[i]} = (I - S_[ii])^{-1} (y_[i] - f_[i])``, ``S_[ii]`` the block of ``S`` on
  row ``i``'s observed entries.
* GCV: ``N sum_O w r^2 / (N - tr S)^2`` with ``r = y - f`` and ``N = |O|``.

Two computations:

* :func:`complete_loo_path` -- complete ``Y``, per-sample weights: in the
  eigenbases ``K~ = W^{1/2} K W^{1/2} = U diag(s) U^T`` (:func:`.complete.kernel_eigh`)
  and ``A = V diag(sigma) V^T`` (:func:`.complete.task_eigh`), with
  ``Phi = s sigma^T / (s sigma^T + alpha)``, ``diag S = (U*U) Phi (V*V)^T`` and row
  ``i``'s block is ``V diag(((U*U) Phi)[i]) V^T``: ``O(n^2 T + n T^3)`` per
  ``alpha`` once the two eigendecompositions are known.
* :func:`observed_loo_path` -- missing labels or per-entry weights: one Cholesky
  factorisation of the scaled observed-entries system ``M = D^{1/2} G_OO D^{1/2} +
  alpha I`` (:mod:`.observed`) per ``alpha``; then ``1 - S_pp = alpha (M^{-1})_pp``
  and ``I - S_[ii] = alpha D_i^{-1/2} (M^{-1})_[ii] D_i^{1/2}``.
* :func:`primal_loo_path` -- an explicit feature map ``K = Phi Phi^T`` with ``d``
  features (the linear kernel): with ``A = R R^T`` (``R`` of ``T'`` columns, the rank
  of ``A``) the weights are ``W = Z R^T``, the penalty ``alpha ||Z||_F^2`` and the
  Hessian in ``vec(Z)`` is ``H = sum_t (r_t r_t^T) (x) G_t + alpha I`` (``G_t`` the
  weighted Gram matrix of task ``t``'s features, order ``d T'``). The smoother is
  ``S_(it),(js) = w_js x_i^T Q_ts x_j`` with ``Q_ts = (r_t (x) I)^T H^{-1} (r_s (x) I)``:
  one eigendecomposition of ``H - alpha I`` serves every ``alpha``
  (``O((d T')^3)`` once, ``O(d T' d^2 T)`` per ``alpha``), or one Cholesky
  factorisation per ``alpha`` for a short grid. Tasks in different groups of ``A``
  (:func:`.plan.task_components`) are independent problems.

Knows nothing of scikit-learn: arrays of one namespace ``xp`` in and out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .._backend import (
    add_to_diagonal,
    array_device,
    cho_solve,
    cholesky,
    eigh,
    solve_triangular,
)
from .._memory import check_memory, dense_bytes, row_block
from .complete import EIGENVALUE_RTOL, task_eigh
from .observed import ObservedEntries, build_observed_system
from .plan import task_components
from .primal import REFINE_RTOL, REFINE_STEPS, primal_statistics

__all__ = [
    "LOO_MODES",
    "LooPath",
    "complete_loo_path",
    "gcv_scores",
    "observed_loo_path",
    "observed_system_bytes",
    "primal_loo_bytes",
    "primal_loo_path",
    "task_rank",
    "weighted_mean_squares",
]

LOO_MODES = ("entry", "sample", "gcv")

# What to do when the observed-entries system of the exact leave-one-out does not
# fit: refits on folds solve smaller systems (and may use conjugate gradients).
LOO_MEMORY_ADVICE = (
    "Select by refits on folds instead: pass cv= a number of folds or a splitter "
    "(e.g. cv=rkhsmtl.model_selection.MultiTaskStratifiedKFold(5)), whose fits may "
    "use conjugate gradients; or use a subsample."
)


@dataclass
class LooPath:
    """Leave-one-out quantities of a grid of ``alpha`` values.

    Attributes
    ----------
    residuals : array of shape (n_alphas, n, T)
        ``y - f`` of the fit on all the data; NaN off the observed entries.
    loo_residuals : array of shape (n_alphas, n, T) or None
        ``y - f_{-p}`` (entry) or ``y - f_{-[i]}`` (sample); NaN off the observed
        entries; None for "gcv".
    traces : list of float
        ``tr S`` for each ``alpha``.
    n_observed : int
        ``N``, the number of observed entries.
    coef : array of shape (n_alphas, n, T)
        Dual coefficients ``C`` of the fits on all the data.
    primal_coef : array of shape (n_alphas, d, T) or None
        Weights ``W = Phi^T C A`` of the fits (:func:`primal_loo_path` only).
    """

    residuals: object
    loo_residuals: object
    traces: list
    n_observed: int
    coef: object
    primal_coef: object = None


def _check_mode(mode):
    if mode not in LOO_MODES:
        raise ValueError(f"mode must be one of {LOO_MODES}, got {mode!r}.")


def _nan_off(values, observed, xp):
    return xp.where(observed, values, xp.full_like(values, math.nan))


def _columns(stack, xp):
    """(k, n, T) -> (n, k T): the alphas of a chunk side by side."""
    k, n, T = stack.shape
    return xp.reshape(xp.permute_dims(stack, (1, 0, 2)), (n, k * T))


def _per_alpha(columns, k, xp):
    """(n, k T) -> (k, n, T), the inverse of :func:`_columns`."""
    n = columns.shape[0]
    return xp.permute_dims(xp.reshape(columns, (n, k, -1)), (1, 0, 2))


def complete_loo_path(kernel_eig, task_eig, Y, alphas, xp, *, sqrt_w=None,
                      mode="entry"):
    """Leave-one-out of complete ``Y`` with per-sample weights, for every ``alpha``.

    Parameters
    ----------
    kernel_eig : tuple of (array of shape (n,), array of shape (n, n))
        ``(s, U)``, :func:`.complete.kernel_eigh` of the kernel with the same
        ``sqrt_w``.
    task_eig : tuple of (array of shape (T,), array of shape (T, T))
        ``(sigma, V)``, :func:`.complete.task_eigh` of ``A``.
    Y : array of shape (n, T)
        Complete targets.
    alphas : sequence of float
        Regularisation strengths (> 0).
    xp : module
        Array namespace of every array argument.
    sqrt_w : array of shape (n,) or None
        Square roots of the per-sample weights (None: unit weights).
    mode : {"entry", "sample", "gcv"}
        Leave one entry out, one sample (row) out, or only what GCV needs.

    Returns
    -------
    path : LooPath
    """
    _check_mode(mode)
    s, U = kernel_eig
    sigma, V = task_eig
    n, T = Y.shape
    Yw = Y if sqrt_w is None else sqrt_w[:, None] * Y
    rotated = (U.T @ Yw) @ V
    observed = (xp.ones_like(Y) if sqrt_w is None
                else xp.broadcast_to(sqrt_w[:, None], Y.shape)) > 0
    inv_sqrt_w = None
    if sqrt_w is not None:
        inv_sqrt_w = 1.0 / xp.where(sqrt_w > 0, sqrt_w, xp.ones_like(sqrt_w))
    n_observed = int(xp.sum(xp.astype(observed, xp.int64)))
    eigen_products = s[:, None] * sigma[None, :]
    U2, V2 = U * U, V * V
    eye = xp.eye(T, dtype=Y.dtype, device=array_device(Y))
    residuals, loo, coefs, traces = [], [], [], []
    # The products with U (and U o U) of every alpha of a chunk are one (n, n) x
    # (n, chunk T) product: one pass over U instead of one per alpha, whose skinny
    # products are bound by reading U from memory. A chunk of chunk T <= n / 4
    # columns keeps each temporary at a quarter of U.
    chunk = max(1, n // (4 * T))
    for start in range(0, len(alphas), chunk):
        part = [float(alpha) for alpha in alphas[start:start + chunk]]
        k = len(part)
        shifts = xp.reshape(xp.asarray(part, dtype=Y.dtype, device=array_device(Y)),
                            (k, 1, 1))
        denominators = eigen_products[None, :, :] + shifts  # (k, n, T)
        # C~ = U [(U^T Y~ V) / (s sigma^T + alpha)] V^T; the scaled residual
        # Y~ - F~ = alpha C~ (the stationarity condition).
        stacked = _columns(rotated[None, :, :] / denominators, xp)
        scaled_coefs = _per_alpha(U @ stacked, k, xp) @ V.T
        phis = eigen_products[None, :, :] / denominators
        if mode != "gcv":
            # (k, n, T): row i's diagonal of S in A's eigenbasis, for each alpha
            row_phis = _per_alpha(U2 @ _columns(phis, xp), k, xp)
        for j, alpha in enumerate(part):
            scaled_coef = scaled_coefs[j, ...]
            traces.append(float(xp.sum(phis[j, ...])))
            resid_w = alpha * scaled_coef
            coef = scaled_coef if sqrt_w is None else sqrt_w[:, None] * scaled_coef
            resid = resid_w if inv_sqrt_w is None else inv_sqrt_w[:, None] * resid_w
            coefs.append(coef)
            residuals.append(_nan_off(resid, observed, xp))
            if mode == "gcv":
                continue
            row_phi = row_phis[j, ...]
            if mode == "entry":
                diag = row_phi @ V2.T
                # A per-sample weight cancels in D^{-1/2} S~ D^{1/2} on the diagonal.
                loo.append(_nan_off(resid / (1.0 - diag), observed, xp))
                continue
            # Row i's T x T block of S~ is V diag(row_phi[i]) V^T; per-sample
            # weights are scalars on a row, so it is also the block of S.
            blocks = (V[None, :, :] * row_phi[:, None, :]) @ V.T
            solved = xp.linalg.solve(eye[None, :, :] - blocks, resid[:, :, None])
            loo.append(_nan_off(solved[:, :, 0], observed, xp))
    return LooPath(
        residuals=xp.stack(residuals), loo_residuals=None if mode == "gcv" else
        xp.stack(loo), traces=traces, n_observed=n_observed, coef=xp.stack(coefs))


def observed_system_bytes(n_observed, mode):
    """Peak bytes of :func:`observed_loo_path` on ``n_observed`` entries.

    The system factorised in place and the inverse of its factor; with
    ``mode="sample"`` also the inverse of the system (its row blocks).
    """
    return (3 if mode == "sample" else 2) * dense_bytes(n_observed)


def observed_loo_path(gram, Y, W, A, alphas, xp, *, mode="entry", budget=None):
    """Leave-one-out on the observed-entries system, for every ``alpha``.

    Parameters
    ----------
    gram : TrainingGram
        Kernel of the training inputs.
    Y : array of shape (n, T)
        Targets, NaN for missing.
    W : array of shape (n, T)
        Entry weights, zero on missing labels
        (:func:`rkhsmtl._validation.entry_weights`).
    A : array of shape (T, T)
        PSD task-structure matrix.
    alphas : sequence of float
        Regularisation strengths (> 0).
    xp : module
        Array namespace of every array argument.
    mode : {"entry", "sample", "gcv"}
        Leave one entry out, one sample (row) out, or only what GCV needs.
    budget : float or None
        Bytes allowed (default: the memory budget of ``xp``).

    Returns
    -------
    path : LooPath

    Raises
    ------
    MemoryBudgetError
        When the ``N x N`` system and its inverse factor do not fit; the message
        suggests refits on folds (``cv=``).
    """
    _check_mode(mode)
    n, T = Y.shape
    dtype = Y.dtype
    device = array_device(Y)
    obs = ObservedEntries(Y, W, xp)
    N = obs.size
    check_memory(observed_system_bytes(N, mode),
                 f"Exact leave-one-out on {N} observed entries (an {N}x{N} system "
                 "and its inverse factor, per alpha)", LOO_MEMORY_ADVICE, xp,
                 budget=budget)
    observed = xp.reshape(obs._flat_mask, (n, T))
    sqrt_w_grid = obs.scatter(obs.sqrt_w)
    inv_sqrt_w = 1.0 / xp.where(observed, sqrt_w_grid, xp.ones_like(sqrt_w_grid))
    b = obs.sqrt_w * obs.y
    eye_N = xp.eye(N, dtype=dtype, device=device)
    if mode == "sample":
        position = xp.reshape(obs._compact_of_flat, (n, T))
        block_index = xp.reshape(position[:, :, None] * N + position[:, None, :],
                                 (-1,))
        both = observed[:, :, None] & observed[:, None, :]
        eye_T = xp.eye(T, dtype=dtype, device=device)
    residuals, loo, coefs, traces = [], [], [], []
    for alpha in alphas:
        alpha = float(alpha)
        L = cholesky(build_observed_system(gram, A, obs, alpha, xp, dtype), xp,
                     overwrite_a=True)
        c_tilde = cho_solve(L, b, xp)
        L_inv = solve_triangular(L, eye_N, xp, lower=True)
        del L
        # (M^{-1})_pp = sum_q (L^{-1})_qp^2, and tr S = N - alpha tr M^{-1}.
        inv_diag = xp.sum(L_inv * L_inv, axis=0)
        traces.append(N - alpha * float(xp.sum(inv_diag)))
        # y_O - f_O = alpha D^{-1} c_O = alpha D^{-1/2} c~.
        resid = inv_sqrt_w * obs.scatter(alpha * c_tilde)
        coefs.append(obs.scatter(obs.sqrt_w * c_tilde))
        residuals.append(_nan_off(resid, observed, xp))
        if mode == "entry":
            # 1 - S_pp = alpha (M^{-1})_pp.
            loo.append(_nan_off(obs.scatter(c_tilde / (obs.sqrt_w * inv_diag)),
                                observed, xp))
        elif mode == "sample":
            inverse = L_inv.T @ L_inv
            # Row i's block of M^{-1} on its observed entries, the identity on the
            # others (padded so every row solves a T x T system).
            values = xp.reshape(xp.take(xp.reshape(inverse, (-1,)), block_index),
                                (n, T, T))
            del inverse
            blocks = xp.where(both, values, xp.broadcast_to(eye_T, (n, T, T)))
            # r_{-[i]} = D_i^{-1/2} ((M^{-1})_[ii])^{-1} c~_[i].
            solved = xp.linalg.solve(blocks, obs.scatter(c_tilde)[:, :, None])
            loo.append(_nan_off(inv_sqrt_w * solved[:, :, 0], observed, xp))
        del L_inv
    return LooPath(
        residuals=xp.stack(residuals), loo_residuals=None if mode == "gcv" else
        xp.stack(loo), traces=traces, n_observed=N, coef=xp.stack(coefs))


# Below this many alphas the primal leave-one-out factorises H once per alpha
# (Cholesky, then a triangular solve: about 4/3 (d T')^3 flops) instead of
# eigendecomposing it once (about 10 (d T')^3 flops on LAPACK's divide and conquer).
PRIMAL_EIG_MIN_ALPHAS = 6
PRIMAL_METHODS = ("auto", "eig", "cholesky")

# What to do when the primal system of the exact leave-one-out does not fit.
PRIMAL_MEMORY_ADVICE = (
    "Select by refits on folds instead (cv= a number of folds or a splitter), or "
    "reduce the number of features."
)


def task_rank(A, xp):
    """Rank of the PSD matrix ``A``: its eigenvalues above ``EIGENVALUE_RTOL`` times
    the largest (the order of the primal system is ``n_features`` times this).

    Parameters
    ----------
    A : array of shape (T, T)
        PSD task-structure matrix.
    xp : module
        Array namespace.

    Returns
    -------
    rank : int
    """
    sigma, _ = task_eigh(A, xp)
    return _rank_of(sigma, xp)


def _rank_of(sigma, xp):
    if sigma.shape[0] == 0:
        return 0
    top = float(sigma[-1])
    if not top > 0:
        return 0
    return int(xp.sum(xp.astype(sigma > EIGENVALUE_RTOL * top, xp.int64)))


def primal_loo_bytes(n_features, rank, n_tasks, method):
    """Peak bytes of one group of tasks of :func:`primal_loo_path`.

    The ``M x M`` system (``M = n_features * rank``) with, for "eig", its
    eigenvectors and LAPACK's workspace, and two ``M x (n_tasks n_features)``
    arrays (the projections ``(r_t (x) I)`` in the factor's basis).

    Parameters
    ----------
    n_features : int
        ``d``.
    rank : int
        ``T'``, the rank of ``A`` on the group.
    n_tasks : int
        Number of tasks of the group.
    method : {"eig", "cholesky"}
        Factorisation.

    Returns
    -------
    nbytes : float
    """
    M = int(n_features) * int(rank)
    side = dense_bytes(M, int(n_tasks) * int(n_features))
    if method == "eig":
        return 3 * dense_bytes(M) + 2 * side
    return dense_bytes(M) + 3 * side


def primal_loo_path(Phi, Y, W, A, alphas, xp, *, mode="entry", method="auto",
                    budget=None):
    """Leave-one-out of the primal problem (explicit features), for every ``alpha``.

    Exactly the leave-one-out of :func:`observed_loo_path` (and of
    :func:`complete_loo_path` on complete data) for the kernel ``Phi Phi^T``, from
    a system of order ``d T'`` (``d`` features, ``T'`` the rank of ``A``) instead
    of the number of observed entries.

    Parameters
    ----------
    Phi : array of shape (n, d)
        Feature map of the training inputs (``X`` for the linear kernel).
    Y : array of shape (n, T)
        Targets, NaN for missing.
    W : array of shape (n, T)
        Entry weights, zero on missing labels
        (:func:`rkhsmtl._validation.entry_weights`).
    A : array of shape (T, T)
        PSD task-structure matrix (may be singular).
    alphas : sequence of float
        Regularisation strengths (> 0).
    xp : module
        Array namespace of every array argument.
    mode : {"entry", "sample", "gcv"}
        Leave one entry out, one sample (row) out, or only what GCV needs.
    method : {"auto", "eig", "cholesky"}
        "eig": one eigendecomposition of ``H - alpha I`` for all the ``alphas``;
        "cholesky": one Cholesky factorisation of ``H`` per ``alpha``; "auto":
        "eig" from ``PRIMAL_EIG_MIN_ALPHAS`` alphas on.
    budget : float or None
        Bytes allowed (default: the memory budget of ``xp``).

    Returns
    -------
    path : LooPath
        With ``primal_coef``, the weights ``(d, T)`` of each fit.

    Raises
    ------
    MemoryBudgetError
        When the primal system of a group of tasks does not fit.
    """
    _check_mode(mode)
    if method not in PRIMAL_METHODS:
        raise ValueError(f"method must be one of {PRIMAL_METHODS}, got {method!r}.")
    alphas = [float(a) for a in alphas]
    if method == "auto":
        method = "eig" if len(alphas) >= PRIMAL_EIG_MIN_ALPHAS else "cholesky"
    T = Y.shape[1]
    device = array_device(Y)
    observed = W > 0
    Y0 = xp.where(observed, Y, xp.zeros_like(Y))
    groups = task_components(A)
    parts = []
    for tasks in groups:
        if len(groups) == 1:
            Y_g, W_g, A_g = Y0, W, A
        else:
            idx = xp.asarray(list(tasks), device=device)
            Y_g, W_g = xp.take(Y0, idx, axis=1), xp.take(W, idx, axis=1)
            A_g = xp.take(xp.take(A, idx, axis=0), idx, axis=1)
        parts.append(_primal_group(Phi, Y_g, W_g, A_g, alphas, xp, mode, method,
                                   budget))

    def merged(key):
        if len(groups) == 1:
            return parts[0][key]
        stacked = xp.concat([part[key] for part in parts], axis=2)
        order = [t for tasks in groups for t in tasks]
        inverse = [0] * T
        for position, t in enumerate(order):
            inverse[t] = position
        return xp.take(stacked, xp.asarray(inverse, device=device), axis=2)

    F = merged("fitted")
    resid = Y0[None, :, :] - F
    residuals = _nan_off(resid, observed[None, :, :], xp)
    alpha_col = xp.asarray(alphas, dtype=Y.dtype, device=device)[:, None, None]
    coef = W[None, :, :] * resid / alpha_col  # stationarity: C = w (y - f) / alpha
    loo = None if mode == "gcv" else _nan_off(merged("loo"), observed[None, :, :], xp)
    traces = [sum(part["traces"][j] for part in parts) for j in range(len(alphas))]
    n_observed = int(xp.sum(xp.astype(observed, xp.int64)))
    return LooPath(residuals=residuals, loo_residuals=loo, traces=traces,
                   n_observed=n_observed, coef=coef, primal_coef=merged("coef"))


def _primal_hessian(R, G, xp):
    """``H0 = sum_t (r_t r_t^T) (x) G_t``, rows and columns ordered ``(k, a)``."""
    T, k = R.shape
    d = G.shape[1]
    outer = xp.reshape(R[:, :, None] * R[:, None, :], (T, k * k))
    H = xp.permute_dims(outer, (1, 0)) @ xp.reshape(G, (T, d * d))
    H = xp.permute_dims(xp.reshape(H, (k, k, d, d)), (0, 2, 1, 3))
    return xp.reshape(H, (k * d, k * d))


def _primal_group(Phi, Y0, W, A, alphas, xp, mode, method, budget):
    """Fitted values, left-out residuals (not yet masked), traces and weights of one
    group of tasks linked by ``A``."""
    n, T = Y0.shape
    d = Phi.shape[1]
    dtype, device = Y0.dtype, array_device(Y0)
    sigma, V = task_eigh(A, xp)
    k = _rank_of(sigma, xp)
    if k == 0:  # A = 0: every prediction is zero
        zeros = xp.zeros((len(alphas), n, T), dtype=dtype, device=device)
        return {"fitted": zeros, "loo": zeros + Y0[None, :, :],
                "traces": [0.0] * len(alphas),
                "coef": xp.zeros((len(alphas), d, T), dtype=dtype, device=device)}
    M = k * d
    check_memory(primal_loo_bytes(d, k, T, method),
                 f"Exact leave-one-out in the primal ({d} features x rank {k} of the "
                 f"task structure: a {M}x{M} system)", PRIMAL_MEMORY_ADVICE,
                 xp, budget=budget)
    # A = R R^T over the non-zero eigenvalues only: a singular A gives a smaller
    # system, and the penalty ||Z||^2 of W = Z R^T never needs A's inverse.
    R = V[:, T - k:] * xp.sqrt(sigma[T - k:])[None, :]
    G, h = primal_statistics(Phi, Y0, W, xp)
    H0 = _primal_hessian(R, G, xp)
    b = xp.reshape(xp.permute_dims(h @ R, (1, 0)), (-1,))
    if method == "eig":
        lam, U = eigh(H0, xp)
        del H0
        lam = xp.clip(lam, 0.0, None)
        # P[t] = ((r_t (x) I)^T U), computed through R without forming r_t (x) I.
        P = xp.reshape(R @ xp.reshape(U, (k, d * M)), (T, d, M))
        Ub = U.T @ b
    else:
        eye_d = xp.eye(d, dtype=dtype, device=device)
        # J = [r_1 (x) I, ..., r_T (x) I], rows (k, a), columns (t, b).
        J = xp.reshape(xp.permute_dims(R, (1, 0))[:, None, :, None]
                       * eye_d[None, :, None, :], (M, T * d))
    rows = _PrimalRows(Phi, W, xp) if mode != "gcv" else None
    fitted, loo, traces, coefs = [], [], [], []
    for alpha in alphas:
        if method == "eig":
            inv = 1.0 / (lam + alpha)
            factor = P * xp.sqrt(inv)[None, None, :]

            def solve(rhs, inv=inv):
                return U @ ((U.T @ rhs) * inv)

            z = U @ (Ub * inv)
            trace = float(xp.sum(lam * inv))
        else:
            L = cholesky(add_to_diagonal(xp.asarray(H0, copy=True), alpha, xp), xp,
                         overwrite_a=True)
            factor = xp.permute_dims(
                xp.reshape(solve_triangular(L, J, xp, lower=True), (M, T, d)),
                (1, 2, 0))

            def solve(rhs, L=L):
                return cho_solve(L, rhs[:, None], xp)[:, 0]

            z = solve(b)
            trace = None
        # Q_ts = factor[t] factor[s]^T; with it the diagonal of S on task t is
        # w x^T Q_tt x and its trace sum_t <Q_tt, G_t>.
        Q = None
        if mode != "gcv" or trace is None:
            Q = factor @ xp.permute_dims(factor, (0, 2, 1))
        if trace is None:
            trace = float(xp.sum(Q * G))
        Z = _refine_primal(xp.permute_dims(xp.reshape(z, (k, d)), (1, 0)), solve, Phi,
                           Y0, W, R, alpha, xp)
        coef = Z @ R.T
        F = Phi @ coef
        fitted.append(F)
        coefs.append(coef)
        traces.append(trace)
        if mode == "entry":
            loo.append(rows.entry_loo(Q, Y0 - F))
        elif mode == "sample":
            loo.append(rows.sample_loo(factor, Y0 - F))
    return {"fitted": xp.stack(fitted), "loo": None if mode == "gcv" else xp.stack(loo),
            "traces": traces, "coef": xp.stack(coefs)}


def _refine_primal(Z, solve, Phi, Y0, W, R, alpha, xp):
    """Correct ``Z`` with residuals computed from the features, as the primal
    solver does (:func:`.primal._refine`): the normal equations square the
    condition number of the weighted features."""
    k = R.shape[1]
    d = Z.shape[0]
    scale = float(xp.max(xp.abs(Z))) if d else 0.0
    for _ in range(REFINE_STEPS):
        residual = W * (Y0 - Phi @ (Z @ R.T))
        g = (Phi.T @ residual) @ R - alpha * Z
        dz = solve(xp.reshape(xp.permute_dims(g, (1, 0)), (-1,)))
        dZ = xp.permute_dims(xp.reshape(dz, (k, d)), (1, 0))
        Z = Z + dZ
        change = float(xp.max(xp.abs(dZ))) if d else 0.0
        if not change > REFINE_RTOL * scale:
            break
    return Z


class _PrimalRows:
    """The observed entries of one group of tasks, laid out for the diagonal of the
    smoother (entry) and its per-row blocks (sample).

    Row ``i``'s observed entries get local positions ``0 .. m_i - 1`` (``m`` the
    largest ``m_i``): the blocks ``I - S_[ii]`` are ``m x m`` (the identity past
    ``m_i``), not ``T x T``, so one label per row (School) solves scalars.
    """

    def __init__(self, Phi, W, xp):
        self.xp, self.Phi, self.W = xp, Phi, W
        device = array_device(W)
        self.obs = obs = ObservedEntries(W, W, xp)
        self.X_obs = xp.take(Phi, obs.rows, axis=0)
        self.w_obs = obs.sqrt_w * obs.sqrt_w
        self._sample = None
        self._device = device

    def entry_loo(self, Q, resid):
        """``(y - f) / (1 - S_pp)`` on the observed entries, zero elsewhere."""
        xp, obs = self.xp, self.obs
        d = self.X_obs.shape[1]
        block = row_block(d * d, 2)
        diag = []
        for start in range(0, obs.size, block):
            stop = min(start + block, obs.size)
            X_b = self.X_obs[start:stop, :]
            Q_b = xp.take(Q, obs.tasks[start:stop], axis=0)
            diag.append(xp.sum(xp.sum(X_b[:, :, None] * Q_b, axis=1) * X_b, axis=1))
        if not diag:
            return xp.zeros_like(resid)
        S_pp = self.w_obs * xp.concat(diag)
        r = xp.take(xp.reshape(resid, (-1,)), obs.flat_index)
        return obs.scatter(r / (1.0 - S_pp))

    def _sample_layout(self):
        """Index arrays of the per-row blocks (they depend on the labels only)."""
        if self._sample is not None:
            return self._sample
        xp, obs, W = self.xp, self.obs, self.W
        n, T = W.shape
        device = self._device
        observed = W > 0
        per_row = xp.sum(xp.astype(observed, xp.int64), axis=1)
        m = int(xp.max(per_row)) if n else 0
        row_start = xp.cumulative_sum(per_row) - per_row
        local = xp.arange(obs.size, dtype=xp.int64, device=device) - xp.take(
            row_start, obs.rows)
        local_flat = xp.reshape(obs.scatter(local), (-1,))
        obs_flat = xp.reshape(observed, (-1,))
        as_float = xp.astype(observed, W.dtype)
        linked = (as_float.T @ as_float) > 0  # tasks observed together on some row
        tasks, positions, keeps = [], [], []
        for t in range(T):
            (rows_t,) = xp.nonzero(observed[:, t])
            (with_t,) = xp.nonzero(linked[t, :])
            if rows_t.shape[0] == 0:
                continue
            cell = rows_t[:, None] * T + with_t[None, :]
            l_t = xp.take(local_flat, rows_t * T + t)
            l_s = xp.take(local_flat, xp.reshape(cell, (-1,)))
            pos = (rows_t[:, None] * (m * m) + l_t[:, None] * m
                   + xp.reshape(l_s, cell.shape))
            tasks.append((t, rows_t, with_t, xp.take(xp.reshape(W, (-1,)),
                                                     xp.reshape(cell, (-1,)))))
            positions.append(xp.reshape(pos, (-1,)))
            keeps.append(xp.take(obs_flat, xp.reshape(cell, (-1,))))
        (kept,) = xp.nonzero(xp.concat(keeps))
        order = xp.argsort(xp.take(xp.concat(positions), kept))
        offsets = xp.arange(m, dtype=xp.int64, device=device)
        present = offsets[None, :] < per_row[:, None]  # (n, m)
        both = xp.reshape(present[:, :, None] & present[:, None, :], (-1,))
        compact = xp.clip(xp.cumulative_sum(xp.astype(both, xp.int64)) - 1, 0, None)
        entry_of = xp.reshape(xp.clip(row_start[:, None] + offsets[None, :], 0,
                                      max(obs.size - 1, 0)), (-1,))
        back = xp.reshape(xp.arange(n, dtype=xp.int64, device=device)[:, None] * m
                          + xp.reshape(local_flat, (n, T)), (-1,))
        self._sample = dict(m=m, tasks=tasks, kept=kept, order=order, both=both,
                            compact=compact, present=present, entry_of=entry_of,
                            back=back)
        return self._sample

    def sample_loo(self, factor, resid):
        """``(I - S_[ii])^{-1} (y_[i] - f_[i])`` for every row, zero off the
        observed entries; ``Q_ts = factor[t] factor[s]^T``."""
        xp, obs, Phi = self.xp, self.obs, self.Phi
        lay = self._sample_layout()
        n, T = self.W.shape
        m = lay["m"]
        if m == 0:
            return xp.zeros_like(resid)
        d, M = factor.shape[1], factor.shape[2]
        values = []
        for t, rows_t, with_t, w_cells in lay["tasks"]:
            others = xp.take(factor, with_t, axis=0)  # (s, d, M)
            Q_t = factor[t, ...] @ xp.reshape(xp.permute_dims(others, (2, 0, 1)),
                                              (M, -1))  # (d, s*d): Q_ts side by side
            X_t = xp.take(Phi, rows_t, axis=0)
            quad = xp.sum(xp.reshape(X_t @ Q_t, (X_t.shape[0], -1, d))
                          * X_t[:, None, :], axis=2)
            values.append(xp.reshape(quad, (-1,)) * w_cells)  # S_(it),(is)
        v = xp.take(xp.take(xp.concat(values), lay["kept"]), lay["order"])
        S_blocks = xp.where(lay["both"], xp.take(v, lay["compact"]),
                            xp.zeros_like(xp.astype(lay["both"], resid.dtype)))
        eye = xp.eye(m, dtype=resid.dtype, device=array_device(resid))
        system = eye[None, :, :] - xp.reshape(S_blocks, (n, m, m))
        r_obs = xp.take(xp.reshape(resid, (-1,)), obs.flat_index)
        r_rows = xp.where(lay["present"],
                          xp.reshape(xp.take(r_obs, lay["entry_of"]), (n, m)),
                          xp.zeros(lay["present"].shape, dtype=resid.dtype,
                                   device=array_device(resid)))
        solved = xp.linalg.solve(system, r_rows[:, :, None])[:, :, 0]
        out = xp.take(xp.reshape(solved, (-1,)), lay["back"])
        return xp.where(self.W > 0, xp.reshape(out, (n, T)), xp.zeros_like(resid))


def weighted_mean_squares(residuals, W, xp):
    """``(1/N) sum_O w r^2`` pooled, and per task ``(1/N_t) sum_i w_it r_it^2``.

    Parameters
    ----------
    residuals : array of shape (n, T)
        Residuals, NaN (or anything) off the observed entries.
    W : array of shape (n, T)
        Entry weights, zero off the observed entries.
    xp : module
        Array namespace.

    Returns
    -------
    pooled : float
    per_task : array of shape (T,)
        NaN for a task without an observed entry.
    """
    observed = W > 0
    sq = xp.where(observed, W * residuals * residuals, xp.zeros_like(W))
    counts = xp.sum(xp.astype(observed, W.dtype), axis=0)
    totals = xp.sum(sq, axis=0)
    safe = xp.where(counts > 0, counts, xp.ones_like(counts))
    per_task = xp.where(counts > 0, totals / safe, xp.full_like(totals, math.nan))
    return float(xp.sum(totals)) / float(xp.sum(counts)), per_task


def gcv_scores(residuals, W, trace, xp):
    """Generalised cross-validation of the weighted problem (Golub, Heath & Wahba).

    ``GCV = N sum_O w r^2 / (N - tr S)^2``: the weighted mean square of the
    residuals ``r / (1 - tr S / N)``, each leave-one-out denominator ``1 - S_pp``
    replaced by its mean.

    Parameters
    ----------
    residuals : array of shape (n, T)
        ``y - f`` of the fit on all the data (anything off the observed entries).
    W : array of shape (n, T)
        Entry weights, zero off the observed entries.
    trace : float
        ``tr S``.
    xp : module
        Array namespace.

    Returns
    -------
    gcv : float
    per_task : array of shape (T,)
        ``(1/N_t) sum_i w_it (r_it / (1 - tr S / N))^2``; their mean weighted by
        ``N_t`` is ``gcv``.
    """
    pooled, per_task = weighted_mean_squares(residuals, W, xp)
    N = float(xp.sum(xp.astype(W > 0, W.dtype)))
    factor = 1.0 / (1.0 - trace / N) ** 2
    return pooled * factor, per_task * factor
