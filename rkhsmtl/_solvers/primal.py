r"""Primal solver for kernels with a small explicit feature map (``K = Phi Phi^T``).

With ``r`` features (the linear kernel: ``Phi = X``) the task functions are
``f_t(x) = phi(x)^T W[:, t]`` with ``W = Phi^T C A`` (``r x T``), and the ridge objective
(weighted squared loss on the observed entries plus ``alpha tr(C^T K C A)``) reads

    J = sum_{(i,t) in O} w_it (Y_it - (Phi W)_it)^2 + alpha tr(W A^+ W^T).

Writing ``W = U S`` with ``S = A^{1/2}`` (symmetric square root) removes the inverse
(and allows a singular ``A``): the penalty is ``alpha ||U||_F^2`` and the normal
equations for ``vec(U)`` (columns stacked) are

    (sum_t (S e_t)(S e_t)^T (x) G_t + alpha I) vec(U) = sum_t (S e_t) (x) h_t,

with the per-task statistics ``G_t = Phi^T D_t Phi`` and ``h_t = Phi^T D_t y_t``
(``D_t`` the weights of task ``t``, zero where ``Y`` is missing). The system is
``rT x rT``: for School (``r = 28``, ``T = 139``) a 3 892 x 3 892 Cholesky instead
of the 11 000 x 11 000 observed-entries system. The dual coefficients follow from
stationarity, ``C = w (Y - F) / alpha`` on observed entries (zero elsewhere).
"""

from __future__ import annotations

from .._backend import add_to_diagonal, cho_solve, cholesky
from .complete import task_eigh

__all__ = ["primal_statistics", "solve_primal", "solve_primal_statistics"]


def primal_statistics(Phi, Y, W_entry, xp):
    """The per-task statistics ``G_t = Phi^T D_t Phi`` and ``h_t = Phi^T D_t y_t``.

    They do not depend on ``A`` or ``alpha``: a learned structure computes them once
    per fit. Each task uses only its own labelled rows, so with one label per row
    (School) the cost is ``nnz r^2``, not ``T n r^2``.

    Parameters
    ----------
    Phi : array of shape (n, r)
        Feature map of the training inputs.
    Y : array of shape (n, T)
        Targets, NaN for missing.
    W_entry : array of shape (n, T)
        Non-negative weights, zero where ``Y`` is missing.
    xp : module
        Array namespace.

    Returns
    -------
    G : array of shape (T, r, r)
    h : array of shape (r, T)
    """
    T = Y.shape[1]
    Y0 = xp.where(xp.isnan(Y), xp.zeros_like(Y), Y)
    G, h = [], []
    for t in range(T):
        rows = xp.nonzero(W_entry[:, t] != 0)[0]
        Phi_t = xp.take(Phi, rows, axis=0)
        weighted = xp.take(W_entry[:, t], rows)[:, None] * Phi_t
        G.append(Phi_t.T @ weighted)
        h.append(weighted.T @ xp.take(Y0[:, t], rows))
    return xp.stack(G), xp.stack(h, axis=1)


# Iterative refinement of the normal equations: at most this many corrections,
# stopped once a correction is below REFINE_RTOL of the solution.
REFINE_STEPS = 3
REFINE_RTOL = 1e-14


def _refine(U, L, Phi, Y0, W_entry, S, alpha, xp):
    """Correct ``U`` with residuals computed from the features, not from ``G_t``.

    The normal equations square the condition number of the weighted features:
    at a tiny ``alpha`` (1e-10 with features of norm ~10, condition ~1e12) their
    Cholesky solution is accurate to ~1e-4 only, and predictions drift from the
    least-squares ones. The residual of the normal equations evaluated as
    ``Phi^T (w (Y - Phi U S)) S - alpha U`` (never forming ``Phi^T D Phi``) and
    solved with the same factor corrects that error (semi-normal equations with
    iterative refinement, Björck 1987): each step multiplies it by about
    ``eps * cond``.
    """
    scale = float(xp.max(xp.abs(U))) if U.shape[0] else 0.0
    for _ in range(REFINE_STEPS):
        residual = W_entry * (Y0 - Phi @ (U @ S))
        g = (Phi.T @ residual) @ S - alpha * U  # (r, T): column s is block s
        dU = solve_normal_equations(L, g, xp)
        U = U + dU
        change = float(xp.max(xp.abs(dU))) if U.shape[0] else 0.0
        if not change > REFINE_RTOL * scale:  # NaN stops too: nothing to refine
            break
    return U


def task_root(A, xp):
    """``S = A^{1/2}`` (symmetric, eigenvalues clipped at 0): ``V = U S``."""
    sigma, V = task_eigh(A, xp)
    return (V * xp.sqrt(sigma)[None, :]) @ V.T


def per_task_times(G, V, xp):
    """``[G_t v_t]_t``: column ``t`` of ``V`` times the task's ``G_t``."""
    Vt = xp.permute_dims(V, (1, 0))[:, :, None]  # (T, r, 1)
    return xp.permute_dims(xp.matmul(G, Vt)[:, :, 0], (1, 0))


def normal_equations_factor(G, S, alpha, xp):
    """Cholesky factor of the normal equations of ``U`` from the per-task
    statistics: ``H[(s, a), (s', b)] = sum_t S[s, t] S[s', t] G[t, a, b] + alpha
    delta``."""
    T, r = G.shape[0], G.shape[1]
    # One (T^2, T) x (T, r^2) product, then the axes reordered to (s, a, s', b).
    outer = xp.reshape(S[None, :, :] * S[:, None, :], (T * T, T))  # [(s, s'), t]
    H = outer @ xp.reshape(G, (T, r * r))
    H = xp.reshape(xp.permute_dims(xp.reshape(H, (T, T, r, r)), (0, 2, 1, 3)),
                   (r * T, r * T))
    return cholesky(add_to_diagonal(H, alpha, xp), xp, overwrite_a=True)


def solve_normal_equations(L, rhs, xp):
    """``U`` (``r x T``) from the factor and a right-hand side of the same shape
    (column ``s`` is block ``s`` of the stacked system)."""
    r, T = rhs.shape
    u = cho_solve(L, xp.reshape(xp.permute_dims(rhs, (1, 0)), (-1,))[:, None], xp)
    return xp.permute_dims(xp.reshape(u[:, 0], (T, r)), (1, 0))


def _solve_normal_equations(G, h, S, alpha, xp):
    """``U`` (``r x T``, column ``s`` is block ``s``) and the Cholesky factor of the
    normal equations, from the per-task statistics alone."""
    L = normal_equations_factor(G, S, alpha, xp)
    return solve_normal_equations(L, h @ S.T, xp), L


def solve_primal_statistics(G, h, A, alpha, xp):
    """Primal weights ``W`` (``r x T``) of the fixed-structure ridge from statistics.

    The normal equations of :func:`solve_primal` without the features: what the
    row-chunked, streamed or distributed statistics of an approximate kernel
    (:mod:`.statistics`) allow. Without the features there is no iterative
    refinement, so at a tiny ``alpha`` the weights carry the error of the squared
    condition number (see :func:`_refine`).

    Parameters
    ----------
    G : array of shape (T, r, r)
        Per-task ``Phi^T D_t Phi``.
    h : array of shape (r, T)
        Per-task ``Phi^T D_t y_t``.
    A : array of shape (T, T)
        PSD task structure.
    alpha : float
        Regularisation strength.
    xp : module
        Array namespace.

    Returns
    -------
    coef : array of shape (r, T)
    """
    S = task_root(A, xp)
    U, _ = _solve_normal_equations(G, h, S, alpha, xp)
    return U @ S


def solve_primal(Phi, Y, W_entry, A, alpha, xp, *, statistics=None):
    """Fixed-structure ridge in the primal.

    Parameters
    ----------
    Phi : array of shape (n, r)
        Feature map of the training inputs (``K = Phi Phi^T``).
    Y : array of shape (n, T)
        Targets, NaN for missing.
    W_entry : array of shape (n, T)
        Non-negative weights, zero where ``Y`` is missing.
    A : array of shape (T, T)
        PSD task structure.
    alpha : float
        Regularisation strength.
    xp : module
        Array namespace.
    statistics : tuple (G, h) or None
        :func:`primal_statistics` of the same ``Phi``, ``Y`` and ``W_entry``, when
        already computed (the B-steps of a learned structure); None computes them.

    Returns
    -------
    C : array of shape (n, T)
        Dual coefficients (``K C A`` are the predictions).
    coef : array of shape (r, T)
        Primal coefficients ``W = Phi^T C A``.
    F : array of shape (n, T)
        Training predictions ``Phi W``.
    """
    Y0 = xp.where(xp.isnan(Y), xp.zeros_like(Y), Y)
    S = task_root(A, xp)
    G, h = primal_statistics(Phi, Y, W_entry, xp) if statistics is None else statistics
    U, L = _solve_normal_equations(G, h, S, alpha, xp)
    U = _refine(U, L, Phi, Y0, W_entry, S, alpha, xp)
    coef = U @ S
    F = Phi @ coef
    C = W_entry * (Y0 - F) / alpha
    return C, coef, F
