"""Multi-task kernel logistic classification with a separable kernel ``k(x, x') A``."""

from __future__ import annotations

import warnings

from sklearn.base import BaseEstimator, ClassifierMixin, MultiOutputMixin

from ._backend import to_namespace
from ._base import (
    APPROXIMATION_PARAMS_DOC,
    BinaryTasksClassifierMixin,
    SeparableKernelMixin,
    fill_doc,
    row_index,
)
from ._labels import (
    binary_task_weights,
    check_class_weight,
    check_single_class_tasks,
    describe_tasks,
    encode_binary_tasks,
    skipped_intercepts,
)
from ._solvers.logistic import (
    fit_logistic_fixed,
    fit_logistic_learned,
    kernel_factor,
)
from ._validation import (
    check_consistent_rows,
    check_positive_weights,
    task_names,
    validate_sample_weight,
)
from .exceptions import MemoryBudgetError, SingleClassTaskWarning
from .kernel_approximation import (
    auto_approximation_warning,
    can_approximate,
    check_approximation_params,
    logistic_features,
)
from .structure import resolve_task_structure

__all__ = ["MultiTaskKernelClassifier"]

SOLVERS = ("auto", "eig", "primal")


@fill_doc(approximation_params=APPROXIMATION_PARAMS_DOC)
class MultiTaskKernelClassifier(BinaryTasksClassifierMixin, SeparableKernelMixin,
                                MultiOutputMixin, ClassifierMixin, BaseEstimator):
    r"""Multi-task kernel logistic classification with the kernel ``k(x, x') A``.

    One binary problem per task (multi-label). Task ``t`` scores
    ``g_t(x) = sum_i k(x, x_i) (C A)[i, t] + b_t`` and predicts its positive class
    with probability ``sigmoid(g_t(x))``. The dual coefficients ``C`` and the
    intercepts ``b`` minimise

    .. math::

        J(C, b) = \sum_{(i,t) \in O} w_{it} \log\bigl(1 + e^{-y_{it} (F_{it} + b_t)}\bigr)
                  + \alpha\, \mathrm{tr}(C^\top K C A), \qquad F = K C A,

    over the observed entries ``O`` of ``Y``, with ``y_it = +1`` for the task's
    positive class (``classes_[t][1]``) and ``-1`` for the other. The loss is a
    weighted *sum* of binary cross-entropies, so with the linear kernel,
    ``task_structure="independent"`` and ``fit_intercept=False`` task ``t`` is
    :class:`sklearn.linear_model.LogisticRegression` with ``C = 1 / (2 alpha)``
    fitted on that task's labelled rows.

    Read more in the :ref:`User Guide <classification>`.

    Parameters
    ----------
    alpha : float, default=1.0
        Regularisation strength; must be positive.
    kernel : str or callable, default="rbf"
        Scalar kernel on inputs, as in :class:`rkhsmtl.MultiTaskKernelRidge`
        ("linear", "poly", "rbf", "laplacian", "sigmoid", "cosine", "precomputed"
        or a callable). It must be positive semidefinite.
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
        The task-structure matrix ``A``, fixed or learned, exactly as in
        :class:`rkhsmtl.MultiTaskKernelRidge` (learned structures are fitted by
        alternating minimisation with the same A-steps).
    fit_intercept : bool, default=True
        Fit an unpenalised intercept ``b_t`` per task. The intercept is not
        shared through ``A``: each task has its own base rate.
    class_weight : None, "balanced", dict or list, default=None
        Weights of the classes, multiplied by ``sample_weight``. "balanced"
        weights each task's observed labels by ``n_t / (2 n_tc)`` (its number of
        observed labels over twice the count of the label's class); a dict
        ``{class label: weight}`` applies to every task that has that label (absent
        labels weigh 1); a list gives one of these per task.
    single_class_tasks : {"skip", "raise"}, default="skip"
        What to do with a task whose labels of positive weight (``sample_weight``
        times ``class_weight``) are all one class, as small tasks or
        cross-validation folds often leave some. With an intercept such a task has
        no optimum: its intercept grows without bound while its loss tends to 0.

        - "skip": the task is left out of the loss (the limit of that optimum),
          a :class:`~rkhsmtl.exceptions.SingleClassTaskWarning` names it and
          ``skipped_tasks_`` lists it. The other tasks are fitted as if it had no
          labels; its function is still defined through ``A``, but it predicts
          its one class with probability 1: its ``intercept_`` and
          ``decision_function`` are ``+inf`` when that class is the positive one
          (``classes_[t][-1]``), ``-inf`` otherwise. Without an intercept
          (``fit_intercept=False``) the problem has a minimiser: such a task is
          fitted like the others and nothing is skipped.
        - "raise": a ValueError names these tasks and any task with a single
          observed class (whatever ``fit_intercept``).

        Either way a ValueError is raised when every task has a single class.
    solver : {"auto", "eig", "primal"}, default="auto"
        Newton-CG in whitened coordinates ``K = Phi Phi^T``:

        - "eig": ``Phi`` from one eigendecomposition of ``K`` (``O(n^3)``, memory
          ``3 n^2`` floats);
        - "primal": ``Phi = X`` for ``kernel="linear"``, or the features of the
          ``approximation`` (memory linear in ``n_samples``: the scalable route);
        - "auto": "primal" with an ``approximation`` or when the kernel is
          linear with fewer features than samples, else "eig".

        With an ``approximation`` only "auto" and "primal" apply.
    max_iter : int, default=100
        Maximum number of Newton iterations (fixed structure) or of alternating
        iterations (learned structure; each B-step is then a Newton solve of at
        most 100 iterations).
    tol : float, default=1e-6
        Fixed structure: Newton-CG stops when ``max |grad J| <= tol * max |grad
        J(0)|`` (the gradient in whitened coordinates, relative to that of the zero
        model), after one further Newton step (near the optimum that step
        roughly squares the error, so the solution is much more accurate than
        ``tol``).
        Learned structure: a stage stops when the relative decrease of the
        objective is below ``tol`` and the relative change of ``A`` below
        ``sqrt(tol)`` (the regressor's former rule: the logistic B-steps report no
        dual variable, so there is no duality gap); B-steps are then solved to
        ``min(tol, 1e-8)``.
    verbose : int, default=0
        Print one line per Newton iteration (fixed structure) or per
        alternating iteration (learned structure); with an ``approximation``,
        also the number of features and whether they are held in memory.
    device : {"auto", "cpu", "gpu"}, default="auto"
        Where the fit runs, as in :class:`rkhsmtl.MultiTaskKernelRidge`.
    approximation : {None, "nystrom", "rff", "auto"}, default=None
        Replace the ``n x n`` kernel matrix by a low-rank one with
        ``n_components`` explicit features ``phi`` (``k(x, x') ~ phi(x)^T
        phi(x')``) and solve by Newton-CG for the primal weights of the features:
        memory ``O(n_samples * n_components)`` when the features of the training
        rows fit in memory, else ``O(n_samples * n_tasks)`` with the features
        recomputed by chunks of rows at every Hessian product; no ``O(n^2)`` or
        ``O(n^3)`` step. "nystrom": ``n_components`` centres drawn from the
        training rows, any kernel; "rff": random Fourier features of the "rbf"
        or "laplacian" kernel. None (the default) fits the exact kernel; "auto"
        fits it when its factorisation fits in the memory budget and Nyström
        features otherwise, with a warning and the reason in
        ``solver_info_["approximation_reason"]``. See :ref:`large_data`.
    %(approximation_params)s

    Attributes
    ----------
    classes_ : list of ndarray of shape (2,), or ndarray of shape (2,)
        The two classes of each task, sorted; ``classes_[t][-1]`` is the positive
        class. A single array when fitted on a 1-D ``y``. A task with one observed
        class (kept by ``single_class_tasks="skip"``) has the two labels of ``y``
        when ``y`` has exactly two over all tasks (a 0/1 indicator matrix, say),
        else its one class (shape (1,)).
    dual_coef_ : array of shape (n_samples, n_tasks)
        Dual coefficients ``C`` (zero on missing entries). Only when the "eig"
        solver ran; after the primal one see ``coef_``.
    coef_ : array of shape (n_tasks, n_features) or (n_tasks, n_components)
        Only when the primal solver ran (``kernel="linear"``, ``solver_ ==
        "primal"``): the weights ``(X^T C A)^T``, row ``t`` that of task ``t``;
        scores are ``X @ coef_.T + intercept_`` and the fitted model keeps
        nothing of size ``n_samples`` (neither ``dual_coef_`` nor ``X_fit_``).
        With an ``approximation``, the weights of the features: scores are
        ``feature_map_.transform(X) @ coef_.T + intercept_``, computed by chunks
        of rows.
    feature_map_ : NystromFeatureMap or RandomFourierFeatureMap
        Only with an ``approximation``: the fitted feature map (the Nyström
        centres ``centres`` and their ``normalization``, or the random
        ``frequencies`` and ``offset``; ``n_components`` features).
    intercept_ : array of shape (n_tasks,)
        Intercepts ``b`` (zeros when ``fit_intercept=False``); ``+inf`` or
        ``-inf`` for a skipped task (see ``single_class_tasks``).
    skipped_tasks_ : ndarray of shape (n_skipped,), dtype int
        Indices of the tasks left out of the fit because their labels of positive
        weight are all one class (see ``single_class_tasks``); empty when none.
    task_structure_ : array of shape (n_tasks, n_tasks)
        The task-structure matrix ``A`` used (the learned one for a learned
        structure).
    objective_history_ : array of shape (`n_iter_`,)
        Learned structures only: the objective ``Q_delta`` after each alternating
        iteration (non-increasing).
    n_iter_ : int
        Newton iterations (fixed structure) or alternating iterations (learned).
    X_fit_ : array of shape (n_samples, n_features)
        Training inputs (or the training kernel matrix with "precomputed"). Only
        when the "eig" solver ran.
    n_tasks_ : int
        Number of tasks.
    tasks_ : ndarray of shape (`n_tasks_`,)
        Task names: the column names of a DataFrame ``y``, else
        ``arange(n_tasks_)`` (in the namespace of ``X``); read by ``task=`` of
        the prediction methods and by :mod:`rkhsmtl.plotting`.
    solver_ : str
        The solver used ("eig" or "primal").
    solver_info_ : dict
        What the solver reports (final gradient, CG iterations, ...). Learned
        structures: ``converged``, ``deltas``, ``newton_iterations``; no
        ``relative_gap`` (see ``tol``). With an approximation:
        ``approximation``, ``n_components`` (after dropping numerically null
        Nyström directions), ``n_samples_seen`` and ``features`` ("dense" when
        the training features were held in memory, "streamed" when they were
        recomputed by chunks of rows); after ``approximation="auto"`` chose the
        approximation, also ``approximation_reason``.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, when ``X`` has string column names.

    See Also
    --------
    rkhsmtl.MultiTaskKernelRidge : The same model with the squared loss.
    sklearn.linear_model.LogisticRegression : Single-task linear logistic regression.

    Notes
    -----
    Precision: fits compute in float64; ``decision_function``, ``predict_proba``
    and ``predict_log_proba`` come back in float32 when ``X`` is float32 (the
    float32 rounding of the float64 result), in float64 otherwise. ``predict``
    returns labels decided on the float64 scores.

    Long layout: with ``task=`` (the task of every row of ``X``) the prediction
    methods return each row's own task only, shape ``(n_samples,)``;
    ``predict_proba(X, task=task)`` is then the probability of the positive class
    ``classes_[task_i][-1]`` of each row's task.

    References
    ----------
    T. Evgeniou, C. A. Micchelli and M. Pontil. Learning multiple tasks with kernel
    methods. JMLR 6:615-637, 2005.

    C. Ciliberto, Y. Mroueh, T. Poggio and L. Rosasco. Convex learning of multiple
    tasks and their structure. ICML 2015.

    Examples
    --------
    >>> import numpy as np
    >>> from rkhsmtl import MultiTaskKernelClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(60, 2))
    >>> Y = np.column_stack([X[:, 0] > 0, X[:, 0] + 0.3 * X[:, 1] > 0]).astype(float)
    >>> Y[::4, 1] = np.nan  # missing labels
    >>> clf = MultiTaskKernelClassifier(task_structure="mean_regularized").fit(X, Y)
    >>> clf.predict_proba(X[:3]).shape
    (3, 2)
    """

    _solvers = SOLVERS

    def __init__(self, alpha=1.0, *, kernel="rbf", gamma=None, degree=3, coef0=1,
                 kernel_params=None, task_structure="independent", fit_intercept=True,
                 class_weight=None, single_class_tasks="skip", solver="auto",
                 max_iter=100, tol=1e-6, verbose=0, device="auto", approximation=None,
                 n_components=100, nystrom_sampling="uniform", random_state=None):
        self.alpha = alpha
        self.kernel = kernel
        self.gamma = gamma
        self.degree = degree
        self.coef0 = coef0
        self.kernel_params = kernel_params
        self.task_structure = task_structure
        self.fit_intercept = fit_intercept
        self.class_weight = class_weight
        self.single_class_tasks = single_class_tasks
        self.solver = solver
        self.max_iter = max_iter
        self.tol = tol
        self.verbose = verbose
        self.device = device
        self.approximation = approximation
        self.n_components = n_components
        self.nystrom_sampling = nystrom_sampling
        self.random_state = random_state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        tags.classifier_tags.multi_label = True
        return tags

    def _check_params(self):
        self._check_common_params(self._solvers)
        check_class_weight(self.class_weight)
        check_single_class_tasks(self.single_class_tasks)
        check_approximation_params(self, solvers=("auto", "primal"))
        if (self.solver == "primal" and self.kernel != "linear"
                and self.approximation in (None, "auto")):
            raise ValueError("solver='primal' needs kernel='linear' (Phi = X) or an "
                             "approximation ('nystrom' or 'rff': Phi = its features).")

    def fit(self, X, y, sample_weight=None):
        """Fit the model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training inputs (the kernel matrix, ``(n_samples, n_samples)``, with
            ``kernel="precomputed"``).
        y : array-like of shape (n_samples,) or (n_samples, n_tasks)
            Labels, one column per task, each with two classes (numbers, bools or
            strings; see ``single_class_tasks`` for a task with one); NaN, None or
            ``pandas.NA`` marks a missing label.
        sample_weight : float or array-like of shape (n_samples,) or \
                (n_samples, n_tasks), default=None
            Non-negative weights of the losses (per sample, or per sample and task).

        Returns
        -------
        self : object
            Fitted estimator.
        """
        data = _FitData(self, X, y, sample_weight)
        structure = resolve_task_structure(self.task_structure)
        # A fixed structure is validated before the kernel is factorised.
        A_fixed = None if structure.is_learned else structure.task_matrix(data.n_tasks)
        data.factorise(self)
        C, b, A, info, report = self._solve(data, structure, A_fixed, float(self.alpha))
        self._store_solution(data, C, b, A, info, report)
        if data.skipped:
            warnings.warn(
                f"{len(data.skipped)} of {data.n_tasks} tasks have labels of only one "
                "class with a positive weight and were left out of the fit: "
                f"task{'s' if len(data.skipped) > 1 else ''} "
                f"{describe_tasks(sorted(data.skipped), getattr(self, 'tasks_', None))}. "
                "They predict that class with probability 1 (skipped_tasks_ lists "
                "them). In cross-validation, cv=rkhsmtl.model_selection."
                "MultiTaskStratifiedKFold(...) keeps both classes of every task in "
                "the training folds where it can; single_class_tasks='raise' makes "
                "this an error.", SingleClassTaskWarning, stacklevel=2)
        return self

    def _solve(self, data, structure, A_fixed, alpha, *, initial=None,
               initial_structure=None):
        """``C, b, A``, the solver's report and the one ``_store_fit`` keeps.

        ``initial = (C, b)`` and ``initial_structure`` warm-start the solver (the
        warm paths of :class:`~rkhsmtl.MultiTaskKernelClassifierCV`).
        """
        xp = data.placement.xp
        kwargs = dict(fit_intercept=self.fit_intercept, tol=float(self.tol),
                      max_iter=int(self.max_iter), initial=initial)
        if structure.is_learned:
            C, b, A, info = fit_logistic_learned(
                data.Phi, data.Y, data.W, structure, alpha, xp, verbose=self.verbose,
                initial_structure=initial_structure, **kwargs)
            newton = info["newton"]
        else:
            A = xp.astype(data.placement.to_compute(A_fixed), data.Y.dtype)
            C, b, info = fit_logistic_fixed(data.Phi, data.Y, data.W, A, alpha, xp,
                                            verbose=self.verbose, **kwargs)
            newton = info
        report = {
            "solver": data.factor,
            "objective": newton["objective"],
            "gradient_max": newton["gradient_max"],
            "gradient_scale": newton["scale"],
            "newton_iterations": newton["n_iter"],
            "cg_iterations": newton["n_cg"],
            "converged": info["converged"],
        }
        if data.feature_map is not None:
            report.update(data.approximation_report)
        if data.factor == "primal":
            # The solver's own weights (see _store_fit): exact where (C A)^T X
            # cancels on unscaled inputs.
            report["primal_coef"] = newton["coef"]
        if structure.is_learned:
            # The keys of the regressor's alternating report, so that the same tools
            # (plotting.plot_objective's stage marks) read both.
            report.update(b_step_solver=data.factor,
                          objective_history=info["objective_history"],
                          deltas=info["deltas"], n_iter=info["n_iter"],
                          strength=info["strength"])
        return C, b, A, info, report

    def _store_solution(self, data, C, b, A, info, report):
        """The fitted attributes of the solution ``C, b, A`` on ``data``."""
        placement = data.placement
        self._store_fit(data.X, placement, C, A, report, n_iter=info["n_iter"],
                        n_tasks=data.n_tasks, y_was_1d=data.was_1d, y=data.y)
        if data.feature_map is not None:
            self.feature_map_ = data.feature_map.to(placement.xp_in, placement.device_in)
        skipped_tasks, shift = skipped_intercepts(data.skipped, data.n_tasks)
        # A skipped task's intercept is at its limit, so that it predicts its one
        # class with probability 1; the others are unchanged (shift 0).
        self.intercept_ = placement.to_input(b + placement.xp.astype(
            placement.to_compute(shift), b.dtype))
        self.skipped_tasks_ = placement.to_input(skipped_tasks)
        self._numeric_classes = all(c.dtype.kind in "biuf" for c in data.classes)
        self._classes_host = data.classes
        classes = data.classes
        if self._numeric_classes:
            classes = [placement.to_input(c) for c in classes]
        self.classes_ = classes[0] if data.was_1d else classes

    def _scores(self, X, method, columns=None):
        scores, xp_in, device_in = self._kernel_expansion(X, method, columns)
        intercept = to_namespace(self.intercept_, xp_in, device_in)
        if columns is not None:
            return scores + xp_in.take(intercept, row_index(
                columns, scores.shape[0], xp_in, device_in))
        scores = scores + intercept[None, :]
        if self._y_was_1d:
            scores = xp_in.reshape(scores, (-1,))
        return scores


class _FitData:
    """The data of a fit as the solver takes it: inputs, labels (+-1), weights and,
    after `factorise`, the kernel factor; and what decodes the solution (classes,
    skipped tasks).

    :class:`~rkhsmtl.MultiTaskKernelClassifierCV` prepares each training fold
    once with it and solves every candidate on it.
    """

    def __init__(self, estimator, X, y, sample_weight):
        self.X, self.placement = estimator._prepare_fit(X)
        self.y = y
        placement = self.placement
        Y_pm, self.classes, self.was_1d = encode_binary_tasks(y, single_class="keep")
        check_consistent_rows(self.X, Y_pm)
        sample_weight = validate_sample_weight(sample_weight, placement.to_input(Y_pm),
                                               placement.xp_in, placement.device_in)
        W_host, self.skipped = binary_task_weights(
            Y_pm, self.classes, sample_weight, estimator.class_weight,
            estimator.fit_intercept, single_class=estimator.single_class_tasks,
            task_names=task_names(y, Y_pm.shape[1]))
        # As an all-zero sample_weight is refused: zero class weights everywhere
        # would fit the zero model without a word.
        check_positive_weights(W_host, Y_pm, "class_weight (times sample_weight)")
        self.n_tasks = Y_pm.shape[1]
        self.Y, self.W = placement.to_compute(Y_pm), placement.to_compute(W_host)
        self.Phi = self.factor = self.feature_map = self.approximation_report = None

    def factorise(self, estimator):
        """``K = Phi Phi^T``: the factor every solve on this data shares."""
        approximation = getattr(estimator, "approximation", None)
        if approximation not in (None, "auto"):
            self._features(estimator)
            return
        try:
            gram = estimator._training_gram(self.X, self.placement)
            self.Phi, self.factor = kernel_factor(
                gram, self.placement.xp, prefer_features=estimator.solver != "eig")
        except MemoryBudgetError as exc:
            # approximation="auto": the exact factor does not fit (checked before it
            # is allocated), Nyström features do.
            if approximation != "auto" or not can_approximate(estimator,
                                                              ("auto", "primal")):
                raise
            auto_approximation_warning(estimator, str(exc))
            self._features(estimator)
            self.approximation_report["approximation_reason"] = str(exc)

    def _features(self, estimator):
        # Explicit features phi(X): the primal route, as for the linear kernel.
        self.Phi, self.feature_map, self.approximation_report = logistic_features(
            estimator, self.X, self.placement, self.n_tasks)
        self.factor = "primal"
