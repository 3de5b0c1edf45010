"""MultiTaskKernelClassifier with a low-rank kernel approximation: exactness with
every point as a Nyström centre, random features against a brute-force primal
fit, features streamed by chunks of rows, parameters and errors."""

import pickle
import warnings

import numpy as np
import pytest
from scipy.optimize import minimize
from sklearn.base import clone

import rkhsmtl
from rkhsmtl import MultiTaskKernelClassifier
from rkhsmtl.exceptions import MemoryBudgetError


def _data(rng, n=30, T=3, missing=False):
    X = rng.normal(size=(n, 3))
    F = np.column_stack([X[:, 0], X[:, 0] + 0.5 * X[:, 1], X[:, 1] - X[:, 2]])[:, :T]
    Y = (F + 0.5 * rng.normal(size=(n, T)) > 0).astype(float)
    if missing:
        Y[rng.random((n, T)) < 0.25] = np.nan
    return X, Y


CASES = {
    "fixed-complete": dict(task_structure="mean_regularized", missing=False),
    "fixed-missing": dict(task_structure="chain", missing=True),
    "fixed-matrix-missing": dict(task_structure=np.array([[1.0, 0.4, 0.1],
                                                           [0.4, 1.0, 0.3],
                                                           [0.1, 0.3, 1.0]]),
                                 missing=True),
    "learned-complete": dict(task_structure="relation", missing=False),
    "learned-missing": dict(task_structure="relation", missing=True),
}


@pytest.mark.parametrize("case", list(CASES))
def test_every_point_a_centre_is_the_exact_fit(rng, case):
    spec = CASES[case]
    X, Y = _data(rng, missing=spec["missing"])
    learned = case.startswith("learned")
    # Both fits take the same alternating steps; tol=1e-8 keeps them under a second.
    params = dict(alpha=0.1, gamma=0.3, task_structure=spec["task_structure"],
                  tol=1e-8 if learned else 1e-10)
    exact = MultiTaskKernelClassifier(**params).fit(X, Y)
    approx = MultiTaskKernelClassifier(approximation="nystrom", n_components=30,
                                       random_state=0, **params).fit(X, Y)
    assert approx.feature_map_.n_components == 30
    np.testing.assert_allclose(approx.decision_function(X),
                               exact.decision_function(X), atol=1e-8)
    np.testing.assert_allclose(approx.intercept_, exact.intercept_, atol=1e-8)
    np.testing.assert_allclose(approx.task_structure_, exact.task_structure_,
                               atol=1e-8)
    X_new = rng.normal(size=(7, 3))
    np.testing.assert_allclose(approx.predict_proba(X_new),
                               exact.predict_proba(X_new), atol=1e-8)


@pytest.mark.parametrize("weights", ["sample", "entry"])
def test_class_and_sample_weights_are_those_of_the_exact_fit(rng, weights):
    X, Y = _data(rng, missing=True)
    sample_weight = rng.uniform(0.2, 2.0, size=Y.shape if weights == "entry" else 30)
    params = dict(alpha=0.3, gamma=0.5, task_structure="mean_regularized",
                  class_weight="balanced", tol=1e-10)
    exact = MultiTaskKernelClassifier(**params).fit(X, Y, sample_weight=sample_weight)
    approx = MultiTaskKernelClassifier(approximation="nystrom", n_components=30,
                                       **params).fit(X, Y, sample_weight=sample_weight)
    np.testing.assert_allclose(approx.decision_function(X),
                               exact.decision_function(X), atol=1e-8)


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_random_features_minimise_the_stated_primal_objective(rng, fit_intercept):
    """J(W, b) = sum_O w log(1 + exp(-y (Phi W + b))) + alpha tr(W A^-1 W^T),
    minimised by L-BFGS on the same features."""
    X, Y = _data(rng, n=40, T=2, missing=True)
    sample_weight = rng.uniform(0.5, 1.5, size=40)
    alpha = 0.2
    model = MultiTaskKernelClassifier(
        alpha=alpha, gamma=0.4, task_structure="mean_regularized",
        fit_intercept=fit_intercept, approximation="rff", n_components=15,
        random_state=3, tol=1e-10).fit(X, Y, sample_weight=sample_weight)
    Phi = model.feature_map_.transform(X, np)
    A_inv = np.linalg.inv(model.task_structure_)
    observed = ~np.isnan(Y)
    y = np.where(Y > 0, 1.0, -1.0)
    w = np.where(observed, sample_weight[:, None], 0.0)
    m, T = Phi.shape[1], Y.shape[1]

    def objective(theta):
        W = theta[:m * T].reshape(m, T)
        b = theta[m * T:] if fit_intercept else np.zeros(T)
        F = Phi @ W + b
        value = (w * np.logaddexp(0.0, -y * F)).sum() + alpha * np.trace(
            W @ A_inv @ W.T)
        G = -w * y / (1.0 + np.exp(y * F))
        grad = [(Phi.T @ G + 2.0 * alpha * W @ A_inv).ravel()]
        if fit_intercept:
            grad.append(G.sum(axis=0))
        return value, np.concatenate(grad)

    theta0 = np.zeros(m * T + (T if fit_intercept else 0))
    ref = minimize(objective, theta0, jac=True, method="L-BFGS-B",
                   options={"gtol": 1e-12, "ftol": 1e-15, "maxiter": 10_000})
    W_ref = ref.x[:m * T].reshape(m, T)
    b_ref = ref.x[m * T:] if fit_intercept else np.zeros(T)
    np.testing.assert_allclose(model.coef_, W_ref.T, atol=1e-6)
    np.testing.assert_allclose(model.decision_function(X), Phi @ W_ref + b_ref,
                               atol=1e-6)
    assert model.solver_info_["objective"] <= ref.fun + 1e-9


@pytest.mark.parametrize("task_structure, tol", [("mean_regularized", 1e-10),
                                                 ("relation", 1e-4)])
def test_streamed_features_are_the_held_features_fit(rng, task_structure, tol):
    X, Y = _data(rng, n=60, missing=True)
    params = dict(alpha=0.1, task_structure=task_structure, approximation="nystrom",
                  n_components=20, random_state=1, tol=tol)
    held = MultiTaskKernelClassifier(**params).fit(X, Y)
    assert held.solver_info_["features"] == "dense"
    # Phi and Newton-CG's arrays (43 kB) over the budget (36 kB), Newton-CG's
    # arrays with one chunk of 30 rows of features (34 kB) within.
    with rkhsmtl.config_context(memory_limit=40_000, working_memory=0.0275):
        streamed = MultiTaskKernelClassifier(**params).fit(X, Y)
    assert streamed.solver_info_["features"] == "streamed"
    assert streamed.n_iter_ == held.n_iter_
    np.testing.assert_allclose(streamed.decision_function(X),
                               held.decision_function(X), atol=1e-9)


def test_over_budget_names_n_components(rng):
    X, Y = _data(rng, n=150)
    model = MultiTaskKernelClassifier(approximation="nystrom", n_components=20)
    # Even the streamed route's (n_samples, n_tasks) arrays are over the budget.
    with rkhsmtl.config_context(memory_limit=20_000), \
            pytest.raises(MemoryBudgetError, match="n_components=20.*subsample"):
        model.fit(X, Y)
    # The Nyström map itself (its m x m eigendecomposition) is over the budget.
    with rkhsmtl.config_context(memory_limit=5_000), \
            pytest.raises(MemoryBudgetError, match="smaller n_components"):
        model.fit(X, Y)


def test_fitted_attributes_outputs_and_report(rng, capsys):
    X, Y = _data(rng, missing=True)
    model = MultiTaskKernelClassifier(approximation="rff", n_components=12,
                                      random_state=0, verbose=1).fit(X, Y)
    out = capsys.readouterr().out
    assert "rff features: 30 samples x 12 components" in out and "Newton" in out
    assert model.coef_.shape == (3, 12) and model.intercept_.shape == (3,)
    assert not hasattr(model, "X_fit_") and not hasattr(model, "dual_coef_")
    assert model.solver_ == "primal"
    info = model.solver_info_
    assert (info["approximation"], info["n_components"], info["n_samples_seen"],
            info["features"]) == ("rff", 12, 30, "dense")
    Phi = model.feature_map_.transform(X, np)
    np.testing.assert_allclose(model.decision_function(X),
                               Phi @ model.coef_.T + model.intercept_, rtol=1e-12)
    task = np.arange(30) % 3
    np.testing.assert_allclose(model.decision_function(X, task=task),
                               model.decision_function(X)[np.arange(30), task],
                               rtol=1e-12)
    assert model.predict_proba(X.astype(np.float32)).dtype == np.float32
    one = MultiTaskKernelClassifier(approximation="nystrom", n_components=10,
                                    nystrom_sampling="leverage", random_state=0)
    one.fit(X, Y[:, 0])
    assert one.predict_proba(X).shape == (30, 2) and one.coef_.shape == (1, 10)


def test_clone_params_pickle_and_refit(rng):
    X, Y = _data(rng)
    model = MultiTaskKernelClassifier(approximation="nystrom", n_components=12,
                                      nystrom_sampling="leverage", random_state=4)
    params = clone(model).get_params()
    assert params["approximation"] == "nystrom" and params["n_components"] == 12
    assert params["nystrom_sampling"] == "leverage" and params["random_state"] == 4
    model.fit(X, Y)
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(restored.decision_function(X),
                                  model.decision_function(X))
    again = clone(model).fit(X, Y)
    np.testing.assert_array_equal(again.decision_function(X),
                                  model.decision_function(X))
    # A refit without the approximation leaves nothing of the approximate one.
    model.set_params(approximation=None).fit(X, Y)
    assert not hasattr(model, "feature_map_") and not hasattr(model, "coef_")
    assert hasattr(model, "dual_coef_")


@pytest.mark.parametrize("params, match", [
    (dict(approximation="nystrom", n_components=0), "n_components must be"),
    (dict(approximation="rff", n_components=2.5), "n_components must be"),
    (dict(approximation="svd"), "approximation must be"),
    (dict(approximation="rff", kernel="poly"), "shift-invariant"),
    (dict(approximation="nystrom", kernel="precomputed"), "precomputed"),
    (dict(approximation="nystrom", solver="eig"), "'auto' or 'primal'"),
    (dict(approximation="nystrom", nystrom_sampling="kmeans"), "nystrom_sampling"),
    (dict(solver="primal"), "needs kernel='linear'"),
])
def test_bad_parameters(rng, params, match):
    X, Y = _data(rng)
    with pytest.raises(ValueError, match=match):
        MultiTaskKernelClassifier(**params).fit(X, Y)


def test_more_centres_than_samples_warns_and_clips(rng):
    X, Y = _data(rng, n=20)
    with pytest.warns(UserWarning, match="n_components=50 is larger than the 20"):
        model = MultiTaskKernelClassifier(approximation="nystrom",
                                          n_components=50).fit(X, Y)
    assert model.feature_map_.centres.shape[0] == 20
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # random features have no such limit
        MultiTaskKernelClassifier(approximation="rff", n_components=50).fit(X, Y)


def test_auto_approximation_when_the_kernel_factor_does_not_fit():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(400, 3))
    Y = np.c_[X[:, 0] > 0, X[:, 1] + 0.3 * rng.normal(size=400) > 0].astype(float)
    Y[rng.random(Y.shape) < 0.3] = np.nan
    params = dict(alpha=0.1, n_components=30, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        exact = MultiTaskKernelClassifier(approximation="auto", **params).fit(X, Y)
    assert "approximation" not in exact.solver_info_
    with rkhsmtl.config_context(memory_limit=1_000_000):
        with pytest.warns(UserWarning, match="approximation='auto'"):
            auto = MultiTaskKernelClassifier(approximation="auto", **params).fit(X, Y)
        nystrom = MultiTaskKernelClassifier(approximation="nystrom", **params).fit(X, Y)
    assert auto.solver_info_["approximation"] == "nystrom"
    assert "400x400" in auto.solver_info_["approximation_reason"]
    np.testing.assert_allclose(auto.predict_proba(X), nystrom.predict_proba(X),
                               atol=1e-12)
