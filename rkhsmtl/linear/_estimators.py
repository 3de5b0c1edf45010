r"""Estimators of the linear multi-task family (thin layers over :mod:`._fista`)."""

from __future__ import annotations

import math
import numbers
import warnings

from sklearn.base import BaseEstimator, ClassifierMixin, MultiOutputMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning

from .._backend import array_device, to_namespace
from .._base import (
    BinaryTasksClassifierMixin,
    ShortcutParamsMixin,
    VersionedStateMixin,
    fill_task_doc,
    row_index,
    task_columns,
)
from .._labels import check_both_classes_weighted, encode_binary_tasks
from .._validation import (
    output_is_float32,
    reset_fitted_attributes,
    task_names,
    to_output_dtype,
    validate_sample_weight,
    validate_targets,
    validate_X_fit,
    validate_X_predict,
)
from ..metrics import nan_r2_score
from ._datafits import LogisticLoss, SquaredLoss
from ._fista import curvature_scale, fista, loss_alpha_max, make_problem, objective
from ._penalties import PENALTIES, LinearPenalty, _check_real, resolve_penalty

__all__ = ["MultiTaskLinearClassifier", "MultiTaskLinearRegressor"]

_RESTARTS = ("gradient", "function", None)

# What max_iter and tol count, written once for every estimator of the family.
SOLVER_PARAMS_DOC = """max_iter : int, default=5000
        Maximum number of FISTA iterations. One iteration is one proximal
        gradient step from the extrapolated point, its backtracking line search
        included (the trial steps of the search are not counted); ``n_iter_`` is
        the number of iterations run. Stopping at ``max_iter`` before ``tol`` is
        met raises a :class:`~sklearn.exceptions.ConvergenceWarning` naming it.
    tol : float, default=1e-6
        Relative tolerance of the stopping rule, in units of ``g0``, the norm of
        the gradient of the data-fit term in ``(W, b)`` at ``W = 0`` and the best
        intercepts. With ``f`` the smooth part of the objective (data fit, smooth
        part of the penalty, ridge) and ``L`` the step's Lipschitz estimate, the
        solver stops after the first iteration ``k`` at which the KKT
        (fixed-point) residual of the iterate,
        ``L ||(Z_k, b_k) - prox_{alpha Omega / L}((Z_k, b_k) - grad f(Z_k, b_k) / L)||``,
        is at most ``tol * g0`` and the relative change of the objective
        ``|F_{k-1} - F_k| / max(|F_k|, 1e-12 |F_0|)`` is at most ``tol``. (The
        residual is computed only once the step from the extrapolated point
        ``S_k``, ``L ||(Z_k, b_k) - S_k||``, is below ``tol * g0`` too.) The
        residual is zero exactly at a minimiser; its final value divided by
        ``g0`` is ``solver_info_["kkt"]``."""


# ``alpha``, the first parameter of the regressor and the classifier.
_ALPHA_DOC = """alpha : float or "auto", default="auto"
        ``lambda_1``, the weight of ``Omega``, in the units of the objective: the
        loss is a *sum* over the observed entries, so a good value grows with the
        number of rows. A float is used as it is. "auto" (the default) sets it
        from the data, in the fitted ``alpha_``: ``0.1 * alpha_max`` (see
        :func:`alpha_max`, the smallest ``alpha`` giving ``W = 0``) for the
        penalties that have one, and ``kappa`` for those that do not ("graph"
        without a lasso term, "cmtl", "caso", "none", where it is unused), with
        ``kappa`` the mean diagonal entry of the data fit's Hessian in ``W`` at
        ``W = 0`` (the scale of a quadratic penalty's weight). See the :ref:`User Guide
        <linear-default-alpha>`. ``alpha`` is the first positional parameter, as
        in the kernel estimators: the penalty is passed by keyword or second."""

# The parameters after ``penalty``, common to the regressor and the classifier.
_COMMON_PARAMS_DOC = """l2 : float or "auto", default="auto"
        ``lambda_2``, weight of the ridge term ``||W||_F^2`` (no 1/2). For "cmtl" and
        "caso" it is the weight inside the relaxation instead (RMTL's ``Lam2``, ASO's
        ``beta``; see :class:`ClusteredMTL`, :class:`ConvexASO`). "auto": 0 for
        the penalties that have an ``alpha_max`` (they set whole directions of
        ``W`` to zero), ``0.1 * kappa`` for the others (``kappa`` as in
        ``alpha``), which remove no direction and, without a ridge term, are
        ill-posed or ill-conditioned on collinear or badly scaled features ("cmtl"
        and "caso" require ``l2 > 0``). The value used is the fitted ``l2_``.
    fit_intercept : bool, default=True
        Fit unpenalised per-task intercepts.
    """ + SOLVER_PARAMS_DOC + """
    restart : {"gradient", "function", None}, default="gradient"
        Adaptive momentum restart scheme.
    warm_start : bool, default=False
        Start from the previous solution when refitting with the same shapes."""


def _fill_params_doc(cls):
    # The docstrings hold LaTeX braces, so the text goes in by replace, not format.
    cls.__doc__ = cls.__doc__.replace("%(common_params)s", _COMMON_PARAMS_DOC).replace(
        "%(alpha)s", _ALPHA_DOC)
    return cls


# The default ("auto") regularisation, relative to the data's own scale: the loss
# is a sum, so no absolute default suits data sets of different sizes or units.
# 0.1 alpha_max keeps a few groups active (School: 3 to 5 of the 28 features for
# the sparse penalties) and converges within max_iter on raw School features.
AUTO_ALPHA_RATIO = 0.1
# For the penalties without alpha_max, alpha and l2 in units of curvature_scale:
# the quadratic penalty as strong as the average data-fit curvature, plus a ridge
# term a tenth of it (without it the chain graph on raw School does not converge
# in 20 000 iterations at alpha = 0.01 kappa, and plain least squares is not
# unique on collinear features).
AUTO_QUADRATIC_RATIO = 1.0
AUTO_RIDGE_RATIO = 0.1


def check_alpha_l2(estimator):
    """``(alpha, l2)`` of ``estimator``: each "auto" or a float ``>= 0``.

    A penalty given where ``alpha`` goes (first positional parameter) is refused
    with the fix, rather than read as a strength.
    """
    name = type(estimator).__name__
    values = []
    for param in ("alpha", "l2"):
        value = getattr(estimator, param)
        if isinstance(value, str) and value == "auto":
            values.append(value)
            continue
        if param == "alpha" and (isinstance(value, LinearPenalty) or (
                isinstance(value, str) and value in PENALTIES)):
            raise TypeError(
                f"{name}({param}={value!r}): {value!r} is a penalty, not a strength. "
                f"alpha is the first positional parameter (as in the kernel "
                f"estimators); pass the penalty by keyword: "
                f"{name}(penalty={value!r})."
            )
        if isinstance(value, bool) or not isinstance(value, numbers.Real) \
                or not math.isfinite(value) or value < 0:
            raise ValueError(
                f'{param} must be "auto" or a non-negative finite number, got '
                f"{value!r}."
            )
        values.append(float(value))
    return tuple(values)


def resolve_auto(alpha, l2, design, Yf, omega, datafit, penalty, fit_intercept, xp):
    """``(alpha, l2)`` as floats, each "auto" replaced by its data-relative value.

    ``penalty`` is a prepared penalty (:meth:`LinearPenalty.prepare`).
    """
    if alpha != "auto" and l2 != "auto":
        return alpha, l2
    top = loss_alpha_max(design, Yf, omega, datafit, penalty, fit_intercept, xp)
    scale = None if top is not None else curvature_scale(design, Yf, omega, datafit,
                                                         fit_intercept, xp)
    if alpha == "auto":
        alpha = AUTO_ALPHA_RATIO * top if top is not None else AUTO_QUADRATIC_RATIO * scale
    if l2 == "auto":
        l2 = 0.0 if top is not None else AUTO_RIDGE_RATIO * scale
    return float(alpha), float(l2)


def check_solver_params(max_iter, tol, restart):
    """Validate the solver knobs shared by the estimators and :func:`linear_path`."""
    if isinstance(max_iter, bool) or not isinstance(max_iter, numbers.Integral) \
            or max_iter < 1:
        raise ValueError(f"max_iter must be an integer >= 1, got {max_iter!r}.")
    _check_real(tol, "tol")
    if restart not in _RESTARTS:
        raise ValueError(f"restart must be one of {_RESTARTS}, got {restart!r}.")


def check_not_diverged(name, design, Yf, omega, datafit, prepared, alpha, l2, Z, b,
                       info, xp):
    """Refuse a solution that is not finite or worse than the zero model.

    Every objective of the family is convex with ``W = 0`` and ``b = 0`` feasible:
    a final objective above that of the zero model (or inf/NaN) is overflow on
    unscaled inputs or targets, not a minimiser.
    """
    final = info.get("objective")
    zero = objective(design, Yf, omega, datafit, prepared, alpha, l2,
                     xp.zeros_like(Z), xp.zeros_like(b), xp)
    finite = bool(xp.all(xp.isfinite(Z))) and bool(xp.all(xp.isfinite(b)))
    if finite and final is not None and math.isfinite(final) and math.isfinite(zero) \
            and final <= zero * (1.0 + 1e-6) + 1e-12:
        return
    raise ValueError(
        f"{name} diverged: the coefficients or the objective (final {final!r}, zero "
        f"model {zero!r}) are not finite or worse than the zero model, the mark of "
        "overflow on unscaled inputs or targets. Scale X (sklearn.preprocessing."
        "StandardScaler in a Pipeline) and the targets, or increase alpha."
    )


def warn_not_converged(name, info, max_iter, tol):
    warnings.warn(
        f"{name} did not converge: max_iter={max_iter} iterations reached with tol="
        f"{tol} (relative fixed-point residual "
        f"{'not reached' if info['kkt'] is None else format(info['kkt'], '.2e')}). "
        "Increase max_iter, loosen tol, or scale the features.",
        ConvergenceWarning,
        stacklevel=3,
    )


class _MultiTaskLinearBase(VersionedStateMixin, ShortcutParamsMixin, MultiOutputMixin,
                           BaseEstimator):
    """Parameters, fit and decision values shared by the regressor and classifier."""

    _datafit = SquaredLoss
    # Capability marker read by DistributionMatchingMTL: fit takes a wide
    # (n_samples, n_tasks) y with NaN for a missing label and a sample_weight of
    # shape (n_samples, n_tasks).
    _accepts_wide_targets = True

    def __init__(self, alpha="auto", penalty="l21", *, l2="auto", fit_intercept=True,
                 max_iter=5000, tol=1e-6, restart="gradient", warm_start=False):
        self.alpha = alpha
        self.penalty = penalty
        self.l2 = l2
        self.fit_intercept = fit_intercept
        self.max_iter = max_iter
        self.tol = tol
        self.restart = restart
        self.warm_start = warm_start

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.single_output = True
        tags.array_api_support = True
        return tags

    def _shortcut_params(self):
        return {"penalty": resolve_penalty}

    def _reset(self):
        """Clear the previous fit; a warm start keeps the coefficients it starts from."""
        reset_fitted_attributes(
            self, keep=("coef_", "intercept_") if self.warm_start else ())

    def _fit_wide(self, X, Y, sample_weight, xp, device, y=None):
        alpha, l2 = check_alpha_l2(self)
        check_solver_params(self.max_iter, self.tol, self.restart)
        penalty = resolve_penalty(self.penalty)
        n_tasks = Y.shape[1]
        penalty.validate(n_tasks, alpha, l2)
        # Everything derived from the penalty for this fit lives in `prepared`,
        # not on a penalty object.
        prepared = penalty.prepare(n_tasks, xp, device, X.dtype)
        design, Yf, omega = make_problem(X, Y, sample_weight, xp)
        alpha, l2 = resolve_auto(alpha, l2, design, Yf, omega, self._datafit(), prepared,
                                 bool(self.fit_intercept), xp)
        Z0 = b0 = None
        if self.warm_start and getattr(self, "coef_", None) is not None \
                and tuple(self.coef_.shape) == (n_tasks, X.shape[1]) \
                and getattr(self, "_n_blocks", None) == prepared.n_blocks:
            Z0 = xp.permute_dims(to_namespace(self._components, xp, device), (0, 2, 1))
            b0 = to_namespace(self.intercept_, xp, device)
        Z, b, info = fista(design, Yf, omega, self._datafit(), prepared, alpha, l2, xp,
                           fit_intercept=bool(self.fit_intercept), Z0=Z0, b0=b0,
                           max_iter=int(self.max_iter), tol=float(self.tol),
                           restart=self.restart)
        check_not_diverged(type(self).__name__, design, Yf, omega, self._datafit(),
                           prepared, alpha, l2, Z, b, info, xp)
        if not info["converged"]:
            warn_not_converged(type(self).__name__, info, self.max_iter, self.tol)
        W = xp.sum(Z, axis=0)
        self.coef_ = xp.asarray(W.T, copy=True)
        self.intercept_ = b
        self._components = xp.permute_dims(Z, (0, 2, 1))
        self._n_blocks = prepared.n_blocks
        if prepared.n_blocks > 1:
            self.coef_components_ = self._components
        # What a penalty learns besides W (task_relation_, shared_subspace_, ...).
        for name, value in prepared.extras(W, alpha, l2, xp).items():
            setattr(self, f"{name}_", value)
        self.penalty_ = penalty
        self.alpha_ = alpha
        self.l2_ = l2
        self.n_iter_ = int(info["n_iter"])
        self.objective_history_ = xp.asarray(info["objective_history"], dtype=X.dtype,
                                             device=device)
        self.n_tasks_ = int(n_tasks)
        self.tasks_ = task_names(y, n_tasks, xp, device)
        self.solver_info_ = {k: info[k] for k in
                             ("converged", "kkt", "lipschitz", "grad_scale", "objective",
                              "duality_gap")}
        return self

    def _decision(self, X, method, columns=None):
        """Float64 decision values of every task, or of each row's own task."""
        X, xp = validate_X_predict(self, X, method, attribute="coef_")
        coef = self.coef_
        if columns is None:
            return X @ coef.T + self.intercept_[None, :], xp
        rows = row_index(columns, X.shape[0], xp, array_device(X))
        return (xp.sum(X * xp.take(coef, rows, axis=0), axis=1)
                + xp.take(self.intercept_, rows)), xp


@_fill_params_doc
class MultiTaskLinearRegressor(RegressorMixin, _MultiTaskLinearBase):
    r"""Regularised linear multi-task regression (squared loss; MALSAR/RMTL family).

    Task ``t`` predicts ``f_t(x) = x^T w_t + b_t``; the coefficients
    ``W = [w_1, ..., w_T]`` (``n_features x n_tasks``) and intercepts minimise

    .. math::

        \sum_{i,t} s_{it} (Y_{it} - x_i^\top w_t - b_t)^2
        + \alpha\, \Omega(W) + \lambda_2 \|W\|_F^2

    over the observed (non-NaN) entries of ``Y``, with ``s`` the sample weights
    (1 by default). The loss is a weighted *sum*: RMTL's per-task mean
    ``(1 / 2 n_t) sum_i (...)^2`` is ``sample_weight = 1 / (2 n_t)``. The intercepts
    are not penalised. ``Omega`` is chosen by ``penalty``; see the
    :ref:`User Guide <linear>` for every model's formula and the RMTL/MALSAR
    correspondences.

    Parameters
    ----------
    %(alpha)s
    penalty : str or LinearPenalty, default="l21"
        "lasso" (``||W||_1``), "l21" (``sum_j ||W_{j,:}||_2``), "trace"
        (``||W||_*``), "graph" (``tr(W L W^T)`` for the Laplacian ``L`` of a task
        graph, chain graph by default), "srmtl" (the graph penalty plus a lasso
        term, ``GraphPenalty(l1_weight=1.0)``), "cmtl" or "clustered" (clustered
        MTL), "caso" (convex ASO, a shared subspace of the features), "dirty",
        "rmtfl", "sparse_low_rank", "robust_low_rank" (``W = P + Q``),
        "multilevel" (``W`` a sum of parts, one norm each: :class:`MultiLevel`),
        "tgl" and "cfsgl" (disease progression: :class:`TemporalGroupLasso`,
        :class:`FusedSparseGroupLasso`), "none" (ridge only); or a penalty object
        of :mod:`rkhsmtl.linear` carrying its settings (``adjacency``,
        ``n_clusters``, ``beta``, ...), tunable as ``penalty__<name>``.
    %(common_params)s

    Attributes
    ----------
    coef_ : array of shape (n_tasks, n_features)
        ``W^T``: row ``t`` is task ``t``'s weight vector.
    intercept_ : array of shape (n_tasks,)
    coef_components_ : array of shape (n_parts, n_tasks, n_features)
        Decomposition models only: the parts of ``coef_`` (``P^T`` and ``Q^T`` of
        ``W = P + Q``; one per level of :class:`MultiLevel`).
    task_relation_ : array of shape (n_tasks, n_tasks)
        "cmtl" ("clustered") only: the learned task-relation matrix ``M``.
    feature_relation_ : array of shape (n_features, n_features)
        "caso" only: the learned matrix ``M`` of :class:`ConvexASO`.
    shared_subspace_ : array of shape (n_components, n_features)
        "caso" only: orthonormal rows spanning the shared subspace, the leading
        eigenvectors of ``feature_relation_``.
    penalty_ : LinearPenalty
        The penalty object used (a clone of ``penalty``, or the object a name
        stands for).
    alpha_ : float
        The ``alpha`` used: ``alpha`` itself, or the value "auto" stands for.
    l2_ : float
        The ``l2`` used, likewise.
    objective_history_ : array of shape (`n_iter_`,)
        Objective after every iteration.
    n_iter_ : int
        Number of FISTA iterations run (see ``max_iter``).
    n_tasks_ : int
    tasks_ : ndarray of shape (`n_tasks_`,)
        Task names: the column names of a DataFrame ``y``, else
        ``arange(n_tasks_)`` (in the namespace of ``X``); read by ``task=`` of
        the prediction methods.
    solver_info_ : dict
        ``converged``, ``kkt`` (relative residual at the solution), ``lipschitz``,
        ``objective``, ``duality_gap`` (a certificate ``objective - optimum <=
        duality_gap``; squared loss with norm penalties and ``l2=0`` only, else
        None).
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (`n_features_in_`,)

    Notes
    -----
    Fits compute in float64; predictions come back in float32 when ``X`` is
    float32 (the float32 rounding of the float64 result), else in float64.
    ``predict(X, task=task)`` returns each row's own task only (long layout).

    Examples
    --------
    >>> import numpy as np
    >>> from rkhsmtl.linear import MultiTaskLinearRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(60, 5))
    >>> Y = X[:, :2] @ rng.normal(size=(2, 3))
    >>> Y[::4, 1] = np.nan
    >>> model = MultiTaskLinearRegressor(1.0, penalty="l21").fit(X, Y)
    >>> model.coef_.shape
    (3, 5)
    """

    _datafit = SquaredLoss

    def fit(self, X, y, sample_weight=None):
        """Fit the model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training inputs (any array-API namespace).
        y : array-like of shape (n_samples,) or (n_samples, n_tasks)
            Targets; NaN marks a missing label.
        sample_weight : float or array-like of shape (n_samples,) or \
                (n_samples, n_tasks), default=None
            Non-negative weights of the squared errors.

        Returns
        -------
        self : object
        """
        self._reset()
        X, xp = validate_X_fit(self, X)
        device = array_device(X)
        Y, was_1d = validate_targets(y, X.shape[0], xp, device)
        sample_weight = validate_sample_weight(sample_weight, Y, xp, device)
        self._y_was_1d = was_1d
        return self._fit_wide(X, Y, sample_weight, xp, device, y=y)

    @fill_task_doc
    def predict(self, X, task=None):
        """Predict every task.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs, in the namespace and on the device of the fit.
        %(task)s

        Returns
        -------
        Y_pred : array of shape (n_samples, n_tasks) (``(n_samples,)`` if fitted on a
            1-D ``y`` or with ``task``); float32 for float32 ``X``
        """
        float32 = output_is_float32(X)
        columns = task_columns(self, task)
        F, xp = self._decision(X, "predict", columns)
        if self._y_was_1d and columns is None:
            F = xp.reshape(F, (-1,))
        return to_output_dtype(F, float32)

    def score(self, X, y, sample_weight=None):
        """Mean over tasks of R^2 on the observed entries
        (:func:`rkhsmtl.metrics.nan_r2_score`).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Test inputs.
        y : array-like of shape (n_samples,) or (n_samples, n_tasks)
            True targets; NaN marks a missing label.
        sample_weight : array-like of shape (n_samples,) or (n_samples, n_tasks), \
                default=None
            Weights of the squared errors.

        Returns
        -------
        score : float
        """
        return nan_r2_score(y, self.predict(X), sample_weight=sample_weight)


@_fill_params_doc
class MultiTaskLinearClassifier(BinaryTasksClassifierMixin, ClassifierMixin,
                                _MultiTaskLinearBase):
    r"""Regularised linear multi-task binary classification (logistic loss).

    One binary problem per task, ``P(y_t = classes_[t][1] | x) =
    sigmoid(x^T w_t + b_t)``, with ``W`` and ``b`` minimising

    .. math::

        \sum_{i,t} s_{it} \log\big(1 + e^{-\tilde y_{it} (x_i^\top w_t + b_t)}\big)
        + \alpha\, \Omega(W) + \lambda_2 \|W\|_F^2

    over the observed entries, ``\tilde y = +1`` for the task's positive class
    ``classes_[t][1]`` and ``-1`` for the other. Labels may be {0, 1}, {-1, +1},
    bools or strings per task (RMTL requires {-1, +1} and silently mis-fits 0/1).
    RMTL's per-task mean is ``sample_weight = 1 / n_t``.

    Parameters
    ----------
    %(alpha)s
    penalty : str or LinearPenalty, default="l21"
        As in :class:`MultiTaskLinearRegressor`.
    %(common_params)s

    Attributes
    ----------
    coef_ : array of shape (n_tasks, n_features)
    intercept_ : array of shape (n_tasks,)
    classes_ : list of ndarray of shape (2,), or ndarray of shape (2,)
        The sorted classes of every task (one array when fitted on a 1-D ``y``).
    coef_components_ : array of shape (2, n_tasks, n_features)
        Decomposition models only (see :class:`MultiTaskLinearRegressor`).
    task_relation_ : array of shape (n_tasks, n_tasks)
        "cmtl" ("clustered") only: the learned task-relation matrix ``M``.
    feature_relation_ : array of shape (n_features, n_features)
        "caso" only (see :class:`MultiTaskLinearRegressor`).
    shared_subspace_ : array of shape (n_components, n_features)
        "caso" only (see :class:`MultiTaskLinearRegressor`).
    penalty_ : LinearPenalty
    alpha_ : float
        The ``alpha`` used (see :class:`MultiTaskLinearRegressor`).
    l2_ : float
        The ``l2`` used.
    objective_history_ : array of shape (`n_iter_`,)
    n_iter_ : int
    n_tasks_ : int
    tasks_ : ndarray of shape (`n_tasks_`,)
        Task names: the column names of a DataFrame ``y``, else
        ``arange(n_tasks_)`` (in the namespace of ``X``); read by ``task=`` of
        the prediction methods.
    solver_info_ : dict
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (`n_features_in_`,)

    Notes
    -----
    Fits compute in float64; ``decision_function``, ``predict_proba`` and
    ``predict_log_proba`` come back in float32 when ``X`` is float32, else in
    float64. With ``task=`` the prediction methods return each row's own task
    only (long layout); ``predict_proba`` is then the probability of the
    positive class of each row's task.

    Examples
    --------
    >>> import numpy as np
    >>> from rkhsmtl.linear import MultiTaskLinearClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(80, 4))
    >>> Y = (X[:, :1] + 0.3 * rng.normal(size=(80, 3)) > 0).astype(int)
    >>> clf = MultiTaskLinearClassifier(0.5, penalty="trace").fit(X, Y)
    >>> clf.predict_proba(X[:2]).shape
    (2, 3)
    """

    _datafit = LogisticLoss

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        tags.classifier_tags.multi_label = True
        return tags

    def fit(self, X, y, sample_weight=None):
        """Fit the model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training inputs (any array-API namespace).
        y : array-like of shape (n_samples,) or (n_samples, n_tasks)
            Two classes per task (numbers, bools or strings); NaN, None or
            ``pandas.NA`` marks a missing label.
        sample_weight : float or array-like of shape (n_samples,) or \
                (n_samples, n_tasks), default=None
            Non-negative weights of the logistic losses.

        Returns
        -------
        self : object
        """
        self._reset()
        X, xp = validate_X_fit(self, X)
        device = array_device(X)
        Y_pm, classes, was_1d = encode_binary_tasks(y)
        if Y_pm.shape[0] != X.shape[0]:
            raise ValueError(
                "Found input variables with inconsistent numbers of samples: "
                f"[{X.shape[0]}, {Y_pm.shape[0]}] (X has {X.shape[0]} rows, Y "
                f"{Y_pm.shape[0]})."
            )
        Y = xp.astype(to_namespace(Y_pm, xp, device), X.dtype)
        sample_weight = validate_sample_weight(sample_weight, Y, xp, device)
        if self.fit_intercept:
            check_both_classes_weighted(Y_pm, sample_weight)
        self._y_was_1d = was_1d
        self._fit_wide(X, Y, sample_weight, xp, device, y=y)
        self._numeric_classes = all(c.dtype.kind in "biuf" for c in classes)
        self._classes_host = classes
        if self._numeric_classes:
            classes = [to_namespace(c, xp, device) for c in classes]
        self.classes_ = classes[0] if was_1d else classes
        return self

    def _scores(self, X, method, columns=None):
        F, xp = self._decision(X, method, columns)
        return xp.reshape(F, (-1,)) if self._y_was_1d and columns is None else F
