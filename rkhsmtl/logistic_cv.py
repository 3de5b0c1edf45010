"""Multi-task kernel logistic classification with ``alpha``, ``gamma`` and the task
structure chosen by cross-validation, each fold fitting warm-started paths of
``alpha`` from one kernel factorisation per ``gamma``."""

from __future__ import annotations

import inspect
import numbers
import warnings

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, MultiOutputMixin, clone
from sklearn.exceptions import ConvergenceWarning, UndefinedMetricWarning
from sklearn.model_selection import check_cv
from sklearn.utils import _safe_indexing, indexable
from sklearn.utils.metaestimators import _safe_split
from sklearn.utils.parallel import Parallel, delayed

from ._backend import array_device, get_namespace, is_numpy_namespace, to_namespace, to_numpy
from ._base import VersionedStateMixin, fill_doc
from ._delegate import RefitDelegateMixin, refit_method
from ._kernel_search import KernelGridSearchMixin
from ._labels import (
    _as_label_array,
    describe_tasks,
    encode_binary_tasks,
    missing_mask,
)
from ._validation import (
    check_consistent_rows,
    reset_fitted_attributes,
    task_names,
    validate_sample_weight,
    validate_X_fit,
)
from .exceptions import SingleClassTaskWarning
from .logistic import MultiTaskKernelClassifier, _FitData
from .metrics import accuracy_score
from .model_selection import _search_cv

# DEFAULT_ALPHAS: MultiTaskKernelRidgeCV's six decades. The loss is a weighted sum
# here too, so good values grow with the label noise, not with n_samples.
from .ridge_cv import DEFAULT_ALPHAS, SEARCH_DOCS, _single
from .structure import resolve_task_structure

__all__ = ["MultiTaskKernelClassifierCV"]


@fill_doc(**SEARCH_DOCS)
class MultiTaskKernelClassifierCV(RefitDelegateMixin, KernelGridSearchMixin,
                                  VersionedStateMixin, MultiOutputMixin, ClassifierMixin,
                                  BaseEstimator):
    r"""Multi-task kernel logistic classification with built-in selection of alpha,
    gamma and task structure.

    Chooses ``alpha``, the kernel's ``gamma`` and the task structure of
    :class:`MultiTaskKernelClassifier` by cross-validation on a grid, then refits
    the best candidate on all the data. The scores are those of
    :class:`~sklearn.model_selection.GridSearchCV` on the same grid, folds and
    scoring, at a fraction of its cost: in each training fold the kernel matrix
    is factorised once per ``gamma`` and shared by every structure and
    ``alpha``, and for each structure the ``alphas`` are fitted as a
    **warm-started path**, from the largest down, each Newton-CG solve starting
    from the previous ``alpha``'s solution (and a learned structure from the
    previous ``alpha``'s learned ``A``).

    Read more in the :ref:`User Guide <classification-cv>`.

    Parameters
    ----------
    alphas : array-like of float, default=(0.001, 0.01, 0.1, 1.0, 10.0, 100.0)
        Values of ``alpha`` to try (positive). The loss is a weighted *sum* (see
        :class:`MultiTaskKernelClassifier`), so good values do not shrink with
        ``n_samples``.
    kernel : str or callable, default="rbf"
        Scalar kernel, as in :class:`MultiTaskKernelClassifier`.
    gammas : array-like of float or None, default=None
        Values of the kernel's ``gamma`` to try; None tries only ``gamma=None``
        (``1 / n_features``). Each value costs one kernel matrix and one
        eigendecomposition per fold.
    %(kernel_params)s
    task_structures : list, default=("independent",)
        Task structures to try, each as ``task_structure`` of
        :class:`MultiTaskKernelClassifier` takes it (a name, a structure object
        or a ``T x T`` matrix), fixed or learned. A grid of strengths is a list
        of structures, e.g. ``[MeanRegularized(strength=s) for s in (0.1, 1,
        10)]``.
    cv : int, cross-validation generator, iterable or None, default=5
        An integer (None: 5) is that many folds of
        :class:`~rkhsmtl.model_selection.MultiTaskStratifiedKFold` (every class of
        every task spread over the folds), as in
        :class:`~rkhsmtl.model_selection.MultiTaskGridSearchCV`. A splitter or an
        iterable of ``(train, test)`` splits is used as given.
    scoring : str, callable or None, default=None
        None: the classifier's ``score``, the mean over tasks of the accuracy on
        each task's observed labels. A name accepted by
        :func:`rkhsmtl.metrics.get_scorer` (``"roc_auc"``, ``"neg_log_loss"``,
        ``"accuracy"``, ...) or a scorer callable ``scorer(estimator, X, y)``;
        greater is better. With ``sample_weight``, test folds are scored with
        their weights when the scorer accepts them, as ``GridSearchCV`` does.
    refit : bool, default=True
        Refit the best candidate on all the data (``best_estimator_``,
        ``predict``); False keeps only the scores.
    n_jobs : int or None, default=None
        Number of folds fitted in parallel through joblib (None means 1 unless in
        a :func:`joblib.parallel_config` context; -1 all processors). The results
        do not depend on it.
    fit_intercept : bool, default=True
        As in :class:`MultiTaskKernelClassifier`.
    class_weight : None, "balanced", dict or list, default=None
        As in :class:`MultiTaskKernelClassifier` ("balanced" is computed on each
        training fold, as a refit there would).
    single_class_tasks : {"skip", "raise"}, default="skip"
        As in :class:`MultiTaskKernelClassifier`, for the fold fits and the refit.
        A task skipped in some training fold is named once, in one
        :class:`~rkhsmtl.exceptions.SingleClassTaskWarning`.
    solver : {"auto", "eig", "primal"}, default="auto"
        As in :class:`MultiTaskKernelClassifier`.
    max_iter : int, default=100
        As in :class:`MultiTaskKernelClassifier`, for every fit.
    tol : float, default=1e-6
        As in :class:`MultiTaskKernelClassifier`, for every fit. Warm and cold
        starts reach the same optimum within it.
    device : {"auto", "cpu", "gpu"}, default="auto"
        Where the computation runs, as in :class:`MultiTaskKernelClassifier`.

    Attributes
    ----------
    %(selected_attributes)s
    best_score_ : float
        Its mean score over the folds (greater is better).
    best_index_ : int
        Its row in ``cv_results_``.
    n_splits_ : int
        Number of folds.
    cv_results_ : dict of ndarray
        One row per candidate, in the order of scikit-learn's ``GridSearchCV`` on
        the grid ``{"alpha": alphas, "gamma": gammas, "task_structure":
        task_structures}`` (``alpha`` slowest, ``task_structure`` fastest):
        ``params``, ``param_alpha``, ``param_gamma``, ``param_task_structure``,
        ``split<i>_test_score``, ``mean_test_score``, ``std_test_score``,
        ``rank_test_score`` (ties share the best rank) and
        ``mean_test_score_task_<k>``, the score of task ``k`` alone averaged over
        the folds whose test part has labels of that task (NaN for a scorer that
        cannot score one task alone).
    n_newton_iter_ : int
        Newton iterations of all the fold fits (every B-step of a learned
        structure), a measure of the selection's cost.
    best_estimator_ : MultiTaskKernelClassifier
        The best candidate refitted on all the data (``refit=True``).
    classes_ : list of ndarray of shape (2,), or ndarray of shape (2,)
        The classes of each task, as in :class:`MultiTaskKernelClassifier` (those
        of the refit; with ``refit=False`` those a fit on all the data gives).
    n_iter_ : int
        ``n_iter_`` of the refit; only with ``refit=True``.
    %(data_attributes)s

    See Also
    --------
    MultiTaskKernelClassifier : The model, for one setting.
    MultiTaskKernelRidgeCV : The same selection for kernel ridge (with exact
        leave-one-out).
    rkhsmtl.model_selection.MultiTaskGridSearchCV : Any grid, by cold refits.

    Notes
    -----
    Unlike the squared loss, the logistic loss has no closed-form leave-one-out:
    the candidates are scored on folds, and the savings are in the fits. A
    ``GridSearchCV`` of the same grid factorises the kernel matrix of every fold
    once per candidate; here once per ``gamma``.

    The warm path changes nothing beyond the solver's tolerance: the stopping
    rule of Newton-CG is relative to the gradient of the zero model, whatever the
    starting point, so each point of the path is the optimum at its ``alpha``
    within ``tol``, as a cold fit is (the test suite compares both, and the
    scores with ``GridSearchCV``, to ``1e-6``). On the example of the User Guide
    (120 samples, 3 tasks, 5 folds, two fixed structures) the path takes 18 %
    fewer Newton iterations than cold starts with the default six ``alphas``
    (354 against 433) and 31 % fewer with twenty (977 against 1423).
    ``n_newton_iter_`` reports the count. A learned structure restarts its
    alternating minimisation from the prior ``A`` at every ``alpha`` (its
    continuation in :math:`\delta` starts over anyway) and only its first
    B-step starts from the previous ``alpha``'s coefficients, which saves about
    2 % of its Newton iterations.

    Examples
    --------
    >>> import numpy as np
    >>> from rkhsmtl import MultiTaskKernelClassifierCV
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(60, 2))
    >>> Y = np.column_stack([X[:, 0] > 0, X[:, 0] + 0.3 * X[:, 1] > 0]).astype(float)
    >>> Y[::4, 1] = np.nan  # missing labels
    >>> clf = MultiTaskKernelClassifierCV(
    ...     alphas=[0.1, 1.0, 10.0], task_structures=["independent", "mean_regularized"],
    ...     cv=3).fit(X, Y)
    >>> clf.predict_proba(X[:3]).shape
    (3, 2)
    """

    # Cold starts instead of the warm path: only to measure what the path saves.
    _warm_path = True
    # Also start a learned structure's alternating minimisation from the A learned
    # at the previous alpha. Off: its continuation in delta restarts at the
    # largest delta, where that A (learned at the smallest) is a worse start than
    # the prior. On small problems (TaskRelation, LowRank; 60 samples, 3 tasks) it
    # took 10 % to three times more Newton iterations than the coefficients alone,
    # and its result differs from a cold fit's by the alternating tolerance
    # instead of by round-off.
    _warm_structure = False

    def __init__(self, alphas=DEFAULT_ALPHAS, *, kernel="rbf", gammas=None, degree=3,
                 coef0=1, kernel_params=None, task_structures=("independent",), cv=5,
                 scoring=None, refit=True, n_jobs=None, fit_intercept=True,
                 class_weight=None, single_class_tasks="skip", solver="auto",
                 max_iter=100, tol=1e-6, device="auto"):
        self.alphas = alphas
        self.kernel = kernel
        self.gammas = gammas
        self.degree = degree
        self.coef0 = coef0
        self.kernel_params = kernel_params
        self.task_structures = task_structures
        self.cv = cv
        self.scoring = scoring
        self.refit = refit
        self.n_jobs = n_jobs
        self.fit_intercept = fit_intercept
        self.class_weight = class_weight
        self.single_class_tasks = single_class_tasks
        self.solver = solver
        self.max_iter = max_iter
        self.tol = tol
        self.device = device

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.single_output = True
        tags.classifier_tags.multi_class = False
        tags.classifier_tags.multi_label = True
        tags.input_tags.pairwise = (isinstance(self.kernel, str)
                                    and self.kernel == "precomputed")
        tags.array_api_support = True
        return tags

    # fit takes the whole wide problem: Y (n, T) with NaN, sample_weight (n, T).
    _accepts_wide_targets = True
    _estimator = MultiTaskKernelClassifier
    _namespace_attribute = "task_structure_"

    # ------------------------------------------------------------------ checks
    def _check_grid(self):
        alphas, gammas, specs = self._check_kernel_grid()
        # The classifier's own checks (solver, tol, max_iter, class_weight, ...),
        # before any fold is fitted.
        self._classifier(alphas[0], gammas[0], "independent")._check_params()
        return alphas, gammas, specs

    def _classifier(self, alpha, gamma, task_structure):
        return MultiTaskKernelClassifier(
            alpha=alpha, kernel=self.kernel, gamma=gamma, degree=self.degree,
            coef0=self.coef0, kernel_params=self.kernel_params,
            task_structure=clone(task_structure, safe=False),
            fit_intercept=self.fit_intercept, class_weight=self.class_weight,
            single_class_tasks=self.single_class_tasks, solver=self.solver,
            max_iter=self.max_iter, tol=self.tol, device=self.device)

    # --------------------------------------------------------------------- fit
    def fit(self, X, y, sample_weight=None):
        """Score every candidate by cross-validation, then refit the best.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training inputs (the kernel matrix with ``kernel="precomputed"``).
        y : array-like of shape (n_samples,) or (n_samples, n_tasks)
            Labels, one column per task with two classes each (numbers, bools or
            strings); NaN, None or ``pandas.NA`` marks a missing label.
        sample_weight : float or array-like of shape (n_samples,) or \
                (n_samples, n_tasks), default=None
            Non-negative weights of the losses, in every fold fit and the refit,
            and of the test scores when the scorer accepts them (as in
            ``GridSearchCV``).

        Returns
        -------
        self : object
            Fitted estimator.
        """
        alphas, gammas, specs = self._check_grid()
        scorer = self._scorer()
        reset_fitted_attributes(self)
        precomputed = isinstance(self.kernel, str) and self.kernel == "precomputed"
        X_checked, xp_in = validate_X_fit(self, X, check_scale=not precomputed)
        # Folds index X, y and the weights by row, as GridSearchCV does: objects
        # without __getitem__ become arrays first.
        X, y = indexable(X, y)
        if not (sample_weight is None or isinstance(sample_weight, numbers.Number)
                or hasattr(sample_weight, "__getitem__")):
            sample_weight = np.asarray(sample_weight)
        # The labels and weights of all the data, checked before any fold is fitted.
        Y_pm, classes, was_1d = encode_binary_tasks(y, single_class="keep")
        check_consistent_rows(X_checked, Y_pm)
        validate_sample_weight(
            sample_weight if isinstance(sample_weight, numbers.Number)
            else to_numpy(sample_weight), Y_pm, np, None)
        T = Y_pm.shape[1]
        structures = [resolve_task_structure(s) for s in specs]
        for structure in structures:
            if not structure.is_learned:
                structure.task_matrix(T)  # validates it before any work
        splits = [(np.asarray(train), np.asarray(test))
                  for train, test in check_cv(_search_cv(self.cv)).split(X, y)]
        template = self._classifier(alphas[0], gammas[0], "independent")
        # A constant weight leaves every score unchanged.
        score_weights = (sample_weight is not None
                         and not isinstance(sample_weight, numbers.Number)
                         and _accepts_weights(scorer))
        # Each fold is independent and returns its scores: the table is the same
        # for any n_jobs.
        folds = Parallel(n_jobs=self.n_jobs)(
            delayed(_fold_path)(template, X, y, sample_weight, train, test, alphas,
                                gammas, structures, specs, scorer, score_weights,
                                self._warm_path, self._warm_structure)
            for train, test in splits)
        self._store_results(folds, alphas, gammas, specs)
        self.n_newton_iter_ = int(sum(fold.n_newton for fold in folds))
        _warn_folds(folds, T)
        self.n_tasks_ = int(T)
        if self.refit:
            params = self.best_params_
            self.best_estimator_ = self._classifier(
                params["alpha"], params["gamma"], params["task_structure"]).fit(
                    X, y, sample_weight=sample_weight)
            for name in ("classes_", "task_structure_", "n_iter_", "tasks_"):
                setattr(self, name, getattr(self.best_estimator_, name))
        else:
            device = array_device(X_checked)
            self.tasks_ = task_names(y, T, xp_in, device)
            numeric = all(c.dtype.kind in "biuf" for c in classes)
            listed = [to_namespace(c, xp_in, device) if numeric else c
                      for c in classes]
            self.classes_ = listed[0] if was_1d else listed
        return self

    def _store_results(self, folds, alphas, gammas, specs):
        # (gamma, structure, alpha) of the folds -> GridSearchCV's order, alpha
        # slowest.
        n_candidates = len(alphas) * len(gammas) * len(specs)
        split_scores = np.stack(
            [np.moveaxis(fold.scores, 2, 0).reshape(n_candidates) for fold in folds],
            axis=1)
        per_task = np.stack(
            [np.moveaxis(fold.per_task, 2, 0).reshape(n_candidates, -1)
             for fold in folds], axis=1)
        self._store_search_results(
            alphas, gammas, specs, split_scores, per_task,
            no_score_advice="some test fold could not be scored. Check the labels of "
                            "the test folds (every task needs labels there for most "
                            "scorers), or use fewer folds.")

    # ----------------------------------------------------------------- predict
    decision_function = refit_method(MultiTaskKernelClassifier, "decision_function")
    predict_proba = refit_method(MultiTaskKernelClassifier, "predict_proba")
    predict_log_proba = refit_method(MultiTaskKernelClassifier, "predict_log_proba")
    predict = refit_method(MultiTaskKernelClassifier, "predict")
    score = refit_method(MultiTaskKernelClassifier, "score")


# ---------------------------------------------------------------------- folds
class _FoldResult:
    """What one fold returns: its scores and what its fits reported."""

    def __init__(self, shape, n_tasks):
        self.scores = np.full(shape, np.nan)
        self.per_task = np.full(shape + (n_tasks,), np.nan)
        self.n_newton = 0
        self.n_unconverged = 0
        self.n_fits = 0
        self.skipped = set()


def _fold_path(template, X, y, sample_weight, train, test, alphas, gammas, structures,
               specs, scorer, score_weights, warm, warm_structure):
    """Scores of every candidate on one split, shape (n_gammas, n_structures,
    n_alphas), from warm-started paths of ``alpha`` (largest first)."""
    X_train, y_train = _rows(template, X, y, train)
    X_test, y_test = _rows(template, X, y, test, train)
    sw_train = _weight_rows(sample_weight, train)
    sw_test = _weight_rows(sample_weight, test) if score_weights else None
    labels_test = _as_label_array(y_test)
    if labels_test.ndim == 1:
        labels_test = labels_test.reshape(-1, 1)
    n_tasks = labels_test.shape[1]
    result = _FoldResult((len(gammas), len(structures), len(alphas)), n_tasks)
    path = sorted(range(len(alphas)), key=lambda j: -alphas[j])
    for g, gamma in enumerate(gammas):
        fold = _FoldFit(clone(template).set_params(gamma=gamma), X_train, y_train,
                        sw_train)
        result.skipped.update(fold.skipped)
        for s, (structure, spec) in enumerate(zip(structures, specs, strict=True)):
            previous = None
            for j in path:
                fitted, previous, info = fold.fit(structure, spec, alphas[j],
                                                  previous if warm else None,
                                                  warm_structure)
                result.n_newton += info["newton_iterations"]
                result.n_unconverged += not info["converged"]
                result.n_fits += 1
                result.scores[g, s, j], result.per_task[g, s, j] = _candidate_scores(
                    scorer, fitted, X_test, y_test, labels_test, sw_test)
    return result


class _FoldFit:
    """A training fold prepared as :meth:`MultiTaskKernelClassifier.fit` prepares
    its data, up to the kernel factor; :meth:`fit` then solves one candidate and
    stores it in the classifier as that ``fit`` would."""

    def __init__(self, estimator, X, y, sample_weight):
        self.estimator = estimator
        self.data = _FitData(estimator, X, y, sample_weight)
        self.skipped = self.data.skipped
        # Once per fold and gamma: every structure and alpha shares it.
        self.data.factorise(estimator)

    def fit(self, structure, spec, alpha, previous, warm_structure=False):
        """Solve at ``alpha`` from ``previous = (C, b, A)`` (None: cold; a learned
        structure starts from its ``A`` with ``warm_structure``) and return the
        fitted classifier, the new ``(C, b, A)`` and the report."""
        est, data = self.estimator, self.data
        A_fixed = None if structure.is_learned else structure.task_matrix(data.n_tasks)
        with warnings.catch_warnings():
            # A point of the path that stops at max_iter is still scored; one
            # warning after the folds counts them, and the refit warns if the
            # selected one does.
            warnings.simplefilter("ignore", ConvergenceWarning)
            C, b, A, info, report = est._solve(
                data, structure, A_fixed, alpha,
                initial=None if previous is None else previous[:2],
                initial_structure=(previous[2] if previous is not None
                                   and warm_structure else None))
        # What MultiTaskKernelClassifier.fit stores, so that the scorer sees the
        # classifier a refit on this fold would give.
        reset_fitted_attributes(est, keep=("n_features_in_", "feature_names_in_"))
        est.set_params(alpha=alpha, task_structure=clone(spec, safe=False))
        est._store_solution(data, C, b, A, info, report)
        n_newton = info["newton_iterations"] if structure.is_learned else info["n_iter"]
        return est, (C, b, A), {"newton_iterations": n_newton,
                                "converged": info["converged"]}


def _candidate_scores(scorer, estimator, X_test, y_test, labels_test, weights):
    """The score of a fitted fold classifier on its test fold, and of each task."""
    kwargs = {} if weights is None else {"sample_weight": weights}
    if scorer is None:
        value = estimator.score(X_test, y_test, **kwargs)
    else:
        value = _single(scorer(estimator, X_test, y_test, **kwargs))
    n_tasks = labels_test.shape[1]
    if n_tasks == 1:
        return value, np.asarray([value])
    outputs = _CachedOutputs(estimator, X_test)
    per_task = np.full(n_tasks, np.nan)
    for t in range(n_tasks):
        column = labels_test[:, t:t + 1]
        if missing_mask(column).all():
            continue  # no label of this task in the test fold
        view = _TaskView(outputs, estimator._classes_host, t)
        if weights is not None:
            host = to_numpy(weights)
            kwargs = {"sample_weight": host[:, t:t + 1] if host.ndim == 2 else host}
        with warnings.catch_warnings():
            # The aggregate above already reported what is undefined.
            warnings.simplefilter("ignore", UndefinedMetricWarning)
            warnings.simplefilter("ignore", RuntimeWarning)
            try:
                per_task[t] = (view.score(X_test, column, **kwargs) if scorer is None
                               else _single(scorer(view, X_test, column, **kwargs)))
            except (TypeError, ValueError):
                # A scorer of multi-task outputs only (e.g. one of scikit-learn's
                # that needs a 1-D y): the per-task scores stay NaN, the choice
                # rests on the aggregate above.
                pass
    return value, per_task


class _CachedOutputs:
    """The outputs of a fitted classifier on one input, each computed once, as NumPy."""

    def __init__(self, estimator, X):
        self.estimator, self.X, self.values = estimator, X, {}

    def __call__(self, method):
        if method not in self.values:
            out = getattr(self.estimator, method)(self.X)
            self.values[method] = out if isinstance(out, np.ndarray) else to_numpy(out)
        return self.values[method]


class _TaskView(ClassifierMixin, BaseEstimator):
    """Task ``t`` of a fitted multi-task classifier as a one-task classifier (2-D
    outputs of one column), so that any scorer scores that task alone."""

    def __init__(self, outputs, classes, t):
        self.outputs, self.classes, self.t = outputs, classes, t
        self._classes_host = [classes[t]]
        self.classes_ = [classes[t]]

    def fit(self, X, y=None):  # pragma: no cover - never fitted; for the API only
        return self

    def _column(self, method):
        return self.outputs(method)[:, self.t:self.t + 1]

    def decision_function(self, X):
        return self._column("decision_function")

    def predict_proba(self, X):
        return self._column("predict_proba")

    def predict(self, X):
        return self._column("predict")

    def score(self, X, y, sample_weight=None):
        return float(accuracy_score(y, self.predict(X), sample_weight=sample_weight,
                                    average="macro", classes=self._classes_host))


def _warn_folds(folds, n_tasks):
    skipped = sorted(set().union(*(fold.skipped for fold in folds)))
    if skipped:
        n_folds = sum(bool(fold.skipped) for fold in folds)
        warnings.warn(
            f"In {n_folds} of {len(folds)} training folds, "
            f"task{'s' if len(skipped) > 1 else ''} "
            f"{describe_tasks(np.asarray(skipped), None)} had labels of only one "
            "class with a positive weight and were left out of those fits (they "
            "predict that class with probability 1 there). Use fewer folds, or "
            "cv=rkhsmtl.model_selection.MultiTaskStratifiedKFold(...) if you passed "
            "another splitter; single_class_tasks='raise' makes this an error.",
            SingleClassTaskWarning, stacklevel=3)
    unconverged = sum(fold.n_unconverged for fold in folds)
    if unconverged:
        total = sum(fold.n_fits for fold in folds)
        warnings.warn(
            f"{unconverged} of {total} fold fits stopped at max_iter before "
            "converging; their scores are those of the inexact solutions. Increase "
            "max_iter or loosen tol.", ConvergenceWarning, stacklevel=3)


# ---------------------------------------------------------------------- helpers
def _rows(estimator, X, y, rows, columns=None):
    """Rows of ``X`` (and the columns of a precomputed kernel) and of ``y``, as
    ``GridSearchCV`` splits them; arrays of other namespaces stay in theirs."""
    xp = get_namespace(X)
    if is_numpy_namespace(xp) or not hasattr(X, "shape"):
        return _safe_split(estimator, X, y, rows, columns)
    device = getattr(X, "device", None)
    take = to_namespace(np.asarray(rows, dtype=np.int64), xp, device)
    X_rows = xp.take(X, take, axis=0)
    if estimator.kernel == "precomputed":
        cols = take if columns is None else to_namespace(
            np.asarray(columns, dtype=np.int64), xp, device)
        X_rows = xp.take(X_rows, cols, axis=1)
    return X_rows, _take_rows(y, rows)


def _take_rows(values, rows):
    if hasattr(values, "__array_namespace__") and not isinstance(values, np.ndarray):
        xp = get_namespace(values)
        return xp.take(values, to_namespace(np.asarray(rows, dtype=np.int64), xp,
                                            getattr(values, "device", None)), axis=0)
    return _safe_indexing(values, rows)


def _accepts_weights(scorer):
    """Whether ``GridSearchCV`` would pass ``sample_weight`` to ``scorer``."""
    if scorer is None:
        return True  # the classifier's score takes them
    accept = getattr(scorer, "_accept_sample_weight", None)
    if accept is not None:
        return bool(accept())
    try:
        return "sample_weight" in inspect.signature(scorer).parameters
    except (TypeError, ValueError):
        return False


def _weight_rows(sample_weight, rows):
    """The training fold's weights: arrays indexed by row, scalars as given."""
    if sample_weight is None or isinstance(sample_weight, numbers.Number):
        return sample_weight
    return _take_rows(sample_weight, rows)
