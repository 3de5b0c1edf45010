"""Convex ASO, sparse graph-regularised MTL (SRMTL) and constrained sparse + low rank.

Each model is checked against an independent solver or certificate written here
with NumPy/SciPy, in MALSAR's own parametrisation (so the documented mapping is
checked too): L-BFGS on the objective with the M-step of cASO computed by a 1-D
root search, bounded L-BFGS on the split ``W = W+ - W-`` for SRMTL, and a Fenchel
duality gap and a proximal fixed-point residual for the constrained sparse + low
rank model. Then planted structures, missing labels and weights, errors, and
scikit-learn's common checks.
"""

import warnings

import array_api_compat.numpy as xp
import numpy as np
import pytest
from scipy.linalg import subspace_angles
from scipy.optimize import brentq, minimize
from sklearn.utils.estimator_checks import parametrize_with_checks

from rkhsmtl.linear import (
    ClusteredMTL,
    ConvexASO,
    GraphPenalty,
    MultiTaskLinearClassifier,
    MultiTaskLinearRegressor,
    SparseLowRank,
    alpha_max,
)

# A relative KKT residual of 1e-10 puts the objective within 1e-8 (it is the
# square of the distance); tighter runs hit the rounding floor.
TIGHT = {"tol": 1e-10, "max_iter": 20000}


def _problem(loss, n=30, d=5, T=4, seed=0, missing=0.2):
    """Wide data with NaN for missing labels (every task keeps both classes)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) + 0.5
    W = rng.standard_normal((d, T))
    Y = X @ W + 0.5 * rng.standard_normal((n, T))
    if loss == "logistic":
        Y = np.where(Y > np.median(Y, axis=0), 1.0, -1.0)
    Y[rng.random((n, T)) < missing] = np.nan
    return X, Y


def _task_counts(Y):
    return np.sum(~np.isnan(Y), axis=0)


def _loss_grad(X, Y, W, c, loss):
    """MALSAR's data term and its gradients in W and c: ``sum_t 1/2 ||X_t w_t -
    y_t||^2`` (squared) or ``sum_t 1/n_t sum_i log(1 + exp(-y (x w_t + c_t)))``."""
    obs = ~np.isnan(Y)
    Yf = np.where(obs, Y, 0.0)
    F = X @ W + c[None, :]
    if loss == "squared":
        R = np.where(obs, F - Yf, 0.0)
        return 0.5 * np.sum(R * R), X.T @ R, R.sum(axis=0)
    w = obs / _task_counts(Y)[None, :]
    m = Yf * F
    value = np.sum(w * np.logaddexp(0.0, -m))
    gF = -w * Yf * np.exp(-np.logaddexp(0.0, m))
    return value, X.T @ gF, gF.sum(axis=0)


def _lbfgs(fun, x0):
    res = minimize(fun, x0, jac=True, method="L-BFGS-B",
                   options={"maxiter": 50000, "maxfun": 100000, "ftol": 1e-16,
                            "gtol": 1e-13, "maxcor": 50})
    return res.fun, res.x


def _fit(loss, penalty, alpha, l2, X, Y, **kw):
    """Our model in MALSAR's units: the squared solvers halve the loss and have no
    intercept (so alpha and l2 double); the logistic ones average it per task."""
    if loss == "squared":
        model = MultiTaskLinearRegressor(2 * alpha, penalty=penalty, l2=2 * l2,
                                         fit_intercept=False, **TIGHT, **kw)
        return model.fit(X, Y)
    model = MultiTaskLinearClassifier(alpha, penalty=penalty, l2=l2, **TIGHT, **kw)
    weights = np.broadcast_to(1.0 / _task_counts(Y), Y.shape)
    return model.fit(X, Y, sample_weight=weights)


# ================================================================= convex ASO
def _m_step(W, eta, h):
    """Eigen-decomposition of the minimiser M of ``tr(W^T (eta I + M)^-1 W)`` over
    ``0 <= M <= I, tr M = h``: M shares the left singular vectors of W, with
    eigenvalues ``clip(theta s_i - eta, 0, 1)``; theta by a root search."""
    U, s, _ = np.linalg.svd(W, full_matrices=True)
    s = np.concatenate([s, np.zeros(W.shape[0] - s.size)])
    positive = s > 1e-300
    if positive.sum() <= h:  # W's directions fit in the subspace; spread the rest
        rest = (h - positive.sum()) / max(s.size - positive.sum(), 1)
        return U, np.where(positive, 1.0, rest)

    def excess(theta):
        return np.clip(theta * s - eta, 0.0, 1.0).sum() - h

    theta = brentq(excess, 0.0, (1.0 + eta) / s[s > 0].min() + 1.0, xtol=1e-15,
                   rtol=1e-15)
    return U, np.clip(theta * s - eta, 0.0, 1.0)


def _caso_term(W, rho1, rho2, h):
    """MALSAR's ``rho1 eta (1 + eta) tr(W^T (eta I + M)^-1 W)`` at the best M, and
    its gradient ``2 c (eta I + M)^-1 W`` (the M-step is a minimum: Danskin)."""
    eta = rho2 / rho1
    c = rho1 * eta * (1.0 + eta)
    U, m = _m_step(W, eta, h)
    inv = (U / (eta + m)) @ U.T
    return c * np.sum(W * (inv @ W)), 2.0 * c * inv @ W, (U * m) @ U.T


def _caso_objective(X, Y, W, c, loss, rho1, rho2, h):
    value, gW, gc = _loss_grad(X, Y, W, c, loss)
    pen, gpen, _ = _caso_term(W, rho1, rho2, h)
    return value + pen, gW + gpen, gc


@pytest.mark.parametrize("loss", ["squared", "logistic"])
def test_caso_reaches_the_lbfgs_optimum_of_malsars_objective(loss):
    X, Y = _problem(loss, seed=1)
    d, T = X.shape[1], Y.shape[1]
    rho1, rho2, h = 3.0, 0.5, 2
    model = _fit(loss, ConvexASO(h), rho1, rho2, X, Y)
    W = model.coef_.T
    c = model.intercept_ if loss == "logistic" else np.zeros(T)
    ours, _, _ = _caso_objective(X, Y, W, c, loss, rho1, rho2, h)
    # The mapping: our objective is MALSAR's (doubled for the halved squares).
    scale = 2.0 if loss == "squared" else 1.0
    assert model.solver_info_["objective"] == pytest.approx(scale * ours, rel=1e-12)

    with_c = loss == "logistic"

    def fun(x):
        Wx = x[:d * T].reshape(d, T)
        cx = x[d * T:] if with_c else np.zeros(T)
        value, gW, gc = _caso_objective(X, Y, Wx, cx, loss, rho1, rho2, h)
        return value, np.concatenate([gW.ravel(), gc if with_c else []])

    best, _ = _lbfgs(fun, np.zeros(d * T + (T if with_c else 0)))
    assert ours <= best * (1 + 1e-12)
    assert ours == pytest.approx(best, rel=1e-8)


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_caso_solution_is_optimal_in_w_and_in_m(fit_intercept):
    # The objective is jointly convex and differentiable in (W, M) on a product
    # set, so (W, M) is optimal iff each block is optimal given the other: M by
    # the independent M-step, W by the exact solve of the quadratic with M fixed.
    X, Y = _problem("squared", seed=2)
    rng = np.random.default_rng(0)
    sw = rng.uniform(0.5, 2.0, Y.shape)
    alpha, l2, h = 40.0, 4.0, 2
    model = MultiTaskLinearRegressor(alpha, penalty=ConvexASO(h), l2=l2,
                                     fit_intercept=fit_intercept, **TIGHT)
    model.fit(X, Y, sample_weight=sw)
    W = model.coef_.T
    _, _, M = _caso_term(W, alpha, l2, h)  # rho1 = alpha, rho2 = l2: same eta, c
    np.testing.assert_allclose(model.feature_relation_, M, atol=1e-9)
    m = np.linalg.eigvalsh(model.feature_relation_)
    assert np.trace(model.feature_relation_) == pytest.approx(h, rel=1e-12)
    assert m.min() >= -1e-12 and m.max() <= 1 + 1e-12

    eta = l2 / alpha
    A = np.linalg.inv(eta * np.eye(X.shape[1]) + M) * l2 * (1 + eta)
    obs = ~np.isnan(Y)
    Xb = np.hstack([X, np.ones((X.shape[0], 1))]) if fit_intercept else X
    for t in range(Y.shape[1]):
        w, Xt, yt = sw[obs[:, t], t], Xb[obs[:, t]], Y[obs[:, t], t]
        H = Xt.T @ (w[:, None] * Xt)
        H[:X.shape[1], :X.shape[1]] += A
        exact = np.linalg.solve(H, Xt.T @ (w * yt))
        np.testing.assert_allclose(model.coef_[t], exact[:X.shape[1]], rtol=1e-8,
                                   atol=1e-10)
        if fit_intercept:
            assert model.intercept_[t] == pytest.approx(exact[-1], rel=1e-8, abs=1e-10)


@pytest.mark.parametrize("loss", ["squared", "logistic"])
def test_caso_recovers_a_planted_shared_subspace(loss):
    rng = np.random.default_rng(3)
    n, d, T, h = 60, 8, 10, 2
    basis = np.linalg.qr(rng.standard_normal((d, h)))[0]
    W = basis @ rng.standard_normal((h, T))
    X = rng.standard_normal((n, d))
    Y = X @ W + 0.3 * rng.standard_normal((n, T))
    Est = MultiTaskLinearRegressor
    if loss == "logistic":
        Y, Est = np.where(Y > 0, 1.0, -1.0), MultiTaskLinearClassifier
    model = Est(penalty=ConvexASO(h)).fit(X, Y)
    learned = model.shared_subspace_
    assert learned.shape == (h, d)
    np.testing.assert_allclose(learned @ learned.T, np.eye(h), atol=1e-10)
    angles = subspace_angles(learned.T, basis)
    assert np.max(angles) < (0.15 if loss == "squared" else 0.3)
    # Outside the subspace the penalty is alpha + l2 per unit ||W||^2, inside only
    # l2: less of W's energy lies outside than with the ridge term alone.
    ridge = Est(model.alpha_, penalty="none", l2=model.l2_).fit(X, Y)

    def outside(coef):
        W = coef.T
        return np.sum((W - basis @ (basis.T @ W)) ** 2) / np.sum(W * W)

    assert outside(model.coef_) < 0.6 * outside(ridge.coef_)


def test_caso_subspace_is_deterministic_and_refits_leave_nothing_stale():
    X, Y = _problem("squared", seed=4)
    model = MultiTaskLinearRegressor(penalty="caso").fit(X, Y)
    assert isinstance(model.penalty_, ConvexASO) and model.penalty_.n_components == 2
    first = model.shared_subspace_.copy()
    peak = np.argmax(np.abs(first), axis=1)
    assert np.all(first[np.arange(first.shape[0]), peak] > 0)
    np.testing.assert_array_equal(model.fit(X, Y).shared_subspace_, first)
    model.set_params(penalty="l21").fit(X, Y)
    assert not hasattr(model, "shared_subspace_")
    assert not hasattr(model, "feature_relation_")


@pytest.mark.parametrize("params, message", [
    ({"penalty": ConvexASO(0)}, r"n_components must be an integer in \[1, n_features"),
    ({"penalty": ConvexASO(6)}, r"n_features=5\], got 6"),
    ({"penalty": ConvexASO(2.0)}, "n_components must be an integer"),
    ({"penalty": ConvexASO(2), "l2": 0.0}, "needs alpha > 0 and l2 > 0"),
    ({"penalty": ConvexASO(2), "alpha": 0.0}, "needs alpha > 0 and l2 > 0"),
])
def test_caso_invalid_settings_say_what_to_change(params, message):
    X, Y = _problem("squared")
    with pytest.raises(ValueError, match=message):
        MultiTaskLinearRegressor(**params).fit(X, Y)


def test_caso_is_clustered_mtl_as_a_function_of_w():
    # Both relaxations are sum_i s_i^2 / (eta + m_i) over the singular values of
    # W, water-filled to h (Zhou, Chen & Ye 2011): the same value and gradient,
    # whether M is d x d (features) or T x T (tasks), and the same fit.
    rng = np.random.default_rng(5)
    W = rng.standard_normal((6, 4))
    value, grad = ConvexASO(3).smooth(W, 2.0, 0.7, xp)
    for ref_value, ref_grad in (ClusteredMTL(3).smooth(W, 2.0, 0.7, xp),
                                [r.T for r in ClusteredMTL(3).smooth(W.T, 2.0, 0.7, xp)]):
        assert float(value) == pytest.approx(float(ref_value), rel=1e-13)
        np.testing.assert_allclose(grad, ref_grad, rtol=1e-12)
    brute, brute_grad, _ = _caso_term(W, 2.0, 0.7, 3)
    assert float(value) == pytest.approx(brute, rel=1e-12)
    np.testing.assert_allclose(grad, brute_grad, rtol=1e-10)

    X, Y = _problem("squared", seed=16)
    caso = MultiTaskLinearRegressor(penalty=ConvexASO(2), tol=1e-10).fit(X, Y)
    cmtl = MultiTaskLinearRegressor(penalty=ClusteredMTL(2), tol=1e-10).fit(X, Y)
    np.testing.assert_allclose(caso.coef_, cmtl.coef_, rtol=1e-12, atol=1e-14)
    assert caso.feature_relation_.shape == (5, 5)
    assert cmtl.task_relation_.shape == (4, 4)


# ====================================================================== SRMTL
def _chain_incidence(T):
    R = np.zeros((T, T - 1))
    R[np.arange(T - 1), np.arange(T - 1)] = 1.0
    R[np.arange(1, T), np.arange(T - 1)] = -1.0
    return R


@pytest.mark.parametrize("loss", ["squared", "logistic"])
def test_srmtl_reaches_the_bounded_lbfgs_optimum_of_malsars_objective(loss):
    # MALSAR's Least/Logistic_SRMTL: loss + rho1 ||W R||_F^2 + rho2 ||W||_1
    # + rho_L2 ||W||_F^2, solved here on W = A - B with A, B >= 0.
    X, Y = _problem(loss, seed=6)
    d, T = X.shape[1], Y.shape[1]
    R = _chain_incidence(T)
    rho1, rho2, rho_l2 = (2.0, 3.0, 0.5) if loss == "squared" else (0.3, 0.02, 0.01)
    penalty = GraphPenalty(incidence=R, l1_weight=rho2 / rho1)
    model = _fit(loss, penalty, rho1, rho_l2, X, Y)
    with_c = loss == "logistic"

    def objective(W, c):
        value, gW, gc = _loss_grad(X, Y, W, c, loss)
        WR = W @ R
        value += rho1 * np.sum(WR * WR) + rho_l2 * np.sum(W * W)
        return value, gW + 2 * rho1 * WR @ R.T + 2 * rho_l2 * W, gc

    W = model.coef_.T
    c = model.intercept_ if with_c else np.zeros(T)
    ours = objective(W, c)[0] + rho2 * np.abs(W).sum()
    scale = 2.0 if loss == "squared" else 1.0
    assert model.solver_info_["objective"] == pytest.approx(scale * ours, rel=1e-12)
    assert np.any(W == 0) and np.any(W != 0)

    def fun(x):
        A, B = x[:d * T].reshape(d, T), x[d * T:2 * d * T].reshape(d, T)
        cx = x[2 * d * T:] if with_c else np.zeros(T)
        value, gW, gc = objective(A - B, cx)
        value += rho2 * (A.sum() + B.sum())
        grad = [(gW + rho2).ravel(), (rho2 - gW).ravel()] + ([gc] if with_c else [])
        return value, np.concatenate(grad)

    n_var = 2 * d * T + (T if with_c else 0)
    bounds = [(0, None)] * (2 * d * T) + [(None, None)] * (n_var - 2 * d * T)
    res = minimize(fun, np.zeros(n_var), jac=True, method="L-BFGS-B", bounds=bounds,
                   options={"maxiter": 50000, "maxfun": 100000, "ftol": 1e-16,
                            "gtol": 1e-13, "maxcor": 50})
    assert ours <= res.fun * (1 + 1e-12)
    assert ours == pytest.approx(res.fun, rel=1e-8)


def test_srmtl_shortcut_is_the_graph_penalty_with_its_lasso_term():
    X, Y = _problem("squared", seed=7)
    short = MultiTaskLinearRegressor(5.0, penalty="srmtl", tol=1e-10).fit(X, Y)
    assert isinstance(short.penalty_, GraphPenalty)
    assert short.penalty_.get_params()["l1_weight"] == 1.0
    full = MultiTaskLinearRegressor(5.0, penalty=GraphPenalty("chain", l1_weight=1.0),
                                    tol=1e-10).fit(X, Y)
    np.testing.assert_array_equal(short.coef_, full.coef_)
    # It has an alpha_max, so "auto" is a tenth of it with no ridge.
    auto = MultiTaskLinearRegressor(penalty="srmtl").fit(X, Y)
    assert auto.alpha_ == pytest.approx(0.1 * alpha_max(X, Y, penalty="srmtl"), rel=1e-12)
    assert auto.l2_ == 0.0
    # Tunable through the name, as every shortcut.
    tuned = MultiTaskLinearRegressor(5.0, penalty="srmtl", tol=1e-10)
    tuned.set_params(penalty__l1_weight=0.5)
    assert tuned.penalty.get_params()["l1_weight"] == 0.5


@pytest.mark.parametrize("loss", ["squared", "logistic"])
def test_srmtl_recovers_a_sparse_smooth_chain(loss):
    # Three features used by every task, their weights drifting slowly along the
    # chain of tasks; five unused features.
    rng = np.random.default_rng(8)
    n, d, T = 80, 8, 8
    W = np.zeros((d, T))
    W[:3] = np.array([[1.5], [-1.0], [2.0]]) + np.cumsum(
        0.1 * rng.standard_normal((3, T)), axis=1)
    X = rng.standard_normal((n, d))
    Y = X @ W + 0.3 * rng.standard_normal((n, T))
    Est = MultiTaskLinearRegressor
    if loss == "logistic":
        Y, Est = np.where(Y > 0, 1.0, -1.0), MultiTaskLinearClassifier
    Y[rng.random((n, T)) < 0.5] = np.nan
    top = alpha_max(X, Y, penalty="lasso", loss=loss)
    alpha = 0.1 * top
    srmtl = Est(alpha, penalty=GraphPenalty("chain", l1_weight=1.0), l2=0.0).fit(X, Y)
    assert np.all(srmtl.coef_[:, :3] != 0)
    unused = np.abs(srmtl.coef_[:, 3:]).sum() / np.abs(srmtl.coef_).sum()
    if loss == "squared":
        assert unused == 0
    else:  # the logistic fit keeps a few small weights there
        assert unused < 0.02
    # The graph term pools the tasks: closer to the truth (up to the logistic
    # scale) than the lasso alone at the same alpha.
    lasso = Est(alpha, penalty="lasso", l2=0.0).fit(X, Y)

    def error(model):
        est = model.coef_.T
        if loss == "logistic":
            est = est * np.sum(est * W) / np.sum(est * est)
        return np.linalg.norm(est - W)

    assert error(srmtl) < error(lasso)


# ================================================== constrained sparse + low rank
def _project_nuclear_ball(V, tau):
    """Projection on ``||.||_* <= tau``: the singular values' threshold by bisection."""
    U, s, Vt = np.linalg.svd(V, full_matrices=False)
    if s.sum() <= tau:
        return V
    theta = brentq(lambda th: np.maximum(s - th, 0).sum() - tau, 0.0, s.max(),
                   xtol=1e-16, rtol=1e-15)
    return (U * np.maximum(s - theta, 0.0)) @ Vt


def _slr_duality_gap(X, Y, sw, P, Q, b, alpha, tau, fit_intercept=True):
    """``primal - dual`` of ``sum w (y - X(P + Q) - b)^2 + alpha ||P||_1`` s.t.
    ``||Q||_* <= tau``. The dual of a loss plus the infimal convolution of
    ``alpha ||.||_1`` and the ball's indicator: ``-sum(theta y + theta^2 / 4w) -
    tau ||X^T theta||_2`` over ``||X^T theta||_inf <= alpha`` (and ``theta``
    summing to zero per task with intercepts)."""
    obs = ~np.isnan(Y)
    w = np.where(obs, sw, 0.0)
    Yf = np.where(obs, Y, 0.0)
    R = X @ (P + Q) + b[None, :] - Yf
    primal = np.sum(w * R * R) + alpha * np.abs(P).sum()
    theta = 2 * w * R
    if fit_intercept:
        theta -= w * theta.sum(axis=0) / w.sum(axis=0)
    G = X.T @ theta
    theta *= min(1.0, alpha / np.abs(G).max())
    G = X.T @ theta
    safe = np.where(obs, w, 1.0)
    dual = -np.sum(np.where(obs, theta * Yf + theta ** 2 / (4 * safe), 0.0)) \
        - tau * np.linalg.norm(G, 2)
    return primal, primal - dual


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_constrained_slr_closes_the_duality_gap(fit_intercept):
    X, Y = _problem("squared", seed=9)
    rng = np.random.default_rng(1)
    sw = rng.uniform(0.5, 2.0, Y.shape)
    alpha, tau = 4.0, 1.5
    model = MultiTaskLinearRegressor(alpha, penalty=SparseLowRank(constraint=tau), l2=0.0,
                                     fit_intercept=fit_intercept, **TIGHT)
    model.fit(X, Y, sample_weight=sw)
    P, Q = model.coef_components_[0].T, model.coef_components_[1].T
    b = model.intercept_ if fit_intercept else np.zeros(Y.shape[1])
    primal, gap = _slr_duality_gap(X, Y, sw, P, Q, b, alpha, tau, fit_intercept)
    assert np.linalg.svd(Q, compute_uv=False).sum() <= tau * (1 + 1e-12)
    assert model.solver_info_["objective"] == pytest.approx(primal, rel=1e-12)
    assert 0 <= gap <= 1e-8 * primal
    assert np.any(P == 0) and np.any(P != 0)
    # The solver reports no gap of its own: its formula has no constraint term.
    assert model.solver_info_["duality_gap"] is None


def test_constrained_slr_logistic_is_a_proximal_fixed_point():
    X, Y = _problem("logistic", seed=10)
    alpha, tau = 0.02, 1.0
    model = _fit("logistic", SparseLowRank(constraint=tau), alpha, 0.0, X, Y)
    P, Q = model.coef_components_[0].T, model.coef_components_[1].T
    _, G, gc = _loss_grad(X, Y, P + Q, model.intercept_, "logistic")
    _, G0, gc0 = _loss_grad(X, Y, 0 * P, np.zeros(Y.shape[1]), "logistic")
    step = 1.0
    P_next = np.sign(P - step * G) * np.maximum(np.abs(P - step * G) - step * alpha, 0)
    Q_next = _project_nuclear_ball(Q - step * G, tau)
    residual = np.sqrt(np.sum((P - P_next) ** 2) + np.sum((Q - Q_next) ** 2)
                       + np.sum((step * gc) ** 2)) / step
    assert residual <= 1e-8 * np.sqrt(np.sum(G0 ** 2) + np.sum(gc0 ** 2))
    assert np.linalg.svd(Q, compute_uv=False).sum() == pytest.approx(tau, rel=1e-10)


def test_constrained_slr_recovers_low_rank_plus_sparse_with_an_active_constraint():
    rng = np.random.default_rng(11)
    n, d, T = 100, 10, 8
    low = rng.standard_normal((d, 1)) @ rng.standard_normal((1, T))
    sparse = np.zeros((d, T))
    sparse[rng.integers(0, d, 4), rng.integers(0, T, 4)] = 3.0
    X = rng.standard_normal((n, d))
    Y = X @ (low + sparse) + 0.1 * rng.standard_normal((n, T))
    tau = 0.5 * np.linalg.svd(low, compute_uv=False).sum()
    model = MultiTaskLinearRegressor(20.0, penalty=SparseLowRank(constraint=tau),
                                     l2=0.0, **TIGHT).fit(X, Y)
    s = np.linalg.svd(model.coef_components_[1], compute_uv=False)
    assert abs(s.sum() - tau) <= 1e-10 * tau  # active, and satisfied
    assert s[1] < 1e-6 * s[0]  # rank one, as planted
    cos = abs(np.sum(model.coef_components_[1].T * low)) / (
        np.linalg.norm(model.coef_components_[1]) * np.linalg.norm(low))
    assert cos > 0.9


def test_constrained_and_penalised_forms_agree_at_the_multiplier():
    # The penalised optimum (P, Q) solves the constrained problem with tau =
    # ||Q||_*: the Lagrange multiplier of the constraint is alpha * beta.
    X, Y = _problem("squared", seed=12, missing=0.0)
    alpha = 3.0
    pen = MultiTaskLinearRegressor(alpha, penalty=SparseLowRank(beta=2.0), l2=0.0,
                                   **TIGHT).fit(X, Y)
    tau = np.linalg.svd(pen.coef_components_[1], compute_uv=False).sum()
    con = MultiTaskLinearRegressor(alpha, penalty=SparseLowRank(constraint=tau), l2=0.0,
                                   **TIGHT).fit(X, Y)
    at_pen, _ = _slr_duality_gap(X, Y, np.ones_like(Y), pen.coef_components_[0].T,
                                 pen.coef_components_[1].T, pen.intercept_, alpha, tau)
    assert con.solver_info_["objective"] == pytest.approx(at_pen, rel=1e-8)
    np.testing.assert_allclose(con.predict(X), pen.predict(X), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("loss", ["squared", "logistic"])
def test_constrained_slr_alpha_max_and_auto_use_the_sparse_part(loss):
    X, Y = _problem(loss, seed=13)
    top = alpha_max(X, Y, penalty=SparseLowRank(constraint=1.0), loss=loss)
    assert top == pytest.approx(alpha_max(X, Y, penalty="lasso", loss=loss), rel=1e-14)
    Est = MultiTaskLinearRegressor if loss == "squared" else MultiTaskLinearClassifier
    auto = Est(penalty=SparseLowRank(constraint=1.0)).fit(X, Y)
    assert auto.alpha_ == pytest.approx(0.1 * top, rel=1e-12) and auto.l2_ == 0.0
    assert auto.solver_info_["converged"]


@pytest.mark.parametrize("tau", [-1.0, "large", np.inf, True])
def test_constrained_slr_invalid_bound_is_refused(tau):
    X, Y = _problem("squared")
    with pytest.raises(ValueError, match="constraint must be None .* or the bound tau"):
        MultiTaskLinearRegressor(1.0, penalty=SparseLowRank(constraint=tau)).fit(X, Y)


def test_constrained_slr_with_zero_bound_is_the_lasso():
    X, Y = _problem("squared", seed=14)
    con = MultiTaskLinearRegressor(5.0, penalty=SparseLowRank(constraint=0.0), l2=0.0,
                                   tol=1e-10).fit(X, Y)
    lasso = MultiTaskLinearRegressor(5.0, penalty="lasso", l2=0.0, tol=1e-10).fit(X, Y)
    assert np.all(con.coef_components_[1] == 0)
    np.testing.assert_allclose(con.coef_, lasso.coef_, rtol=1e-6, atol=1e-8)


# ======================================== missing labels and weights, both losses
MODELS = [
    pytest.param(lambda: ConvexASO(2), {"alpha": 10.0, "l2": 1.0}, id="caso"),
    pytest.param(lambda: "srmtl", {"alpha": 5.0, "l2": 0.0}, id="srmtl"),
    pytest.param(lambda: SparseLowRank(constraint=1.0), {"alpha": 5.0, "l2": 0.0},
                 id="slr-constrained"),
]


def _estimator(loss, penalty, params):
    if loss == "squared":
        return MultiTaskLinearRegressor(penalty=penalty(), tol=1e-10, **params)
    params = {**params, "alpha": params["alpha"] / 20}
    return MultiTaskLinearClassifier(penalty=penalty(), tol=1e-10, **params)


@pytest.mark.parametrize("loss", ["squared", "logistic"])
@pytest.mark.parametrize("penalty, params", MODELS)
def test_missing_labels_are_zero_weights_and_weights_are_repeats(loss, penalty, params):
    X, Y = _problem(loss, seed=15)
    missing = np.isnan(Y)
    rng = np.random.default_rng(2)
    sw = rng.integers(1, 4, Y.shape).astype(float)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nan = _estimator(loss, penalty, params).fit(X, Y, sample_weight=sw)
    # A missing label is an entry of weight 0, whatever value stands there.
    filled = np.where(missing, 1.0, Y)
    zero = _estimator(loss, penalty, params).fit(
        X, filled, sample_weight=np.where(missing, 0.0, sw))
    np.testing.assert_allclose(nan.coef_, zero.coef_, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(nan.intercept_, zero.intercept_, rtol=1e-7, atol=1e-9)
    # An integer row weight is that row repeated.
    row_w = rng.integers(1, 4, X.shape[0])
    weighted = _estimator(loss, penalty, params).fit(X, Y, sample_weight=row_w)
    rep = np.repeat(np.arange(X.shape[0]), row_w)
    repeated = _estimator(loss, penalty, params).fit(X[rep], Y[rep])
    np.testing.assert_allclose(weighted.coef_, repeated.coef_, rtol=1e-7, atol=1e-9)


# ============================================================ scikit-learn checks
# tol=1e-10 for the sample-weight equivalence check (as in tests/test_common.py).
# The SRMTL classifier differs from the regressor by the loss only, which the
# common checks of the lasso classifier cover. A small bound for the constrained
# model: where its constraint is inactive it is unregularised least squares, on
# collinear features in some checks, which no solver ends at tol=1e-10.
ESTIMATORS = [
    MultiTaskLinearRegressor(1.0, penalty=ConvexASO(1), l2=1.0, tol=1e-10),
    MultiTaskLinearClassifier(1.0, penalty=ConvexASO(1), l2=1.0, tol=1e-10),
    MultiTaskLinearRegressor(0.1, penalty="srmtl", tol=1e-10),
    MultiTaskLinearRegressor(1.0, penalty=SparseLowRank(constraint=0.1), tol=1e-10),
]


def _expected_failed_checks(estimator):
    if isinstance(estimator, MultiTaskLinearClassifier):
        # As in tests/test_common.py: classes_ is one array of two classes per task.
        return {"check_classifier_multioutput": "classes_ is a list, one array per task"}
    return {}


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=_expected_failed_checks)
def test_sklearn_compatible_new_penalties(estimator, check):
    check(estimator)
