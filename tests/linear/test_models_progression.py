"""Disease-progression models of rkhsmtl.linear (temporal group lasso, convex fused
sparse group lasso), multi-stage capped-l1 feature learning (MSMTFL) and the
simulator of longitudinal data, each checked against an independent computation:
brute-force proximal operators, optimality conditions written in NumPy, MALSAR's
objectives written from their definitions."""

import itertools
import warnings

import array_api_compat.numpy as xp
import numpy as np
import pytest
from scipy.optimize import lsq_linear
from sklearn.exceptions import ConvergenceWarning

from rkhsmtl.datasets import make_disease_progression
from rkhsmtl.linear import (
    L21,
    FusedSparseGroupLasso,
    MultiStageFeatureLearningClassifier,
    MultiStageFeatureLearningRegressor,
    MultiTaskLinearClassifier,
    MultiTaskLinearRegressor,
    TemporalGroupLasso,
    alpha_max,
    tasks_to_wide,
)
from rkhsmtl.linear._datafits import LogisticLoss, SquaredLoss
from rkhsmtl.linear._design import make_problem
from rkhsmtl.linear._fista import objective
from rkhsmtl.linear._fused import (
    fused_sparse_group_dual,
    fused_sparse_group_prox,
    tv_prox_rows,
)
from rkhsmtl.linear._msmtfl import capped_l1_objective, msmtfl


def _difference(T):
    """``D`` with ``(D x)_k = x_{k+1} - x_k``, shape (T - 1, T)."""
    return np.diff(np.eye(T), axis=0)


def _chain_laplacian(T):
    R = -_difference(T).T  # MALSAR's R_chain: R[t, t] = 1, R[t + 1, t] = -1
    return R @ R.T, R


# ------------------------------------------------------------- proximal operators
def _tv_prox_bvls(v, lam):
    """The dual of the 1-D TV prox, a box-constrained least-squares problem, by
    SciPy's exact active-set solver: ``x = v - D^T u``, ``|u| <= lam``."""
    D = _difference(v.size)
    u = lsq_linear(D.T, v, bounds=(-lam, lam), method="bvls", tol=1e-15).x
    return v - D.T @ u


def test_tv_prox_matches_scipy_on_many_random_signals():
    rng = np.random.default_rng(0)
    worst = 0.0
    for case in range(100):
        T = int(rng.integers(2, 10))
        V = rng.normal(size=(4, T)) * rng.choice([0.01, 1.0, 100.0])
        if case % 3 == 0:
            V = np.round(V)  # ties: equal neighbours fuse at weight 0
        lam = rng.uniform(0.01, 2.0, size=4) * max(np.abs(V).max(), 1.0)
        out = np.asarray(tv_prox_rows(xp.asarray(V), xp.asarray(lam), xp))
        for j in range(4):
            ref = _tv_prox_bvls(V[j], lam[j])
            worst = max(worst, np.abs(out[j] - ref).max() / max(1.0, np.abs(V[j]).max()))
    assert worst <= 1e-10
    # Weight 0 and a single time point leave the signal unchanged; a huge weight
    # gives the mean.
    V = rng.normal(size=(3, 5))
    np.testing.assert_array_equal(tv_prox_rows(V, 0.0, xp), V)
    np.testing.assert_array_equal(tv_prox_rows(V[:, :1], 5.0, xp), V[:, :1])
    np.testing.assert_allclose(tv_prox_rows(V, 1e6, xp),
                               np.repeat(V.mean(axis=1, keepdims=True), 5, axis=1),
                               atol=1e-12)


def _prox_enumerated(v, a, f, c):
    """Brute force: on every pattern of signs of ``x`` and of its differences the
    objective is ``1/2 ||x - v||^2 + <linear, x> + c ||x||`` on a subspace (entries
    set to 0, neighbours fused), minimised in closed form; the prox is the best
    candidate (it is one of them). Subspace by subspace, all sign patterns at once."""
    T = v.size
    D = _difference(T)
    best_value, best = np.inf, None
    for zero in itertools.product((False, True), repeat=T):
        for fused in itertools.product((False, True), repeat=T - 1):
            # Segments of fused neighbours; a segment with a zero entry is zero.
            segment = np.concatenate([[0], np.cumsum(~np.array(fused, bool))])
            P = np.zeros((T, T))
            for s in np.unique(segment):
                members = segment == s
                if not np.any(np.array(zero)[members]):
                    P[np.ix_(members, members)] = 1.0 / members.sum()
            sx = np.array(list(itertools.product(
                *[(0,) if z else (-1, 1) for z in zero])), float)
            sd = np.array(list(itertools.product(
                *[(0,) if u else (-1, 1) for u in fused])), float).reshape(-1, T - 1)
            linear = (a * sx[:, None, :] + f * (sd @ D)[None, :, :]).reshape(-1, T)
            proj = (v[None, :] - linear) @ P
            norms = np.linalg.norm(proj, axis=1, keepdims=True)
            x = proj * np.maximum(1.0 - c / np.where(norms > 0, norms, 1.0), 0.0)
            values = (0.5 * np.sum((x - v) ** 2, axis=1) + a * np.abs(x).sum(axis=1)
                      + f * np.abs(np.diff(x, axis=1)).sum(axis=1)
                      + c * np.linalg.norm(x, axis=1))
            k = int(np.argmin(values))
            if values[k] < best_value:
                best_value, best = values[k], x[k]
    return best


def _prox_rows_enumerated(V, a, f, c):
    return np.array([_prox_enumerated(v, a, f, c) for v in V])


def test_fused_sparse_group_prox_matches_enumeration():
    rng = np.random.default_rng(1)
    for case in range(16):
        T = int(rng.integers(2, 5))
        V = 2.0 * rng.normal(size=(2, T))
        a, f, c = rng.uniform(0.0, 1.0, 3) * (rng.random(3) < 0.8)
        out = np.asarray(fused_sparse_group_prox(xp.asarray(V), a, f, c, xp))
        np.testing.assert_allclose(out, _prox_rows_enumerated(V, a, f, c), atol=1e-12,
                                   err_msg=f"case {case}: a={a}, f={f}, c={c}")


def test_dual_norm_is_the_smallest_weight_that_zeroes_a_row():
    rng = np.random.default_rng(2)
    G = rng.normal(size=(4, 3))
    for a, f, c in [(1.0, 0.5, 0.7), (0.0, 2.0, 1.0), (1.0, 3.0, 0.0)]:
        dual = np.asarray(fused_sparse_group_dual(xp.asarray(G), a, f, c, xp))
        for j in range(G.shape[0]):
            above = _prox_enumerated(G[j], *(dual[j] * (1 + 1e-9) * np.array([a, f, c])))
            below = _prox_enumerated(G[j], *(dual[j] * (1 - 1e-6) * np.array([a, f, c])))
            assert np.all(above == 0) and np.any(below != 0)
    with pytest.raises(ValueError, match="l1 > 0 or group > 0"):
        fused_sparse_group_dual(xp.asarray(G), 0.0, 1.0, 0.0, xp)


# ------------------------------------------------------------- problems and KKT
def _problem(loss, n=40, d=5, T=3, seed=0, missing=0.2):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) + 0.5
    W = np.zeros((d, T))
    W[:2] = np.cumsum(rng.normal(size=(2, T)), axis=1)
    F = X @ W + 0.5 * rng.normal(size=(n, T))
    Y = F if loss == "squared" else np.where(F > np.median(F, axis=0), 1.0, -1.0)
    Y = Y.copy()
    Y[rng.random((n, T)) < missing] = np.nan
    sw = rng.uniform(0.5, 2.0, size=(n, T))
    return X, Y, sw


def _smooth_gradients(X, Y, sw, W, b, loss):
    """Gradients in W and b of the weighted loss on the observed entries (NumPy)."""
    w = np.where(np.isnan(Y), 0.0, sw)
    Yf = np.where(np.isnan(Y), 0.0, Y)
    F = X @ W + b
    if loss == "squared":
        gF = 2 * w * (F - Yf)
    else:
        gF = -w * Yf / (1 + np.exp(Yf * F))
    return X.T @ gF, gF.sum(axis=0)


def _estimator(loss):
    return MultiTaskLinearRegressor if loss == "squared" else MultiTaskLinearClassifier


def _labels(Y, loss):
    return Y if loss == "squared" else np.where(np.isnan(Y), np.nan, Y > 0)


@pytest.mark.parametrize("loss", ["squared", "logistic"])
def test_tgl_satisfies_the_group_lasso_optimality_conditions(loss):
    """Written independently: with G the NumPy gradient of loss + smoothness term +
    ridge, ``G_j + alpha W_j / ||W_j|| = 0`` on the used rows and ``||G_j|| <= alpha``
    on the others; the intercepts' gradient vanishes."""
    X, Y, sw = _problem(loss, seed=3)
    alpha, smoothness, l2 = (12.0, 0.8, 0.5) if loss == "squared" else (1.5, 2.0, 0.1)
    model = _estimator(loss)(alpha, penalty=TemporalGroupLasso(smoothness), l2=l2,
                             tol=1e-12, max_iter=50000).fit(X, _labels(Y, loss),
                                                            sample_weight=sw)
    W, b = model.coef_.T, model.intercept_
    lap, _ = _chain_laplacian(Y.shape[1])
    gW, gb = _smooth_gradients(X, Y, sw, W, b, loss)
    G = gW + 2 * alpha * smoothness * W @ lap + 2 * l2 * W
    scale = np.linalg.norm(_smooth_gradients(X, Y, sw, 0 * W, b, loss)[0])
    norms = np.linalg.norm(W, axis=1)
    used = norms > 0
    assert 0 < used.sum() < W.shape[0]  # a real test: some rows in, some out
    residual = G[used] + alpha * W[used] / norms[used, None]
    assert np.abs(residual).max() <= 1e-8 * scale
    assert np.linalg.norm(G[~used], axis=1).max() <= alpha * (1 + 1e-10)
    assert np.abs(gb).max() <= 1e-8 * scale


@pytest.mark.parametrize("loss", ["squared", "logistic"])
def test_cfsgl_is_a_fixed_point_of_the_brute_force_prox(loss):
    """``W = prox(W - s G)`` with the prox computed by enumeration (not the
    package's), G the NumPy gradient: W is optimal."""
    X, Y, sw = _problem(loss, seed=4, d=4)
    alpha, l2 = (6.0, 0.2) if loss == "squared" else (1.0, 0.05)
    weights = dict(fused_weight=1.5, group_weight=0.7, l1_weight=0.4)
    model = _estimator(loss)(alpha, penalty=FusedSparseGroupLasso(**weights), l2=l2,
                             tol=1e-12, max_iter=50000).fit(X, _labels(Y, loss),
                                                            sample_weight=sw)
    W, b = model.coef_.T, model.intercept_
    gW, gb = _smooth_gradients(X, Y, sw, W, b, loss)
    G = gW + 2 * l2 * W
    step = 1.0 / (2 * sw.max() * np.linalg.norm(X, 2) ** 2 + 2 * l2)
    a, f, c = (step * alpha * weights[k] for k in ("l1_weight", "fused_weight",
                                                   "group_weight"))
    P = _prox_rows_enumerated(W - step * G, a, f, c)
    scale = np.linalg.norm(_smooth_gradients(X, Y, sw, 0 * W, b, loss)[0])
    assert np.any(W == 0) and np.any(W != 0)
    assert np.abs(P - W).max() / step <= 1e-8 * scale
    assert np.abs(gb).max() <= 1e-8 * scale
    # Fused: some consecutive weights of a used feature are exactly equal.
    assert np.any((np.diff(W, axis=1) == 0) & (W[:, 1:] != 0))


@pytest.mark.parametrize("loss", ["squared", "logistic"])
@pytest.mark.parametrize("penalty", [TemporalGroupLasso(2.0),
                                     FusedSparseGroupLasso(1.0, 0.5, 0.5)], ids=repr)
def test_alpha_max_is_the_smallest_zero_solution(loss, penalty):
    X, Y, _ = _problem(loss, seed=5)
    Y = _labels(Y, loss)
    top = alpha_max(X, Y, penalty=penalty, loss=loss)
    if isinstance(penalty, TemporalGroupLasso):  # the smooth term is flat at 0
        assert top == pytest.approx(alpha_max(X, Y, penalty=L21(), loss=loss), rel=1e-12)
    Est = _estimator(loss)
    assert np.all(Est(top * (1 + 1e-8), penalty=penalty, tol=1e-10).fit(X, Y).coef_ == 0)
    assert np.any(Est(top * 0.97, penalty=penalty).fit(X, Y).coef_ != 0)


def test_tgl_without_smoothness_is_l21_and_names_resolve():
    X, Y, _ = _problem("squared", seed=6)
    kw = dict(alpha=5.0, tol=1e-11, max_iter=20000)
    a = MultiTaskLinearRegressor(penalty=TemporalGroupLasso(0.0), **kw).fit(X, Y)
    b = MultiTaskLinearRegressor(penalty="l21", **kw).fit(X, Y)
    np.testing.assert_allclose(a.coef_, b.coef_, atol=1e-9)
    assert isinstance(MultiTaskLinearRegressor(penalty="tgl").fit(X, Y).penalty_,
                      TemporalGroupLasso)
    assert isinstance(MultiTaskLinearRegressor(penalty="cfsgl").fit(X, Y).penalty_,
                      FusedSparseGroupLasso)


# ------------------------------------------------------------------- MALSAR
def _malsar_problem(seed=7, T=4, d=5):
    rng = np.random.default_rng(seed)
    X_list = [rng.normal(size=(int(rng.integers(8, 15)), d)) for _ in range(T)]
    y_list = [x @ rng.normal(size=d) + rng.normal(size=len(x)) for x in X_list]
    return X_list, y_list, rng.normal(size=(d, T))


def _ours(X_list, y_list, penalty, alpha, l2, W, loss="squared", weights=None):
    X, Y = tasks_to_wide(X_list, y_list)
    if loss == "logistic":
        Y = np.where(np.isnan(Y), np.nan, np.sign(Y))
    sw = np.ones_like(Y) if weights is None else weights(Y)
    design, Yf, omega = make_problem(xp.asarray(X), xp.asarray(Y), xp.asarray(sw), xp)
    datafit = SquaredLoss() if loss == "squared" else LogisticLoss()
    return design, Yf, omega, datafit, objective(
        design, Yf, omega, datafit, penalty, alpha, l2, xp.asarray(W)[None, ...],
        xp.zeros(W.shape[1]), xp)


def test_malsar_objectives_with_the_documented_mapping():
    X_list, y_list, W = _malsar_problem()
    rho1, rho2, rho3 = 0.7, 1.3, 2.1
    half_sse = sum(0.5 * np.sum((x @ W[:, t] - y) ** 2)
                   for t, (x, y) in enumerate(zip(X_list, y_list, strict=True)))
    _, R = _chain_laplacian(W.shape[1])
    l21 = np.linalg.norm(W, axis=1).sum()
    # Least_TGL: rho1 ||W||_F^2 + rho2 ||W R||_F^2 + rho3 ||W||_{2,1}
    tgl = half_sse + rho1 * np.sum(W ** 2) + rho2 * np.sum((W @ R) ** 2) + rho3 * l21
    *_, ours = _ours(X_list, y_list, TemporalGroupLasso(rho2 / rho3), 2 * rho3, 2 * rho1, W)
    assert ours == pytest.approx(2 * tgl, rel=1e-13)
    # Least_CFGLasso: rho1 ||W||_1 + rho2 sum |W_jt - W_j,t+1| + rho3 ||W||_{2,1}
    cfgl = (half_sse + rho1 * np.abs(W).sum() + rho2 * np.abs(np.diff(W, axis=1)).sum()
            + rho3 * l21)
    penalty = FusedSparseGroupLasso(fused_weight=rho2 / rho1, group_weight=rho3 / rho1)
    *_, ours = _ours(X_list, y_list, penalty, 2 * rho1, 0.0, W)
    assert ours == pytest.approx(2 * cfgl, rel=1e-13)
    # rho1 = 0: l1_weight = 0, scaled by rho3
    cfgl0 = cfgl - rho1 * np.abs(W).sum()
    penalty = FusedSparseGroupLasso(fused_weight=rho2 / rho3, group_weight=1.0,
                                    l1_weight=0.0)
    *_, ours = _ours(X_list, y_list, penalty, 2 * rho3, 0.0, W)
    assert ours == pytest.approx(2 * cfgl0, rel=1e-13)
    # Logistic_TGL: mean logistic loss within each task, no factor 2
    log_loss = sum(np.mean(np.log1p(np.exp(-np.sign(y) * (x @ W[:, t]))))
                   for t, (x, y) in enumerate(zip(X_list, y_list, strict=True)))
    ltgl = log_loss + rho1 * np.sum(W ** 2) + rho2 * np.sum((W @ R) ** 2) + rho3 * l21
    *_, ours = _ours(X_list, y_list, TemporalGroupLasso(rho2 / rho3), rho3, rho1, W,
                     loss="logistic",
                     weights=lambda Y: np.broadcast_to(
                         1.0 / np.sum(~np.isnan(Y), axis=0), Y.shape).copy())
    assert ours == pytest.approx(ltgl, rel=1e-13)
    # Least_msmtfl_capL1: ||XW - Y||^2 (no 1/2) + lambda sum_j min(||W_j||_1, theta)
    lam, theta = 1.7, 2.0
    capped = 2 * half_sse + lam * np.minimum(np.abs(W).sum(axis=1), theta).sum()
    design, Yf, omega, datafit, _ = _ours(X_list, y_list, L21(), 1.0, 0.0, W)
    ours = capped_l1_objective(design, Yf, omega, datafit, lam, theta, 0.0,
                               xp.asarray(W), xp.zeros(W.shape[1]), xp)
    assert ours == pytest.approx(capped, rel=1e-13)


# ------------------------------------------------------------------- MSMTFL
def _planted(seed=0):
    X, Y, coef = make_disease_progression(n_samples=60, n_features=20, n_timepoints=4,
                                          noise=0.5, dropout=0.1, random_state=seed)
    return X, Y, coef


@pytest.mark.parametrize("loss", ["squared", "logistic"])
def test_msmtfl_objective_never_increases_and_every_stage_is_optimal(loss):
    """Stage by stage (``max_stages = k`` reproduces the first k stages): the
    capped objective never increases, and each stage's weighted lasso satisfies its
    optimality conditions, written in NumPy, to 1e-8 of the gradient scale."""
    X, Y, _ = make_disease_progression(n_samples=40, n_features=10, n_timepoints=3,
                                       noise=0.5, dropout=0.1, random_state=1)
    rng = np.random.default_rng(0)
    Y = Y if loss == "squared" else np.where(np.isnan(Y), np.nan,
                                             np.where(Y > np.nanmedian(Y), 1.0, -1.0))
    sw = rng.uniform(0.5, 2.0, size=Y.shape)
    datafit = SquaredLoss() if loss == "squared" else LogisticLoss()
    design, Yf, omega = make_problem(xp.asarray(X), xp.asarray(Y), xp.asarray(sw), xp)
    top = alpha_max(X, Y, penalty="lasso", loss=loss, sample_weight=sw)
    alpha, theta, l2 = 0.15 * top, (3.0 if loss == "squared" else 0.5), 0.01
    _, _, full = msmtfl(design, Yf, omega, datafit, alpha, theta, l2, xp, tol=1e-12,
                        max_iter=50000)
    history = np.array(full["objective_history"])
    assert full["converged"] and full["n_stages"] >= 2
    assert np.all(np.diff(history) <= 1e-12 * np.abs(history[:-1]))
    assert history[-1] < history[1]  # later stages do improve on the lasso
    previous = np.zeros((X.shape[1], Y.shape[1]))
    for k in range(1, full["n_stages"] + 1):
        W, b, info = msmtfl(design, Yf, omega, datafit, alpha, theta, l2, xp,
                            tol=1e-12, max_iter=50000, max_stages=k)
        W, b = np.asarray(W), np.asarray(b)
        penalised = np.abs(previous).sum(axis=1) < theta
        gW, gb = _smooth_gradients(X, Y, sw, W, b, loss)
        G = gW + 2 * l2 * W
        scale = np.linalg.norm(_smooth_gradients(X, Y, sw, 0 * W, b, loss)[0])
        nonzero = (W != 0) & penalised[:, None]
        zero = (W == 0) & penalised[:, None]
        free = ~penalised
        worst = max(np.abs(G + alpha * np.sign(W))[nonzero].max(initial=0.0),
                    np.maximum(np.abs(G) - alpha, 0.0)[zero].max(initial=0.0),
                    np.abs(G[free]).max(initial=0.0), np.abs(gb).max())
        assert worst <= 1e-8 * scale, k
        assert info["objective_history"] == pytest.approx(list(history[:k + 1]),
                                                          rel=1e-10)
        previous = W


def test_msmtfl_with_infinite_cap_is_the_lasso():
    X, Y, _ = _planted(2)
    kw = dict(tol=1e-11, max_iter=20000)
    ms = MultiStageFeatureLearningRegressor(3.0, theta=np.inf, **kw).fit(X, Y)
    lasso = MultiTaskLinearRegressor(3.0, penalty="lasso", **kw).fit(X, Y)
    np.testing.assert_allclose(ms.coef_, lasso.coef_, atol=1e-9)
    assert ms.n_stages_ == 1 and not np.any(ms.capped_features_)


def _support_errors(coef, true):
    return int(np.sum(np.any(coef != 0, axis=0) != true))


@pytest.mark.parametrize("seed", [0, 1])
def test_msmtfl_recovers_the_planted_support_at_least_as_well(seed):
    """Best support (over a common grid of alpha / alpha_max) of MSMTFL, lasso and
    l21 on the simulator: MSMTFL's has no more errors than either."""
    X, Y, coef = _planted(seed)
    true = np.any(coef != 0, axis=1)
    ratios = np.geomspace(0.05, 0.6, 6)
    errors = {}
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        for name, make, base in [
                ("lasso", lambda a: MultiTaskLinearRegressor(a, penalty="lasso"), "lasso"),
                ("l21", lambda a: MultiTaskLinearRegressor(a, penalty="l21"), "l21"),
                ("msmtfl", MultiStageFeatureLearningRegressor, "lasso")]:
            top = alpha_max(X, Y, penalty=base)
            errors[name] = min(_support_errors(make(r * top).fit(X, Y).coef_, true)
                               for r in ratios)
    assert errors["msmtfl"] <= min(errors["lasso"], errors["l21"]), errors


def test_msmtfl_estimators_defaults_and_attributes():
    X, Y, _ = _planted(3)
    model = MultiStageFeatureLearningRegressor().fit(X, Y)
    assert model.alpha_ == pytest.approx(0.1 * alpha_max(X, Y, penalty="lasso"))
    assert model.l2_ == 0.0 and np.isfinite(model.theta_) and model.theta_ > 0
    assert model.objective_history_.shape == (model.n_stages_ + 1,)
    assert model.capped_features_.shape == (X.shape[1],)
    assert model.solver_info_["converged"]
    np.testing.assert_array_equal(
        model.capped_features_, np.abs(model.coef_).sum(axis=0) >= model.theta_)
    labels = np.where(np.isnan(Y), np.nan, Y > np.nanmedian(Y, axis=0))
    clf = MultiStageFeatureLearningClassifier().fit(X, labels)
    assert clf.l2_ > 0  # the default ridge keeps the capped rows bounded
    assert clf.predict_proba(X).shape == Y.shape
    assert len(clf.classes_) == Y.shape[1]


@pytest.mark.parametrize("params,match", [
    (dict(theta=0.0), "theta must be"),
    (dict(theta="large"), "theta must be"),
    (dict(max_stages=0), "max_stages must be"),
    (dict(alpha=-1.0), "alpha must be"),
])
def test_msmtfl_bad_parameters_raise(params, match):
    X, Y, _ = _planted(4)
    with pytest.raises(ValueError, match=match):
        MultiStageFeatureLearningRegressor(**params).fit(X, Y)


@pytest.mark.parametrize("penalty,match", [
    (TemporalGroupLasso(-1.0), "smoothness must be"),
    (FusedSparseGroupLasso(fused_weight=np.nan), "fused_weight must be"),
    (FusedSparseGroupLasso(group_weight=0.0, l1_weight=0.0), "l1_weight > 0 or"),
])
def test_progression_penalties_bad_parameters_raise(penalty, match):
    X, Y, _ = _planted(4)
    with pytest.raises(ValueError, match=match):
        MultiTaskLinearRegressor(1.0, penalty=penalty).fit(X, Y)


# --------------------------------------------------------- missing labels, weights
def _msmtfl(**kw):
    return MultiStageFeatureLearningRegressor(theta=2.0, **kw)


@pytest.mark.parametrize("make", [
    lambda **kw: MultiTaskLinearRegressor(penalty=TemporalGroupLasso(1.0), l2=0.1, **kw),
    lambda **kw: MultiTaskLinearRegressor(penalty=FusedSparseGroupLasso(), **kw),
    _msmtfl,
], ids=["tgl", "cfsgl", "msmtfl"])
def test_missing_labels_equal_zero_weights_and_weights_equal_repeats(make):
    X, Y, _ = make_disease_progression(n_samples=40, n_features=8, n_timepoints=3,
                                       dropout=0.2, random_state=5)
    kw = dict(alpha=4.0, tol=1e-11, max_iter=20000)
    a = make(**kw).fit(X, Y)
    filled = np.where(np.isnan(Y), 1e3, Y)  # any value: weight zero must ignore it
    b = make(**kw).fit(X, filled, sample_weight=(~np.isnan(Y)).astype(float))
    np.testing.assert_allclose(a.coef_, b.coef_, atol=1e-8)
    np.testing.assert_allclose(a.intercept_, b.intercept_, atol=1e-8)
    # Weight 2 on every row equals every row twice.
    c = make(**kw).fit(X, Y, sample_weight=2.0)
    d = make(**kw).fit(np.vstack([X, X]), np.vstack([Y, Y]))
    np.testing.assert_allclose(c.coef_, d.coef_, atol=1e-8)


# ------------------------------------------------------------------- array API
xps = pytest.importorskip("array_api_strict")


@pytest.mark.parametrize("make", [
    lambda: MultiTaskLinearRegressor(4.0, penalty=FusedSparseGroupLasso(), l2=0.0,
                                     tol=1e-10),
    lambda: MultiTaskLinearRegressor(4.0, penalty=TemporalGroupLasso(), l2=0.0,
                                     tol=1e-10),
    lambda: MultiStageFeatureLearningRegressor(4.0, theta=2.0, l2=0.0, tol=1e-10),
], ids=["cfsgl", "tgl", "msmtfl"])
def test_array_api_strict_matches_numpy(make):
    X, Y, _ = make_disease_progression(n_samples=30, n_features=6, n_timepoints=3,
                                       random_state=6)
    device = xps.Device("device1")
    ref = make().fit(X, Y)
    model = make().fit(xps.asarray(X, device=device), xps.asarray(Y, device=device))
    assert model.coef_.device == device
    coef = np.asarray(xps.asarray(model.coef_, device=xps.Device("CPU_DEVICE")))
    np.testing.assert_allclose(coef, ref.coef_, atol=1e-8)


# ------------------------------------------------------------------ simulator
def test_disease_progression_simulator():
    X, Y, coef = make_disease_progression(n_samples=300, n_features=30, n_timepoints=6,
                                          n_relevant=4, dropout=0.3, random_state=0)
    assert X.shape == (300, 30) and Y.shape == (300, 6) and coef.shape == (30, 6)
    support = np.flatnonzero(np.any(coef != 0, axis=1))
    assert support.size == 4
    # The same support at every visit, weights bounded away from 0, linear in time.
    assert np.all(np.abs(coef[support]) >= 0.5)
    np.testing.assert_allclose(np.diff(coef[support], n=2, axis=1), 0.0, atol=1e-12)
    # Dropout: baseline always observed; once missing, missing for good.
    missing = np.isnan(Y)
    assert not missing[:, 0].any()
    assert np.all(missing[:, 1:] >= missing[:, :-1])
    observed = (~missing).sum(axis=0)
    assert np.all(np.diff(observed) <= 0) and observed[-1] >= 2
    # The retention rate per visit is about 1 - dropout.
    assert observed[1] / observed[0] == pytest.approx(0.7, abs=0.08)
    # Determinism, and the noise-free scores are X coef + progression * t.
    X2, Y2, coef2 = make_disease_progression(n_samples=300, n_features=30,
                                             n_timepoints=6, n_relevant=4, dropout=0.3,
                                             random_state=0)
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(Y, Y2)
    np.testing.assert_array_equal(coef, coef2)
    X, Y, coef = make_disease_progression(n_samples=50, n_features=8, n_timepoints=3,
                                          noise=0.0, dropout=0.0, progression=2.0,
                                          random_state=1)
    np.testing.assert_allclose(Y, X @ coef + 2.0 * np.arange(3), atol=1e-12)
    # High dropout still leaves two patients at the last visit.
    _, Y, _ = make_disease_progression(n_samples=5, n_features=3, n_timepoints=8,
                                       n_relevant=1, dropout=0.99, random_state=2)
    assert np.sum(~np.isnan(Y[:, -1])) >= 2


@pytest.mark.parametrize("params,match", [
    (dict(n_relevant=0), "n_relevant must be between 1 and"),
    (dict(n_relevant=60), "n_relevant must be between 1 and"),
    (dict(dropout=1.0), "dropout must be in"),
    (dict(n_samples=1), "n_samples must be"),
    (dict(noise=-0.1), "noise must be in"),
    (dict(progression=np.inf), "progression must be in"),
])
def test_disease_progression_simulator_errors(params, match):
    with pytest.raises(ValueError, match=match):
        make_disease_progression(**params)
