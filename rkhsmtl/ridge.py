"""Multi-task kernel ridge regression with a separable kernel ``k(x, x') A``."""

from __future__ import annotations

from sklearn.base import BaseEstimator, MultiOutputMixin, RegressorMixin
from sklearn.utils.metaestimators import available_if

from ._base import (
    APPROXIMATION_PARAMS_DOC,
    SeparableKernelMixin,
    fill_doc,
    fill_task_doc,
    task_columns,
)
from ._solvers import SOLVERS, solve_fixed_structure
from ._solvers.alternating import solve_learned_structure
from ._validation import (
    output_is_float32,
    to_output_dtype,
    validate_sample_weight,
    validate_targets,
)
from .exceptions import MemoryBudgetError
from .kernel_approximation import (
    auto_approximation_warning,
    can_approximate,
    check_approximation_params,
    fit_approximate,
    is_dask_array,
)
from .metrics import nan_r2_score
from .structure import resolve_task_structure

__all__ = ["MultiTaskKernelRidge"]


@fill_doc(approximation_params=APPROXIMATION_PARAMS_DOC)
class MultiTaskKernelRidge(SeparableKernelMixin, MultiOutputMixin, RegressorMixin,
                           BaseEstimator):
    r"""Multi-task kernel ridge regression with the separable kernel ``k(x, x') A``.

    Learns ``T`` related regression tasks at once. Task ``t`` predicts
    ``f_t(x) = sum_i k(x, x_i) (C A)[i, t]`` where ``A`` (``T x T``, positive
    semidefinite) encodes how tasks share information and the dual coefficients
    ``C`` minimise

    .. math::

        J(C) = \sum_{i,t} w_{it} (Y_{it} - F_{it})^2 + \alpha\, \mathrm{tr}(C^\top K C A),
        \qquad F = K C A,

    over the observed (non-NaN) entries of ``Y``. The loss is a weighted *sum*, so
    ``task_structure="independent"`` on complete data is exactly
    :class:`sklearn.kernel_ridge.KernelRidge` fitted on every column.

    Read more in the :ref:`User Guide <ridge>`.

    Parameters
    ----------
    alpha : float, default=1.0
        Regularisation strength; must be positive.
    kernel : str or callable, default="rbf"
        Scalar kernel on inputs: "linear", "poly" (or "polynomial"), "rbf",
        "laplacian", "sigmoid", "cosine", "precomputed" (``X`` is then the kernel
        matrix) or a callable ``k(x, y, **kernel_params) -> float``, with the
        meaning of :func:`sklearn.metrics.pairwise.pairwise_kernels`.
    gamma : float, default=None
        Parameter of the rbf, laplacian, poly and sigmoid kernels;
        ``None`` means ``1 / n_features``.
    degree : float, default=3
        Degree of the polynomial kernel.
    coef0 : float, default=1
        Zero coefficient of the polynomial and sigmoid kernels.
    kernel_params : dict, default=None
        Additional parameters for a callable kernel.
    task_structure : str, TaskStructure or array-like, default="independent"
        The task-structure matrix ``A`` (an array-like must be of shape
        ``(n_tasks, n_tasks)``): a structure from :mod:`rkhsmtl.structure`
        (its parameters are tunable as ``task_structure__<param>``), a shortcut
        ("independent", "mean_regularized", "pooled", "chain", "complete"), a
        learned structure fitted together with the coefficients (e.g.
        :class:`~rkhsmtl.structure.LowRank`, or the shortcuts "low_rank",
        "relation", "okl", "clustered") or a symmetric positive semidefinite
        matrix.
    solver : {"auto", "eig", "cholesky", "cg", "primal", "factored_cg"}, default="auto"
        - "eig": closed form for complete ``Y`` and per-sample weights (one
          eigendecomposition of ``K`` and one of ``A``).
        - "cholesky": complete ``Y`` and per-sample weights: one Cholesky per
          distinct eigenvalue of ``A`` (tasks decouple in ``A``'s eigenbasis);
          otherwise the dense system on the observed entries.
        - "cg": the observed-entries system by matrix-free preconditioned conjugate
          gradients (see ``solver_options``); streams the kernel matrix when it
          does not fit in memory.
        - "primal": ``kernel="linear"`` only: the ``(n_features * n_tasks)``-order
          system of the primal coefficients (any missing-label pattern and
          weights); "auto" picks it when it is the smaller system.
        - "factored_cg": conjugate gradients on a few Cholesky factorisations of
          ``K`` shifted (complete data: any ``A`` for the price of one or two
          factorisations) or preconditioned by the complete-data solution
          (missing labels: no ``N x N`` system), run to a relative stationarity
          residual of 1e-10 (``solver_info_["relative_residual"]``).
        - "auto": the cheapest exact solver whose memory fits (including
          "factored_cg", with a direct solver as fallback).

        With an ``approximation`` only "auto", "primal" (the direct solve of the
        features' normal equations) and "cg" (conjugate gradients on them, for
        missing labels) apply; complete data always use the closed form.
    solver_options : dict, default=None
        Options of the iterative solver: ``tol`` (relative residual, 1e-7),
        ``max_iter`` (1000), ``preconditioner`` ("nystrom", "jacobi" or None) and
        ``preconditioner_rank`` (100). "factored_cg" stops at ``min(tol, 1e-10)``
        and uses ``max_iter``.
    max_iter : int, default=100
        Learned task structures only: maximum number of alternating iterations
        (over all continuation stages); a ``ConvergenceWarning`` names it when
        reached.
    tol : float, default=1e-6
        Learned task structures only: the alternating minimisation stops when its
        duality gap, an upper bound of the distance of the objective to its
        optimum, is below ``tol`` times the objective (see the User Guide).
    verbose : int, default=0
        Learned task structures only: print the objective at every iteration.
    device : {"auto", "cpu", "gpu"}, default="auto"
        Where a fit on NumPy input runs: "gpu" uses CuPy (an error if it is not
        installed), "auto" uses CuPy when it is installed and sees a GPU. Arrays of
        other namespaces are computed where they live. Fitted attributes and
        predictions are returned in the namespace of the input.
    approximation : {None, "nystrom", "rff", "auto"}, default=None
        Replace the ``n x n`` kernel matrix by a low-rank one with ``n_components``
        explicit features ``phi`` (``k(x, x') ~ phi(x)^T phi(x')``) and solve for
        the primal weights from statistics summed over row chunks: memory
        ``O(n_components**2)`` (times ``n_tasks`` with missing labels) whatever
        ``n_samples``, and :meth:`partial_fit` and Dask inputs become available.
        "nystrom": ``n_components`` centres drawn from the training rows, any
        kernel; "rff": random Fourier features of the "rbf" or "laplacian"
        kernel. None (the default) fits the exact kernel, and a fit that does not
        fit in memory raises :class:`~rkhsmtl.exceptions.MemoryBudgetError`;
        "auto" fits the exact kernel when it fits in the memory budget and
        Nyström features otherwise, with a warning and the reason in
        ``solver_info_["approximation_reason"]``. See :ref:`large_data`.
    %(approximation_params)s

    Attributes
    ----------
    dual_coef_ : array of shape (n_samples, n_tasks)
        Dual coefficients ``C`` (zero on missing entries). Only when a dual
        (kernel) solver ran; after the primal solver see ``coef_``.
    coef_ : array of shape (n_tasks, n_features) or (n_tasks, n_components)
        Only when the primal solver ran (``kernel="linear"``, ``solver_ ==
        "primal"``, or a learned structure whose B-steps were primal): the
        weights ``(X^T C A)^T``, row ``t`` that of task ``t`` (the layout of
        :class:`~rkhsmtl.linear.MultiTaskLinearRegressor`). Predictions are
        ``X @ coef_.T``, and the fitted model keeps nothing of size
        ``n_samples`` (neither ``dual_coef_`` nor ``X_fit_``). With an
        ``approximation``, the weights of the features: predictions are
        ``feature_map_.transform(X) @ coef_.T``, computed by chunks of rows.
    feature_map_ : NystromFeatureMap or RandomFourierFeatureMap
        Only with an ``approximation``: the fitted feature map (the Nyström
        centres ``centres`` and their ``normalization``, or the random
        ``frequencies`` and ``offset``; ``n_components`` features).
    statistics_ : FeatureStatistics or None
        Only with an ``approximation``: the sufficient statistics of the rows
        seen (``gram``: ``Phi^T W Phi``, one per task with missing labels;
        ``cross``: ``Phi^T W Y``; ``n_samples``), which :meth:`partial_fit`
        continues from (None after a "streamed" fit).
    task_structure_ : array of shape (n_tasks, n_tasks)
        The task-structure matrix ``A`` used (the learned one for a learned
        structure).
    objective_history_ : array of shape (`n_iter_`,)
        Learned structures only: the objective ``Q_delta`` after each alternating
        iteration (non-increasing).
    n_iter_ : int
        Number of alternating iterations for a learned structure; 1 for a fixed
        one (a single solve; CG iterations are in ``solver_info_``).
    X_fit_ : array of shape (n_samples, n_features)
        Training inputs (or the training kernel matrix with "precomputed"). Only
        when a dual (kernel) solver ran.
    n_tasks_ : int
        Number of tasks (columns of ``Y``).
    tasks_ : ndarray of shape (`n_tasks_`,)
        Task names: the column names of a DataFrame ``y``, else
        ``arange(n_tasks_)`` (in the namespace of ``X``). ``predict(X, task=...)``
        and the plots of :mod:`rkhsmtl.plotting` use them.
    solver_ : str
        The solver used.
    solver_info_ : dict
        What the solver reports (iterations of CG, number of factorisations, ...).
        Learned structures: ``converged``, ``deltas``, ``duality_gaps`` and
        ``relative_gap`` (the last gap over the objective: a certified bound of
        its relative distance to the optimum), ``n_b_steps`` and
        ``n_accelerated``.
        With an approximation: ``approximation``, ``n_components``,
        ``n_samples_seen``, ``system`` ("shared" statistics for a complete ``Y``
        with per-sample weights, else "per_task", or "streamed" when the per-task
        statistics do not fit and conjugate gradients pass over the rows) and
        ``method``; after ``approximation="auto"`` chose the approximation, also
        ``approximation_reason``.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, when ``X`` has string column names.

    See Also
    --------
    sklearn.kernel_ridge.KernelRidge : Single-task kernel ridge regression.

    Notes
    -----
    Precision: fits and predictions compute in float64 (the solvers' tolerances
    need it). Predictions come back in float32 when ``X`` is float32 (NumPy,
    another array-API library, or a DataFrame of float32 columns), in float64
    otherwise: a float32 prediction is the float32 rounding of the float64 one
    (relative difference below ``6e-8``). Fitted attributes are float64.

    Long layout: ``predict(X, task=task)`` returns the prediction of each row's
    own task, shape ``(n_samples,)``, computing only that task's column (see
    :ref:`the user guide <ridge-long-layout>`); it also works through
    :meth:`sklearn.pipeline.Pipeline.predict`.

    References
    ----------
    C. A. Micchelli and M. Pontil. On learning vector-valued functions. Neural
    Computation 17(1):177-204, 2005.

    T. Evgeniou, C. A. Micchelli and M. Pontil. Learning multiple tasks with kernel
    methods. JMLR 6:615-637, 2005.

    Examples
    --------
    >>> import numpy as np
    >>> from rkhsmtl import MultiTaskKernelRidge
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(40, 3))
    >>> Y = np.column_stack([np.sin(X[:, 0]), np.sin(X[:, 0]) + 0.1 * X[:, 1]])
    >>> Y[::3, 1] = np.nan  # missing labels
    >>> model = MultiTaskKernelRidge(alpha=0.1, task_structure="mean_regularized")
    >>> model.fit(X, Y).predict(X[:2]).shape
    (2, 2)
    """

    _solvers = SOLVERS

    def __init__(self, alpha=1.0, *, kernel="rbf", gamma=None, degree=3, coef0=1,
                 kernel_params=None, task_structure="independent", solver="auto",
                 solver_options=None, max_iter=100, tol=1e-6, verbose=0, device="auto",
                 approximation=None, n_components=100, nystrom_sampling="uniform",
                 random_state=None):
        self.alpha = alpha
        self.kernel = kernel
        self.gamma = gamma
        self.degree = degree
        self.coef0 = coef0
        self.kernel_params = kernel_params
        self.task_structure = task_structure
        self.solver = solver
        self.solver_options = solver_options
        self.device = device
        self.max_iter = max_iter
        self.tol = tol
        self.verbose = verbose
        self.approximation = approximation
        self.n_components = n_components
        self.nystrom_sampling = nystrom_sampling
        self.random_state = random_state

    def fit(self, X, y, sample_weight=None):
        """Fit the model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training inputs (the kernel matrix, ``(n_samples, n_samples)``, with
            ``kernel="precomputed"``).
        y : array-like of shape (n_samples,) or (n_samples, n_tasks)
            Targets, one column per task; NaN (or None, ``pandas.NA``) marks a
            missing label. Every task needs at least one observed label. The
            column names of a DataFrame become ``tasks_``.
        sample_weight : float or array-like of shape (n_samples,) or \
                (n_samples, n_tasks), default=None
            Non-negative weights of the squared errors (per sample, or per sample
            and task; zero means "not used").

        Returns
        -------
        self : object
            Fitted estimator.
        """
        check_approximation_params(self)
        if self.approximation not in (None, "auto") or is_dask_array(X):
            # Sufficient statistics of the features over row chunks; Dask arrays
            # are reduced on their cluster.
            return fit_approximate(self, X, y, sample_weight)
        if self.approximation is None:
            return self._fit_exact(X, y, sample_weight)
        try:
            return self._fit_exact(X, y, sample_weight)
        except MemoryBudgetError as exc:
            # The budget is checked before anything large is allocated.
            if not can_approximate(self):
                raise
            auto_approximation_warning(self, str(exc))
            fit_approximate(self, X, y, sample_weight)
            self.solver_info_ = dict(self.solver_info_, approximation_reason=str(exc))
            return self

    def _fit_exact(self, X, y, sample_weight):
        X, placement = self._prepare_fit(X)
        Y, was_1d = validate_targets(y, X.shape[0], placement.xp_in, placement.device_in)
        sample_weight = validate_sample_weight(sample_weight, Y, placement.xp_in,
                                               placement.device_in)
        n_tasks = Y.shape[1]
        structure = resolve_task_structure(self.task_structure)
        A_fixed = None if structure.is_learned else structure.task_matrix(n_tasks)
        xp = placement.xp
        gram = self._training_gram(X, placement)
        Yc, Wc = placement.to_compute(Y), placement.to_compute(sample_weight)
        if structure.is_learned:
            C, A, info = solve_learned_structure(
                gram, Yc, structure, float(self.alpha), xp, sample_weight=Wc,
                solver=self.solver, options=self.solver_options,
                max_iter=int(self.max_iter), tol=float(self.tol), verbose=self.verbose)
            n_iter = info["n_iter"]
        else:
            A = xp.astype(placement.to_compute(A_fixed), Yc.dtype)
            C, info = solve_fixed_structure(gram, Yc, A, float(self.alpha), xp,
                                            sample_weight=Wc, solver=self.solver,
                                            options=self.solver_options)
            n_iter = 1
        self._store_fit(X, placement, C, A, info, n_iter=n_iter, n_tasks=n_tasks,
                        y_was_1d=was_1d, y=y)
        return self

    @available_if(lambda self: self.approximation is not None)
    def partial_fit(self, X, y, sample_weight=None):
        """Add a chunk of rows to the fit (with ``approximation`` only).

        The first call (or the first after :meth:`fit` without an approximation)
        fixes the feature map: Nyström centres are drawn from *this first chunk*
        (give it at least ``n_components`` rows drawn at random, e.g. a shuffled
        first block), random Fourier features from ``n_features`` alone. Every call
        adds the chunk's sufficient statistics to those of the previous calls and
        solves the ``n_components``-dimensional problem again, so the model after
        the last call is the one-shot :meth:`fit` on all the rows with the same
        feature map. Works with fixed and learned task structures (a learned one
        is re-estimated from the accumulated statistics at every call). A
        :meth:`fit` with an approximation can be continued by ``partial_fit``.

        Parameters
        ----------
        X : array-like of shape (n_chunk, n_features)
            Inputs of the chunk (e.g. a slice of a memory-mapped array).
        y : array-like of shape (n_chunk,) or (n_chunk, n_tasks)
            Targets of the chunk, NaN for missing; the same tasks at every call.
        sample_weight : float or array-like of shape (n_chunk,) or \
                (n_chunk, n_tasks), default=None
            Non-negative weights of the chunk's squared errors.

        Returns
        -------
        self : object
            Fitted estimator.
        """
        return fit_approximate(self, X, y, sample_weight, partial=True)

    @fill_task_doc
    def predict(self, X, task=None):
        """Predict every task at ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs (with ``kernel="precomputed"``, the kernel matrix between these
            inputs and the training inputs, ``(n_samples, n_samples_fit)``).
        %(task)s

        Returns
        -------
        Y_pred : array of shape (n_samples, n_tasks)
            Predictions for every task (shape ``(n_samples,)`` when fitted on a
            1-D ``y`` or with ``task``), in the namespace of ``X``; float32 for
            float32 ``X``, float64 otherwise.
        """
        float32 = output_is_float32(X)
        columns = task_columns(self, task)
        pred, xp_in, _ = self._kernel_expansion(X, "predict", columns)
        if self._y_was_1d and columns is None:
            pred = xp_in.reshape(pred, (-1,))
        return to_output_dtype(pred, float32)

    def predict_new_task(self, X, descriptors):
        """Predict tasks never seen in training from their descriptors alone.

        Needs a model fitted with task descriptors: ``task_structure`` a
        :class:`~rkhsmtl.structure.TaskDescriptorKernel`, or a learned structure
        whose ``prior`` is one. The prediction of a new task with descriptor
        ``z`` is ``f_z(x) = sum_i k(x, x_i) sum_t C[i, t] A_ext[t, z]``, where
        ``A_ext[t, z]`` relates it to training task ``t``:

        - fixed structure: ``A_ext[t, z] = shared + k_T(z_t, z)``. This is
          exactly the prediction of the model refitted with the new task as one
          more column of ``Y``, all missing (a task without labels has zero
          dual coefficients and leaves the others' unchanged);
        - learned structure with prior ``A0``: the new task is the prior's
          regression on the training tasks, ``f_z = sum_t beta_t f_t`` with
          ``beta = A0^{-1} A0[:, z]``; with ``A = A0`` it is the fixed case.
          See :ref:`new-tasks-learned` for when this is exact.

        Read more in the :ref:`User Guide <new_tasks>`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs (the kernel matrix to the training inputs with
            ``kernel="precomputed"``).
        descriptors : array-like of shape (n_descriptor_features,) or \
                (n_new_tasks, n_descriptor_features)
            One new task's descriptor, or one row per new task, on the scale of
            the training tasks' descriptors.

        Returns
        -------
        Y_pred : array of shape (n_samples,) or (n_samples, n_new_tasks)
            One column per new task (1-D for one 1-D descriptor), in the
            namespace of ``X``; float32 for float32 ``X``.

        Raises
        ------
        ValueError
            If the task structure has no descriptors, or it was changed after
            ``fit``.

        Warns
        -----
        UserWarning
            When a new task's descriptor kernel to every training task is ~0: its
            prediction is then 0.
        """
        from ._new_tasks import predict_new_task

        return predict_new_task(self, X, descriptors)

    def fold_in_task(self, X, y, descriptor, *, sample_weight=None, task_name=None):
        """A copy of the model with one more task, fitted from a few labels.

        The training tasks keep their fitted functions; the new task's is its
        zero-shot prediction (:meth:`predict_new_task`) plus a part of its own
        ``g``, fitted to the new labels by an ``n_new``-dimensional kernel ridge
        system: ``g`` minimises the extended model's objective (the new task as
        one more column of ``Y``) with the training tasks' functions held fixed.
        The exact alternative refits every task on the extended data (the
        returned model's ``task_structure`` already describes ``T + 1`` tasks);
        how far the two are apart is measured in :ref:`new-tasks-fold-in`.

        Read more in the :ref:`User Guide <new_tasks>`.

        Parameters
        ----------
        X : array-like of shape (n_new, n_features)
            The new task's inputs.
        y : array-like of shape (n_new,)
            Its labels; NaN marks a missing one.
        descriptor : array-like of shape (n_descriptor_features,)
            Its descriptor.
        sample_weight : float or array-like of shape (n_new,), default=None
            Weights of its squared errors.
        task_name : object, default=None
            Its name, appended to ``tasks_`` (default: the next integer when the
            task names are integers, else ``"task_<T>"``).

        Returns
        -------
        model : MultiTaskKernelRidge
            A new fitted model with ``n_tasks_ + 1`` tasks, the new one last; this
            model is not modified. Its ``dual_coef_`` has rows for the new inputs
            (nonzero on the old tasks' columns too, where they cancel the new
            task's influence on the old tasks) and ``solver_info_["folded_in"]``
            records the tasks added.

        Raises
        ------
        ValueError
            If the task structure has no descriptors, with
            ``kernel="precomputed"``, or for more than one descriptor.
        """
        from ._new_tasks import fold_in_task

        return fold_in_task(self, X, y, descriptor, sample_weight=sample_weight,
                            task_name=task_name)

    def score(self, X, y, sample_weight=None):
        """Mean over tasks of the coefficient of determination on observed entries.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Test inputs.
        y : array-like of shape (n_samples,) or (n_samples, n_tasks)
            True labels, NaN for missing (ignored).
        sample_weight : array-like of shape (n_samples,) or (n_samples, n_tasks), \
                default=None
            Weights.

        Returns
        -------
        score : float
            See :func:`rkhsmtl.metrics.nan_r2_score` (tasks with fewer than two
            observed labels are left out).
        """
        return nan_r2_score(y, self.predict(X), sample_weight=sample_weight)
