r"""Penalties of the linear multi-task family, as composable objects.

A penalty acts on the coefficient matrix ``W`` (``n_features x n_tasks``, column
``t`` = task ``t``) or, for the decomposition models, on the stacked components
``Z`` of shape ``(2, n_features, n_tasks)`` with ``W = Z[0] + Z[1]``. It splits into

* a non-smooth part, a sum of norms of the components, handled by its proximal
  operator (``value`` and ``prox``), and
* a smooth part of ``W`` (the graph penalty, the clustered-MTL relaxation), handled
  by its gradient (``smooth``).

Every method takes the array namespace ``xp``. The regularisation strength
``alpha`` (lambda_1) is passed in by the solver; the penalty objects are
scikit-learn parameter objects that carry only the settings of their structure
(graph, number of clusters, weight ``beta`` of a second component). What a fit
derives from them (the graph Laplacian in the data's namespace) is built once per
fit by :meth:`LinearPenalty.prepare` and lives in the solver's
:class:`PreparedPenalty`, never on the penalty object.
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np
from sklearn.base import BaseEstimator, clone

from .._backend import array_device, eigh, to_namespace
from ..structure._fixed import graph_laplacian, graph_weights

__all__ = [
    "ClusteredMTL",
    "Dirty",
    "GraphPenalty",
    "L21",
    "Lasso",
    "LinearPenalty",
    "NoPenalty",
    "PreparedPenalty",
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
def _check_real(value, name, *, positive=False):
    """``value`` as a float if it is a finite real ``>= 0`` (``> 0`` if positive)."""
    if (isinstance(value, bool) or not isinstance(value, numbers.Real)
            or not np.isfinite(value) or value < 0 or (positive and value == 0)):
        what = "a positive" if positive else "a non-negative"
        raise ValueError(f"{name} must be {what} finite number, got {value!r}.")
    return float(value)


def _norms_value(norms, Z, alpha, xp):
    total = xp.zeros((), dtype=Z.dtype, device=array_device(Z))
    for b, (norm, weight) in enumerate(norms):
        if weight > 0:
            total = total + alpha * weight * norm.value(Z[b, ...], xp)
    return total


def _norms_prox(norms, Z, tau, xp):
    if not norms:
        return Z
    blocks = [norm.prox(Z[b, ...], tau * weight, xp) if weight > 0 else Z[b, ...]
              for b, (norm, weight) in enumerate(norms)]
    return xp.stack(blocks, axis=0)


def _norms_alpha_max(norms, G, xp):
    # W = 0 is optimal iff the loss gradient lies in alpha times the dual ball of
    # every component; a component with weight 0 is free, so no alpha zeroes it.
    values = []
    for norm, weight in norms:
        if weight == 0:
            return None
        values.append(float(norm.dual(G, xp)) / weight)
    return max(values) if values else None


class PreparedPenalty:
    """A penalty bound to one problem, as the solver uses it during one fit.

    Built by :meth:`LinearPenalty.prepare` once per fit (or per path): it holds
    what depends on the number of tasks and on the array namespace, device and
    dtype (the graph Laplacian), so that the penalty object itself stays a plain
    set of parameters. The methods are those of :class:`LinearPenalty`.
    """

    def __init__(self, norms, smooth=None, extras=None, adds_ridge=True):
        self.norms = norms
        self._smooth = smooth
        self._extras = extras
        self.adds_ridge = adds_ridge

    @property
    def n_blocks(self):
        return max(1, len(self.norms))

    def value(self, Z, alpha, xp):
        return _norms_value(self.norms, Z, alpha, xp)

    def prox(self, Z, tau, xp):
        return _norms_prox(self.norms, Z, tau, xp)

    def smooth(self, W, alpha, l2, xp):
        return None if self._smooth is None else self._smooth(W, alpha, l2, xp)

    def alpha_max(self, G, xp):
        return _norms_alpha_max(self.norms, G, xp)

    def extras(self, W, alpha, l2, xp):
        return {} if self._extras is None else self._extras(W, alpha, l2, xp)


class LinearPenalty(BaseEstimator):
    r"""Base class of the penalties of :mod:`rkhsmtl.linear`.

    The regulariser is ``alpha * sum_b weight_b * norm_b(Z[b]) + smooth(W)``;
    subclasses set the norms (``_norms``) and their weights, or a smooth part
    (``_smooth_term``). A penalty is a scikit-learn parameter object
    (``get_params`` / ``set_params`` / ``clone``, so that ``GridSearchCV`` tunes
    e.g. ``penalty__beta``) and carries nothing but its parameters: what a fit
    needs beyond them is built by :meth:`prepare`.
    """

    #: whether the estimator's ``l2`` adds ``l2 * ||W||_F^2`` (False when the
    #: penalty uses ``l2`` itself, as the clustered-MTL relaxation does).
    adds_ridge = True

    def _norms(self):
        return [(_L1(), 1.0)]

    def _smooth_term(self, n_tasks, xp, device, dtype):
        """None, or ``f(W, alpha, l2, xp) -> (value, gradient in W)``."""
        return None

    def _extras(self, W, alpha, l2, xp):
        return {}

    @property
    def n_blocks(self):
        """Number of stacked components ``Z[b]`` (2 for ``W = P + Q``)."""
        return max(1, len(self._norms()))

    def validate(self, n_tasks, alpha, l2):
        """Raise ValueError if the settings do not fit the problem.

        Parameters
        ----------
        n_tasks : int
            Number of tasks ``T``.
        alpha : float or "auto"
            Weight of the penalty; "auto" when the estimator sets it from the
            data (always to a positive value where it must be positive).
        l2 : float or "auto"
            Weight of the ridge term, or "auto" likewise.
        """

    def prepare(self, n_tasks, xp, device, dtype):
        """Bind the penalty to one problem; called by the solver once per fit.

        Parameters
        ----------
        n_tasks : int
            Number of tasks ``T``.
        xp : module
            Array namespace of the data.
        device : object
            Device of the data.
        dtype : dtype
            Floating dtype of the data.

        Returns
        -------
        prepared : PreparedPenalty
            Has the methods ``value``, ``prox``, ``smooth``, ``alpha_max`` and
            ``extras`` and the attributes ``n_blocks`` and ``adds_ridge`` of this
            penalty, with the quantities derived from ``n_tasks`` (the graph
            Laplacian) computed once.
        """
        return PreparedPenalty(self._norms(), self._smooth_term(n_tasks, xp, device, dtype),
                               self._extras, self.adds_ridge)

    # The methods below compute from the parameters alone at every call; the
    # solver calls those of :meth:`prepare`'s result instead.
    def value(self, Z, alpha, xp):
        """Non-smooth part ``alpha * sum_b weight_b ||Z[b]||_b``.

        Parameters
        ----------
        Z : array of shape (n_blocks, n_features, n_tasks)
            The stacked components (``W = sum_b Z[b]``).
        alpha : float
            Weight of the penalty.
        xp : module
            Array namespace of ``Z``.

        Returns
        -------
        value : array of shape ()
        """
        return _norms_value(self._norms(), Z, alpha, xp)

    def prox(self, Z, tau, xp):
        """Proximal operator of ``tau * (non-smooth part)`` with ``alpha = 1``.

        Parameters
        ----------
        Z : array of shape (n_blocks, n_features, n_tasks)
            The point.
        tau : float
            Step times ``alpha``.
        xp : module
            Array namespace of ``Z``.

        Returns
        -------
        Z_prox : array of shape (n_blocks, n_features, n_tasks)
            ``argmin_U 1/2 ||U - Z||_F^2 + tau * sum_b weight_b ||U[b]||_b``.
        """
        return _norms_prox(self._norms(), Z, tau, xp)

    def smooth(self, W, alpha, l2, xp):
        """Value and gradient of the smooth part of the penalty.

        Parameters
        ----------
        W : array of shape (n_features, n_tasks)
            Coefficients.
        alpha : float
            Weight of the penalty.
        l2 : float
            Ridge weight (used by :class:`ClusteredMTL`).
        xp : module
            Array namespace of ``W``.

        Returns
        -------
        value_grad : tuple of (array of shape (), array of shape (n_features, \
n_tasks)) or None
            None when the penalty has no smooth part.
        """
        term = self._smooth_term(W.shape[1], xp, array_device(W), W.dtype)
        return None if term is None else term(W, alpha, l2, xp)

    def alpha_max(self, G, xp):
        """Smallest ``alpha`` for which ``W = 0`` is optimal.

        Parameters
        ----------
        G : array of shape (n_features, n_tasks)
            Gradient of the loss in ``W`` at ``W = 0`` and the optimal intercepts.
        xp : module
            Array namespace of ``G``.

        Returns
        -------
        alpha_max : float or None
            The largest dual norm of ``G`` over the components, each divided by
            its weight; None when no finite ``alpha`` zeroes ``W``.
        """
        return _norms_alpha_max(self._norms(), G, xp)

    def extras(self, W, alpha, l2, xp):
        """Fitted quantities besides ``W``.

        Parameters
        ----------
        W : array of shape (n_features, n_tasks)
            The solution.
        alpha : float
            Weight of the penalty.
        l2 : float
            Ridge weight.
        xp : module
            Array namespace of ``W``.

        Returns
        -------
        extras : dict
            E.g. ``{"task_relation": M}`` for :class:`ClusteredMTL`; empty for the
            others.
        """
        return self._extras(W, alpha, l2, xp)


class NoPenalty(LinearPenalty):
    """No structural penalty: independent (ridge-regularised with ``l2``) tasks."""

    def _norms(self):
        return []


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


def _check_incidence(G, n_tasks):
    """The T x E matrix G of ``||W G||_F^2`` as float64 NumPy, validated."""
    G = np.asarray(G, dtype=np.float64)
    if G.ndim != 2 or G.shape[0] != n_tasks:
        raise ValueError(
            f"The incidence matrix G must have shape (n_tasks={n_tasks}, n_edges), got "
            f"shape {G.shape}."
        )
    if not np.all(np.isfinite(G)):
        raise ValueError("The incidence matrix G contains NaN or infinity.")
    return G


_DEPRECATED = "deprecated"


class GraphPenalty(LinearPenalty):
    r"""Graph smoothness ``alpha * tr(W L W^T)`` (+ ``alpha * l1_weight * ||W||_1``).

    With ``M`` the symmetric edge weights of a task graph and ``L = diag(M 1) - M``
    its Laplacian,
    ``tr(W L W^T) = 1/2 sum_{s,t} M[s, t] ||w_s - w_t||^2``: the graph of tasks
    is the one of the kernel family's :class:`rkhsmtl.structure.Graph`, given by
    the same ``adjacency``. RMTL and MALSAR give it as a ``T x E`` matrix ``G``
    instead, with ``L = G G^T`` (``||W G||_F^2``): pass that as ``incidence``.

    Parameters
    ----------
    adjacency : {"chain", "complete", "mean"}, array-like or list, default="chain"
        "chain": consecutive tasks (``||w_t - w_{t+1}||^2`` for every ``t``);
        "complete": every pair with weight 1; "mean": every pair with weight
        ``1 / T``, i.e. mean-regularised MTL (``tr(W L W^T) = sum_t ||w_t -
        w_bar||^2``); a symmetric non-negative ``(n_tasks, n_tasks)`` weight
        matrix; or a list of edges ``(s, t)`` or ``(s, t, weight)`` (tuples).
        Ignored when ``incidence`` is given.
    l1_weight : float, default=0.0
        Weight of an additional lasso term relative to the graph term: the penalty
        is ``alpha * (tr(W L W^T) + l1_weight * ||W||_1)`` (MALSAR's
        ``Least_SRMTL`` with ``l1_weight = rho2 / rho1``).
    incidence : array-like of shape (n_tasks, n_edges), default=None
        The matrix ``G`` of RMTL and MALSAR (``L = G G^T``), instead of
        ``adjacency``; e.g. ``G[s, e] = sqrt(w), G[t, e] = -sqrt(w)`` for an edge
        ``(s, t)`` of weight ``w``. Any real matrix is accepted.
    graph : str, ndarray or list, default="deprecated"
        Deprecated: a string or a list of edges is now ``adjacency``, a matrix
        ``G`` is now ``incidence``. Will be removed in 0.2.
    beta : float, default="deprecated"
        Deprecated: renamed ``l1_weight`` (elsewhere ``beta`` weighs the second
        component of ``W = P + Q``). Will be removed in 0.2.
    """

    def __init__(self, adjacency="chain", l1_weight=0.0, *, incidence=None,
                 graph=_DEPRECATED, beta=_DEPRECATED):
        self.adjacency = adjacency
        self.l1_weight = l1_weight
        self.incidence = incidence
        self.graph = graph
        self.beta = beta

    def _settings(self, warn=False):
        """(adjacency, incidence, l1_weight) with the deprecated names translated."""
        adjacency, incidence, l1_weight = self.adjacency, self.incidence, self.l1_weight
        default_adjacency = isinstance(adjacency, str) and adjacency == "chain"
        if not (isinstance(self.graph, str) and self.graph == _DEPRECATED):
            if warn:
                warnings.warn(
                    "GraphPenalty(graph=...) is deprecated and will be removed in 0.2: "
                    "pass a shortcut string or a list of edges as adjacency=..., a "
                    "(n_tasks, n_edges) matrix G as incidence=G.",
                    FutureWarning, stacklevel=4)
            if incidence is not None or not default_adjacency:
                raise ValueError("graph is deprecated: pass adjacency or incidence only.")
            if hasattr(self.graph, "shape"):
                incidence = self.graph
            elif isinstance(self.graph, str):
                adjacency = self.graph
            else:  # the old spelling of an edge list accepted lists as edges
                adjacency = [tuple(edge) for edge in self.graph]
        elif incidence is not None and not default_adjacency:
            raise ValueError("Pass adjacency or incidence, not both.")
        if not (isinstance(self.beta, str) and self.beta == _DEPRECATED):
            if warn:
                warnings.warn(
                    "GraphPenalty(beta=...) is deprecated and will be removed in 0.2: "
                    "the weight of the lasso term is now l1_weight.",
                    FutureWarning, stacklevel=4)
            if l1_weight != 0.0:
                raise ValueError("beta is deprecated: pass l1_weight only.")
            l1_weight = self.beta
        return adjacency, incidence, l1_weight

    def _norms(self):
        l1_weight = self._settings()[2]
        return [(_L1(), float(l1_weight))] if l1_weight else []

    def validate(self, n_tasks, alpha, l2):
        _, _, l1_weight = self._settings(warn=True)
        _check_real(l1_weight, "l1_weight")
        self.laplacian(n_tasks)

    def laplacian(self, n_tasks):
        """The Laplacian ``L`` of the task graph (``G G^T`` for an ``incidence``).

        Parameters
        ----------
        n_tasks : int
            Number of tasks.

        Returns
        -------
        L : ndarray of shape (n_tasks, n_tasks)
            Symmetric positive semidefinite (NumPy, float64).
        """
        adjacency, incidence, _ = self._settings()
        if incidence is not None:
            G = _check_incidence(incidence, n_tasks)
            return G @ G.T
        if hasattr(adjacency, "shape"):
            # Before 0.1 a matrix here was RMTL's incidence matrix G: say where it
            # goes now rather than read it as weights.
            M = np.asarray(adjacency)
            if M.ndim != 2 or M.shape[0] != M.shape[1] or np.any(M < 0):
                raise ValueError(
                    "adjacency must be a square matrix of non-negative edge weights, "
                    f"got shape {M.shape}; a (n_tasks, n_edges) matrix G as in RMTL "
                    "and MALSAR goes in incidence=G."
                )
        return graph_laplacian(graph_weights(adjacency, n_tasks))

    def _smooth_term(self, n_tasks, xp, device, dtype):
        lap = xp.astype(to_namespace(self.laplacian(n_tasks), xp, device), dtype)

        def smooth(W, alpha, l2, xp):
            WL = W @ lap
            return alpha * xp.sum(W * WL), 2.0 * alpha * WL

        return smooth


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
    ridge term. Both ``alpha`` and ``l2`` must be positive. ``penalty="cmtl"`` and
    ``penalty="clustered"`` (the kernel family's name for clustered tasks, whose
    learned structure is :class:`rkhsmtl.structure.ClusteredNorm`) both mean
    ``ClusteredMTL()``.

    Parameters
    ----------
    n_clusters : int, default=2
        ``k``, the number of task clusters; ``1 <= k <= n_tasks``.
    """

    adds_ridge = False

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
        # "auto" resolves to positive values for this penalty (no alpha_max).
        if any(value != "auto" and not value > 0 for value in (alpha, l2)):
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

    def _smooth_value_grad(self, W, alpha, l2, xp):
        # Through the thin SVD W = U S V^T rather than the T x T eigendecomposition
        # of W^T W (the cost of a step when T >> d; School: 139 tasks, 28
        # features): the eigenvalues of W^T W are S^2 and T - rank zeros, and W is
        # zero on the eigenvectors of the zeros, so W (eta I + M)^-1 is
        # U S diag(1 / (eta + m)) V^T.
        eta = l2 / alpha
        c = l2 * (1.0 + eta)
        U, S, Vt = xp.linalg.svd(W, full_matrices=False)
        s = S * S
        r, T = s.shape[0], W.shape[1]
        if r < T:
            s_all = xp.concat([s, xp.zeros((T - r,), dtype=s.dtype,
                                            device=array_device(s))])
        else:
            s_all = s
        m = cluster_relation(s_all, eta, int(self.n_clusters), xp)[:r]
        inv = 1.0 / (eta + m)
        value = c * xp.sum(s * inv)
        grad = 2.0 * c * (U * (S * inv)) @ Vt
        return value, grad

    def _smooth_term(self, n_tasks, xp, device, dtype):
        return self._smooth_value_grad

    def _extras(self, W, alpha, l2, xp):
        _, _, _, m, Q = self._relation(W, alpha, l2, xp)
        return {"task_relation": (Q * m) @ Q.T}


class _TwoComponents(LinearPenalty):
    """W = P + Q with ``alpha (||P||_a + beta ||Q||_b)``."""

    def __init__(self, beta=1.0):
        self.beta = beta

    def validate(self, n_tasks, alpha, l2):
        _check_real(self.beta, "beta", positive=True)


class Dirty(_TwoComponents):
    r"""Dirty model (Jalali et al. 2010): ``W = P + Q``,
    ``alpha (||P||_{1,inf} + beta ||Q||_1)`` (or ``||P||_{2,1}`` with
    ``shared="l21"``).

    Parameters
    ----------
    beta : float, default=1.0
        Weight of the entry-wise sparse part ``Q`` relative to the shared part
        ``P`` (``> 0``).
    shared : {"l1inf", "l21"}, default="l1inf"
        Norm of the rows of the shared part ``P``.
    """

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
    ``P``, outlier tasks in ``Q``).

    Parameters
    ----------
    beta : float, default=1.0
        Weight of the outlier-task part ``Q`` relative to the shared part ``P``
        (``> 0``).
    """

    def _norms(self):
        return [(_L21Rows(), 1.0), (_L21Cols(), float(self.beta))]


class SparseLowRank(_TwoComponents):
    r"""Sparse + low rank (Chen, Liu & Ye 2012, penalised form): ``W = P + Q``,
    ``alpha (||P||_1 + beta ||Q||_*)``.

    Parameters
    ----------
    beta : float, default=1.0
        Weight of the low-rank part ``Q`` relative to the sparse part ``P``
        (``> 0``).
    """

    def _norms(self):
        return [(_L1(), 1.0), (_Nuclear(), float(self.beta))]


class RobustLowRank(_TwoComponents):
    r"""Robust low rank (Chen, Zhou & Ye 2011): ``W = P + Q``,
    ``alpha (||P||_* + beta sum_t ||Q_{:,t}||_2)``.

    Parameters
    ----------
    beta : float, default=1.0
        Weight of the outlier-task part ``Q`` relative to the low-rank part ``P``
        (``> 0``).
    """

    def _norms(self):
        return [(_Nuclear(), 1.0), (_L21Cols(), float(self.beta))]


PENALTIES = {
    "none": NoPenalty,
    "lasso": Lasso,
    "l21": L21,
    "trace": TraceNorm,
    "graph": GraphPenalty,
    "cmtl": ClusteredMTL,
    # the kernel family's name of the same idea (its learned ClusteredNorm)
    "clustered": ClusteredMTL,
    "dirty": Dirty,
    "rmtfl": RobustMTFL,
    "sparse_low_rank": SparseLowRank,
    "robust_low_rank": RobustLowRank,
}


def resolve_penalty(penalty):
    """A fresh penalty object from a name or an object (objects are cloned).

    The clone is what a fitted estimator keeps as ``penalty_``: a later
    ``set_params`` on the user's object does not change it.
    """
    if isinstance(penalty, LinearPenalty):
        return clone(penalty)
    if isinstance(penalty, str) and penalty in PENALTIES:
        return PENALTIES[penalty]()
    raise ValueError(
        f"penalty must be one of {sorted(PENALTIES)} or a LinearPenalty object, "
        f"got {penalty!r}."
    )
