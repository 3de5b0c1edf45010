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

from .._backend import array_device, eigh, get_namespace
from .._memory import check_memory, dense_bytes, format_bytes, memory_budget
from .._validation import entry_weights
from ..exceptions import MemoryBudgetError
from .alternating import (
    _newton_ready,
    _Progress,
    _quadratic_dual,
    _run_newton_stages,
    _run_stages,
    _strength_used,
    _to_like,
    warn_not_converged,
)
from .complete import task_eigh
from .plan import complete_sample_weights
from .primal import per_task_times, primal_statistics, solve_primal_statistics

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
        gram, cross = _shared_sums(Phi, Y0, sample_w, xp)
        return FeatureStatistics(gram, cross, sq, counts, int(n))
    check_per_task_memory(Phi.shape[1], T, xp)
    G, h = primal_statistics(Phi, Y, W, xp)
    return FeatureStatistics(G, h, sq, counts, int(n))


def _shared_sums(Phi, Y0, sample_w, xp):
    """``(Phi^T D Phi, Phi^T D Y0)`` as a symmetric rank-k product.

    With ``P = sqrt(w) * Phi`` the gram is ``P^T P``: both operands the same
    buffer, which NumPy hands to BLAS ``syrk`` (half the flops of ``gemm``, the
    dominant ``n m^2`` cost of a fit); other libraries at worst do the ``gemm``.
    """
    if sample_w is None:
        P, Q = Phi, Y0
    else:
        root = xp.sqrt(sample_w)[:, None]
        P, Q = root * Phi, root * Y0
    return xp.matmul(xp.matrix_transpose(P), P), xp.matrix_transpose(P) @ Q


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
    if per_task is None:
        per_task = not complete_sample_weights(Y, sample_weight, xp)[1]
    if per_task:
        # The per-row product with R (n m^2) is cheaper here than mapping T
        # matrices at the end (2 T m^3) whenever rows carry few labels.
        features = transform if linear_part is None else (
            lambda rows: transform(rows) @ linear_part)
        return _accumulate_per_task(features, X, Y, sample_weight, xp,
                                    max(int(block_rows), 1))
    total = _accumulate_shared(transform, X, Y, sample_weight, xp,
                               max(int(block_rows), 1))
    if linear_part is not None and total is not None:
        R = linear_part
        gram = xp.matmul(R.T, xp.matmul(total.gram, R))
        gram = 0.5 * (gram + xp.matrix_transpose(gram))
        total = FeatureStatistics(gram, R.T @ total.cross, total.sq, total.counts,
                                  total.n_samples)
    return total


def _accumulate_shared(transform, X, Y, sample_weight, xp, block_rows):
    """Shared statistics summed in place over chunks (a complete ``Y``)."""
    n = X.shape[0]
    total = None
    for start in range(0, n, block_rows):
        stop = min(start + block_rows, n)
        w = None if sample_weight is None else sample_weight[start:stop, ...]
        part = chunk_statistics(transform(X[start:stop, :]), Y[start:stop, :], w, xp,
                                per_task=False)
        if total is None:
            total = part
            continue
        # In place: merge_statistics would allocate a new m x m sum per chunk.
        gram = total.gram
        gram += part.gram
        total = FeatureStatistics(gram, total.cross + part.cross, total.sq + part.sq,
                                  total.counts + part.counts,
                                  total.n_samples + part.n_samples)
    return total


# Costs of the per-task pass, in units of one row's m^2 product (a rank-1
# update): the features of a row (Nyström: k(x, Z) R, a gemm row, twice the
# flops of a syrk row), and adding a product into a task's m x m matrix (three
# memory-bound m^2 passes: about a rank-32 update on two cores).
_FEATURE_COST = 2.0
_ADD_COST = 32.0


def _accumulate_per_task(transform, X, Y, sample_weight, xp, block_rows):
    """Per-task statistics ``G_t = P_t^T P_t`` with ``P_t = sqrt(D_t) Phi_t``.

    Two orders of the same sums, chosen by their cost (one pass over ``Y``
    first counts the labels): by chunks of rows (features once per row; every
    chunk adds into the matrices of the tasks it labels, ``chunks x T x m^2``
    additions, cheap when rows carry many labels), or by task (the labelled
    entries sorted by task and cut into blocks: the features of a row once per
    label, each task's rows one tall product, ``(T + nnz / b) m^2`` additions:
    School's layout, one label per row). Either way no ``(T, m, m)`` temporary
    (1.6 GB at ``T = 200``, ``m = 1000``) and ``syrk`` products.
    """
    n, T = Y.shape
    device = array_device(Y)
    sq = xp.zeros((T,), dtype=Y.dtype, device=device)
    counts = xp.zeros((T,), dtype=Y.dtype, device=device)
    pairs = 0  # (chunk, task) pairs with a label: the additions of the chunk order
    for start in range(0, n, block_rows):
        W, Y0 = _chunk_labels(Y, sample_weight, start, min(start + block_rows, n), xp)
        sq = sq + xp.sum(W * Y0 * Y0, axis=0)
        labelled = W > 0
        counts = counts + xp.sum(xp.astype(labelled, Y.dtype), axis=0)
        pairs += int(xp.sum(xp.astype(xp.any(labelled, axis=0), xp.int64)))
    nnz = float(xp.sum(counts))
    by_chunk = n * _FEATURE_COST + nnz + pairs * _ADD_COST
    by_task = nnz * (_FEATURE_COST + 1.0) + (T + nnz / block_rows) * _ADD_COST
    sums = _per_task_by_task if 0 < nnz and by_task < by_chunk else _per_task_by_chunk
    gram, cross = sums(transform, X, Y, sample_weight, xp, block_rows)
    return FeatureStatistics(gram, cross, sq, counts, int(n))


def _chunk_labels(Y, sample_weight, start, stop, xp):
    """``(W, Y0)`` of rows ``start:stop``: entry weights (zero where missing) and
    the targets with zeros for NaN."""
    Yc = Y[start:stop, :]
    w = None if sample_weight is None else sample_weight[start:stop, ...]
    return entry_weights(Yc, w, xp), xp.where(xp.isnan(Yc), xp.zeros_like(Yc), Yc)


def _empty_per_task(m, T, like, xp):
    check_per_task_memory(m, T, xp)
    device = array_device(like)
    return (xp.zeros((T, m, m), dtype=like.dtype, device=device),
            xp.zeros((m, T), dtype=like.dtype, device=device))


def _add_task_product(gram, t, P, xp):
    # In place: no m x m copy per task and block (NumPy skips the self-assignment,
    # which libraries without views need). P^T P on one buffer: BLAS syrk.
    block = gram[t, ...]
    block += xp.matmul(xp.matrix_transpose(P), P)
    gram[t, ...] = block


def _per_task_by_chunk(transform, X, Y, sample_weight, xp, block_rows):
    """Per-task sums, chunk by chunk of rows (features once per row)."""
    n, T = Y.shape
    gram = cross = None
    for start in range(0, n, block_rows):
        stop = min(start + block_rows, n)
        W, Y0 = _chunk_labels(Y, sample_weight, start, stop, xp)
        Phi = transform(X[start:stop, :])
        if gram is None:
            gram, cross = _empty_per_task(Phi.shape[1], T, Phi, xp)
        cross = cross + xp.matrix_transpose(Phi) @ (W * Y0)
        root = xp.sqrt(W)
        for t in range(T):
            rows = xp.nonzero(W[:, t] > 0)[0]
            if rows.shape[0] == 0:
                continue
            P = xp.take(root[:, t], rows)[:, None] * xp.take(Phi, rows, axis=0)
            _add_task_product(gram, t, P, xp)
    return gram, cross


def _per_task_by_task(transform, X, Y, sample_weight, xp, block_rows):
    """Per-task sums over the labelled entries sorted by task (one label per row)."""
    n, T = Y.shape
    tasks, rows, weights, targets = [], [], [], []
    for start in range(0, n, block_rows):
        W, Y0 = _chunk_labels(Y, sample_weight, start, min(start + block_rows, n), xp)
        # Entries of W^T in C order: sorted by task, then by row.
        t, i = xp.nonzero(xp.matrix_transpose(W) > 0)
        flat = t * W.shape[0] + i  # the entries' positions in W^T, flattened
        tasks.append(t)
        rows.append(i + start)
        weights.append(xp.take(xp.reshape(xp.matrix_transpose(W), (-1,)), flat))
        targets.append(xp.take(xp.reshape(xp.matrix_transpose(Y0), (-1,)), flat))
    order = xp.argsort(xp.concat(tasks), stable=True)
    tasks, rows, weights, targets = (xp.take(xp.concat(a), order) for a in
                                     (tasks, rows, weights, targets))
    nnz = int(rows.shape[0])
    gram = cross = None
    for start in range(0, nnz, block_rows):
        stop = min(start + block_rows, nnz)
        root = xp.sqrt(weights[start:stop])[:, None]
        P = root * transform(xp.take(X, rows[start:stop], axis=0))
        Q = root[:, 0] * targets[start:stop]
        if gram is None:
            gram, cross = _empty_per_task(P.shape[1], T, P, xp)
        block_tasks = tasks[start:stop]
        # The block's tasks are sorted: each one a contiguous run of rows.
        edges = xp.nonzero(block_tasks[1:] != block_tasks[:-1])[0] + 1
        bounds = [0, *(int(e) for e in edges), stop - start]
        for a, b in zip(bounds[:-1], bounds[1:], strict=True):
            t = int(block_tasks[a])
            _add_task_product(gram, t, P[a:b, :], xp)
            cross[:, t] = cross[:, t] + xp.matrix_transpose(P[a:b, :]) @ Q[a:b]
    return gram, cross


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
    return per_task_times(stats.gram, coef, xp)


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


# Conjugate-gradient iterations assumed by the cost model of a learned
# structure's B-steps (warm-started from the previous B-step, they usually take
# far fewer).
_CG_ITERATIONS = 100


def _cholesky_flops(m, T):
    """Flops of one direct per-task solve: forming the ``mT``-order normal
    equations (``2 T^3 m^2``) and factorising them (``(mT)^3 / 3``)."""
    return (m * T) ** 3 / 3.0 + 2.0 * T**3 * m**2


def _cg_iteration_flops(m, T):
    """Flops of one CG iteration on per-task statistics: the ``T`` products with
    the ``G_t`` and the preconditioner's rotations (:func:`_cg_on`)."""
    return 6.0 * T * m**2 + 8.0 * m * T**2


def per_task_route(m, T, solver="auto", budget=None, xp=None, *, repeated=False):
    """``"cholesky"`` (the dense ``mT``-order system) or ``"cg"`` for per-task
    statistics; "auto" takes the direct route while it fits and is cheap.

    ``repeated``: the solve is one B-step of a learned structure, refactorised
    at every step while conjugate gradients start from the previous solution:
    "auto" then takes the direct route only when it costs less than
    ``_CG_ITERATIONS`` iterations (``mT`` up to a few hundred).
    """
    budget = memory_budget(xp) if budget is None else float(budget)
    direct = _direct_per_task_bytes(m, T)
    if solver == "cg":
        return "cg"
    if solver == "auto":
        if direct > budget:
            return "cg"
        if repeated:
            cheaper = _cholesky_flops(m, T) <= _CG_ITERATIONS * _cg_iteration_flops(m, T)
            return "cholesky" if cheaper else "cg"
        # One fit, one factorisation: past about 4 000 unknowns it costs more
        # than many CG iterations (each T m^2 flops).
        return "cholesky" if m * T <= 4000 else "cg"
    if direct > budget:
        raise MemoryBudgetError(
            f"The direct solve of the per-task normal equations ({m} features x {T} "
            f"tasks) needs {format_bytes(direct)} but the memory budget is "
            f"{format_bytes(budget)}. Use solver='auto' or 'cg' (conjugate gradients "
            "on the statistics), or lower n_components.")
    return "cholesky"


def _per_task_cg(stats, A, alpha, xp, *, tol, max_iter, x0=None, w0=None,
                 preconditioner=None):
    """PCG on the per-task normal equations from the statistics (:func:`_cg_on`)."""
    if preconditioner is None:
        preconditioner = _mean_gram_eigh(xp.sum(stats.gram, axis=0) / stats.n_tasks, xp)
    return _cg_on(lambda V: _gram_times(stats, V, xp), stats.cross, preconditioner, A,
                  alpha, xp, tol=tol, max_iter=max_iter, x0=x0, w0=w0)


def _mean_gram_eigh(G_bar, xp):
    """``(g, Q)``, the eigendecomposition of the preconditioner's ``G_bar`` (PSD)."""
    g, Q = eigh(G_bar, xp)
    return xp.clip(g, 0.0, None), Q


def _cg_on(gram_times, cross, G_bar, A, alpha, xp, *, tol, max_iter, x0=None, w0=None):
    """PCG on the per-task normal equations, in ``U`` with ``W = U A^{1/2}``.

    Product: ``U -> [G_t (U S)_t]_t S + alpha U``, with ``gram_times(V)`` the
    columns ``G_t v_t`` (from the statistics: ``T m^2 + m T^2`` flops; or one pass
    over the rows, :class:`RowStream`). Preconditioner: the same system with
    every ``G_t`` replaced by ``G_bar`` (their mean), i.e. ``A (x) G_bar + alpha
    I``, inverted exactly in the eigenbases of ``A`` and ``G_bar`` (exact when the
    tasks share their rows and weights). ``G_bar`` may be given as its
    eigendecomposition ``(g, Q)`` (:func:`_mean_gram_eigh`), which a learned
    structure's B-steps share.

    Start: ``x0`` (``U``), or ``w0``, weights ``W`` of a previous B-step, taken to
    this ``A``'s parametrisation (``U = W S^+``: the same weights, projected on
    ``A``'s range), or zero.
    """
    sigma, V = task_eigh(A, xp)
    S = (V * xp.sqrt(sigma)[None, :]) @ V.T
    g, Q = G_bar if isinstance(G_bar, tuple) else _mean_gram_eigh(G_bar, xp)
    denom = g[:, None] * sigma[None, :] + alpha
    if x0 is None and w0 is not None:
        kept = sigma > float(sigma[-1]) * sigma.shape[0] * float(xp.finfo(sigma.dtype).eps)
        root = xp.sqrt(xp.where(kept, sigma, xp.ones_like(sigma)))
        inverse_root = xp.where(kept, 1.0 / root, xp.zeros_like(sigma))
        x0 = w0 @ ((V * inverse_root[None, :]) @ V.T)

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
        ``objective_history``, ``deltas``, ``n_iter``, ``converged``, ``strength``,
        ``system`` and ``method`` of the B-steps ("eig", "cholesky" or "cg").
    """
    T = stats.n_tasks
    A0 = _to_like(structure.task_matrix(T), stats.cross, xp)
    progress = _Progress(tol, max_iter, verbose)
    if isinstance(stats, RowStream):
        opts = _cg_options(options)
        last = {"W": None}
        memo = {}
        method = "cg"
        preconditioner = _mean_gram_eigh(stats.G_bar, xp)

        def final(A):
            # Warm start: the previous B-step's weights (each CG iteration here is
            # a pass over the rows).
            coef, _ = _cg_on(stats.gram_times, stats.cross, preconditioner, A, alpha,
                             xp, w0=last["W"], **opts)
            last["W"] = coef
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
        method = "eig"

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
                               "cholesky" if solver == "primal" else solver, xp=xp,
                               repeated=True)
        method = route
        last = {"W": None}
        preconditioner = None if route == "cholesky" else _mean_gram_eigh(
            xp.sum(stats.gram, axis=0) / T, xp)

        def final(A):
            if route == "cholesky":
                return solve_primal_statistics(stats.gram, stats.cross, A, alpha, xp)
            # Warm start: the previous B-step's weights in this A's parametrisation.
            coef, _ = _per_task_cg(stats, A, alpha, xp, w0=last["W"],
                                   preconditioner=preconditioner, **opts)
            last["W"] = coef
            return coef

        def b_step(A):
            coef = final(A)
            M = coef.T @ coef
            return coef, 0.5 * (M + M.T)

        products = {}

        def gram_times(coef):
            # The objective and the dual both need [G_t w_t]_t, a read of all T
            # matrices (1.6 GB at T = 200, m = 1000): once per B-step.
            if products.get("coef") is not coef:
                products.update(coef=coef, value=_gram_times(stats, coef, xp))
            return products["value"]

        def data_term(coef):
            return float(xp.sum(stats.sq) - 2.0 * xp.sum(coef * stats.cross)
                         + xp.sum(coef * gram_times(coef)))

        def residual_term(coef):
            return stats.cross - gram_times(coef), float(xp.sum(coef * stats.cross))

    sq_total = float(xp.sum(stats.sq))

    def dual_term(coef):
        # The data term's dual variable at the predictions, Lambda = -2 D (Y - Phi W):
        # Phi^T Lambda = -2 (h_t - G_t w_t) per task, so Lambda^T K Lambda = 4 E^T E,
        # and -V*(theta Lambda) = 2 theta (sum D Y^2 - <W, H>) - theta^2 (data term).
        E, cross = residual_term(coef)
        S = 4.0 * (E.T @ E)
        return _quadratic_dual(2.0 * (sq_total - cross), data_term(coef)), 0.5 * (S + S.T)

    # Newton steps (as in the exact fits) where H_A has a direct factorisation:
    # shared statistics (G's eigenbasis) and small per-task systems; streamed rows
    # and the CG route keep the accelerated alternating map.
    newton_route = None
    if _newton_ready(structure) and not isinstance(stats, RowStream):
        from .newton import DiagonalRoute, StatisticsRoute

        if not stats.per_task:
            newton_route = DiagonalRoute(shared.g, shared.QtH, shared.sq, xp)
        elif method == "cholesky":
            newton_route = StatisticsRoute(stats.gram, stats.cross, sq_total, xp)
    if newton_route is not None:
        A, converged = _run_newton_stages(structure, newton_route, A0, alpha, xp,
                                          progress)
    else:
        A, converged = _run_stages(structure, b_step, data_term, A0, alpha, xp,
                                   progress, dual_term)
    if not converged:
        warn_not_converged(max_iter, tol)
    coef = final(A)
    info = {"objective_history": progress.history, "deltas": progress.deltas,
            "n_iter": progress.n_iter, "converged": converged,
            "n_b_steps": progress.n_b_steps, "n_accelerated": progress.n_accelerated,
            "n_newton_steps": progress.n_newton,
            "n_hessian_products": progress.n_hessian_products,
            "strength": _strength_used(progress), "method": method,
            "system": ("streamed" if isinstance(stats, RowStream)
                       else "per_task" if stats.per_task else "shared")}
    return coef, A, info
