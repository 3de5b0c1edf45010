r"""Ridge with an explicit feature map from its sufficient statistics.

With features ``Phi`` (``n x m``: Nyström or random Fourier features) the task
functions are ``f_t(x) = phi(x)^T W[:, t]`` and the objective of :mod:`.primal`,

    J(W) = sum_{(i,t) observed} w_it (Y_it - (Phi W)_it)^2 + alpha tr(W A^+ W^T),

depends on the data only through sums over rows:

* complete ``Y`` and per-sample weights: ``G = Phi^T W Phi`` (``m x m``),
  ``H = Phi^T W Y`` (``m x T``) and ``sum_i w_i Y_it^2`` (``T``);
* missing labels or per-entry weights: one ``G_t = Phi^T D_t Phi`` per task
  (``T x m x m``), ``h_t = Phi^T D_t y_t`` and ``sum_i D_t,ii Y_it^2``.

They are computed in one pass over row chunks of bounded memory, and two partial
statistics merge by summation (:func:`merge_statistics`): the same code serves a
chunked fit, ``partial_fit`` streaming and a tree reduction on a cluster. Every
solve below touches ``m``-dimensional quantities only.

Fixed ``A = V diag(sigma) V^T`` with shared statistics: the tasks decouple in
``A``'s eigenbasis. Column ``j`` of ``W V`` minimises
``w^T G w - 2 w^T (H V)_j + (alpha / sigma_j) |w|^2``, so with ``G = Q diag(g) Q^T``
(one eigendecomposition per fit)

    W V = Q [(Q^T H V) * sigma_j / (g_i sigma_j + alpha)],

which is zero for ``sigma_j = 0`` (no function in A's null space). The cost is
``O(m^3)`` once, then ``O(m^2 T + m T^2 + T^3)`` per ``A``: the B-step of a learned
structure (Ciliberto et al. 2015) without any pass over the data. Per-task
statistics give the coupled ``mT``-order normal equations of :mod:`.primal`
(direct), or preconditioned conjugate gradients on them that only multiply by the
``G_t``.

Knows nothing of scikit-learn; no NumPy (every array in the namespace ``xp``).
"""

from __future__ import annotations

from dataclasses import dataclass

from .._backend import eigh, get_namespace
from .._memory import check_memory, dense_bytes, format_bytes, memory_budget
from .._validation import entry_weights
from ..exceptions import MemoryBudgetError
from .alternating import (
    _Progress,
    _quadratic_dual,
    _run_stages,
    _strength_used,
    _to_like,
    warn_not_converged,
)
from .complete import task_eigh
from .plan import complete_sample_weights
from .primal import primal_statistics, solve_primal_statistics

__all__ = [
    "FeatureStatistics",
    "RowStream",
    "accumulate_statistics",
    "chunk_statistics",
    "merge_statistics",
    "per_task_statistics_bytes",
    "solve_fixed_statistics",
    "solve_learned_statistics",
    "solve_streamed",
    "statistics_objective",
]


@dataclass
class FeatureStatistics:
    """Sufficient statistics of a weighted multi-task ridge on explicit features.

    Attributes
    ----------
    gram : array of shape (m, m) or (T, m, m)
        ``Phi^T W Phi`` shared by every task, or one ``Phi^T D_t Phi`` per task.
    cross : array of shape (m, T)
        ``Phi^T D_t y_t`` of every task.
    sq : array of shape (T,)
        ``sum_i D_t,ii Y_it^2`` of every task (for the value of the objective).
    counts : array of shape (T,)
        Observed entries with a positive weight, per task.
    n_samples : int
        Rows summed.
    """

    gram: object
    cross: object
    sq: object
    counts: object
    n_samples: int

    @property
    def per_task(self):
        """Whether ``gram`` holds one matrix per task."""
        return self.gram.ndim == 3

    @property
    def n_features(self):
        return int(self.cross.shape[0])

    @property
    def n_tasks(self):
        return int(self.cross.shape[1])

    def __add__(self, other):
        return merge_statistics(self, other)

    def to_per_task(self, xp):
        """The same statistics with one ``gram`` per task (a copy for each)."""
        if self.per_task:
            return self
        T, m = self.n_tasks, self.n_features
        check_per_task_memory(m, T, xp)
        gram = xp.broadcast_to(self.gram[None, :, :], (T, m, m))
        return FeatureStatistics(xp.asarray(gram, copy=True), self.cross, self.sq,
                                 self.counts, self.n_samples)


def per_task_statistics_bytes(n_features, n_tasks):
    """Bytes of the per-task statistics (``T`` matrices ``m x m``)."""
    return float(n_tasks) * dense_bytes(n_features)


def check_per_task_memory(n_features, n_tasks, xp=None):
    """Refuse per-task statistics that do not fit, naming ``n_components``."""
    check_memory(
        per_task_statistics_bytes(n_features, n_tasks),
        f"Missing labels or per-task weights with {n_features} features and "
        f"{n_tasks} tasks (one {n_features}x{n_features} matrix per task)",
        "Lower n_components (the memory grows as n_tasks * n_components**2), or "
        "complete the labels and use per-sample weights (one shared matrix).", xp)


def chunk_statistics(Phi, Y, sample_weight, xp, *, per_task=None):
    """The :class:`FeatureStatistics` of one chunk of rows.

    Parameters
    ----------
    Phi : array of shape (n, m)
        Features of the chunk's rows.
    Y : array of shape (n, T)
        Targets, NaN for missing.
    sample_weight : array of shape (n,) or (n, T) or None
        Non-negative weights.
    xp : module
        Array namespace.
    per_task : bool or None
        Force per-task statistics (True) or shared ones (False, only for a complete
        ``Y`` with per-sample weights); None decides from the chunk.

    Returns
    -------
    statistics : FeatureStatistics
    """
    n, T = Y.shape
    sample_w, complete = complete_sample_weights(Y, sample_weight, xp)
    if per_task is False and not complete:
        raise ValueError("Shared statistics need a complete Y and per-sample weights.")
    W = entry_weights(Y, sample_weight, xp)
    Y0 = xp.where(xp.isnan(Y), xp.zeros_like(Y), Y)
    sq = xp.sum(W * Y0 * Y0, axis=0)
    counts = xp.sum(xp.astype(W > 0, Y.dtype), axis=0)
    if complete and not per_task:
        weighted = Phi if sample_w is None else sample_w[:, None] * Phi
        return FeatureStatistics(weighted.T @ Phi, weighted.T @ Y0, sq, counts, int(n))
    check_per_task_memory(Phi.shape[1], T, xp)
    G, h = primal_statistics(Phi, Y, W, xp)
    return FeatureStatistics(G, h, sq, counts, int(n))


def merge_statistics(first, second):
    """The statistics of the union of two disjoint sets of rows (their sum).

    Shared statistics merged with per-task ones become per-task. Associative and
    commutative up to rounding, so partial statistics can be reduced in any tree.

    Parameters
    ----------
    first, second : FeatureStatistics
        Statistics of the same feature map and tasks.

    Returns
    -------
    statistics : FeatureStatistics
    """
    if first.cross.shape != second.cross.shape:
        raise ValueError(
            f"Cannot merge statistics of {first.n_features} features x "
            f"{first.n_tasks} tasks with statistics of {second.n_features} features "
            f"x {second.n_tasks} tasks: every chunk needs the same feature map and "
            "the same tasks (columns of Y)."
        )
    xp = get_namespace(first.cross)
    if first.per_task != second.per_task:
        first, second = first.to_per_task(xp), second.to_per_task(xp)
    return FeatureStatistics(first.gram + second.gram, first.cross + second.cross,
                             first.sq + second.sq, first.counts + second.counts,
                             first.n_samples + second.n_samples)


def accumulate_statistics(transform, X, Y, sample_weight, xp, *, block_rows,
                          per_task=None, linear_part=None):
    """Statistics of ``transform(X)`` computed by chunks of ``block_rows`` rows.

    With ``linear_part`` ``R``, the features are ``transform(X) @ R`` (Nyström:
    the kernel columns of the centres times the normalisation). Shared statistics
    are then summed for ``transform(X)`` and mapped once at the end, ``G = R^T
    G_raw R`` and ``h = R^T h_raw``: the ``n m^2`` product with ``R`` of every
    row is replaced by one ``m^3`` product, about half of the work of the pass.

    Parameters
    ----------
    transform : callable
        ``transform(X_chunk) -> Phi_chunk`` (the feature map).
    X : array of shape (n, d)
        Inputs (indexable by rows: an in-memory or memory-mapped array).
    Y : array of shape (n, T)
        Targets, NaN for missing.
    sample_weight : array of shape (n,) or (n, T) or None
        Non-negative weights.
    xp : module
        Array namespace.
    block_rows : int
        Rows per chunk (bounds the memory of the features: ``block_rows x m``).
    per_task : bool or None
        See :func:`chunk_statistics`; None decides once from the whole ``Y`` and
        weights, so that every chunk has the same layout.
    linear_part : array of shape (r, m) or None
        ``R`` when the features are ``transform(X) @ R`` (used for shared
        statistics; per-task ones take the features as they are).

    Returns
    -------
    statistics : FeatureStatistics
    """
    n = X.shape[0]
    if per_task is None:
        per_task = not complete_sample_weights(Y, sample_weight, xp)[1]
    if per_task:
        # The per-row product with R (n m^2) is cheaper here than mapping T
        # matrices at the end (2 T m^3) whenever rows carry few labels.
        features = transform if linear_part is None else (
            lambda rows: transform(rows) @ linear_part)
        return _accumulate_per_task(features, X, Y, sample_weight, xp,
                                    max(int(block_rows), 1))
    else:
        total = None
        for start in range(0, n, max(int(block_rows), 1)):
            stop = min(start + block_rows, n)
            w = None if sample_weight is None else sample_weight[start:stop, ...]
            part = chunk_statistics(transform(X[start:stop, :]), Y[start:stop, :], w, xp,
                                    per_task=False)
            total = part if total is None else merge_statistics(total, part)
    if linear_part is not None and total is not None:
        R = linear_part
        gram = xp.matmul(R.T, xp.matmul(total.gram, R))
        gram = 0.5 * (gram + xp.matrix_transpose(gram))
        total = FeatureStatistics(gram, R.T @ total.cross, total.sq, total.counts,
                                  total.n_samples)
    return total


def _accumulate_per_task(transform, X, Y, sample_weight, xp, block_rows):
    """Per-task statistics summed in place, chunk by chunk.

    Each chunk adds ``Phi_t^T D_t Phi_t`` of its labelled rows to task ``t``'s
    matrix: no ``(T, m, m)`` temporary per chunk (1.6 GB at ``T = 200``,
    ``m = 1000``), and a task without labels in the chunk costs nothing.
    """
    n, T = Y.shape
    gram = cross = None
    sq = xp.zeros((T,), dtype=Y.dtype)
    counts = xp.zeros((T,), dtype=Y.dtype)
    for start in range(0, n, block_rows):
        stop = min(start + block_rows, n)
        Phi = transform(X[start:stop, :])
        Yc = Y[start:stop, :]
        w = None if sample_weight is None else sample_weight[start:stop, ...]
        W = entry_weights(Yc, w, xp)
        Y0 = xp.where(xp.isnan(Yc), xp.zeros_like(Yc), Yc)
        if gram is None:
            m = Phi.shape[1]
            check_per_task_memory(m, T, xp)
            gram = xp.zeros((T, m, m), dtype=Phi.dtype)
            cross = xp.zeros((m, T), dtype=Phi.dtype)
        sq = sq + xp.sum(W * Y0 * Y0, axis=0)
        counts = counts + xp.sum(xp.astype(W > 0, Y.dtype), axis=0)
        cross = cross + Phi.T @ (W * Y0)
        for t in range(T):
            rows = xp.nonzero(W[:, t] != 0)[0]
            if rows.shape[0] == 0:
                continue
            Phi_t = xp.take(Phi, rows, axis=0)
            weighted = xp.take(W[:, t], rows)[:, None] * Phi_t
            block = gram[t, ...]
            block += Phi_t.T @ weighted  # in place: no m x m copy per task and chunk
            gram[t, ...] = block
    return FeatureStatistics(gram, cross, sq, counts, int(n))


# ----------------------------------------------------------------- objective
def statistics_objective(stats, coef, xp):
    """The weighted squared error ``sum w (Y - Phi W)^2`` from the statistics.

    Parameters
    ----------
    stats : FeatureStatistics
    coef : array of shape (m, T)
        Primal weights ``W``.
    xp : module
        Array namespace.

    Returns
    -------
    value : float
    """
    GW = _gram_times(stats, coef, xp)
    return float(xp.sum(stats.sq) - 2.0 * xp.sum(coef * stats.cross)
                 + xp.sum(coef * GW))


def _gram_times(stats, coef, xp):
    """``G_t w_t`` for every task (column ``t``), or ``G W`` for shared statistics."""
    if not stats.per_task:
        return stats.gram @ coef
    Wt = xp.permute_dims(coef, (1, 0))[:, :, None]  # (T, m, 1)
    return xp.permute_dims(xp.matmul(stats.gram, Wt)[:, :, 0], (1, 0))


# ----------------------------------------------------------------- fixed A
class _SharedSolver:
    """The closed form on shared statistics, with ``G``'s eigendecomposition cached."""

    def __init__(self, stats, xp):
        g, Q = eigh(stats.gram, xp)
        self.g = xp.clip(g, 0.0, None)  # G is PSD up to rounding
        self.Q = Q
        self.QtH = Q.T @ stats.cross  # what every A needs, computed once
        self.sq = float(xp.sum(stats.sq))
        self.xp = xp

    def rotated(self, A, alpha):
        """``(Z, R, V)``: ``W = Q Z V^T`` and ``R = Q^T H V``."""
        xp = self.xp
        sigma, V = task_eigh(A, xp)
        R = self.QtH @ V
        Z = R * sigma[None, :] / (self.g[:, None] * sigma[None, :] + alpha)
        return Z, R, V

    def coef(self, A, alpha):
        Z, _, V = self.rotated(A, alpha)
        return self.Q @ (Z @ V.T)


def _direct_per_task_bytes(m, T):
    # The (mT)x(mT) system and its factor (see the primal solver).
    return 2.0 * dense_bytes(m * T)


def per_task_route(m, T, solver="auto", budget=None, xp=None):
    """``"cholesky"`` (the dense ``mT``-order system) or ``"cg"`` for per-task
    statistics; "auto" takes the direct route while it fits and is cheap."""
    budget = memory_budget(xp) if budget is None else float(budget)
    direct = _direct_per_task_bytes(m, T)
    if solver == "cg":
        return "cg"
    if solver == "auto":
        # Past about 4 000 unknowns a factorisation costs more than many CG
        # iterations (each T m^2 flops).
        if direct <= budget and m * T <= 4000:
            return "cholesky"
        return "cg"
    if direct > budget:
        raise MemoryBudgetError(
            f"The direct solve of the per-task normal equations ({m} features x {T} "
            f"tasks) needs {format_bytes(direct)} but the memory budget is "
            f"{format_bytes(budget)}. Use solver='auto' or 'cg' (conjugate gradients "
            "on the statistics), or lower n_components.")
    return "cholesky"


def _per_task_cg(stats, A, alpha, xp, *, tol, max_iter, x0=None):
    """PCG on the per-task normal equations from the statistics (:func:`_cg_on`)."""
    G_bar = xp.sum(stats.gram, axis=0) / stats.n_tasks
    return _cg_on(lambda V: _gram_times(stats, V, xp), stats.cross, G_bar, A, alpha,
                  xp, tol=tol, max_iter=max_iter, x0=x0)


def _cg_on(gram_times, cross, G_bar, A, alpha, xp, *, tol, max_iter, x0=None):
    """PCG on the per-task normal equations, in ``U`` with ``W = U A^{1/2}``.

    Product: ``U -> [G_t (U S)_t]_t S + alpha U``, with ``gram_times(V)`` the
    columns ``G_t v_t`` (from the statistics: ``T m^2 + m T^2`` flops; or one pass
    over the rows, :class:`RowStream`). Preconditioner: the same system with
    every ``G_t`` replaced by ``G_bar`` (their mean), i.e. ``A (x) G_bar + alpha
    I``, inverted exactly in the eigenbases of ``A`` and ``G_bar`` (exact when the
    tasks share their rows and weights).
    """
    sigma, V = task_eigh(A, xp)
    S = (V * xp.sqrt(sigma)[None, :]) @ V.T
    g, Q = eigh(G_bar, xp)
    g = xp.clip(g, 0.0, None)
    denom = g[:, None] * sigma[None, :] + alpha

    def apply(U):
        return gram_times(U @ S) @ S + alpha * U

    def precondition(R):
        return Q @ (((Q.T @ R) @ V) / denom) @ V.T

    b = cross @ S
    b_norm = float(xp.linalg.vector_norm(b))
    if b_norm == 0.0:
        zero = xp.zeros_like(b)
        return zero, {"n_iter": 0, "converged": True, "residual": 0.0, "U": zero}
    U = xp.zeros_like(b) if x0 is None else x0
    r = b - apply(U) if x0 is not None else b
    z = precondition(r)
    p = z
    rz = float(xp.sum(r * z))
    residual = float(xp.linalg.vector_norm(r)) / b_norm
    it = 0
    while residual > tol and it < max_iter:
        Ap = apply(p)
        step = rz / float(xp.sum(p * Ap))
        U = U + step * p
        r = r - step * Ap
        residual = float(xp.linalg.vector_norm(r)) / b_norm
        it += 1
        z = precondition(r)
        rz_new = float(xp.sum(r * z))
        p = z + (rz_new / rz) * p
        rz = rz_new
    return U @ S, {"n_iter": it, "converged": residual <= tol, "residual": residual,
                   "U": U}


class RowStream:
    """Matrix-free access to the per-task statistics, by passes over row chunks.

    When the ``T`` matrices ``G_t = Phi^T D_t Phi`` do not fit, products with them
    are computed from the rows: ``[G_t v_t]_t = Phi^T (D o (Phi V))`` summed over
    chunks (the Falkon-style matrix-free route; Rudi, Carratino & Rosasco 2017),
    one pass over the data per conjugate-gradient iteration, ``O(m T + b m)``
    memory. One pass at construction computes ``H``, ``sum D Y^2`` and the
    preconditioner's ``G_bar = Phi^T diag(mean_t D_t) Phi``.

    Parameters
    ----------
    transform : callable
        ``transform(X_chunk) -> Phi_chunk``.
    X : array of shape (n, d)
        Inputs.
    Y : array of shape (n, T)
        Targets, NaN for missing.
    sample_weight : array of shape (n,) or (n, T) or None
        Non-negative weights.
    xp : module
        Array namespace.
    block_rows : int
        Rows per chunk.
    """

    per_task = True

    def __init__(self, transform, X, Y, sample_weight, xp, block_rows):
        self.transform, self.X, self.Y, self.w = transform, X, Y, sample_weight
        self.xp, self.block_rows = xp, max(int(block_rows), 1)
        self.n_samples = int(X.shape[0])
        self.n_passes = 0
        cross = G_bar = None
        sq = 0.0
        for Phi, W, Y0 in self._chunks():
            part = Phi.T @ (W * Y0)
            mean_w = xp.sum(W, axis=1) / W.shape[1]
            G_part = (mean_w[:, None] * Phi).T @ Phi
            cross = part if cross is None else cross + part
            G_bar = G_part if G_bar is None else G_bar + G_part
            sq = sq + xp.sum(W * Y0 * Y0, axis=0)
        self.cross, self.G_bar, self.sq = cross, G_bar, sq

    @property
    def n_features(self):
        return int(self.cross.shape[0])

    @property
    def n_tasks(self):
        return int(self.cross.shape[1])

    def _chunks(self):
        xp = self.xp
        self.n_passes += 1
        n = self.n_samples
        for start in range(0, n, self.block_rows):
            stop = min(start + self.block_rows, n)
            Y = self.Y[start:stop, :]
            w = None if self.w is None else self.w[start:stop, ...]
            W = entry_weights(Y, w, xp)
            Y0 = xp.where(xp.isnan(Y), xp.zeros_like(Y), Y)
            yield self.transform(self.X[start:stop, :]), W, Y0

    def gram_times(self, V):
        """``[G_t v_t]_t`` (``m x T``) by one pass over the rows."""
        out = None
        for Phi, W, _ in self._chunks():
            part = Phi.T @ (W * (Phi @ V))
            out = part if out is None else out + part
        return out

    def residual(self, coef):
        """``(data term, H - [G_t w_t]_t)`` at the weights ``coef``, by one pass."""
        xp = self.xp
        value, E = 0.0, None
        for Phi, W, Y0 in self._chunks():
            residual = Y0 - Phi @ coef
            R = W * residual
            value += float(xp.sum(R * residual))
            part = Phi.T @ R
            E = part if E is None else E + part
        return value, E


def solve_streamed(stream, A, alpha, xp, *, options=None):
    """Fixed-structure weights by PCG with products over row chunks (:class:`RowStream`).

    Parameters
    ----------
    stream : RowStream
        The rows.
    A : array of shape (T, T)
        PSD task structure.
    alpha : float
        Regularisation strength.
    xp : module
        Array namespace.
    options : dict or None
        ``tol`` and ``max_iter`` of conjugate gradients.

    Returns
    -------
    coef : array of shape (m, T)
    info : dict
    """
    coef, info = _cg_on(stream.gram_times, stream.cross, stream.G_bar, A, alpha, xp,
                        **_cg_options(options))
    info.pop("U")
    return coef, dict(info, system="streamed", method="cg", n_passes=stream.n_passes)


def solve_fixed_statistics(stats, A, alpha, xp, *, solver="auto", options=None):
    """Primal weights of the fixed-structure ridge from statistics.

    Parameters
    ----------
    stats : FeatureStatistics or RowStream
        Statistics of the training rows (:func:`accumulate_statistics`), or the
        rows themselves when the per-task statistics do not fit.
    A : array of shape (T, T)
        PSD task structure.
    alpha : float
        Regularisation strength (> 0).
    xp : module
        Array namespace.
    solver : {"auto", "primal", "cg"}
        For per-task statistics: "primal" solves the ``mT``-order normal equations
        directly, "cg" by conjugate gradients, "auto" picks. Shared statistics use
        the closed form whatever the value.
    options : dict or None
        ``tol`` and ``max_iter`` of conjugate gradients.

    Returns
    -------
    coef : array of shape (m, T)
        Primal weights ``W``.
    info : dict
        ``system`` ("shared", "per_task") and ``method`` ("eig", "cholesky", "cg",
        with the CG iterations).
    """
    if isinstance(stats, RowStream):
        return solve_streamed(stats, A, alpha, xp, options=options)
    if not stats.per_task:
        return _SharedSolver(stats, xp).coef(A, alpha), {"system": "shared",
                                                          "method": "eig"}
    m, T = stats.n_features, stats.n_tasks
    route = per_task_route(m, T, "cholesky" if solver == "primal" else solver, xp=xp)
    if route == "cholesky":
        return (solve_primal_statistics(stats.gram, stats.cross, A, alpha, xp),
                {"system": "per_task", "method": "cholesky"})
    opts = _cg_options(options)
    coef, info = _per_task_cg(stats, A, alpha, xp, **opts)
    info.pop("U", None)
    return coef, dict(info, system="per_task", method="cg")


def _cg_options(options):
    opts = {"tol": 1e-10, "max_iter": 1000}
    if options:
        opts.update({k: options[k] for k in ("tol", "max_iter") if k in options})
    return opts


# ----------------------------------------------------------------- learned A
def solve_learned_statistics(stats, structure, alpha, xp, *, solver="auto",
                             options=None, max_iter=100, tol=1e-6, verbose=0):
    """Alternating minimisation of ``Q_delta`` over ``W`` and ``A`` on statistics.

    The B-step is :func:`solve_fixed_statistics` (shared statistics: one
    eigendecomposition of ``G`` per fit, then ``O(m T^2 + T^3)`` per iteration, the
    weights kept in ``G``'s eigenbasis), the A-step the structure's exact
    ``a_step`` on ``M = W^T W`` (``B^T K B`` for ``K = Phi Phi^T``). Both minimise
    ``Q_delta`` in their block, so the objective never increases.

    Parameters
    ----------
    stats : FeatureStatistics or RowStream
        Statistics of the training rows, or the rows (every B-step and objective
        then takes passes over them).
    structure : LearnedTaskStructure
        The penalty and its A-step.
    alpha : float
        Regularisation strength (> 0).
    xp : module
        Array namespace.
    solver : {"auto", "primal", "cg"}
        See :func:`solve_fixed_statistics`.
    options : dict or None
        Options of conjugate gradients.
    max_iter : int
        Maximum number of alternating iterations (all continuation stages).
    tol : float
        Stopping tolerance of a stage (see the alternating solver).
    verbose : int
        Print one line per iteration when positive.

    Returns
    -------
    coef : array of shape (m, T)
        Primal weights for the returned ``A`` (its exact fixed-structure solution).
    A : array of shape (T, T)
        The learned task structure.
    info : dict
        ``objective_history``, ``deltas``, ``n_iter``, ``converged``, ``strength``
        and ``system``.
    """
    T = stats.n_tasks
    A0 = _to_like(structure.task_matrix(T), stats.cross, xp)
    progress = _Progress(tol, max_iter, verbose)
    if isinstance(stats, RowStream):
        opts = _cg_options(options)
        last = {"U": None}
        memo = {}

        def final(A):
            coef, info = _cg_on(stats.gram_times, stats.cross, stats.G_bar, A, alpha,
                                xp, x0=last["U"], **opts)
            last["U"] = info["U"]
            return coef

        def b_step(A):
            coef = final(A)
            M = coef.T @ coef
            return coef, 0.5 * (M + M.T)

        def _residual(coef):
            # One pass gives both the data term and the dual variable's product.
            if memo.get("coef") is not coef:
                memo.update(coef=coef, value=stats.residual(coef))
            return memo["value"]

        def data_term(coef):
            return _residual(coef)[0]

        def residual_term(coef):
            return _residual(coef)[1], float(xp.sum(coef * stats.cross))
    elif not stats.per_task:
        shared = _SharedSolver(stats, xp)

        def b_step(A):
            Z, _, V = shared.rotated(A, alpha)
            ZV = Z @ V.T  # Q^T W, the weights in G's eigenbasis
            M = ZV.T @ ZV
            return ZV, 0.5 * (M + M.T)

        def data_term(ZV):
            return float(shared.sq - 2.0 * xp.sum(ZV * shared.QtH)
                         + xp.sum(shared.g[:, None] * ZV * ZV))

        def residual_term(ZV):
            return shared.QtH - shared.g[:, None] * ZV, float(xp.sum(ZV * shared.QtH))

        def final(A):
            return shared.Q @ b_step(A)[0]
    else:
        opts = _cg_options(options)
        route = per_task_route(stats.n_features, T,
                               "cholesky" if solver == "primal" else solver, xp=xp)
        last = {"U": None}

        def final(A):
            if route == "cholesky":
                return solve_primal_statistics(stats.gram, stats.cross, A, alpha, xp)
            coef, info = _per_task_cg(stats, A, alpha, xp, x0=last["U"], **opts)
            last["U"] = info["U"]  # warm start of the next B-step
            return coef

        def b_step(A):
            coef = final(A)
            M = coef.T @ coef
            return coef, 0.5 * (M + M.T)

        def data_term(coef):
            return statistics_objective(stats, coef, xp)

        def residual_term(coef):
            return (stats.cross - _gram_times(stats, coef, xp),
                    float(xp.sum(coef * stats.cross)))

    sq_total = float(xp.sum(stats.sq))

    def dual_term(coef):
        # The data term's dual variable at the predictions, Lambda = -2 D (Y - Phi W):
        # Phi^T Lambda = -2 (h_t - G_t w_t) per task, so Lambda^T K Lambda = 4 E^T E,
        # and -V*(theta Lambda) = 2 theta (sum D Y^2 - <W, H>) - theta^2 (data term).
        E, cross = residual_term(coef)
        S = 4.0 * (E.T @ E)
        return _quadratic_dual(2.0 * (sq_total - cross), data_term(coef)), 0.5 * (S + S.T)

    A, converged = _run_stages(structure, b_step, data_term, A0, alpha, xp, progress,
                               dual_term)
    if not converged:
        warn_not_converged(max_iter, tol)
    coef = final(A)
    info = {"objective_history": progress.history, "deltas": progress.deltas,
            "n_iter": progress.n_iter, "converged": converged,
            "n_b_steps": progress.n_b_steps, "n_accelerated": progress.n_accelerated,
            "strength": _strength_used(progress),
            "system": ("streamed" if isinstance(stats, RowStream)
                       else "per_task" if stats.per_task else "shared")}
    return coef, A, info
