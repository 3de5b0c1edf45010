r"""The one preconditioned conjugate-gradient iteration of the package.

:func:`pcg` solves ``M x = b`` for a symmetric positive definite ``M`` given only
the product ``v -> M v`` and a preconditioner ``r -> P^{-1} r`` (also symmetric
positive definite). As in Falkon (Meanti, Carratino, Rosasco & Rudi 2020), the
iteration knows nothing of what the operator or the preconditioner is: the
observed-entries system of kernel ridge (:mod:`.cg`, with the operators of
:mod:`.operators` and the preconditioners of :mod:`.preconditioners`) and the Newton
system of kernel logistic regression (:mod:`.logistic`) both call it.

Vectors are tuples of arrays of a namespace ``xp``: a flat vector is a 1-tuple
``(v,)``, the parameters of the logistic solver the pair ``(Z, b)``. Inner products,
norms and ``a x + y`` act part by part (:func:`inner`, :func:`norm`, :func:`axpy`),
so the parts may have any shapes. With ``r_k = b - M x_k``, ``z_k = P^{-1} r_k``,
the iteration is the textbook one (Saad, *Iterative Methods for Sparse Linear
Systems*, Algorithm 9.1)::

    p_0 = z_0;   gamma_k = <r_k, z_k> / <p_k, M p_k>;
    x_{k+1} = x_k + gamma_k p_k;   r_{k+1} = r_k - gamma_k M p_k;
    p_{k+1} = z_{k+1} + (<r_{k+1}, z_{k+1}> / <r_k, z_k>) p_k,

stopped when ``||r_k|| <= tol ||b||`` (Euclidean norms, so the rule does not depend
on the preconditioner) or after ``max_iter`` products with ``M``.

References
----------
G. Meanti, L. Carratino, L. Rosasco and A. Rudi. Kernel methods through the roof:
handling billions of points efficiently. NeurIPS 2020.

Y. Saad. Iterative Methods for Sparse Linear Systems, 2nd ed. SIAM, 2003.
"""

from __future__ import annotations

import math
from typing import NamedTuple

__all__ = ["PCGResult", "axpy", "inner", "norm", "pcg"]


class PCGResult(NamedTuple):
    """What :func:`pcg` returns; unpacks as ``x, n_iter, converged, rel``.

    Attributes
    ----------
    x : tuple of arrays
        The last iterate, shaped like the right-hand side.
    n_iter : int
        Products with ``M`` made by the iteration (an iteration stopped by the
        curvature guard counts, ``x0``'s initial residual does not).
    converged : bool
        Whether ``||b - M x|| <= tol ||b||``.
    relative_residual : float
        ``||b - M x|| / ||b||`` (0 for ``b = 0``).
    """

    x: tuple
    n_iter: int
    converged: bool
    relative_residual: float


def inner(u, v, xp):
    """``<u, v>``: the sum of the inner products of the parts, as a Python float."""
    return sum(float(xp.sum(a * b)) for a, b in zip(u, v, strict=True))


def norm(u, xp):
    """Euclidean norm ``sqrt(<u, u>)`` of a tuple of arrays."""
    return math.sqrt(inner(u, u, xp))


def axpy(a, x, y):
    """``a x + y`` part by part, for a scalar ``a``."""
    return tuple(a * xi + yi for xi, yi in zip(x, y, strict=True))


def _identity(r):
    return r


def pcg(matvec, rhs, precond=None, *, tol, max_iter, xp, x0=None,
        curvature_guard=False):
    """Preconditioned conjugate gradients for ``M x = rhs``, ``M`` symmetric positive definite.

    Parameters
    ----------
    matvec : callable
        ``v -> M v``, tuples of arrays to tuples of arrays of the same shapes.
    rhs : tuple of arrays
        The right-hand side ``b`` (a flat vector is the 1-tuple ``(b,)``).
    precond : callable or None
        ``r -> P^{-1} r`` with ``P`` symmetric positive definite; ``None`` is the
        identity.
    tol : float
        Stop when ``||b - M x|| <= tol ||b||``.
    max_iter : int
        Maximum number of products with ``M``.
    xp : module
        Namespace of the arrays.
    x0 : tuple of arrays or None
        Starting point (zero when None); it costs one more product with ``M``.
    curvature_guard : bool
        Stop, keeping the current iterate, when ``<p, M p> <= 0``: ``M`` is not
        positive definite along ``p``. A Hessian that is positive definite in exact
        arithmetic can show this in round-off, and stepping on would be unbounded.
        Off, the iteration steps on, as plain CG does on an indefinite system (where
        it may still converge).

    Returns
    -------
    result : PCGResult
        ``x``, ``n_iter``, ``converged``, ``relative_residual``.
    """
    precond = _identity if precond is None else precond
    b_norm = norm(rhs, xp)
    if b_norm == 0.0:
        return PCGResult(tuple(xp.zeros_like(b) for b in rhs), 0, True, 0.0)
    if x0 is None:
        x, r = tuple(xp.zeros_like(b) for b in rhs), rhs
    else:
        x, r = x0, axpy(-1.0, matvec(x0), rhs)
    r_norm = norm(r, xp)
    n_iter = 0
    if r_norm > tol * b_norm and max_iter > 0:
        z = precond(r)
        p = z
        rz = inner(r, z, xp)
        while n_iter < max_iter:
            Mp = matvec(p)
            n_iter += 1
            curvature = inner(p, Mp, xp)
            if curvature_guard and curvature <= 0:
                break
            # Breakdown: a zero or non-finite curvature (a system singular or
            # overflowing in round-off, e.g. on unscaled inputs) has no step; the
            # iterate is kept and reported as not converged.
            if curvature == 0.0 or not math.isfinite(curvature) or rz == 0.0:
                break
            step = rz / curvature
            x_new = axpy(step, p, x)
            r_new = axpy(-step, Mp, r)
            r_norm_new = norm(r_new, xp)
            if not math.isfinite(r_norm_new):
                break
            x, r, r_norm = x_new, r_new, r_norm_new
            if r_norm <= tol * b_norm:
                break
            z = precond(r)
            rz_new = inner(r, z, xp)
            if rz_new == 0.0 or not math.isfinite(rz_new):
                break
            p = axpy(rz_new / rz, p, z)
            rz = rz_new
    return PCGResult(x, n_iter, r_norm <= tol * b_norm, r_norm / b_norm)
