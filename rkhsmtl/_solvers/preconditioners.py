r"""Preconditioners of the observed-entries system ``(H + alpha I) c~ = D^{1/2} y_O``.

``H = D^{1/2} G_OO D^{1/2}`` is the kernel part of the system (:mod:`.operators`).
Each preconditioner is a function ``r -> P^{-1} r`` on arrays of shape ``(N,)``
(or ``(N, k)``), ``P`` symmetric positive definite, for :func:`.krylov.pcg`.

* ``"nystrom"`` (the default): the randomised Nystrom preconditioner of Frangella,
  Tropp & Udell (2023). A rank-``r`` sketch ``H Q`` (``Q`` an orthonormal Gaussian
  test matrix) gives ``H ~= U diag(lam) U^T`` and

      P^{-1} = U diag((lam_r + alpha) / (lam + alpha)) U^T + (I - U U^T),

  which maps the ``r`` largest eigenvalues of ``H + alpha I`` to about
  ``lam_r + alpha``: CG then converges at the rate set by the rest of the spectrum,
  which for smooth kernels decays quickly.
* ``"jacobi"``: the inverse diagonal of ``H + alpha I``,
  ``1 / (w_p K[i_p, i_p] A[t_p, t_p] + alpha)``.
* ``None``: the identity.

When the sketch cannot be factorised (``H`` not positive semidefinite, e.g. an
indefinite kernel, or a non-finite product), :func:`observed_preconditioner` warns
and uses Jacobi.

References
----------
Z. Frangella, J. A. Tropp and M. Udell. Randomized Nystrom preconditioning. SIAM J.
Matrix Anal. Appl. 44(2):718-752, 2023.
"""

from __future__ import annotations

import math
import warnings

from .._backend import array_device, random_normal, solve_triangular
from .plan import PRECONDITIONERS

__all__ = ["jacobi_preconditioner", "nystrom_preconditioner", "observed_preconditioner"]


# Multiples of the stabilising shift of the Nystrom sketch tried in turn.
_SHIFT_FACTORS = (1.0, 1e2, 1e4, 1e6)


def _frobenius(M, xp):
    return math.sqrt(float(xp.sum(M * M)))


def jacobi_preconditioner(gram, A, obs, alpha, xp):
    """The inverse diagonal of ``H + alpha I``, as a function.

    Parameters
    ----------
    gram, A, obs, alpha, xp
        As in :class:`~.operators.KroneckerOperator`.

    Returns
    -------
    apply : callable
        ``r -> P^{-1} r``.
    """
    k_diag = xp.take(gram.diag(), obs.rows)
    a_diag = xp.take(xp.linalg.diagonal(A), obs.tasks)
    inv_diag = 1.0 / (obs.sqrt_w**2 * k_diag * a_diag + alpha)
    return lambda r: inv_diag * r


def nystrom_preconditioner(operator, size, alpha, rank, xp, dtype, device):
    """Randomised Nystrom preconditioner (Frangella, Tropp & Udell 2023).

    Parameters
    ----------
    operator : object
        Has ``apply_psd(V) = H V`` for ``V`` of shape ``(size, k)``.
    size : int
        Order ``N`` of ``H``.
    alpha : float
        The shift of the system ``H + alpha I``.
    rank : int
        Rank of the sketch (clipped to ``[1, size]``).
    xp : module
        Array namespace.
    dtype : dtype
        Floating dtype of the sketch.
    device : device
        Device of the sketch.

    Returns
    -------
    apply : callable
        ``r -> P^{-1} r`` for vectors of length ``size``.

    Raises
    ------
    ValueError
        When the factor of the sketch is not finite (a non-finite ``H Q``, or a
        namespace whose Cholesky returns NaN instead of raising on a matrix that is
        not positive definite). A failed Cholesky raises that namespace's error.
    """
    rank = max(1, min(rank, size))
    omega = random_normal((size, rank), xp, device=device, seed=0, dtype=dtype)
    Q, _ = xp.linalg.qr(omega)
    sketch = operator.apply_psd(Q)
    eps = float(xp.finfo(dtype).eps)
    # The shift makes the core Q^T (H Q + shift Q) positive definite in floating
    # point for a positive semidefinite H; it is removed from the eigenvalues below.
    base_shift = max(math.sqrt(size) * eps * _frobenius(sketch, xp), eps)
    # A kernel matrix computed in floating point (rbf from squared distances,
    # duplicated rows) can have negative eigenvalues a little beyond that shift:
    # larger shifts, still far below alpha for any sensible problem, are tried before
    # giving up (a truly indefinite H fails them all).
    for factor in _SHIFT_FACTORS:
        shift = factor * base_shift
        shifted = sketch + shift * Q
        core = Q.T @ shifted
        core = 0.5 * (core + core.T)
        try:
            L = xp.linalg.cholesky(core)
        except Exception:  # noqa: BLE001 - the LinAlgError of any namespace
            if factor == _SHIFT_FACTORS[-1]:
                raise
            continue
        if math.isfinite(_frobenius(L, xp)):
            break
    B = solve_triangular(L, shifted.T, xp, lower=True).T
    if not math.isfinite(_frobenius(B, xp)):
        raise ValueError("the Nystrom factor of the sketch H Q is not finite")
    U, S, _ = xp.linalg.svd(B, full_matrices=False)
    lam = xp.clip(S**2 - shift, 0.0, None)
    gain = (lam[-1] + alpha) / (lam + alpha) - 1.0

    def apply(r):
        return U @ (gain * (U.T @ r)) + r

    return apply


def observed_preconditioner(name, operator, obs, alpha, xp, dtype, *, rank, gram, A):
    """The preconditioner ``name`` of the observed-entries system, and the one used.

    Parameters
    ----------
    name : {"nystrom", "jacobi", None}
        The preconditioner asked for.
    operator, dtype, rank
        As in :func:`~.cg.solve_observed_cg`.
    obs, alpha, xp, gram, A
        As in :class:`~.operators.KroneckerOperator`.

    Returns
    -------
    apply : callable or None
        ``r -> P^{-1} r``; ``None`` for the identity.
    used : {"nystrom", "jacobi", None}
        ``name``, or ``"jacobi"`` when the Nystrom sketch failed (with a
        `UserWarning` saying why).
    """
    if name not in PRECONDITIONERS:
        raise ValueError(
            "solver_options['preconditioner'] must be 'nystrom', 'jacobi' or None, "
            f"got {name!r}."
        )
    if name is None:
        return None, None
    if name == "nystrom":
        try:
            return nystrom_preconditioner(operator, obs.size, alpha, rank, xp, dtype,
                                          array_device(obs.sqrt_w)), "nystrom"
        # Any namespace's LinAlgError, or the ValueError of a non-finite factor: the
        # system is still solvable with a preconditioner that needs no factorisation.
        except Exception as exc:  # noqa: BLE001
            warnings.warn(
                f"The Nystrom preconditioner could not be built ({type(exc).__name__}: "
                f"{exc}): the kernel system is not positive semidefinite (an "
                "indefinite kernel such as 'sigmoid'?) or not finite. Conjugate "
                "gradients use the Jacobi preconditioner instead "
                "(solver_info_['preconditioner'] is 'jacobi').",
                UserWarning, stacklevel=5,
            )
    return jacobi_preconditioner(gram, A, obs, alpha, xp), "jacobi"
