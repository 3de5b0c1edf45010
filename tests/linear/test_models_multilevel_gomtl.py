"""Multi-level decompositions (convex, ``MultiLevel``), the multi-level lasso and
GO-MTL (non-convex, alternating): optimality of every step checked independently
(NumPy written plainly), monotone objectives, stationarity, planted structures."""

import warnings

import array_api_compat.numpy as xp
import numpy as np
import pytest
from scipy.linalg import subspace_angles
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning

from rkhsmtl.linear import (
    Dirty,
    GOMTLClassifier,
    GOMTLRegressor,
    MultiLevel,
    MultiLevelLassoClassifier,
    MultiLevelLassoRegressor,
    MultiTaskLinearRegressor,
    SparseLowRank,
    alpha_max,
)
from rkhsmtl.linear._datafits import LogisticLoss, SquaredLoss
from rkhsmtl.linear._design import make_problem
from rkhsmtl.linear._factored import (
    _map_design,
    gomtl,
    gomtl_init,
    multilevel_lasso,
    multilevel_objective,
    rebalance,
)
from rkhsmtl.linear._fista import _grad_scale, fista, kkt_residual
from rkhsmtl.linear._penalties import Lasso


def _data(n=40, d=6, T=4, seed=0, missing=0.0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) + 0.5
    W = rng.standard_normal((d, T))
    W[d // 2:] = 0
    Y = X @ W + 1.0 + 0.3 * rng.standard_normal((n, T))
    if missing:
        Y[rng.random((n, T)) < missing] = np.nan
    return X, Y


# ---------------------------------------------------------- numpy references
def _prox(name, V, tau):
    if name == "l1":
        return np.sign(V) * np.maximum(np.abs(V) - tau, 0)
    if name == "l21":
        n = np.linalg.norm(V, axis=1, keepdims=True)
        return V * np.maximum(1 - tau / np.where(n > 0, n, 1), 0)
    if name == "l21_columns":
        n = np.linalg.norm(V, axis=0, keepdims=True)
        return V * np.maximum(1 - tau / np.where(n > 0, n, 1), 0)
    if name == "trace":
        U, s, Vt = np.linalg.svd(V, full_matrices=False)
        return (U * np.maximum(s - tau, 0)) @ Vt
    raise AssertionError(name)


def _norm(name, V):
    return {"l1": np.abs(V).sum(), "l21": np.linalg.norm(V, axis=1).sum(),
            "l21_columns": np.linalg.norm(V, axis=0).sum(),
            "trace": np.linalg.svd(V, compute_uv=False).sum()}[name]


def _ista(X, Y, levels, alpha, Z, b, n_iter):
    """Plain proximal gradient on the stacked parts (fixed step), unit weights."""
    w = (~np.isnan(Y)).astype(float)
    Yf = np.where(np.isnan(Y), 0, Y)
    Xa = np.hstack([X, np.ones((X.shape[0], 1))])
    step = 1.0 / (len(levels) * 2 * np.linalg.norm(Xa, 2) ** 2)

    def value(Z, b):
        R = X @ Z.sum(axis=0) + b - Yf
        return np.sum(w * R * R) + alpha * sum(
            wt * _norm(nm, Z[i]) for i, (nm, wt) in enumerate(levels))

    for _ in range(n_iter):
        R = w * (X @ Z.sum(axis=0) + b - Yf)
        gW, gb = 2 * X.T @ R, 2 * R.sum(axis=0)
        Z = np.stack([_prox(nm, Z[i] - step * gW, step * alpha * wt)
                      for i, (nm, wt) in enumerate(levels)])
        b = b - step * gb
    return value(Z, b), Z


# ------------------------------------------------------------------ MultiLevel
@pytest.mark.parametrize("levels,other", [
    ((("l21", 1.0), ("l1", 0.7)), Dirty(0.7, shared="l21")),
    ((("l1", 1.0), ("trace", 0.6)), SparseLowRank(0.6)),
], ids=["dirty", "sparse_low_rank"])
def test_two_levels_are_the_two_part_models(levels, other):
    X, Y = _data(seed=1)
    ours = MultiTaskLinearRegressor(3.0, penalty=MultiLevel(levels), tol=1e-9).fit(X, Y)
    ref = MultiTaskLinearRegressor(3.0, penalty=other, tol=1e-9).fit(X, Y)
    np.testing.assert_allclose(ours.coef_components_, ref.coef_components_, rtol=0,
                               atol=1e-12)
    assert ours.n_iter_ == ref.n_iter_
    assert alpha_max(X, Y, penalty=MultiLevel(levels)) == pytest.approx(
        alpha_max(X, Y, penalty=other), rel=1e-12)


def test_three_levels_are_optimal():
    """Three parts (shared rows, sparse entries, low rank): a fixed point of a plain
    NumPy ISTA, at least as good as 3000 ISTA steps, with a duality gap ~ 0."""
    X, Y = _data(n=30, d=5, T=4, seed=3)
    levels = (("l21", 1.0), ("l1", 0.8), ("trace", 1.2))
    model = MultiTaskLinearRegressor(4.0, penalty=MultiLevel(levels), tol=1e-11,
                                     max_iter=20000).fit(X, Y)
    assert model.solver_info_["converged"]
    Z, b = np.asarray(model.coef_components_).transpose(0, 2, 1), model.intercept_
    assert Z.shape == (3, 5, 4)
    start, _ = _ista(X, Y, levels, 4.0, Z, b, 0)
    assert start == pytest.approx(model.solver_info_["objective"], rel=1e-12)
    after, Z_after = _ista(X, Y, levels, 4.0, Z, b, 50)
    assert after >= start * (1 - 1e-12)
    np.testing.assert_allclose(Z_after.sum(axis=0), Z.sum(axis=0), atol=1e-7)
    from_zero, _ = _ista(X, Y, levels, 4.0, np.zeros_like(Z), np.zeros(4), 3000)
    assert start <= from_zero * (1 + 1e-12)
    assert 0 <= model.solver_info_["duality_gap"] <= 1e-8 * start
    np.testing.assert_allclose(model.coef_, Z.sum(axis=0).T, atol=1e-13)


@pytest.mark.parametrize("levels,match", [
    ((), "non-empty sequence"),
    ("l1", "non-empty sequence"),
    ((("l1", 1.0, 2.0),), r"\(norm, weight\) pair"),
    ((("l0", 1.0),), "Unknown norm 'l0'"),
    ((("l1", 1.0), ("l1", 2.0)), "appears twice"),
    ((("l1", 0.0),), "weight of level 'l1' must be a positive"),
    ((("trace", -1.0),), "weight of level 'trace' must be a positive"),
])
def test_multilevel_refuses_bad_levels(levels, match):
    X, Y = _data()
    with pytest.raises(ValueError, match=match):
        MultiTaskLinearRegressor(1.0, penalty=MultiLevel(levels)).fit(X, Y)


def test_multilevel_by_name_and_its_parameters():
    X, Y = _data(seed=2)
    model = MultiTaskLinearRegressor(2.0, penalty="multilevel", tol=1e-9)
    model.set_params(penalty__levels=(("l21", 1.0), ("l1", 0.5), ("trace", 1.0)))
    model.fit(X, Y)
    assert model.coef_components_.shape == (3, 4, 6)
    assert model.penalty_.levels[2] == ("trace", 1.0)
    top = alpha_max(X, Y, penalty=MultiLevel((("l1", 2.0), ("trace", 1.0))))
    zero = MultiTaskLinearRegressor(top * 1.001, penalty=MultiLevel(
        (("l1", 2.0), ("trace", 1.0))), tol=1e-9).fit(X, Y)
    assert np.all(zero.coef_ == 0)


# ---------------------------------------------------------- multi-level lasso
def _problem(X, Y, sw=None):
    return make_problem(xp.asarray(X), xp.asarray(Y), None if sw is None else
                        xp.asarray(sw), xp, layout="dense")


def _lasso_kkt(design, Yf, omega, datafit, alpha, V, b):
    """Relative KKT residual of the lasso in ``V`` (FISTA's own measure)."""
    res = kkt_residual(design, Yf, omega, datafit, Lasso(), alpha, 0.0, V[None], b,
                       True, xp)
    return res / _grad_scale(design, Yf, omega, datafit, True, xp)


def _loss_grad_W(X, Y, W, b, datafit):
    """Gradient in W of the data fit (NumPy, unit weights, NaN = missing)."""
    obs = ~np.isnan(Y)
    F = X @ W + b
    if datafit == "squared":
        G = np.where(obs, 2 * (F - np.where(obs, Y, 0)), 0)
    else:
        Yp = np.where(obs, Y, 0)
        G = np.where(obs, -Yp / (1 + np.exp(Yp * F)), 0)
    return X.T @ G, G.sum(axis=0)


@pytest.mark.parametrize("loss", ["squared", "logistic"])
def test_multilevel_lasso_steps_are_optimal_and_the_objective_decreases(loss):
    X, Y = _data(n=40, d=6, T=3, seed=4, missing=0.15)
    if loss == "logistic":
        Y = np.where(np.isnan(Y), np.nan, np.where(Y > 1.0, 1.0, -1.0))
    datafit = SquaredLoss() if loss == "squared" else LogisticLoss()
    design, Yf, omega = _problem(X, Y)
    alpha, s = (6.0, 0.7) if loss == "squared" else (1.5, 0.7)
    states = []
    c, V, b, info = multilevel_lasso(
        design, Yf, omega, datafit, alpha, s, xp, tol=1e-10, max_iter=300,
        callback=lambda step, state: states.append((step, state)))
    assert info["converged"] and info["inner_converged"]
    values = [state["objective"] for _, state in states]
    assert np.all(np.diff(values) <= 1e-12 * abs(values[0]))
    history = np.asarray(info["objective_history"])
    assert np.all(np.diff(history) <= 1e-12 * abs(history[0]))
    for step, state in states:
        if step == "V":  # the lasso in V on the columns scaled by c
            scaled = _map_design(design, lambda A, c=state["c"]: A * c)
            assert _lasso_kkt(scaled, Yf, omega, datafit, alpha, state["V"],
                              state["b"]) <= 1e-8
        else:  # balanced: c_j = ||V_j||_1 / s
            np.testing.assert_allclose(state["c"], np.abs(state["V"]).sum(axis=1) / s,
                                       rtol=1e-12, atol=1e-14)
    # Stationary in (c, V, b), to the accuracy of the stopping rule (W moved by at
    # most sqrt(tol) = 1e-5 in the last pass): the derivative in every c_j > 0
    # vanishes, and W is stationary for loss + 2 alpha sqrt(s) sum_j sqrt(||W_j||_1)
    # on its support.
    W = c[:, None] * V
    gW, gb = _loss_grad_W(X, Y, W, b, loss)
    scale = np.abs(gW).max() + alpha
    assert np.abs(gb).max() <= 1e-8 * scale
    active = c > 0
    assert 0 < active.sum() < 6
    dc = np.sum(gW * V, axis=1) + alpha * s
    assert np.abs(dc[active]).max() <= 1e-4 * scale
    rows = np.abs(W).sum(axis=1)
    nz = W != 0
    grad_pen = alpha * np.sqrt(s) * np.sign(W) / np.sqrt(np.where(rows > 0, rows, 1))[:, None]
    assert np.abs((gW + grad_pen)[nz]).max() <= 1e-4 * scale
    # One more pass (V-step, c-step) changes nothing beyond tol.
    scaled = _map_design(design, lambda A: A * c)
    Z, b2, _ = fista(scaled, Yf, omega, datafit, Lasso(), alpha, 0.0, xp, Z0=V[None],
                     b0=b, tol=1e-10, max_iter=5000)
    c2, V2 = rebalance(c[:, None] * Z[0], s, xp)
    assert np.linalg.norm(c2[:, None] * V2 - W) <= 1e-5 * np.linalg.norm(W)
    J2 = multilevel_objective(design, Yf, omega, datafit, alpha, s, c2, V2, b2, xp)
    assert info["objective"] - J2 <= 1e-10 * abs(J2)


def test_rebalance_is_the_closed_form_minimum():
    rng = np.random.default_rng(5)
    W = rng.standard_normal((5, 3))
    W[1] = 0
    s = 0.4
    c, V = rebalance(W, s, xp)
    np.testing.assert_allclose(c[:, None] * V, W, atol=1e-15)
    best = s * c.sum() + np.abs(V).sum()
    np.testing.assert_allclose(best, 2 * np.sqrt(s) * np.sqrt(np.abs(W).sum(axis=1)).sum())
    for scale in rng.uniform(0.2, 5.0, size=(20, 5)):  # any other factorisation
        c_other = np.where(c > 0, c * scale, 0)
        safe = np.where(c_other > 0, c_other, 1)
        V_other = np.where(c_other[:, None] > 0, W / safe[:, None], 0)
        assert s * c_other.sum() + np.abs(V_other).sum() >= best * (1 - 1e-14)


def test_multilevel_lasso_recovers_the_planted_shared_support():
    rng = np.random.default_rng(6)
    n, d, T = 60, 15, 5
    X = rng.standard_normal((n, d))
    W = np.zeros((d, T))
    support = [1, 4, 9]
    W[support] = rng.choice([-1.0, 1.0], size=(3, T)) * rng.uniform(1, 2, (3, T))
    W[4, 2] = 0.0  # a shared feature that one task does not use
    Y = X @ W + 0.1 * rng.standard_normal((n, T))
    model = MultiLevelLassoRegressor(tol=1e-8).fit(X, Y)
    assert np.flatnonzero(model.coef_shared_).tolist() == support
    np.testing.assert_allclose(model.coef_, model.coef_specific_ * model.coef_shared_,
                               atol=1e-14)
    assert np.abs(model.coef_ - W.T).max() < 0.25


def test_multilevel_lasso_equals_mutar_normalisation_through_weights():
    """``mutar``'s loss (1/(2n)) sum ||y - Xw||^2 is ``sample_weight = 1/(2n)``:
    the same model as unit weights with alpha scaled by 2n."""
    X, Y = _data(n=30, d=5, T=3, seed=7)
    n = X.shape[0]
    a = 0.05
    ours = MultiLevelLassoRegressor(a, tol=1e-10).fit(X, Y, sample_weight=1 / (2 * n))
    unit = MultiLevelLassoRegressor(2 * n * a, tol=1e-10).fit(X, Y)
    np.testing.assert_allclose(ours.coef_, unit.coef_, atol=1e-7)
    np.testing.assert_allclose(ours.coef_shared_, unit.coef_shared_, atol=1e-7)


# --------------------------------------------------------------------- GO-MTL
def _normal_equations_residual(X, Y, sw, L, S, b, l2):
    """Relative residual of the L-step's normal equations, built as the (d k) x (d k)
    Kronecker system in NumPy, and the intercepts' optimality."""
    obs = ~np.isnan(Y)
    w = np.where(obs, sw, 0)
    Yf = np.where(obs, Y, 0)
    d, k = L.shape
    T = Y.shape[1]
    H = np.zeros((d * k + T, d * k + T))
    H[: d * k, : d * k] = l2 * np.eye(d * k)  # the ridge acts on L only
    rhs = np.zeros(d * k + T)
    for t in range(T):
        # unknowns (vec L column-major, b): f_it = (s_t kron x_i)^T vec L + b_t
        A = np.hstack([np.kron(S[:, t][None, :], X), np.zeros((X.shape[0], T))])
        A[:, d * k + t] = 1.0
        Aw = A * w[:, t][:, None]
        H += A.T @ Aw
        rhs += Aw.T @ Yf[:, t]
    x = np.concatenate([L.reshape(-1, order="F"), b])
    return np.linalg.norm(H @ x - rhs) / np.linalg.norm(rhs)


def _gomtl_data(seed=5, n=60, d=10, T=10, noise=0.1):
    """Two basis tasks; tasks 0-3 use the first, 4-7 the second, 8-9 both."""
    rng = np.random.default_rng(seed)
    L = rng.standard_normal((d, 2))
    S = np.zeros((2, T))
    S[0, :4] = rng.uniform(1, 2, 4) * rng.choice([-1, 1], 4)
    S[1, 4:8] = rng.uniform(1, 2, 4) * rng.choice([-1, 1], 4)
    S[:, 8:] = rng.uniform(1, 2, (2, T - 8))
    X = rng.standard_normal((n, d))
    Y = X @ L @ S + 0.5 + noise * rng.standard_normal((n, T))
    return X, Y, L, S


def test_gomtl_steps_are_optimal_and_the_objective_decreases():
    X, Y, _, _ = _gomtl_data(seed=1, n=40, d=6, T=9)
    Y[np.random.default_rng(0).random(Y.shape) < 0.1] = np.nan
    sw = np.random.default_rng(1).uniform(0.5, 2.0, size=Y.shape)
    design, Yf, omega = _problem(X, Y, sw)
    datafit = SquaredLoss()
    noise = np.random.default_rng(2).standard_normal((6, 3))  # k = 3 > rank 2
    L0 = gomtl_init(design, Yf, omega, datafit, 3, 2.0, xp, noise=noise, tol=1e-10)
    states = []
    _, _, _, info = gomtl(design, Yf, omega, datafit, 20.0, 2.0, L0, xp, tol=1e-10,
                          max_iter=15,
                          callback=lambda step, state: states.append((step, state)))
    assert info["inner_converged"]
    values = [state["objective"] for _, state in states]
    assert np.all(np.diff(values) <= 1e-12 * abs(values[0]))
    assert len(info["objective_history"]) == 15
    for step, state in states:
        if step == "S":
            coded = _map_design(design, lambda A, L=state["L"]: A @ L)
            assert _lasso_kkt(coded, Yf, omega, datafit, 20.0, state["S"],
                              state["b"]) <= 1e-8
        elif step == "L":
            assert _normal_equations_residual(X, Y, sw, state["L"], state["S"],
                                              state["b"], 2.0) <= 1e-8
        else:  # balanced: 2 l2 ||L_a||^2 = alpha ||S_a||_1 for every used component
            L, S = state["L"], state["S"]
            used = np.abs(S).sum(axis=1) > 0
            np.testing.assert_allclose(2 * 2.0 * (L * L).sum(axis=0)[used],
                                       20.0 * np.abs(S).sum(axis=1)[used], rtol=1e-10)


def test_gomtl_is_stationary_at_convergence():
    X, Y, _, _ = _gomtl_data(seed=5)
    design, Yf, omega = _problem(X, Y)
    datafit = SquaredLoss()
    L0 = gomtl_init(design, Yf, omega, datafit, 2, 10.0, xp, tol=1e-10)
    L, S, b, info = gomtl(design, Yf, omega, datafit, 200.0, 10.0, L0, xp, tol=1e-10)
    assert info["converged"]
    # One more pass changes nothing beyond tol (W by sqrt(tol), J by tol).
    L2, S2, _, info2 = gomtl(design, Yf, omega, datafit, 200.0, 10.0, L, xp, tol=1e-10,
                             max_iter=1)
    W = L @ S
    assert np.linalg.norm(L2 @ S2 - W) <= 1e-5 * np.linalg.norm(W)
    assert info["objective"] - info2["objective"] <= 1e-10 * info["objective"]
    # Stationary in L and in S (on and off its support), to the accuracy of the
    # stopping rule (the last pass moved W by at most sqrt(tol) = 1e-5).
    gW, gb = _loss_grad_W(X, Y, W, b, "squared")
    scale = np.abs(gW).max()
    assert np.abs(gb).max() <= 1e-8 * scale
    assert np.abs(gW @ S.T + 2 * 10.0 * L).max() <= 1e-4 * scale * np.abs(S).max()
    gS = L.T @ gW
    assert np.abs((gS + 200.0 * np.sign(S))[S != 0]).max() <= 1e-4 * 200.0
    assert np.abs(gS[S == 0]).max() <= 200.0 * (1 + 1e-8)


def test_gomtl_logistic_l_step_is_optimal():
    X, Y, _, _ = _gomtl_data(seed=9, n=50, d=6, T=9, noise=0.5)
    Y = np.where(Y > 0.5, 1.0, -1.0)
    design, Yf, omega = _problem(X, Y)
    datafit = LogisticLoss()
    L0 = gomtl_init(design, Yf, omega, datafit, 2, 1.0, xp, tol=1e-10)
    states = []
    _, _, _, info = gomtl(design, Yf, omega, datafit, 0.5, 1.0, L0, xp, tol=1e-9,
                          max_iter=8,
                          callback=lambda step, state: states.append((step, state)))
    values = [state["objective"] for _, state in states]
    assert np.all(np.diff(values) <= 1e-12 * abs(values[0]))
    for step, state in states:
        L, S, b = state["L"], state["S"], state["b"]
        gW, gb = _loss_grad_W(X, Y, L @ S, b, "logistic")
        if step == "L":
            gL = gW @ S.T + 2.0 * L
            scale = np.linalg.norm(X.T @ (-Y / 2)) * np.linalg.norm(S)
            assert np.linalg.norm(np.concatenate([gL.ravel(), gb])) <= 1e-8 * scale
        elif step == "S":
            coded = _map_design(design, lambda A, L=L: A @ L)
            assert _lasso_kkt(coded, Yf, omega, datafit, 0.5, S, b) <= 1e-8


def test_gomtl_recovers_the_planted_basis_and_codes():
    X, Y, L_true, S_true = _gomtl_data(seed=5)
    model = GOMTLRegressor(n_components=2, tol=1e-8).fit(X, Y)
    assert model.solver_info_["converged"]
    assert np.max(subspace_angles(model.basis_.T, L_true)) < 0.1
    # Codes up to a permutation of the basis vectors.
    support, truth = model.task_components_, (S_true != 0).T
    assert np.array_equal(support, truth) or np.array_equal(support[:, ::-1], truth)
    np.testing.assert_allclose(model.coef_, model.codes_ @ model.basis_, atol=1e-12)
    assert model.score(X, Y) > 0.98


def test_gomtl_random_init_is_reproducible():
    X, Y, _, _ = _gomtl_data(seed=11, n=40, d=8)
    model = GOMTLRegressor(30.0, n_components=3, l2=5.0, init="random", random_state=0,
                           max_iter=20)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # not the point here
        a, b = clone(model).fit(X, Y), clone(model).fit(X, Y)
        c = clone(model).set_params(n_components=9, init="svd").fit(X, Y)  # k > rank
    np.testing.assert_array_equal(a.coef_, b.coef_)
    assert c.basis_.shape == (9, 8) and np.all(np.isfinite(c.coef_))


# ----------------------------------------------------- conventions, both models
def _models(kind):
    if kind == "mll":
        return (MultiLevelLassoRegressor(5.0, tol=1e-10),
                MultiLevelLassoClassifier(1.0, tol=1e-9))
    return (GOMTLRegressor(30.0, l2=5.0, tol=1e-10, random_state=0),
            GOMTLClassifier(3.0, l2=1.0, tol=1e-9, random_state=0))


@pytest.mark.parametrize("kind", ["mll", "gomtl"])
def test_missing_labels_equal_zero_weights(kind):
    X, Y = _data(seed=12, missing=0.2)
    reg, _ = _models(kind)
    a = clone(reg).fit(X, Y)
    filled = np.where(np.isnan(Y), 123.0, Y)
    b = clone(reg).fit(X, filled, sample_weight=(~np.isnan(Y)).astype(float))
    np.testing.assert_allclose(a.coef_, b.coef_, atol=1e-7)
    np.testing.assert_allclose(a.intercept_, b.intercept_, atol=1e-6)


@pytest.mark.parametrize("kind", ["mll", "gomtl"])
def test_integer_weights_equal_repeated_rows(kind):
    X, Y = _data(n=25, seed=13)
    counts = np.random.default_rng(0).integers(1, 3, size=25)
    reg, _ = _models(kind)
    a = clone(reg).fit(X, Y, sample_weight=counts.astype(float))
    b = clone(reg).fit(np.repeat(X, counts, axis=0), np.repeat(Y, counts, axis=0))
    np.testing.assert_allclose(a.coef_, b.coef_, atol=1e-6)


@pytest.mark.parametrize("kind", ["mll", "gomtl"])
def test_classifier_labels_tasks_and_monotone_history(kind):
    X, Y = _data(n=50, seed=14)
    labels = np.where(Y > 1.0, "yes", "no").astype(object)
    labels[::7, 1] = None
    _, clf = _models(kind)
    clf = clone(clf).fit(X, labels)
    assert clf.solver_info_["converged"]
    history = np.asarray(clf.objective_history_)
    assert np.all(np.diff(history) <= 1e-12 * abs(history[0]))
    pred = clf.predict(X)
    assert pred.shape == (50, 4) and set(np.unique(pred)) <= {"yes", "no"}
    assert clf.score(X, labels) > 0.8
    task = np.arange(50) % 4
    np.testing.assert_array_equal(clf.predict(X, task=task), pred[np.arange(50), task])
    proba = clf.predict_proba(X)
    assert proba.shape == (50, 4) and np.all((proba > 0) & (proba < 1))


@pytest.mark.parametrize("Est", [MultiLevelLassoRegressor, GOMTLRegressor])
def test_regressor_predict_task_and_one_dimensional_y(Est):
    X, Y = _data(seed=15)
    model = Est(tol=1e-8).fit(X, Y)
    task = np.arange(X.shape[0]) % 4
    np.testing.assert_allclose(model.predict(X, task=task),
                               model.predict(X)[np.arange(X.shape[0]), task])
    one = Est(tol=1e-8).fit(X, Y[:, 0])
    assert one.predict(X).shape == (X.shape[0],) and one.coef_.shape == (1, 6)
    assert model.alpha_ > 0 and model.n_iter_ == len(model.objective_history_)


@pytest.mark.parametrize("Est", [MultiLevelLassoRegressor, GOMTLRegressor])
def test_convergence_warning_names_max_iter_and_tol(Est):
    X, Y = _data(seed=16)
    with pytest.warns(ConvergenceWarning, match=r"max_iter=1 .*tol=1e-12"):
        Est(max_iter=1, tol=1e-12).fit(X, Y)
    with pytest.warns(ConvergenceWarning, match=r"inner_max_iter=1 .*tol=1e-12"):
        Est(max_iter=500, inner_max_iter=1, tol=1e-12).fit(X, Y)


@pytest.mark.parametrize("Est,params,match", [
    (MultiLevelLassoRegressor, {"alpha": -1.0}, 'alpha must be "auto" or a non-negative'),
    (MultiLevelLassoRegressor, {"shared_weight": 0.0}, "shared_weight must be a positive"),
    (MultiLevelLassoRegressor, {"inner_max_iter": 0}, "inner_max_iter must be an integer"),
    (MultiLevelLassoRegressor, {"max_iter": 0}, "max_iter must be an integer"),
    (GOMTLRegressor, {"n_components": 0}, "n_components must be an integer >= 1"),
    (GOMTLRegressor, {"l2": "big"}, 'l2 must be "auto" or a non-negative'),
    (GOMTLRegressor, {"init": "pca"}, "init must be 'svd' or 'random'"),
    (GOMTLClassifier, {"restart": "always"}, "restart must be one of"),
])
def test_bad_parameters_raise(Est, params, match):
    X, Y = _data()
    if Est is GOMTLClassifier:
        Y = Y > 1.0
    with pytest.raises(ValueError, match=match):
        Est(**params).fit(X, Y)


def test_no_stale_attributes_after_refit():
    X, Y = _data(seed=17)
    model = GOMTLRegressor(n_components=3, random_state=0, tol=1e-6).fit(X, Y)
    model.set_params(n_components=1).fit(X, Y)
    assert model.basis_.shape == (1, 6) and model.task_components_.shape == (4, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        MultiLevelLassoRegressor(tol=1e-6).fit(X, Y)


def test_task_blocked_layout_gives_the_same_fits():
    """One task per row: the solvers run on the gathered per-task blocks."""
    rng = np.random.default_rng(18)
    X = rng.standard_normal((60, 5))
    Y = np.full((60, 3), np.nan)
    for t in range(3):
        Y[t::3, t] = X[t::3] @ rng.standard_normal(5) + 0.1 * rng.standard_normal(20)
    dense, blocked = _problem(X, Y), make_problem(xp.asarray(X), xp.asarray(Y), None, xp,
                                                  layout="blocked")
    c1, V1, b1, _ = multilevel_lasso(*dense, SquaredLoss(), 3.0, 1.0, xp, tol=1e-10)
    c2, V2, b2, _ = multilevel_lasso(*blocked, SquaredLoss(), 3.0, 1.0, xp, tol=1e-10)
    np.testing.assert_allclose(c1[:, None] * V1, c2[:, None] * V2, atol=1e-7)
    noise = rng.standard_normal((5, 2))
    fits = []
    for design, Yf, omega in (dense, blocked):
        L0 = gomtl_init(design, Yf, omega, SquaredLoss(), 2, 1.0, xp, noise=noise,
                        tol=1e-10)
        L, S, b, _ = gomtl(design, Yf, omega, SquaredLoss(), 3.0, 1.0, L0, xp, tol=1e-10,
                           max_iter=10)
        fits.append(L @ S)
    np.testing.assert_allclose(fits[0], fits[1], atol=1e-6)
