r"""Accelerated proximal gradient for ``loss(X W + 1 b^T) + penalty`` (FISTA).

Knows nothing of scikit-learn: arrays in, arrays and a dict out. The variable is
``Z`` of shape ``(n_blocks, n_features, n_tasks)`` (``W = sum_b Z[b]``; one block
except for the decomposition models) and the unpenalised intercepts ``b``
(``n_tasks``). The objective is

    datafit(F) + smooth_penalty(W) + l2 ||W||_F^2 + nonsmooth_penalty(Z),
    F = X W + 1 b^T,

with the datafit a weighted sum over the observed entries (weights ``omega``,
zero on a missing label).

Solver details (why):

* backtracking on the local Lipschitz constant ``L`` that may also *decrease*
  (``L`` is shrunk by ``_SHRINK`` before every line search), so that the step
  follows the local curvature instead of the worst one seen;
* the sufficient-decrease test uses the Bregman distance of the smooth part
  computed from the prediction difference (exact for squared losses), which stays
  accurate when ``f(Z+) - f(S)`` is at rounding level;
* adaptive restart (O'Donoghue & Candes 2015): momentum is reset when it points
  uphill (gradient scheme) or when the objective increases (function scheme);
* stopping on a relative fixed-point (KKT) residual
  ``L ||Z - prox(Z - grad/L)|| <= tol * ||grad f(0)||`` checked at the iterate
  itself, not at the extrapolated point, so a stop certifies the returned ``Z``;
* with intercepts, the iteration runs in the centred parametrisation
  ``F_it = (x_i - mu_t)^T w_t + c_t`` (``mu_t`` the weighted mean of task ``t``'s
  inputs, ``b_t = c_t - mu_t^T w_t``): the same objective, but the intercepts no
  longer fight the coefficients when the features are far from zero;
* ``X`` is a design operator (:mod:`._design`): dense, or task-blocked when each
  row is observed for few tasks (then ``F`` has shape ``(T, m)``);
* ``X S`` at the extrapolated point is the same combination of the stored
  ``X Z`` products (linearity), so an iteration costs one ``X @`` and one
  ``X.T @`` product.
"""

from __future__ import annotations

import math

from .._backend import array_device
from ._design import DenseDesign, TaskBlockedDesign, make_problem
from ._penalties import PreparedPenalty

__all__ = ["curvature_scale", "duality_gap", "fista", "kkt_residual", "loss_alpha_max",
           "make_problem", "objective"]

_SHRINK = 0.95
_GROW = 2.0
_MAX_BACKTRACK = 60


def _as_design(X, xp):
    if isinstance(X, (DenseDesign, TaskBlockedDesign)):
        return X
    return DenseDesign(X, xp)


def _prepared(penalty, D, n_tasks):
    """The penalty bound to this problem (:meth:`LinearPenalty.prepare`), once."""
    if isinstance(penalty, PreparedPenalty):
        return penalty
    return penalty.prepare(n_tasks, D.xp, D.device, D.dtype)


def _predict(D, W, b, xp):
    return D.add_intercept(D.matvec(W), b)


def _spectral_sq(D, n_tasks, fit_intercept, xp, n_iter=20, mu=None):
    """Squared norm of ``(W, c) -> X W + 1 c^T`` (in the centred parametrisation
    when ``mu`` is given) by power iteration, slightly inflated; the line search
    corrects it anyway."""
    D = _as_design(D, xp)
    d, T = D.n_features, n_tasks
    V = xp.ones((d, T), dtype=D.dtype, device=D.device) / math.sqrt(d * T)
    c = xp.zeros((T,), dtype=D.dtype, device=D.device)
    if fit_intercept:
        c = c + 1.0 / math.sqrt(T)
    est = 0.0
    for _ in range(n_iter):
        shift = c - xp.sum(mu * V, axis=0) if mu is not None else c
        U = D.add_intercept(D.matvec(V), shift)
        V_new = D.rmatvec(U)
        c_new = D.task_sums(U) if fit_intercept else xp.zeros_like(c)
        if mu is not None:
            V_new = V_new - mu * c_new[None, :]
        norm = math.sqrt(_sq(V_new, xp) + _sq(c_new, xp))
        if norm == 0.0:
            return 1.0
        est = norm
        V, c = V_new / norm, c_new / norm
    return 1.05 * est


def objective(X, Yf, omega, datafit, penalty, alpha, l2, Z, b, xp):
    """The objective at ``(Z, b)`` (a Python float)."""
    X = _as_design(X, xp)
    penalty = _prepared(penalty, X, Z.shape[2])
    W = xp.sum(Z, axis=0)
    F = _predict(X, W, b, xp)
    return float(_smooth_value(F, W, Yf, omega, datafit, penalty, alpha, l2, xp)
                 + penalty.value(Z, alpha, xp))


def _smooth_value(F, W, Yf, omega, datafit, penalty, alpha, l2, xp):
    value = datafit.value(F, Yf, omega, xp)
    sm = penalty.smooth(W, alpha, l2, xp)
    if sm is not None:
        value = value + sm[0]
    if l2 and penalty.adds_ridge:
        value = value + l2 * xp.sum(W * W)
    return value


def _smooth_parts(F, W, Yf, omega, datafit, penalty, alpha, l2, xp, grad=True):
    """Values (and gradients) of the three smooth parts: data, penalty, ridge."""
    if grad:
        data, gF = datafit.value_and_grad(F, Yf, omega, xp)
    else:
        data, gF = datafit.value(F, Yf, omega, xp), None
    sm = penalty.smooth(W, alpha, l2, xp)
    pen, gpen = (0.0, None) if sm is None else sm
    ridge = l2 * xp.sum(W * W) if (l2 and penalty.adds_ridge) else 0.0
    return data, gF, pen, gpen, ridge


def _smooth_value_grad(F, W, X, Yf, omega, datafit, penalty, alpha, l2, xp):
    """Smooth part at (W, F): value, gradient in W, gradient in b."""
    data, gF, pen, gpen, ridge = _smooth_parts(F, W, Yf, omega, datafit, penalty,
                                               alpha, l2, xp)
    gW = X.rmatvec(gF)
    if gpen is not None:
        gW = gW + gpen
    if l2 and penalty.adds_ridge:
        gW = gW + 2.0 * l2 * W
    return data + pen + ridge, gW, X.task_sums(gF)


def _sq(a, xp):
    return float(xp.sum(a * a))


def kkt_residual(X, Yf, omega, datafit, penalty, alpha, l2, Z, b, fit_intercept, xp,
                 step=None):
    """Fixed-point residual ``||(Z, b) - prox((Z, b) - step * grad)|| / step``.

    Zero exactly at a minimiser (for any step); returned with the gradient scale
    ``||grad f(0, 0)||`` that the solver's ``tol`` is relative to.
    """
    X = _as_design(X, xp)
    penalty = _prepared(penalty, X, Z.shape[2])
    W = xp.sum(Z, axis=0)
    F = _predict(X, W, b, xp)
    _, gW, gb = _smooth_value_grad(F, W, X, Yf, omega, datafit, penalty, alpha, l2,
                                      xp)
    if step is None:
        step = 1.0 / (datafit.curvature * float(xp.max(omega))
                      * _spectral_sq(X, Z.shape[2], fit_intercept, xp) * Z.shape[0])
    Zp = penalty.prox(Z - step * gW[None, ...], step * alpha, xp)
    res = _sq(Z - Zp, xp)
    if fit_intercept:
        res += _sq(gb, xp) * step * step
    return math.sqrt(res) / step


def _grad_scale(X, Yf, omega, datafit, fit_intercept, xp):
    """Norm of the gradient at ``W = 0`` and the best intercepts: the units of tol.

    Taken with the intercepts fitted, so that an offset of ``Y`` (or uncentred
    features) does not inflate the scale and stop the solver early.
    """
    b = _initial_intercept(X, Yf, omega, datafit, fit_intercept, xp)
    _, gF = datafit.value_and_grad(X.add_intercept(xp.zeros_like(Yf), b), Yf, omega, xp)
    scale = _sq(X.rmatvec(gF), xp)
    if fit_intercept:
        scale += _sq(X.task_sums(gF), xp)
    scale = math.sqrt(scale)
    return scale if scale > 0 else 1.0


def loss_alpha_max(X, Yf, omega, datafit, penalty, fit_intercept, xp):
    """Smallest ``alpha`` giving ``W = 0`` (None if the penalty has none)."""
    X = _as_design(X, xp)
    b = _initial_intercept(X, Yf, omega, datafit, fit_intercept, xp)
    F = X.add_intercept(xp.zeros_like(Yf), b)
    _, gF = datafit.value_and_grad(F, Yf, omega, xp)
    G = X.rmatvec(gF)
    return _prepared(penalty, X, G.shape[1]).alpha_max(G, xp)


def curvature_scale(X, Yf, omega, datafit, fit_intercept, xp):
    """Mean diagonal entry of the data fit's Hessian in ``W`` at ``W = 0``.

    Taken at the best intercepts, with the intercepts profiled out (so the features
    are centred per task with the Hessian's weights): the ``d * T`` diagonal
    entries ``sum_i h_it (x_ij - mu_jt)^2`` averaged. It is in the units of a
    quadratic penalty's weight (the ridge ``l2``, a graph or cluster penalty's
    ``alpha``), and scales like the loss, i.e. with the number of rows. 1.0 when
    the data fit is flat in ``W`` (constant features).
    """
    X = _as_design(X, xp)
    b = _initial_intercept(X, Yf, omega, datafit, fit_intercept, xp)
    H = datafit.hessian_weights(X.add_intercept(xp.zeros_like(Yf), b), Yf, omega, xp)
    trace = float(xp.sum(X.sq_rmatvec(H)))
    if fit_intercept:
        totals = X.task_sums(H)
        first = X.rmatvec(H)
        trace -= float(xp.sum(xp.sum(first * first, axis=0)
                              / xp.where(totals > 0, totals, 1.0)))
    scale = trace / (X.n_features * X.task_sums(omega).shape[0])
    return scale if math.isfinite(scale) and scale > 0 else 1.0


def _initial_intercept(X, Yf, omega, datafit, fit_intercept, xp):
    """Optimal intercepts at W = 0 (zeros without intercepts)."""
    T = X.task_sums(omega).shape[0]
    if fit_intercept:
        return datafit.intercept_at_zero(Yf, omega, X.task_sums, xp)
    return xp.zeros((T,), dtype=Yf.dtype, device=array_device(Yf))


def duality_gap(X, Yf, omega, datafit, penalty, alpha, l2, Z, b, fit_intercept, xp):
    """Fenchel duality gap ``P(W, b) - D(theta) >= 0`` at a primal point, or None.

    Available for the squared loss without ridge and without a smooth penalty
    part, for every penalty made of norms (lasso, l21, trace and the ``W = P + Q``
    models, whose conjugate constrains the dual norms of both parts). The dual
    point is the rescaled loss gradient ``theta = 2 w (F - Y)``, made to sum to
    zero per task when intercepts are fitted, then scaled into
    ``{alpha_max(X^T theta) <= alpha}``;
    ``D(theta) = -sum_{w > 0} (theta y + theta^2 / (4 w))``.
    """
    if datafit.name != "squared" or (l2 and penalty.adds_ridge) or alpha <= 0:
        return None
    X = _as_design(X, xp)
    penalty = _prepared(penalty, X, Z.shape[2])
    W = xp.sum(Z, axis=0)
    if penalty.smooth(W, alpha, l2, xp) is not None:
        return None
    # A constrained part (SparseLowRank(constraint=...)) adds its support function
    # to the dual objective, which the formula below does not have.
    if any(getattr(norm, "is_constraint", False)
           for norm, _ in getattr(penalty, "norms", ())):
        return None
    F = _predict(X, W, b, xp)
    _, theta = datafit.value_and_grad(F, Yf, omega, xp)
    used = omega > 0
    if fit_intercept:
        totals = X.task_sums(omega)
        shift = X.task_sums(theta) / xp.where(totals > 0, totals, 1.0)
        theta = theta - X.add_intercept(xp.zeros_like(theta), shift) * omega
    dual_norm = penalty.alpha_max(X.rmatvec(theta), xp)
    if dual_norm is None:
        return None
    if dual_norm > alpha:
        theta = theta * (alpha / dual_norm)
    safe = xp.where(used, omega, xp.ones_like(omega))
    dual = -float(xp.sum(xp.where(used, theta * Yf + theta * theta / (4.0 * safe),
                                  xp.zeros_like(theta))))
    primal = objective(X, Yf, omega, datafit, penalty, alpha, l2, Z, b, xp)
    return primal - dual


def _uncentre(c, Z, mu, xp):
    return c if mu is None else c - xp.sum(mu * xp.sum(Z, axis=0), axis=0)


def fista(X, Yf, omega, datafit, penalty, alpha, l2, xp, *, fit_intercept=True,
          Z0=None, b0=None, max_iter=1000, tol=1e-6, restart="gradient",
          lipschitz=None, record_history=True, grad_scale=None):
    """Minimise the objective by FISTA with backtracking and adaptive restart.

    Parameters
    ----------
    X : array (n, d) or design operator
        A design of :func:`make_problem` (dense or task-blocked), or an array.
    Yf, omega : arrays
        Targets (0 where missing) and weights (0 where missing) in the design's
        layout, from :func:`make_problem`.
    datafit : object of ``_datafits``
    penalty : LinearPenalty or PreparedPenalty
        A penalty object is prepared here (:meth:`LinearPenalty.prepare`); a
        prepared one (e.g. shared by the points of a path) is used as it is.
    alpha, l2 : float
        Penalty strength and ridge weight.
    Z0 : array (n_blocks, d, T), b0 : array (T,), optional
        Starting point (warm start).
    restart : {"gradient", "function", None}
    lipschitz : float, optional
        Initial Lipschitz estimate (e.g. the last one of a warm-started path).

    Returns
    -------
    Z, b, info : info has ``n_iter``, ``converged``, ``objective_history`` (list of
    floats, one per iteration), ``lipschitz``, ``kkt`` (relative residual at the
    returned point when it was checked), ``grad_scale``, ``objective`` and
    ``duality_gap`` (None where not available).
    """
    X = _as_design(X, xp)
    d = X.n_features
    dev = X.device
    totals = X.task_sums(omega)
    T = totals.shape[0]
    penalty = _prepared(penalty, X, T)
    B = penalty.n_blocks
    Z = xp.zeros((B, d, T), dtype=X.dtype, device=dev) if Z0 is None else Z0
    if b0 is not None:
        b = b0
    elif Z0 is None:
        b = _initial_intercept(X, Yf, omega, datafit, fit_intercept, xp)
    else:
        b = xp.zeros((T,), dtype=X.dtype, device=dev)
    if grad_scale is None:
        grad_scale = _grad_scale(X, Yf, omega, datafit, fit_intercept, xp)

    if fit_intercept:
        mu = X.rmatvec(omega) / xp.where(totals > 0, totals, 1.0)[None, :]

        def predict(W, c):
            return X.add_intercept(X.matvec(W), c - xp.sum(mu * W, axis=0))

        def grad_W(gF, gb):
            return X.rmatvec(gF) - mu * gb[None, :]
    else:
        mu = None

        def predict(W, c):
            return X.add_intercept(X.matvec(W), c)

        def grad_W(gF, gb):
            return X.rmatvec(gF)

    if lipschitz is None:
        lipschitz = B * (datafit.curvature * float(xp.max(omega))
                         * _spectral_sq(X, T, fit_intercept, xp, mu=mu) + 2.0 * l2)
    L = max(lipschitz, 1e-12)

    W = xp.sum(Z, axis=0)
    if fit_intercept:
        b = b + xp.sum(mu * W, axis=0)  # b now holds the centred intercepts c
    F = predict(W, b)
    obj = float(_smooth_value(F, W, Yf, omega, datafit, penalty, alpha, l2, xp)
                + penalty.value(Z, alpha, xp))
    obj_start = obj
    Z_old, b_old, F_old = Z, b, F
    t = 1.0
    history = []
    converged = False
    kkt = None
    n_iter = 0
    for it in range(1, max_iter + 1):
        n_iter = it
        t_next = 0.5 * (1.0 + math.sqrt(1.0 + 4.0 * t * t))
        beta = (t - 1.0) / t_next
        if beta > 0:
            S = Z + beta * (Z - Z_old)
            bS = b + beta * (b - b_old)
            FS = F + beta * (F - F_old)
        else:
            S, bS, FS = Z, b, F
        WS = xp.sum(S, axis=0)
        dS, gF, pS, gpS, _ = _smooth_parts(FS, WS, Yf, omega, datafit, penalty, alpha,
                                           l2, xp)
        gb = X.task_sums(gF) if fit_intercept else xp.zeros_like(b)
        gW = grad_W(gF, gb)
        if gpS is not None:
            gW = gW + gpS
        if l2 and penalty.adds_ridge:
            gW = gW + 2.0 * l2 * WS
        L *= _SHRINK
        for _ in range(_MAX_BACKTRACK):
            Zn = penalty.prox(S - (1.0 / L) * gW[None, ...], alpha / L, xp)
            bn = bS - gb / L
            Wn = xp.sum(Zn, axis=0)
            Fn = predict(Wn, bn)
            dZ2 = _sq(Zn - S, xp) + _sq(bn - bS, xp)
            dn, _, pn, _, rn = _smooth_parts(Fn, Wn, Yf, omega, datafit, penalty, alpha,
                                             l2, xp, grad=False)
            # f(Zn) - f(S) - <grad f(S), Zn - S>, part by part: the data part in
            # terms of F (exact for squares), the ridge part exactly.
            dW = Wn - WS
            bregman = float(datafit.bregman(Fn, FS, Yf, omega, xp))
            if gpS is not None:
                bregman += float(pn - pS) - float(xp.sum(gpS * dW))
            if l2 and penalty.adds_ridge:
                bregman += l2 * _sq(dW, xp)
            if bregman <= 0.5 * L * dZ2 + 1e-13 * abs(float(dS)):
                break
            L *= _GROW
        fn = dn + pn + rn
        obj_new = float(fn + penalty.value(Zn, alpha, xp))
        if record_history:
            history.append(obj_new)

        # Adaptive restart: drop the momentum when it works against descent.
        restart_now = False
        if restart == "gradient":
            restart_now = float(xp.sum((S - Zn) * (Zn - Z))) + \
                float(xp.sum((bS - bn) * (bn - b))) > 0
        elif restart == "function":
            restart_now = obj_new > obj
        Z_old, b_old, F_old = Z, b, F
        Z, b, F = Zn, bn, Fn
        t = 1.0 if restart_now else t_next
        # Relative to the objective, but not below a tiny fraction of the starting
        # one: an optimum at 0 (an exact fit) would never pass a purely relative test.
        rel_change = abs(obj - obj_new) / max(abs(obj_new), 1e-12 * abs(obj_start),
                                              1e-300)
        obj = obj_new

        # Cheap test at the extrapolated point, then the real one at Z.
        if L * math.sqrt(dZ2) <= tol * grad_scale and rel_change <= tol:
            kkt = kkt_residual(X, Yf, omega, datafit, penalty, alpha, l2, Z,
                               _uncentre(b, Z, mu, xp), fit_intercept, xp,
                               step=1.0 / L) / grad_scale
            if kkt <= tol:
                converged = True
                break
    b = _uncentre(b, Z, mu, xp)
    gap = duality_gap(X, Yf, omega, datafit, penalty, alpha, l2, Z, b, fit_intercept, xp)
    info = {
        "duality_gap": gap,
        "n_iter": n_iter,
        "converged": converged,
        "objective_history": history,
        "lipschitz": L,
        "kkt": kkt,
        "grad_scale": grad_scale,
        "objective": obj,
    }
    return Z, b, info
