r"""Closed forms for complete ``Y`` with per-sample weights.

Objective (a weighted sum, as in scikit-learn's ``KernelRidge``)::

    J(C) = sum_{i,t} w_i (Y[i, t] - F[i, t])^2 + alpha tr(C^T K C A),   F = K C A.

Its stationarity condition is ``W K C A + alpha C = W Y``; with
``C = W^{1/2} C~`` it becomes the Sylvester equation
``K~ C~ A + alpha C~ = W^{1/2} Y`` where ``K~ = W^{1/2} K W^{1/2}``. Samples with zero
weight get zero coefficients automatically.

Two exact solvers:

* :func:`solve_sylvester_eig` -- one eigendecomposition of ``K~`` and one of ``A``:
  ``C~ = U [(U^T Y~ V) / (s sigma^T + alpha)] V^T``. Never forms the ``nT x nT``
  system.
* :func:`solve_rotated_cholesky` -- rotating ``Y`` into the eigenbasis of ``A``
  decouples the tasks: column ``j`` of ``Z = C~ V`` solves
  ``(sigma_j K~ + alpha I) z_j = (Y~ V)_j``. Columns sharing an eigenvalue share one
  Cholesky factorisation, so a structure with few distinct eigenvalues
  (independent: 1, mean-regularised: 2, known clusters: a few) costs a few
  Cholesky factorisations, each ~10x cheaper than an eigendecomposition.
"""

from __future__ import annotations

import math

from .._backend import add_to_diagonal, array_device, cho_solve, cholesky, eigh

__all__ = [
    "CompleteFactorization",
    "distinct_eigenvalue_groups",
    "kernel_eigh",
    "positive_eigenvalue_ratio",
    "shift_levels",
    "solve_rotated_cholesky",
    "solve_shifted_cg",
    "solve_sylvester_eig",
]

# Eigenvalues of A closer than this (relative to the largest) count as equal.
EIGENVALUE_RTOL = 1e-12

# Rounds of iterative refinement of solve_shifted_cg: its columns stop on an
# estimate of their residual, which the residual computed from K then corrects.
_REFINEMENTS = 4


def _weighted(K, Y, sqrt_w):
    if sqrt_w is None:
        return K, Y
    return sqrt_w[:, None] * K * sqrt_w[None, :], sqrt_w[:, None] * Y


def task_eigh(A, xp):
    """Eigenvalues (clipped at 0: A is PSD up to rounding) and eigenvectors of A."""
    sigma, V = eigh(A, xp)
    return xp.clip(sigma, 0.0, None), V


def distinct_eigenvalue_groups(sigma, xp, rtol=EIGENVALUE_RTOL):
    """Split sorted eigenvalues into runs of (numerically) equal values.

    Returns
    -------
    groups : list of (start, stop, value)
        Half-open index ranges into ``sigma`` and the run's mean eigenvalue.
    """
    values = [float(v) for v in sigma]
    scale = max(max(values), 0.0) if values else 0.0
    tol = rtol * max(scale, 1e-300)
    groups = []
    start = 0
    for j in range(1, len(values) + 1):
        if j == len(values) or values[j] - values[j - 1] > tol:
            run = values[start:j]
            groups.append((start, j, sum(run) / len(run)))
            start = j
    return groups


def kernel_eigh(K, xp, sqrt_w=None):
    """Eigenvalues and eigenvectors of the weighted kernel ``K~ = W^{1/2} K W^{1/2}``.

    The factorisation every closed form of this module starts from; the exact
    leave-one-out of :mod:`.loo` re-uses one of them for a whole grid of ``alpha``
    and task structures. Eigenvalues are not clipped (see
    :func:`solve_sylvester_eig`).

    Parameters
    ----------
    K : array of shape (n, n)
        Kernel matrix of the training inputs (not modified).
    xp : module
        Array namespace.
    sqrt_w : array of shape (n,) or None
        Square roots of the per-sample weights.

    Returns
    -------
    s : array of shape (n,)
        Eigenvalues, ascending.
    U : array of shape (n, n)
        Orthonormal eigenvectors (columns).
    """
    Kw = K if sqrt_w is None else sqrt_w[:, None] * K * sqrt_w[None, :]
    return eigh(Kw, xp)


def solve_sylvester_eig(K, Y, A, alpha, xp, sqrt_w=None):
    """Dual coefficients ``C`` (n, T) by the eigendecomposition closed form.

    Parameters
    ----------
    K : array of shape (n, n)
        Kernel matrix of the training inputs (not modified).
    Y : array of shape (n, T)
        Complete targets.
    A : array of shape (T, T)
        Task-structure matrix (PSD).
    alpha : float
        Regularisation strength (> 0).
    xp : module
        Array namespace.
    sqrt_w : array of shape (n,) or None
        Square roots of the per-sample weights.

    Returns
    -------
    C : array of shape (n, T)
    """
    Yw = Y if sqrt_w is None else sqrt_w[:, None] * Y
    # K's eigenvalues are not clipped: an indefinite kernel (sigmoid) then gives
    # the same solution as scikit-learn's KernelRidge.
    s, U = kernel_eigh(K, xp, sqrt_w)
    sigma, V = task_eigh(A, xp)
    rotated = (U.T @ Yw) @ V
    C = U @ (rotated / (s[:, None] * sigma[None, :] + alpha)) @ V.T
    return C if sqrt_w is None else sqrt_w[:, None] * C


def solve_rotated_cholesky(K, Y, A, alpha, xp, sqrt_w=None):
    """Dual coefficients ``C`` (n, T): one Cholesky per distinct eigenvalue of A.

    Same parameters and result as :func:`solve_sylvester_eig`.
    """
    Kw, Yw = _weighted(K, Y, sqrt_w)
    sigma, V = task_eigh(A, xp)
    rotated = Yw @ V
    groups = distinct_eigenvalue_groups(sigma, xp)
    sigma_max = groups[-1][2]
    Z = xp.zeros_like(rotated)
    for start, stop, value in groups:
        block = rotated[:, start:stop]
        if value <= EIGENVALUE_RTOL * sigma_max:
            # A direction A does not reach: (0 * K + alpha) z = y.
            Z[:, start:stop] = block / alpha
            continue
        shifted = add_to_diagonal(xp.asarray(Kw, copy=True), alpha / value, xp)
        L = cholesky(shifted, xp, overwrite_a=True)
        del shifted
        Z[:, start:stop] = cho_solve(L, block, xp) / value
        del L
    C = Z @ V.T
    return C if sqrt_w is None else sqrt_w[:, None] * C


def count_positive_groups(A, xp):
    """Number of Cholesky factorisations :func:`solve_rotated_cholesky` needs."""
    sigma, _ = task_eigh(A, xp)
    groups = distinct_eigenvalue_groups(sigma, xp)
    sigma_max = groups[-1][2]
    return sum(1 for _, _, v in groups if v > EIGENVALUE_RTOL * sigma_max)


def positive_eigenvalue_ratio(A, xp):
    """``sigma_max / sigma_min`` over the positive eigenvalues of ``A`` (1 when none).

    The spread of the shifts ``alpha / sigma_j`` that :func:`solve_shifted_cg` covers
    with a few factorisations.
    """
    sigma, _ = task_eigh(A, xp)
    groups = distinct_eigenvalue_groups(sigma, xp)
    sigma_max = groups[-1][2]
    positive = [v for _, _, v in groups if v > EIGENVALUE_RTOL * sigma_max]
    return positive[-1] / positive[0] if positive else 1.0


def shift_levels(shifts, n_levels):
    """Where to factorise ``K + mu I`` so that every shift is near one factor.

    Parameters
    ----------
    shifts : list of float
        The positive shifts ``alpha / sigma_j`` of the columns, any order.
    n_levels : int
        Factorisations allowed.

    Returns
    -------
    levels : list of float
        The distinct shifts themselves when there are at most ``n_levels`` of them
        (then every column is solved exactly by its factor), else the geometric
        centres of ``n_levels`` equal segments of ``[log min, log max]``: no shift is
        further than ``(max / min)^(1 / (2 n_levels))`` from its level, which bounds
        the condition number of each preconditioned column system.
    assign : list of int
        The level of each shift (the nearest in ratio).
    """
    distinct = sorted(set(shifts))
    if len(distinct) <= n_levels:
        levels = distinct
    else:
        lo, hi = math.log(distinct[0]), math.log(distinct[-1])
        width = (hi - lo) / n_levels
        levels = [math.exp(lo + (k + 0.5) * width) for k in range(n_levels)]
    assign = [min(range(len(levels)), key=lambda k, m=m: abs(math.log(m / levels[k])))
              for m in shifts]
    return levels, assign


def _shifted_cg_columns(L, b, delta, thresholds, xp, max_iter):
    """Columns ``z_j`` of ``(K + mu_j I) z_j = b_j`` from the factor ``L`` of ``K + mu I``.

    Conjugate gradients on the equivalent symmetric positive definite systems
    ``(I + delta_j B) z_j = B b_j`` with ``B = (K + mu I)^{-1}`` and
    ``delta_j = mu_j - mu``, all columns at once (each with its own step sizes):
    the eigenvalues of ``I + delta_j B`` are ``(s + mu_j) / (s + mu)`` over the
    eigenvalues ``s`` of ``K``, so the condition number is at most
    ``max(mu_j / mu, mu / mu_j)``. A product costs one pair of triangular solves and
    none with ``K``. The residual of the original system is ``(K + mu I)`` times
    the residual ``r~`` of this one; a column stops once ``||r~_j||`` times the
    ratio ``||b_j|| / ||B b_j||`` (an upper estimate of that factor: ``b`` weighs
    the large eigenvalues of ``K`` most, the error left late the small ones) is
    below its threshold. The caller checks the true residual (a recurrence for it
    is unstable when ``mu_j << mu``).

    Returns
    -------
    Z : array of shape (n, m)
    n_iter : int
        Iterations made (products with ``B``).
    """
    n, m = b.shape
    order = xp.arange(m, device=array_device(b))
    done_idx, done_z = [], []
    z = xp.zeros_like(b)
    r = cho_solve(L, b, xp)
    rr = xp.sum(r * r, axis=0)
    b_norm = xp.sqrt(xp.sum(b * b, axis=0))
    tiny = xp.full_like(rr, 1e-300)
    limits = thresholds * xp.sqrt(xp.maximum(rr, tiny)) / xp.maximum(b_norm, tiny)
    p = r
    n_iter = 0
    while True:
        finished = xp.sqrt(rr) <= limits
        if n_iter >= max_iter:
            finished = xp.ones_like(finished)
        if bool(xp.any(finished)):
            (out,) = xp.nonzero(finished)
            done_idx.append(xp.take(order, out))
            done_z.append(xp.take(z, out, axis=1))
            (keep,) = xp.nonzero(~finished)
            if keep.shape[0] == 0:
                break
            order, delta, limits, rr = (xp.take(v, keep) for v in
                                        (order, delta, limits, rr))
            z, r, p = (xp.take(v, keep, axis=1) for v in (z, r, p))
        Mp = p + delta * cho_solve(L, p, xp)
        gamma = rr / xp.sum(p * Mp, axis=0)
        z = z + gamma * p
        r = r - gamma * Mp
        rr_new = xp.sum(r * r, axis=0)
        beta = rr_new / rr
        rr = rr_new
        p = r + beta * p
        n_iter += 1
    position = xp.concat(done_idx)
    inverse = xp.argsort(position)
    return xp.take(xp.concat(done_z, axis=1), inverse, axis=1), n_iter


def solve_shifted_cg(K, Y, A, alpha, xp, sqrt_w=None, *, n_levels=1, tol=1e-10,
                     max_iter=1000):
    r"""Dual coefficients ``C`` (n, T) from a few Cholesky factorisations, any ``A``.

    In the eigenbasis of ``A`` column ``j`` solves ``(K~ + mu_j I) z_j = y_j / sigma_j``
    with ``mu_j = alpha / sigma_j`` (see :func:`solve_rotated_cholesky`). Instead of
    one factorisation per distinct ``mu_j``, ``K~ + mu I`` is factorised at
    ``n_levels`` shifts (:func:`shift_levels`) and every column is solved by
    conjugate gradients preconditioned by the factor of its nearest shift
    (:func:`_shifted_cg_columns`), to a relative stationarity residual
    ``||K~ C~ A + alpha C~ - W^{1/2} Y||_F / ||W^{1/2} Y||_F <= tol``. The residual
    is then computed once more from ``K`` itself (one product) and reported; should
    rounding in the recurrences leave it above ``tol``, the residual is solved for
    again (iterative refinement).

    Parameters
    ----------
    K, Y, A, alpha, xp, sqrt_w
        As in :func:`solve_sylvester_eig`.
    n_levels : int
        Cholesky factorisations of a shifted kernel matrix.
    tol : float
        Relative stationarity residual to reach.
    max_iter : int
        Conjugate-gradient iterations per factor and refinement round.

    Returns
    -------
    C : array of shape (n, T)
    info : dict
        ``n_factorizations``, ``n_iter`` (the most iterations of one factor's
        columns, summed over refinement rounds), ``relative_residual`` (from ``K``),
        ``converged``.
    """
    Kw, Yw = _weighted(K, Y, sqrt_w)
    sigma, V = task_eigh(A, xp)
    T = Y.shape[1]
    groups = distinct_eigenvalue_groups(sigma, xp)
    sigma_max = groups[-1][2]
    # Each column takes its group's eigenvalue: equal eigenvalues share a factor.
    values = [value for start, stop, value in groups for _ in range(start, stop)]
    positive = [j for j, v in enumerate(values) if v > EIGENVALUE_RTOL * sigma_max]
    levels, assign = shift_levels([alpha / values[j] for j in positive], n_levels)
    factors = []
    for level in levels:
        shifted = add_to_diagonal(xp.asarray(Kw, copy=True), level, xp)
        factors.append(cholesky(shifted, xp, overwrite_a=True))
        del shifted
    device = array_device(Yw)
    y_norm = float(xp.linalg.vector_norm(Yw))
    target = tol * y_norm
    sigma_c = xp.asarray([v if j in positive else 1.0 for j, v in enumerate(values)],
                         dtype=Yw.dtype, device=device)
    null = xp.asarray([j not in positive for j in range(T)], device=device)

    def solve(rhs, budget):
        """``C~`` with ``K~ C~ A + alpha C~ = rhs`` and the iterations made."""
        rotated = rhs @ V
        # Directions A does not reach: (0 * K + alpha) z = y; the others are scaled to
        # (K~ + mu_j I) z_j = y_j / sigma_j.
        Z = xp.where(null[None, :], rotated / alpha, xp.zeros_like(rotated))
        b = rotated / sigma_c[None, :]
        most = 0
        for k, L in enumerate(factors):
            cols = [positive[i] for i, a in enumerate(assign) if a == k]
            idx = xp.asarray(cols, device=device)
            sig = xp.take(sigma_c, idx)
            delta = xp.asarray([alpha / values[j] - levels[k] for j in cols],
                               dtype=Yw.dtype, device=device)
            # Column j's residual in the original scale is sigma_j times its own.
            thresholds = target / (sig * len(positive) ** 0.5)
            Zk, n_iter = _shifted_cg_columns(L, xp.take(b, idx, axis=1), delta,
                                                thresholds, xp, budget)
            most = max(most, n_iter)
            Z = Z + _scatter_columns(Zk, cols, T, xp)
        return Z @ V.T, most

    def residual(Ct):
        return (Kw @ Ct) @ A + alpha * Ct - Yw

    Ct, n_iter = solve(Yw, max_iter)
    R = residual(Ct)
    rel = float(xp.linalg.vector_norm(R)) / max(y_norm, 1e-300)
    for _ in range(_REFINEMENTS):
        if rel <= tol or y_norm == 0.0:
            break
        step, more = solve(-R, max_iter)
        n_iter += more
        Ct = Ct + step
        R = residual(Ct)
        rel = float(xp.linalg.vector_norm(R)) / max(y_norm, 1e-300)
    C = Ct if sqrt_w is None else sqrt_w[:, None] * Ct
    info = {"n_factorizations": len(factors), "n_iter": n_iter,
            "relative_residual": rel, "converged": rel <= tol}
    return C, info


def _scatter_columns(Z, cols, T, xp):
    """The ``(n, T)`` matrix with ``Z``'s columns at positions ``cols``, zero elsewhere."""
    if not cols:
        return xp.zeros((Z.shape[0], T), dtype=Z.dtype, device=array_device(Z))
    # Through a selection matrix: the array API has no column assignment by index.
    ones = [[1.0 if t == c else 0.0 for t in range(T)] for c in cols]
    select = xp.asarray(ones, dtype=Z.dtype, device=array_device(Z))
    return Z @ select


class CompleteFactorization:
    """Solves ``K~ Z A + alpha Z = R`` for any right-hand side, ``K~`` factorised once.

    The closed forms of this module with the factorisation kept: the complete-data
    solution operator that preconditions the missing-label solver
    (:func:`~.cg.solve_masked_cg`).

    Parameters
    ----------
    Kw : array of shape (n, n)
        The (weighted) kernel matrix ``K~``; not modified.
    A : array of shape (T, T)
        Task structure (PSD).
    alpha : float
        Regularisation strength (> 0).
    xp : module
        Array namespace.
    method : {"cholesky", "eig"}
        One Cholesky factorisation per distinct positive eigenvalue of ``A``
        (:func:`solve_rotated_cholesky`), or one eigendecomposition of ``K~``
        (:func:`solve_sylvester_eig`).

    Attributes
    ----------
    n_factorizations : int
        Cholesky factorisations made (0 for "eig").
    """

    def __init__(self, Kw, A, alpha, xp, method="cholesky"):
        self.xp, self.alpha, self.method = xp, float(alpha), method
        self.sigma, self.V = task_eigh(A, xp)
        self.n_factorizations = 0
        if method == "eig":
            self.s, self.U = eigh(Kw, xp)
            return
        groups = distinct_eigenvalue_groups(self.sigma, xp)
        sigma_max = groups[-1][2]
        self.blocks = []  # (start, stop, value, factor or None)
        for start, stop, value in groups:
            if value <= EIGENVALUE_RTOL * sigma_max:
                self.blocks.append((start, stop, value, None))
                continue
            shifted = add_to_diagonal(xp.asarray(Kw, copy=True), self.alpha / value, xp)
            self.blocks.append((start, stop, value,
                                cholesky(shifted, xp, overwrite_a=True)))
            del shifted
            self.n_factorizations += 1

    def solve(self, R):
        """``Z`` of shape (n, T) with ``K~ Z A + alpha Z = R``."""
        xp, alpha = self.xp, self.alpha
        rotated = R @ self.V
        if self.method == "eig":
            denom = self.s[:, None] * self.sigma[None, :] + alpha
            return self.U @ ((self.U.T @ rotated) / denom) @ self.V.T
        parts = []
        for start, stop, value, L in self.blocks:
            block = rotated[:, start:stop]
            parts.append(block / alpha if L is None else cho_solve(L, block, xp) / value)
        return xp.concat(parts, axis=1) @ self.V.T
