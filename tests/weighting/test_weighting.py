"""Density-ratio estimators and weight hygiene (rkhsmtl.weighting).

Ground truth: tasks drawn from known Gaussians, whose ratios are computed
analytically with scipy.stats.multivariate_normal.
"""

import warnings

import array_api_compat.numpy as xpn
import numpy as np
import pytest
from scipy.stats import multivariate_normal
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning

from rkhsmtl.weighting import (
    KLIEP,
    ULSIF,
    ClassifierDensityRatio,
    KernelMeanMatching,
    RuLSIF,
    TaskPosteriorRatio,
    effective_sample_size,
    normalize_weights,
    task_density_ratios,
)
from rkhsmtl.weighting._base import gaussian_basis
from rkhsmtl.weighting._kliep import kliep_solve
from rkhsmtl.weighting._kmm import project_box_slab
from rkhsmtl.weighting._lsif import lsif_loo_scores
from rkhsmtl.weighting._tasks import task_folds

MEANS = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0]])
SIZES = (200, 300, 150)


def gaussian_tasks(seed=0, sizes=SIZES):
    rng = np.random.default_rng(seed)
    X = np.vstack([rng.normal(size=(n, 2)) + m for n, m in zip(sizes, MEANS, strict=True)])
    task = np.repeat(np.arange(len(sizes)), sizes)
    return X, task


def densities(X):
    """(n, T) task densities p(x | t) at X."""
    return np.column_stack([multivariate_normal(m, np.eye(2)).pdf(X) for m in MEANS])


def true_ratios(X, priors):
    """(n, T) true ratios p(x | t) / p(x), p the mixture with weights ``priors``."""
    P = densities(X)
    return P / (P @ priors)[:, None]


def corr(a, b):
    return np.corrcoef(a, b)[0, 1]


PRIORS = np.asarray(SIZES) / sum(SIZES)


@pytest.mark.parametrize("make", [
    lambda: ULSIF(random_state=0),
    lambda: KLIEP(sigmas=[0.5, 1.0, 2.0], random_state=0),
    lambda: ClassifierDensityRatio(kernel="rbf", random_state=0),
], ids=["ulsif", "kliep", "nystroem-logistic"])
def test_two_sample_estimators_recover_gaussian_ratios(make):
    # Numerator: one task; denominator: the pool. True ratio p(x|t)/p(x).
    X, task = gaussian_tasks()
    R_true = true_ratios(X, PRIORS)
    for t in range(3):
        r = np.asarray(make().fit(X[task == t], X).ratio(X))
        assert r.shape == (X.shape[0],) and np.all(r >= 0)
        assert corr(r, R_true[:, t]) >= 0.9
        w = normalize_weights(r)
        assert abs(w.mean() - 1.0) < 1e-12
        assert corr(w, R_true[:, t]) >= 0.9


def test_linear_logistic_ratio_between_two_gaussians():
    # Equal covariances: the log-ratio is linear, the model family of a linear
    # logistic regression (against a mixture it would be misspecified).
    X, task = gaussian_tasks()
    P = densities(X)
    r = np.asarray(ClassifierDensityRatio().fit(X[task == 0], X[task == 1]).ratio(X))
    assert corr(r, P[:, 0] / P[:, 1]) >= 0.9
    assert corr(np.log(r), np.log(P[:, 0] / P[:, 1])) >= 0.99


def test_rulsif_recovers_relative_ratio():
    X, task = gaussian_tasks()
    P = densities(X)
    p = P @ PRIORS
    alpha = 0.2
    for t in range(3):
        r = np.asarray(RuLSIF(alpha=alpha, random_state=0).fit(X[task == t], X).ratio(X))
        truth = P[:, t] / (alpha * P[:, t] + (1 - alpha) * p)
        assert corr(r, truth) >= 0.9
        assert r.max() <= 1 / alpha * 1.5  # bounded like the truth (1/alpha), loosely


def test_kliep_is_normalised_on_denominator_by_construction():
    X, task = gaussian_tasks()
    model = KLIEP(sigmas=1.0, random_state=0).fit(X[task == 2], X)
    assert abs(float(np.mean(model.ratio(X))) - 1.0) < 1e-10


@pytest.mark.parametrize("kernel", [None, "rbf"])
def test_task_posterior_ratio_recovers_ratios_and_divides_by_prior(kernel):
    X, task = gaussian_tasks()
    model = TaskPosteriorRatio(kernel=kernel, random_state=0).fit(X, task)
    R = np.asarray(model.ratio(X))
    R_true = true_ratios(X, PRIORS)
    assert R.shape == (X.shape[0], 3)
    np.testing.assert_allclose(model.priors_, PRIORS)
    for t in range(3):
        assert corr(R[:, t], R_true[:, t]) >= 0.9
    # Logistic regression with an unpenalised intercept matches the class
    # frequencies at its optimum, so E_pool[q(t|x)] = pi_t and E_pool[r_t] = 1 ...
    np.testing.assert_allclose(R.mean(axis=0), 1.0, atol=1e-3)
    # ... while the undivided posterior averages to the prior: the pitfall that
    # down-weights small tasks by pi_t.
    np.testing.assert_allclose(model.posterior(X).mean(axis=0), PRIORS, atol=1e-3)


class OracleTaskClassifier(ClassifierMixin, BaseEstimator):
    """Predicts the true task posterior pi_t p(x|t) / sum_s pi_s p(x|s)."""

    def __init__(self, priors=None):
        self.priors = priors

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        return self

    def predict_proba(self, X):
        joint = densities(X) * np.asarray(self.priors)[None, :]
        return joint / joint.sum(axis=1, keepdims=True)


def test_identity_discriminative_weight_is_relative_ratio_with_alpha_prior_exact():
    # With the true posterior: q(t|x)/pi_t = p_t / (pi_t p_t + (1 - pi_t) p_rest),
    # p_rest the mixture of the other tasks -- the RuLSIF target with alpha = pi_t.
    X, task = gaussian_tasks()
    R = np.asarray(TaskPosteriorRatio(OracleTaskClassifier(PRIORS)).fit(X, task).ratio(X))
    P = densities(X)
    for t in range(3):
        others = np.arange(3) != t
        p_rest = P[:, others] @ PRIORS[others] / PRIORS[others].sum()
        relative = P[:, t] / (PRIORS[t] * P[:, t] + (1 - PRIORS[t]) * p_rest)
        np.testing.assert_allclose(R[:, t], relative, rtol=1e-12)
        assert R[:, t].max() <= 1 / PRIORS[t] + 1e-12


def test_identity_discriminative_vs_rulsif_task_against_rest_estimated():
    X, task = gaussian_tasks()
    R = np.asarray(TaskPosteriorRatio().fit(X, task).ratio(X))
    for t in range(3):
        rulsif = RuLSIF(alpha=PRIORS[t], random_state=0).fit(X[task == t], X[task != t])
        r = np.asarray(rulsif.ratio(X))
        assert corr(R[:, t], r) >= 0.9
        np.testing.assert_allclose(normalize_weights(r).mean(), 1.0)


@pytest.mark.parametrize("alpha", [0.0, 0.3])
def test_lsif_closed_form_leave_one_out_equals_brute_force(alpha):
    rng = np.random.default_rng(1)
    Xn, Xd = rng.normal(size=(25, 2)), rng.normal(size=(35, 2)) + 0.5
    C = Xn[:8]
    Pn, Pd = gaussian_basis(Xn, C, 1.0, xpn), gaussian_basis(Xd, C, 1.0, xpn)
    ln, ld = rng.permutation(25), rng.permutation(35)[:25]
    lambdas = [0.01, 0.1]
    fast = lsif_loo_scores(Pn, Pd, lambdas, alpha, xpn, loo_nu=ln, loo_de=ld)
    for lam, score in zip(lambdas, fast, strict=True):
        losses = []
        for a, b in zip(ln, ld, strict=True):
            kn, kd = np.arange(25) != a, np.arange(35) != b
            H = (alpha * Pn[kn].T @ Pn[kn] / 24 + (1 - alpha) * Pd[kd].T @ Pd[kd] / 34
                 + lam * np.eye(8))
            theta = np.maximum(0, np.linalg.solve(H, Pn[kn].mean(axis=0)))
            rn, rd = Pn[a] @ theta, Pd[b] @ theta
            losses.append(alpha / 2 * rn**2 + (1 - alpha) / 2 * rd**2 - rn)
        np.testing.assert_allclose(score, np.mean(losses), rtol=1e-10)


def test_lsif_fit_solves_regularised_normal_equations_and_selects_minimum():
    X, task = gaussian_tasks()
    model = RuLSIF(alpha=0.1, random_state=0).fit(X[task == 0], X)
    i, j = np.unravel_index(np.argmin(model.loo_scores_), model.loo_scores_.shape)
    assert np.isfinite(model.loo_scores_).all()
    Pn = gaussian_basis(X[task == 0], model.centers_, model.sigma_, xpn)
    Pd = gaussian_basis(X, model.centers_, model.sigma_, xpn)
    H = 0.1 * Pn.T @ Pn / Pn.shape[0] + 0.9 * Pd.T @ Pd / Pd.shape[0]
    theta = np.maximum(0, np.linalg.solve(H + model.lambda_ * np.eye(H.shape[0]),
                                          Pn.mean(axis=0)))
    np.testing.assert_allclose(model.theta_, theta, rtol=1e-8, atol=1e-12)


def test_kliep_solver_meets_kkt_conditions():
    rng = np.random.default_rng(2)
    Xn, Xd = rng.normal(size=(80, 2)), rng.normal(size=(120, 2)) + 0.7
    C = Xn[:20]
    Pn = gaussian_basis(Xn, C, 0.8, xpn)
    b = gaussian_basis(Xd, C, 0.8, xpn).mean(axis=0)
    theta, _, converged = kliep_solve(Pn, b, xpn, max_iter=20000, tol=1e-6)
    assert converged and np.all(theta >= 0)
    assert abs(b @ theta - 1) < 1e-12
    # Lagrangian stationarity for max mean log(Pn theta) s.t. b.theta = 1:
    # grad_l = mean(Pn_l / Pn theta) <= b_l (equality where theta_l > 0).
    grad = (Pn / (Pn @ theta)[:, None]).mean(axis=0)
    assert np.all(grad <= b * (1 + 1e-6))
    active = theta * b > 1e-3
    np.testing.assert_allclose(grad[active], b[active], rtol=1e-4)


def test_kliep_warns_on_max_iter():
    X, task = gaussian_tasks()
    with pytest.warns(ConvergenceWarning, match="max_iter"):
        KLIEP(sigmas=0.3, max_iter=2, tol=0.0).fit(X[task == 0], X)


def test_normalize_weights_tempering_and_clip():
    rng = np.random.default_rng(0)
    R = rng.exponential(size=(200, 3)) ** 3
    W = normalize_weights(R)
    np.testing.assert_allclose(W.mean(axis=0), 1.0)
    np.testing.assert_allclose(W / R, np.broadcast_to((W / R)[0], R.shape))  # rescaling
    np.testing.assert_allclose(normalize_weights(R, tempering=0.0), 1.0)
    half = normalize_weights(R, tempering=0.5)
    ratio = half / np.sqrt(R)
    np.testing.assert_allclose(ratio, np.broadcast_to(ratio[0], R.shape))
    capped = normalize_weights(R, clip=3.0)
    np.testing.assert_allclose(capped.mean(axis=0), 1.0, rtol=1e-10)
    assert capped.max() <= 3.0 + 1e-12
    # Below the cap, capping is a common rescaling (>= 1) of the normalised weights.
    low = W < 1.0
    scale = capped[low] / W[low]
    assert np.all(scale >= 1.0 - 1e-12)
    # Effective sample size drops as the weights get more uneven.
    assert np.all(effective_sample_size(capped) > effective_sample_size(W))


def test_effective_sample_size_bounds():
    assert effective_sample_size(np.ones(50)) == pytest.approx(50.0)
    assert effective_sample_size(np.r_[1.0, np.zeros(49)]) == pytest.approx(1.0)
    W = np.column_stack([np.ones(10), np.r_[np.ones(5), np.zeros(5)]])
    np.testing.assert_allclose(effective_sample_size(W), [10.0, 5.0])


@pytest.mark.parametrize("kwargs,match", [
    ({"tempering": 1.5}, "tempering"), ({"clip": 0.5}, "clip"),
])
def test_normalize_weights_rejects_bad_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        normalize_weights(np.ones(5), **kwargs)


def test_normalize_weights_rejects_bad_weights():
    with pytest.raises(ValueError, match="all zero"):
        normalize_weights(np.zeros((4, 2)))
    with pytest.raises(ValueError, match="non-negative"):
        normalize_weights(np.array([1.0, -1.0]))
    with pytest.raises(ValueError, match="too small"):
        normalize_weights(np.r_[1.0, np.zeros(9)], clip=2.0)


@pytest.mark.parametrize("weighting", [TaskPosteriorRatio(), ULSIF(sigmas=1.0,
                                                                   lambdas=0.1)],
                         ids=["posterior", "ulsif"])
def test_cross_fitting_uses_models_fitted_without_the_fold(weighting):
    X, task = gaussian_tasks(sizes=(40, 60, 30))
    R, models, fold = task_density_ratios(X, task, 3, weighting, cv=3, random_state=4)
    np.testing.assert_array_equal(fold, task_folds(task, 3, 3, 4))
    assert len(models) == 3
    for k in range(3):
        # Each task is spread over every fold.
        assert all(np.any((fold == k) & (task == t)) for t in range(3))
        held, train = fold == k, fold != k
        if isinstance(weighting, TaskPosteriorRatio):
            model = TaskPosteriorRatio().fit(X[train], task[train])
            ref, ref_train = model.ratio(X[held]), model.ratio(X[train])
        else:
            fits = [ULSIF(sigmas=1.0, lambdas=0.1).fit(X[train][task[train] == t],
                                                       X[train]) for t in range(3)]
            ref = np.column_stack([m.ratio(X[held]) for m in fits])
            ref_train = np.column_stack([m.ratio(X[train]) for m in fits])
        # Each fold model is rescaled so that its training pool has mean ratio 1.
        np.testing.assert_allclose(R[held], ref / ref_train.mean(axis=0), rtol=1e-10)
    in_sample, _, _ = task_density_ratios(X, task, 3, weighting)
    assert not np.allclose(in_sample, R)


def test_cross_fitting_keeps_copies_of_a_row_in_one_fold():
    X, task = gaussian_tasks(sizes=(30, 30, 30))
    groups = np.arange(task.size) % 45  # every input appears twice
    _, _, fold = task_density_ratios(X, task, 3, TaskPosteriorRatio(), cv=3,
                                     random_state=0, groups=groups)
    for g in range(45):
        assert np.unique(fold[groups == g]).size == 1


def test_two_sample_cross_fitting_needs_two_examples_per_training_part():
    X, task = gaussian_tasks(sizes=(30, 30, 2))
    with pytest.raises(ValueError, match="every cross-fitting training part"):
        task_density_ratios(X, task, 3, ULSIF(), cv=3)
    # The discriminative estimator copes.
    task_density_ratios(X, task, 3, TaskPosteriorRatio(), cv=3)


def test_cross_fitting_needs_two_examples_per_task():
    X, task = gaussian_tasks(sizes=(10, 10, 1))
    with pytest.raises(ValueError, match="at least 2 examples per task"):
        task_density_ratios(X, task, 3, TaskPosteriorRatio(), cv=2)


def test_estimators_reject_bad_input():
    X, task = gaussian_tasks(sizes=(10, 10, 10))
    with pytest.raises(ValueError, match="alpha"):
        RuLSIF(alpha=1.0).fit(X, X)
    with pytest.raises(ValueError, match="features"):
        ULSIF().fit(X, X[:, :1])
    with pytest.raises(ValueError, match="NaN"):
        KLIEP().fit(np.full((3, 2), np.nan), X)
    with pytest.raises(ValueError, match="predict_proba"):
        TaskPosteriorRatio(classifier=object()).fit(X, task)
    with pytest.raises(ValueError, match="no example"):
        TaskPosteriorRatio().fit(X, task, n_tasks=4)


def test_array_api_strict_matches_numpy():
    xps = pytest.importorskip("array_api_strict")
    # Small grids (two widths and two ridges; KLIEP on 2 folds and 30 centres): the
    # same code as the defaults, at a fraction of array_api_strict's per-call cost.
    grid = dict(sigmas=[0.7, 1.5], lambdas=[0.01, 0.1], random_state=0)
    X, task = gaussian_tasks(sizes=(40, 60, 30))
    for device in (xps.Device("CPU_DEVICE"), xps.Device("device1")):
        Xs = xps.asarray(X, device=device)
        for make in (lambda: RuLSIF(alpha=0.2, **grid),
                     lambda: ULSIF(**grid),
                     lambda: KLIEP(sigmas=[0.7, 1.5], cv=2, n_centers=30, random_state=0),
                     lambda: KernelMeanMatching(eps=0.01)):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                ref = make().fit(X[task == 1], X).ratio(X)
                model = make().fit(Xs[xps.asarray(task == 1, device=device)], Xs)
            r = model.ratio(Xs)
            assert type(r).__module__.startswith("array_api_strict") and r.device == device
            r_host = np.asarray(xps.asarray(r, device=xps.Device("CPU_DEVICE")))
            np.testing.assert_allclose(r_host, ref, rtol=1e-8, atol=1e-12)
            w = normalize_weights(r)
            assert w.device == device
            assert effective_sample_size(w) == pytest.approx(
                effective_sample_size(normalize_weights(ref)))
            capped = normalize_weights(r, clip=2.0)  # the cap's bisection too
            assert capped.device == device
            np.testing.assert_allclose(
                np.asarray(xps.asarray(capped, device=xps.Device("CPU_DEVICE"))),
                normalize_weights(ref, clip=2.0), rtol=1e-8)


def test_kernel_mean_matching_recovers_ratios_at_denominator_points():
    X, task = gaussian_tasks()
    R_true = true_ratios(X, PRIORS)
    for t in range(3):
        model = KernelMeanMatching().fit(X[task == t], X)
        r = np.asarray(model.ratio(X))
        assert corr(r, R_true[:, t]) >= 0.9
        np.testing.assert_allclose(normalize_weights(r).mean(), 1.0)
    with pytest.raises(ValueError, match="transductive"):
        model.ratio(X[:10])


def test_kernel_mean_matching_solves_its_quadratic_program():
    from scipy.optimize import LinearConstraint, minimize

    rng = np.random.default_rng(5)
    Xn, Xd = rng.normal(size=(20, 2)) + 1.0, rng.normal(size=(25, 2))
    eps, B = 0.05, 4.0  # a tight slab and box, so both constraints bind
    model = KernelMeanMatching(sigma=1.0, B=B, eps=eps, tol=1e-10,
                               max_iter=50000).fit(Xn, Xd)
    K = gaussian_basis(Xd, Xd, 1.0, xpn)
    kappa = gaussian_basis(Xd, Xn, 1.0, xpn).sum(axis=1) * 25 / 20

    def objective(b):
        return 0.5 * b @ K @ b - kappa @ b

    beta = np.asarray(model.weights_)
    assert np.all(beta >= -1e-12) and np.all(beta <= B + 1e-12)
    assert 25 * (1 - eps) - 1e-8 <= beta.sum() <= 25 * (1 + eps) + 1e-8
    ref = minimize(objective, np.ones(25), jac=lambda b: K @ b - kappa,
                   method="trust-constr", bounds=[(0, B)] * 25,
                   constraints=[LinearConstraint(np.ones((1, 25)), 25 * (1 - eps),
                                                 25 * (1 + eps))],
                   options={"gtol": 1e-12, "xtol": 1e-12, "maxiter": 5000})
    assert objective(beta) <= ref.fun + 1e-7
    np.testing.assert_allclose(beta, ref.x, atol=1e-3)


def test_box_slab_projection_is_the_euclidean_projection():
    from scipy.optimize import LinearConstraint, minimize

    rng = np.random.default_rng(6)
    for lo, hi in [(0.0, 100.0), (8.0, 9.0), (1.0, 2.0)]:
        v = rng.normal(size=12) * 2
        p = project_box_slab(v, 1.5, lo, hi, xpn)
        ref = minimize(lambda b, v=v: 0.5 * np.sum((b - v) ** 2), np.clip(v, 0, 1.5),
                       jac=lambda b, v=v: b - v, method="trust-constr",
                       bounds=[(0, 1.5)] * 12,
                       constraints=[LinearConstraint(np.ones((1, 12)), lo, hi)],
                       options={"gtol": 1e-12, "xtol": 1e-12})
        np.testing.assert_allclose(p, ref.x, atol=1e-5)
