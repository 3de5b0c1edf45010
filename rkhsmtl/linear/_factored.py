r"""Factored (non-convex) linear multi-task models, fitted by alternating minimisation.

Two models write ``W`` as a product of a part shared by the tasks and a part of
each task, and alternate between exact (or certified) minimisations over each
factor. Every sub-step is solved by the FISTA core (:mod:`._fista`) on a
transformed design or in closed form, so the objective never increases.

* **Multi-level lasso** (Lozano & Swirszcz, ICML 2012): ``W = diag(c) V``,
  ``c >= 0`` (one scale per feature, shared) and ``V`` (per task),
  ``min loss + alpha (s ||c||_1 + ||V||_1)``. The V-step is a lasso on the
  columns of ``X`` scaled by ``c``; the c-step rebalances the factors at fixed
  ``W``, in closed form.
* **GO-MTL** (Kumar & Daume III, ICML 2012): ``W = L S``, a basis ``L`` (``d x
  k``) and sparse codes ``S`` (``k x T``), ``min loss + alpha ||S||_1 + l2
  ||L||_F^2``. The S-step is a lasso on the features ``X L``; the L-step a ridge
  problem in ``L``, solved by conjugate gradients on its normal equations (squared
  loss) or by Newton's method with conjugate-gradient directions (logistic loss).

The functions here know nothing of scikit-learn: arrays of one namespace ``xp``
in (a design of :func:`._design.make_problem`), arrays and a report out. The
estimators are thin layers over them.
"""

from __future__ import annotations

import math
import numbers
import warnings

from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state

from .._backend import to_namespace
from .._solvers.krylov import pcg
from .._validation import reset_fitted_attributes, task_names
from ._design import DenseDesign, TaskBlockedDesign, make_problem
from ._estimators import (
    MultiTaskLinearClassifier,
    MultiTaskLinearRegressor,
    check_solver_params,
)
from ._fista import _grad_scale, _initial_intercept, curvature_scale, fista, loss_alpha_max
from ._penalties import Lasso, NoPenalty, PreparedPenalty, _check_real, _Norm

__all__ = [
    "GOMTLClassifier",
    "GOMTLRegressor",
    "MultiLevelLassoClassifier",
    "MultiLevelLassoRegressor",
    "gomtl",
    "multilevel_lasso",
]

# The default ("auto") strengths, relative to the data as in the convex family.
AUTO_ALPHA_RATIO = 0.1
AUTO_RIDGE_RATIO = 0.1


# ------------------------------------------------------------------ shared pieces
def _map_design(design, transform):
    """The design of ``X' = transform(X)`` (``transform`` acts on the feature axis)."""
    if isinstance(design, TaskBlockedDesign):
        return TaskBlockedDesign(transform(design.Xb), design.xp)
    return DenseDesign(transform(design.X), design.xp)


def _sq(a, xp):
    return float(xp.sum(a * a))


def _lasso_step(design, Yf, omega, datafit, alpha, xp, Z0, b0, fit_intercept, max_iter,
                tol, restart, lipschitz=None, penalty=None):
    """One lasso sub-step by FISTA, warm-started (the step size too); its report."""
    penalty = Lasso() if penalty is None else penalty
    Z, b, info = fista(design, Yf, omega, datafit, penalty, alpha, 0.0, xp,
                       fit_intercept=fit_intercept, Z0=Z0[None, ...], b0=b0,
                       max_iter=max_iter, tol=tol, restart=restart, record_history=False,
                       lipschitz=lipschitz)
    return Z[0, ...], b, info


def _relative_change(new, old, xp):
    scale = math.sqrt(max(_sq(new, xp), _sq(old, xp)))
    return math.sqrt(_sq(new - old, xp)) / scale if scale > 0 else 0.0


def _stop(history, W, W_old, tol, xp):
    """Outer stopping rule: relative objective decrease and relative change of ``W``.

    Near a stationary point the objective changes like the square of the step, so
    the step is compared with ``sqrt(tol)``.
    """
    if len(history) < 2:
        return False
    decrease = (history[-2] - history[-1]) / max(abs(history[-1]), 1e-300)
    return decrease <= tol and _relative_change(W, W_old, xp) <= math.sqrt(tol)


class _Alternation:
    """The bookkeeping of an alternating minimisation of ``J``.

    A sub-step is kept only when it does not increase ``J`` (`keeps`); the
    passes' values of ``J``, the sub-steps' iterations and whether they all
    converged make the ``info`` the solvers return.
    """

    def __init__(self, J, callback):
        self.J, self.callback = J, callback
        self.history, self.inner_iter, self.inner_converged = [], 0, True
        self.n_iter, self.converged = 0, False

    def count(self, info):
        """Add the iterations of a sub-step that reports ``n_iter`` and ``converged``."""
        self.inner_iter += info["n_iter"]
        self.inner_converged = self.inner_converged and info["converged"]

    def keeps(self, J_new):
        """Whether a sub-step that reaches ``J_new`` is kept (then ``J = J_new``)."""
        if J_new <= self.J:
            self.J = J_new
            return True
        return False

    def report(self, step, **state):
        """``callback(step, state)`` with the current ``objective``, if any."""
        if self.callback is not None:
            self.callback(step, dict(state, objective=self.J))

    def end_pass(self):
        """Record the value of ``J`` after a pass."""
        self.n_iter += 1
        self.history.append(self.J)

    def info(self):
        return {"n_iter": self.n_iter, "converged": self.converged,
                "objective_history": self.history, "inner_iter": self.inner_iter,
                "inner_converged": self.inner_converged, "objective": self.J}


# ------------------------------------------------------------ multi-level lasso
class _RowWeightedL1(_Norm):
    """``sum_j u_j ||V[j, :]||_1`` with ``u_j = 1 / c_j`` (infinite where ``c_j = 0``)."""

    name = "row_weighted_l1"

    def __init__(self, c, xp):
        positive = c > 0
        self.positive = positive[:, None]
        self.c = c[:, None]
        self.inverse = xp.where(positive, 1.0 / xp.where(positive, c, 1.0), 0.0)[:, None]

    def value(self, V, xp):
        return xp.sum(self.inverse * xp.abs(V))

    def prox(self, V, tau, xp):
        shrunk = xp.sign(V) * xp.maximum(xp.abs(V) - tau * self.inverse, 0.0)
        return xp.where(self.positive, shrunk, xp.zeros_like(V))

    def dual(self, G, xp):
        # Rows with c_j = 0 are held at zero: they do not constrain the dual.
        return xp.max(xp.abs(G) * self.c)


def v_step_penalty(c, xp):
    """The V-step's penalty in terms of ``W = diag(c) V``: ``||V||_1 = sum_j
    ||W_j||_1 / c_j``, with ``W_j = 0`` forced where ``c_j = 0``.

    The V-step is solved in ``W``: the smooth part then has the curvature of ``X``
    itself, not of ``X diag(c)``, whose columns shrink with ``c``.
    """
    return PreparedPenalty([(_RowWeightedL1(c, xp), 1.0)])


def multilevel_objective(design, Yf, omega, datafit, alpha, shared_weight, c, V, b, xp):
    """``loss(X diag(c) V + 1 b^T) + alpha (shared_weight ||c||_1 + ||V||_1)``."""
    W = c[:, None] * V
    F = design.add_intercept(design.matvec(W), b)
    return float(datafit.value(F, Yf, omega, xp)
                 + alpha * (shared_weight * xp.sum(xp.abs(c)) + xp.sum(xp.abs(V))))


def rebalance(W, shared_weight, xp):
    r"""The c-step: ``(c, V)`` minimising ``s ||c||_1 + ||V||_1`` with ``diag(c) V = W``.

    Row by row, ``s c_j + ||W_j||_1 / c_j`` is smallest at ``c_j = sqrt(||W_j||_1 /
    s)``, where it equals ``2 sqrt(s ||W_j||_1)``: the multi-level lasso is the
    lasso-type penalty ``2 alpha sqrt(s) sum_j sqrt(||W_{j,:}||_1)`` on ``W``.
    """
    row = xp.sum(xp.abs(W), axis=1)
    c = xp.sqrt(row / shared_weight)
    safe = xp.where(c > 0, c, xp.ones_like(c))
    V = xp.where(c[:, None] > 0, W / safe[:, None], xp.zeros_like(W))
    return c, V


def multilevel_lasso(design, Yf, omega, datafit, alpha, shared_weight, xp, *,
                     fit_intercept=True, max_iter=200, tol=1e-6, inner_max_iter=5000,
                     restart="gradient", callback=None):
    r"""Multi-level lasso by alternating minimisation.

    Minimises ``J(c, V, b) = datafit(X diag(c) V + 1 b^T) + alpha (s ||c||_1 +
    ||V||_1)`` over ``c >= 0`` (``d``), ``V`` (``d x T``) and the intercepts ``b``,
    with ``s = shared_weight``. From ``c = 1, V = 0`` (as Lozano & Swirszcz), each
    pass makes

    * a V-step: ``(V, b)`` minimising ``J`` at fixed ``c``, a lasso on the columns
      of ``X`` scaled by ``c``, solved in ``W = diag(c) V`` as a lasso with row
      weights ``1 / c_j`` (FISTA, warm-started, relative KKT residual ``<= tol``);
    * a c-step: the rebalancing :func:`rebalance` at fixed ``W = diag(c) V``,
      which minimises ``J`` over every factorisation of the same ``W``.

    ``J`` never increases (a V-step that would increase it, possible only if FISTA
    stops at ``inner_max_iter``, is discarded). A point where both steps leave the
    factors unchanged is stationary for ``J`` (the V-step's KKT conditions and the
    balance ``c_j = ||V_j||_1 / s`` give a zero derivative in every ``c_j > 0``; a
    ``c_j = 0`` has derivative ``alpha s > 0``), and ``W`` is then stationary for
    ``loss(W) + 2 alpha sqrt(s) sum_j sqrt(||W_j||_1)``. A feature dropped once
    (``c_j = 0``) stays dropped.

    Parameters
    ----------
    design : DenseDesign or TaskBlockedDesign
        The design of :func:`make_problem`.
    Yf : array
        Targets in the design's layout (0 where missing).
    omega : array
        Weights in the design's layout (0 where missing).
    datafit : object
        A data-fit term of :mod:`._datafits`.
    alpha : float
        Weight of ``||V||_1`` (``> 0``).
    shared_weight : float
        ``s``: the weight of ``||c||_1`` is ``alpha * s`` (``> 0``).
    xp : module
        Array namespace.
    fit_intercept : bool, default=True
        Fit unpenalised per-task intercepts.
    max_iter : int, default=200
        Maximum number of passes (V-step then c-step).
    tol : float, default=1e-6
        Stop when the relative decrease of ``J`` over a pass is at most ``tol`` and
        the relative change of ``W`` at most ``sqrt(tol)``; also the relative KKT
        tolerance of the V-steps.
    inner_max_iter : int, default=5000
        Maximum number of FISTA iterations of one V-step.
    restart : {"gradient", "function", None}, default="gradient"
        FISTA's restart scheme.
    callback : callable, default=None
        Called after every sub-step as ``callback(step, state)`` with ``step`` in
        {"V", "c"} and ``state`` a dict of ``c``, ``V``, ``b`` and ``objective``.

    Returns
    -------
    c : array of shape (n_features,)
    V : array of shape (n_features, n_tasks)
    b : array of shape (n_tasks,)
    info : dict
        ``n_iter`` (passes), ``converged``, ``objective_history`` (``J`` after every
        pass), ``inner_iter`` (FISTA iterations in all), ``inner_converged``
        (whether every V-step met ``tol``), ``objective``.
    """
    d, T = design.n_features, design.task_sums(omega).shape[0]
    dev = design.device
    c = xp.ones((d,), dtype=design.dtype, device=dev)
    V = xp.zeros((d, T), dtype=design.dtype, device=dev)
    b = _initial_intercept(design, Yf, omega, datafit, fit_intercept, xp)

    def value(c, V, b):
        return multilevel_objective(design, Yf, omega, datafit, alpha, shared_weight,
                                    c, V, b, xp)

    run = _Alternation(value(c, V, b), callback)
    lip = None
    W = c[:, None] * V
    for _ in range(max_iter):
        W_old = W
        W_new, b_new, info = _lasso_step(design, Yf, omega, datafit, alpha, xp, W, b,
                                         fit_intercept, inner_max_iter, tol, restart, lip,
                                         v_step_penalty(c, xp))
        lip = info["lipschitz"]
        safe = xp.where(c > 0, c, xp.ones_like(c))
        V_new = xp.where(c[:, None] > 0, W_new / safe[:, None], xp.zeros_like(W_new))
        run.count(info)
        if run.keeps(value(c, V_new, b_new)):
            V, b = V_new, b_new
        run.report("V", c=c, V=V, b=b)
        W = c[:, None] * V
        c_new, V_new = rebalance(W, shared_weight, xp)
        if run.keeps(value(c_new, V_new, b)):  # always, up to rounding
            c, V = c_new, V_new
        run.report("c", c=c, V=V, b=b)
        run.end_pass()
        if float(xp.max(c)) == 0.0 or _stop(run.history, W, W_old, tol, xp):
            run.converged = True
            break
    return c, V, b, run.info()


# ------------------------------------------------------------------------ GO-MTL
def gomtl_objective(design, Yf, omega, datafit, alpha, l2, L, S, b, xp):
    """``loss(X L S + 1 b^T) + alpha ||S||_1 + l2 ||L||_F^2``."""
    F = design.add_intercept(design.matvec(L @ S), b)
    return float(datafit.value(F, Yf, omega, xp) + alpha * xp.sum(xp.abs(S))
                 + l2 * xp.sum(L * L))


def _task_means(design, omega, fit_intercept, xp):
    """Weighted per-task means of the features ``mu`` (``d x T``), or None."""
    if not fit_intercept:
        return None
    totals = design.task_sums(omega)
    return design.rmatvec(omega) / xp.where(totals > 0, totals, 1.0)[None, :]


def _centred(design, mu, xp):
    """``(W -> C(W), R -> C^T R)``: predictions with features centred per task."""
    if mu is None:
        return design.matvec, design.rmatvec

    def forward(W):
        return design.add_intercept(design.matvec(W), -xp.sum(mu * W, axis=0))

    def adjoint(R):
        return design.rmatvec(R) - mu * design.task_sums(R)[None, :]

    return forward, adjoint


def l_step_squared(design, Yf, omega, l2, S, L0, xp, *, fit_intercept, tol, max_iter):
    r"""The L-step of the squared loss: ``(L, b)`` minimising ``J`` at fixed ``S``.

    With the intercepts profiled out (features and targets centred per task with
    the weights), ``L`` solves the normal equations

    .. math:: C^\top \big(\Omega \circ C(L S)\big) S^\top + \lambda L
              = C^\top (\Omega \circ Y_c) S^\top,

    the ``(d k) x (d k)`` system ``[sum_t (s_t s_t^T) kron (X_t^T Omega_t X_t) +
    lambda I] vec L = vec(...)``, solved by conjugate gradients with its diagonal as
    preconditioner (relative residual ``<= tol``), from ``L0``.

    Returns
    -------
    L, b, info : info has ``n_iter``, ``converged`` and ``relative_residual``.
    """
    mu = _task_means(design, omega, fit_intercept, xp)
    forward, adjoint = _centred(design, mu, xp)
    totals = design.task_sums(omega)
    if fit_intercept:
        ybar = design.task_sums(omega * Yf) / xp.where(totals > 0, totals, 1.0)
        Yc = design.add_intercept(Yf, -ybar)
        var = design.sq_rmatvec(omega) - mu * mu * totals[None, :]
    else:
        Yc = Yf
        var = design.sq_rmatvec(omega)
    diag = var @ (S * S).T + l2
    diag = xp.where(diag > 0, diag, xp.ones_like(diag))

    def matvec(v):
        (Lv,) = v
        return (adjoint(omega * forward(Lv @ S)) @ S.T + l2 * Lv,)

    rhs = (adjoint(omega * Yc) @ S.T,)
    result = pcg(matvec, rhs, lambda r: (r[0] / diag,), tol=tol, max_iter=max_iter,
                 xp=xp, x0=(L0,))
    L = result.x[0]
    if fit_intercept:
        b = ybar - xp.sum(mu * (L @ S), axis=0)
    else:
        b = xp.zeros_like(totals)
    return L, b, {"n_iter": result.n_iter, "converged": result.converged,
                  "relative_residual": result.relative_residual}


def l_step_newton(design, Yf, omega, datafit, l2, S, L0, b0, xp, *, fit_intercept,
                  tol, max_iter, grad_scale):
    """The L-step of a smooth loss (logistic) by Newton's method.

    Minimises ``f(L, b) = datafit(X L S + 1 b^T) + l2 ||L||_F^2`` (convex) from
    ``(L0, b0)``: each Newton direction solves the Hessian system by conjugate
    gradients (Hessian-vector products through the design, inexactly far from the
    optimum), and a backtracking (Armijo) line search makes ``f`` decrease at every
    iteration, until the gradient norm is at most ``tol * grad_scale``.

    Returns
    -------
    L, b, info : info has ``n_iter`` (Newton iterations), ``converged`` and
        ``grad_norm`` (relative).
    """
    def evaluate(L, b):
        F = design.add_intercept(design.matvec(L @ S), b)
        return F, float(datafit.value(F, Yf, omega, xp) + l2 * xp.sum(L * L))

    L, b = L0, b0
    F, f = evaluate(L, b)
    n_iter, converged, gnorm = 0, False, math.inf
    for it in range(max_iter + 1):
        _, gF = datafit.value_and_grad(F, Yf, omega, xp)
        gL = design.rmatvec(gF) @ S.T + 2.0 * l2 * L
        gb = design.task_sums(gF) if fit_intercept else xp.zeros_like(b)
        gnorm = math.sqrt(_sq(gL, xp) + _sq(gb, xp)) / grad_scale
        if gnorm <= tol:
            converged = True
            break
        if it == max_iter:
            break
        n_iter = it + 1
        h = datafit.hessian_weights(F, Yf, omega, xp)

        def hessian(v, h=h):
            dL, db = v
            R = h * design.add_intercept(design.matvec(dL @ S), db)
            return (design.rmatvec(R) @ S.T + 2.0 * l2 * dL,
                    design.task_sums(R) if fit_intercept else xp.zeros_like(db))

        # Inexact Newton: a forcing term that tightens as the gradient vanishes.
        size = L.shape[0] * L.shape[1] + b.shape[0]
        direction = pcg(hessian, (-gL, -gb), tol=min(0.5, math.sqrt(gnorm)),
                        max_iter=2 * size + 10, xp=xp, curvature_guard=True).x
        dL, db = direction
        slope = float(xp.sum(gL * dL) + xp.sum(gb * db))
        if not slope < 0:  # no descent direction left in floating point
            dL, db = -gL, -gb
            slope = -(_sq(gL, xp) + _sq(gb, xp))
        step = 1.0
        for _ in range(60):
            F_new, f_new = evaluate(L + step * dL, b + step * db)
            if f_new <= f + 1e-4 * step * slope:
                break
            step *= 0.5
        else:
            break
        L, b, F, f = L + step * dL, b + step * db, F_new, f_new
    return L, b, {"n_iter": n_iter, "converged": converged, "grad_norm": gnorm}


def balance_components(L, S, alpha, l2, xp):
    r"""The scale step: ``L[:, a] * g_a`` and ``S[a, :] / g_a`` minimising the penalty.

    ``W = L S`` is unchanged; ``alpha ||S_a||_1 / g + l2 g^2 ||L_a||^2`` is smallest
    at ``g^3 = alpha ||S_a||_1 / (2 l2 ||L_a||^2)``. Without it the alternation
    creeps along this direction (each step can rescale only one factor), which
    takes hundreds of passes; a stationary point is balanced anyway.
    """
    s1 = xp.sum(xp.abs(S), axis=1)
    l2n = xp.sum(L * L, axis=0)
    used = (s1 > 0) & (l2n > 0)
    ratio = alpha * s1 / (2.0 * l2 * xp.where(used, l2n, 1.0))
    g = xp.where(used, ratio ** (1.0 / 3.0), xp.ones_like(s1))
    return L * g[None, :], S / g[:, None]


def gomtl_init(design, Yf, omega, datafit, n_components, l2, xp, *, init="svd",
               noise=None, fit_intercept=True, max_iter=5000, tol=1e-6):
    """The starting basis ``L0`` (``d x k``) of GO-MTL.

    ``init="svd"`` (Kumar & Daume III): fit every task alone (ridge ``l2``, or
    logistic ridge), ``W0 = U diag(sigma) V^T``, and take ``L0 = U_k
    diag(sqrt(sigma_k))`` (the basis half of the balanced rank-``k`` factorisation);
    columns beyond the rank of ``W0`` are filled from ``noise`` scaled to the
    smallest used column. ``init="random"``: ``L0 = noise / sqrt(d)``. ``noise`` is
    a ``d x k`` array of standard normal draws (needed for "random", and for "svd"
    when ``k`` exceeds the rank).
    """
    d = design.n_features
    if init == "random":
        return noise / math.sqrt(d)
    Z, _, _ = fista(design, Yf, omega, datafit, NoPenalty(), 0.0, l2, xp,
                    fit_intercept=fit_intercept, max_iter=max_iter, tol=tol,
                    record_history=False)
    U, s, _ = xp.linalg.svd(Z[0, ...], full_matrices=False)
    smax = float(s[0]) if s.shape[0] else 0.0
    r = int(xp.sum(xp.astype(s > 1e-10 * smax, xp.int64))) if smax > 0 else 0
    r = min(r, n_components)
    parts = []
    if r:
        parts.append(U[:, :r] * xp.sqrt(s[:r])[None, :])
    if r < n_components:
        scale = math.sqrt(float(s[r - 1])) if r else 1.0
        extra = noise[:, r:]
        norms = xp.sqrt(xp.sum(extra * extra, axis=0))
        parts.append(scale * extra / xp.where(norms > 0, norms, 1.0)[None, :])
    return xp.concat(parts, axis=1)


def gomtl(design, Yf, omega, datafit, alpha, l2, L0, xp, *, fit_intercept=True,
          max_iter=200, tol=1e-6, inner_max_iter=5000, restart="gradient",
          callback=None):
    r"""GO-MTL by alternating minimisation.

    Minimises ``J(L, S, b) = datafit(X L S + 1 b^T) + alpha ||S||_1 + l2 ||L||_F^2``
    from the basis ``L0``. Each pass makes

    * an S-step: ``(S, b)`` minimising ``J`` at fixed ``L``, one lasso per task on
      the ``k`` features ``X L`` (FISTA, warm-started, relative KKT residual
      ``<= tol``);
    * an L-step: ``(L, b)`` minimising ``J`` at fixed ``S``, a ridge problem
      (:func:`l_step_squared` for the squared loss, :func:`l_step_newton`
      otherwise);
    * a scale step (:func:`balance_components`): the exact minimisation over the
      rescalings ``(L D, D^{-1} S)``, ``D`` diagonal, which leave ``W`` unchanged.

    ``J`` never increases (a sub-step that would increase it, possible only when
    it stops at ``inner_max_iter``, is discarded); it is bounded below, so it
    converges. A point that both steps leave unchanged is a stationary point of
    ``J`` (block-wise optimal in ``(S, b)`` and in ``(L, b)``); the problem is not
    jointly convex, and which stationary point is reached depends on ``L0``.

    Parameters
    ----------
    design : DenseDesign or TaskBlockedDesign
        The design of :func:`make_problem`.
    Yf : array
        Targets in the design's layout (0 where missing).
    omega : array
        Weights in the design's layout (0 where missing).
    datafit : object
        A data-fit term of :mod:`._datafits`.
    alpha : float
        ``mu``, weight of ``||S||_1``.
    l2 : float
        ``lambda``, weight of ``||L||_F^2`` (``> 0`` for a unique L-step).
    L0 : array of shape (n_features, n_components)
        Starting basis (:func:`gomtl_init`).
    xp : module
        Array namespace.
    fit_intercept : bool, default=True
        Fit unpenalised per-task intercepts.
    max_iter : int, default=200
        Maximum number of passes (S-step then L-step).
    tol : float, default=1e-6
        Stop when the relative decrease of ``J`` over a pass is at most ``tol`` and
        the relative change of ``W = L S`` at most ``sqrt(tol)``; also the
        tolerance of the sub-steps (relative KKT residual of the S-step, relative
        residual of the normal equations or relative gradient of the L-step).
    inner_max_iter : int, default=5000
        Maximum number of iterations of one sub-step.
    restart : {"gradient", "function", None}, default="gradient"
        FISTA's restart scheme in the S-steps.
    callback : callable, default=None
        Called after every sub-step as ``callback(step, state)`` with ``step`` in
        {"S", "L", "scale"} and ``state`` a dict of ``L``, ``S``, ``b`` and ``objective``.

    Returns
    -------
    L : array of shape (n_features, n_components)
    S : array of shape (n_components, n_tasks)
    b : array of shape (n_tasks,)
    info : dict
        ``n_iter``, ``converged``, ``objective_history`` (``J`` after every pass),
        ``inner_iter``, ``inner_converged``, ``objective``.
    """
    T = design.task_sums(omega).shape[0]
    k = L0.shape[1]
    L = L0
    S = xp.zeros((k, T), dtype=design.dtype, device=design.device)
    b = _initial_intercept(design, Yf, omega, datafit, fit_intercept, xp)
    squared = datafit.name == "squared"
    grad_scale = _grad_scale(design, Yf, omega, datafit, fit_intercept, xp)

    def value(L, S, b):
        return gomtl_objective(design, Yf, omega, datafit, alpha, l2, L, S, b, xp)

    run = _Alternation(value(L, S, b), callback)
    lip_s = None
    W = L @ S
    for _ in range(max_iter):
        W_old = W
        coded = _map_design(design, lambda A, L=L: A @ L)
        S_new, b_new, info = _lasso_step(coded, Yf, omega, datafit, alpha, xp, S, b,
                                         fit_intercept, inner_max_iter, tol, restart,
                                         lip_s)
        lip_s = info["lipschitz"]
        run.count(info)
        if run.keeps(value(L, S_new, b_new)):
            S, b = S_new, b_new
        run.report("S", L=L, S=S, b=b)
        if squared:
            L_new, b_new, info = l_step_squared(
                design, Yf, omega, l2, S, L, xp, fit_intercept=fit_intercept,
                tol=tol * 1e-2, max_iter=inner_max_iter)
        else:
            scale = grad_scale * max(math.sqrt(_sq(S, xp)), 1e-300)
            L_new, b_new, info = l_step_newton(
                design, Yf, omega, datafit, l2, S, L, b, xp, fit_intercept=fit_intercept,
                tol=tol, max_iter=inner_max_iter, grad_scale=scale)
        run.count(info)
        if run.keeps(value(L_new, S, b_new)):
            L, b = L_new, b_new
        run.report("L", L=L, S=S, b=b)
        if alpha > 0 and l2 > 0:
            L_new, S_new = balance_components(L, S, alpha, l2, xp)
            if run.keeps(value(L_new, S_new, b)):  # always, up to rounding
                L, S = L_new, S_new
            run.report("scale", L=L, S=S, b=b)
        run.end_pass()
        W = L @ S
        if _stop(run.history, W, W_old, tol, xp):
            run.converged = True
            break
    return L, S, b, run.info()


# -------------------------------------------------------------------- estimators
def _check_strength(value, name):
    """``value`` if it is "auto", else as a float ``>= 0``."""
    if isinstance(value, str) and value == "auto":
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Real) \
            or not math.isfinite(value) or value < 0:
        raise ValueError(
            f'{name} must be "auto" or a non-negative finite number, got {value!r}.')
    return float(value)


def _check_count(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}.")
    return int(value)


def _warn_alternation(name, info, max_iter, tol, inner_max_iter):
    if not info["converged"]:
        history = info["objective_history"]
        last = ((history[-2] - history[-1]) / max(abs(history[-1]), 1e-300)
                if len(history) > 1 else float("nan"))
        warnings.warn(
            f"{name} did not converge: max_iter={max_iter} alternating passes reached "
            f"with tol={tol} (relative decrease of the objective over the last pass "
            f"{last:.2e}). Increase max_iter, loosen tol, or scale the features.",
            ConvergenceWarning, stacklevel=4)
    elif not info["inner_converged"]:
        warnings.warn(
            f"{name}: a sub-step stopped at inner_max_iter={inner_max_iter} iterations "
            f"before reaching tol={tol}; the objective still decreased. Increase "
            "inner_max_iter, loosen tol, or scale the features.",
            ConvergenceWarning, stacklevel=4)


_FACTORED_SOLVER_DOC = """fit_intercept : bool, default=True
        Fit unpenalised per-task intercepts.
    max_iter : int, default=200
        Maximum number of alternating passes (one minimisation over each factor).
        Stopping at ``max_iter`` before ``tol`` is met raises a
        :class:`~sklearn.exceptions.ConvergenceWarning` naming it.
    tol : float, default=1e-6
        Stop when the relative decrease of the objective over a pass is at most
        ``tol`` and the relative change of ``W`` at most ``sqrt(tol)``. Also the
        tolerance of every sub-step: the relative KKT residual of the lasso steps
        (as ``tol`` of :class:`MultiTaskLinearRegressor`) and of the other step.
    inner_max_iter : int, default=5000
        Maximum number of iterations of one sub-step (FISTA iterations of a lasso
        step, conjugate-gradient or gradient iterations of GO-MTL's L-step).
    restart : {"gradient", "function", None}, default="gradient"
        FISTA's adaptive momentum restart scheme in the lasso steps."""


_CLASSES_DOC = """
    classes_ : list of ndarray of shape (2,), or ndarray of shape (2,)
        The sorted classes of every task (one array when fitted on a 1-D ``y``)."""


def _fill(cls):
    classes = _CLASSES_DOC if issubclass(cls, MultiTaskLinearClassifier) else ""
    cls.__doc__ = cls.__doc__.replace("%(solver_params)s", _FACTORED_SOLVER_DOC).replace(
        "%(classes)s", classes)
    return cls


class _FactoredMixin:
    """What the factored estimators share; ``fit``, ``predict`` and ``score`` are
    those of the linear regressor or classifier they extend."""

    def _reset(self):
        reset_fitted_attributes(self)

    def _shortcut_params(self):
        return {}

    def _check_common(self):
        check_solver_params(self.max_iter, self.tol, self.restart)
        _check_count(self.inner_max_iter, "inner_max_iter")

    def _solver_kwargs(self):
        return {"fit_intercept": bool(self.fit_intercept), "max_iter": int(self.max_iter),
                "tol": float(self.tol), "inner_max_iter": int(self.inner_max_iter),
                "restart": self.restart}

    def _store(self, W, b, info, X, y, n_tasks, xp, device):
        self.coef_ = xp.asarray(W.T, copy=True)
        self.intercept_ = b
        self.n_iter_ = int(info["n_iter"])
        self.objective_history_ = xp.asarray(info["objective_history"], dtype=X.dtype,
                                             device=device)
        self.n_tasks_ = int(n_tasks)
        self.tasks_ = task_names(y, n_tasks, xp, device)
        self.solver_info_ = {k: info[k] for k in
                             ("converged", "inner_converged", "inner_iter", "objective")}
        _warn_alternation(type(self).__name__, info, self.max_iter, self.tol,
                          self.inner_max_iter)


class _MultiLevelLassoMixin(_FactoredMixin):
    def __init__(self, alpha="auto", *, shared_weight=1.0, fit_intercept=True,
                 max_iter=200, tol=1e-6, inner_max_iter=5000, restart="gradient"):
        self.alpha = alpha
        self.shared_weight = shared_weight
        self.fit_intercept = fit_intercept
        self.max_iter = max_iter
        self.tol = tol
        self.inner_max_iter = inner_max_iter
        self.restart = restart

    def _fit_wide(self, X, Y, sample_weight, xp, device, y=None):
        alpha = _check_strength(self.alpha, "alpha")
        shared_weight = _check_real(self.shared_weight, "shared_weight", positive=True)
        self._check_common()
        design, Yf, omega = make_problem(X, Y, sample_weight, xp)
        datafit = self._datafit()
        if alpha == "auto":
            alpha = AUTO_ALPHA_RATIO * loss_alpha_max(
                design, Yf, omega, datafit, Lasso(), bool(self.fit_intercept), xp)
        c, V, b, info = multilevel_lasso(design, Yf, omega, datafit, float(alpha),
                                         shared_weight, xp, **self._solver_kwargs())
        self.coef_shared_ = c
        self.coef_specific_ = xp.asarray(V.T, copy=True)
        self.alpha_ = float(alpha)
        self._store(c[:, None] * V, b, info, X, y, Y.shape[1], xp, device)
        return self


_MLL_DOC = r"""

    Task ``t``'s weights are ``w_t = c * v_t`` (entry-wise): a non-negative scale
    ``c_j`` of each feature, shared by every task, times task-specific weights
    ``V``. With ``s = shared_weight`` the factors minimise

    .. math::

        %(loss)s
        + \alpha \big(s \|c\|_1 + \|V\|_1\big), \quad c \ge 0,

    which, minimised over the factorisations of a given ``W``, is the
    non-convex penalty :math:`2 \alpha \sqrt{s} \sum_j \sqrt{\|W_{j,:}\|_1}`:
    a feature is either dropped for all tasks (``c_j = 0``) or kept, and then
    used sparsely by the tasks. ``W`` depends on ``alpha`` and ``s`` only
    through :math:`\alpha \sqrt{s}`; ``s`` sets how the product is split.
    ``mutar.MultiLevelLasso(alpha=a)`` (loss
    :math:`\frac{1}{2n}\sum_t \|y_t - X_t w_t\|^2`, both factors weighted by
    ``a``) is ``alpha=a``, ``shared_weight=1`` with ``sample_weight = 1 / (2 n)``.

    Fitted by alternating minimisation (see the :ref:`User Guide
    <linear-factored>`): from ``c = 1``, a lasso in ``V`` on the columns of ``X``
    scaled by ``c`` (FISTA), then the exact minimisation over ``c`` at fixed
    ``W``, ``c_j = sqrt(||W_{j,:}||_1 / s)``. The objective never increases and
    the limit is a stationary point, not necessarily the global minimum.

    Parameters
    ----------
    alpha : float or "auto", default="auto"
        Weight of ``||V||_1`` (the weight of ``||c||_1`` is ``alpha *
        shared_weight``), in the units of the loss, a sum over the observed
        entries. "auto": ``0.1 * alpha_max`` of the lasso (the first step, at
        ``c = 1``, is that lasso), in ``alpha_``.
    shared_weight : float, default=1.0
        ``s > 0``: the weight of the shared scales ``||c||_1`` relative to that of
        the task-specific part.
    %(solver_params)s

    Attributes
    ----------
    coef_ : array of shape (n_tasks, n_features)
        ``W^T = (diag(c) V)^T``.
    coef_shared_ : array of shape (n_features,)
        ``c``, the scale of every feature shared by the tasks (0: dropped).
    coef_specific_ : array of shape (n_tasks, n_features)
        ``V^T``, the task-specific factors.
    intercept_ : array of shape (n_tasks,)
    alpha_ : float
        The ``alpha`` used.
    objective_history_ : array of shape (`n_iter_`,)
        The objective after every pass; it never increases.
    n_iter_ : int
        Number of alternating passes run.
    n_tasks_ : int
    tasks_ : ndarray of shape (`n_tasks_`,)
        Task names (the column names of a DataFrame ``y``, else ``arange``).
    solver_info_ : dict
        ``converged``, ``inner_converged``, ``inner_iter`` (FISTA iterations in
        all), ``objective``.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (`n_features_in_`,)%(classes)s

    References
    ----------
    A. C. Lozano and G. Swirszcz. Multi-level Lasso for sparse multi-task
    regression. ICML 2012.
"""


@_fill
class MultiLevelLassoRegressor(_MultiLevelLassoMixin, MultiTaskLinearRegressor):
    __doc__ = (r"""Multi-level lasso (Lozano & Swirszcz 2012): ``W = diag(c) V``,
    squared loss.""" + _MLL_DOC.replace(
        "%(loss)s", r"\sum_{i,t} s_{it} (Y_{it} - x_i^\top w_t - b_t)^2") + r"""
    Examples
    --------
    >>> import numpy as np
    >>> from rkhsmtl.linear import MultiLevelLassoRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(60, 8))
    >>> Y = X[:, :2] @ rng.normal(size=(2, 3)) + 0.1 * rng.normal(size=(60, 3))
    >>> model = MultiLevelLassoRegressor().fit(X, Y)
    >>> model.coef_.shape, model.coef_shared_.shape
    ((3, 8), (8,))
    """)


@_fill
class MultiLevelLassoClassifier(_MultiLevelLassoMixin, MultiTaskLinearClassifier):
    __doc__ = (r"""Multi-level lasso (Lozano & Swirszcz 2012): ``W = diag(c) V``,
    logistic loss (one binary problem per task, labels as in
    :class:`MultiTaskLinearClassifier`).""" + _MLL_DOC.replace(
        "%(loss)s",
        r"\sum_{i,t} s_{it} \log\big(1 + e^{-\tilde y_{it}(x_i^\top w_t + b_t)}\big)")
)


class _GOMTLMixin(_FactoredMixin):
    def __init__(self, alpha="auto", *, n_components=2, l2="auto", init="svd",
                 random_state=None, fit_intercept=True, max_iter=200, tol=1e-6,
                 inner_max_iter=5000, restart="gradient"):
        self.alpha = alpha
        self.n_components = n_components
        self.l2 = l2
        self.init = init
        self.random_state = random_state
        self.fit_intercept = fit_intercept
        self.max_iter = max_iter
        self.tol = tol
        self.inner_max_iter = inner_max_iter
        self.restart = restart

    def _fit_wide(self, X, Y, sample_weight, xp, device, y=None):
        alpha = _check_strength(self.alpha, "alpha")
        l2 = _check_strength(self.l2, "l2")
        k = _check_count(self.n_components, "n_components")
        if self.init not in ("svd", "random"):
            raise ValueError(f"init must be 'svd' or 'random', got {self.init!r}.")
        self._check_common()
        fit_intercept = bool(self.fit_intercept)
        design, Yf, omega = make_problem(X, Y, sample_weight, xp)
        datafit = self._datafit()
        if l2 == "auto":
            l2 = AUTO_RIDGE_RATIO * curvature_scale(design, Yf, omega, datafit,
                                                    fit_intercept, xp)
        noise = check_random_state(self.random_state).standard_normal((X.shape[1], k))
        noise = xp.astype(to_namespace(noise, xp, device), X.dtype)
        L0 = gomtl_init(design, Yf, omega, datafit, k, float(l2), xp, init=self.init,
                        noise=noise, fit_intercept=fit_intercept,
                        max_iter=int(self.inner_max_iter), tol=float(self.tol))
        if alpha == "auto":
            coded = _map_design(design, lambda A: A @ L0)
            alpha = AUTO_ALPHA_RATIO * loss_alpha_max(coded, Yf, omega, datafit, Lasso(),
                                                      fit_intercept, xp)
        L, S, b, info = gomtl(design, Yf, omega, datafit, float(alpha), float(l2), L0, xp,
                              **self._solver_kwargs())
        self.basis_ = xp.asarray(L.T, copy=True)
        self.codes_ = xp.asarray(S.T, copy=True)
        self.task_components_ = self.codes_ != 0
        self.alpha_ = float(alpha)
        self.l2_ = float(l2)
        self._store(L @ S, b, info, X, y, Y.shape[1], xp, device)
        return self


_GOMTL_DOC = r"""

    Task ``t``'s weights are ``w_t = L s_t``: a combination of ``k``
    latent basis tasks (the columns of ``L``, ``n_features x k``) with sparse
    codes ``s_t``, so tasks that use the same basis vectors form (overlapping)
    groups. The factors minimise

    .. math::

        %(loss)s
        + \alpha \|S\|_1 + \lambda_2 \|L\|_F^2,

    (``alpha`` is the paper's :math:`\mu`, ``l2`` its :math:`\lambda`; the loss is
    a sum over the observed entries), by alternating minimisation (see the
    :ref:`User Guide <linear-factored>`): one lasso per task on the features
    ``X L`` (FISTA), then a ridge problem in ``L``. The problem is not jointly
    convex: the objective never increases and the limit is a stationary point
    that depends on the start; ``L`` and ``S`` are determined only up to a
    permutation and signs of the basis vectors.

    Parameters
    ----------
    alpha : float or "auto", default="auto"
        :math:`\mu`, weight of ``||S||_1``. "auto": ``0.1 * alpha_max`` of the
        first S-step (the lasso on ``X L0``), in ``alpha_``.
    n_components : int, default=2
        ``k``, the number of basis tasks.
    l2 : float or "auto", default="auto"
        :math:`\lambda`, weight of ``||L||_F^2`` (and the ridge of the per-task
        fits of ``init="svd"``). "auto": a tenth of the mean diagonal entry of the
        data fit's Hessian in ``W`` at ``W = 0`` (as ``l2="auto"`` of
        :class:`MultiTaskLinearRegressor` for penalties without ``alpha_max``), in
        ``l2_``.
    init : {"svd", "random"}, default="svd"
        Starting basis. "svd" (the paper's): fit every task alone (ridge
        ``l2``), take the leading ``k`` left singular vectors of the ``n_features x
        n_tasks`` matrix of those weights, scaled by the square roots of the
        singular values; basis vectors beyond its rank are random. "random":
        Gaussian entries of variance ``1 / n_features``.
    random_state : int, RandomState instance or None, default=None
        Seed of the random basis vectors (``init="random"``, or "svd" with
        ``n_components`` above the rank of the per-task weights).
    %(solver_params)s

    Attributes
    ----------
    coef_ : array of shape (n_tasks, n_features)
        ``W^T = (L S)^T = codes_ @ basis_``.
    basis_ : array of shape (n_components, n_features)
        ``L^T``: row ``k`` is basis task ``k``.
    codes_ : array of shape (n_tasks, n_components)
        ``S^T``: row ``t`` holds task ``t``'s sparse code.
    task_components_ : array of bool of shape (n_tasks, n_components)
        Which basis tasks each task uses (``codes_ != 0``): two tasks share basis
        task ``k`` when both have ``True`` in column ``k``.
    intercept_ : array of shape (n_tasks,)
    alpha_ : float
        The ``alpha`` used.
    l2_ : float
        The ``l2`` used.
    objective_history_ : array of shape (`n_iter_`,)
        The objective after every pass; it never increases.
    n_iter_ : int
        Number of alternating passes run.
    n_tasks_ : int
    tasks_ : ndarray of shape (`n_tasks_`,)
        Task names (the column names of a DataFrame ``y``, else ``arange``).
    solver_info_ : dict
        ``converged``, ``inner_converged``, ``inner_iter``, ``objective``.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (`n_features_in_`,)%(classes)s

    References
    ----------
    A. Kumar and H. Daume III. Learning task grouping and overlap in multi-task
    learning. ICML 2012.
"""


@_fill
class GOMTLRegressor(_GOMTLMixin, MultiTaskLinearRegressor):
    __doc__ = (r"""Grouping and overlap in multi-task learning (GO-MTL; Kumar &
    Daume III 2012): ``W = L S``, squared loss.""" + _GOMTL_DOC.replace(
        "%(loss)s", r"\sum_{i,t} s_{it} (Y_{it} - x_i^\top L s_t - b_t)^2") + r"""
    Examples
    --------
    >>> import numpy as np
    >>> from rkhsmtl.linear import GOMTLRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(60, 8))
    >>> Y = X @ rng.normal(size=(8, 2)) @ rng.normal(size=(2, 4))
    >>> model = GOMTLRegressor(n_components=2, random_state=0).fit(X, Y)
    >>> model.basis_.shape, model.codes_.shape
    ((2, 8), (4, 2))
    """)


@_fill
class GOMTLClassifier(_GOMTLMixin, MultiTaskLinearClassifier):
    __doc__ = (r"""Grouping and overlap in multi-task learning (GO-MTL; Kumar &
    Daume III 2012): ``W = L S``, logistic loss (one binary problem per task, labels
    as in :class:`MultiTaskLinearClassifier`).""" + _GOMTL_DOC.replace(
        "%(loss)s",
        r"\sum_{i,t} s_{it} \log\big(1 + e^{-\tilde y_{it}(x_i^\top L s_t + b_t)}\big)")
)
