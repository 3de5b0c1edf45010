r"""Estimators of the linear multi-task family (thin layers over :mod:`._fista`)."""

from __future__ import annotations

import numbers
import warnings

from sklearn.base import BaseEstimator, ClassifierMixin, MultiOutputMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning

from .._backend import array_device, to_namespace
from .._base import BinaryTasksClassifierMixin, ShortcutParamsMixin
from .._labels import check_both_classes_weighted, encode_binary_tasks
from .._validation import (
    reset_fitted_attributes,
    validate_sample_weight,
    validate_targets,
    validate_X_fit,
    validate_X_predict,
)
from ..metrics import nan_r2_score
from ._datafits import LogisticLoss, SquaredLoss
from ._fista import fista, make_problem
from ._penalties import _check_real, resolve_penalty

__all__ = ["MultiTaskLinearClassifier", "MultiTaskLinearRegressor"]

_RESTARTS = ("gradient", "function", None)

# What max_iter and tol count, written once for every estimator of the family.
SOLVER_PARAMS_DOC = """max_iter : int, default=1000
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


# The parameters after ``penalty``, common to the regressor and the classifier.
_COMMON_PARAMS_DOC = """alpha : float, default=1.0
        ``lambda_1``, the weight of ``Omega``.
    l2 : float, default=0.0
        ``lambda_2``, weight of the ridge term ``||W||_F^2`` (no 1/2). For "cmtl" it
        is RMTL's ``Lam2`` inside the relaxation instead (see
        :class:`ClusteredMTL`).
    fit_intercept : bool, default=True
        Fit unpenalised per-task intercepts.
    """ + SOLVER_PARAMS_DOC + """
    restart : {"gradient", "function", None}, default="gradient"
        Adaptive momentum restart scheme.
    warm_start : bool, default=False
        Start from the previous solution when refitting with the same shapes."""


def _fill_params_doc(cls):
    # The docstrings hold LaTeX braces, so the text goes in by replace, not format.
    cls.__doc__ = cls.__doc__.replace("%(common_params)s", _COMMON_PARAMS_DOC)
    return cls


def check_solver_params(max_iter, tol, restart):
    """Validate the solver knobs shared by the estimators and :func:`linear_path`."""
    if isinstance(max_iter, bool) or not isinstance(max_iter, numbers.Integral) \
            or max_iter < 1:
        raise ValueError(f"max_iter must be an integer >= 1, got {max_iter!r}.")
    _check_real(tol, "tol")
    if restart not in _RESTARTS:
        raise ValueError(f"restart must be one of {_RESTARTS}, got {restart!r}.")


def warn_not_converged(name, info, max_iter, tol):
    warnings.warn(
        f"{name} did not converge: max_iter={max_iter} iterations reached with tol="
        f"{tol} (relative fixed-point residual "
        f"{'not reached' if info['kkt'] is None else format(info['kkt'], '.2e')}). "
        "Increase max_iter, loosen tol, or scale the features.",
        ConvergenceWarning,
        stacklevel=3,
    )


class _MultiTaskLinearBase(ShortcutParamsMixin, MultiOutputMixin, BaseEstimator):
    """Parameters, fit and decision values shared by the regressor and classifier."""

    _datafit = SquaredLoss
    # Capability marker read by DistributionMatchingMTL: fit takes a wide
    # (n_samples, n_tasks) y with NaN for a missing label and a sample_weight of
    # shape (n_samples, n_tasks).
    _accepts_wide_targets = True

    def __init__(self, penalty="l21", alpha=1.0, *, l2=0.0, fit_intercept=True,
                 max_iter=1000, tol=1e-6, restart="gradient", warm_start=False):
        self.penalty = penalty
        self.alpha = alpha
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

    def _fit_wide(self, X, Y, sample_weight, xp, device):
        alpha = _check_real(self.alpha, "alpha")
        l2 = _check_real(self.l2, "l2")
        check_solver_params(self.max_iter, self.tol, self.restart)
        penalty = resolve_penalty(self.penalty)
        n_tasks = Y.shape[1]
        penalty.validate(n_tasks, alpha, l2)
        # Everything derived from the penalty for this fit lives in `prepared`,
        # not on a penalty object.
        prepared = penalty.prepare(n_tasks, xp, device, X.dtype)
        design, Yf, omega = make_problem(X, Y, sample_weight, xp)
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
        if not info["converged"]:
            warn_not_converged(type(self).__name__, info, self.max_iter, self.tol)
        W = xp.sum(Z, axis=0)
        self.coef_ = xp.asarray(W.T, copy=True)
        self.intercept_ = b
        self._components = xp.permute_dims(Z, (0, 2, 1))
        self._n_blocks = prepared.n_blocks
        if prepared.n_blocks > 1:
            self.coef_components_ = self._components
        extras = prepared.extras(W, alpha, l2, xp)
        if "task_relation" in extras:
            self.task_relation_ = extras["task_relation"]
        self.penalty_ = penalty
        self.n_iter_ = int(info["n_iter"])
        self.objective_history_ = xp.asarray(info["objective_history"], dtype=X.dtype,
                                             device=device)
        self.n_tasks_ = int(n_tasks)
        self.solver_info_ = {k: info[k] for k in
                             ("converged", "kkt", "lipschitz", "grad_scale", "objective",
                              "duality_gap")}
        return self

    def _decision(self, X, method):
        X, xp = validate_X_predict(self, X, method, attribute="coef_")
        coef = self.coef_
        return X @ coef.T + self.intercept_[None, :], xp


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
    penalty : str or LinearPenalty, default="l21"
        "lasso" (``||W||_1``), "l21" (``sum_j ||W_{j,:}||_2``), "trace"
        (``||W||_*``), "graph" (``tr(W L W^T)`` for the Laplacian ``L`` of a task
        graph, chain graph by default), "cmtl" or "clustered" (clustered MTL),
        "dirty", "rmtfl", "sparse_low_rank", "robust_low_rank" (``W = P + Q``),
        "none" (ridge only); or a penalty object of :mod:`rkhsmtl.linear` carrying
        its settings (``adjacency``, ``n_clusters``, ``beta``, ...), tunable as
        ``penalty__<name>``.
    %(common_params)s

    Attributes
    ----------
    coef_ : array of shape (n_tasks, n_features)
        ``W^T``: row ``t`` is task ``t``'s weight vector.
    intercept_ : array of shape (n_tasks,)
    coef_components_ : array of shape (2, n_tasks, n_features)
        Decomposition models only: the two parts ``P^T`` and ``Q^T`` of ``coef_``.
    task_relation_ : array of shape (n_tasks, n_tasks)
        "cmtl" ("clustered") only: the learned task-relation matrix ``M``.
    penalty_ : LinearPenalty
        The penalty object used (a clone of ``penalty``, or the object a name
        stands for).
    objective_history_ : array of shape (`n_iter_`,)
        Objective after every iteration.
    n_iter_ : int
        Number of FISTA iterations run (see ``max_iter``).
    n_tasks_ : int
    solver_info_ : dict
        ``converged``, ``kkt`` (relative residual at the solution), ``lipschitz``,
        ``objective``, ``duality_gap`` (a certificate ``objective - optimum <=
        duality_gap``; squared loss with norm penalties and ``l2=0`` only, else
        None).
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (`n_features_in_`,)

    Examples
    --------
    >>> import numpy as np
    >>> from rkhsmtl.linear import MultiTaskLinearRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(60, 5))
    >>> Y = X[:, :2] @ rng.normal(size=(2, 3))
    >>> Y[::4, 1] = np.nan
    >>> model = MultiTaskLinearRegressor("l21", alpha=1.0).fit(X, Y)
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
        return self._fit_wide(X, Y, sample_weight, xp, device)

    def predict(self, X):
        """Predict every task.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs, in the namespace and on the device of the fit.

        Returns
        -------
        Y_pred : array of shape (n_samples, n_tasks) (``(n_samples,)`` if fitted on a
            1-D ``y``)
        """
        F, xp = self._decision(X, "predict")
        return xp.reshape(F, (-1,)) if self._y_was_1d else F

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
    penalty_ : LinearPenalty
    objective_history_ : array of shape (`n_iter_`,)
    n_iter_ : int
    n_tasks_ : int
    solver_info_ : dict
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (`n_features_in_`,)

    Examples
    --------
    >>> import numpy as np
    >>> from rkhsmtl.linear import MultiTaskLinearClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(80, 4))
    >>> Y = (X[:, :1] + 0.3 * rng.normal(size=(80, 3)) > 0).astype(int)
    >>> clf = MultiTaskLinearClassifier("trace", alpha=0.5).fit(X, Y)
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
        self._fit_wide(X, Y, sample_weight, xp, device)
        self._numeric_classes = all(c.dtype.kind in "biuf" for c in classes)
        self._classes_host = classes
        if self._numeric_classes:
            classes = [to_namespace(c, xp, device) for c in classes]
        self.classes_ = classes[0] if was_1d else classes
        return self

    def _scores(self, X, method):
        F, xp = self._decision(X, method)
        return xp.reshape(F, (-1,)) if self._y_was_1d else F
