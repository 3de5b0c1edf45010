r"""The observed-entries system, for missing labels and per-entry weights.

With ``O`` the observed (non-NaN, positive-weight) entries ``(i, t)`` of ``Y``,
``G = A (x) K`` and ``D = diag(w_O)``, the minimiser of

    J(C) = sum_{(i,t) in O} w_it (Y[i, t] - F[i, t])^2 + alpha tr(C^T K C A)

has ``c = 0`` off ``O`` and ``(G_OO + alpha D^{-1}) c_O = y_O`` on ``O``, where
``G_OO[p, q] = K[i_p, i_q] A[t_p, t_q]`` (the Hadamard form: a kernel entry times a
task-structure entry). We solve the better-conditioned, equivalent symmetric system

    (D^{1/2} G_OO D^{1/2} + alpha I) c~ = D^{1/2} y_O,     c_O = D^{1/2} c~,

whose matrix is built block by block straight from the kernel (never through the
``nT x nT`` Kronecker product).
"""

from __future__ import annotations

from .._backend import array_device, cho_solve, cholesky
from .._memory import row_block

__all__ = ["ObservedEntries", "build_observed_system", "solve_observed_cholesky"]

class ObservedEntries:
    """Index of the observed entries of a wide ``(n, T)`` target matrix.

    Parameters
    ----------
    Y : array of shape (n, T)
        Targets; NaN marks a missing label.
    weights : array of shape (n, T)
        Non-negative weights, zero where ``Y`` is NaN.
    xp : module
        Array namespace.

    Attributes
    ----------
    rows, tasks : integer arrays of shape (N,)
        Sample and task of each observed entry, in row-major order.
    sqrt_w : array of shape (N,)
        Square roots of their weights.
    y : array of shape (N,)
        Their targets.
    one_per_row : bool
        True when no sample has more than one observed entry (heterogeneous tasks,
        as in the School data); then ``rows`` has no repeats.
    """

    def __init__(self, Y, weights, xp):
        n, T = Y.shape
        observed = weights > 0
        flat = xp.reshape(observed, (-1,))
        (index,) = xp.nonzero(flat)
        self.n, self.n_tasks = n, T
        self.flat_index = index
        self.rows = index // T
        self.tasks = index % T
        self.sqrt_w = xp.sqrt(xp.take(xp.reshape(weights, (-1,)), index))
        Y0 = xp.where(observed, Y, xp.zeros_like(Y))
        self.y = xp.take(xp.reshape(Y0, (-1,)), index)
        self.size = int(index.shape[0])
        per_row = xp.sum(xp.astype(observed, xp.int64), axis=1)
        self.one_per_row = bool(xp.max(per_row) <= 1) if n > 0 else True
        self.xp = xp
        # Scatter through a gather (the array API has no fancy-index assignment):
        # entry p of the flat (n*T) grid reads compact value cumsum(mask)[p] - 1.
        self._flat_mask = flat
        running = xp.cumulative_sum(xp.astype(flat, xp.int64)) - 1
        self._compact_of_flat = xp.clip(running, 0, None)

    def scatter(self, values):
        """Place values on the observed entries of an ``(n, T)`` zero matrix."""
        xp = self.xp
        if self.size == 0:
            return xp.zeros((self.n, self.n_tasks), dtype=values.dtype,
                            device=array_device(values))
        spread = xp.take(values, self._compact_of_flat)
        out = xp.where(self._flat_mask, spread, xp.zeros_like(spread))
        return xp.reshape(out, (self.n, self.n_tasks))


def build_observed_system(gram, A, obs, alpha, xp, dtype):
    """The ``N x N`` matrix ``D^{1/2} G_OO D^{1/2} + alpha I``, built in row blocks.

    Peak memory is the ``N x N`` result plus one block of rows.
    """
    N = obs.size
    G = xp.empty((N, N), dtype=dtype, device=array_device(obs.sqrt_w))
    block = row_block(N, 3)
    A_cols = xp.take(A, obs.tasks, axis=1)  # (T, N)
    for start in range(0, N, block):
        stop = min(start + block, N)
        rows_b = obs.rows[start:stop]
        K_b = gram.take(rows_b, obs.rows)
        A_b = xp.take(A_cols, obs.tasks[start:stop], axis=0)
        w_b = obs.sqrt_w[start:stop]
        G_b = (w_b[:, None] * K_b) * (A_b * obs.sqrt_w[None, :])
        eye_b = xp.eye(stop - start, dtype=dtype, device=array_device(G_b))
        G_b[:, start:stop] = G_b[:, start:stop] + alpha * eye_b
        G[start:stop, :] = G_b
    return G


def solve_observed_cholesky(gram, A, obs, alpha, xp, dtype):
    """Dual coefficients on the observed entries by a dense Cholesky factorisation.

    Returns
    -------
    c : array of shape (N,)
        Coefficients of the observed entries (``obs.scatter(c)`` gives ``C``).
    """
    G = build_observed_system(gram, A, obs, alpha, xp, dtype)
    L = cholesky(G, xp, overwrite_a=True)
    del G
    c_tilde = cho_solve(L, obs.sqrt_w * obs.y, xp)
    return obs.sqrt_w * c_tilde
