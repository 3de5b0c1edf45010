r"""Products with the observed-entries system, without forming it when it is large.

The observed-entries system (:mod:`.observed`) is ``(H + alpha I) c~ = D^{1/2} y_O``
with ``H = D^{1/2} G_OO D^{1/2}``, ``G_OO[p, q] = K[i_p, i_q] A[t_p, t_q]`` and
``D = diag(w_O)`` over the ``N`` observed entries ``(i_p, t_p)``. Conjugate
gradients (:mod:`.cg`) only need products with it; three ways to compute them, the
cheapest one that fits in memory being chosen by the plan (:mod:`.plan`):

* :class:`DenseObservedOperator`: ``H + alpha I`` stored (``N^2`` memory, ``N^2``
  per product); worth it when CG needs far fewer than ``N / 3`` iterations.
* :class:`KroneckerOperator`: ``vec(K C A)`` restricted to the observed entries,
  with the ``n x n`` kernel matrix stored (``n^2`` memory, ``n^2 T + n T^2`` per
  product) or recomputed in row blocks (bounded memory, ``n^2 d`` more per
  product).
* :class:`StreamingHadamardOperator`: ``H`` recomputed in row blocks from the inputs
  (bounded memory) -- for one observed entry per row (School-type data).

Every operator has ``matmat(V) = (H + alpha I) V`` (what CG multiplies by) and
``apply_psd(V) = H V`` (what the Nystrom preconditioner sketches), for ``V`` of
shape ``(N, k)``. Row blocks are sized by :func:`rkhsmtl._memory.row_block`.
"""

from __future__ import annotations

from .._memory import row_block

__all__ = ["DenseObservedOperator", "KroneckerOperator", "StreamingHadamardOperator"]


class DenseObservedOperator:
    """``H + alpha I`` held as a dense ``N x N`` matrix.

    Parameters
    ----------
    system : array of shape (N, N)
        ``H + alpha I`` (:func:`~.observed.build_observed_system`).
    alpha : float
        The shift already added to ``system``.
    """

    def __init__(self, system, alpha):
        self.system = system
        self.alpha = alpha

    def matmat(self, V):
        """``(H + alpha I) V``."""
        return self.system @ V

    def apply_psd(self, V):
        """``H V``."""
        return self.system @ V - self.alpha * V


class KroneckerOperator:
    """``H V`` as ``D^{1/2} vec(K C A)|_O`` with ``C`` the scatter of ``D^{1/2} V``.

    Parameters
    ----------
    gram : TrainingGram
        Kernel of the training inputs.
    A : array of shape (T, T)
        Task structure.
    obs : ObservedEntries
        The observed entries and their weights.
    alpha : float
        Regularisation strength.
    xp : module
        Array namespace.
    K : array of shape (n, n) or None
        The stored kernel matrix; ``None`` streams it in row blocks.
    """

    def __init__(self, gram, A, obs, alpha, xp, K=None):
        self.gram, self.A, self.obs, self.alpha, self.xp, self.K = gram, A, obs, alpha, xp, K

    def apply_psd(self, V):
        """``H V``."""
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
        """``(H + alpha I) V``."""
        return self.apply_psd(V) + self.alpha * V


class StreamingHadamardOperator:
    """``H V`` recomputing ``H`` in row blocks (``K[i_p, i_q] A[t_p, t_q]`` scaled).

    Parameters
    ----------
    gram, A, obs, alpha, xp
        As in :class:`KroneckerOperator`.
    """

    def __init__(self, gram, A, obs, alpha, xp):
        self.gram, self.A, self.obs, self.alpha, self.xp = gram, A, obs, alpha, xp
        self._A_cols = xp.take(A, obs.tasks, axis=1)

    def apply_psd(self, V):
        """``H V``."""
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
        """``(H + alpha I) V``."""
        return self.apply_psd(V) + self.alpha * V
