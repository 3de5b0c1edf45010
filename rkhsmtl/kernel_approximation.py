r"""Low-rank kernel approximations: Nyström and random Fourier feature maps.

An exact kernel estimator holds the ``n x n`` kernel matrix. With an explicit
feature map ``phi`` of ``m`` components, ``k(x, x') ~ phi(x)^T phi(x')`` and the
multi-task ridge becomes a primal problem in the ``m x T`` weights ``W``
(``f_t(x) = phi(x)^T W[:, t]``, penalty ``alpha tr(W A^+ W^T)``), solved from
sufficient statistics summed over row chunks (:mod:`rkhsmtl._solvers.statistics`):
memory ``O(m^2 + m T)`` (``O(T m^2)`` with missing labels) whatever ``n``.

* :class:`NystromFeatureMap`: ``phi(x) = k(x, Z) K_ZZ^{-1/2}`` for ``m`` centres ``Z``
  (Williams & Seeger 2001), drawn uniformly or by approximate ridge leverage
  scores (Alaoui & Mahoney 2015). Any kernel; with every training point as a
  centre, ``phi(x)^T phi(x_i) = k(x, x_i)`` and the fit is the exact one.
* :class:`RandomFourierFeatureMap`: ``phi(x) = sqrt(2/m) cos(Omega^T x + b)`` for
  the shift-invariant "rbf" and "laplacian" kernels (Rahimi & Recht 2007):
  Gaussian and Cauchy frequencies respectively.

:class:`~rkhsmtl.MultiTaskKernelRidge` and :class:`~rkhsmtl.MultiTaskKernelClassifier`
use them through their ``approximation``, ``n_components``, ``nystrom_sampling``
and ``random_state`` parameters; the functions of this module below the feature
maps are those estimators' plumbing (the ridge's fit, ``partial_fit`` and Dask;
the classifier's training features, :func:`logistic_features`).
"""

from __future__ import annotations

import math
import numbers
import warnings

import numpy as np
from sklearn.utils import check_random_state

from ._backend import (
    add_to_diagonal,
    array_device,
    cho_solve,
    cholesky,
    eigh,
    to_namespace,
    to_numpy,
)
from ._memory import row_block
from ._solvers.statistics import RowStream
from ._validation import check_finite_values

__all__ = [
    "APPROXIMATIONS",
    "NystromFeatureMap",
    "RandomFourierFeatureMap",
    "ridge_leverage_scores",
]

APPROXIMATIONS = (None, "nystrom", "rff", "auto")
# The solvers of the approximate ridge (a primal solve on the features).
APPROXIMATE_RIDGE_SOLVERS = ("auto", "primal", "cg")


def effective_approximation(estimator):
    """The feature map the approximate route builds: ``approximation="auto"``
    approximates by Nyström centres (any kernel)."""
    approx = estimator.approximation
    return "nystrom" if approx == "auto" else approx


def can_approximate(estimator, solvers=APPROXIMATE_RIDGE_SOLVERS):
    """Whether ``approximation="auto"`` may fall back to features: a kernel it can
    evaluate on new inputs and a solver the approximate fit has."""
    kernel = estimator.kernel
    return (estimator.solver in solvers
            and not (isinstance(kernel, str) and kernel == "precomputed"))


def auto_approximation_warning(estimator, reason):
    """Say that ``approximation="auto"`` replaced the exact fit, and why."""
    warnings.warn(
        f"{reason} approximation='auto': fitting on a Nyström approximation of the "
        f"kernel with n_components={estimator.n_components} centres instead "
        "(solver_info_['approximation_reason']). Set approximation='nystrom' to "
        "choose it yourself, or None to keep the exact fit and its error.",
        UserWarning, stacklevel=3)
NYSTROM_SAMPLINGS = ("uniform", "leverage")
SHIFT_INVARIANT_KERNELS = ("rbf", "laplacian")


class _MovableArrays:
    """``to(xp, device)`` for a feature map whose arrays are named in ``_arrays``."""

    _arrays = ()

    def to(self, xp, device=None):
        """A copy of the map with its arrays in ``xp`` on ``device``.

        Parameters
        ----------
        xp : module
            Target namespace.
        device : object, default=None
            Target device.

        Returns
        -------
        feature_map : object
            A map of the same type.
        """
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        for name in self._arrays:
            setattr(new, name, to_namespace(getattr(self, name), xp, device))
        return new


class NystromFeatureMap(_MovableArrays):
    """Nyström features ``phi(x) = k(x, Z) U_+ diag(s_+)^{-1/2}``.

    ``K_ZZ = U diag(s) U^T``; eigenvalues below ``m * eps`` times the largest (and
    negative ones, for an indefinite kernel) are dropped, so ``n_components`` may
    be below the number of centres and ``phi(x)^T phi(x')`` is the positive
    semidefinite kernel ``k(x, Z) K_ZZ^+ k(Z, x')``.

    Parameters
    ----------
    kernel : PairwiseKernel
        The scalar kernel (not "precomputed").
    centres : array of shape (m, n_features)
        The Nyström centres.
    xp : module
        Array namespace of ``centres``.

    Attributes
    ----------
    centres : array of shape (m, n_features)
    normalization : array of shape (m, n_components)
        ``U_+ diag(s_+)^{-1/2}``.
    n_components : int
    """

    kind = "nystrom"

    _arrays = ("centres", "normalization")

    def __init__(self, kernel, centres, xp):
        self.kernel = kernel
        self.centres = centres
        # The same evaluation as the features' columns: with every training row a
        # centre, rounding differences would be amplified by K_ZZ^{-1/2}.
        K = self.columns(centres, xp)
        s, U = eigh(0.5 * (K + K.T), xp)
        m = centres.shape[0]
        threshold = max(float(s[-1]), 0.0) * m * float(xp.finfo(s.dtype).eps)
        keep = xp.nonzero(s > threshold)[0]
        if keep.shape[0] == 0:
            raise ValueError(
                "The kernel matrix of the Nyström centres is zero (numerically): "
                "check the kernel parameters (gamma) and that X is not constant."
            )
        self.normalization = (xp.take(U, keep, axis=1)
                              / xp.sqrt(xp.take(s, keep))[None, :])
        self.n_components = int(keep.shape[0])

    def transform(self, X, xp):
        """Features of the rows of ``X`` (same namespace and device as the map).

        Parameters
        ----------
        X : array of shape (n, n_features)
            Inputs.
        xp : module
            Array namespace of ``X``.

        Returns
        -------
        Phi : array of shape (n, n_components)
        """
        return self.columns(X, xp) @ self.normalization

    def columns(self, X, xp):
        """The kernel ``k(X, Z)`` between the rows of ``X`` and the centres.

        The "rbf" kernel is evaluated as ``exp(2 gamma x.z - gamma |x|^2 - gamma
        |z|^2)`` in place on the product: every row of a fit goes through here,
        and the elementwise passes over the ``rows x m`` block are the part of the
        statistics pass that BLAS does not run on every core (five passes fewer
        than the general kernel's).

        Parameters
        ----------
        X : array of shape (n, n_features)
            Inputs.
        xp : module
            Array namespace of ``X``.

        Returns
        -------
        K : array of shape (n, n_centres)
        """
        kernel = self.kernel
        if callable(kernel.kernel) or kernel.kernel != "rbf":
            return kernel(X, self.centres, xp=xp)
        gamma = kernel.gamma
        Z = self.centres
        K = X @ xp.matrix_transpose((2.0 * gamma) * Z)
        K -= (gamma * xp.sum(X * X, axis=1))[:, None]
        K -= (gamma * xp.sum(Z * Z, axis=1))[None, :]
        # Rounding can make an exponent slightly positive for x = z; 1 + eps is as
        # accurate as the clipped 1.
        K = xp.exp(K)
        check_finite_values(K, xp, f"The kernel matrix of {kernel._describe()}",
                            kernel._advice())
        return K

    def factored(self, xp):
        """``(raw, R)`` with ``transform(X) = raw(X) @ R``: the kernel columns of the
        centres and the normalisation (statistics are cheaper summed for ``raw``).

        Parameters
        ----------
        xp : module
            Array namespace of the inputs.

        Returns
        -------
        raw : callable
            ``raw(X)``: the kernel between the rows of ``X`` and the centres.
        R : array of shape (n_centres, n_components)
            The normalisation.
        """
        return (lambda X: self.columns(X, xp)), self.normalization

    def block_rows(self):
        """Rows of ``X`` per chunk so that the chunk's temporaries stay bounded."""
        m = self.centres.shape[0]
        d = self.centres.shape[1]
        # The laplacian kernel broadcasts (rows, m, d) differences.
        per_row = d if self.kernel.kernel == "laplacian" else 3
        return row_block(m, per_row + 3)



class RandomFourierFeatureMap(_MovableArrays):
    """Random Fourier features ``sqrt(2/m) cos(X Omega + b)`` of a shift-invariant kernel.

    "rbf" (``exp(-gamma |x - x'|^2)``): ``Omega ~ N(0, 2 gamma)``; "laplacian"
    (``exp(-gamma |x - x'|_1)``): ``Omega ~ Cauchy(0, gamma)``; ``b ~ U[0, 2 pi)``.
    The "rbf" draws are those of :class:`sklearn.kernel_approximation.RBFSampler`
    for the same ``random_state``.

    Parameters
    ----------
    kernel : {"rbf", "laplacian"}
        The kernel.
    gamma : float
        Its parameter.
    n_features : int
        Dimension of the inputs.
    n_components : int
        Number of features ``m``.
    random_state : int, RandomState instance or None
        Seed of the draws.
    xp : module
        Namespace of the map's arrays.
    device : object, default=None
        Their device.
    """

    kind = "rff"

    _arrays = ("frequencies", "offset")

    def __init__(self, kernel, gamma, n_features, n_components, random_state, xp,
                 device=None):
        if kernel not in SHIFT_INVARIANT_KERNELS:
            raise ValueError(
                f"approximation='rff' needs a shift-invariant kernel, one of "
                f"{SHIFT_INVARIANT_KERNELS}; got kernel={kernel!r}. Use "
                "approximation='nystrom', which works with any kernel."
            )
        rng = check_random_state(random_state)
        size = (int(n_features), int(n_components))
        if kernel == "rbf":
            omega = math.sqrt(2.0 * gamma) * rng.normal(size=size)
        else:
            omega = gamma * rng.standard_cauchy(size=size)
        offset = rng.uniform(0.0, 2.0 * math.pi, size=int(n_components))
        self.kernel_name = kernel
        self.gamma = float(gamma)
        self.frequencies = to_namespace(omega, xp, device)
        self.offset = to_namespace(offset, xp, device)
        self.n_components = int(n_components)

    def transform(self, X, xp):
        """Features of the rows of ``X``.

        Parameters
        ----------
        X : array of shape (n, n_features)
            Inputs.
        xp : module
            Array namespace of ``X``.

        Returns
        -------
        Phi : array of shape (n, n_components)
        """
        scale = math.sqrt(2.0 / self.n_components)
        return scale * xp.cos(X @ self.frequencies + self.offset[None, :])

    def block_rows(self):
        """Rows of ``X`` per chunk so that the chunk's temporaries stay bounded."""
        return row_block(self.n_components, 5)



def statistics_block_rows(feature_map):
    """Rows per chunk of the statistics pass: the map's ``block_rows()`` (within
    ``working_memory``), and at least its ``n_components``.

    A chunk's share of the statistics is a rank-``rows`` update of ``m x m``
    matrices, which BLAS runs at full speed only for ``rows`` of the order of
    ``m`` (on two cores, 700 rows at ``m = 2000`` cost about 25 % more per row
    than 2800); ``m`` rows of features take no more memory than the ``m x m``
    statistics.

    Parameters
    ----------
    feature_map : NystromFeatureMap or RandomFourierFeatureMap
        The fitted map.

    Returns
    -------
    rows : int
    """
    return max(int(feature_map.block_rows()), int(feature_map.n_components))


def ridge_leverage_scores(kernel, X, pilot, alpha, xp):
    """Approximate ridge leverage scores ``(K (K + alpha I)^{-1})_ii`` of the rows of X.

    From the Nyström features ``phi`` of ``pilot`` centres (one pass to sum
    ``G = Phi^T Phi``, one to score the rows):
    ``phi_i^T (G + alpha I)^{-1} phi_i + (k(x_i, x_i) - |phi_i|^2) / alpha``, the
    second term accounting for what the pilot misses (Musco & Musco 2017).

    Parameters
    ----------
    kernel : PairwiseKernel
        The kernel.
    X : array of shape (n, n_features)
        Inputs.
    pilot : array of shape (p, n_features)
        Uniformly drawn pilot centres.
    alpha : float
        Ridge parameter (the estimator's ``alpha``).
    xp : module
        Array namespace.

    Returns
    -------
    scores : ndarray of shape (n,)
        Non-negative scores (NumPy, on the host: they only drive the sampling).
    """
    fmap = NystromFeatureMap(kernel, pilot, xp)
    block = fmap.block_rows()
    n = X.shape[0]
    G = None
    for start in range(0, n, block):
        Phi = fmap.transform(X[start:_chunk_end(start, block, n), :], xp)
        G = Phi.T @ Phi if G is None else G + Phi.T @ Phi
    L = cholesky(add_to_diagonal(G, alpha, xp), xp)
    scores = []
    for start in range(0, n, block):
        rows = X[start:_chunk_end(start, block, n), :]
        Phi = fmap.transform(rows, xp)
        inside = xp.sum(Phi * cho_solve(L, Phi.T, xp).T, axis=1)
        missed = xp.clip(kernel.diag(rows, xp) - xp.sum(Phi * Phi, axis=1), 0.0, None)
        scores.append(to_numpy(inside + missed / alpha))
    return np.clip(np.concatenate(scores), 0.0, None)


def _chunk_end(start, block, n):
    """End of the chunk that starts at ``start``."""
    return min(start + block, n)


def weighted_sample(scores, size, rng):
    """``size`` distinct indices drawn with probabilities proportional to ``scores``.

    Sequential sampling without replacement through exponential keys
    (Efraimidis & Spirakis 2006): the ``size`` smallest ``E_i / p_i``.
    """
    p = np.asarray(scores, dtype=np.float64)
    # Rows with a zero score can still be drawn last (when few rows score > 0).
    p = p + 1e-12 * max(float(p.max()), 1e-300)
    keys = rng.exponential(size=p.shape[0]) / p
    return np.sort(np.argpartition(keys, size - 1)[:size])


# ------------------------------------------------------------------ estimator
def check_approximation_params(estimator, solvers=APPROXIMATE_RIDGE_SOLVERS):
    """Validate ``approximation``, ``n_components``, ``nystrom_sampling``.

    Parameters
    ----------
    estimator : MultiTaskKernelRidge or MultiTaskKernelClassifier
        The estimator whose parameters are checked.
    solvers : tuple of str, default=("auto", "primal", "cg")
        The values of ``solver`` that work with an approximation (the ridge's by
        default; the classifier's are "auto" and "primal").
    """
    approx = estimator.approximation
    if approx not in APPROXIMATIONS:
        raise ValueError(
            f"approximation must be None, 'nystrom', 'rff' or 'auto', got {approx!r}.")
    m = estimator.n_components
    if isinstance(m, bool) or not isinstance(m, numbers.Integral) or m < 1:
        raise ValueError(
            f"n_components must be an integer >= 1 (the number of Nyström centres "
            f"or random features), got {m!r}.")
    if estimator.nystrom_sampling not in NYSTROM_SAMPLINGS:
        raise ValueError(
            f"nystrom_sampling must be 'uniform' or 'leverage', got "
            f"{estimator.nystrom_sampling!r}.")
    if approx is None:
        return
    kernel = estimator.kernel
    if approx == "auto":
        # The exact fit first: any solver and kernel; the fallback checks its own.
        return
    if isinstance(kernel, str) and kernel == "precomputed":
        raise ValueError(
            "approximation needs a kernel it can evaluate on new inputs; "
            "kernel='precomputed' gives only the training kernel matrix. Pass the "
            "inputs and a named or callable kernel.")
    if approx == "rff" and kernel not in SHIFT_INVARIANT_KERNELS:
        raise ValueError(
            f"approximation='rff' needs a shift-invariant kernel, one of "
            f"{SHIFT_INVARIANT_KERNELS}; got kernel={kernel!r}. Use "
            "approximation='nystrom', which works with any kernel.")
    if estimator.solver not in solvers:
        choices = ("'auto', 'primal' (direct) or 'cg' (conjugate gradients when "
                   "labels are missing)" if "cg" in solvers else
                   "'auto' or 'primal' (Newton-CG on the weights of the features)")
        raise ValueError(
            f"With an approximation the fit is a primal solve on the features: "
            f"solver must be {choices}, got solver={estimator.solver!r}.")


def build_feature_map(estimator, X, xp, alpha):
    """The feature map of ``estimator`` fitted on the rows of ``X`` (compute namespace).

    Nyström centres are drawn from the rows of ``X`` (all of them in memory, or the
    first chunk of ``partial_fit``); ``n_components`` above the number of rows is
    lowered to it with a warning.
    """
    kernel = estimator._pairwise_kernel()
    rng = check_random_state(estimator.random_state)
    m = int(estimator.n_components)
    if estimator.approximation == "rff":
        return RandomFourierFeatureMap(kernel.kernel, kernel.gamma, X.shape[1], m, rng,
                                       xp, array_device(X))
    n = X.shape[0]
    if m > n:
        warnings.warn(
            f"n_components={m} is larger than the {n} samples the Nyström centres "
            f"are drawn from; using n_components={n} (every sample a centre, the "
            "exact kernel).", UserWarning, stacklevel=4)
        m = n
    idx = np.sort(rng.choice(n, size=m, replace=False))
    if estimator.nystrom_sampling == "leverage" and m < n:
        pilot = xp.take(X, to_namespace(idx, xp, array_device(X)), axis=0)
        scores = ridge_leverage_scores(kernel, X, pilot, alpha, xp)
        idx = weighted_sample(scores, m, rng)
    centres = xp.take(X, to_namespace(idx, xp, array_device(X)), axis=0)
    return NystromFeatureMap(kernel, centres, xp)


def fit_approximate(estimator, X, y, sample_weight=None, *, partial=False):
    """``fit`` (or ``partial_fit``) of MultiTaskKernelRidge with an approximation.

    Parameters
    ----------
    estimator : MultiTaskKernelRidge
        The estimator (``approximation`` is not None).
    X, y, sample_weight
        As in ``fit``; Dask arrays go to :func:`fit_dask`.
    partial : bool, default=False
        Add the statistics of these rows to those of the previous calls (the
        feature map of the first call is kept) instead of starting afresh.

    Returns
    -------
    estimator : MultiTaskKernelRidge
    """
    from ._solvers.statistics import accumulate_statistics, merge_statistics
    from ._validation import (
        validate_sample_weight,
        validate_targets,
        validate_X_predict,
    )

    check_approximation_params(estimator)
    if estimator.approximation is None:
        raise ValueError(
            "partial_fit and Dask inputs need a low-rank kernel approximation: set "
            "approximation='nystrom' (any kernel) or 'rff' (rbf, laplacian) with "
            "n_components features.")
    if is_dask_array(X):
        if partial:
            raise TypeError("partial_fit takes in-memory chunks; for a Dask array "
                            "call fit, which reduces the statistics on the cluster.")
        return fit_dask(estimator, X, y, sample_weight)
    resume = partial and getattr(estimator, "feature_map_", None) is not None
    if resume and getattr(estimator, "statistics_", None) is None:
        raise ValueError(
            "This model was fitted by passes over the rows (its per-task statistics "
            "did not fit in memory), so partial_fit cannot continue it: refit with "
            "fit, or with a smaller n_components.")
    if resume:
        from ._base import Placement

        estimator._check_params()
        X, _ = validate_X_predict(estimator, X, "partial_fit",
                                  attribute="task_structure_")
        placement = Placement(X, estimator.device)
        fmap = estimator.feature_map_.to(placement.xp, placement.device)
        tasks, previous = estimator.tasks_, estimator.statistics_
    else:
        X, placement = estimator._prepare_fit(X)
    xp = placement.xp
    Y, was_1d = validate_targets(y, X.shape[0], placement.xp_in, placement.device_in,
                                 allow_missing_tasks=partial)
    if resume and Y.shape[1] != estimator.n_tasks_:
        raise ValueError(
            f"y has {Y.shape[1]} tasks (columns) but the previous calls to "
            f"partial_fit had {estimator.n_tasks_}: every chunk needs the same tasks.")
    sample_weight = validate_sample_weight(sample_weight, Y, placement.xp_in,
                                           placement.device_in)
    alpha = float(estimator.alpha)
    Xc = placement.to_compute(X)
    if not resume:
        fmap = build_feature_map(estimator, Xc, xp, alpha)
    Yc, Wc = placement.to_compute(Y), placement.to_compute(sample_weight)
    if not partial and _per_task_does_not_fit(fmap, Yc, Wc, xp):
        # Conjugate gradients with products over row chunks: one pass per iteration.
        stream = RowStream(lambda rows: fmap.transform(rows, xp), Xc, Yc, Wc, xp,
                           fmap.block_rows())
        _solve_and_store(estimator, stream, fmap, placement, was_1d, y)
        return estimator
    transform, linear_part = _factored_transform(fmap, xp)
    stats = accumulate_statistics(
        transform, Xc, placement.to_compute(Y), placement.to_compute(sample_weight), xp,
        block_rows=statistics_block_rows(fmap), per_task=None,
        linear_part=linear_part)
    if resume:
        stats = merge_statistics(to_statistics_namespace(previous, xp,
                                                         placement.device), stats)
    _solve_and_store(estimator, stats, fmap, placement, was_1d, y)
    if resume:
        estimator.tasks_ = tasks
    return estimator


def _per_task_does_not_fit(fmap, Y, sample_weight, xp):
    """Missing labels (or per-entry weights) whose ``T`` statistics exceed the budget."""
    from ._memory import memory_budget
    from ._solvers.plan import complete_sample_weights
    from ._solvers.statistics import per_task_statistics_bytes

    if complete_sample_weights(Y, sample_weight, xp)[1]:
        return False
    need = per_task_statistics_bytes(fmap.n_components, Y.shape[1])
    return need > memory_budget(xp)


def to_statistics_namespace(stats, xp, device):
    """``stats`` with its arrays in ``xp`` on ``device``."""
    from ._solvers.statistics import FeatureStatistics

    return FeatureStatistics(*(to_namespace(a, xp, device) for a in
                               (stats.gram, stats.cross, stats.sq, stats.counts)),
                             stats.n_samples)


def _solve_and_store(estimator, stats, fmap, placement, was_1d, y):
    """Solve from the statistics and store the fitted attributes."""
    from ._solvers.statistics import solve_fixed_statistics, solve_learned_statistics
    from .structure import resolve_task_structure

    xp = placement.xp
    T = stats.n_tasks
    structure = resolve_task_structure(estimator.task_structure)
    alpha = float(estimator.alpha)
    common = {"approximation": effective_approximation(estimator),
              "n_components": fmap.n_components, "n_samples_seen": stats.n_samples}
    if structure.is_learned:
        coef, A, info = solve_learned_statistics(
            stats, structure, alpha, xp, solver=estimator.solver,
            options=estimator.solver_options, max_iter=int(estimator.max_iter),
            tol=float(estimator.tol), verbose=estimator.verbose)
        info = dict(info, solver="alternating", b_step_solver="primal",
                    primal_coef=coef, **common)
        n_iter = info["n_iter"]
    else:
        A = xp.astype(placement.to_compute(structure.task_matrix(T)), xp.float64)
        coef, info = solve_fixed_statistics(stats, A, alpha, xp,
                                            solver=estimator.solver,
                                            options=estimator.solver_options)
        info = dict(info, solver="primal", primal_coef=coef, **common)
        n_iter = 1
    estimator._store_fit(None, placement, None, A, info, n_iter=n_iter, n_tasks=T,
                         y_was_1d=was_1d, y=y)
    estimator.feature_map_ = fmap.to(placement.xp_in, placement.device_in)
    # Kept for partial_fit (the m x m or T x m x m sums of the rows seen so far).
    estimator.statistics_ = (None if isinstance(stats, RowStream) else
                             to_statistics_namespace(stats, placement.xp_in,
                                                     placement.device_in))


def predict_features(feature_map, coef_t, X, xp, rows=None):
    """``phi(X) W`` computed by chunks of rows (each row's own task with ``rows``).

    Parameters
    ----------
    feature_map : NystromFeatureMap or RandomFourierFeatureMap
        The fitted map, in the namespace of ``X``.
    coef_t : array of shape (T, m)
        ``W^T`` (the estimator's ``coef_``).
    X : array of shape (n, n_features)
        Inputs.
    xp : module
        Namespace of ``X``.
    rows : array of shape (n,) or None
        Task of every row (long layout), or None for every task.

    Returns
    -------
    values : array of shape (n, T), or (n,) with ``rows``
    """
    n = X.shape[0]
    block = feature_map.block_rows()
    shape = (n,) if rows is not None else (n, coef_t.shape[0])
    out = xp.empty(shape, dtype=coef_t.dtype, device=array_device(coef_t))
    for start in range(0, n, block):
        stop = _chunk_end(start, block, n)
        Phi = feature_map.transform(X[start:stop, :], xp)
        if rows is None:
            out[start:stop, ...] = Phi @ coef_t.T
        else:
            out[start:stop, ...] = xp.sum(
                Phi * xp.take(coef_t, rows[start:stop], axis=0), axis=1)
    return out


def logistic_features(estimator, X, placement, n_tasks):
    """Training features of MultiTaskKernelClassifier with an ``approximation``.

    The logistic loss has no sufficient statistics: Newton-CG multiplies by the
    ``n x m`` features at every Hessian product. They are held in memory when
    they fit in the budget, else recomputed by chunks of rows at every product
    (one pass over the data each). Refuses with `MemoryBudgetError`, naming
    ``n_components``, when even the streamed route does not fit.

    Parameters
    ----------
    estimator : MultiTaskKernelClassifier
        The estimator (``approximation`` is not None).
    X : array of shape (n_samples, n_features)
        Validated training inputs (input namespace).
    placement : Placement
        Where the fit computes.
    n_tasks : int
        Number of tasks.

    Returns
    -------
    features : DenseFeatures or StreamedFeatures
        ``Phi`` for the logistic solver (compute namespace).
    feature_map : NystromFeatureMap or RandomFourierFeatureMap
        The fitted map (compute namespace).
    report : dict
        ``approximation``, ``n_components``, ``n_samples_seen`` and ``features``
        ("dense" or "streamed"), for ``solver_info_``.
    """
    from ._memory import (
        check_memory,
        dense_bytes,
        eigendecomposition_bytes,
        format_bytes,
        memory_budget,
    )
    from ._solvers.logistic import DenseFeatures, StreamedFeatures

    xp = placement.xp
    Xc = placement.to_compute(X)
    n, d = (int(s) for s in Xc.shape)
    m = int(estimator.n_components)
    if effective_approximation(estimator) == "nystrom":
        m = min(m, n)
        map_bytes = eigendecomposition_bytes(m) + dense_bytes(m, d)
    else:
        map_bytes = dense_bytes(d, m)
    check_memory(map_bytes,
                 f"The {effective_approximation(estimator)!r} feature map of "
                 f"n_components={m}",
                 "Use a smaller n_components.", xp)
    fmap = build_feature_map(estimator, Xc, xp, float(estimator.alpha))
    r = fmap.n_components
    block = fmap.block_rows()
    # Newton-CG's own arrays: about ten (n, T) ones (labels, weights, scores and
    # their derivatives) and ten (r, T) ones (the CG vectors), plus one chunk of
    # features and its kernel temporaries.
    solver_bytes = (10.0 * (dense_bytes(n, n_tasks) + dense_bytes(r, n_tasks))
                    + 3.0 * dense_bytes(min(block, n), r))
    if dense_bytes(n, r) + solver_bytes <= memory_budget(xp):
        Phi = xp.empty((n, r), dtype=xp.float64, device=array_device(Xc))
        for start in range(0, n, block):
            stop = _chunk_end(start, block, n)
            Phi[start:stop, :] = fmap.transform(Xc[start:stop, :], xp)
        features, kind = DenseFeatures(Phi, xp, block), "dense"
    else:
        check_memory(
            solver_bytes,
            f"The approximate logistic fit of {n} samples and {n_tasks} tasks with "
            f"n_components={r} (its features streamed by chunks of rows)",
            "Use a smaller n_components, or fit on a random subsample of the rows: "
            "the logistic loss has no sufficient statistics, so Newton-CG holds "
            "arrays of shape (n_samples, n_tasks).", xp)
        features = StreamedFeatures(lambda rows: fmap.transform(rows, xp), Xc, r, xp,
                                    block)
        kind = "streamed"
    if estimator.verbose:
        held = (f"held in memory ({format_bytes(dense_bytes(n, r))})" if kind == "dense"
                else f"recomputed by chunks of {block} rows at every product")
        print(f"[rkhsmtl] {effective_approximation(estimator)} features: {n} samples x {r} "
              f"components, {held}", flush=True)
    report = {"approximation": effective_approximation(estimator), "n_components": r,
              "n_samples_seen": n, "features": kind}
    return features, fmap, report


# ------------------------------------------------------------------------ Dask
def is_dask_array(x):
    """Whether ``x`` is a ``dask.array.Array`` (without importing Dask)."""
    return type(x).__module__.split(".")[0] == "dask" and hasattr(x, "to_delayed")


def _block_statistics(fmap, X, Y, sample_weight, check):
    """Statistics of one in-memory block (runs on a Dask worker)."""
    from ._solvers.statistics import accumulate_statistics

    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    if Y.ndim == 1:
        Y = Y[:, None]
    if not np.all(np.isfinite(X)):
        raise ValueError("Input X contains NaN or infinity.")
    w = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    if w is not None and (not np.all(np.isfinite(w)) or np.any(w < 0)):
        raise ValueError("sample_weight must be finite and non-negative.")
    transform, linear_part = _factored_transform(fmap, np)
    return accumulate_statistics(transform, X, Y, w, np,
                                 block_rows=statistics_block_rows(fmap),
                                 per_task=check, linear_part=linear_part)


def _factored_transform(fmap, xp):
    """``(raw, R)`` of a map whose features are ``raw(X) @ R``, else ``(transform, None)``."""
    if hasattr(fmap, "factored"):
        return fmap.factored(xp)
    return (lambda rows: fmap.transform(rows, xp)), None


def fit_dask(estimator, X, y, sample_weight=None):
    """Fit on Dask arrays: statistics per block on the cluster, tree-reduced.

    One pass over the data: every block of rows of ``X`` (with the same rows of
    ``y`` and ``sample_weight``) gives its statistics on a worker, pairs of them
    are summed up a binary tree, and the ``m``-dimensional solve runs locally.
    Nyström centres (uniform) are gathered first, by one indexed read of ``X``.
    The fitted model is an ordinary in-memory estimator (NumPy attributes).

    Parameters
    ----------
    estimator : MultiTaskKernelRidge
        The estimator (with an approximation).
    X : dask.array.Array of shape (n_samples, n_features)
        Inputs, chunked by rows.
    y : dask.array.Array or array-like of shape (n_samples,) or (n_samples, n_tasks)
        Targets, NaN for missing.
    sample_weight : dask.array.Array, array-like or None
        Per-sample or per-entry weights.

    Returns
    -------
    estimator : MultiTaskKernelRidge
    """
    import dask
    import dask.array as da

    from ._base import Placement
    from ._solvers.statistics import merge_statistics
    from ._validation import reset_fitted_attributes

    estimator._check_params()
    if (estimator.nystrom_sampling == "leverage"
            and effective_approximation(estimator) == "nystrom"):
        raise ValueError(
            "nystrom_sampling='leverage' is not available for Dask arrays (it needs "
            "two extra passes over the data); use nystrom_sampling='uniform'.")
    reset_fitted_attributes(estimator)
    if X.ndim != 2:
        raise ValueError(f"Expected a 2-D Dask array for X, got shape {X.shape}.")
    n, d = (int(s) for s in X.shape)
    if math.isnan(X.shape[0]):
        raise ValueError("X has unknown chunk sizes: call X.compute_chunk_sizes().")
    X = X.rechunk({1: -1})
    y_da = da.asarray(y)
    if y_da.shape[0] != n:
        raise ValueError(
            "Found input variables with inconsistent numbers of samples: "
            f"[{n}, {y_da.shape[0]}]")
    was_1d = y_da.ndim == 1
    if was_1d:
        y_da = y_da[:, None]
    y_da = y_da.astype(np.float64).rechunk((X.chunks[0], -1))
    w_da = None
    if sample_weight is not None:
        w_da = da.asarray(sample_weight)
        if w_da.ndim == 0:
            w_da = da.full((n,), float(sample_weight), chunks=(X.chunks[0],))
        w_da = w_da.astype(np.float64).rechunk((X.chunks[0],) + ((-1,) if w_da.ndim == 2
                                                                else ()))
    estimator.n_features_in_ = d
    rng = check_random_state(estimator.random_state)
    kernel = estimator._pairwise_kernel()
    if estimator.approximation == "rff":
        fmap = RandomFourierFeatureMap(kernel.kernel, kernel.gamma, d,
                                       int(estimator.n_components), rng, np)
    else:
        m = int(estimator.n_components)
        if m > n:
            warnings.warn(
                f"n_components={m} is larger than the {n} samples the Nyström "
                f"centres are drawn from; using n_components={n}.", UserWarning,
                stacklevel=3)
            m = n
        idx = np.sort(rng.choice(n, size=m, replace=False))
        centres = np.asarray(X[idx].compute(), dtype=np.float64)
        fmap = NystromFeatureMap(kernel, centres, np)
    # Per-task statistics as soon as one block has a missing label or per-entry
    # weights; decided here so that every block has the same layout.
    missing = bool(da.isnan(y_da).any().compute())
    per_task = missing or (w_da is not None and w_da.ndim == 2)
    fmap_delayed = dask.delayed(fmap, pure=True)
    x_blocks = X.to_delayed().ravel()
    y_blocks = y_da.to_delayed().ravel()
    w_blocks = ([None] * len(x_blocks) if w_da is None else w_da.to_delayed().ravel())
    parts = [dask.delayed(_block_statistics)(fmap_delayed, xb, yb, wb, per_task)
             for xb, yb, wb in zip(x_blocks, y_blocks, w_blocks, strict=True)]
    while len(parts) > 1:
        pairs = [dask.delayed(merge_statistics)(parts[i], parts[i + 1])
                 for i in range(0, len(parts) - 1, 2)]
        if len(parts) % 2:
            pairs.append(parts[-1])
        parts = pairs
    (stats,) = dask.compute(parts[0])
    if bool(np.any(to_numpy(stats.counts) == 0)):
        empty = np.flatnonzero(to_numpy(stats.counts) == 0).tolist()
        raise ValueError(
            f"Task(s) {empty} have no observed label (all NaN or zero weight); "
            "every task needs at least one.")
    placement = Placement(np.zeros((1, d)), estimator.device)
    if placement.xp is not np:
        stats = to_statistics_namespace(stats, placement.xp, placement.device)
        fmap = fmap.to(placement.xp, placement.device)
    _solve_and_store(estimator, stats, fmap, placement, was_1d, None)
    return estimator
