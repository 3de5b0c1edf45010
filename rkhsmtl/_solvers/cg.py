r"""Matrix-free preconditioned conjugate gradients for the observed-entries system.

Solves ``(H + alpha I) c~ = D^{1/2} y_O`` with ``H = D^{1/2} G_OO D^{1/2}`` (see
:mod:`rkhsmtl._solvers.observed`) using only products with ``H``. The three parts
are kept apart, as in Falkon: the product with the system is one of the operators
of :mod:`.operators` (chosen by the plan), the preconditioner comes from
:mod:`.preconditioners`, and the iteration is the package's single
:func:`.krylov.pcg`. This module only puts them together and reports.
"""

from __future__ import annotations

import math
import warnings

from sklearn.exceptions import ConvergenceWarning

from .krylov import pcg
from .preconditioners import observed_preconditioner

__all__ = ["solve_masked_cg", "solve_observed_cg"]

# solve_masked_cg stops its recurrences a little below tol (their residual drifts
# from the true one in the last digits) and restarts at most this many times.
_SAFETY = 0.5
_RESTARTS = 4


def solve_observed_cg(operator, obs, alpha, xp, dtype, *, tol, max_iter,
                      preconditioner, rank, gram, A, x0=None):
    """Dual coefficients on the observed entries by preconditioned CG.

    Parameters
    ----------
    operator : object
        ``matmat(V) = (H + alpha I) V`` and ``apply_psd(V) = H V``
        (:mod:`.operators`).
    obs, alpha, xp, gram, A
        As in :class:`~.operators.KroneckerOperator`.
    dtype : dtype
        Floating dtype of the system.
    tol : float
        Stop when ``||b - (H + alpha I) c~|| <= tol ||b||``.
    max_iter : int
        Maximum number of CG iterations.
    preconditioner : {"nystrom", "jacobi", None}
        See :mod:`.preconditioners`; a failed Nystrom sketch falls back to Jacobi
        with a `UserWarning`.
    rank : int
        Rank of the Nystrom sketch.
    x0 : array of shape (N,) or None
        Starting point for ``c~ = c_O / sqrt(w_O)``.

    Returns
    -------
    c : array of shape (N,)
    info : dict
        ``n_iter``, ``converged``, ``relative_residual``, ``preconditioner`` (the one
        used).
    """
    apply, preconditioner = observed_preconditioner(
        preconditioner, operator, obs, alpha, xp, dtype, rank=rank, gram=gram, A=A)

    # krylov.pcg works on tuples of arrays: a flat vector is a 1-tuple.
    def matvec(v):
        return (operator.matmat(v[0][:, None])[:, 0],)

    precond = None if apply is None else (lambda r: (apply(r[0]),))
    rhs = obs.sqrt_w * obs.y
    (c_tilde,), n_iter, converged, rel = pcg(
        matvec, (rhs,), precond, tol=tol, max_iter=max_iter, xp=xp,
        x0=None if x0 is None else (x0,))
    if not converged:
        warnings.warn(
            f"Conjugate gradients did not converge in {max_iter} iterations (relative "
            f"residual {rel:.2e} > tol {tol:.1e}). Increase "
            "solver_options['max_iter'] (or loosen solver_options['tol']), or use "
            "solver='cholesky' if the system fits in memory. A residual that stays "
            "large means an ill-conditioned system: increase alpha, or scale the "
            "inputs (sklearn.preprocessing.StandardScaler).",
            ConvergenceWarning,
            stacklevel=4,
        )
    info = {"n_iter": n_iter, "converged": converged, "relative_residual": rel,
            "preconditioner": preconditioner}
    return obs.sqrt_w * c_tilde, info


def solve_masked_cg(K, Y, W, A, alpha, xp, *, method="cholesky", tol=1e-10,
                    max_iter=1000, warn=True, x0=None):
    r"""Dual coefficients with missing labels, preconditioned by the complete-data solve.

    On the full ``(n, T)`` grid, with ``D`` the entry weights (zero on missing
    labels) and ``G c = vec(K C A)``, the minimiser solves ``B c = D y`` with
    ``B = D G + alpha I`` (``c`` is then zero on the missing entries). ``B`` is
    self-adjoint in the inner product ``<u, v>_G = u^T G v``, and so is the
    complete-data operator ``P = D_c G + alpha I`` with per-sample weights
    ``D_c >= D`` (the largest weight of each sample), whose inverse the closed
    forms of :mod:`.complete` apply from one factorisation
    (:class:`~.complete.CompleteFactorization`). Conjugate gradients in that inner
    product, preconditioned by ``P``, converge at a rate set by the eigenvalues of
    ``P^{-1} B``, which lie in ``(0, 1]`` and are near 1 along everything the observed
    entries determine. Every product the iteration needs follows from the
    preconditioner's output: ``P z = r`` gives ``G z = (r - alpha z) / D_c``, so no
    product with ``K`` is made until the end, where the stationarity residual of
    the observed-entries system, ``||D^{1/2} (F - y) + alpha D^{-1/2} c||`` over
    the observed entries relative to ``||D^{1/2} y||`` (``F = K C A``), is computed
    from ``K`` and reported; if rounding in the recurrences left it above ``tol``,
    the iteration restarts from there.

    Parameters
    ----------
    K : array of shape (n, n)
        Kernel matrix of the training inputs.
    Y : array of shape (n, T)
        Targets, NaN where missing.
    W : array of shape (n, T)
        Entry weights, zero where ``Y`` is missing.
    A : array of shape (T, T)
        Task structure (PSD).
    alpha : float
        Regularisation strength (> 0).
    xp : module
        Array namespace.
    method : {"cholesky", "eig"}
        The complete-data factorisation (:class:`~.complete.CompleteFactorization`).
    tol : float
        Relative stationarity residual to reach.
    max_iter : int
        Conjugate-gradient iterations (all restarts together).
    warn : bool
        Warn (`ConvergenceWarning`) when ``tol`` is not reached; the caller that
        falls back to another solver says so itself.
    x0 : array of shape (n, T) or None
        Starting coefficients (e.g. the previous B-step's of an alternating
        solver); None starts from zero.

    Returns
    -------
    C : array of shape (n, T)
        Zero on the missing entries.
    info : dict
        ``n_iter``, ``converged``, ``relative_residual`` (computed from ``K``),
        ``factorization`` (``method``), ``n_factorizations``.
    """
    from .complete import CompleteFactorization

    observed = W > 0
    zeros = xp.zeros_like(Y)
    D = xp.where(observed, W, zeros)
    y = xp.where(observed, Y, zeros)
    omega = xp.max(D, axis=1)
    # A sample without any observed label has c = 0; any positive weight keeps
    # P = D_c G + alpha I invertible there (D_c >= D still holds).
    omega = xp.where(omega > 0, omega, xp.ones_like(omega))
    sqrt_omega = xp.sqrt(omega)
    factor = CompleteFactorization(sqrt_omega[:, None] * K * sqrt_omega[None, :], A,
                                   alpha, xp, method)
    sqrt_d = xp.sqrt(D)
    inv_sqrt_d = xp.where(observed, 1.0 / xp.where(observed, sqrt_d, xp.ones_like(D)),
                          zeros)
    b_norm = float(xp.linalg.vector_norm(sqrt_d * y))

    def precond(r):
        """``z = P^{-1} r`` and ``G z``."""
        z = sqrt_omega[:, None] * factor.solve(r / sqrt_omega[:, None])
        return z, (r - alpha * z) / omega[:, None]

    # On the missing entries r = -alpha c: setting c to zero there at the end moves
    # the observed residual by D^{1/2} G c_M, at most this factor times ||r_M||.
    k_norm = float(xp.max(xp.sum(xp.abs(K), axis=1)))
    a_norm = float(xp.max(xp.sum(xp.abs(A), axis=1)))
    spill = math.sqrt(float(xp.max(D))) * k_norm * a_norm / alpha

    def scaled_norm(r):
        # The residual of the observed-entries system, D^{-1/2} r on the observed
        # entries, plus the bound on what the missing entries will add.
        r_obs = float(xp.linalg.vector_norm(xp.where(observed, inv_sqrt_d * r, zeros)))
        return r_obs + spill * float(xp.linalg.vector_norm(xp.where(observed, zeros, r)))

    def true_residual(c):
        F = (K @ c) @ A
        res = xp.where(observed, sqrt_d * (F - y) + alpha * inv_sqrt_d * c, zeros)
        return float(xp.linalg.vector_norm(res)) / max(b_norm, 1e-300)

    c = zeros if x0 is None else xp.where(observed, x0, zeros)
    n_iter, rel = 0, 0.0 if b_norm == 0.0 else math.inf
    for _ in range(_RESTARTS):
        if rel <= tol or n_iter >= max_iter:
            break
        # (Re)start from the true residual of the current c.
        r = D * y - (D * ((K @ c) @ A) + alpha * c) if n_iter or x0 is not None \
            else D * y
        z, Gz = precond(r)
        p, Gp = z, Gz
        rz = float(xp.sum(r * Gz))
        while n_iter < max_iter:
            Bp = D * Gp + alpha * p
            curvature = float(xp.sum(Gp * Bp))
            if not (curvature > 0.0 and math.isfinite(curvature)) or rz <= 0.0:
                break
            step = rz / curvature
            c = c + step * p
            r = r - step * Bp
            n_iter += 1
            if scaled_norm(r) <= _SAFETY * tol * b_norm:
                break
            z, Gz = precond(r)
            rz_new = float(xp.sum(r * Gz))
            p, Gp = z + (rz_new / rz) * p, Gz + (rz_new / rz) * Gp
            rz = rz_new
        c = xp.where(observed, c, zeros)
        rel = true_residual(c)
    converged = rel <= tol
    if warn and not converged:
        warnings.warn(
            f"The missing-label conjugate gradients stopped at a relative "
            f"stationarity residual of {rel:.2e} > {tol:.1e} after {n_iter} "
            "iterations. Increase solver_options['max_iter'], or use "
            "solver='cholesky' (the observed-entries system) if it fits in memory.",
            ConvergenceWarning, stacklevel=4)
    return c, {"n_iter": n_iter, "converged": converged, "relative_residual": rel,
               "factorization": method, "n_factorizations": factor.n_factorizations}
