"""rkhsmtl.linear estimators: scikit-learn parity where the models coincide, RMTL
conventions, labels, missing entries and weights, paths, errors, array API."""

import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import Lasso as SkLasso
from sklearn.linear_model import LogisticRegression, MultiTaskLasso
from sklearn.model_selection import GridSearchCV, KFold

from rkhsmtl.linear import (
    ClusteredMTL,
    Dirty,
    GraphPenalty,
    MultiTaskLinearClassifier,
    MultiTaskLinearRegressor,
    SparseLowRank,
    alpha_max,
    linear_path,
    tasks_to_wide,
)


def _regression(n=50, d=6, T=3, seed=0, missing=0.0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) + 1.0
    W = rng.standard_normal((d, T))
    W[3:] = 0
    Y = X @ W + rng.standard_normal(T) + 0.3 * rng.standard_normal((n, T))
    if missing:
        Y[rng.random((n, T)) < missing] = np.nan
    return X, Y


def _labels(n=60, d=4, T=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    S = X @ rng.standard_normal((d, T)) + 0.8 * rng.standard_normal((n, T))
    return X, (S > 0).astype(int)


# ------------------------------------------------------------- scikit-learn parity
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_lasso_one_task_equals_sklearn_lasso(fit_intercept):
    X, Y = _regression(T=1)
    n = X.shape[0]
    alpha = 8.0
    ours = MultiTaskLinearRegressor(penalty="lasso", alpha=alpha, fit_intercept=fit_intercept,
                                    tol=1e-10, max_iter=20000).fit(X, Y[:, 0])
    # sum (y - f)^2 + alpha |w|_1 = 2n [ (1/2n) sum (y - f)^2 + alpha/(2n) |w|_1 ]
    ref = SkLasso(alpha=alpha / (2 * n), fit_intercept=fit_intercept, tol=1e-14,
                  max_iter=100000).fit(X, Y[:, 0])
    np.testing.assert_allclose(ours.coef_[0], ref.coef_, atol=1e-7)
    np.testing.assert_allclose(ours.intercept_[0], ref.intercept_, atol=1e-7)
    assert ours.predict(X).shape == (n,)
    assert np.any(ours.coef_ == 0) and np.any(ours.coef_ != 0)


def test_l21_equals_sklearn_multitask_lasso():
    X, Y = _regression(T=4, seed=1)
    n = X.shape[0]
    alpha = 60.0
    ours = MultiTaskLinearRegressor(penalty="l21", alpha=alpha, fit_intercept=False, tol=1e-11,
                                    max_iter=20000).fit(X, Y)
    ref = MultiTaskLasso(alpha=alpha / (2 * n), fit_intercept=False, tol=1e-14,
                         max_iter=100000).fit(X, Y)
    np.testing.assert_allclose(ours.coef_, ref.coef_, atol=1e-7)
    assert np.any(np.all(ours.coef_ == 0, axis=0))  # whole features removed


def test_ridge_logistic_equals_logistic_regression_per_task():
    X, Y = _labels(seed=2)
    Y = Y.astype(float)
    Y[::5, 1] = np.nan
    l2 = 0.7
    clf = MultiTaskLinearClassifier(penalty="none", alpha=0.0, l2=l2, tol=1e-11,
                                    max_iter=20000).fit(X, Y)
    for t in range(Y.shape[1]):
        obs = ~np.isnan(Y[:, t])
        # sum log-loss + l2 ||w||^2  =  (1 / 2 l2) * [C sum log-loss + 1/2 ||w||^2]
        ref = LogisticRegression(C=1 / (2 * l2), tol=1e-12, max_iter=10000).fit(
            X[obs], Y[obs, t])
        np.testing.assert_allclose(clf.coef_[t], ref.coef_[0], atol=1e-6)
        np.testing.assert_allclose(clf.intercept_[t], ref.intercept_[0], atol=1e-6)


# ---------------------------------------------------------------- RMTL conventions
def test_rmtl_normalisation_through_sample_weight():
    """RMTL's least squares is sum_t (1 / 2 n_t) sum_i (y - f)^2: weights 1/(2 n_t).
    The minimised objective equals RMTL's formula evaluated independently."""
    rng = np.random.default_rng(3)
    sizes = [12, 20, 31]
    X_list = [rng.standard_normal((m, 5)) for m in sizes]
    y_list = [x @ rng.standard_normal(5) + 1.0 for x in X_list]
    X, Y = tasks_to_wide(X_list, y_list)
    assert Y.shape == (sum(sizes), 3) and np.sum(~np.isnan(Y)) == sum(sizes)
    n_t = np.sum(~np.isnan(Y), axis=0)
    sw = np.broadcast_to(1.0 / (2 * n_t), Y.shape)
    lam1, lam2 = 0.1, 0.05
    model = MultiTaskLinearRegressor(penalty="trace", alpha=lam1, l2=lam2, tol=1e-10,
                                     max_iter=20000).fit(X, Y, sample_weight=sw)
    W, c = model.coef_.T, model.intercept_
    rmtl = sum(np.mean((y - x @ W[:, t] - c[t]) ** 2) / 2
               for t, (x, y) in enumerate(zip(X_list, y_list, strict=True)))
    rmtl += lam1 * np.linalg.svd(W, compute_uv=False).sum() + lam2 * np.sum(W ** 2)
    assert model.objective_history_[-1] == pytest.approx(rmtl, rel=1e-12)


def test_cmtl_parametrisation_and_relation():
    X, Y = _regression(T=5, seed=4)
    lam1, lam2, k = 2.0, 0.5, 2
    model = MultiTaskLinearRegressor(penalty=ClusteredMTL(n_clusters=k), alpha=lam1, l2=lam2,
                                     tol=1e-10, max_iter=20000).fit(X, Y)
    M = model.task_relation_
    eta, c = lam2 / lam1, lam1 * (lam2 / lam1) * (1 + lam2 / lam1)
    W = model.coef_.T
    R = Y - model.predict(X)
    value = np.sum(R ** 2) + c * np.trace(W @ np.linalg.inv(eta * np.eye(5) + M) @ W.T)
    assert model.objective_history_[-1] == pytest.approx(value, rel=1e-10)
    with pytest.raises(ValueError, match="l2 > 0"):
        MultiTaskLinearRegressor(penalty="cmtl", alpha=1.0, l2=0.0).fit(X, Y)
    with pytest.raises(ValueError, match="n_clusters"):
        MultiTaskLinearRegressor(penalty=ClusteredMTL(9), alpha=1.0, l2=1.0).fit(X, Y)


# ------------------------------------------------------------------------ labels
def test_label_encodings_give_the_same_model():
    """RMTL silently mis-fits 0/1 labels; here {0,1}, {-1,+1}, bools and strings
    are the same problem."""
    X, Y01 = _labels(seed=5)
    fits = []
    for Y in (Y01, 2 * Y01 - 1, Y01.astype(bool),
              np.where(Y01 == 1, "yes", "no").astype(object)):
        clf = MultiTaskLinearClassifier(penalty="l21", alpha=1.0, tol=1e-10,
                                        max_iter=20000).fit(X, Y)
        fits.append(clf)
        pred = clf.predict(X)
        assert pred.shape == Y.shape
        assert set(np.unique(pred).tolist()) <= set(np.unique(Y).tolist())
        assert clf.score(X, Y) > 0.7
    for clf in fits[1:]:
        np.testing.assert_allclose(clf.coef_, fits[0].coef_, atol=1e-9)
    assert [c.tolist() for c in fits[3].classes_] == [["no", "yes"]] * 3
    proba = fits[0].predict_proba(X)
    np.testing.assert_allclose(proba, 1 / (1 + np.exp(-fits[0].decision_function(X))))
    # The positive class is classes_[t][1]: probability > 1/2 where predicted so.
    np.testing.assert_array_equal(proba > 0.5, fits[0].predict(X) == 1)


def test_classifier_one_task_and_score_ignores_missing():
    X, Y = _labels(T=2, seed=6)
    clf = MultiTaskLinearClassifier(penalty="lasso", alpha=0.5).fit(X, Y[:, 0])
    assert clf.predict_proba(X).shape == (X.shape[0], 2)
    assert clf.classes_.tolist() == [0, 1]
    Ym = Y.astype(float)
    Ym[:20, 1] = np.nan
    clf2 = MultiTaskLinearClassifier(penalty="lasso", alpha=0.5).fit(X, Y)
    pred = clf2.predict(X)
    acc = np.mean([np.mean(pred[~np.isnan(Ym[:, t]), t] == Ym[~np.isnan(Ym[:, t]), t])
                   for t in range(2)])
    assert clf2.score(X, Ym) == pytest.approx(acc)


# --------------------------------------------------------- missing labels, weights
@pytest.mark.parametrize("penalty", ["l21", "trace", "dirty", GraphPenalty("mean")])
def test_missing_entries_equal_zero_weights(penalty):
    X, Y = _regression(T=3, seed=7, missing=0.3)
    kw = dict(alpha=3.0, l2=0.1, tol=1e-10, max_iter=20000)
    a = MultiTaskLinearRegressor(penalty=penalty, **kw).fit(X, Y)
    filled = np.where(np.isnan(Y), 1e3, Y)  # any value: weight zero must ignore it
    sw = (~np.isnan(Y)).astype(float)
    b = MultiTaskLinearRegressor(penalty=penalty, **kw).fit(X, filled, sample_weight=sw)
    np.testing.assert_allclose(a.coef_, b.coef_, atol=1e-7)
    np.testing.assert_allclose(a.intercept_, b.intercept_, atol=1e-7)


def test_integer_weights_equal_repeated_rows():
    X, Y = _regression(T=3, seed=8, missing=0.2)
    rng = np.random.default_rng(0)
    reps = rng.integers(1, 4, size=(X.shape[0], 3))
    kw = dict(alpha=2.0, tol=1e-11, max_iter=20000)
    a = MultiTaskLinearRegressor(penalty="lasso", **kw).fit(
        X, Y, sample_weight=reps.astype(float))
    # Repeat each row max(reps) times, masking the task where the copy is extra.
    rows, Ys = [], []
    for i in range(X.shape[0]):
        for r in range(reps[i].max()):
            rows.append(X[i])
            Ys.append(np.where(r < reps[i], Y[i], np.nan))
    Yr = np.array(Ys)
    keep = ~np.all(np.isnan(Yr), axis=1)
    b = MultiTaskLinearRegressor(penalty="lasso", **kw).fit(np.array(rows)[keep], Yr[keep])
    np.testing.assert_allclose(a.coef_, b.coef_, atol=1e-7)


# ------------------------------------------------------------ paths and alpha_max
@pytest.mark.parametrize("loss", ["squared", "logistic"])
@pytest.mark.parametrize("penalty", ["lasso", "l21", "trace", "rmtfl"])
def test_alpha_max_is_the_smallest_zero_solution(loss, penalty):
    X, Y = _regression(T=3, seed=9, missing=0.2) if loss == "squared" else _labels(seed=9)
    top = alpha_max(X, Y, penalty=penalty, loss=loss)
    Est = MultiTaskLinearRegressor if loss == "squared" else MultiTaskLinearClassifier
    above = Est(top * (1 + 1e-6), penalty=penalty, tol=1e-10).fit(X, Y)
    below = Est(top * 0.97, penalty=penalty, tol=1e-10).fit(X, Y)
    assert np.all(above.coef_ == 0)
    assert np.any(below.coef_ != 0)


def test_path_returns_every_solution_equal_to_single_fits():
    X, Y = _regression(T=3, seed=10, missing=0.2)
    alphas, coefs, intercepts, info = linear_path(X, Y, penalty="l21", n_alphas=6,
                                                  l2=0.1, tol=1e-10, max_iter=20000)
    assert np.all(np.diff(alphas) < 0)
    assert alphas[0] == pytest.approx(alpha_max(X, Y, penalty="l21"))
    assert coefs.shape == (6, 3, X.shape[1]) and intercepts.shape == (6, 3)
    assert np.all(coefs[0] == 0)
    for i in (1, 3, 5):
        single = MultiTaskLinearRegressor(penalty="l21", alpha=alphas[i], l2=0.1, tol=1e-10,
                                          max_iter=20000).fit(X, Y)
        np.testing.assert_allclose(coefs[i], single.coef_, atol=1e-6)
        np.testing.assert_allclose(intercepts[i], single.intercept_, atol=1e-6)
    _, _, _, info2 = linear_path(X, Y, penalty=SparseLowRank(0.5), alphas=[3.0, 1.0])
    assert info2[0]["components"].shape == (2, 3, X.shape[1])
    with pytest.raises(ValueError, match="alpha_max"):
        linear_path(X, Y, penalty="graph")


def test_warm_start_and_history():
    X, Y = _regression(T=3, seed=11)
    model = MultiTaskLinearRegressor(penalty="trace", alpha=5.0, tol=1e-9, warm_start=True)
    model.fit(X, Y)
    first = model.n_iter_
    assert model.objective_history_.shape == (first,)
    model.fit(X, Y)
    assert model.n_iter_ < first


def test_convergence_warning_names_max_iter():
    X, Y = _regression(T=3, seed=12)
    with pytest.warns(ConvergenceWarning, match="max_iter=2"):
        MultiTaskLinearRegressor(penalty="lasso", alpha=1.0, max_iter=2, tol=1e-12).fit(X, Y)


@pytest.mark.parametrize("params,match", [
    (dict(penalty="nope"), "penalty must be one of"),
    (dict(alpha=-1.0), "alpha"),
    (dict(l2=np.inf), "l2"),
    (dict(max_iter=0), "max_iter"),
    (dict(tol=-1.0), "tol"),
    (dict(restart="sometimes"), "restart"),
    (dict(penalty=Dirty(shared="l2")), "shared"),
    (dict(penalty=Dirty(beta=0.0)), "beta"),
    (dict(penalty=GraphPenalty([(0, 0)])), "Edge"),
    (dict(penalty=GraphPenalty(np.ones((2, 2)))), "shape"),
    (dict(penalty=GraphPenalty(incidence=np.ones((2, 2)))), "shape"),
    (dict(penalty=GraphPenalty(np.array([[0, 1, -1], [1, 0, 0], [-1, 0, 0.0]]))),
     "incidence=G"),
    (dict(penalty=GraphPenalty(np.eye(3), incidence=np.eye(3))), "not both"),
    (dict(penalty=GraphPenalty(l1_weight=-1.0)), "l1_weight"),
])
def test_bad_parameters_raise(params, match):
    X, Y = _regression(T=3, seed=13)
    with pytest.raises(ValueError, match=match):
        MultiTaskLinearRegressor(**params).fit(X, Y)


def test_grid_search_tunes_alpha_l2_and_penalty_settings():
    X, Y = _regression(T=3, seed=14, missing=0.1)
    grid = GridSearchCV(
        MultiTaskLinearRegressor(penalty=Dirty(), tol=1e-5),
        {"alpha": [0.5, 5.0], "l2": [0.0, 1.0], "penalty__beta": [0.5, 2.0]},
        cv=KFold(3, shuffle=True, random_state=0)).fit(X, Y)
    assert set(grid.best_params_) == {"alpha", "l2", "penalty__beta"}
    assert np.isfinite(grid.best_score_)
    assert clone(grid.best_estimator_).get_params()["penalty__beta"] in (0.5, 2.0)


def test_tasks_to_wide_errors():
    with pytest.raises(ValueError, match="equal length"):
        tasks_to_wide([np.ones((2, 2))], [])
    with pytest.raises(ValueError, match="same number of columns"):
        tasks_to_wide([np.ones((2, 2)), np.ones((2, 3))], [np.ones(2), np.ones(2)])


# ------------------------------------------------------------------- array API
xps = pytest.importorskip("array_api_strict")


@pytest.mark.parametrize("device", [xps.Device("CPU_DEVICE"), xps.Device("device1")],
                         ids=str)
@pytest.mark.parametrize("penalty", ["lasso", "trace", "dirty", ClusteredMTL(2),
                                     GraphPenalty("chain")])
def test_array_api_strict_matches_numpy(device, penalty):
    X, Y = _regression(n=30, d=4, T=3, seed=15, missing=0.2)
    sw = np.random.default_rng(0).uniform(0.5, 2.0, Y.shape)
    kw = dict(alpha=1.0, l2=0.5, tol=1e-10, max_iter=5000)
    ref = MultiTaskLinearRegressor(penalty=penalty, **kw).fit(X, Y, sample_weight=sw)
    Xs, Ys, Ws = (xps.asarray(a, device=device) for a in (X, Y, sw))
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        model = MultiTaskLinearRegressor(penalty=penalty, **kw).fit(Xs, Ys, sample_weight=Ws)
    for name in ("coef_", "intercept_", "objective_history_"):
        value = getattr(model, name)
        assert type(value).__module__.startswith("array_api_strict"), name
        assert value.device == device, name
    pred = model.predict(Xs)
    assert pred.device == device
    coef = np.asarray(xps.asarray(model.coef_, device=xps.Device("CPU_DEVICE")))
    np.testing.assert_allclose(coef, ref.coef_, atol=1e-8)


@pytest.mark.parametrize("device", [xps.Device("CPU_DEVICE"), xps.Device("device1")],
                         ids=str)
def test_array_api_strict_classifier(device):
    X, Y = _labels(seed=16)
    ref = MultiTaskLinearClassifier(penalty="l21", alpha=0.5, tol=1e-10).fit(X, Y)
    model = MultiTaskLinearClassifier(penalty="l21", alpha=0.5, tol=1e-10).fit(
        xps.asarray(X, device=device), xps.asarray(Y, device=device))
    proba = model.predict_proba(xps.asarray(X, device=device))
    assert proba.device == device
    coef = np.asarray(xps.asarray(model.coef_, device=xps.Device("CPU_DEVICE")))
    np.testing.assert_allclose(coef, ref.coef_, atol=1e-8)


def test_cv_scores_match_manual_cross_validation_and_refit():
    from rkhsmtl.linear import MultiTaskLinearClassifierCV, MultiTaskLinearRegressorCV
    from rkhsmtl.metrics import nan_r2_score

    X, Y = _regression(n=60, T=3, seed=17, missing=0.15)
    cv = KFold(3, shuffle=True, random_state=0)
    alphas, l2s = [20.0, 5.0, 0.5], [0.0, 2.0]
    kw = dict(tol=1e-10, max_iter=20000)
    model = MultiTaskLinearRegressorCV("trace", alphas=alphas, l2s=l2s, cv=cv,
                                       **kw).fit(X, Y)
    manual = np.zeros((2, 3))
    for i, l2 in enumerate(l2s):
        for j, a in enumerate(alphas):
            manual[i, j] = np.mean([nan_r2_score(Y[te], MultiTaskLinearRegressor(
                penalty="trace", alpha=a, l2=l2, **kw).fit(X[tr], Y[tr]).predict(X[te]))
                for tr, te in cv.split(X)])
    np.testing.assert_allclose(model.mean_cv_score_, manual, atol=1e-7)
    i, j = np.unravel_index(np.argmax(manual), manual.shape)
    assert (model.l2_, model.alpha_) == (l2s[i], alphas[j])
    direct = MultiTaskLinearRegressor(alphas[j], penalty="trace", l2=l2s[i], **kw).fit(X, Y)
    np.testing.assert_allclose(model.coef_, direct.coef_, atol=1e-8)
    assert model.score(X, Y) == pytest.approx(direct.score(X, Y))

    Xc, Yc = _labels(seed=18)
    clf = MultiTaskLinearClassifierCV("l21", n_alphas=4, cv=3).fit(Xc, Yc)
    assert clf.alphas_[0] == pytest.approx(alpha_max(Xc, Yc, penalty="l21",
                                                     loss="logistic"))
    assert clf.predict_proba(Xc).shape == Yc.shape and clf.score(Xc, Yc) > 0.7


def test_cv_paths_in_parallel_give_the_same_table():
    from joblib import parallel_config

    from rkhsmtl.linear import MultiTaskLinearRegressorCV

    X, Y = _regression(n=40, T=3, seed=5, missing=0.2)
    kw = dict(alphas=[5.0, 0.5], l2s=[0.0, 1.0], cv=3, tol=1e-8)
    one = MultiTaskLinearRegressorCV(penalty="l21", **kw).fit(X, Y)
    # Two processes (loky), as a user's n_jobs=2 runs them.
    two = MultiTaskLinearRegressorCV(penalty="l21", n_jobs=2, **kw).fit(X, Y)
    np.testing.assert_array_equal(one.cv_scores_, two.cv_scores_)
    assert (one.alpha_, one.l2_) == (two.alpha_, two.l2_)
    with parallel_config(backend="threading", n_jobs=2):
        threads = MultiTaskLinearRegressorCV(penalty="l21", **kw).fit(X, Y)
    np.testing.assert_array_equal(one.cv_scores_, threads.cv_scores_)


@pytest.mark.parametrize("device", [xps.Device("CPU_DEVICE"), xps.Device("device1")],
                         ids=str)
def test_array_api_strict_task_blocked_layout(device):
    """One task per row (the long-to-wide layout) takes the task-blocked path."""
    rng = np.random.default_rng(19)
    X_list = [rng.standard_normal((m, 4)) for m in (9, 12, 7)]
    X, Y = tasks_to_wide(X_list, [x @ rng.standard_normal(4) for x in X_list])
    kw = dict(alpha=0.5, tol=1e-10, max_iter=5000)
    ref = MultiTaskLinearRegressor(penalty="trace", **kw).fit(X, Y)
    model = MultiTaskLinearRegressor(penalty="trace", **kw).fit(
        xps.asarray(X, device=device), xps.asarray(Y, device=device))
    assert model.coef_.device == device
    coef = np.asarray(xps.asarray(model.coef_, device=xps.Device("CPU_DEVICE")))
    np.testing.assert_allclose(coef, ref.coef_, atol=1e-8)


@pytest.mark.slow
def test_school_cmtl_reaches_the_reference_optimum():
    """MALSAR's Least_CMTL objective on School (rho1 = rho2 = 1000, k = 5, no
    intercept, 1/2 squared loss) has the minimum 1 133 661.6 (from an independent
    solver; MALSAR itself reports a value below it). With the documented mapping
    alpha = 2 rho1, l2 = 2 rho2 our objective is twice theirs."""
    from rkhsmtl.datasets import load_school

    X, Y = load_school(wide=True)
    model = MultiTaskLinearRegressor(penalty=ClusteredMTL(n_clusters=5), alpha=2000.0,
                                     l2=2000.0, fit_intercept=False, tol=1e-8,
                                     max_iter=5000).fit(X, Y)
    assert model.objective_history_[-1] / 2 == pytest.approx(1133661.6, abs=0.06)
    M = model.task_relation_
    assert np.trace(M) == pytest.approx(5.0)


def test_classifier_grid_search_with_missing_labels_and_the_stratified_splitter():
    from sklearn.model_selection import GridSearchCV

    from rkhsmtl.linear import MultiTaskLinearClassifier
    from rkhsmtl.model_selection import MultiTaskStratifiedKFold

    rng = np.random.default_rng(3)
    X = rng.normal(size=(90, 4))
    Y = (X @ rng.normal(size=(4, 3)) > 0).astype(float)
    Y[rng.random(Y.shape) < 0.3] = np.nan
    search = GridSearchCV(MultiTaskLinearClassifier(penalty="l21"), {"alpha": [0.1, 1.0]},
                          cv=MultiTaskStratifiedKFold(3, shuffle=True, random_state=0),
                          error_score="raise").fit(X, Y)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()


def test_offset_targets_do_not_stop_the_solver_early():
    """The tolerance is in units of the gradient at the best intercepts, not at 0."""
    from sklearn.linear_model import Lasso

    from rkhsmtl.linear import MultiTaskLinearRegressor

    rng = np.random.default_rng(4)
    X = rng.normal(size=(200, 10)) + 5.0
    y = X @ rng.normal(size=10) + rng.normal(size=200) + 1000.0
    ours = MultiTaskLinearRegressor(penalty="lasso", alpha=5.0).fit(X, y[:, None])
    ref = Lasso(alpha=5.0 / 400, tol=1e-12, max_iter=100_000).fit(X, y)
    np.testing.assert_allclose(ours.coef_.ravel(), ref.coef_, atol=1e-4)


def test_exact_fit_converges():
    from rkhsmtl.linear import MultiTaskLinearRegressor

    rng = np.random.default_rng(5)
    X = rng.normal(size=(50, 5))
    Y = X @ rng.normal(size=(5, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        model = MultiTaskLinearRegressor(0.0, penalty="none", l2=0.0).fit(X, Y)
    assert model.solver_info_["converged"]


def test_path_and_cv_leave_the_user_penalty_untouched():
    from rkhsmtl.linear import GraphPenalty, MultiTaskLinearRegressorCV, linear_path

    rng = np.random.default_rng(6)
    X = rng.normal(size=(60, 4))
    Y = X @ rng.normal(size=(4, 4)) + rng.normal(size=(60, 4))
    penalty = GraphPenalty("chain", l1_weight=1.0)
    linear_path(X, Y, penalty=penalty, n_alphas=3)
    penalty.set_params(adjacency="mean")
    changed = linear_path(X, Y, penalty=penalty, n_alphas=3)[1]
    fresh = linear_path(X, Y, penalty=GraphPenalty("mean", l1_weight=1.0), n_alphas=3)[1]
    np.testing.assert_array_equal(changed, fresh)
    assert not hasattr(penalty, "_lap_cache")
    a = MultiTaskLinearRegressorCV(n_alphas=3).fit(X, Y, sample_weight=2.0)
    b = MultiTaskLinearRegressorCV(n_alphas=3).fit(X, Y, sample_weight=np.full(60, 2.0))
    np.testing.assert_allclose(a.coef_, b.coef_)


def test_classifier_rejects_one_weighted_class_with_intercepts():
    from rkhsmtl.linear import MultiTaskLinearClassifier

    rng = np.random.default_rng(7)
    X = rng.normal(size=(40, 3))
    Y = (X @ rng.normal(size=(3, 2)) > 0).astype(float)
    weights = np.ones(Y.shape)
    weights[Y[:, 0] > 0, 0] = 0.0
    with pytest.raises(ValueError, match="only one class with a positive sample weight"):
        MultiTaskLinearClassifier(penalty="l21", alpha=0.1).fit(X, Y, sample_weight=weights)


# ------------------------------------------- penalties are scikit-learn parameters
def test_penalty_parameters_the_scikit_learn_way():
    from rkhsmtl.linear import L21

    model = MultiTaskLinearRegressor(penalty=GraphPenalty())
    params = model.get_params(deep=True)
    for name in ("penalty__adjacency", "penalty__l1_weight", "penalty__incidence",
                 "penalty__beta"):  # beta: the deprecated spelling, still settable
        assert name in params
    assert params["penalty__adjacency"] == "chain"
    assert "penalty__beta" in MultiTaskLinearRegressor(penalty=Dirty()).get_params()
    model.set_params(penalty__adjacency="mean", penalty__l1_weight=0.5)
    assert repr(model.penalty) == "GraphPenalty(adjacency='mean', l1_weight=0.5)"
    copy = clone(model)
    assert copy.penalty is not model.penalty
    assert copy.get_params()["penalty__l1_weight"] == 0.5
    assert clone(Dirty(0.3, shared="l21")).get_params() == {"beta": 0.3,
                                                            "shared": "l21"}
    assert clone(ClusteredMTL(3)).n_clusters == 3
    assert L21().get_params() == {}
    with pytest.raises(ValueError, match="Invalid parameter"):
        GraphPenalty().set_params(graph_type="chain")


def test_grid_search_over_graph_penalty_parameters():
    X, Y = _regression(T=3, seed=16, missing=0.1)
    grid = GridSearchCV(
        MultiTaskLinearRegressor(penalty=GraphPenalty(), alpha=1.0, l2=0.1, tol=1e-8),
        {"penalty__adjacency": ["chain", "mean", [(0, 2)]],
         "penalty__l1_weight": [0.0, 0.5]},
        cv=KFold(3, shuffle=True, random_state=0)).fit(X, Y)
    assert set(grid.best_params_) == {"penalty__adjacency", "penalty__l1_weight"}
    assert len(grid.cv_results_["params"]) == 6
    best = grid.best_estimator_.penalty
    assert best.get_params()["l1_weight"] in (0.0, 0.5)


@pytest.mark.parametrize("penalty", [
    GraphPenalty(np.ones((3, 3)) - np.eye(3), l1_weight=0.2),
    GraphPenalty(incidence=np.array([[1.0, 0.0], [-1.0, 1.0], [0.0, -1.0]])),
    ClusteredMTL(2), Dirty(0.5), "graph",
], ids=repr)
def test_fitting_leaves_the_penalty_object_unchanged(penalty):
    X, Y = _regression(T=3, seed=17, missing=0.2)
    obj = GraphPenalty() if isinstance(penalty, str) else penalty
    before = dict(obj.__dict__)
    model = MultiTaskLinearRegressor(penalty=obj, alpha=1.0, l2=0.5, tol=1e-8).fit(X, Y)
    assert obj.__dict__.keys() == before.keys()
    assert all(obj.__dict__[k] is v for k, v in before.items())
    assert model.penalty_ is not obj
    linear_path(X, Y, penalty=obj, alphas=[2.0, 1.0], l2=0.5)
    assert obj.__dict__.keys() == before.keys()
    assert all(obj.__dict__[k] is v for k, v in before.items())


def test_clustered_is_the_cmtl_shortcut():
    X, Y = _regression(T=3, seed=18)
    kw = dict(alpha=1.0, l2=1.0, tol=1e-10)
    a = MultiTaskLinearRegressor(penalty="clustered", **kw).fit(X, Y)
    b = MultiTaskLinearRegressor(penalty="cmtl", **kw).fit(X, Y)
    assert isinstance(a.penalty_, ClusteredMTL)
    np.testing.assert_array_equal(a.coef_, b.coef_)
    np.testing.assert_array_equal(a.task_relation_, b.task_relation_)


# --------------------------------------------------- names shared by both families
def _graph_data(seed=19):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((40, 5))
    Y = X @ rng.standard_normal((5, 4)) + 0.3 * rng.standard_normal((40, 4))
    Y[rng.random(Y.shape) < 0.2] = np.nan
    return X, Y


@pytest.mark.parametrize("adjacency", [
    "chain", "complete", "mean", [(0, 1), (1, 3, 2.0), (0, 2)],
    np.array([[0, 1, 0, 2], [1, 0, 0.5, 0], [0, 0.5, 0, 0], [2, 0, 0, 0]]),
], ids=lambda a: a if isinstance(a, str) else type(a).__name__)
def test_graph_adjacency_means_the_same_graph_in_both_families(adjacency):
    """Linear kernel: MultiTaskKernelRidge(alpha=a, Graph(adjacency, strength=s))
    minimises sum (y - f)^2 + a (||W||^2 + s tr(W L W^T)), which is
    MultiTaskLinearRegressor(penalty=GraphPenalty(adjacency), alpha=a * s, l2=a) without
    intercepts: the same graph, the same Laplacian, the same model."""
    from rkhsmtl import MultiTaskKernelRidge
    from rkhsmtl.structure import Graph

    X, Y = _graph_data()
    a, s = 0.7, 2.5
    kernel = MultiTaskKernelRidge(alpha=a, kernel="linear",
                                  task_structure=Graph(adjacency, strength=s)).fit(X, Y)
    linear = MultiTaskLinearRegressor(penalty=GraphPenalty(adjacency), alpha=a * s, l2=a,
                                      fit_intercept=False, tol=1e-12,
                                      max_iter=20000).fit(X, Y)
    np.testing.assert_allclose(linear.predict(X), kernel.predict(X), rtol=1e-7,
                               atol=1e-8)
    np.testing.assert_allclose(GraphPenalty(adjacency).laplacian(4),
                               np.diag(Graph(adjacency).weights(4).sum(axis=1))
                               - Graph(adjacency).weights(4))


def test_incidence_edges_and_adjacency_give_one_laplacian():
    T = 4
    edges = [(0, 1), (1, 3, 2.0), (0, 2)]
    M = np.zeros((T, T))
    G = np.zeros((T, len(edges)))
    for e, (s, t, *w) in enumerate(edges):
        weight = w[0] if w else 1.0
        M[s, t] = M[t, s] = weight
        G[s, e], G[t, e] = np.sqrt(weight), -np.sqrt(weight)
    L = np.diag(M.sum(axis=1)) - M
    for penalty in (GraphPenalty(edges), GraphPenalty(M), GraphPenalty(incidence=G)):
        np.testing.assert_allclose(penalty.laplacian(T), L, atol=1e-15)
    np.testing.assert_allclose(GraphPenalty("mean").laplacian(T),
                               np.eye(T) - np.ones((T, T)) / T, atol=1e-15)
    np.testing.assert_allclose(GraphPenalty("complete").laplacian(T),
                               T * np.eye(T) - np.ones((T, T)), atol=1e-15)


# ------------------------------------------------------------------ deprecations
def test_graph_penalty_old_names_warn_and_keep_working():
    X, Y = _regression(T=3, seed=20)
    kw = dict(alpha=1.0, l2=0.1, tol=1e-10)
    G = np.array([[1.0, 0.0], [-1.0, 1.0], [0.0, -1.0]])
    cases = [
        (GraphPenalty(graph="mean"), GraphPenalty("mean")),
        (GraphPenalty(graph=G), GraphPenalty(incidence=G)),
        # the old spelling read any Python list as edges, lists of lists too
        (GraphPenalty(graph=[[0, 2], [1, 2, 0.5]]), GraphPenalty([(0, 2), (1, 2, 0.5)])),
        (GraphPenalty(beta=0.5), GraphPenalty(l1_weight=0.5)),
        (GraphPenalty().set_params(graph="mean", beta=0.5),
         GraphPenalty("mean", l1_weight=0.5)),
    ]
    for old, new in cases:
        with pytest.warns(FutureWarning, match="deprecated"):
            before = MultiTaskLinearRegressor(penalty=old, **kw).fit(X, Y)
        now = MultiTaskLinearRegressor(penalty=new, **kw).fit(X, Y)
        np.testing.assert_allclose(before.coef_, now.coef_, rtol=1e-10, atol=1e-12)
    with pytest.warns(FutureWarning, match="l1_weight"):
        path = linear_path(X, Y, penalty=GraphPenalty(beta=0.5), n_alphas=2)
    assert path[0].size == 2
    for bad, match in [(GraphPenalty("mean", graph="chain"), "adjacency or incidence"),
                       (GraphPenalty(l1_weight=0.1, beta=0.2), "l1_weight only")]:
        with pytest.warns(FutureWarning), pytest.raises(ValueError, match=match):
            MultiTaskLinearRegressor(penalty=bad).fit(X, Y)


def test_datafit_classes_left_the_public_namespace():
    import rkhsmtl.linear
    from rkhsmtl.linear import _datafits

    for name in ("SquaredLoss", "LogisticLoss"):
        assert name not in rkhsmtl.linear.__all__
        with pytest.warns(FutureWarning, match=f"rkhsmtl.linear.{name} is deprecated"):
            cls = getattr(rkhsmtl.linear, name)
        assert cls is getattr(_datafits, name)
    with pytest.warns(FutureWarning):
        from rkhsmtl.linear import SquaredLoss  # noqa: F401
    with pytest.raises(AttributeError):
        rkhsmtl.linear.NotAThing  # noqa: B018


def test_fista_module_has_no_prepare_data():
    from rkhsmtl.linear import _fista

    assert not hasattr(_fista, "prepare_data")


def test_a_penalty_given_by_name_is_tunable_by_its_parameters():
    from sklearn.model_selection import GridSearchCV

    rng = np.random.default_rng(5)
    X = rng.normal(size=(60, 4))
    Y = X @ rng.normal(size=(4, 3)) + 0.1 * rng.normal(size=(60, 3))
    search = GridSearchCV(MultiTaskLinearRegressor(penalty="dirty", alpha=0.1),
                          {"penalty__beta": [0.5, 2.0]}, cv=3).fit(X, Y)
    assert search.best_params_["penalty__beta"] in (0.5, 2.0)
    model = MultiTaskLinearRegressor(penalty="dirty").set_params(penalty__beta=0.5)
    assert type(model.penalty).__name__ == "Dirty" and model.penalty.beta == 0.5
