"""Proximal operators, the clustered-MTL M-step and the FISTA core of rkhsmtl.linear,
each checked against an independent computation (NumPy/SciPy, written plainly)."""

import array_api_compat.numpy as xp
import numpy as np
import pytest
from scipy.optimize import minimize

from rkhsmtl.linear._datafits import LogisticLoss, SquaredLoss
from rkhsmtl.linear._design import make_problem
from rkhsmtl.linear._fista import fista, kkt_residual, objective
from rkhsmtl.linear._penalties import (
    _L1,
    L21,
    ClusteredMTL,
    Dirty,
    GraphPenalty,
    Lasso,
    NoPenalty,
    RobustLowRank,
    RobustMTFL,
    SparseLowRank,
    TraceNorm,
    _L1InfRows,
    _L21Cols,
    _L21Rows,
    _Nuclear,
    cluster_relation,
)


def _project_l1_ball(v, radius):
    """Euclidean projection on {||u||_1 <= radius} by bisection on the threshold."""
    if np.abs(v).sum() <= radius:
        return v.copy()
    lo, hi = 0.0, np.abs(v).max()
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if np.maximum(np.abs(v) - mid, 0).sum() > radius:
            lo = mid
        else:
            hi = mid
    return np.sign(v) * np.maximum(np.abs(v) - hi, 0)


def _project_rows_l1_ball(V, radius):
    """Row-wise projection on the l1 ball, Duchi et al. (2008) sort-based form."""
    A = np.abs(V)
    u = -np.sort(-A, axis=1)
    css = np.cumsum(u, axis=1)
    j = np.arange(1, V.shape[1] + 1)
    rho = np.sum(u - (css - radius) / j > 0, axis=1)
    theta = (css[np.arange(V.shape[0]), rho - 1] - radius) / rho
    inside = A.sum(axis=1) <= radius
    theta = np.where(inside, 0.0, theta)
    return np.sign(V) * np.maximum(A - theta[:, None], 0)


def _prox_reference(name, V, tau):
    if name == "l1":
        return np.sign(V) * np.maximum(np.abs(V) - tau, 0)
    if name == "l21":
        n = np.linalg.norm(V, axis=1, keepdims=True)
        return V * np.maximum(1 - tau / np.where(n > 0, n, 1), 0)
    if name == "l21_columns":
        n = np.linalg.norm(V, axis=0, keepdims=True)
        return V * np.maximum(1 - tau / np.where(n > 0, n, 1), 0)
    if name == "l1inf":  # Moreau decomposition row by row
        return V - _project_rows_l1_ball(V, tau)
    if name == "trace":
        U, s, Vt = np.linalg.svd(V, full_matrices=False)
        return (U * np.maximum(s - tau, 0)) @ Vt
    raise AssertionError(name)


def _norm_reference(name, V):
    return {"l1": np.abs(V).sum(), "l21": np.linalg.norm(V, axis=1).sum(),
            "l21_columns": np.linalg.norm(V, axis=0).sum(),
            "l1inf": np.abs(V).max(axis=1).sum(),
            "trace": np.linalg.svd(V, compute_uv=False).sum()}[name]


@pytest.mark.parametrize("norm", [_L1(), _L21Rows(), _L21Cols(), _L1InfRows(), _Nuclear()],
                         ids=lambda n: n.name)
@pytest.mark.parametrize("tau", [0.05, 0.7, 5.0])
def test_prox_matches_reference_and_minimises(norm, tau):
    rng = np.random.default_rng(1)
    V = rng.standard_normal((6, 4))
    V[2] = 0.0
    P = np.asarray(norm.prox(xp.asarray(V), tau, xp))
    np.testing.assert_allclose(P, _prox_reference(norm.name, V, tau), atol=1e-9)
    if norm.name == "l1inf":  # and the sort-based reference against bisection
        bisect = np.array([v - _project_l1_ball(v, tau) for v in V])
        np.testing.assert_allclose(P, bisect, atol=1e-9)
    np.testing.assert_allclose(float(norm.value(xp.asarray(V), xp)),
                               _norm_reference(norm.name, V), rtol=1e-12)

    # The prox minimises 1/2||U - V||^2 + tau ||U||: no random perturbation does
    # better.
    def h(U):
        return 0.5 * np.sum((U - V) ** 2) + tau * _norm_reference(norm.name, U)

    best = h(P)
    for _ in range(200):
        assert h(P + 1e-3 * rng.standard_normal(V.shape)) >= best - 1e-12


@pytest.mark.parametrize("k", [1, 2, 3, 5])
@pytest.mark.parametrize("eta", [0.05, 1.0])
def test_cluster_relation_is_the_constrained_minimiser(k, eta):
    rng = np.random.default_rng(k)
    s = rng.exponential(size=5) ** 2
    if k == 2:
        s[3] = 0.0
    m = np.asarray(cluster_relation(xp.asarray(s), eta, k, xp))
    assert np.all(m >= -1e-12) and np.all(m <= 1 + 1e-12)
    assert m.sum() == pytest.approx(k, abs=1e-10)
    res = minimize(lambda v: np.sum(s / (eta + v)), np.full(5, k / 5),
                   jac=lambda v: -s / (eta + v) ** 2, bounds=[(0, 1)] * 5,
                   constraints=[{"type": "eq", "fun": lambda v: v.sum() - k}],
                   method="SLSQP", options={"ftol": 1e-14, "maxiter": 500})
    assert np.sum(s / (eta + m)) <= res.fun + 1e-9 * max(1.0, res.fun)


def _problem(loss, T=4, n=40, d=6, seed=0, weights=True):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) + 0.5
    W = rng.standard_normal((d, T))
    F = X @ W + rng.standard_normal(T)
    Y = F + 0.5 * rng.standard_normal((n, T))
    if loss == "logistic":
        Y = np.where(Y > np.median(Y, axis=0), 1.0, -1.0)
    Y[rng.random((n, T)) < 0.25] = np.nan
    sw = rng.uniform(0.3, 2.0, (n, T)) if weights else None
    return X, Y, sw


PENALTIES = [
    (Lasso(), 1.0), (L21(), 2.0), (TraceNorm(), 2.0),
    (GraphPenalty("chain", l1_weight=0.1), 1.0), (GraphPenalty([(0, 2), (1, 3, 2.0)]), 1.0),
    (ClusteredMTL(2), 1.0), (Dirty(0.6), 1.0), (Dirty(0.6, shared="l21"), 1.0),
    (RobustMTFL(0.7), 2.0), (SparseLowRank(0.5), 1.0), (RobustLowRank(0.6), 2.0),
    (NoPenalty(), 1.0),
]


def _dense(X, Y, sw):
    """(design, targets with 0 where missing, weights with 0 where missing)."""
    return make_problem(xp.asarray(X), xp.asarray(Y),
                        None if sw is None else xp.asarray(sw), xp, layout="dense")


def _np_smooth_grad(X, Y, sw, W, b, loss, l2):
    """Gradient of the weighted loss + l2 ||W||^2, written plainly."""
    obs = ~np.isnan(Y)
    Yf = np.where(obs, Y, 0)
    w = np.where(obs, sw, 0)
    F = X @ W + b
    if loss == "squared":
        gF = 2 * w * (F - Yf)
    else:
        gF = -w * Yf / (1 + np.exp(Yf * F))
    return X.T @ gF + 2 * l2 * W, gF.sum(axis=0)


@pytest.mark.parametrize("loss", ["squared", "logistic"])
@pytest.mark.parametrize("penalty,alpha", PENALTIES, ids=repr)
def test_fixed_point_residual_at_solution(loss, penalty, alpha):
    X, Y, sw = _problem(loss)
    l2 = 0.3
    _, Yf, omega = _dense(X, Y, sw)
    datafit = SquaredLoss() if loss == "squared" else LogisticLoss()
    a = alpha if loss == "squared" else alpha / 4
    Z, b, info = fista(xp.asarray(X), Yf, omega, datafit, penalty, a, l2, xp,
                       tol=1e-10, max_iter=20000)
    assert info["converged"]
    res = kkt_residual(xp.asarray(X), Yf, omega, datafit, penalty, a, l2, Z, b, True, xp)
    assert res <= 1e-8 * info["grad_scale"]
    # The intercepts are optimal: the loss gradient in b vanishes (independent
    # NumPy gradient), and for penalties with a ridge the W-gradient of the
    # smooth part is finite and consistent with the objective's scale.
    W = np.asarray(xp.sum(Z, axis=0))
    _, gb = _np_smooth_grad(X, Y, sw, W, np.asarray(b), loss, l2 if penalty.adds_ridge
                            else 0.0)
    assert np.max(np.abs(gb)) <= 1e-7 * info["grad_scale"]
    assert info["objective"] == pytest.approx(
        objective(xp.asarray(X), Yf, omega, datafit, penalty, a, l2, Z, b, xp),
        rel=1e-12)


@pytest.mark.parametrize("loss", ["squared", "logistic"])
def test_subgradient_conditions_lasso_l21(loss):
    """KKT written independently: the NumPy gradient G of the smooth part satisfies
    G + alpha * s = 0 with s a subgradient of the norm."""
    X, Y, sw = _problem(loss, seed=3)
    _, Yf, omega = _dense(X, Y, sw)
    datafit = SquaredLoss() if loss == "squared" else LogisticLoss()
    alpha = 3.0 if loss == "squared" else 0.8
    for penalty in (Lasso(), L21()):
        Z, b, info = fista(xp.asarray(X), Yf, omega, datafit, penalty, alpha, 0.1, xp,
                           tol=1e-11, max_iter=20000)
        W = np.asarray(Z[0])
        G, _ = _np_smooth_grad(X, Y, sw, W, np.asarray(b), loss, 0.1)
        scale = np.abs(G).max() + alpha
        if isinstance(penalty, Lasso):
            nz = W != 0
            np.testing.assert_allclose(G[nz], -alpha * np.sign(W[nz]), atol=1e-7 * scale)
            assert np.all(np.abs(G[~nz]) <= alpha * (1 + 1e-7))
            assert nz.any() and (~nz).any()
        else:
            rn = np.linalg.norm(W, axis=1)
            nz = rn > 0
            np.testing.assert_allclose(G[nz], -alpha * W[nz] / rn[nz, None],
                                       atol=1e-7 * scale)
            assert np.all(np.linalg.norm(G[~nz], axis=1) <= alpha * (1 + 1e-7))


@pytest.mark.parametrize("loss", ["squared", "logistic"])
@pytest.mark.parametrize("graph", ["chain", "mean", [(0, 1), (2, 3, 0.5), (0, 3)]])
def test_graph_penalty_matches_lbfgs(loss, graph):
    """The graph model is smooth: compare with L-BFGS on the plainly written
    objective sum w loss + alpha ||W G||^2 + l2 ||W||^2."""
    X, Y, sw = _problem(loss, seed=5)
    T, d = Y.shape[1], X.shape[1]
    pen = GraphPenalty(graph)
    Lap = pen.laplacian(T)
    if graph == "chain":
        np.testing.assert_allclose(Lap, np.diag([1, 2, 2, 1]) - np.eye(4, k=1)
                                   - np.eye(4, k=-1))
    alpha, l2 = 2.0, 0.2
    obs = ~np.isnan(Y)
    Yf, w = np.where(obs, Y, 0), np.where(obs, sw, 0)

    def f(theta):
        W, b = theta[:d * T].reshape(d, T), theta[d * T:]
        F = X @ W + b
        if loss == "squared":
            val, gF = np.sum(w * (Yf - F) ** 2), 2 * w * (F - Yf)
        else:
            m = Yf * F
            val, gF = np.sum(w * np.logaddexp(0, -m)), -w * Yf / (1 + np.exp(m))
        val += alpha * np.trace(W @ Lap @ W.T) + l2 * np.sum(W * W)
        gW = X.T @ gF + 2 * alpha * W @ Lap + 2 * l2 * W
        return val, np.concatenate([gW.ravel(), gF.sum(axis=0)])

    ref = minimize(f, np.zeros(d * T + T), jac=True, method="L-BFGS-B",
                   options={"ftol": 1e-15, "gtol": 1e-11, "maxiter": 5000})
    _, Yx, om = _dense(X, Y, sw)
    datafit = SquaredLoss() if loss == "squared" else LogisticLoss()
    Z, b, info = fista(xp.asarray(X), Yx, om, datafit, pen, alpha, l2, xp, tol=1e-11,
                       max_iter=20000)
    np.testing.assert_allclose(np.asarray(Z[0]), ref.x[:d * T].reshape(d, T), atol=1e-6)
    assert info["objective"] == pytest.approx(ref.fun, rel=1e-10)


def test_cmtl_is_blockwise_optimal_hence_optimal():
    """Joint convexity in (W, M): W minimises the smooth problem for the returned M
    (L-BFGS), and M minimises over the constraint set for the returned W (SLSQP)."""
    X, Y, sw = _problem("squared", T=5, seed=7)
    T, d = Y.shape[1], X.shape[1]
    alpha, l2, k = 3.0, 0.5, 2
    pen = ClusteredMTL(k)
    _, Yx, om = _dense(X, Y, sw)
    Z, b, info = fista(xp.asarray(X), Yx, om, SquaredLoss(), pen, alpha, l2, xp,
                       tol=1e-11, max_iter=20000)
    W = np.asarray(Z[0])
    M = np.asarray(pen.extras(Z[0], alpha, l2, xp)["task_relation"])
    eta, c = l2 / alpha, l2 * (1 + l2 / alpha)
    evals = np.linalg.eigvalsh(M)
    assert evals.min() > -1e-10 and evals.max() < 1 + 1e-10
    assert np.trace(M) == pytest.approx(k)
    Minv = np.linalg.inv(eta * np.eye(T) + M)
    obs = ~np.isnan(Y)
    Yf, w = np.where(obs, Y, 0), np.where(obs, sw, 0)

    def f(theta):
        Wt, bt = theta[:d * T].reshape(d, T), theta[d * T:]
        R = X @ Wt + bt - Yf
        val = np.sum(w * R * R) + c * np.trace(Wt @ Minv @ Wt.T)
        gW = 2 * X.T @ (w * R) + 2 * c * Wt @ Minv
        return val, np.concatenate([gW.ravel(), 2 * (w * R).sum(axis=0)])

    ref = minimize(f, np.zeros(d * T + T), jac=True, method="L-BFGS-B",
                   options={"ftol": 1e-15, "gtol": 1e-11, "maxiter": 5000})
    np.testing.assert_allclose(W, ref.x[:d * T].reshape(d, T), atol=1e-6)
    assert info["objective"] == pytest.approx(ref.fun, rel=1e-9)
    # M-step optimality via a generic constrained solver on the eigenvalues of M.
    s, Q = np.linalg.eigh(W.T @ W)
    res = minimize(lambda m: np.sum(s / (eta + m)), np.full(T, k / T),
                   bounds=[(0, 1)] * T, method="SLSQP",
                   constraints=[{"type": "eq", "fun": lambda m: m.sum() - k}],
                   options={"ftol": 1e-15, "maxiter": 500})
    assert np.trace(W @ Minv @ W.T) <= res.fun * (1 + 1e-9)


def _ista(X, Y, sw, names, weights, alpha, l2, n_iter, Z=None, b=None):
    """Plain proximal gradient with a fixed step and the NumPy proxes above
    (squared loss, intercepts, W = sum of the blocks): slow but independent."""
    obs = ~np.isnan(Y)
    Yf, w = np.where(obs, Y, 0), np.where(obs, sw, 0)
    n, d = X.shape
    T = Y.shape[1]
    B = len(names)
    Xa = np.hstack([X, np.ones((n, 1))])
    L = B * (2 * w.max() * np.linalg.norm(Xa, 2) ** 2 + 2 * l2)
    Z = np.zeros((B, d, T)) if Z is None else Z.copy()
    b = np.zeros(T) if b is None else b.copy()
    pairs = list(zip(names, weights, strict=True))

    def value(Z, b):
        W = Z.sum(axis=0)
        R = X @ W + b - Yf
        return np.sum(w * R * R) + l2 * np.sum(W * W) + alpha * sum(
            wt * _norm_reference(nm, Z[i]) for i, (nm, wt) in enumerate(pairs))

    for _ in range(n_iter):
        W = Z.sum(axis=0)
        R = X @ W + b - Yf
        gW = 2 * X.T @ (w * R) + 2 * l2 * W
        gb = 2 * (w * R).sum(axis=0)
        Z = np.stack([_prox_reference(nm, Z[i] - gW / L, alpha * wt / L)
                      for i, (nm, wt) in enumerate(pairs)])
        b = b - gb / L
    return value(Z, b), Z


@pytest.mark.parametrize("penalty,names,weights", [
    (Dirty(0.6), ["l1inf", "l1"], [1.0, 0.6]),
    (RobustMTFL(0.7), ["l21", "l21_columns"], [1.0, 0.7]),
    (SparseLowRank(0.5), ["l1", "trace"], [1.0, 0.5]),
    (RobustLowRank(0.6), ["trace", "l21_columns"], [1.0, 0.6]),
    (TraceNorm(), ["trace"], [1.0]),
], ids=lambda p: repr(p) if not isinstance(p, list) else "")
def test_decomposition_models_are_ista_fixed_points(penalty, names, weights):
    """Independent check of W = P + Q models: our solution is a fixed point of a
    plain ISTA written with NumPy proxes (it neither moves nor decreases the
    objective), and it is at least as good as 2000 ISTA steps from zero."""
    X, Y, sw = _problem("squared", T=4, n=30, d=5, seed=11)
    alpha, l2 = 2.0, 0.1
    _, Yx, om = _dense(X, Y, sw)
    Z, b, info = fista(xp.asarray(X), Yx, om, SquaredLoss(), penalty, alpha, l2, xp,
                       tol=1e-11, max_iter=20000)
    assert info["converged"]
    Z, b = np.asarray(Z), np.asarray(b)
    start, _ = _ista(X, Y, sw, names, weights, alpha, l2, 0, Z, b)
    assert start == pytest.approx(info["objective"], rel=1e-13)
    after, Z_after = _ista(X, Y, sw, names, weights, alpha, l2, 50, Z, b)
    assert after >= start * (1 - 1e-12)
    np.testing.assert_allclose(Z_after.sum(axis=0), Z.sum(axis=0), atol=1e-7)
    from_zero, _ = _ista(X, Y, sw, names, weights, alpha, l2, 2000)
    assert info["objective"] <= from_zero * (1 + 1e-12)


def test_restart_schemes_and_history():
    X, Y, sw = _problem("logistic", seed=2)
    _, Yx, om = _dense(X, Y, sw)
    values = []
    for restart in ("gradient", "function", None):
        _, _, info = fista(xp.asarray(X), Yx, om, LogisticLoss(), TraceNorm(), 0.5, 0.0,
                           xp, tol=1e-8, max_iter=20000, restart=restart)
        assert info["converged"]
        assert len(info["objective_history"]) == info["n_iter"]
        assert info["objective_history"][-1] == info["objective"]
        values.append(info["objective"])
    np.testing.assert_allclose(values, values[0], rtol=1e-8)


@pytest.mark.parametrize("loss", ["squared", "logistic"])
@pytest.mark.parametrize("penalty,alpha", PENALTIES, ids=repr)
def test_task_blocked_layout_equals_dense(loss, penalty, alpha):
    """Gathering each task's observed rows (one task per row here, plus a few rows
    observed for two tasks) solves the same problem as the dense layout."""
    from rkhsmtl.linear._design import TaskBlockedDesign, make_problem

    rng = np.random.default_rng(21)
    n, d, T = 60, 5, 4
    X = rng.standard_normal((n, d)) + 0.3
    Y = np.full((n, T), np.nan)
    task = rng.integers(0, T, n)
    Y[np.arange(n), task] = X @ rng.standard_normal(d) + rng.standard_normal(n)
    Y[:5, (task[:5] + 1) % T] = rng.standard_normal(5)
    if loss == "logistic":
        Y = np.where(np.isnan(Y), np.nan, np.where(Y > 0, 1.0, -1.0))
    sw = rng.uniform(0.5, 2.0, n)
    datafit = SquaredLoss() if loss == "squared" else LogisticLoss()
    a = alpha if loss == "squared" else alpha / 4
    out = {}
    for layout in ("dense", "blocked"):
        D, Yf, om = make_problem(xp.asarray(X), xp.asarray(Y), xp.asarray(sw), xp,
                                 layout=layout)
        assert isinstance(D, TaskBlockedDesign) == (layout == "blocked")
        Z, b, info = fista(D, Yf, om, datafit, penalty, a, 0.2, xp, tol=1e-11,
                           max_iter=20000)
        assert info["converged"]
        out[layout] = (np.asarray(xp.sum(Z, axis=0)), np.asarray(b), info["objective"])
    np.testing.assert_allclose(out["blocked"][0], out["dense"][0], atol=1e-7)
    np.testing.assert_allclose(out["blocked"][1], out["dense"][1], atol=1e-7)
    assert out["blocked"][2] == pytest.approx(out["dense"][2], rel=1e-11)


@pytest.mark.parametrize("penalty,alpha", [(Lasso(), 2.0), (L21(), 3.0),
                                           (TraceNorm(), 3.0), (Dirty(0.6), 2.0),
                                           (RobustLowRank(0.6), 2.0)], ids=repr)
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_duality_gap_brackets_the_optimum(penalty, alpha, fit_intercept):
    """Weak duality: P(early iterate) - gap <= P* <= P(early iterate), and the gap
    closes at the solution."""
    from rkhsmtl.linear._fista import duality_gap

    X, Y, sw = _problem("squared", seed=23)
    _, Yx, om = _dense(X, Y, sw)
    kw = dict(fit_intercept=fit_intercept)
    _, _, best = fista(xp.asarray(X), Yx, om, SquaredLoss(), penalty, alpha, 0.0, xp,
                       tol=1e-12, max_iter=50000, **kw)
    p_star = best["objective"]
    assert 0 <= best["duality_gap"] <= 1e-9 * abs(p_star)
    for iters in (1, 3, 10):
        Z, b, info = fista(xp.asarray(X), Yx, om, SquaredLoss(), penalty, alpha, 0.0,
                           xp, tol=0.0, max_iter=iters, **kw)
        gap = duality_gap(xp.asarray(X), Yx, om, SquaredLoss(), penalty, alpha, 0.0, Z,
                          b, fit_intercept, xp)
        assert gap == info["duality_gap"]
        assert info["objective"] - gap <= p_star * (1 + 1e-12)
        assert info["objective"] >= p_star * (1 - 1e-12)
    assert duality_gap(xp.asarray(X), Yx, om, LogisticLoss(), penalty, alpha, 0.0, Z, b,
                       True, xp) is None


def test_graph_constructions():
    """||W G||^2 = sum over edges of weight * ||w_s - w_t||^2, and the mean graph
    gives sum_t ||w_t - w_bar||^2 (RMTL's corrected formulas)."""
    rng = np.random.default_rng(0)
    W = rng.standard_normal((3, 4))
    edges = GraphPenalty([(0, 1), (2, 3, 0.5), (0, 3)])
    value, _ = edges.smooth(xp.asarray(W), 1.0, 0.0, xp)
    expected = (np.sum((W[:, 0] - W[:, 1]) ** 2) + 0.5 * np.sum((W[:, 2] - W[:, 3]) ** 2)
                + np.sum((W[:, 0] - W[:, 3]) ** 2))
    assert float(value) == pytest.approx(expected)
    value, _ = GraphPenalty("mean").smooth(xp.asarray(W), 2.0, 0.0, xp)
    assert float(value) == pytest.approx(
        2.0 * np.sum((W - W.mean(axis=1, keepdims=True)) ** 2))
    value, _ = GraphPenalty("chain").smooth(xp.asarray(W), 1.0, 0.0, xp)
    assert float(value) == pytest.approx(np.sum(np.diff(W, axis=1) ** 2))
