r"""Penalties of the linear multi-task family, as composable objects.

A penalty acts on the coefficient matrix ``W`` (``n_features x n_tasks``, column
``t`` = task ``t``) or, for the decomposition models, on the stacked components
``Z`` of shape ``(2, n_features, n_tasks)`` with ``W = Z[0] + Z[1]``. It splits into

* a non-smooth part, a sum of norms of the components, handled by its proximal
  operator (``value`` and ``prox``), and
* a smooth part of ``W`` (the graph penalty, the clustered-MTL relaxation), handled
  by its gradient (``smooth``).

Every method takes the array namespace ``xp``; nothing here knows of scikit-learn.
The regularisation strength ``alpha`` (lambda_1) is passed in by the solver; the
penalty objects carry only the settings of their structure (graph, number of
clusters, weight ``beta`` of a second component).
"""

from __future__ import annotations

import copy
import numbers

import numpy as np

from .._backend import array_device, eigh, to_namespace

__all__ = [
    "ClusteredMTL",
    "Dirty",
    "GraphPenalty",
    "L21",
    "Lasso",
    "LinearPenalty",
    "NoPenalty",
    "RobustLowRank",
    "RobustMTFL",
    "SparseLowRank",
    "TraceNorm",
    "resolve_penalty",
]


# --------------------------------------------------------------------------- norms
class _Norm:
    """A norm of a (n_features, n_tasks) block with its prox and dual norm."""

    name = ""

    def value(self, V, xp):
        raise NotImplementedError

    def prox(self, V, tau, xp):
        """argmin_U 1/2 ||U - V||_F^2 + tau ||U||."""
        raise NotImplementedError

    def dual(self, G, xp):
        """Dual norm; ``||grad||_* <= alpha`` means 0 is optimal for this block."""
        raise NotImplementedError


class _L1(_Norm):
    name = "l1"

    def value(self, V, xp):
        return xp.sum(xp.abs(V))

    def prox(self, V, tau, xp):
        return xp.sign(V) * xp.maximum(xp.abs(V) - tau, 0.0)

    def dual(self, G, xp):
        return xp.max(xp.abs(G))


def _group_shrink(V, norms, tau, xp):
    scale = xp.maximum(1.0 - tau / xp.where(norms > 0, norms, 1.0), 0.0)
    return V * scale


class _L21Rows(_Norm):
    """sum_j ||V[j, :]||_2: a feature is used by all tasks or by none."""

    name = "l21"

    def value(self, V, xp):
        return xp.sum(xp.sqrt(xp.sum(V * V, axis=1)))

    def prox(self, V, tau, xp):
        return _group_shrink(V, xp.sqrt(xp.sum(V * V, axis=1, keepdims=True)), tau, xp)

    def dual(self, G, xp):
        return xp.max(xp.sqrt(xp.sum(G * G, axis=1)))


class _L21Cols(_Norm):
    """sum_t ||V[:, t]||_2: whole tasks switched on (outlier tasks)."""

    name = "l21_columns"

    def value(self, V, xp):
        return xp.sum(xp.sqrt(xp.sum(V * V, axis=0)))

    def prox(self, V, tau, xp):
        return _group_shrink(V, xp.sqrt(xp.sum(V * V, axis=0, keepdims=True)), tau, xp)

    def dual(self, G, xp):
        return xp.max(xp.sqrt(xp.sum(G * G, axis=0)))


class _L1InfRows(_Norm):
    """sum_j max_t |V[j, t]|: rows shared by all tasks with a common magnitude."""

    name = "l1inf"

    def value(self, V, xp):
        return xp.sum(xp.max(xp.abs(V), axis=1))

    def prox(self, V, tau, xp):
        # Moreau: prox of tau ||.||_inf = identity - projection on the l1 ball of
        # radius tau, row by row. The threshold of that projection is
        # max_k (sum_{i<=k} u_(i) - tau) / k over the decreasingly sorted |v|.
        A = xp.abs(V)
        u = xp.sort(A, axis=1, descending=True)
        k = xp.arange(1, V.shape[1] + 1, dtype=V.dtype, device=array_device(V))
        theta = xp.max((xp.cumulative_sum(u, axis=1) - tau) / k, axis=1, keepdims=True)
        theta = xp.maximum(theta, 0.0)
        projection = xp.sign(V) * xp.maximum(A - theta, 0.0)
        return V - projection

    def dual(self, G, xp):
        return xp.max(xp.sum(xp.abs(G), axis=1))


class _Nuclear(_Norm):
    """Sum of singular values: low rank (tasks share a few directions)."""

    name = "trace"

    def value(self, V, xp):
        return xp.sum(xp.linalg.svdvals(V))

    def prox(self, V, tau, xp):
        U, s, Vt = xp.linalg.svd(V, full_matrices=False)
        s = xp.maximum(s - tau, 0.0)
        return (U * s) @ Vt

    def dual(self, G, xp):
        return xp.max(xp.linalg.svdvals(G))


# ------------------------------------------------------------------------ penalties
def _check_nonneg(value, name, positive=False):
    if (isinstance(value, bool) or not isinstance(value, numbers.Real)
            or not np.isfinite(value) or value < 0 or (positive and value == 0)):
        what = "a positive" if positive else "a non-negative"
        raise ValueError(f"{name} must be {what} finite number, got {value!r}.")
    return float(value)


class LinearPenalty:
    r"""Base class of the penalties of :mod:`rkhsmtl.linear`.

    The regulariser is ``alpha * sum_b weight_b * norm_b(Z[b]) + smooth(W)``;
    subclasses set the norms (``_norms``) and their weights, or a smooth part.
    """

    #: whether the estimator's ``l2`` adds ``l2 * ||W||_F^2`` (False when the
    #: penalty uses ``l2`` itself, as the clustered-MTL relaxation does).
    adds_ridge = True

    def _norms(self):
        return [(_L1(), 1.0)]

    @property
    def n_blocks(self):
        return max(1, len(self._norms()))

    def validate(self, n_tasks, alpha, l2):
        """Raise ValueError if the settings do not fit ``n_tasks`` tasks."""

    def value(self, Z, alpha, xp):
        """Non-smooth part ``alpha * sum_b weight_b ||Z[b]||_b`` (a 0-d array)."""
        total = xp.zeros((), dtype=Z.dtype, device=array_device(Z))
        for b, (norm, weight) in enumerate(self._norms()):
            if weight > 0:
                total = total + alpha * weight * norm.value(Z[b, ...], xp)
        return total

    def prox(self, Z, tau, xp):
        """Proximal operator of ``tau * (non-smooth part)`` with ``alpha = 1``."""
        norms = self._norms()
        if not norms:
            return Z
        blocks = [norm.prox(Z[b, ...], tau * weight, xp) if weight > 0 else Z[b, ...]
                  for b, (norm, weight) in enumerate(norms)]
        return xp.stack(blocks, axis=0)

    def smooth(self, W, alpha, l2, xp):
        """(value, gradient in W) of the smooth part, or None when there is none."""
        return None

    def alpha_max(self, G, xp):
        """Smallest ``alpha`` for which ``W = 0`` is optimal, given the gradient
        ``G`` of the loss at ``W = 0`` (optimal intercepts); None if no such alpha."""
        values = []
        for norm, weight in self._norms():
            if weight == 0:
                return None
            values.append(float(norm.dual(G, xp)) / weight)
        return max(values) if values else None

    def extras(self, W, alpha, l2, xp):
        """Fitted quantities besides W (e.g. the task-relation matrix of CMTL)."""
        return {}

    def __repr__(self):
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({params})"

    # scikit-learn style parameters, so that GridSearchCV can tune
    # ``penalty__beta`` and ``clone`` copies the object.
    def get_params(self, deep=True):
        return {name: getattr(self, name) for name in self._param_names}

    def set_params(self, **params):
        for name, value in params.items():
            if name not in self._param_names:
                raise ValueError(f"Invalid parameter {name!r} for {type(self).__name__}.")
            setattr(self, name, value)
        return self

    _param_names = ()


class NoPenalty(LinearPenalty):
    """No structural penalty: independent (ridge-regularised with ``l2``) tasks."""

    def _norms(self):
        return []

    def alpha_max(self, G, xp):
        return None


class Lasso(LinearPenalty):
    r"""Entry-wise sparsity ``alpha * ||W||_1 = alpha * sum_{j,t} |W_jt|``."""

    def _norms(self):
        return [(_L1(), 1.0)]


class L21(LinearPenalty):
    r"""Joint feature selection ``alpha * sum_j ||W_{j,:}||_2`` (rows = features)."""

    def _norms(self):
        return [(_L21Rows(), 1.0)]


class TraceNorm(LinearPenalty):
    r"""Low rank ``alpha * ||W||_*`` (sum of the singular values of ``W``)."""

    def _norms(self):
        return [(_Nuclear(), 1.0)]


def _incidence(graph, n_tasks):
    """T x E matrix G with ||W G||_F^2 the graph penalty (host side, NumPy)."""
    if isinstance(graph, str):
        if graph == "chain":
            G = np.zeros((n_tasks, max(n_tasks - 1, 0)))
            for t in range(n_tasks - 1):
                G[t, t], G[t + 1, t] = 1.0, -1.0
            return G
        if graph in ("mean", "mean_regularized"):
            return np.eye(n_tasks) - np.full((n_tasks, n_tasks), 1.0 / n_tasks)
        raise ValueError(
            f"graph must be 'chain', 'mean', an (n_tasks, n_edges) matrix or a list of "
            f"edges (s, t) or (s, t, weight), got {graph!r}."
        )
    if hasattr(graph, "shape"):
        # An array is the matrix G itself; a Python list is an edge list.
        G = np.asarray(graph, dtype=np.float64)
        if G.ndim != 2 or G.shape[0] != n_tasks:
            raise ValueError(
                f"The graph matrix G must have shape (n_tasks={n_tasks}, n_edges), got "
                f"{G.shape}."
            )
        if not np.all(np.isfinite(G)):
            raise ValueError("The graph matrix G contains NaN or infinity.")
        return G
    edges = list(graph)
    G = np.zeros((n_tasks, len(edges)))
    for e, edge in enumerate(edges):
        edge = tuple(edge)
        if len(edge) not in (2, 3):
            raise ValueError(f"An edge must be (s, t) or (s, t, weight), got {edge!r}.")
        s, t = int(edge[0]), int(edge[1])
        w = float(edge[2]) if len(edge) == 3 else 1.0
        if not (0 <= s < n_tasks and 0 <= t < n_tasks) or s == t or w < 0:
            raise ValueError(
                f"Edge {edge!r} must join two different tasks in [0, {n_tasks}) with a "
                "non-negative weight."
            )
        # weight * ||w_s - w_t||^2: the column carries sqrt(weight).
        G[s, e], G[t, e] = np.sqrt(w), -np.sqrt(w)
    return G


class GraphPenalty(LinearPenalty):
    r"""Graph smoothness ``alpha * ||W G||_F^2`` (+ ``alpha * beta * ||W||_1``).

    ``||W G||_F^2 = sum_{edges (s,t)} weight * ||w_s - w_t||^2 = tr(W G G^T W^T)``.

    Parameters
    ----------
    graph : str, ndarray of shape (n_tasks, n_edges) or list, default="chain"
        "chain": consecutive tasks (``G`` is ``T x (T - 1)``, ``G[t, t] = 1``,
        ``G[t + 1, t] = -1``); "mean": mean-regularised MTL, ``G = I - 11^T / T``
        (``||WG||^2 = sum_t ||w_t - w_bar||^2``); a matrix ``G`` as in RMTL and
        MALSAR (a NumPy array is always read as ``G``); or a Python list of
        edges ``(s, t)`` or ``(s, t, weight)``.
    beta : float, default=0.0
        Weight of an additional lasso term (MALSAR's ``Least_SRMTL`` with
        ``beta = rho2 / rho1``).
    """

    _param_names = ("graph", "beta")

    def __init__(self, graph="chain", beta=0.0):
        self.graph = graph
        self.beta = beta

    def _norms(self):
        return [(_L1(), float(self.beta))] if self.beta else []

    def validate(self, n_tasks, alpha, l2):
        _check_nonneg(self.beta, "beta")
        _incidence(self.graph, n_tasks)
        # The graph may have changed since the last solve (set_params, an array
        # edited in place): rebuild the Laplacian.
        self.__dict__.pop("_lap_cache", None)

    def laplacian(self, n_tasks):
        """``G G^T`` (n_tasks x n_tasks, NumPy)."""
        G = _incidence(self.graph, n_tasks)
        return G @ G.T

    def smooth(self, W, alpha, l2, xp):
        T = W.shape[1]
        cache = getattr(self, "_lap_cache", None)
        key = (T, id(xp), str(array_device(W)))
        if cache is None or cache[0] != key:
            lap = xp.astype(to_namespace(self.laplacian(T), xp, array_device(W)), W.dtype)
            self._lap_cache = cache = (key, lap)
        WL = W @ cache[1]
        return alpha * xp.sum(W * WL), 2.0 * alpha * WL

    def alpha_max(self, G, xp):
        if not self.beta:
            return None
        return float(xp.max(xp.abs(G))) / float(self.beta)

    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("_lap_cache", None)
        return state


def cluster_relation(s, eta, k, xp):
    """Eigenvalues ``m`` of the optimal task-relation matrix of clustered MTL.

    Minimises ``sum_i s_i / (eta + m_i)`` over ``0 <= m <= 1, sum m = k``: the
    minimiser is ``m_i = clip(theta sqrt(s_i) - eta, 0, 1)`` with ``theta`` such
    that the sum is ``k``. The sum is piecewise linear in ``theta`` with kinks at
    ``eta / sqrt(s_i)`` and ``(1 + eta) / sqrt(s_i)``; evaluating it at every kink
    locates ``theta`` exactly (no bisection).
    """
    r = xp.sqrt(xp.maximum(s, 0.0))
    positive = r > 0
    n_pos = int(xp.sum(xp.astype(positive, xp.int64)))
    T = s.shape[0]
    if n_pos <= k:
        # Every used direction fits inside the clusters; the others cost nothing,
        # so spread the remaining trace over them (keeps M feasible).
        rest = (k - n_pos) / max(T - n_pos, 1)
        return xp.where(positive, xp.ones_like(s), xp.full_like(s, rest))
    r_safe = xp.where(positive, r, 1.0)
    kinks = xp.concat([xp.where(positive, eta / r_safe, 0.0),
                       xp.where(positive, (1.0 + eta) / r_safe, 0.0)])
    kinks = xp.sort(kinks)
    sums = xp.sum(xp.clip(kinks[:, None] * r[None, :] - eta, 0.0, 1.0), axis=1)
    idx = int(xp.sum(xp.astype(sums < k, xp.int64)))
    lo, hi = kinks[idx - 1], kinks[idx]
    f_lo, f_hi = sums[idx - 1], sums[idx]
    theta = lo + (k - f_lo) * (hi - lo) / (f_hi - f_lo)
    return xp.clip(theta * r - eta, 0.0, 1.0)


class ClusteredMTL(LinearPenalty):
    r"""Clustered MTL, convex relaxation (Zhou, Chen & Ye 2011; RMTL/MALSAR "CMTL").

    .. math::

        \min_{M} \; c\, \mathrm{tr}\big(W (\eta I + M)^{-1} W^\top\big)
        \quad \text{s.t. } 0 \preceq M \preceq I,\ \mathrm{tr} M = k,

    with ``eta = l2 / alpha`` and ``c = alpha * eta * (1 + eta) = l2 (1 + l2/alpha)``,
    exactly RMTL's parametrisation (``alpha`` = ``Lam1``, ``l2`` = ``Lam2``). The
    minimum over ``M`` is taken in closed form at every evaluation, so the penalty
    is a smooth convex function of ``W``; ``l2`` is used here and adds no separate
    ridge term. Both ``alpha`` and ``l2`` must be positive.

    Parameters
    ----------
    n_clusters : int, default=2
        ``k``, the number of task clusters; ``1 <= k <= n_tasks``.
    """

    adds_ridge = False
    _param_names = ("n_clusters",)

    def __init__(self, n_clusters=2):
        self.n_clusters = n_clusters

    def _norms(self):
        return []

    def validate(self, n_tasks, alpha, l2):
        k = self.n_clusters
        if isinstance(k, bool) or not isinstance(k, numbers.Integral) or not 1 <= k <= n_tasks:
            raise ValueError(
                f"n_clusters must be an integer in [1, n_tasks={n_tasks}], got {k!r}."
            )
        if not alpha > 0 or not l2 > 0:
            raise ValueError(
                "The clustered-MTL penalty needs alpha > 0 and l2 > 0 (eta = l2 / alpha "
                f"and c = l2 (1 + l2 / alpha)); got alpha={alpha!r}, l2={l2!r}."
            )

    def _relation(self, W, alpha, l2, xp):
        eta = l2 / alpha
        c = l2 * (1.0 + eta)
        s, Q = eigh(W.T @ W, xp)
        s = xp.maximum(s, 0.0)
        m = cluster_relation(s, eta, int(self.n_clusters), xp)
        return eta, c, s, m, Q

    def smooth(self, W, alpha, l2, xp):
        eta, c, s, m, Q = self._relation(W, alpha, l2, xp)
        inv = 1.0 / (eta + m)
        value = c * xp.sum(s * inv)
        grad = 2.0 * c * ((W @ Q) * inv) @ Q.T
        return value, grad

    def alpha_max(self, G, xp):
        return None

    def extras(self, W, alpha, l2, xp):
        _, _, _, m, Q = self._relation(W, alpha, l2, xp)
        return {"task_relation": (Q * m) @ Q.T}


class _TwoComponents(LinearPenalty):
    """W = P + Q with ``alpha (||P||_a + beta ||Q||_b)``."""

    _param_names = ("beta",)

    def __init__(self, beta=1.0):
        self.beta = beta

    def validate(self, n_tasks, alpha, l2):
        _check_nonneg(self.beta, "beta", positive=True)


class Dirty(_TwoComponents):
    r"""Dirty model (Jalali et al. 2010): ``W = P + Q``,
    ``alpha (||P||_{1,inf} + beta ||Q||_1)`` (or ``||P||_{2,1}`` with
    ``shared="l21"``).

    Parameters
    ----------
    beta : float, default=1.0
        Weight of the entry-wise sparse part ``Q`` relative to the shared part.
    shared : {"l1inf", "l21"}, default="l1inf"
        Norm of the rows of the shared part ``P``.
    """

    _param_names = ("beta", "shared")

    def __init__(self, beta=1.0, shared="l1inf"):
        self.beta = beta
        self.shared = shared

    def validate(self, n_tasks, alpha, l2):
        super().validate(n_tasks, alpha, l2)
        if self.shared not in ("l1inf", "l21"):
            raise ValueError(f"shared must be 'l1inf' or 'l21', got {self.shared!r}.")

    def _norms(self):
        shared = _L1InfRows() if self.shared == "l1inf" else _L21Rows()
        return [(shared, 1.0), (_L1(), float(self.beta))]


class RobustMTFL(_TwoComponents):
    r"""Robust multi-task feature learning (Gong, Ye & Zhang 2012): ``W = P + Q``,
    ``alpha (sum_j ||P_{j,:}||_2 + beta sum_t ||Q_{:,t}||_2)`` (shared features in
    ``P``, outlier tasks in ``Q``)."""

    def _norms(self):
        return [(_L21Rows(), 1.0), (_L21Cols(), float(self.beta))]


class SparseLowRank(_TwoComponents):
    r"""Sparse + low rank (Chen, Liu & Ye 2012, penalised form): ``W = P + Q``,
    ``alpha (||P||_1 + beta ||Q||_*)``."""

    def _norms(self):
        return [(_L1(), 1.0), (_Nuclear(), float(self.beta))]


class RobustLowRank(_TwoComponents):
    r"""Robust low rank (Chen, Zhou & Ye 2011): ``W = P + Q``,
    ``alpha (||P||_* + beta sum_t ||Q_{:,t}||_2)``."""

    def _norms(self):
        return [(_Nuclear(), 1.0), (_L21Cols(), float(self.beta))]


PENALTIES = {
    "none": NoPenalty,
    "lasso": Lasso,
    "l21": L21,
    "trace": TraceNorm,
    "graph": GraphPenalty,
    "cmtl": ClusteredMTL,
    "dirty": Dirty,
    "rmtfl": RobustMTFL,
    "sparse_low_rank": SparseLowRank,
    "robust_low_rank": RobustLowRank,
}


def resolve_penalty(penalty):
    """A fresh penalty object from a name or an object (objects are deep-copied).

    Solvers may cache derived quantities on the penalty (the graph Laplacian); a
    copy keeps the user's object untouched and the cache fresh.
    """
    if isinstance(penalty, LinearPenalty):
        return copy.deepcopy(penalty)
    if isinstance(penalty, str) and penalty in PENALTIES:
        return PENALTIES[penalty]()
    raise ValueError(
        f"penalty must be one of {sorted(PENALTIES)} or a LinearPenalty object, "
        f"got {penalty!r}."
    )
