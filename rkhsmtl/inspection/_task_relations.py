"""The task-relation report: what ``A`` says about the tasks, and how sure it is.

Everything here runs on the host with NumPy and SciPy: ``A`` is ``T x T`` and
the refits go through the estimators' own ``fit``, whatever their namespace.
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np
from scipy.cluster.hierarchy import cut_tree, leaves_list, linkage
from scipy.spatial.distance import squareform
from scipy.stats import t as student_t
from sklearn.base import clone, is_classifier
from sklearn.exceptions import NotFittedError
from sklearn.metrics import adjusted_rand_score, silhouette_score
from sklearn.utils import check_random_state
from sklearn.utils.parallel import Parallel, delayed

from .._backend import is_array, to_numpy
from .._labels import missing_mask
from ..datasets._layout import _as_rows, _take_rows
from ..metrics._scorers import _LOSSES, _METRICS, _SCORERS, make_multitask_scorer
from ..model_selection import MultiTaskStratifiedKFold
from ..plotting import symmetric_task_matrix, task_correlation

__all__ = ["TaskRelationReport", "cluster_tasks", "partial_correlation",
           "task_relations"]

# Below this relative eigenvalue A is treated as singular (see partial_correlation).
_SINGULAR_RTOL = 1e-10
# The ridge of a singular A, relative to its largest eigenvalue: small enough that
# the partial correlations are their limit as the ridge vanishes to about 1e-8,
# large enough that rounding errors (1e-16) in A's null space do not matter.
_PARTIAL_RIDGE = 1e-8
# A resample in which a task has no observed label is drawn again, at most this
# many times.
_MAX_REDRAWS = 100


# ----------------------------------------------------------------- the matrix


def _is_estimator(obj):
    return hasattr(obj, "fit") and hasattr(obj, "get_params")


def _model_task_matrix(model):
    """The task-structure matrix of a fitted estimator (or an array), on the host.

    Kernel models store ``A`` as ``task_structure_``. The clustered-MTL penalty of
    the linear family stores ``M`` as ``task_relation_``; its penalty
    ``tr(W (eta I + M)^-1 W^T)`` is the RKHS norm of ``A = eta I + M`` with
    ``eta = l2_ / alpha_``.
    """
    if not _is_estimator(model):
        return np.asarray(to_numpy(model) if is_array(model)
                          else model, dtype=float)
    name = type(model).__name__
    if hasattr(model, "task_structure_"):
        return np.asarray(to_numpy(model.task_structure_), dtype=float)
    if hasattr(model, "task_relation_"):
        M = np.asarray(to_numpy(model.task_relation_), dtype=float)
        eta = float(model.l2_) / float(model.alpha_)
        return M + eta * np.eye(M.shape[0])
    fitted = any(attr.endswith("_") and not attr.startswith("_")
                 for attr in vars(model))
    if not fitted:
        raise NotFittedError(
            f"This {name} is not fitted: call fit(X, Y) before task_relations "
            "(the report reads the fitted task structure)."
        )
    raise TypeError(
        f"{name} has no task-structure matrix: task_relations needs a fitted model "
        "with task_structure_ (MultiTaskKernelRidge, MultiTaskKernelClassifier and "
        "their CV versions) or task_relation_ (the linear models with "
        "penalty='cmtl'), or the matrix itself."
    )


def partial_correlation(A):
    r"""Partial correlations of the tasks under the task-structure matrix ``A``.

    With ``P = A^{-1}`` (the precision matrix of the tasks under the prior
    ``Cov(f_s(x), f_t(x')) = k(x, x') A[s, t]``),

    .. math:: \rho_{st \cdot \mathrm{rest}} = -P_{st} / \sqrt{P_{ss} P_{tt}},

    the correlation of tasks ``s`` and ``t`` once every other task is accounted
    for. It is zero exactly when ``s`` and ``t`` are not linked directly: for
    :class:`~rkhsmtl.structure.Graph`, ``A = (I + \lambda L)^{-1}`` and the
    partial correlations vanish off the graph's edges.

    A singular ``A`` (a pooled or low-rank structure: some combination of tasks is
    fixed) has no inverse; then ``P = (A + \varepsilon I)^{-1}`` with
    ``\varepsilon = 10^{-8} \lambda_{\max}(A)``. These are, to about
    ``10^{-8}``, the limits as ``\varepsilon \to 0``, which describe the exact
    linear relations among the tasks: for ``A = 1 1^T`` (one shared function)
    every partial correlation is ``1 / (T - 1)``, the limit of ``T`` equally
    correlated tasks as their correlation tends to 1. ``A`` is treated as
    singular when its smallest eigenvalue is below ``10^{-10} \lambda_{\max}``.

    Parameters
    ----------
    A : array-like of shape (n_tasks, n_tasks) or fitted estimator
        Symmetric positive semidefinite task-structure matrix, or a fitted model
        with ``task_structure_``.

    Returns
    -------
    partial : ndarray of shape (n_tasks, n_tasks)
        Symmetric, unit diagonal, entries in ``[-1, 1]``.
    ridge : float
        The ``\varepsilon`` added to the diagonal: 0 when ``A`` is invertible.

    Examples
    --------
    >>> import numpy as np
    >>> from rkhsmtl.inspection import partial_correlation
    >>> from rkhsmtl.structure import Graph
    >>> A = Graph("chain", strength=1.0).task_matrix(3)
    >>> partial, ridge = partial_correlation(A)
    >>> np.round(partial, 3) + 0.0  # + 0.0: no "-0." printed
    array([[1.   , 0.408, 0.   ],
           [0.408, 1.   , 0.408],
           [0.   , 0.408, 1.   ]])
    """
    A = symmetric_task_matrix(_model_task_matrix(A))
    values, vectors = np.linalg.eigh(A)
    top = max(float(values[-1]), 0.0)
    if top == 0.0:
        raise ValueError(
            "The task-structure matrix is zero: it relates no tasks, so it has no "
            "partial correlations."
        )
    ridge = 0.0
    if values[0] <= _SINGULAR_RTOL * top:
        ridge = _PARTIAL_RIDGE * top
    inverse = 1.0 / (np.clip(values, 0.0, None) + ridge)
    P = (vectors * inverse) @ vectors.T
    d = np.sqrt(np.diag(P))
    partial = -P / np.outer(d, d)
    np.fill_diagonal(partial, 1.0)
    return np.clip(0.5 * (partial + partial.T), -1.0, 1.0), ridge


# ----------------------------------------------------------------- clustering


def _relabel_along(labels, order):
    """Cluster labels 0, 1, ... in the order in which clusters appear along ``order``."""
    mapping = {}
    for task in order:
        mapping.setdefault(int(labels[task]), len(mapping))
    return np.array([mapping[int(c)] for c in labels], dtype=np.intp)


def cluster_tasks(correlation, n_clusters="auto", *, min_silhouette=0.2):
    """Hierarchical clustering of the tasks, with the number of clusters from the data.

    Average-linkage clustering (with optimal leaf ordering) on the distance
    ``1 - R[s, t]``: positively correlated tasks, which pull each other's
    functions towards the same values, end up together; uncorrelated (0) and
    anti-correlated tasks are far apart. The tree is cut into ``k`` clusters.

    With ``n_clusters="auto"``, ``k`` is the number of clusters of largest mean
    silhouette (Rousseeuw 1987), kept if that silhouette is at least
    ``min_silhouette``; otherwise no grouping stands out and every task is a
    cluster of its own (``k = T``, whose silhouette is 0 by convention). For
    ``k`` in ``2 .. T - 1`` it is the usual silhouette of the cut. For ``k = 1``
    it is measured against an unrelated task, at distance 1: the silhouette of a
    task is then its mean correlation with the others, and that of the single
    cluster the mean correlation of all pairs. So one cluster (e.g. a pooled
    structure) and no clusters at all (independent tasks) are both possible
    answers.

    The default ``min_silhouette`` is lower than the 0.25 that Kaufman and
    Rousseeuw ask of generic data: the regularisation of a learned ``A`` shrinks
    its correlations towards 0, which lowers every silhouette: in our
    simulations, planted clusters of tasks 0.9 correlated came out between 0.22
    and 0.4 in learned structures, and unrelated tasks between 0.05 and 0.15.

    Parameters
    ----------
    correlation : array-like of shape (n_tasks, n_tasks)
        Task correlations (unit diagonal), e.g. from
        :func:`rkhsmtl.plotting.task_correlation`.
    n_clusters : "auto" or int, default="auto"
        Number of clusters; "auto" chooses it as described above.
    min_silhouette : float, default=0.2
        The smallest mean silhouette that counts as a clustering of the tasks.

    Returns
    -------
    labels : ndarray of shape (n_tasks,), dtype int
        Cluster of every task, numbered ``0 .. k - 1`` in the order in which the
        clusters appear along ``order``.
    order : ndarray of shape (n_tasks,), dtype int
        The leaves of the tree: every cluster is a contiguous run of it.
    silhouettes : ndarray of shape (n_tasks + 1,)
        ``silhouettes[k]``: the mean silhouette of the cut into ``k`` clusters
        (NaN for ``k = 0`` and ``k = T``, and for ``k = 1`` when ``T = 1``).

    Examples
    --------
    >>> import numpy as np
    >>> from rkhsmtl.inspection import cluster_tasks
    >>> R = np.array([[1.0, 0.9, 0.0, 0.0],
    ...               [0.9, 1.0, 0.0, 0.0],
    ...               [0.0, 0.0, 1.0, 0.8],
    ...               [0.0, 0.0, 0.8, 1.0]])
    >>> labels, order, silhouettes = cluster_tasks(R)
    >>> labels
    array([0, 0, 1, 1])
    """
    R = symmetric_task_matrix(np.asarray(correlation, dtype=float))
    T = R.shape[0]
    auto = isinstance(n_clusters, str) and n_clusters == "auto"
    if not auto and (isinstance(n_clusters, bool)
                     or not isinstance(n_clusters, numbers.Integral)
                     or not 1 <= n_clusters <= T):
        raise ValueError(
            f"n_clusters must be 'auto' or an integer in [1, n_tasks={T}], got "
            f"{n_clusters!r}."
        )
    silhouettes = np.full(T + 1, np.nan)
    if T == 1:
        return np.zeros(1, dtype=np.intp), np.zeros(1, dtype=np.intp), silhouettes
    D = np.clip(1.0 - R, 0.0, 2.0)
    np.fill_diagonal(D, 0.0)
    Z = linkage(squareform(D, checks=False), method="average", optimal_ordering=True)
    order = np.asarray(leaves_list(Z), dtype=np.intp)
    # One cut per call: the columns of a cut_tree call with several numbers of
    # clusters do not follow the order of the list.
    cuts = {k: cut_tree(Z, n_clusters=k).ravel() for k in range(1, T + 1)}
    for k in range(2, T):
        silhouettes[k] = silhouette_score(D, cuts[k], metric="precomputed")
    # One cluster against an unrelated task (distance 1): 1 - a(i) is the mean
    # correlation of task i with the others.
    silhouettes[1] = np.mean(1.0 - D.sum(axis=1) / (T - 1))
    if not auto:
        k = int(n_clusters)
    elif np.nanmax(silhouettes) >= min_silhouette:
        k = int(np.nanargmax(silhouettes))
    else:
        k = T
    return _relabel_along(cuts[k], order), order, silhouettes


# ------------------------------------------------------------------ bootstrap


def _draw_rows(rng, observed):
    """Row indices drawn with replacement, every task keeping an observed label."""
    n = observed.shape[0]
    for _ in range(_MAX_REDRAWS):
        rows = rng.randint(n, size=n)
        if observed[rows].any(axis=0).all():
            return rows
    raise ValueError(
        "Bootstrap resamples keep leaving a task without any observed label: some "
        "task has too few labels to be resampled. Drop that task, or use "
        "n_bootstrap=0."
    )


def _bootstrap_fit(model, X, Y, observed, seed):
    rows = _draw_rows(np.random.RandomState(seed), observed)
    fitted = clone(model).fit(_take_rows(X, rows), _take_rows(Y, rows))
    return _model_task_matrix(fitted)


def _jaccard(a, b):
    union = np.count_nonzero(a | b)
    return np.count_nonzero(a & b) / union if union else 1.0


def _percentile_interval(values, confidence):
    tail = 50.0 * (1.0 - confidence)
    return np.percentile(values, [tail, 100.0 - tail], axis=0)


# -------------------------------------------------------------- transfer gain


def _per_task_scorer(scoring, classifier):
    """A scorer returning ``{"task_t": value}`` (greater is better), and its name."""
    if scoring is None:
        scoring = "roc_auc" if classifier else "r2"
    if callable(scoring):
        return scoring, getattr(scoring, "__name__", type(scoring).__name__)
    if isinstance(scoring, str) and scoring in _SCORERS:
        metric, _, greater_is_better = _SCORERS[scoring]
        return make_multitask_scorer(metric, average=None,
                                     greater_is_better=greater_is_better), scoring
    if isinstance(scoring, str) and scoring in _METRICS:
        # Losses are negated, and named so.
        name = f"neg_{scoring}" if scoring in _LOSSES else scoring
        return make_multitask_scorer(scoring, average=None), name
    raise ValueError(
        f"scoring must be a metric name ({sorted(_METRICS)}), a scorer name of "
        "rkhsmtl.metrics.get_scorer_names(), or a scorer made with "
        f"make_multitask_scorer(..., per_task=True); got {scoring!r}."
    )


def _task_values(scores, n_tasks):
    if not isinstance(scores, dict):
        raise TypeError(
            "The scorer must return per-task values, a dict {'task_0': v0, ...}: make "
            "it with rkhsmtl.metrics.make_multitask_scorer(..., per_task=True)."
        )
    return np.array([scores.get(f"task_{t}", np.nan) for t in range(n_tasks)],
                    dtype=float)


def _fold_score(estimator, X, Y, train, test, scorer, n_tasks):
    fitted = clone(estimator).fit(_take_rows(X, train), _take_rows(Y, train))
    with warnings.catch_warnings():
        # A task without labels in a test fold scores NaN; the report says so.
        warnings.simplefilter("ignore")
        scores = scorer(fitted, _take_rows(X, test), _take_rows(Y, test))
    return _task_values(scores, n_tasks)


def _default_baseline(model):
    params = model.get_params(deep=False)
    if "task_structure" in params:
        return clone(model).set_params(task_structure="independent")
    if "penalty" in params:
        return clone(model).set_params(penalty="none")
    raise TypeError(
        f"{type(model).__name__} has neither a task_structure nor a penalty parameter, "
        "so no independent baseline can be made from it: pass baseline=<an estimator "
        "fitted on each task alone>, e.g. rkhsmtl.experiments.PerTaskEstimator(...)."
    )


def _resolve_cv(cv, random_state):
    if cv is None or (isinstance(cv, numbers.Integral) and not isinstance(cv, bool)):
        return MultiTaskStratifiedKFold(5 if cv is None else int(cv), shuffle=True,
                                        random_state=random_state)
    if hasattr(cv, "split"):
        return cv
    return _ListSplitter(list(cv))


class _ListSplitter:
    def __init__(self, splits):
        self.splits = splits

    def split(self, X, y):
        return iter(self.splits)


# --------------------------------------------------------------------- report


def _format(value, digits=3, sign=False):
    if value is None or not np.isfinite(value):
        return "-"
    return f"{value:+.{digits}f}" if sign else f"{value:.{digits}f}"


class TaskRelationReport:
    """What a fitted model learned about its tasks; made by :func:`task_relations`.

    Plain data: NumPy arrays indexed by task in the model's order (``tasks``),
    with the entries of a part that was not computed left as None (the bootstrap
    with ``n_bootstrap=0``, the transfer gain without data or baseline).
    ``print(report)`` shows :meth:`summary`.

    Parameters
    ----------
    **fields : dict
        The attributes below, by name; :func:`task_relations` sets them all.

    Attributes
    ----------
    tasks : list
        Task names (the model's ``tasks_``).
    task_structure : ndarray of shape (n_tasks, n_tasks)
        The matrix ``A`` analysed.
    correlation : ndarray of shape (n_tasks, n_tasks)
        ``A[s, t] / sqrt(A[s, s] A[t, t])``
        (:func:`rkhsmtl.plotting.task_correlation`).
    partial_correlation : ndarray of shape (n_tasks, n_tasks)
        ``-P[s, t] / sqrt(P[s, s] P[t, t])`` with ``P = A^-1``
        (:func:`partial_correlation`).
    partial_ridge : float
        The ridge added to a singular ``A`` before inverting it (0 if none).
    clusters : ndarray of shape (n_tasks,), dtype int
        Cluster of every task (:func:`cluster_tasks`).
    n_clusters : int
        Number of clusters.
    order : ndarray of shape (n_tasks,), dtype int
        Task order of the clustering tree (clusters are contiguous in it).
    silhouettes : ndarray of shape (n_tasks + 1,)
        Mean silhouette of the cut into ``k`` clusters, NaN where undefined.
    n_bootstrap : int
        Number of bootstrap refits (0: no stability analysis).
    confidence : float
        Level of the intervals (bootstrap percentiles and transfer gain).
    bootstrap_correlations : ndarray of shape (n_bootstrap, n_tasks, n_tasks) or None
        The correlations of every refit.
    correlation_std, partial_correlation_std : ndarray of shape (n_tasks, n_tasks) \
or None
        Bootstrap standard deviations.
    correlation_interval, partial_correlation_interval : ndarray of shape \
(2, n_tasks, n_tasks) or None
        Bootstrap percentile intervals (lower, upper).
    co_clustering : ndarray of shape (n_tasks, n_tasks) or None
        Fraction of refits in which two tasks fall in the same cluster.
    bootstrap_n_clusters : ndarray of shape (n_bootstrap,) or None
        Number of clusters chosen in every refit.
    adjusted_rand : ndarray of shape (n_bootstrap,) or None
        Adjusted Rand index of every refit's clustering against ``clusters``
        (1: the same partition; about 0: chance agreement).
    task_stability : ndarray of shape (n_tasks,) or None
        Mean Jaccard similarity, over the refits, of the task's cluster and its
        cluster in the refit.
    cluster_stability : ndarray of shape (n_clusters,) or None
        Hennig's cluster-wise stability: mean over refits of the best Jaccard
        similarity of the cluster with a cluster of the refit (above 0.75: a
        stable cluster; below 0.5: it dissolves).
    scoring : str or None
        The per-task score of the transfer gain (greater is better).
    fold_scores, fold_baseline_scores : ndarray of shape (n_splits, n_tasks) or None
        Held-out per-task scores of the model and of the baseline in every fold.
    scores, baseline_scores : ndarray of shape (n_tasks,) or None
        Their means over the folds.
    gain : ndarray of shape (n_tasks,) or None
        Transfer gain: mean over the folds of the score of the model minus that of
        the baseline.
    gain_se : ndarray of shape (n_tasks,) or None
        Its standard error, corrected for the overlap of the training sets
        (Nadeau & Bengio 2003).
    gain_interval : ndarray of shape (2, n_tasks) or None
        ``gain -/+ t * gain_se`` with ``t`` the Student quantile of ``n_splits - 1``
        degrees of freedom at ``confidence``.
    negative_transfer, positive_transfer : ndarray of shape (n_tasks,), dtype bool, \
or None
        Tasks whose whole gain interval lies below (above) zero.
    """

    def __init__(self, **fields):
        for name, value in fields.items():
            setattr(self, name, value)

    def __repr__(self):
        parts = [f"n_tasks={len(self.tasks)}", f"n_clusters={self.n_clusters}",
                 f"n_bootstrap={self.n_bootstrap}"]
        if self.gain is not None:
            parts.append(f"negative_transfer={int(np.sum(self.negative_transfer))}")
        return f"TaskRelationReport({', '.join(parts)})"

    def __str__(self):
        return self.summary()

    def _task_rows(self):
        T = len(self.tasks)
        rows = []
        for t in range(T):
            row = {"task": self.tasks[t], "cluster": int(self.clusters[t])}
            if self.task_stability is not None:
                row["stability"] = float(self.task_stability[t])
            if self.gain is not None:
                flag = ("negative" if self.negative_transfer[t] else
                        "positive" if self.positive_transfer[t] else "none detected")
                row.update(score=float(self.scores[t]),
                           baseline_score=float(self.baseline_scores[t]),
                           gain=float(self.gain[t]), gain_se=float(self.gain_se[t]),
                           gain_low=float(self.gain_interval[0, t]),
                           gain_high=float(self.gain_interval[1, t]), transfer=flag)
            rows.append(row)
        return rows

    def _pair_rows(self):
        T = len(self.tasks)
        rows = []
        for s in range(T):
            for t in range(s + 1, T):
                row = {"task_a": self.tasks[s], "task_b": self.tasks[t],
                       "correlation": float(self.correlation[s, t]),
                       "partial_correlation": float(self.partial_correlation[s, t]),
                       "same_cluster": bool(self.clusters[s] == self.clusters[t])}
                if self.n_bootstrap:
                    row.update(
                        correlation_std=float(self.correlation_std[s, t]),
                        correlation_low=float(self.correlation_interval[0, s, t]),
                        correlation_high=float(self.correlation_interval[1, s, t]),
                        partial_correlation_std=float(self.partial_correlation_std[s, t]),
                        co_clustering=float(self.co_clustering[s, t]))
                rows.append(row)
        return rows

    def to_frame(self, kind="tasks"):
        """The report as a :class:`pandas.DataFrame` (requires pandas).

        Parameters
        ----------
        kind : {"tasks", "pairs"}, default="tasks"
            "tasks": one row per task (cluster, stability, scores, gain and its
            interval, ``transfer`` "negative", "positive" or "none detected");
            "pairs": one row per pair of tasks (correlation, partial correlation,
            same cluster, and with a bootstrap their spread and co-clustering
            frequency). Columns of parts not computed are left out.

        Returns
        -------
        frame : pandas.DataFrame
        """
        if kind not in ("tasks", "pairs"):
            raise ValueError(f"kind must be 'tasks' or 'pairs', got {kind!r}.")
        try:
            import pandas as pd
        except ImportError as exc:
            raise ImportError(
                "TaskRelationReport.to_frame requires pandas, which is not installed: "
                "`pip install pandas`. The same values are attributes of the report "
                "(NumPy arrays), and summary() prints them without pandas."
            ) from exc
        rows = self._task_rows() if kind == "tasks" else self._pair_rows()
        return pd.DataFrame(rows)

    def summary(self, max_pairs=5):
        """The report as a printable table.

        Parameters
        ----------
        max_pairs : int, default=5
            How many of the most correlated pairs of tasks to list.

        Returns
        -------
        text : str
        """
        T = len(self.tasks)
        lines = [f"Task relations of {T} tasks"]
        k = self.n_clusters
        best = self.silhouettes[k] if 0 <= k < self.silhouettes.shape[0] else np.nan
        how = ("no grouping of the tasks stands out" if k == T and T > 1 else
               f"one group, mean correlation {best:+.2f}" if k == 1 and T > 1 else
               f"mean silhouette {best:.2f}" if np.isfinite(best) else "one task")
        lines.append(f"  clusters: {k} ({how})")
        if self.partial_ridge:
            lines.append(f"  A is singular: partial correlations of A + "
                         f"{self.partial_ridge:.2g} I")
        if self.n_bootstrap:
            ari = self.adjusted_rand
            counts = np.bincount(self.bootstrap_n_clusters)
            common = int(np.argmax(counts))
            lines.append(
                f"  bootstrap: {self.n_bootstrap} refits; adjusted Rand index with "
                f"these clusters {np.mean(ari):.2f} (min {np.min(ari):.2f}); "
                f"{counts[k] if k < counts.size else 0} of {self.n_bootstrap} refits "
                f"chose {k} clusters (most often: {common})")
            stability = ", ".join(f"{c}: {v:.2f}"
                                  for c, v in enumerate(self.cluster_stability))
            lines.append(f"  cluster stability (Jaccard): {stability}")
        if self.gain is not None:
            level = f"{100 * self.confidence:g}%"
            lines.append(
                f"  transfer gain: held-out {self.scoring} of the model minus the "
                f"baseline, {self.fold_scores.shape[0]} folds, {level} intervals")
        lines.append("")
        names = [str(name) for name in self.tasks]
        width = max(4, *(len(name) for name in names))
        header = f"{'task':<{width}}  {'cluster':>7}"
        if self.task_stability is not None:
            header += f"  {'stability':>9}"
        if self.gain is not None:
            header += (f"  {'score':>8}  {'baseline':>8}  {'gain':>8}  "
                       f"{'interval':>19}  transfer")
        lines.append(header)
        for t in self.order:
            line = f"{names[t]:<{width}}  {int(self.clusters[t]):>7d}"
            if self.task_stability is not None:
                line += f"  {_format(self.task_stability[t], 2):>9}"
            if self.gain is not None:
                low, high = self.gain_interval[:, t]
                interval = f"[{_format(low, sign=True)}, {_format(high, sign=True)}]"
                flag = ("NEGATIVE" if self.negative_transfer[t] else
                        "positive" if self.positive_transfer[t] else "-")
                line += (f"  {_format(self.scores[t]):>8}  "
                         f"{_format(self.baseline_scores[t]):>8}  "
                         f"{_format(self.gain[t], sign=True):>8}  {interval:>19}  {flag}")
            lines.append(line)
        if T > 1 and max_pairs:
            upper = np.triu_indices(T, 1)
            strongest = np.argsort(-np.abs(self.correlation[upper]), kind="stable")
            lines.append("")
            lines.append("most correlated pairs (correlation, partial correlation"
                         + (", bootstrap interval" if self.n_bootstrap else "") + "):")
            for i in strongest[:max_pairs]:
                s, t = upper[0][i], upper[1][i]
                line = (f"  {names[s]} - {names[t]}: "
                        f"{_format(self.correlation[s, t], 2, sign=True)}, "
                        f"{_format(self.partial_correlation[s, t], 2, sign=True)}")
                if self.n_bootstrap:
                    low, high = self.correlation_interval[:, s, t]
                    line += f", [{_format(low, 2, sign=True)}, {_format(high, 2, sign=True)}]"
                lines.append(line)
        return "\n".join(lines)

    def plot(self, *, matrix="correlation", axes=None):
        """Draw the report: the reordered heatmap with its clusters, and the gain.

        Parameters
        ----------
        matrix : {"correlation", "partial_correlation", "co_clustering"}, \
default="correlation"
            The matrix of the heatmap (see
            :func:`rkhsmtl.plotting.plot_task_clusters`).
        axes : sequence of matplotlib.axes.Axes, default=None
            One Axes (heatmap), or two (heatmap, transfer gain) when the gain was
            computed; None creates a figure.

        Returns
        -------
        axes : list of matplotlib.axes.Axes
            The heatmap's Axes, then the gain's when drawn.
        """
        from ..plotting import _import_pyplot, plot_task_clusters, plot_transfer_gain

        n_panels = 2 if self.gain is not None else 1
        if axes is None:
            plt = _import_pyplot()
            T = len(self.tasks)
            size = min(4.0 + 0.25 * T, 12.0)
            _, axes = plt.subplots(1, n_panels, figsize=(size * n_panels, size),
                                   layout="constrained", squeeze=False)
            axes = list(axes[0])
        else:
            axes = list(np.atleast_1d(axes))
            if len(axes) != n_panels:
                raise ValueError(
                    f"This report draws {n_panels} panel(s) (heatmap"
                    f"{', transfer gain' if n_panels == 2 else ''}); got {len(axes)} "
                    "Axes."
                )
        plot_task_clusters(self, ax=axes[0], matrix=matrix)
        if n_panels == 2:
            plot_transfer_gain(self, ax=axes[1])
        return axes


# ------------------------------------------------------------------- function


def _check_int_at_least(value, name, low):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}.")
    return int(value)


def _task_list(model, T):
    names = getattr(model, "tasks_", None) if _is_estimator(model) else None
    if names is None:
        return list(range(T))
    return to_numpy(names).tolist()


def task_relations(model, X=None, Y=None, *, baseline="independent", n_bootstrap=0,
                   cv=5, scoring=None, n_clusters="auto", min_silhouette=0.2,
                   confidence=0.95, n_jobs=None, random_state=None):
    r"""Report what a fitted model learned about its tasks.

    From the model's task-structure matrix ``A`` alone:

    * task **correlations** ``A[s, t] / sqrt(A[s, s] A[t, t])``;
    * **partial correlations** ``-P[s, t] / sqrt(P[s, s] P[t, t])``, ``P = A^-1``
      (a small ridge for a singular ``A``; see :func:`partial_correlation`);
    * a **clustering** of the tasks, the number of clusters chosen from ``A``
      (silhouette; one cluster and no clusters are possible; see
      :func:`cluster_tasks`).

    With the training data ``X, Y``:

    * **stability** (``n_bootstrap > 0``): the model is cloned and refitted on
      ``n_bootstrap`` resamples of the rows (drawn with replacement, each keeping
      an observed label of every task), and the analyses above repeated:
      standard deviations and percentile intervals of the correlations,
      co-clustering frequencies, the adjusted Rand index of each refit's clusters
      against the full-data ones, and the stability of every cluster and task;
    * **transfer gain** (``baseline`` not None): the model and the baseline are
      fitted on the training folds of ``cv`` and scored per task on the held-out
      folds; the gain of a task is the mean over the folds of the difference. Its
      standard error is that of the corrected resampled t-test (Nadeau & Bengio
      2003), ``sqrt(1/J + n_test/n_train) * sd``, with ``J`` the number of
      folds and ``sd`` the standard deviation of the fold differences, because
      the training sets overlap. A task shows **negative transfer** when its
      whole interval ``gain -/+ t_{J-1} * se`` lies below zero (the model is
      significantly worse than the baseline on it), positive transfer when it
      lies above.

    For a fixed task structure ``A`` does not depend on the data: its
    bootstrap is trivial (zero spread) and only the transfer gain uses the data.

    Parameters
    ----------
    model : estimator or array-like of shape (n_tasks, n_tasks)
        A fitted :class:`~rkhsmtl.MultiTaskKernelRidge`,
        :class:`~rkhsmtl.MultiTaskKernelClassifier` (or their CV versions), or a
        linear model of :mod:`rkhsmtl.linear` with ``penalty="cmtl"``, whose
        ``A = (l2_ / alpha_) I + task_relation_``; or the matrix ``A`` itself
        (then only its analysis, without refits).
    X : array-like of shape (n_samples, n_features), default=None
        The data the model was fitted on (a DataFrame is kept); needed for the
        bootstrap and the transfer gain.
    Y : array-like of shape (n_samples, n_tasks), default=None
        Its targets, NaN (or None) for a missing label.
    baseline : "independent", estimator or None, default="independent"
        The model without sharing between tasks: "independent" is a clone of
        ``model`` with ``task_structure="independent"`` (kernel models) or
        ``penalty="none"`` (linear models); an estimator is used as given (e.g.
        :class:`~rkhsmtl.experiments.PerTaskEstimator`); None skips the transfer
        gain.
    n_bootstrap : int, default=0
        Number of bootstrap refits for the stability (0: none). 20 to 100 give
        usable intervals.
    cv : int, cross-validation generator or iterable, default=5
        Splits of the transfer gain: an integer is the number of folds of
        :class:`~rkhsmtl.model_selection.MultiTaskStratifiedKFold` (shuffled with
        ``random_state``), which spreads every task's labels over the folds.
    scoring : str or callable, default=None
        Per-task score of the gain, greater is better: a metric name of
        :func:`~rkhsmtl.metrics.make_multitask_scorer` (``"r2"``, ``"mse"`` is
        negated, ``"roc_auc"``, ...), a scorer name of
        :func:`~rkhsmtl.metrics.get_scorer_names`, or a scorer made with
        ``make_multitask_scorer(..., per_task=True)``. None: ``"r2"`` for a
        regressor, ``"roc_auc"`` for a classifier.
    n_clusters : "auto" or int, default="auto"
        Number of clusters (every refit uses the same rule).
    min_silhouette : float, default=0.2
        The smallest mean silhouette that counts as a clustering (see
        :func:`cluster_tasks`).
    confidence : float, default=0.95
        Level of the bootstrap intervals and of the gain intervals, in (0, 1).
    n_jobs : int or None, default=None
        Refits run in parallel through joblib (None means 1 unless in a
        :func:`joblib.parallel_config` context). The report does not depend on it.
    random_state : int, RandomState instance or None, default=None
        Seeds the bootstrap resamples and the shuffling of the folds; an integer
        makes the report reproducible.

    Returns
    -------
    report : TaskRelationReport
        Arrays indexed by task, :meth:`~TaskRelationReport.summary`,
        :meth:`~TaskRelationReport.to_frame` and :meth:`~TaskRelationReport.plot`.

    References
    ----------
    P. J. Rousseeuw. Silhouettes: a graphical aid to the interpretation and
    validation of cluster analysis. J. Comput. Appl. Math. 20:53-65, 1987.

    C. Hennig. Cluster-wise assessment of cluster stability. Computational
    Statistics & Data Analysis 52(1):258-271, 2007.

    C. Nadeau and Y. Bengio. Inference for the generalization error. Machine
    Learning 52(3):239-281, 2003.

    Examples
    --------
    >>> import numpy as np
    >>> from rkhsmtl import MultiTaskKernelRidge
    >>> from rkhsmtl.inspection import task_relations
    >>> from rkhsmtl.structure import Clusters
    >>> rng = np.random.default_rng(0)
    >>> X, Y = rng.normal(size=(30, 2)), rng.normal(size=(30, 4))
    >>> model = MultiTaskKernelRidge(
    ...     task_structure=Clusters([0, 0, 1, 1], strength=9.0)).fit(X, Y)
    >>> report = task_relations(model)
    >>> report.clusters, round(float(report.correlation[0, 1]), 2)
    (array([0, 0, 1, 1]), 0.82)
    """
    A = symmetric_task_matrix(_model_task_matrix(model))
    T = A.shape[0]
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}.")
    n_bootstrap = _check_int_at_least(n_bootstrap, "n_bootstrap", 0)
    tasks = _task_list(model, T)
    correlation = task_correlation(A)
    partial, ridge = partial_correlation(A)
    clusters, order, silhouettes = cluster_tasks(correlation, n_clusters,
                                                 min_silhouette=min_silhouette)
    k = int(clusters.max()) + 1
    report = TaskRelationReport(
        tasks=tasks, task_structure=A, correlation=correlation,
        partial_correlation=partial, partial_ridge=ridge, clusters=clusters,
        n_clusters=k, order=order, silhouettes=silhouettes, n_bootstrap=n_bootstrap,
        confidence=float(confidence), bootstrap_correlations=None,
        correlation_std=None, partial_correlation_std=None,
        correlation_interval=None, partial_correlation_interval=None,
        co_clustering=None, bootstrap_n_clusters=None, adjusted_rand=None,
        task_stability=None, cluster_stability=None, scoring=None, fold_scores=None,
        fold_baseline_scores=None, scores=None, baseline_scores=None, gain=None,
        gain_se=None, gain_interval=None, negative_transfer=None,
        positive_transfer=None)
    needs_data = n_bootstrap > 0 or (baseline is not None and X is not None)
    if not needs_data:
        return report
    if not _is_estimator(model):
        raise TypeError(
            "The bootstrap and the transfer gain refit the model: pass the fitted "
            "estimator, not its matrix (or use n_bootstrap=0 and X=None)."
        )
    if X is None or Y is None:
        raise ValueError(
            "The bootstrap (n_bootstrap > 0) and the transfer gain refit the model: "
            "pass its training data X and Y (or n_bootstrap=0 and baseline=None)."
        )
    X, n = _as_rows(X)
    Y, n_y = _as_rows(Y, "Y")
    observed = ~missing_mask(Y)
    if observed.ndim == 1:
        observed = observed[:, None]
    if n_y != n or observed.shape[1] != T:
        raise ValueError(
            f"X and Y must be the model's training data: {T} tasks (columns of Y) "
            f"and as many rows in both; got X with {n} rows and Y of shape "
            f"{tuple(Y.shape)}."
        )
    if baseline is not None:
        # Checked before any refit.
        if isinstance(baseline, str):
            if baseline != "independent":
                raise ValueError(
                    "baseline must be 'independent', an estimator or None, got "
                    f"{baseline!r}."
                )
            baseline = _default_baseline(model)
        scorer, name = _per_task_scorer(scoring, is_classifier(model))
    rng = check_random_state(random_state)
    # The folds' seed first: the same folds whatever n_bootstrap.
    cv_seed = int(rng.randint(np.iinfo(np.int32).max))
    seeds = rng.randint(np.iinfo(np.int32).max, size=n_bootstrap)
    parallel = Parallel(n_jobs=n_jobs)
    if n_bootstrap:
        matrices = parallel(delayed(_bootstrap_fit)(model, X, Y, observed, seed)
                            for seed in seeds)
        _add_bootstrap(report, matrices, n_clusters, min_silhouette)
    if baseline is not None:
        splits = [(np.asarray(train), np.asarray(test))
                  for train, test in _resolve_cv(cv, cv_seed).split(X, Y)]
        results = parallel(
            delayed(_fold_score)(estimator, X, Y, train, test, scorer, T)
            for train, test in splits for estimator in (model, baseline))
        _add_gain(report, np.array(results[0::2]), np.array(results[1::2]), splits,
                  name)
    return report


def _add_bootstrap(report, matrices, n_clusters, min_silhouette):
    T, B = len(report.tasks), len(matrices)
    confidence = report.confidence
    correlations = np.empty((B, T, T))
    partials = np.empty((B, T, T))
    co_clustering = np.zeros((T, T))
    ari = np.empty(B)
    counts = np.empty(B, dtype=np.intp)
    task_jaccard = np.zeros(T)
    k = report.n_clusters
    cluster_jaccard = np.zeros(k)
    full = report.clusters
    for b, A in enumerate(matrices):
        A = symmetric_task_matrix(A)
        correlations[b] = task_correlation(A)
        partials[b] = partial_correlation(A)[0]
        labels, _, _ = cluster_tasks(correlations[b], n_clusters,
                                     min_silhouette=min_silhouette)
        same = labels[:, None] == labels[None, :]
        co_clustering += same
        ari[b] = adjusted_rand_score(full, labels)
        counts[b] = int(labels.max()) + 1
        full_same = full[:, None] == full[None, :]
        for t in range(T):
            task_jaccard[t] += _jaccard(full_same[t], same[t])
        for c in range(k):
            members = full == c
            cluster_jaccard[c] += max(_jaccard(members, labels == c2)
                                      for c2 in range(counts[b]))
    report.bootstrap_correlations = correlations
    report.correlation_std = correlations.std(axis=0)
    report.partial_correlation_std = partials.std(axis=0)
    report.correlation_interval = _percentile_interval(correlations, confidence)
    report.partial_correlation_interval = _percentile_interval(partials, confidence)
    report.co_clustering = co_clustering / B
    report.adjusted_rand = ari
    report.bootstrap_n_clusters = counts
    report.task_stability = task_jaccard / B
    report.cluster_stability = cluster_jaccard / B


def _add_gain(report, model_scores, base_scores, splits, name):
    differences = model_scores - base_scores
    defined = np.isfinite(differences)
    J = defined.sum(axis=0)
    ratio = np.mean([len(test) / max(len(train), 1) for train, test in splits])
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # tasks never scored: NaN
        gain = np.nanmean(differences, axis=0)
        sd = np.nanstd(differences, axis=0, ddof=1)
        se = np.where(J >= 2, sd * np.sqrt(1.0 / np.maximum(J, 1) + ratio), np.nan)
        quantile = student_t.ppf(0.5 + 0.5 * report.confidence, np.maximum(J - 1, 1))
        interval = np.stack([gain - quantile * se, gain + quantile * se])
        report.scores = np.nanmean(model_scores, axis=0)
        report.baseline_scores = np.nanmean(base_scores, axis=0)
    report.scoring = name
    report.fold_scores = model_scores
    report.fold_baseline_scores = base_scores
    report.gain = gain
    report.gain_se = se
    report.gain_interval = interval
    # NaN compares False: a task without an interval is never flagged.
    report.negative_transfer = interval[1] < 0
    report.positive_transfer = interval[0] > 0
