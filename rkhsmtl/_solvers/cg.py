r"""Matrix-free preconditioned conjugate gradients for the observed-entries system.

Solves ``(H + alpha I) c~ = D^{1/2} y_O`` with ``H = D^{1/2} G_OO D^{1/2}`` (see
:mod:`rkhsmtl._solvers.observed`) using only products with ``H``. The three parts
are kept apart, as in Falkon: the product with the system is one of the operators
of :mod:`.operators` (chosen by the plan), the preconditioner comes from
:mod:`.preconditioners`, and the iteration is the package's single
:func:`.krylov.pcg`. This module only puts them together and reports.
"""

from __future__ import annotations

import warnings

from sklearn.exceptions import ConvergenceWarning

from .krylov import pcg
from .preconditioners import observed_preconditioner

__all__ = ["solve_observed_cg"]


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
