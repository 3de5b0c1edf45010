"""Multi-task kernel ridge with ``alpha``, ``gamma`` and the task structure chosen by
exact leave-one-out, GCV or refits on folds, at the cost of about one fit."""

from __future__ import annotations

import math
import numbers
import warnings

import numpy as np
from sklearn.base import BaseEstimator, MultiOutputMixin, RegressorMixin, clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import check_cv

from ._backend import array_device, to_namespace, to_numpy
from ._base import Placement, VersionedStateMixin, fill_doc
from ._delegate import RefitDelegateMixin, refit_method
from ._kernel_search import KernelGridSearchMixin
from ._memory import check_memory, eigendecomposition_bytes, memory_budget
from ._solvers import SOLVERS, solve_fixed_structure
from ._solvers.alternating import solve_learned_structure
from ._solvers.complete import kernel_eigh, task_eigh
from ._solvers.loo import (
    LOO_MEMORY_ADVICE,
    LOO_MODES,
    complete_loo_path,
    gcv_scores,
    observed_loo_path,
    primal_loo_path,
    task_rank,
    weighted_mean_squares,
)
from ._solvers.plan import complete_sample_weights
from ._validation import (
    SPLITTER_ADVICE,
    entry_weights,
    reset_fitted_attributes,
    task_names,
    validate_sample_weight,
    validate_targets,
    validate_X_fit,
)
from .kernels import PairwiseKernel, TrainingGram
from .model_selection import MultiTaskStratifiedKFold
from .ridge import MultiTaskKernelRidge
from .structure import resolve_task_structure

__all__ = ["MultiTaskKernelRidgeCV"]

# Six decades: the closed forms make every extra alpha cost O(n^2 T), so the
# default grid is wider than RidgeCV's (0.1, 1, 10).
DEFAULT_ALPHAS = (0.001, 0.01, 0.1, 1.0, 10.0, 100.0)

# The documentation of MultiTaskKernelClassifierCV shares these (%(name)s).
SEARCH_DOCS = {
    "kernel_params": """degree : float, default=3
        Degree of the polynomial kernel.
    coef0 : float, default=1
        Zero coefficient of the polynomial and sigmoid kernels.
    kernel_params : dict, default=None
        Additional parameters of a callable kernel.""",
    "selected_attributes": """alpha_ : float
        The selected ``alpha``.
    gamma_ : float or None
        The selected ``gamma`` (a value of ``gammas``; None for the default).
    task_structure_ : array of shape (n_tasks, n_tasks)
        The task-structure matrix of the refitted model (the learned one for a
        learned structure); only with ``refit=True``.
    best_params_ : dict
        ``{"alpha": ..., "gamma": ..., "task_structure": ...}`` of the best
        candidate (the structure as given in ``task_structures``).""",
    "data_attributes": """n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, when ``X`` has string column names.
    n_tasks_ : int
        Number of tasks.
    tasks_ : ndarray of shape (`n_tasks_`,)
        Task names (the column names of a DataFrame ``y``).""",
}


class _PredictionTable(RegressorMixin, BaseEstimator):
    """Stands in for a fitted regressor whose predictions are already known.

    A scorer is called as ``scorer(_PredictionTable(), predictions, Y)``: its
    ``predict`` returns its input, so any scorer scores a table of leave-one-out
    (or held-out) predictions as if an estimator had made them.
    """

    def predict(self, X):
        return X

    def fit(self, X, y=None):  # pragma: no cover - never fitted; for the API only
        return self


@fill_doc(**SEARCH_DOCS)
class MultiTaskKernelRidgeCV(RefitDelegateMixin, KernelGridSearchMixin, VersionedStateMixin,
                             MultiOutputMixin, RegressorMixin, BaseEstimator):
    r"""Multi-task kernel ridge with built-in selection of alpha, gamma and structure.

    Chooses ``alpha``, the kernel's ``gamma`` and the task structure of
    :class:`MultiTaskKernelRidge` on a grid, by **exact leave-one-out** (the
    default, ``cv=None``), by generalised cross-validation (``loo="gcv"``), or by
    refits on folds (``cv`` an integer or a splitter), then refits the best
    candidate on all the data. Leave-one-out costs about one fit: complete targets
    with per-sample weights need one eigendecomposition of the kernel matrix per
    ``gamma``, shared by every ``alpha`` and every fixed structure, and one of
    ``A`` per structure; each ``alpha`` then costs :math:`O(n^2 T + n T^3)`.
    Missing labels or per-entry weights need one Cholesky factorisation of the
    observed-entries system per ``alpha``. With ``kernel="linear"`` and few
    features the leave-one-out runs in the primal instead, on a system of order
    ``n_features`` times the rank of ``A`` (see :attr:`loo_solver_`).

    Read more in the :ref:`User Guide <model_selection>`.

    Parameters
    ----------
    alphas : array-like of float, default=(0.001, 0.01, 0.1, 1.0, 10.0, 100.0)
        Values of ``alpha`` to try (positive). The default spans six decades,
        wider than :class:`~sklearn.linear_model.RidgeCV`'s, as every extra value
        is cheap. The loss is a weighted *sum* (see :class:`MultiTaskKernelRidge`),
        so good values grow with the noise level, not with ``n_samples``.
    kernel : str or callable, default="rbf"
        Scalar kernel, as in :class:`MultiTaskKernelRidge`.
    gammas : array-like of float or None, default=None
        Values of the kernel's ``gamma`` to try; None tries only ``gamma=None``
        (``1 / n_features``). Each value costs one kernel matrix and one
        eigendecomposition (or, with missing labels, one factorisation per
        ``alpha``).
    %(kernel_params)s
    task_structures : list, default=("independent",)
        Task structures to try, each as ``task_structure`` of
        :class:`MultiTaskKernelRidge` takes it (a name, a structure object or a
        ``T x T`` matrix). A grid of strengths is a list of structures, e.g.
        ``[MeanRegularized(strength=s) for s in (0.1, 1, 10)]``. Learned
        structures are scored along a warm-started path of ``alphas`` with ``A``
        held at its learned value (see Notes).
    cv : int, cross-validation generator, iterable or None, default=None
        None: exact leave-one-out (or GCV), from one fit on all the data. An
        integer: that many folds of
        :class:`~rkhsmtl.model_selection.MultiTaskStratifiedKFold` (every task's
        labels spread over the folds). A splitter or an iterable of
        ``(train, test)`` splits is used as given. With folds the scores are those
        of ``MultiTaskGridSearchCV`` on the same grid (each fold fitted once per
        ``gamma`` and structure for all ``alphas``).
    loo : {"entry", "sample", "gcv"}, default="entry"
        With ``cv=None``: "entry" leaves out one observed label at a time,
        "sample" all the labels of one sample (row) at once (the analogue of
        leaving out a row of a multi-output problem), "gcv" uses generalised
        cross-validation, :math:`N \sum w r^2 / (N - \operatorname{tr} S)^2`
        (Golub, Heath & Wahba 1979). Ignored with folds.
    scoring : str, callable or None, default=None
        None: the negated weighted mean squared error over the ``N`` left-out
        entries, :math:`-\frac1N \sum w_{it} r_{it}^2` (with the fit's
        ``sample_weight``; for "gcv" minus the GCV value). A name accepted by
        :func:`rkhsmtl.metrics.get_scorer` (``"r2"``,
        ``"neg_mean_squared_error"``, ...) or a scorer callable scores the table
        of leave-one-out predictions (or of each test fold) as the predictions
        of a model, unweighted; greater is better.
    refit : bool, default=True
        Refit the best candidate on all the data (``best_estimator_``,
        ``predict``); False keeps only the scores.
    solver : {"auto", "eig", "cholesky", "cg", "primal", "factored_cg"}, default="auto"
        Solver of the refit and of the fold fits with missing labels, as in
        :class:`MultiTaskKernelRidge` ("primal" applies to the refit only: the
        selection takes its own path, see :attr:`loo_solver_`, with "auto" in its
        place).
    solver_options : dict, default=None
        Options of the iterative solver, as in :class:`MultiTaskKernelRidge`.
    max_iter : int, default=100
        Learned structures: maximum number of alternating iterations per fit.
    tol : float, default=1e-6
        Learned structures: stopping tolerance of the alternating minimisation.
    device : {"auto", "cpu", "gpu"}, default="auto"
        Where the computation runs, as in :class:`MultiTaskKernelRidge`.

    Attributes
    ----------
    %(selected_attributes)s
    best_score_ : float
        Its score (greater is better).
    best_index_ : int
        Its row in ``cv_results_``.
    n_splits_ : int
        Number of folds (1 for leave-one-out and GCV).
    cv_results_ : dict of ndarray
        One row per candidate, in the order of scikit-learn's ``GridSearchCV`` on
        the grid ``{"alpha": alphas, "gamma": gammas, "task_structure":
        task_structures}`` (``alpha`` slowest): ``params``, ``param_alpha``,
        ``param_gamma``, ``param_task_structure``, ``mean_test_score``,
        ``rank_test_score``, ``mean_test_score_task_<k>`` (the score of task ``k``
        alone), and with folds ``split<i>_test_score`` and ``std_test_score``.
    best_estimator_ : MultiTaskKernelRidge
        The best candidate refitted on all the data (``refit=True``).
    n_iter_ : int
        ``n_iter_`` of the refit (alternating iterations of a learned structure,
        1 for a fixed one); only with ``refit=True``.
    loo_solver_ : {"primal", "complete", "observed"} or None
        How the leave-one-out (or GCV) was computed: "complete", the closed form
        of complete targets from one eigendecomposition of the kernel matrix;
        "observed", one factorisation of the ``N x N`` observed-entries system per
        ``alpha``; "primal", with ``kernel="linear"``, the same exact values from
        a system of order ``n_features`` times the rank of ``A`` (chosen when that
        order is below the dual one: ``n_samples`` for complete targets, ``N``
        otherwise; learned structures count as full rank). None with ``cv=``
        folds.
    %(data_attributes)s

    See Also
    --------
    MultiTaskKernelRidge : The model, for one setting.
    rkhsmtl.model_selection.MultiTaskGridSearchCV : Any grid, by refits on folds.
    sklearn.linear_model.RidgeCV : The single-output linear analogue.

    Notes
    -----
    Leave-one-out is exact for fixed structures: the left-out residuals are those
    of refits without the entry (or the row), computed from the smoother of one
    fit. In the primal (``loo_solver_ == "primal"``) a learned structure's path
    also runs in the primal, and the kernel matrix is never formed. For a learned
    structure, ``A`` is learned on all the data at each
    ``alpha`` (starting from the ``A`` learned at the previous, larger ``alpha``)
    and the leave-one-out holds ``A`` at that value: it ignores how ``A`` itself
    would change without the left-out entry, so it is not an exact leave-one-out
    of the whole learning procedure (use ``cv=`` folds for that).

    References
    ----------
    G. H. Golub, M. Heath and G. Wahba. Generalized cross-validation as a method
    for choosing a good ridge parameter. Technometrics 21(2):215-223, 1979.

    Examples
    --------
    >>> import numpy as np
    >>> from rkhsmtl import MultiTaskKernelRidgeCV
    >>> from rkhsmtl.structure import MeanRegularized
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(40, 3))
    >>> Y = np.column_stack([np.sin(X[:, 0]), np.sin(X[:, 0]) + 0.1 * X[:, 1]])
    >>> Y[::3, 1] = np.nan  # missing labels
    >>> model = MultiTaskKernelRidgeCV(
    ...     alphas=[0.01, 0.1, 1.0], gammas=[0.1, 1.0],
    ...     task_structures=[MeanRegularized(strength=s) for s in (0.1, 10.0)],
    ... ).fit(X, Y)
    >>> model.predict(X[:2]).shape
    (2, 2)
    """

    def __init__(self, alphas=DEFAULT_ALPHAS, *, kernel="rbf", gammas=None, degree=3,
                 coef0=1, kernel_params=None, task_structures=("independent",),
                 cv=None, loo="entry", scoring=None, refit=True, solver="auto",
                 solver_options=None, max_iter=100, tol=1e-6, device="auto"):
        self.alphas = alphas
        self.kernel = kernel
        self.gammas = gammas
        self.degree = degree
        self.coef0 = coef0
        self.kernel_params = kernel_params
        self.task_structures = task_structures
        self.cv = cv
        self.loo = loo
        self.scoring = scoring
        self.refit = refit
        self.solver = solver
        self.solver_options = solver_options
        self.max_iter = max_iter
        self.tol = tol
        self.device = device

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.single_output = True
        tags.input_tags.pairwise = (isinstance(self.kernel, str)
                                    and self.kernel == "precomputed")
        tags.array_api_support = True
        return tags

    # fit takes the whole wide problem: Y (n, T) with NaN, sample_weight (n, T).
    _accepts_wide_targets = True
    _estimator = MultiTaskKernelRidge
    _namespace_attribute = "task_structure_"

    @property
    def _inner_solver(self):
        # The selection's own fits choose their solver: "primal" would fail on the
        # precomputed kernel matrix of the dual paths.
        return "auto" if self.solver == "primal" else self.solver

    # ------------------------------------------------------------------ checks
    def _check_grid(self):
        alphas, gammas, structures = self._check_kernel_grid()
        if self.loo not in LOO_MODES:
            raise ValueError(f"loo must be one of {LOO_MODES}, got {self.loo!r}.")
        if self.solver not in SOLVERS:
            raise ValueError(f"solver must be one of {SOLVERS}, got {self.solver!r}.")
        return alphas, gammas, structures

    def _kernel(self, gamma):
        return PairwiseKernel(self.kernel, gamma=gamma, degree=self.degree,
                              coef0=self.coef0, kernel_params=self.kernel_params,
                              n_features=self.n_features_in_)

    # --------------------------------------------------------------------- fit
    def fit(self, X, y, sample_weight=None):
        """Score every candidate, then refit the best on all the data.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training inputs (the kernel matrix with ``kernel="precomputed"``).
        y : array-like of shape (n_samples,) or (n_samples, n_tasks)
            Targets; NaN (or None, ``pandas.NA``) marks a missing label.
        sample_weight : float or array-like of shape (n_samples,) or \
                (n_samples, n_tasks), default=None
            Non-negative weights of the squared errors, used by every fit and by
            the default score.

        Returns
        -------
        self : object
            Fitted estimator.
        """
        alphas, gammas, specs = self._check_grid()
        scorer = self._scorer()
        reset_fitted_attributes(self)
        precomputed = isinstance(self.kernel, str) and self.kernel == "precomputed"
        X_checked, _ = validate_X_fit(self, X, check_scale=not precomputed)
        n = X_checked.shape[0]
        if precomputed and X_checked.shape[1] != n:
            raise ValueError(
                f"With kernel='precomputed', X must be the square training kernel "
                f"matrix, got shape {tuple(X_checked.shape)}.")
        placement = Placement(X_checked, self.device)
        Y, _ = validate_targets(y, n, placement.xp_in, placement.device_in)
        weights = validate_sample_weight(sample_weight, Y, placement.xp_in,
                                         placement.device_in)
        T = Y.shape[1]
        structures = [resolve_task_structure(s) for s in specs]
        for structure in structures:
            if not structure.is_learned:
                structure.task_matrix(T)  # validates it before any work
        xp = placement.xp
        problem = _Problem(placement.to_compute(Y), placement.to_compute(weights), xp)
        Xc = placement.to_compute(X_checked)
        if self.cv is None:
            scores, per_task = self._loo_scores(Xc, problem, alphas, gammas,
                                                structures, scorer)
            splits = None
        else:
            scores, per_task, splits = self._fold_scores(Xc, problem, alphas, gammas,
                                                         structures, scorer)
            self.loo_solver_ = None
        self._store_results(scores, per_task, splits, alphas, gammas, specs)
        self.n_tasks_ = int(T)
        if self.refit:
            params = self.best_params_
            self.best_estimator_ = self._ridge(params).fit(X, y,
                                                           sample_weight=sample_weight)
            self.task_structure_ = self.best_estimator_.task_structure_
            self.n_iter_ = self.best_estimator_.n_iter_
            self.tasks_ = self.best_estimator_.tasks_
        else:
            self.tasks_ = task_names(y, T, placement.xp_in, placement.device_in)
        return self

    def _ridge(self, params):
        return MultiTaskKernelRidge(
            alpha=params["alpha"], kernel=self.kernel, gamma=params["gamma"],
            degree=self.degree, coef0=self.coef0, kernel_params=self.kernel_params,
            task_structure=clone(params["task_structure"], safe=False),
            solver=self.solver, solver_options=self.solver_options,
            max_iter=self.max_iter, tol=self.tol, device=self.device)

    def _learned(self, gram, problem, structure, alphas, xp):
        """The warm path of a learned structure: ``(alpha index, C, A)``, largest
        ``alpha`` first, each point started from the previous point's ``A``."""
        A = None
        for j in sorted(range(len(alphas)), key=lambda j: -alphas[j]):
            with warnings.catch_warnings():
                # A point of the path that stops at max_iter is still scored; the
                # refit warns if the selected one does.
                warnings.simplefilter("ignore", ConvergenceWarning)
                C, A, _ = solve_learned_structure(
                    gram, problem.Y, structure, alphas[j], xp,
                    sample_weight=problem.weights, solver=self._inner_solver,
                    options=self.solver_options, max_iter=int(self.max_iter),
                    tol=float(self.tol), initial_structure=A)
            yield j, C, A

    def _loo_scores(self, Xc, problem, alphas, gammas, structures, scorer):
        """Exact leave-one-out (or GCV) scores, shape (n_gammas, n_structures,
        n_alphas), and the per-task scores (..., T)."""
        xp = problem.xp
        n, T = problem.Y.shape
        shape = (len(gammas), len(structures), len(alphas))
        scores = np.full(shape, np.nan)
        per_task = np.full(shape + (T,), np.nan)
        mode = self.loo
        self.loo_solver_ = self._loo_solver(Xc, problem, structures)
        if self.loo_solver_ == "primal":
            for g, gamma in enumerate(gammas):
                # The linear kernel's feature map is X: the learned structures'
                # B-steps solve in the primal too, and no n x n matrix is formed.
                gram = TrainingGram(self._kernel(gamma), Xc, xp)
                for s, structure in enumerate(structures):
                    if structure.is_learned:
                        points = [(j, A, [alphas[j]]) for j, _, A in
                                  self._learned(gram, problem, structure, alphas, xp)]
                    else:
                        points = [(None, problem.task_matrix(structure), alphas)]
                    for j0, A, grid in points:
                        result = primal_loo_path(Xc, problem.Y, problem.W, A, grid, xp,
                                                 mode=mode)
                        for i, j in enumerate(range(len(alphas)) if j0 is None
                                              else [j0]):
                            scores[g, s, j], per_task[g, s, j] = self._loo_score(
                                result, i, problem, scorer)
            return scores, per_task
        for g, gamma in enumerate(gammas):
            if problem.complete:
                check_memory(
                    eigendecomposition_bytes(n, problem.sqrt_w is not None),
                    f"Exact leave-one-out on {n} samples (an {n}x{n} kernel matrix "
                    "and its eigendecomposition)", LOO_MEMORY_ADVICE, xp)
            gram = TrainingGram(self._kernel(gamma), Xc, xp)
            K = gram.full()
            gram = TrainingGram(PairwiseKernel("precomputed"), K, xp)
            kernel_eig = (kernel_eigh(K, xp, problem.sqrt_w) if problem.complete
                          else None)
            for s, structure in enumerate(structures):
                if structure.is_learned:
                    for j, _, A in self._learned(gram, problem, structure, alphas, xp):
                        result = _loo_path(gram, kernel_eig, problem, A, [alphas[j]],
                                           mode)
                        scores[g, s, j], per_task[g, s, j] = self._loo_score(
                            result, 0, problem, scorer)
                    continue
                A = problem.task_matrix(structure)
                result = _loo_path(gram, kernel_eig, problem, A, alphas, mode)
                for j in range(len(alphas)):
                    scores[g, s, j], per_task[g, s, j] = self._loo_score(
                        result, j, problem, scorer)
        return scores, per_task

    def _loo_solver(self, Xc, problem, structures):
        """"primal" when the linear kernel's primal system (order ``n_features``
        times the largest rank of ``A``) is smaller than the dual one; else
        "complete" or "observed"."""
        dual = "complete" if problem.complete else "observed"
        if not (isinstance(self.kernel, str) and self.kernel == "linear"):
            return dual
        n, T = problem.Y.shape
        rank = max(T if structure.is_learned
                   else task_rank(problem.task_matrix(structure), problem.xp)
                   for structure in structures)
        dual_order = n if problem.complete else int(
            problem.xp.sum(problem.xp.astype(problem.W > 0, problem.xp.int64)))
        return "primal" if Xc.shape[1] * rank < dual_order else dual

    def _loo_score(self, result, j, problem, scorer):
        xp = problem.xp
        if self.loo == "gcv":
            residuals = result.residuals[j, ...]
            trace = result.traces[j]
            if scorer is None:
                value, per_task = gcv_scores(residuals, problem.W, trace, xp)
                return -value, -_host(per_task)
            # GCV's stand-in for the left-out residuals.
            residuals = residuals / (1.0 - trace / result.n_observed)
        else:
            residuals = result.loo_residuals[j, ...]
        if scorer is None:
            value, per_task = weighted_mean_squares(residuals, problem.W, xp)
            return -value, -_host(per_task)
        return _table_scores(scorer, problem.truth, problem.truth - residuals, xp)

    def _fold_scores(self, Xc, problem, alphas, gammas, structures, scorer):
        """Scores of refits on folds, shape (n_gammas, n_structures, n_alphas,
        n_splits), the per-task scores (..., T) and the splits."""
        xp = problem.xp
        n, T = problem.Y.shape
        if isinstance(self.cv, numbers.Integral) and not isinstance(self.cv, bool):
            cv = MultiTaskStratifiedKFold(n_splits=int(self.cv))
        else:
            cv = check_cv(self.cv)
        Y_host = _host(problem.Y)
        splits = [(np.asarray(tr), np.asarray(te))
                  for tr, te in cv.split(np.zeros((n, 1)), Y_host)]
        shape = (len(gammas), len(structures), len(alphas), len(splits))
        scores = np.full(shape, np.nan)
        per_task = np.full(shape + (T,), np.nan)
        for g, gamma in enumerate(gammas):
            K = TrainingGram(self._kernel(gamma), Xc, xp).full()
            for f, (train, test) in enumerate(splits):
                fold = problem.fold(train, test, K)
                gram = TrainingGram(PairwiseKernel("precomputed"), fold.K_train, xp)
                # The closed form when its eigendecomposition fits; otherwise the
                # fold's fits go through the planned solvers (and may stream).
                closed_form = fold.train.complete and eigendecomposition_bytes(
                    len(train), fold.train.sqrt_w is not None) <= memory_budget(xp)
                kernel_eig = (kernel_eigh(fold.K_train, xp, fold.train.sqrt_w)
                              if closed_form else None)
                for s, structure in enumerate(structures):
                    if structure.is_learned:
                        fits = self._learned(gram, fold.train, structure, alphas, xp)
                    else:
                        A = problem.task_matrix(structure)
                        fits = self._fixed_fits(gram, kernel_eig, fold.train, A, alphas)
                    for j, C, A in fits:
                        pred = fold.K_test @ C @ A
                        scores[g, s, j, f], per_task[g, s, j, f] = self._fold_score(
                            scorer, fold.test, pred)
        return scores, per_task, splits

    def _fixed_fits(self, gram, kernel_eig, train, A, alphas):
        xp = train.xp
        if kernel_eig is not None:
            # One closed form for every alpha, from the fold's eigendecomposition.
            coef = complete_loo_path(kernel_eig, task_eigh(A, xp), train.Y, alphas, xp,
                                     sqrt_w=train.sqrt_w, mode="gcv").coef
            for j in range(len(alphas)):
                yield j, coef[j, ...], A
            return
        for j, alpha in enumerate(alphas):
            C, _ = solve_fixed_structure(gram, train.Y, A, alpha, xp,
                                         sample_weight=train.weights,
                                         solver=self._inner_solver,
                                         options=self.solver_options)
            yield j, C, A

    def _fold_score(self, scorer, test, pred):
        xp = test.xp
        if scorer is None:
            if not bool(xp.any(test.W > 0)):
                return math.nan, np.full(test.Y.shape[1], math.nan)
            value, per_task = weighted_mean_squares(test.truth - pred, test.W, xp)
            return -value, -_host(per_task)
        return _table_scores(scorer, test.truth, pred, xp)

    def _store_results(self, scores, per_task, splits, alphas, gammas, specs):
        # (gamma, structure, alpha, ...) -> GridSearchCV's order, alpha slowest.
        scores = np.moveaxis(scores, 2, 0)
        per_task = np.moveaxis(per_task, 2, 0)
        n_candidates = len(alphas) * len(gammas) * len(specs)
        if splits is None:
            scores = scores.reshape(n_candidates)
            per_task = per_task.reshape(n_candidates, -1)
        else:
            scores = scores.reshape(n_candidates, len(splits))
            per_task = per_task.reshape(n_candidates, len(splits), -1)
        self._store_search_results(
            alphas, gammas, specs, scores, per_task,
            no_score_advice="no left-out entry could be scored. Check the labels "
                            "and weights of the test folds.")

    # ----------------------------------------------------------------- predict
    predict = refit_method(MultiTaskKernelRidge, "predict")
    score = refit_method(MultiTaskKernelRidge, "score")


# ---------------------------------------------------------------------- helpers
def _loo_path(gram, kernel_eig, problem, A, alphas, mode):
    """The leave-one-out path of one fixed ``A``: closed form or observed entries."""
    xp = problem.xp
    if kernel_eig is not None:
        return complete_loo_path(kernel_eig, task_eigh(A, xp), problem.Y, alphas, xp,
                                 sqrt_w=problem.sqrt_w, mode=mode)
    return observed_loo_path(gram, problem.Y, problem.W, A, alphas, xp, mode=mode)


def _host(values):
    """An array as NumPy floats, also from a device that refuses the conversion
    (entry by entry: only small arrays of such devices come here)."""
    try:
        return np.asarray(to_numpy(values), dtype=float)
    except (RuntimeError, TypeError, ValueError):
        if values.ndim == 1:
            return np.asarray([float(v) for v in values], dtype=float)
        return np.asarray([[float(v) for v in row] for row in values], dtype=float)


def _table_scores(scorer, truth, pred, xp):
    """``scorer`` on a table of predictions, overall and for each task alone."""
    observed = ~xp.isnan(truth)
    # Off the scored entries the value is never read; NaN would upset a metric.
    pred = xp.where(observed, pred, xp.zeros_like(pred))
    truth_h, pred_h = _host(truth), _host(pred)
    table = _PredictionTable()
    value = _single(scorer(table, pred_h, truth_h))
    per_task = np.full(truth_h.shape[1], np.nan)
    for t in range(truth_h.shape[1]):
        if np.any(~np.isnan(truth_h[:, t])):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                per_task[t] = _single(scorer(table, pred_h[:, t:t + 1],
                                             truth_h[:, t:t + 1]))
    return value, per_task


def _single(value):
    if isinstance(value, dict):
        raise ValueError(
            "scoring must return one number per candidate; this scorer returns a "
            f"dict ({sorted(value)}). Use a scorer without per_task/average=None.")
    return float(value)


class _Problem:
    """Targets and weights of one fit in the compute namespace, and their forms.

    ``W`` holds the entry weights (zero off the observed entries), ``truth`` the
    targets with NaN wherever the weight is zero (what the scores read), and
    ``complete``/``sqrt_w`` whether the closed forms apply.
    """

    def __init__(self, Y, weights, xp):
        self.xp, self.Y, self.weights = xp, Y, weights
        self.W = entry_weights(Y, weights, xp)
        self.truth = xp.where(self.W > 0, Y, xp.full_like(Y, math.nan))
        sample_w, self.complete = complete_sample_weights(Y, weights, xp)
        self.sqrt_w = None if sample_w is None else xp.sqrt(sample_w)
        self._matrices = {}

    def task_matrix(self, structure):
        key = id(structure)
        if key not in self._matrices:
            A = structure.task_matrix(self.Y.shape[1])
            self._matrices[key] = self.xp.astype(
                to_namespace(A, self.xp, array_device(self.Y)), self.Y.dtype)
        return self._matrices[key]

    def fold(self, train, test, K):
        return _Fold(self, train, test, K)


class _Fold:
    """The training and test parts of one split, and the kernel blocks they need."""

    def __init__(self, problem, train, test, K):
        xp = problem.xp
        device = array_device(problem.Y)
        tr = to_namespace(np.asarray(train, dtype=np.int64), xp, device)
        te = to_namespace(np.asarray(test, dtype=np.int64), xp, device)

        def rows(a, idx):
            return None if a is None else xp.take(a, idx, axis=0)

        self.train = _Problem(rows(problem.Y, tr), rows(problem.weights, tr), xp)
        self.test = _Problem(rows(problem.Y, te), rows(problem.weights, te), xp)
        self.train._matrices = problem._matrices
        used = xp.sum(xp.astype(self.train.W > 0, xp.int64), axis=0)
        empty = [t for t in range(used.shape[0]) if int(used[t]) == 0]
        if empty:
            raise ValueError(
                f"Task(s) {empty} have no observed label in a training fold. "
                f"{SPLITTER_ADVICE}")
        self.K_train = xp.take(xp.take(K, tr, axis=0), tr, axis=1)
        self.K_test = xp.take(xp.take(K, te, axis=0), tr, axis=1)
