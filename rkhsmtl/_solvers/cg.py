r"""Matrix-free preconditioned conjugate gradients for the observed-entries system.

Solves ``(H + alpha I) c~ = D^{1/2} y_O`` with ``H = D^{1/2} G_OO D^{1/2}`` (see
:mod:`rkhsmtl._solvers.observed`) using only products with ``H``. Three ways to
apply ``H`` -- the cheapest one that fits in memory is chosen by the dispatcher:

* ``DenseObservedOperator``: ``H + alpha I`` stored (``N^2`` memory, ``N^2`` per
  product); worth it when CG needs far fewer than ``N / 3`` iterations.
* ``KroneckerOperator``: ``vec(K C A)`` restricted to the observed entries, with the
  ``n x n`` kernel matrix stored (``n^2`` memory, ``n^2 T + n T^2`` per product) or
  recomputed in row blocks (bounded memory, ``n^2 d`` more per product).
* ``StreamingHadamardOperator``: ``H`` recomputed in row blocks from the inputs
  (bounded memory) -- for one observed entry per row (School-type data).

Preconditioner (default ``"nystrom"``): the randomised Nystrom preconditioner of
Frangella, Tropp & Udell (2023). A rank-``r`` sketch ``H Q`` (``Q`` an orthonormal
Gaussian test matrix) gives ``H ~= U diag(lam) U^T`` and

    P^{-1} = U diag((lam_r + alpha) / (lam + alpha)) U^T + (I - U U^T),

which maps the ``r`` largest eigenvalues of ``H + alpha I`` to about
``lam_r + alpha``: CG then converges at the rate set by the rest of the spectrum,
which for smooth kernels decays quickly. ``"jacobi"`` (the diagonal of
``H + alpha I``) and ``None`` are available too.

References
----------
Z. Frangella, J. A. Tropp and M. Udell. Randomized Nystrom preconditioning. SIAM J.
Matrix Anal. Appl. 44(2):718-752, 2023.
"""

from __future__ import annotations

import math
import warnings

from sklearn.exceptions import ConvergenceWarning

from .._backend import array_device, random_normal, solve_triangular
from .._memory import row_block

__all__ = [
    "DenseObservedOperator",
    "KroneckerOperator",
    "StreamingHadamardOperator",
    "nystrom_preconditioner",
    "pcg",
]

def _norm(v, xp):
    return float(xp.sqrt(xp.sum(v * v)))


class DenseObservedOperator:
    """``H + alpha I`` held as a dense ``N x N`` matrix."""

    def __init__(self, system, alpha):
        self.system = system
        self.alpha = alpha

    def matmat(self, V):
        return self.system @ V

    def apply_psd(self, V):
        return self.system @ V - self.alpha * V


class KroneckerOperator:
    """``H V`` as ``D^{1/2} vec(K C A)|_O`` with ``C`` the scatter of ``D^{1/2} V``.

    Parameters
    ----------
    gram : TrainingGram
    A : array (T, T)
    obs : ObservedEntries
    alpha : float
    xp : module
    K : array (n, n) or None
        The stored kernel matrix; ``None`` streams it in row blocks.
    """

    def __init__(self, gram, A, obs, alpha, xp, K=None):
        self.gram, self.A, self.obs, self.alpha, self.xp, self.K = gram, A, obs, alpha, xp, K

    def apply_psd(self, V):
        xp, obs = self.xp, self.obs
        n, T = obs.n, obs.n_tasks
        k = V.shape[1]
        weighted = obs.sqrt_w[:, None] * V
        spread = xp.take(weighted, obs._compact_of_flat, axis=0)
        grid = xp.where(obs._flat_mask[:, None], spread, xp.zeros_like(spread))
        grid = xp.reshape(grid, (n, T, k))
        # Apply A along the task axis, then K along the sample axis.
        grid = xp.permute_dims(xp.permute_dims(grid, (0, 2, 1)) @ self.A, (0, 2, 1))
        grid = xp.reshape(grid, (n, T * k))
        if self.K is not None:
            out = self.K @ grid
        else:
            out = xp.empty_like(grid)
            block = row_block(n)
            for start in range(0, n, block):
                stop = min(start + block, n)
                out[start:stop, :] = self.gram.rows(start, stop) @ grid
        out = xp.reshape(out, (n * T, k))
        return obs.sqrt_w[:, None] * xp.take(out, obs.flat_index, axis=0)

    def matmat(self, V):
        return self.apply_psd(V) + self.alpha * V


class StreamingHadamardOperator:
    """``H V`` recomputing ``H`` in row blocks (``K[i_p, i_q] A[t_p, t_q]`` scaled)."""

    def __init__(self, gram, A, obs, alpha, xp):
        self.gram, self.A, self.obs, self.alpha, self.xp = gram, A, obs, alpha, xp
        self._A_cols = xp.take(A, obs.tasks, axis=1)

    def apply_psd(self, V):
        xp, obs = self.xp, self.obs
        N = obs.size
        out = xp.empty_like(V)
        block = row_block(N, 3)
        weighted = obs.sqrt_w[:, None] * V
        for start in range(0, N, block):
            stop = min(start + block, N)
            K_b = self.gram.take(obs.rows[start:stop], obs.rows)
            A_b = xp.take(self._A_cols, obs.tasks[start:stop], axis=0)
            out[start:stop, :] = (K_b * A_b) @ weighted
        return obs.sqrt_w[:, None] * out

    def matmat(self, V):
        return self.apply_psd(V) + self.alpha * V


def jacobi_preconditioner(gram, A, obs, alpha, xp):
    """The inverse diagonal of ``H + alpha I``, as a function."""
    k_diag = xp.take(gram.diag(), obs.rows)
    a_diag = xp.take(xp.linalg.diagonal(A), obs.tasks)
    inv_diag = 1.0 / (obs.sqrt_w**2 * k_diag * a_diag + alpha)
    return lambda r: inv_diag * r


def nystrom_preconditioner(operator, size, alpha, rank, xp, dtype, device):
    """Randomised Nystrom preconditioner (Frangella, Tropp & Udell 2023).

    Returns
    -------
    apply : callable
        ``r -> P^{-1} r`` for vectors of length ``size``.
    """
    rank = max(1, min(rank, size))
    omega = random_normal((size, rank), xp, device=device, seed=0, dtype=dtype)
    Q, _ = xp.linalg.qr(omega)
    sketch = operator.apply_psd(Q)
    eps = float(xp.finfo(dtype).eps)
    shift = math.sqrt(size) * eps * _norm(sketch, xp)
    shift = max(shift, eps)
    shifted = sketch + shift * Q
    core = Q.T @ shifted
    core = 0.5 * (core + core.T)
    L = xp.linalg.cholesky(core)
    B = solve_triangular(L, shifted.T, xp, lower=True).T
    U, S, _ = xp.linalg.svd(B, full_matrices=False)
    lam = xp.clip(S**2 - shift, 0.0, None)
    gain = (lam[-1] + alpha) / (lam + alpha) - 1.0

    def apply(r):
        return U @ (gain * (U.T @ r)) + r

    return apply


def pcg(matvec, b, precond, *, tol, max_iter, xp, x0=None):
    """Preconditioned conjugate gradients for a symmetric positive definite system.

    Stops when ``||b - M x|| <= tol * ||b||``.

    Returns
    -------
    x : array
    n_iter : int
    converged : bool
    rel_residual : float
    """
    b_norm = _norm(b, xp)
    if b_norm == 0.0:
        return xp.zeros_like(b), 0, True, 0.0
    x = xp.zeros_like(b) if x0 is None else x0
    r = b - matvec(x) if x0 is not None else b
    z = precond(r)
    p = z
    rz = float(xp.sum(r * z))
    rel = _norm(r, xp) / b_norm
    n_iter = 0
    while rel > tol and n_iter < max_iter:
        Mp = matvec(p)
        step = rz / float(xp.sum(p * Mp))
        x = x + step * p
        r = r - step * Mp
        z = precond(r)
        rz_new = float(xp.sum(r * z))
        p = z + (rz_new / rz) * p
        rz = rz_new
        n_iter += 1
        rel = _norm(r, xp) / b_norm
    return x, n_iter, rel <= tol, rel


def solve_observed_cg(operator, obs, alpha, xp, dtype, *, tol, max_iter,
                      preconditioner, rank, gram, A, x0=None):
    """Dual coefficients on the observed entries by preconditioned CG.

    Returns
    -------
    c : array of shape (N,)
    info : dict
        ``n_iter``, ``converged``, ``relative_residual``, ``preconditioner``.
    """
    device = array_device(obs.sqrt_w)
    if preconditioner == "nystrom":
        try:
            precond = nystrom_preconditioner(operator, obs.size, alpha, rank, xp,
                                             dtype, device)
        except Exception:  # noqa: BLE001 - a failed sketch falls back to Jacobi
            preconditioner = "jacobi"
    if preconditioner == "jacobi":
        precond = jacobi_preconditioner(gram, A, obs, alpha, xp)
    elif preconditioner is None:
        def precond(r):
            return r
    elif preconditioner != "nystrom":
        raise ValueError(
            "solver_options['preconditioner'] must be 'nystrom', 'jacobi' or None, "
            f"got {preconditioner!r}."
        )

    def matvec(v):
        return operator.matmat(v[:, None])[:, 0]

    rhs = obs.sqrt_w * obs.y
    c_tilde, n_iter, converged, rel = pcg(matvec, rhs, precond, tol=tol,
                                         max_iter=max_iter, xp=xp, x0=x0)
    if not converged:
        warnings.warn(
            f"Conjugate gradients did not converge in {max_iter} iterations (relative "
            f"residual {rel:.2e} > tol {tol:.1e}). Increase "
            "solver_options['max_iter'] (or loosen solver_options['tol']), or use "
            "solver='cholesky' if the system fits in memory.",
            ConvergenceWarning,
            stacklevel=4,
        )
    info = {"n_iter": n_iter, "converged": converged, "relative_residual": rel,
            "preconditioner": preconditioner}
    return obs.sqrt_w * c_tilde, info
