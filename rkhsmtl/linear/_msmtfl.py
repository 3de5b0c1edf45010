r"""Multi-stage multi-task feature learning (MSMTFL; Gong, Ye & Zhang, NIPS 2012).

The capped-l1 penalty of the rows of ``W``,

    min_{W, b}  loss(X W + 1 b^T) + alpha sum_j min(||W_{j,:}||_1, theta)
                + l2 ||W||_F^2,

is non-convex: a feature whose weights sum (in absolute value) to ``theta`` or
more costs ``alpha * theta`` whatever its size, so large weights are not shrunk
as by the lasso. It is minimised by a sequence of convex problems, each a
reweighted lasso solved by the FISTA core (:mod:`._fista`), warm-started:

    stage l:  min  loss + alpha sum_j g_j ||W_{j,:}||_1 + l2 ||W||_F^2,
              g_j = 1[||W^{(l-1)}_{j,:}||_1 < theta],  W^{(0)} = 0,

so stage 1 is the lasso and later stages stop penalising the rows that reached
``theta``. Since ``min(r, theta) <= g r + (1 - g) theta`` with equality at the
previous stage's rows, each stage minimises a majoriser of the capped objective
that touches it at the previous solution: the capped objective never increases
from stage to stage (a stage that would increase it, through an inexact solve,
is discarded and ends the sequence). It stops when the weights ``g`` repeat (the
next stage would solve the same problem) or after ``max_stages`` stages. What is
guaranteed is this monotone decrease and, for every stage, its convex problem
solved to ``tol`` (relative KKT residual); the limit is a stationary point of
the capped objective, not necessarily its global minimum.

The solver function knows nothing of scikit-learn: arrays of one namespace
``xp`` in (a design of :func:`._design.make_problem`), arrays and a report out.
The estimators are thin layers over it.
"""

from __future__ import annotations

import math
import numbers
import warnings

from sklearn.exceptions import ConvergenceWarning

from .._validation import reset_fitted_attributes, task_names
from ._estimators import (
    AUTO_RIDGE_RATIO,
    SOLVER_PARAMS_DOC,
    MultiTaskLinearClassifier,
    MultiTaskLinearRegressor,
    check_alpha_l2,
    check_solver_params,
    resolve_auto,
)
from ._fista import _initial_intercept, curvature_scale, fista, make_problem, objective
from ._penalties import Lasso, PreparedPenalty, _Norm

__all__ = [
    "MultiStageFeatureLearningClassifier",
    "MultiStageFeatureLearningRegressor",
    "capped_l1_objective",
    "msmtfl",
    "stage_penalty",
]

#: ``theta="auto"``: this fraction of the largest row l1 norm of the first stage.
AUTO_THETA_RATIO = 0.5


class _RowWeightedL1(_Norm):
    """``sum_j g_j sum_t |V_jt|`` with a weight ``g_j >= 0`` per row."""

    name = "row_weighted_l1"

    def __init__(self, weights):
        self.weights = weights  # shape (d, 1)

    def value(self, V, xp):
        return xp.sum(self.weights * xp.abs(V))

    def prox(self, V, tau, xp):
        return xp.sign(V) * xp.maximum(xp.abs(V) - tau * self.weights, 0.0)

    def dual(self, G, xp):
        return xp.max(xp.abs(G) / self.weights)


class _StagePenalty(PreparedPenalty):
    """The prepared penalty of one stage; rows with weight 0 are free, so no finite
    ``alpha`` zeroes ``W`` (and there is no duality gap) unless all weights are
    positive."""

    def alpha_max(self, G, xp):
        norm = self.norms[0][0]
        if not bool(xp.all(norm.weights > 0)):
            return None
        return float(norm.dual(G, xp))


def stage_penalty(weights, xp):
    """The reweighted lasso ``sum_j weights_j ||W_{j,:}||_1`` of one stage.

    Parameters
    ----------
    weights : array of shape (n_features,)
        Non-negative weight of every row (1: penalised, 0: free).
    xp : module
        Array namespace of ``weights``.

    Returns
    -------
    penalty : PreparedPenalty
        For :func:`._fista.fista` (which multiplies it by ``alpha``).
    """
    return _StagePenalty([(_RowWeightedL1(weights[:, None]), 1.0)])


def capped_l1_objective(design, Yf, omega, datafit, alpha, theta, l2, W, b, xp):
    """``loss + alpha sum_j min(||W_j||_1, theta) + l2 ||W||_F^2`` (a float).

    Parameters
    ----------
    design : design operator
        From :func:`._design.make_problem`.
    Yf, omega : arrays
        Targets and weights in the design's layout.
    datafit : object
        The data-fit term (:mod:`._datafits`).
    alpha, theta, l2 : float
        Penalty weight, cap, ridge weight.
    W : array of shape (n_features, n_tasks)
        Coefficients.
    b : array of shape (n_tasks,)
        Intercepts.
    xp : module
        Array namespace.

    Returns
    -------
    value : float
    """
    F = design.add_intercept(design.matvec(W), b)
    rows = xp.sum(xp.abs(W), axis=1)
    value = datafit.value(F, Yf, omega, xp) + alpha * xp.sum(xp.minimum(rows, theta))
    if l2:
        value = value + l2 * xp.sum(W * W)
    return float(value)


def msmtfl(design, Yf, omega, datafit, alpha, theta, l2, xp, *, fit_intercept=True,
           max_stages=20, max_iter=5000, tol=1e-6, restart="gradient"):
    """Minimise the capped-l1 objective by the multi-stage scheme.

    Parameters
    ----------
    design : design operator
        From :func:`._design.make_problem` (dense or task-blocked).
    Yf, omega : arrays
        Targets (0 where missing) and weights (0 where missing).
    datafit : object
        The data-fit term (:mod:`._datafits`).
    alpha : float
        Weight of the capped penalty, ``>= 0``.
    theta : float or callable
        The cap, ``> 0`` (``inf`` gives the lasso); or a function ``f(rows, xp)``
        of the first stage's row l1 norms returning it (for ``theta="auto"``).
    l2 : float
        Ridge weight.
    xp : module
        Array namespace.
    fit_intercept : bool, default=True
        Fit unpenalised intercepts.
    max_stages : int, default=20
        Maximum number of stages (convex problems).
    max_iter, tol, restart
        FISTA's settings for every stage (:func:`._fista.fista`).

    Returns
    -------
    W : array of shape (n_features, n_tasks)
    b : array of shape (n_tasks,)
    info : dict
        ``theta`` (the cap used), ``n_stages``, ``converged`` (the weights
        repeated before ``max_stages``), ``objective_history`` (the capped
        objective at the start and after every kept stage; non-increasing),
        ``stages`` (one dict per stage: ``n_iter``, ``converged``, ``kkt``,
        ``n_free`` rows, ``objective`` of the stage's convex problem),
        ``n_iter`` (FISTA iterations in all), ``all_stages_converged``.
    """
    d = design.n_features
    T = design.task_sums(omega).shape[0]
    dev = design.device
    W = xp.zeros((d, T), dtype=design.dtype, device=dev)
    b = _initial_intercept(design, Yf, omega, datafit, fit_intercept, xp)
    weights = xp.ones((d,), dtype=design.dtype, device=dev)
    cap = theta if not callable(theta) else math.inf
    history = [capped_l1_objective(design, Yf, omega, datafit, alpha, cap, l2, W, b, xp)]
    stages = []
    converged = False
    lipschitz = None
    n_iter = 0
    for stage in range(1, max_stages + 1):
        penalty = stage_penalty(weights, xp)
        start = objective(design, Yf, omega, datafit, penalty, alpha, l2, W[None, ...], b,
                          xp)
        Z, b_new, info = fista(design, Yf, omega, datafit, penalty, alpha, l2, xp,
                               fit_intercept=fit_intercept, Z0=W[None, ...], b0=b,
                               max_iter=max_iter, tol=tol, restart=restart,
                               lipschitz=lipschitz, record_history=False)
        n_iter += int(info["n_iter"])
        lipschitz = info["lipschitz"]
        stages.append({"n_iter": int(info["n_iter"]), "converged": info["converged"],
                       "kkt": info["kkt"], "objective": info["objective"],
                       "n_free": int(xp.sum(xp.astype(weights == 0, xp.int64)))})
        if stage > 1 and info["objective"] > start:
            # Only rounding or an inexact solve can end above the warm start, which
            # is then the stage's minimiser as far as FISTA can tell: keeping the
            # new point could raise the capped objective, so the previous stands.
            stages[-1]["discarded"] = True
            converged = True
            break
        W, b = Z[0, ...], b_new
        rows = xp.sum(xp.abs(W), axis=1)
        if callable(theta):
            # The start's value does not depend on the cap (every row is 0).
            cap = theta = theta(rows, xp)
        history.append(capped_l1_objective(design, Yf, omega, datafit, alpha, cap, l2,
                                           W, b, xp))
        new_weights = xp.astype(rows < cap, design.dtype)
        if bool(xp.all(new_weights == weights)):
            converged = True
            break
        weights = new_weights
    info = {"theta": float(cap), "n_stages": len(stages), "converged": converged,
            "objective_history": history, "stages": stages, "n_iter": n_iter,
            "all_stages_converged": all(s["converged"] for s in stages),
            "objective": history[-1]}
    return W, b, info


# -------------------------------------------------------------------- estimators
def _check_theta(theta):
    if isinstance(theta, str) and theta == "auto":
        return theta
    if isinstance(theta, bool) or not isinstance(theta, numbers.Real) \
            or math.isnan(theta) or theta <= 0:
        raise ValueError(
            f'theta must be "auto" or a positive number (inf gives the lasso), got '
            f"{theta!r}.")
    return float(theta)


def _check_stages(value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"max_stages must be an integer >= 1, got {value!r}.")
    return int(value)


def _auto_theta(rows, xp):
    """Half the largest row l1 norm of the first stage (inf if it is 0)."""
    top = float(xp.max(rows)) if rows.shape[0] else 0.0
    return AUTO_THETA_RATIO * top if top > 0 else math.inf


class _MultiStageMixin:
    """``__init__`` and ``_fit_wide`` of the MSMTFL estimators; ``fit``, ``predict``
    and ``score`` are those of the linear regressor or classifier they extend."""

    def __init__(self, alpha="auto", theta="auto", *, l2="auto", fit_intercept=True,
                 max_stages=20, max_iter=5000, tol=1e-6, restart="gradient"):
        self.alpha = alpha
        self.theta = theta
        self.l2 = l2
        self.fit_intercept = fit_intercept
        self.max_stages = max_stages
        self.max_iter = max_iter
        self.tol = tol
        self.restart = restart

    def _reset(self):
        reset_fitted_attributes(self)

    def _shortcut_params(self):
        return {}

    def _fit_wide(self, X, Y, sample_weight, xp, device, y=None):
        alpha, l2 = check_alpha_l2(self)
        theta = _check_theta(self.theta)
        max_stages = _check_stages(self.max_stages)
        check_solver_params(self.max_iter, self.tol, self.restart)
        design, Yf, omega = make_problem(X, Y, sample_weight, xp)
        datafit = self._datafit()
        fit_intercept = bool(self.fit_intercept)
        # Stage 1 is the lasso: its alpha_max and "auto" rule are the lasso's.
        lasso = Lasso().prepare(Y.shape[1], xp, device, X.dtype)
        if l2 == "auto" and datafit.name == "logistic":
            # The capped rows are not penalised at all, and the logistic loss has
            # no minimiser on separable data without a ridge term.
            l2 = AUTO_RIDGE_RATIO * curvature_scale(design, Yf, omega, datafit,
                                                    fit_intercept, xp)
        alpha, l2 = resolve_auto(alpha, l2, design, Yf, omega, datafit, lasso,
                                 fit_intercept, xp)
        W, b, info = msmtfl(design, Yf, omega, datafit, alpha,
                            _auto_theta if theta == "auto" else theta, l2, xp,
                            fit_intercept=fit_intercept, max_stages=max_stages,
                            max_iter=int(self.max_iter), tol=float(self.tol),
                            restart=self.restart)
        name = type(self).__name__
        if not info["all_stages_converged"]:
            warnings.warn(
                f"{name}: a stage stopped at max_iter={self.max_iter} FISTA iterations "
                f"before reaching tol={self.tol}. Increase max_iter, loosen tol, or "
                "scale the features.", ConvergenceWarning, stacklevel=3)
        elif not info["converged"]:
            warnings.warn(
                f"{name} did not converge: max_stages={max_stages} stages reached "
                "while the set of capped features still changed. Increase "
                "max_stages.", ConvergenceWarning, stacklevel=3)
        self.coef_ = xp.asarray(W.T, copy=True)
        self.intercept_ = b
        self.alpha_ = float(alpha)
        self.l2_ = float(l2)
        self.theta_ = info["theta"]
        rows = xp.sum(xp.abs(W), axis=1)
        self.capped_features_ = rows >= info["theta"]
        self.n_stages_ = int(info["n_stages"])
        self.n_iter_ = int(info["n_iter"])
        self.objective_history_ = xp.asarray(info["objective_history"], dtype=X.dtype,
                                             device=device)
        self.n_tasks_ = int(Y.shape[1])
        self.tasks_ = task_names(y, Y.shape[1], xp, device)
        self.solver_info_ = {k: info[k] for k in
                             ("converged", "all_stages_converged", "objective",
                              "stages")}
        return self


_DOC = r"""

    Multi-stage multi-task feature learning (MSMTFL; Gong, Ye & Zhang 2012).
    ``W`` and ``b`` minimise the capped-l1 objective

    .. math::

        %(loss)s
        + \alpha \sum_j \min\big(\|W_{j,:}\|_1, \theta\big)
        + \lambda_2 \|W\|_F^2 ,

    a non-convex penalty: a feature whose weights sum (in absolute value) to
    ``theta`` or more costs ``alpha * theta`` whatever its size, so the weights of
    the features kept are not shrunk as by the lasso. It is minimised by a
    sequence of convex problems (stages), each a reweighted lasso solved by FISTA
    and warm-started from the last: stage 1 is the lasso, stage ``l`` penalises
    only the rows with ``||W_{j,:}||_1 < theta`` at stage ``l - 1``. Each stage
    minimises an upper bound of the capped objective that equals it at the
    previous solution, so the objective never increases from stage to stage
    (``objective_history_``); each stage is solved to ``tol``. The result is a
    stationary point, not necessarily the global minimum. See the :ref:`User
    Guide <linear-msmtfl>`.

    MALSAR's ``Least_msmtfl_capL1(X, Y, lambda, theta)`` minimises ``sum_t ||X_t
    w_t - y_t||^2 + lambda sum_j min(||W_j||_1, theta)`` (no 1/2): here
    ``alpha = lambda``, the same ``theta``, unit weights, ``fit_intercept=False``.

    Parameters
    ----------
    alpha : float or "auto", default="auto"
        Weight of the capped penalty, in the units of the loss (a sum over the
        observed entries). "auto": ``0.1 * alpha_max`` of the lasso (the first
        stage), in ``alpha_``.
    theta : float or "auto", default="auto"
        The cap, ``> 0``, in the units of ``||W_{j,:}||_1`` (``inf``: the lasso).
        "auto": half the largest row l1 norm of the first stage's (lasso)
        solution (``inf`` if that solution is 0), in ``theta_``: a heuristic, to
        be tuned like ``alpha`` (e.g. by ``GridSearchCV``).
    l2 : float or "auto", default="auto"
        Weight of the ridge term ``||W||_F^2``. "auto": 0 for the regressor (as
        for the lasso); for the classifier ``0.1 * kappa`` (``kappa`` the mean
        diagonal entry of the data fit's Hessian in ``W`` at ``W = 0``, as for
        :class:`MultiTaskLinearClassifier`'s penalties without ``alpha_max``):
        the capped features are not penalised, and on separable classes the
        logistic loss has no minimiser without a ridge term. In ``l2_``.
    fit_intercept : bool, default=True
        Fit unpenalised per-task intercepts.
    max_stages : int, default=20
        Maximum number of stages (convex problems). The fit stops earlier when
        the set of capped features repeats; reaching ``max_stages`` before that
        raises a :class:`~sklearn.exceptions.ConvergenceWarning`.
    """ + SOLVER_PARAMS_DOC.replace("Maximum number of FISTA iterations.",
                                    "Maximum number of FISTA iterations of each stage.") + r"""
    restart : {"gradient", "function", None}, default="gradient"
        FISTA's adaptive momentum restart scheme.

    Attributes
    ----------
    coef_ : array of shape (n_tasks, n_features)
        ``W^T``.
    intercept_ : array of shape (n_tasks,)
    alpha_ : float
        The ``alpha`` used.
    l2_ : float
        The ``l2`` used.
    theta_ : float
        The cap used (``theta``, or the value "auto" stands for).
    capped_features_ : array of shape (n_features,)
        Boolean: the features whose row reached ``theta_`` (not penalised at the
        last stage).
    n_stages_ : int
        Number of stages run.
    objective_history_ : array of shape (`n_stages_` + 1,)
        The capped objective at ``W = 0`` and after every stage; non-increasing.
    n_iter_ : int
        FISTA iterations over all stages.
    n_tasks_ : int
    tasks_ : ndarray of shape (`n_tasks_`,)
        Task names (the column names of a DataFrame ``y``, else ``arange``).
    solver_info_ : dict
        ``converged`` (the capped set repeated), ``all_stages_converged``,
        ``objective`` and ``stages`` (per stage: ``n_iter``, ``converged``,
        ``kkt``, ``n_free`` rows, ``objective`` of the stage's convex problem).
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (`n_features_in_`,)%(classes)s

    References
    ----------
    P. Gong, J. Ye and C. Zhang. Multi-stage multi-task feature learning. NIPS
    2012; JMLR 14, 2013.
"""

_CLASSES_DOC = """
    classes_ : list of ndarray of shape (2,), or ndarray of shape (2,)
        The sorted classes of every task (one array when fitted on a 1-D ``y``)."""


class MultiStageFeatureLearningRegressor(_MultiStageMixin, MultiTaskLinearRegressor):
    __doc__ = (r"""Capped-l1 multi-task feature learning, squared loss (MSMTFL).""" + _DOC
               .replace("%(loss)s", r"\sum_{i,t} s_{it} (Y_{it} - x_i^\top w_t - b_t)^2")
               .replace("%(classes)s", "") + r"""
    Examples
    --------
    >>> import numpy as np
    >>> from rkhsmtl.linear import MultiStageFeatureLearningRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(60, 8))
    >>> Y = X[:, :2] @ rng.normal(size=(2, 3)) + 0.1 * rng.normal(size=(60, 3))
    >>> model = MultiStageFeatureLearningRegressor().fit(X, Y)
    >>> model.coef_.shape
    (3, 8)
    """)


class MultiStageFeatureLearningClassifier(_MultiStageMixin, MultiTaskLinearClassifier):
    __doc__ = (r"""Capped-l1 multi-task feature learning, logistic loss (MSMTFL; one
    binary problem per task, labels as in :class:`MultiTaskLinearClassifier`).""" + _DOC
               .replace("%(loss)s", r"\sum_{i,t} s_{it} \log\big(1 + "
                        r"e^{-\tilde y_{it}(x_i^\top w_t + b_t)}\big)")
               .replace("%(classes)s", _CLASSES_DOC))
