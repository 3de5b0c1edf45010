"""The design operator ``W -> X W`` in the layout that suits the missing-label pattern.

* :class:`DenseDesign`: predictions ``F = X W`` of shape ``(n, T)``, for complete or
  mostly complete ``Y``.
* :class:`TaskBlockedDesign`: when every row is observed for few tasks (the
  long-to-wide layout of School, RMTL and MALSAR: one task per row), computing
  ``X W`` for every (row, task) pair wastes a factor ``T``. Here the observed rows
  of task ``t`` are gathered once into ``X_t`` (padded with zero rows to a common
  length ``m``, with zero weight), and ``F_t = X_t w_t`` is one batched matrix
  product of shape ``(T, m)``: the cost of RMTL's per-task products, in one call.

Both expose the same few operations, so the solver never looks at the layout;
the data-fit terms are elementwise and work on either shape of ``F``.
"""

from __future__ import annotations

from .._backend import array_device
from .._validation import entry_weights

__all__ = ["DenseDesign", "TaskBlockedDesign", "make_problem"]


class DenseDesign:
    """``F = X W`` with ``F`` of shape (n_samples, n_tasks)."""

    def __init__(self, X, xp):
        self.X = X
        self.xp = xp
        self.n_features = X.shape[1]
        self.dtype = X.dtype
        self.device = array_device(X)

    def matvec(self, W):
        return self.X @ W

    def rmatvec(self, G):
        """``X^T G`` of shape (n_features, n_tasks)."""
        return self.X.T @ G

    def sq_rmatvec(self, G):
        """``(X * X)^T G``: per feature and task, the ``G``-weighted sum of squares."""
        return (self.X * self.X).T @ G

    def add_intercept(self, F, c):
        return F + c[None, :]

    def task_sums(self, G):
        return self.xp.sum(G, axis=0)


class TaskBlockedDesign:
    """``F[t] = X_t w_t`` with ``F`` of shape (n_tasks, m), ``X_t`` the observed rows
    of task ``t`` padded to ``m`` rows."""

    def __init__(self, Xb, xp):
        self.Xb = Xb
        self.xp = xp
        self.n_features = Xb.shape[2]
        self.dtype = Xb.dtype
        self.device = array_device(Xb)

    def matvec(self, W):
        return (self.Xb @ W.T[:, :, None])[:, :, 0]

    def rmatvec(self, G):
        return (self.xp.matrix_transpose(self.Xb) @ G[:, :, None])[:, :, 0].T

    def sq_rmatvec(self, G):
        Xb2 = self.Xb * self.Xb
        return (self.xp.matrix_transpose(Xb2) @ G[:, :, None])[:, :, 0].T

    def add_intercept(self, F, c):
        return F + c[:, None]

    def task_sums(self, G):
        return self.xp.sum(G, axis=1)


def make_problem(X, Y, sample_weight, xp, layout="auto"):
    """``(design, Yf, omega)``: missing labels get weight 0 (and value 0).

    ``layout="auto"`` gathers the tasks' rows (:class:`TaskBlockedDesign`) when the
    padded blocks hold less than half the entries of ``Y``; "dense" and "blocked"
    force a layout.
    """
    Yf = xp.where(xp.isnan(Y), xp.zeros_like(Y), Y)
    omega = entry_weights(Y, sample_weight, xp)
    if layout == "dense":
        return DenseDesign(X, xp), Yf, omega
    used = omega > 0
    counts = [int(c) for c in xp.sum(xp.astype(used, xp.int64), axis=0)]
    n, T = Y.shape
    m = max(max(counts), 1)
    if layout == "auto" and m * 2 > n:
        return DenseDesign(X, xp), Yf, omega
    d = X.shape[1]
    dev = array_device(X)
    blocks_X, blocks_Y, blocks_w = [], [], []
    for t in range(T):
        rows = xp.nonzero(used[:, t])[0]
        pad = m - counts[t]
        Xt = xp.take(X, rows, axis=0)
        yt = xp.take(Yf[:, t], rows)
        wt = xp.take(omega[:, t], rows)
        if pad:
            Xt = xp.concat([Xt, xp.zeros((pad, d), dtype=X.dtype, device=dev)], axis=0)
            yt = xp.concat([yt, xp.zeros((pad,), dtype=X.dtype, device=dev)])
            wt = xp.concat([wt, xp.zeros((pad,), dtype=X.dtype, device=dev)])
        blocks_X.append(Xt)
        blocks_Y.append(yt)
        blocks_w.append(wt)
    return (TaskBlockedDesign(xp.stack(blocks_X), xp), xp.stack(blocks_Y),
            xp.stack(blocks_w))
