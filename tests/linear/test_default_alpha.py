"""The linear family's argument order and its data-relative default regularisation
("auto" alpha and l2), checked against brute force and on the School data."""

import inspect
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from rkhsmtl import MultiTaskKernelRidge
from rkhsmtl.datasets import load_school, long_to_wide
from rkhsmtl.linear import (
    Dirty,
    GraphPenalty,
    Lasso,
    MultiTaskLinearClassifier,
    MultiTaskLinearRegressor,
    MultiTaskLinearRegressorCV,
    alpha_max,
)
from rkhsmtl.linear._penalties import PENALTIES

# Every penalty once ("clustered" is another name of "cmtl").
NAMES = [name for name in PENALTIES if name != "clustered"]
WITHOUT_ALPHA_MAX = ["graph", "cmtl", "none"]


def _regression(n=60, d=5, T=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) * np.arange(1, d + 1) + 2.0
    Y = X @ rng.standard_normal((d, T)) + rng.standard_normal((n, T))
    Y[rng.random((n, T)) < 0.25] = np.nan
    return X, Y


def _labels(Y):
    L = np.where(Y > np.nanmedian(Y, axis=0), 1.0, 0.0)
    L[np.isnan(Y)] = np.nan
    return L


def _brute_scale(X, Y, weights, loss, fit_intercept):
    """Mean diagonal entry of the data fit's Hessian in W at W = 0 and the best
    intercepts, intercepts profiled out, task by task."""
    d, T = X.shape[1], Y.shape[1]
    total = 0.0
    for t in range(T):
        obs = ~np.isnan(Y[:, t])
        w, x = weights[obs, t], X[obs]
        if loss == "squared":
            h = 2.0 * w
        else:  # the best intercept predicts the weighted share of positives
            p = np.sum(w * (Y[obs, t] > 0)) / np.sum(w) if fit_intercept else 0.5
            h = w * p * (1.0 - p)
        mu = h @ x / h.sum() if fit_intercept else np.zeros(d)
        total += np.sum(h[:, None] * (x - mu) ** 2)
    return total / (d * T)


# ------------------------------------------------------------------ argument order
def test_alpha_is_the_first_positional_parameter_as_in_the_kernel_family():
    for Est in (MultiTaskLinearRegressor, MultiTaskLinearClassifier):
        names = list(inspect.signature(Est).parameters)
        assert names[:2] == ["alpha", "penalty"]
    assert list(inspect.signature(MultiTaskKernelRidge).parameters)[0] == "alpha"
    X, Y = _regression()
    model = MultiTaskLinearRegressor(0.5).fit(X, Y)
    assert (model.alpha, model.penalty, model.alpha_, model.l2_) == (0.5, "l21", 0.5, 0.0)
    second = MultiTaskLinearRegressor(0.5, "trace").fit(X, Y)
    np.testing.assert_allclose(
        second.coef_, MultiTaskLinearRegressor(alpha=0.5, penalty="trace").fit(X, Y).coef_)


@pytest.mark.parametrize("Est", [MultiTaskLinearRegressor, MultiTaskLinearClassifier])
@pytest.mark.parametrize("penalty", ["l21", "cmtl", Lasso(), GraphPenalty("mean")])
def test_a_penalty_in_alpha_position_is_refused_with_the_fix(Est, penalty):
    X, Y = _regression()
    y = Y if Est is MultiTaskLinearRegressor else _labels(Y)
    with pytest.raises(TypeError, match=r"is a penalty, not a strength.*\(penalty="):
        Est(penalty).fit(X, y)


@pytest.mark.parametrize("param, value", [("alpha", "large"), ("alpha", -1.0),
                                          ("alpha", np.inf), ("alpha", True),
                                          ("l2", "l21"), ("l2", -0.5), ("l2", None)])
def test_invalid_alpha_or_l2_names_auto(param, value):
    X, Y = _regression()
    with pytest.raises(ValueError, match=f'{param} must be "auto" or a non-negative'):
        MultiTaskLinearRegressor(**{param: value}).fit(X, Y)


def test_cv_variants_keep_penalty_first():
    # They choose alpha themselves from a grid, so the penalty comes first.
    assert list(inspect.signature(MultiTaskLinearRegressorCV).parameters)[0] == "penalty"
    X, Y = _regression()
    cv = MultiTaskLinearRegressorCV("trace", alphas=[50.0, 5.0], cv=3).fit(X, Y)
    best = cv.best_estimator_
    assert best.penalty_.__class__.__name__ == "TraceNorm"
    assert (best.alpha, best.alpha_, best.l2_) == (cv.alpha_, cv.alpha_, 0.0)


# --------------------------------------------------------------- the "auto" rule
@pytest.mark.parametrize("loss", ["squared", "logistic"])
@pytest.mark.parametrize("penalty", ["lasso", "l21", "trace", Dirty(beta=0.3),
                                     GraphPenalty(l1_weight=0.5)])
def test_auto_alpha_is_a_tenth_of_alpha_max(penalty, loss):
    X, Y = _regression(seed=1)
    Est, y = (MultiTaskLinearRegressor, Y) if loss == "squared" else \
        (MultiTaskLinearClassifier, _labels(Y))
    auto = Est(penalty=penalty, tol=1e-9).fit(X, y)
    top = alpha_max(X, y, penalty=penalty, loss=loss)
    assert auto.alpha == "auto" and auto.l2 == "auto"
    assert auto.alpha_ == pytest.approx(0.1 * top, rel=1e-12)
    assert auto.l2_ == 0.0
    explicit = Est(top * 0.1, penalty=penalty, l2=0.0, tol=1e-9).fit(X, y)
    np.testing.assert_allclose(auto.coef_, explicit.coef_, rtol=1e-9, atol=1e-12)
    assert np.any(auto.coef_ != 0) and np.any(auto.coef_ == 0) or penalty == "trace"


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("loss", ["squared", "logistic"])
@pytest.mark.parametrize("penalty", WITHOUT_ALPHA_MAX)
def test_auto_scale_without_alpha_max_is_the_mean_hessian_diagonal(penalty, loss,
                                                                   fit_intercept):
    X, Y = _regression(seed=2)
    rng = np.random.default_rng(3)
    weights = rng.uniform(0.5, 2.0, size=Y.shape)
    Est, y = (MultiTaskLinearRegressor, Y) if loss == "squared" else \
        (MultiTaskLinearClassifier, _labels(Y))
    model = Est(penalty=penalty, fit_intercept=fit_intercept).fit(
        X, y, sample_weight=weights)
    scale = _brute_scale(X, y, weights, loss, fit_intercept)
    assert model.alpha_ == pytest.approx(scale, rel=1e-10)
    assert model.l2_ == pytest.approx(0.1 * scale, rel=1e-10)
    with pytest.raises(ValueError, match="no alpha_max"):
        alpha_max(X, y, penalty=penalty, loss=loss)


def test_an_explicit_value_is_kept_and_auto_l2_does_not_depend_on_alpha():
    X, Y = _regression(seed=4)
    auto = MultiTaskLinearRegressor(penalty="graph").fit(X, Y)
    fixed = MultiTaskLinearRegressor(3.0, penalty="graph").fit(X, Y)
    assert fixed.alpha_ == 3.0 and fixed.l2_ == auto.l2_ > 0
    ridge_free = MultiTaskLinearRegressor(3.0, penalty="graph", l2=0.0).fit(X, Y)
    assert ridge_free.l2_ == 0.0


@pytest.mark.parametrize("penalty", ["l21", "graph", "cmtl"])
def test_the_auto_model_does_not_depend_on_the_scale_of_the_loss(penalty):
    # The loss is a sum: doubling every weight (as duplicating every row would)
    # doubles a sensible alpha. "auto" follows; a fixed alpha would not.
    X, Y = _regression(seed=5)
    one = MultiTaskLinearRegressor(penalty=penalty, tol=1e-10).fit(X, Y)
    two = MultiTaskLinearRegressor(penalty=penalty, tol=1e-10).fit(X, Y, sample_weight=2.0)
    assert two.alpha_ == pytest.approx(2 * one.alpha_, rel=1e-12)
    assert two.l2_ == pytest.approx(2 * one.l2_, rel=1e-12)
    np.testing.assert_allclose(two.coef_, one.coef_, rtol=1e-6, atol=1e-9)


# ----------------------------------------------------------- convergence on School
def _school(n_schools=None, labels=False):
    X, y, task = load_school()
    if n_schools is not None:
        keep = task < n_schools
        X, y, task = X[keep], y[keep], task[keep]
    if labels:
        y = (y > np.median(y)).astype(float)
    return long_to_wide(X, y, task)


def _fit_without_warning(Est, penalty, X, Y):
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        model = Est(penalty=penalty).fit(X, Y)
    assert model.solver_info_["converged"]
    return model


@pytest.mark.parametrize("penalty", NAMES)
def test_defaults_converge_on_school_subset(penalty):
    # Raw (unscaled, collinear) School features, 10 schools: the defaults need a
    # few hundred iterations where the former alpha=1.0 hit max_iter.
    X, Y = _school(10)
    model = _fit_without_warning(MultiTaskLinearRegressor, penalty, X, Y)
    assert model.n_iter_ < model.max_iter // 5


@pytest.mark.parametrize("penalty", ["l21", "dirty", "graph", "cmtl", "none"])
def test_classifier_defaults_converge_on_school_subset(penalty):
    X, Y = _school(10, labels=True)
    model = _fit_without_warning(MultiTaskLinearClassifier, penalty, X, Y)
    assert model.n_iter_ < model.max_iter // 5


@pytest.mark.slow
def test_defaults_converge_on_the_whole_school_data():
    # Every penalty converges on the 10-school subset above. On the whole data
    # (the user guide lists every penalty's iteration count) "dirty" is the one
    # closest to max_iter: about 2 900 of the 5 000 iterations allowed, 10 s here.
    X, Y = _school()
    model = _fit_without_warning(MultiTaskLinearRegressor, "dirty", X, Y)
    assert model.alpha_ > 0 and model.n_iter_ < model.max_iter
