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

from .._backend import add_to_diagonal, cho_solve, cholesky, eigh

__all__ = [
    "distinct_eigenvalue_groups",
    "kernel_eigh",
    "solve_rotated_cholesky",
    "solve_sylvester_eig",
]

# Eigenvalues of A closer than this (relative to the largest) count as equal.
EIGENVALUE_RTOL = 1e-12


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
