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

import functools
import numbers
import warnings

import numpy as np
from sklearn.base import BaseEstimator, clone

from .._backend import array_device, eigh, to_namespace
from ..structure._fixed import graph_laplacian, graph_weights
from ._fused import fused_sparse_group_dual, fused_sparse_group_prox

__all__ = [
    "ClusteredMTL",
    "ConvexASO",
    "Dirty",
    "FusedSparseGroupLasso",
    "GraphPenalty",
    "L21",
    "Lasso",
    "LinearPenalty",
    "MultiLevel",
    "NoPenalty",
    "PreparedPenalty",
    "RobustLowRank",
    "RobustMTFL",
    "SparseLowRank",
    "TemporalGroupLasso",
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
        return xp.sum(_svd(xp.linalg.svdvals, V, xp))

    def prox(self, V, tau, xp):
        U, s, Vt = _svd(xp.linalg.svd, V, xp, full_matrices=False)
        s = xp.maximum(s - tau, 0.0)
        return (U * s) @ Vt

    def dual(self, G, xp):
        return xp.max(_svd(xp.linalg.svdvals, G, xp))


def _svd(function, V, xp, **kwargs):
    """An SVD whose failure (NaN, overflow) says what to change, not LAPACK's words."""
    advice = ("The coefficients of a spectral penalty (trace norm, clustered MTL) "
              "overflowed or became NaN: "
              "scale the features (sklearn.preprocessing.StandardScaler) or increase "
              "alpha.")
    if not bool(xp.all(xp.isfinite(V))):
        raise ValueError(advice)
    try:
        return function(V, **kwargs)
    except Exception as exc:  # LinAlgError of any namespace
        if type(exc).__name__ != "LinAlgError":
            raise
        raise ValueError(f"{advice} ({exc})") from exc


class _NuclearBall(_Norm):
    """Indicator of ``{||V||_* <= radius}``: a constraint, not a norm.

    Its prox is the projection on the ball whatever the step: the singular values
    projected on the l1 ball of the radius. Every iterate is then feasible, where
    the indicator is 0, so ``value`` is 0.
    """

    name = "trace_ball"
    # Read by the duality gap: the conjugate of a constraint is a support function
    # (radius times the spectral norm), a term that the gap's dual objective lacks.
    is_constraint = True

    def __init__(self, radius):
        self.radius = radius

    def value(self, V, xp):
        return xp.zeros((), dtype=V.dtype, device=array_device(V))

    def prox(self, V, tau, xp):
        U, s, Vt = xp.linalg.svd(V, full_matrices=False)
        # s is non-negative and decreasing: the l1-ball threshold is
        # max_k (sum_{i<=k} s_i - radius) / k, or 0 inside the ball.
        k = xp.arange(1, s.shape[0] + 1, dtype=s.dtype, device=array_device(s))
        theta = xp.maximum(xp.max((xp.cumulative_sum(s) - self.radius) / k), 0.0)
        return (U * xp.maximum(s - theta, 0.0)) @ Vt

    def dual(self, G, xp):
        # No alpha makes a constrained part zero (it is free inside the ball): it
        # leaves alpha_max to the penalised parts.
        return 0.0


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

    With ``l1_weight > 0`` it is sparse graph-regularised MTL (MALSAR's SRMTL):
    ``alpha (||W R||_F^2 + l1_weight ||W||_1)``. MALSAR's ``Least_SRMTL(X, Y, R,
    rho1, rho2)`` minimises ``sum_t 1/2 ||X_t w_t - y_t||^2 + rho1 ||W R||_F^2 +
    rho2 ||W||_1 (+ rho_L2 ||W||_F^2)``: here ``GraphPenalty(incidence=R,
    l1_weight=rho2 / rho1)`` with ``alpha = 2 rho1``, ``l2 = 2 rho_L2``, unit
    weights and ``fit_intercept=False`` (the factor 2 turns the halved loss into
    ours). ``Logistic_SRMTL`` (loss averaged within each task, intercepts):
    :class:`MultiTaskLinearClassifier` with ``alpha = rho1``, ``l2 = rho_L2``,
    the same ``l1_weight`` and ``sample_weight = 1 / n_t``. ``penalty="srmtl"``
    means ``GraphPenalty(l1_weight=1.0)`` (chain graph); as for any ``l1_weight >
    0``, "auto" sets ``alpha`` to a tenth of :func:`alpha_max` (``max |G_jt| /
    l1_weight``, the graph term being flat at ``W = 0``) and ``l2`` to 0.

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
        is ``alpha * (tr(W L W^T) + l1_weight * ||W||_1)`` (SRMTL; MALSAR's
        ``rho2 / rho1``).
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
        U, S, Vt = _svd(xp.linalg.svd, W, xp, full_matrices=False)
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
    r"""Sparse + low rank (Chen, Liu & Ye 2012): ``W = P + Q``, penalised
    ``alpha (||P||_1 + beta ||Q||_*)`` or, with ``constraint=tau``, constrained:
    ``alpha ||P||_1`` subject to ``||Q||_* <= tau``.

    The constrained form is the paper's and MALSAR's ``Least_SparseTrace(X, Y,
    gamma, tau)``: ``alpha = gamma``, ``constraint = tau``, unit weights,
    ``fit_intercept=False`` and ``l2=0`` (that solver's loss is the un-halved sum
    of squares, as here). Both forms have the same solutions, through a Lagrange
    multiplier of the constraint that is not known in advance; the constraint
    bounds the low-rank part directly. There ``Q``'s proximal step is the
    projection on the nuclear-norm ball (the singular values projected on the l1
    ball of radius ``tau``), so every iterate, the returned one included, satisfies
    the constraint.

    With the constraint, ``W = 0`` is the solution for no ``alpha`` (``Q`` is free
    inside the ball): :func:`alpha_max`, the default grid of the paths and the
    "auto" ``alpha`` use the sparse part's value ``max |G_jt|`` instead (the
    smallest ``alpha`` giving ``P = 0`` while ``Q = 0``: the scale of ``alpha``),
    and ``solver_info_["duality_gap"]`` is None.

    Parameters
    ----------
    beta : float, default=1.0
        Weight of the low-rank part ``Q`` relative to the sparse part ``P``
        (``> 0``). Unused with ``constraint``.
    constraint : float, default=None
        ``tau >= 0``, the bound on the nuclear norm ``||Q||_*`` (the constrained
        form); None for the penalised form.
    """

    def __init__(self, beta=1.0, constraint=None):
        self.beta = beta
        self.constraint = constraint

    def validate(self, n_tasks, alpha, l2):
        super().validate(n_tasks, alpha, l2)
        tau = self.constraint
        if tau is not None and (isinstance(tau, bool) or not isinstance(tau, numbers.Real)
                                or not np.isfinite(tau) or tau < 0):
            raise ValueError(
                "constraint must be None (the penalised form, alpha * beta * ||Q||_*) "
                f"or the bound tau >= 0 on the nuclear norm of Q, got {tau!r}."
            )

    def _norms(self):
        if self.constraint is not None:
            return [(_L1(), 1.0), (_NuclearBall(float(self.constraint)), 1.0)]
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


# ------------------------------------------------------- multi-level decomposition
_LEVEL_NORMS = {norm.name: norm for norm in
                (_L1, _L21Rows, _L21Cols, _L1InfRows, _Nuclear)}


class MultiLevel(LinearPenalty):
    r"""Multi-level decomposition: ``W`` a sum of parts with one norm each.

    ``W = W_1 + W_2 + ... + W_K`` with the penalty
    ``alpha * sum_k weight_k * ||W_k||_(k)``: the dirty model with any number of
    parts.

    Each level is a part of ``W`` with its own norm, so that, e.g., ``(("l21", 1),
    ("l1", 2), ("trace", 1))`` explains ``W`` as features shared by all tasks plus
    task-specific entries plus a low-rank part. The problem is convex (FISTA on the
    stacked parts); the fitted parts are ``coef_components_``, in the order of
    ``levels``. With two levels it is the corresponding ``W = P + Q`` model
    (``(("l21", 1), ("l1", beta))`` is ``Dirty(beta, shared="l21")``, ``(("l1", 1),
    ("trace", beta))`` is ``SparseLowRank(beta)``).

    The sum ``W`` is determined by the data, the split into parts only as far as
    the norms differ: two levels with the same norm would share any split (they
    act as one level with the smaller weight) and are refused; even with distinct
    norms a part is unique only when the structures do not overlap (a matrix that
    is both sparse and low rank can go to either part).

    Parameters
    ----------
    levels : sequence of (str, float), default=(("l21", 1.0), ("l1", 1.0))
        One ``(norm, weight)`` pair per part, the weight ``> 0`` relative to
        ``alpha``. Norms: "l1" (``sum |W_jt|``), "l21" (``sum_j ||W_{j,:}||_2``,
        rows = features shared by all tasks), "l21_columns" (``sum_t
        ||W_{:,t}||_2``, outlier tasks), "l1inf" (``sum_j max_t |W_jt|``), "trace"
        (sum of the singular values, low rank); each at most once.
    """

    def __init__(self, levels=(("l21", 1.0), ("l1", 1.0))):
        self.levels = levels

    def _pairs(self):
        """``[(name, weight)]`` of ``levels``, validated."""
        levels = self.levels
        example = '(("l21", 1.0), ("l1", 0.5))'
        if isinstance(levels, (str, bytes)) or not hasattr(levels, "__len__") \
                or len(levels) == 0:
            raise ValueError(
                f"levels must be a non-empty sequence of (norm, weight) pairs such as "
                f"{example}, got {levels!r}.")
        pairs = []
        for level in levels:
            if isinstance(level, (str, bytes)) or not hasattr(level, "__len__") \
                    or len(level) != 2:
                raise ValueError(
                    f"Each level must be a (norm, weight) pair such as ('l1', 0.5), got "
                    f"{level!r} in levels={levels!r}.")
            name, weight = level
            if not isinstance(name, str) or name not in _LEVEL_NORMS:
                raise ValueError(
                    f"Unknown norm {name!r} in levels: use one of "
                    f"{sorted(_LEVEL_NORMS)}.")
            if any(name == seen for seen, _ in pairs):
                raise ValueError(
                    f"The norm {name!r} appears twice in levels: two parts with the "
                    "same norm cannot be told apart (they act as one part with the "
                    "smaller weight); give each norm once.")
            pairs.append((name, _check_real(weight, f"The weight of level {name!r}",
                                            positive=True)))
        return pairs

    def validate(self, n_tasks, alpha, l2):
        self._pairs()

    def _norms(self):
        return [(_LEVEL_NORMS[name](), weight) for name, weight in self._pairs()]


# ------------------------------------------------------------- convex ASO (cASO)
class ConvexASO(LinearPenalty):
    r"""Convex alternating structure optimisation (cASO; Chen, Tang, Liu & Ye 2009).

    The tasks share an ``h``-dimensional subspace of the feature space:

    .. math::

        \min_{M} \; c\, \mathrm{tr}\big(W^\top (\eta I + M)^{-1} W\big)
        \quad \text{s.t. } 0 \preceq M \preceq I,\ \mathrm{tr} M = h,

    with ``M`` of shape ``(n_features, n_features)``, ``eta = l2 / alpha`` and
    ``c = alpha * eta * (1 + eta) = l2 (1 + l2 / alpha)``. It is the convex
    relaxation of ASO's ``sum_t alpha ||w_t - Theta^T v_t||^2 + l2 ||w_t||^2`` over
    ``h`` orthonormal rows ``Theta`` (``M`` relaxes ``Theta^T Theta``): a direction
    inside the shared subspace costs ``l2`` per unit ``||W||^2``, one outside
    ``alpha + l2``. So ``alpha`` and ``l2`` are the paper's ``alpha`` and ``beta``
    (``eta = beta / alpha``); ``l2`` is used here and adds no separate ridge term,
    and both must be positive.

    As a function of ``W`` it equals :class:`ClusteredMTL` with ``n_clusters = h``
    (both are ``c sum_i sigma_i^2 / (eta + m_i)`` over the singular values of
    ``W``; Zhou, Chen & Ye 2011 prove the two relaxations equivalent), so the two
    give the same ``coef_``. They differ in what they learn besides ``W`` -- a
    subspace of the features here, a relation of the tasks there -- and in the
    range of the parameter (``h <= n_features``, ``k <= n_tasks``).

    The minimum over ``M`` has a closed form (the paper's): ``M`` shares the left
    singular vectors of ``W``, with eigenvalues ``clip(theta sigma_i - eta, 0,
    1)`` for the singular values ``sigma_i`` of ``W`` and the ``theta`` that makes
    them sum to ``h``. It is taken at every evaluation, so the penalty is a smooth
    convex function of ``W`` (gradient ``2 c (eta I + M)^{-1} W``). The fitted
    estimator exposes ``feature_relation_`` (``M``) and ``shared_subspace_``, the
    ``h`` leading eigenvectors of ``M`` as rows (shape ``(h, n_features)``).

    MALSAR's ``Least_CASO(X, Y, rho1, rho2, k)`` minimises ``sum_t 1/2 ||X_t w_t -
    y_t||^2`` plus this term with ``eta = rho2 / rho1``, ``c = rho1 eta (1 + eta)``:
    here ``ConvexASO(k)``, ``alpha = 2 rho1``, ``l2 = 2 rho2``, unit weights,
    ``fit_intercept=False`` (the factor 2 turns the halved loss into ours; ``eta``
    is unchanged). ``Logistic_CASO`` (loss averaged within each task):
    :class:`MultiTaskLinearClassifier` with ``alpha = rho1``, ``l2 = rho2`` and
    ``sample_weight = 1 / n_t``. ``penalty="caso"`` means ``ConvexASO()``.

    Parameters
    ----------
    n_components : int, default=2
        ``h``, the dimension of the shared subspace; ``1 <= h <= n_features``.
    """

    adds_ridge = False

    def __init__(self, n_components=2):
        self.n_components = n_components

    def _norms(self):
        return []

    def validate(self, n_tasks, alpha, l2):
        h = self.n_components
        if isinstance(h, bool) or not isinstance(h, numbers.Integral) or h < 1:
            raise ValueError(
                f"n_components must be an integer in [1, n_features], got {h!r}."
            )
        # "auto" resolves to positive values for this penalty (no alpha_max).
        if any(value != "auto" and not value > 0 for value in (alpha, l2)):
            raise ValueError(
                "The convex ASO penalty needs alpha > 0 and l2 > 0 (eta = l2 / alpha "
                f"and c = l2 (1 + l2 / alpha)); got alpha={alpha!r}, l2={l2!r}."
            )

    def _check_features(self, n_features):
        # The number of features reaches the penalty only with W.
        if self.n_components > n_features:
            raise ValueError(
                f"n_components must be an integer in [1, n_features={n_features}], got "
                f"{self.n_components!r}: the shared subspace cannot have more "
                "dimensions than the features."
            )

    def _smooth_term(self, n_tasks, xp, device, dtype):
        relaxation = ClusteredMTL(n_clusters=int(self.n_components))

        def smooth(W, alpha, l2, xp):
            self._check_features(W.shape[0])
            value, grad = relaxation._smooth_value_grad(W.T, alpha, l2, xp)
            return value, grad.T

        return smooth

    def _extras(self, W, alpha, l2, xp):
        self._check_features(W.shape[0])
        h = int(self.n_components)
        s, Q = eigh(W @ W.T, xp)
        m = cluster_relation(xp.maximum(s, 0.0), l2 / alpha, h, xp)
        # eigh sorts ascending and m grows with s: the last h columns, reversed,
        # span the leading eigenvalues of M.
        basis = xp.flip(Q[:, Q.shape[1] - h:], axis=1).T
        # Each basis vector's largest entry positive, so refits agree.
        peak = xp.abs(basis) == xp.max(xp.abs(basis), axis=1, keepdims=True)
        sign = xp.sign(xp.sum(xp.where(peak, basis, 0.0), axis=1, keepdims=True))
        basis = basis * xp.where(sign == 0, 1.0, sign)
        return {"feature_relation": (Q * m) @ Q.T, "shared_subspace": basis}


# ------------------------------------------ disease progression (TGL, cFSGL)
class _FusedSparseGroupRows(_Norm):
    """``l1 ||V||_1 + fused sum_{j,t} |V_{j,t+1} - V_{j,t}| + group sum_j ||V_j||_2``.

    A norm of the rows ``V[j, :]`` (one feature over consecutive time points) with
    an exact prox (:mod:`._fused`).
    """

    name = "fused_sparse_group"

    def __init__(self, l1, fused, group):
        self.l1, self.fused, self.group = l1, fused, group

    def value(self, V, xp):
        total = self.l1 * xp.sum(xp.abs(V))
        if V.shape[1] > 1:
            total = total + self.fused * xp.sum(xp.abs(V[:, 1:] - V[:, :-1]))
        return total + self.group * xp.sum(xp.sqrt(xp.sum(V * V, axis=1)))

    def prox(self, V, tau, xp):
        return fused_sparse_group_prox(V, tau * self.l1, tau * self.fused,
                                       tau * self.group, xp)

    def dual(self, G, xp):
        return xp.max(fused_sparse_group_dual(G, self.l1, self.fused, self.group, xp))


def _chain_laplacian(n_tasks, xp, device, dtype):
    """``R R^T`` for the chain's incidence ``R``: ``tr(W L W^T) = ||W R||_F^2``."""
    lap = graph_laplacian(graph_weights("chain", n_tasks))
    return xp.astype(to_namespace(lap, xp, device), dtype)


class TemporalGroupLasso(LinearPenalty):
    r"""Temporal group lasso (TGL; Zhou, Yuan, Liu & Ye 2011), ``penalty="tgl"``.

    The tasks are consecutive time points of one outcome (a disease-progression
    score at each visit):

    .. math::

        \alpha \Big(\sum_j \|W_{j,:}\|_2
        + \text{smoothness} \sum_{t=1}^{T-1} \|w_{t+1} - w_t\|_2^2\Big),

    a feature is used at every time point or at none (the group lasso on the rows
    of ``W``), and the weights change smoothly from one time point to the next
    (the chain graph's term ``||W R||_F^2 = tr(W L W^T)`` of
    :class:`GraphPenalty`). The paper's third term, a ridge
    ``rho_1 ||W||_F^2``, is the estimator's ``l2``. The smooth term is flat at
    ``W = 0``, so :func:`alpha_max` is the l21 one.

    MALSAR's ``Least_TGL(X, Y, rho1, rho2, rho3)`` minimises ``sum_t 1/2 ||X_t w_t
    - y_t||^2 + rho1 ||W||_F^2 + rho2 ||W R||_F^2 + rho3 ||W||_{2,1}``: here
    ``alpha = 2 rho3``, ``smoothness = rho2 / rho3``, ``l2 = 2 rho1``, unit
    weights and ``fit_intercept=False`` (the factor 2 turns the halved loss into
    ours). ``Logistic_TGL`` (loss averaged within each task):
    :class:`MultiTaskLinearClassifier` with ``alpha = rho3``, the same
    ``smoothness``, ``l2 = rho1`` and ``sample_weight = 1 / n_t``.

    Parameters
    ----------
    smoothness : float, default=1.0
        Weight of the temporal smoothness term relative to the group lasso,
        ``>= 0`` (0 gives :class:`L21`).
    """

    def __init__(self, smoothness=1.0):
        self.smoothness = smoothness

    def _norms(self):
        return [(_L21Rows(), 1.0)]

    def validate(self, n_tasks, alpha, l2):
        _check_real(self.smoothness, "smoothness")

    def _smooth_term(self, n_tasks, xp, device, dtype):
        weight = float(self.smoothness)
        if weight == 0 or n_tasks < 2:
            return None
        lap = _chain_laplacian(n_tasks, xp, device, dtype)

        def smooth(W, alpha, l2, xp):
            WL = W @ lap
            return alpha * weight * xp.sum(W * WL), (2.0 * alpha * weight) * WL

        return smooth


class FusedSparseGroupLasso(LinearPenalty):
    r"""Convex fused sparse group lasso (cFSGL; Zhou, Liu, Narayan & Ye 2012),
    ``penalty="cfsgl"``.

    The tasks are consecutive time points of one outcome:

    .. math::

        \alpha \Big(\gamma_1 \|W\|_1
        + \gamma_2 \sum_j \sum_{t=1}^{T-1} |W_{j,t+1} - W_{j,t}|
        + \gamma_3 \sum_j \|W_{j,:}\|_2\Big),

    with ``gamma_1 = l1_weight``, ``gamma_2 = fused_weight``, ``gamma_3 =
    group_weight``: few features (lasso and group lasso on the rows), each used
    over a few time intervals, with piecewise-constant weights in time (the fused
    lasso). The proximal operator is exact: the 1-D total-variation prox of every
    row (a path algorithm run for all rows at once, ``O(n_features T^3)``
    operations per step), then soft-thresholding, then shrinkage of the row
    (Friedman et al. 2007; Zhou et al. 2012).

    MALSAR's ``Least_CFGLasso(X, Y, rho1, rho2, rho3)`` minimises ``sum_t 1/2
    ||X_t w_t - y_t||^2 + rho1 ||W||_1 + rho2 sum_j sum_t |W_{j,t} - W_{j,t+1}| +
    rho3 ||W||_{2,1}``: here ``alpha = 2 rho1``, ``fused_weight = rho2 / rho1``,
    ``group_weight = rho3 / rho1`` (``l1_weight = 1``), unit weights and
    ``fit_intercept=False``; with ``rho1 = 0``, ``l1_weight = 0``, ``alpha = 2
    rho3``, ``fused_weight = rho2 / rho3``, ``group_weight = 1``.

    Parameters
    ----------
    fused_weight : float, default=1.0
        Weight of the fused (total variation in time) term, ``>= 0``.
    group_weight : float, default=1.0
        Weight of the group lasso on the rows, ``>= 0``.
    l1_weight : float, default=1.0
        Weight of the lasso term, ``>= 0``. ``l1_weight`` or ``group_weight`` must
        be positive (the fused term alone never sets a feature to zero).
    """

    def __init__(self, fused_weight=1.0, group_weight=1.0, l1_weight=1.0):
        self.fused_weight = fused_weight
        self.group_weight = group_weight
        self.l1_weight = l1_weight

    def _weights(self):
        l1 = _check_real(self.l1_weight, "l1_weight")
        fused = _check_real(self.fused_weight, "fused_weight")
        group = _check_real(self.group_weight, "group_weight")
        if l1 == 0 and group == 0:
            raise ValueError(
                "FusedSparseGroupLasso needs l1_weight > 0 or group_weight > 0: the "
                "fused term alone never removes a feature (and has no alpha_max). "
                f"Got l1_weight={self.l1_weight!r}, group_weight={self.group_weight!r}."
            )
        return l1, fused, group

    def validate(self, n_tasks, alpha, l2):
        self._weights()

    def _norms(self):
        return [(_FusedSparseGroupRows(*self._weights()), 1.0)]


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
    "caso": ConvexASO,
    # sparse graph-regularised MTL: the graph penalty with its lasso term
    "srmtl": functools.partial(GraphPenalty, l1_weight=1.0),
    "multilevel": MultiLevel,
    "tgl": TemporalGroupLasso,
    "cfsgl": FusedSparseGroupLasso,
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
