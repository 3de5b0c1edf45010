"""Multi-task kernel logistic classification with a separable kernel ``k(x, x') A``."""

from __future__ import annotations

from sklearn.base import BaseEstimator, ClassifierMixin, MultiOutputMixin

from ._backend import to_namespace
from ._base import BinaryTasksClassifierMixin, SeparableKernelMixin
from ._labels import binary_task_weights, check_class_weight, encode_binary_tasks
from ._solvers.logistic import (
    fit_logistic_fixed,
    fit_logistic_learned,
    kernel_factor,
)
from ._validation import check_consistent_rows, validate_sample_weight
from .structure import resolve_task_structure

__all__ = ["MultiTaskKernelClassifier"]

SOLVERS = ("auto", "eig", "primal")


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
    solver : {"auto", "eig", "primal"}, default="auto"
        Newton-CG in whitened coordinates ``K = Phi Phi^T``:

        - "eig": ``Phi`` from one eigendecomposition of ``K`` (``O(n^3)``, memory
          ``3 n^2`` floats);
        - "primal": ``Phi = X`` for ``kernel="linear"`` (memory linear in
          ``n_samples``; with explicit features, e.g. a Nystroem map in a
          pipeline, this is the scalable route);
        - "auto": "primal" when the kernel is linear with fewer features than
          samples, else "eig".
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
        Learned structure: the alternating stopping rule of the regressor
        (relative decrease of the objective below ``tol``); B-steps are then solved
        to ``min(tol, 1e-8)``.
    verbose : int, default=0
        Print one line per alternating iteration (learned structures).
    device : {"auto", "cpu", "gpu"}, default="auto"
        Where the fit runs, as in :class:`rkhsmtl.MultiTaskKernelRidge`.

    Attributes
    ----------
    classes_ : list of ndarray of shape (2,), or ndarray of shape (2,)
        The two classes of each task, sorted; ``classes_[t][1]`` is the positive
        class. A single array when fitted on a 1-D ``y``.
    dual_coef_ : array of shape (n_samples, n_tasks)
        Dual coefficients ``C`` (zero on missing entries).
    intercept_ : array of shape (n_tasks,)
        Intercepts ``b`` (zeros when ``fit_intercept=False``).
    task_structure_ : array of shape (n_tasks, n_tasks)
        The task-structure matrix ``A`` used (the learned one for a learned
        structure).
    objective_history_ : array of shape (`n_iter_`,)
        Learned structures only: the objective ``Q_delta`` after each alternating
        iteration (non-increasing).
    n_iter_ : int
        Newton iterations (fixed structure) or alternating iterations (learned).
    X_fit_ : array of shape (n_samples, n_features)
        Training inputs (or the training kernel matrix with "precomputed").
    n_tasks_ : int
        Number of tasks.
    solver_ : str
        The solver used ("eig" or "primal").
    solver_info_ : dict
        What the solver reports (final gradient, CG iterations, ...).
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, when ``X`` has string column names.

    See Also
    --------
    rkhsmtl.MultiTaskKernelRidge : The same model with the squared loss.
    sklearn.linear_model.LogisticRegression : Single-task linear logistic regression.

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
                 class_weight=None, solver="auto", max_iter=100, tol=1e-6, verbose=0,
                 device="auto"):
        self.alpha = alpha
        self.kernel = kernel
        self.gamma = gamma
        self.degree = degree
        self.coef0 = coef0
        self.kernel_params = kernel_params
        self.task_structure = task_structure
        self.fit_intercept = fit_intercept
        self.class_weight = class_weight
        self.solver = solver
        self.max_iter = max_iter
        self.tol = tol
        self.verbose = verbose
        self.device = device

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        tags.classifier_tags.multi_label = True
        return tags

    def _check_params(self):
        self._check_common_params(self._solvers)
        check_class_weight(self.class_weight)
        if self.solver == "primal" and self.kernel != "linear":
            raise ValueError("solver='primal' needs kernel='linear' (Phi = X).")

    def fit(self, X, y, sample_weight=None):
        """Fit the model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training inputs (the kernel matrix, ``(n_samples, n_samples)``, with
            ``kernel="precomputed"``).
        y : array-like of shape (n_samples,) or (n_samples, n_tasks)
            Labels, one column per task, each with exactly two classes (numbers,
            bools or strings); NaN, None or ``pandas.NA`` marks a missing label.
        sample_weight : float or array-like of shape (n_samples,) or \
                (n_samples, n_tasks), default=None
            Non-negative weights of the losses (per sample, or per sample and task).

        Returns
        -------
        self : object
            Fitted estimator.
        """
        X, placement = self._prepare_fit(X)
        Y_pm, classes, was_1d = encode_binary_tasks(y)
        check_consistent_rows(X, Y_pm)
        sample_weight = validate_sample_weight(sample_weight, placement.to_input(Y_pm),
                                               placement.xp_in, placement.device_in)
        W_host = binary_task_weights(Y_pm, classes, sample_weight, self.class_weight,
                                     self.fit_intercept)
        n_tasks = Y_pm.shape[1]
        structure = resolve_task_structure(self.task_structure)
        # A fixed structure is validated before the kernel is factorised.
        A_fixed = None if structure.is_learned else structure.task_matrix(n_tasks)
        xp = placement.xp
        gram = self._training_gram(X, placement)
        Yc, W = placement.to_compute(Y_pm), placement.to_compute(W_host)
        Phi, factor = kernel_factor(gram, xp, prefer_features=self.solver != "eig")
        alpha = float(self.alpha)
        if structure.is_learned:
            C, b, A, info = fit_logistic_learned(
                Phi, Yc, W, structure, alpha, xp, fit_intercept=self.fit_intercept,
                tol=float(self.tol), max_iter=int(self.max_iter), verbose=self.verbose)
            newton = info["newton"]
        else:
            A = xp.astype(placement.to_compute(A_fixed), Yc.dtype)
            C, b, info = fit_logistic_fixed(
                Phi, Yc, W, A, alpha, xp, fit_intercept=self.fit_intercept,
                tol=float(self.tol), max_iter=int(self.max_iter))
            newton = info
        report = {
            "solver": factor,
            "objective": newton["objective"],
            "gradient_max": newton["gradient_max"],
            "gradient_scale": newton["scale"],
            "newton_iterations": newton["n_iter"],
            "cg_iterations": newton["n_cg"],
            "converged": info["converged"],
        }
        if structure.is_learned:
            # The keys of the regressor's alternating report, so that the same tools
            # (plotting.plot_objective's stage marks) read both.
            report.update(b_step_solver=factor,
                          objective_history=info["objective_history"],
                          deltas=info["deltas"], n_iter=info["n_iter"])
        self._store_fit(X, placement, C, A, report, n_iter=info["n_iter"],
                        n_tasks=n_tasks, y_was_1d=was_1d)
        self.intercept_ = placement.to_input(b)
        self._numeric_classes = all(c.dtype.kind in "biuf" for c in classes)
        self._classes_host = classes
        if self._numeric_classes:
            classes = [placement.to_input(c) for c in classes]
        self.classes_ = classes[0] if was_1d else classes
        return self

    def _scores(self, X, method):
        scores, xp_in, device_in = self._kernel_expansion(X, method)
        scores = scores + to_namespace(self.intercept_, xp_in, device_in)[None, :]
        if self._y_was_1d:
            scores = xp_in.reshape(scores, (-1,))
        return scores
