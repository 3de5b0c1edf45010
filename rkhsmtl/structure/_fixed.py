"""Fixed task structures: the matrix ``A`` is given, not learned."""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.base import BaseEstimator

__all__ = [
    "Clusters",
    "FixedMatrix",
    "Graph",
    "Independent",
    "MeanRegularized",
    "Pooled",
    "TaskStructure",
    "check_task_matrix",
    "graph_laplacian",
    "graph_weights",
]

# Relative tolerance for symmetry and positive semidefiniteness checks.
PSD_TOL = 1e-8


def check_task_matrix(A, n_tasks=None, *, tol=PSD_TOL, name="task structure matrix"):
    """Validate a task-structure matrix and return it symmetrised, as float64 NumPy.

    Parameters
    ----------
    A : array-like of shape (n_tasks, n_tasks)
        Candidate matrix.
    n_tasks : int or None
        Expected number of tasks (the number of columns of ``Y``).
    tol : float
        Relative tolerance: asymmetry up to ``tol * max|A|`` and eigenvalues down
        to ``-tol * max(1, max eigenvalue)`` are accepted.
    name : str
        How to call the matrix in error messages.

    Returns
    -------
    A : ndarray of shape (n_tasks, n_tasks)
        ``(A + A.T) / 2``.

    Raises
    ------
    ValueError
        If ``A`` is not a finite, square, symmetric, positive semidefinite matrix of
        the expected size; the message says which property fails.
    """
    from .._backend import to_numpy

    A = np.asarray(to_numpy(A) if not isinstance(A, (list, tuple)) else A)
    if A.dtype == object or not np.issubdtype(A.dtype, np.number):
        raise ValueError(f"The {name} must be numeric, got dtype {A.dtype}.")
    A = A.astype(np.float64)
    if A.ndim != 2 or A.shape[0] != A.shape[1]:
        raise ValueError(f"The {name} must be a square 2-D matrix, got shape {A.shape}.")
    if n_tasks is not None and A.shape[0] != n_tasks:
        raise ValueError(
            f"The {name} is {A.shape[0]}x{A.shape[1]} but Y has {n_tasks} tasks "
            f"(columns); it must be {n_tasks}x{n_tasks}."
        )
    if not np.all(np.isfinite(A)):
        raise ValueError(f"The {name} contains NaN or infinite values.")
    scale = max(float(np.max(np.abs(A))), np.finfo(np.float64).tiny)
    asym = float(np.max(np.abs(A - A.T)))
    if asym > tol * scale:
        raise ValueError(
            f"The {name} is not symmetric: max |A - A.T| = {asym:.3g} "
            f"(relative {asym / scale:.3g} > tolerance {tol:g})."
        )
    A = 0.5 * (A + A.T)
    eigvals = np.linalg.eigvalsh(A)
    if eigvals[0] < -tol * max(1.0, float(eigvals[-1])):
        raise ValueError(
            f"The {name} is not positive semidefinite: its smallest eigenvalue is "
            f"{eigvals[0]:.3g} (largest {eigvals[-1]:.3g})."
        )
    return A


def check_n_tasks(n_tasks):
    """``n_tasks`` as an int, or a ValueError if it is not a positive integer."""
    if not isinstance(n_tasks, numbers.Integral) or n_tasks < 1:
        raise ValueError(f"n_tasks must be a positive integer, got {n_tasks!r}.")
    return int(n_tasks)


class TaskStructure(BaseEstimator):
    """Base class of task structures.

    Subclasses implement :meth:`_matrix` returning the ``T x T`` matrix as NumPy;
    :meth:`task_matrix` validates it. Learned structures (fitted together with the kernel
    coefficients) set ``is_learned = True``.
    """

    is_learned = False

    def task_matrix(self, n_tasks):
        """The task-structure matrix for ``n_tasks`` tasks.

        Parameters
        ----------
        n_tasks : int
            Number of tasks.

        Returns
        -------
        A : ndarray of shape (n_tasks, n_tasks)
            Symmetric positive semidefinite matrix (float64).
        """
        n_tasks = check_n_tasks(n_tasks)
        return check_task_matrix(
            self._matrix(n_tasks), n_tasks,
            name=f"matrix of {type(self).__name__}",
        )

    def _matrix(self, n_tasks):  # pragma: no cover - abstract
        raise NotImplementedError


def _check_strength(strength, name="strength"):
    if (not isinstance(strength, numbers.Real) or isinstance(strength, bool)
            or not np.isfinite(strength) or strength < 0):
        raise ValueError(f"{name} must be a finite number >= 0, got {strength!r}.")
    return float(strength)


class Independent(TaskStructure):
    """Independent tasks: ``A = I``.

    The penalty is ``sum_t ||f_t||^2``: each task is an ordinary kernel ridge
    regression, and the model equals :class:`sklearn.kernel_ridge.KernelRidge` fitted
    on each task's observed labels.
    """

    def _matrix(self, n_tasks):
        return np.eye(n_tasks)


class Pooled(TaskStructure):
    """One function shared by every task: ``A = 1 1^T``.

    Every task predicts ``g(x)``, and the penalty is ``||g||^2``: the model equals a
    single kernel ridge regression on all observed labels pooled together.
    """

    def _matrix(self, n_tasks):
        return np.ones((n_tasks, n_tasks))


class MeanRegularized(TaskStructure):
    r"""Tasks pulled towards their common mean (Evgeniou & Pontil 2004).

    Penalty (times the estimator's ``alpha``)::

        sum_t ||f_t||^2 + strength * sum_t ||f_t - fbar||^2,   fbar = mean_t f_t

    i.e. ``E = I + strength * (I - 1 1^T / T)`` and

    ``A = E^{-1} = (I - 1 1^T / T) / (1 + strength) + 1 1^T / T``.

    ``strength = 0`` gives independent tasks; as ``strength`` grows the tasks are
    forced to share one function, the mean (``A -> 1 1^T / T``). ``A`` has two
    distinct eigenvalues, 1 (the mean direction) and ``1 / (1 + strength)``.

    Parameters
    ----------
    strength : float, default=1.0
        How strongly the tasks are pulled to their common mean (``>= 0``).
    """

    def __init__(self, strength=1.0):
        self.strength = strength

    def _matrix(self, n_tasks):
        s = _check_strength(self.strength)
        mean = np.full((n_tasks, n_tasks), 1.0 / n_tasks)
        return (np.eye(n_tasks) - mean) / (1.0 + s) + mean


def _is_edge_list(adjacency):
    """A list (or tuple) of tuples ``(s, t)`` / ``(s, t, weight)``; a nested list of
    numbers is a matrix, so that both spellings stay unambiguous."""
    return isinstance(adjacency, (list, tuple)) and all(
        isinstance(edge, tuple) for edge in adjacency)


def _edge_weights(edges, n_tasks):
    M = np.zeros((n_tasks, n_tasks))
    for edge in edges:
        if len(edge) not in (2, 3):
            raise ValueError(f"An edge must be (s, t) or (s, t, weight), got {edge!r}.")
        s, t = int(edge[0]), int(edge[1])
        w = float(edge[2]) if len(edge) == 3 else 1.0
        if not (0 <= s < n_tasks and 0 <= t < n_tasks) or s == t \
                or not np.isfinite(w) or w < 0:
            raise ValueError(
                f"Edge {edge!r} must join two different tasks in [0, {n_tasks}) with a "
                "finite non-negative weight."
            )
        # Repeated edges add up, as repeated terms of the penalty would.
        M[s, t] += w
        M[t, s] += w
    return M


def graph_weights(adjacency, n_tasks):
    """The symmetric edge-weight matrix ``M`` of a task graph, validated.

    Shared by :class:`Graph` and :class:`rkhsmtl.linear.GraphPenalty`, so that
    ``adjacency`` means the same graph in both families.

    Parameters
    ----------
    adjacency : str, array-like of shape (n_tasks, n_tasks) or list of tuples
        ``"chain"`` (task ``t`` linked to ``t + 1`` with weight 1), ``"complete"``
        (every pair, weight 1), ``"mean"`` (every pair, weight ``1 / T``: the
        Laplacian is ``I - 1 1^T / T``, penalising the distances to the mean task);
        a symmetric non-negative weight matrix (diagonal ignored); or a list of
        edges ``(s, t)`` or ``(s, t, weight)`` (weight 1 by default; repeated
        edges add up).
    n_tasks : int
        Number of tasks ``T``.

    Returns
    -------
    M : ndarray of shape (n_tasks, n_tasks)
        Symmetric, non-negative, zero diagonal (float64).
    """
    if isinstance(adjacency, str):
        if adjacency == "chain":
            M = np.zeros((n_tasks, n_tasks))
            idx = np.arange(n_tasks - 1)
            M[idx, idx + 1] = M[idx + 1, idx] = 1.0
            return M
        if adjacency in ("complete", "fully_connected"):
            return np.ones((n_tasks, n_tasks)) - np.eye(n_tasks)
        if adjacency in ("mean", "mean_regularized"):
            return (np.ones((n_tasks, n_tasks)) - np.eye(n_tasks)) / n_tasks
        raise ValueError(
            "adjacency must be 'chain', 'complete', 'mean', a (n_tasks, n_tasks) "
            f"weight matrix or a list of edges (s, t[, weight]), got {adjacency!r}."
        )
    if _is_edge_list(adjacency):
        return _edge_weights(adjacency, n_tasks)
    M = np.array(adjacency, dtype=np.float64)
    if M.ndim != 2 or M.shape[0] != M.shape[1]:
        raise ValueError(
            f"adjacency must be a square matrix, got shape {M.shape}."
        )
    if M.shape[0] != n_tasks:
        raise ValueError(
            f"adjacency has shape {M.shape} but Y has {n_tasks} tasks; it must be "
            f"({n_tasks}, {n_tasks})."
        )
    if not np.all(np.isfinite(M)) or np.any(M < 0):
        raise ValueError("adjacency weights must be finite and non-negative.")
    if not np.allclose(M, M.T, rtol=0, atol=PSD_TOL * max(1.0, np.abs(M).max())):
        raise ValueError("adjacency must be symmetric (an undirected graph).")
    M = 0.5 * (M + M.T)
    np.fill_diagonal(M, 0.0)
    return M


def graph_laplacian(weights):
    """``L = diag(M 1) - M`` of an edge-weight matrix ``M`` (NumPy)."""
    return np.diag(weights.sum(axis=1)) - weights


class Graph(TaskStructure):
    r"""Tasks related by a weighted graph (Evgeniou, Micchelli & Pontil 2005).

    With ``M`` the symmetric non-negative ``T x T`` edge-weight matrix and
    ``L = diag(M 1) - M`` its Laplacian, the penalty (times ``alpha``) is::

        sum_t ||f_t||^2 + strength * 1/2 sum_{s,t} M[s, t] ||f_s - f_t||^2

    i.e. ``A = (I + strength * L)^{-1}``. This is the ``A = (L + eta I)^{-1}`` of
    Evgeniou, Micchelli & Pontil with ``eta = 1 / strength``, scaled by ``eta`` (the
    scale is absorbed into ``alpha``), so that ``strength = 0`` is independent tasks
    whatever the graph. The complete graph with weights ``1 / T``
    (``adjacency="mean"``) is :class:`MeanRegularized`. The linear family's
    :class:`~rkhsmtl.linear.GraphPenalty` takes the same ``adjacency``.

    Parameters
    ----------
    adjacency : {"chain", "complete", "mean"}, array-like or list, default="chain"
        Edge weights between tasks (an ``(n_tasks, n_tasks)`` array, symmetric,
        non-negative; the diagonal is ignored), a list of edges ``(s, t)`` or
        ``(s, t, weight)``, or a shortcut: ``"chain"`` links task ``t`` to
        ``t + 1`` (e.g. consecutive years), ``"complete"`` links every pair with
        weight 1, ``"mean"`` every pair with weight ``1 / T``.
    strength : float, default=1.0
        How strongly linked tasks are pulled together (``>= 0``).
    """

    def __init__(self, adjacency="chain", strength=1.0):
        self.adjacency = adjacency
        self.strength = strength

    def weights(self, n_tasks):
        """The edge-weight matrix ``M`` for ``n_tasks`` tasks (validated).

        Parameters
        ----------
        n_tasks : int
            Number of tasks.

        Returns
        -------
        M : ndarray of shape (n_tasks, n_tasks)
        """
        return graph_weights(self.adjacency, n_tasks)

    def _matrix(self, n_tasks):
        s = _check_strength(self.strength)
        L = graph_laplacian(self.weights(n_tasks))
        return np.linalg.inv(np.eye(n_tasks) + s * L)


class Clusters(TaskStructure):
    r"""Known clusters of tasks: pulled to their cluster's mean, clusters independent.

    With ``C_c`` the tasks of cluster ``c`` and ``fbar_c`` their mean function, the
    penalty (times ``alpha``) is::

        sum_t ||f_t||^2 + strength * sum_c sum_{t in C_c} ||f_t - fbar_c||^2

    so ``A`` is block diagonal (tasks of different clusters are independent) with,
    on each cluster's block, ``(I - 1 1^T / |C_c|) / (1 + strength) + 1 1^T / |C_c|``
    (:class:`MeanRegularized` within each cluster).

    Parameters
    ----------
    labels : array-like of shape (n_tasks,)
        Cluster label of each task (any hashable values).
    strength : float, default=1.0
        How strongly tasks are pulled to their cluster's mean (``>= 0``).
    """

    def __init__(self, labels, strength=1.0):
        self.labels = labels
        self.strength = strength

    def _matrix(self, n_tasks):
        s = _check_strength(self.strength)
        labels = np.asarray(self.labels)
        if labels.ndim != 1 or labels.shape[0] != n_tasks:
            raise ValueError(
                f"labels must give one cluster per task: expected shape ({n_tasks},), "
                f"got {labels.shape}."
            )
        A = np.zeros((n_tasks, n_tasks))
        for c in np.unique(labels):
            idx = np.flatnonzero(labels == c)
            size = idx.shape[0]
            block = (np.eye(size) - 1.0 / size) / (1.0 + s) + 1.0 / size
            A[np.ix_(idx, idx)] = block
        return A


class FixedMatrix(TaskStructure):
    """A task-structure matrix given by the user.

    Parameters
    ----------
    matrix : array-like of shape (n_tasks, n_tasks)
        Symmetric positive semidefinite matrix (checked within a relative tolerance
        of 1e-8).
    """

    def __init__(self, matrix):
        self.matrix = matrix

    def _matrix(self, n_tasks):
        return self.matrix
