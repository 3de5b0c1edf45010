"""MultiTaskKernelRidgeCV: exact leave-one-out against refits, scikit-learn's RidgeCV
and GridSearchCV, learned structures along a warm path, and the estimator API."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.linear_model import RidgeCV
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import rkhsmtl
from rkhsmtl import MultiTaskKernelRidge, MultiTaskKernelRidgeCV
from rkhsmtl._solvers.alternating import solve_learned_structure
from rkhsmtl.exceptions import MemoryBudgetError
from rkhsmtl.kernels import PairwiseKernel, TrainingGram
from rkhsmtl.metrics import r2_score
from rkhsmtl.model_selection import MultiTaskGridSearchCV, MultiTaskStratifiedKFold
from rkhsmtl.structure import LowRank, MeanRegularized

ALPHAS = (0.05, 0.5)


def _data(seed=0, n=14, T=3, missing=0.0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 2))
    Y = np.column_stack([np.sin(X[:, 0]) + 0.3 * t * X[:, 1] for t in range(T)])
    Y += 0.2 * rng.standard_normal(Y.shape)
    if missing:
        Y[rng.random(Y.shape) < missing] = np.nan
        Y[0] = 0.1
    return X, Y


def _refit_loo_table(X, Y, W, mode, **params):
    """Left-out predictions from refits of MultiTaskKernelRidge without each entry
    (or row)."""
    observed = ~np.isnan(Y)
    if W is not None:
        observed &= np.broadcast_to(W if W.ndim == 2 else W[:, None], Y.shape) > 0
    table = np.full(Y.shape, np.nan)
    groups = ([(i, [t]) for i, t in zip(*np.nonzero(observed), strict=True)]
              if mode == "entry" else
              [(i, np.flatnonzero(observed[i])) for i in range(Y.shape[0])])
    for i, tasks in groups:
        Y_minus = Y.copy()
        Y_minus[i, tasks] = np.nan
        model = MultiTaskKernelRidge(solver="cholesky", **params).fit(
            X, Y_minus, sample_weight=W)
        table[i, tasks] = model.predict(X[i:i + 1])[0, tasks]
    return table, observed


@pytest.mark.parametrize("missing,weights,mode", [
    (0.0, "sample", "entry"), (0.3, "entry", "entry"), (0.3, None, "sample"),
])
def test_loo_scores_equal_refits(missing, weights, mode):
    X, Y = _data(1, n=10, missing=missing)
    rng = np.random.default_rng(2)
    W = {None: None, "sample": rng.uniform(0.5, 2.0, Y.shape[0]),
         "entry": rng.uniform(0.5, 2.0, Y.shape)}[weights]
    structure = MeanRegularized(strength=0.5)
    model = MultiTaskKernelRidgeCV(alphas=ALPHAS, gammas=[0.7],
                                   task_structures=[structure], loo=mode,
                                   refit=False).fit(X, Y, sample_weight=W)
    r2 = MultiTaskKernelRidgeCV(alphas=ALPHAS, gammas=[0.7],
                                task_structures=[structure], loo=mode,
                                scoring="r2", refit=False).fit(X, Y, sample_weight=W)
    Wf = np.ones_like(Y) if W is None else np.broadcast_to(
        W if W.ndim == 2 else W[:, None], Y.shape)
    for j, alpha in enumerate(ALPHAS):
        table, observed = _refit_loo_table(X, Y, W, mode, alpha=alpha, gamma=0.7,
                                           task_structure=structure)
        sq = np.where(observed, Wf * (Y - table) ** 2, 0.0)
        expected = -sq.sum() / observed.sum()
        assert model.cv_results_["mean_test_score"][j] == pytest.approx(expected,
                                                                       rel=1e-8)
        per_task = -sq.sum(axis=0) / observed.sum(axis=0)
        for t in range(Y.shape[1]):
            assert model.cv_results_[f"mean_test_score_task_{t}"][j] == pytest.approx(
                per_task[t], rel=1e-8)
        truth = np.where(observed, Y, np.nan)
        assert r2.cv_results_["mean_test_score"][j] == pytest.approx(
            r2_score(truth, np.where(observed, table, 0.0)), rel=1e-8)


def test_independent_tasks_match_sklearn_ridgecv():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((20, 4))
    Y = X @ rng.standard_normal((4, 3)) + 0.5 * rng.standard_normal((20, 3))
    alphas = (0.01, 0.3, 3.0, 30.0)
    ours = MultiTaskKernelRidgeCV(alphas=alphas, kernel="linear").fit(X, Y)
    ref = RidgeCV(alphas=alphas, fit_intercept=False, store_cv_results=True).fit(X, Y)
    assert ours.alpha_ == ref.alpha_
    # RidgeCV's leave-one-out squared errors, (n_samples, n_targets, n_alphas).
    np.testing.assert_allclose(ours.cv_results_["mean_test_score"],
                               -ref.cv_results_.mean(axis=(0, 1)), rtol=1e-8)
    assert ours.best_score_ == pytest.approx(ref.best_score_, rel=1e-8)
    np.testing.assert_allclose(ours.predict(X), ref.predict(X), rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("missing", [0.0, 0.25])
def test_folds_match_gridsearchcv(missing):
    X, Y = _data(4, n=24, missing=missing)
    cv = (KFold(3, shuffle=True, random_state=0) if not missing
          else MultiTaskStratifiedKFold(3))
    structures = ["independent", MeanRegularized(strength=2.0)]
    grid = {"alpha": [0.05, 0.5], "gamma": [0.3, 1.0], "task_structure": structures}
    ours = MultiTaskKernelRidgeCV(alphas=grid["alpha"], gammas=grid["gamma"],
                                  task_structures=structures, cv=cv,
                                  scoring="neg_mean_squared_error").fit(X, Y)
    ref = MultiTaskGridSearchCV(MultiTaskKernelRidge(), grid, cv=cv,
                                scoring="neg_mean_squared_error").fit(X, Y)
    for key in ("mean_test_score", "std_test_score", "split2_test_score"):
        np.testing.assert_allclose(ours.cv_results_[key], ref.cv_results_[key],
                                   rtol=1e-8)
    assert ours.best_index_ == ref.best_index_
    assert ours.best_params_["alpha"] == ref.best_params_["alpha"]
    assert ours.best_params_["gamma"] == ref.best_params_["gamma"]
    np.testing.assert_allclose(ours.predict(X), ref.predict(X), rtol=1e-8)


def test_learned_structure_path():
    X, Y = _data(5, n=12)
    alphas = (0.05, 0.5)
    structure = LowRank(strength=0.5)
    cv_model = MultiTaskKernelRidgeCV(alphas=alphas, gammas=[0.5],
                                      task_structures=[structure], tol=1e-7,
                                      max_iter=1000, refit=False)
    gram = TrainingGram(PairwiseKernel("rbf", gamma=0.5, n_features=2), X, np)
    from rkhsmtl.ridge_cv import _Problem

    path = list(cv_model._learned(gram, _Problem(Y, None, np), structure,
                                  list(alphas), np))
    assert [j for j, _, _ in path] == [1, 0]  # largest alpha first
    cv_model.fit(X, Y)
    previous = None
    for j, C, A in path:
        # Each point is the fit started from the previous point's A ...
        C_ind, A_ind, _ = solve_learned_structure(
            gram, Y, structure, alphas[j], np, tol=1e-7, max_iter=1000,
            initial_structure=previous)
        np.testing.assert_allclose(A, A_ind, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(C, C_ind, rtol=1e-12, atol=1e-12)
        # ... and agrees with a cold fit to the solver's tolerance.
        cold = MultiTaskKernelRidge(alphas[j], gamma=0.5, task_structure=structure,
                                    tol=1e-7, max_iter=1000).fit(X, Y)
        np.testing.assert_allclose(A, cold.task_structure_, atol=5e-3)
        # Its leave-one-out is the fixed-structure one at the learned A.
        fixed = MultiTaskKernelRidgeCV(alphas=[alphas[j]], gammas=[0.5],
                                       task_structures=[A], refit=False).fit(X, Y)
        assert cv_model.cv_results_["mean_test_score"][j] == pytest.approx(
            fixed.best_score_, rel=1e-10)
        previous = A


def test_learned_structure_with_folds_and_missing_labels():
    X, Y = _data(6, n=12, missing=0.2)
    kw = dict(alphas=(0.1, 1.0), task_structures=[LowRank(strength=0.5)], tol=1e-4)
    folds = MultiTaskKernelRidgeCV(cv=2, **kw).fit(X, Y)
    loo = MultiTaskKernelRidgeCV(loo="sample", **kw).fit(X, Y)
    for model in (folds, loo):
        assert np.all(np.isfinite(model.cv_results_["mean_test_score"]))
        assert isinstance(model.best_estimator_.task_structure, LowRank)


def test_gcv_and_fitted_attributes():
    X, Y = _data(7, missing=0.2)
    structures = ["independent", MeanRegularized(strength=1.0)]
    model = MultiTaskKernelRidgeCV(alphas=ALPHAS, gammas=[0.3, 1.0],
                                   task_structures=structures, loo="gcv").fit(X, Y)
    results = model.cv_results_
    assert len(results["params"]) == 8
    # GridSearchCV's order: alpha slowest, then gamma, then the structure.
    assert results["params"][1] == {"alpha": 0.05, "gamma": 0.3,
                                    "task_structure": structures[1]}
    best = int(np.argmax(results["mean_test_score"]))
    assert model.best_index_ == best and results["rank_test_score"][best] == 1
    assert model.best_params_ == results["params"][best]
    assert model.alpha_ == model.best_params_["alpha"]
    assert model.gamma_ == model.best_params_["gamma"]
    ref = MultiTaskKernelRidge(**{k: v for k, v in model.best_params_.items()}).fit(X, Y)
    np.testing.assert_allclose(model.task_structure_, ref.task_structure_)
    np.testing.assert_allclose(model.predict(X), ref.predict(X))
    assert model.score(X, Y) == pytest.approx(ref.score(X, Y))
    assert model.n_features_in_ == 2 and model.n_tasks_ == 3
    np.testing.assert_array_equal(model.tasks_, np.arange(3))


def test_one_label_per_row_sample_equals_entry():
    X, Y = _data(8, n=15)
    Y[np.arange(3)[None, :] != (np.arange(15) % 3)[:, None]] = np.nan
    kw = dict(alphas=ALPHAS, task_structures=["mean_regularized"], refit=False)
    entry = MultiTaskKernelRidgeCV(loo="entry", **kw).fit(X, Y)
    sample = MultiTaskKernelRidgeCV(loo="sample", **kw).fit(X, Y)
    np.testing.assert_allclose(entry.cv_results_["mean_test_score"],
                               sample.cv_results_["mean_test_score"], rtol=1e-10)


def test_pipeline_clone_and_grid_search_component():
    X, Y = _data(9)
    pipe = make_pipeline(StandardScaler(), MultiTaskKernelRidgeCV(alphas=ALPHAS))
    assert pipe.fit(X, Y).predict(X).shape == Y.shape
    model = MultiTaskKernelRidgeCV(alphas=ALPHAS, task_structures=["pooled"])
    assert clone(model).get_params() == model.get_params()
    search = GridSearchCV(model, {"kernel": ["rbf", "linear"]}, cv=3).fit(X, Y)
    assert search.best_estimator_.best_estimator_.kernel in ("rbf", "linear")


def test_refit_false_and_one_dimensional_target():
    X, Y = _data(10)
    model = MultiTaskKernelRidgeCV(alphas=ALPHAS, refit=False).fit(X, Y[:, 0])
    assert not hasattr(model, "best_estimator_")
    with pytest.raises(AttributeError, match="not available with refit=False"):
        model.predict(X)
    model = MultiTaskKernelRidgeCV(alphas=ALPHAS).fit(X, Y[:, 0])
    assert model.predict(X).shape == (X.shape[0],)


@pytest.mark.parametrize("params,match", [
    ({"loo": "row"}, "loo must be one of"),
    ({"alphas": [0.1, -1.0]}, "alphas must hold positive finite numbers"),
    ({"alphas": []}, "alphas must hold at least one value"),
    ({"gammas": [np.inf]}, "gammas must hold None or finite numbers"),
    ({"task_structures": "mean_regularized"}, "must be a list of task structures"),
    ({"scoring": ["r2", "neg_mean_squared_error"]}, "scoring must be one scorer"),
    ({"scoring": "no_such_score"}, "is not a multi-task scorer name"),
    ({"task_structures": ["no_such_structure"]}, "Unknown task_structure"),
])
def test_invalid_parameters(params, match):
    X, Y = _data(11)
    with pytest.raises(ValueError, match=match):
        MultiTaskKernelRidgeCV(**params).fit(X, Y)


def test_observed_system_too_large_names_cv():
    X, Y = _data(12, missing=0.3)
    with rkhsmtl.config_context(memory_limit=2000):
        with pytest.raises(MemoryBudgetError, match="pass cv= a number of folds"):
            MultiTaskKernelRidgeCV(alphas=ALPHAS).fit(X, Y)


def test_array_api_strict_with_missing_labels():
    xps = pytest.importorskip("array_api_strict")
    X, Y = _data(13, missing=0.3)
    device = xps.Device("device1")  # refuses conversion to NumPy
    X_s, Y_s = xps.asarray(X, device=device), xps.asarray(Y, device=device)
    for loo, scoring in (("entry", None), ("sample", "r2"), ("gcv", None)):
        kw = dict(alphas=ALPHAS, task_structures=["mean_regularized"], loo=loo,
                  scoring=scoring)
        ref = MultiTaskKernelRidgeCV(**kw).fit(X, Y)
        model = MultiTaskKernelRidgeCV(**kw).fit(X_s, Y_s)
        np.testing.assert_allclose(model.cv_results_["mean_test_score"],
                                   ref.cv_results_["mean_test_score"], rtol=1e-9)
        assert model.predict(X_s).device == device


def test_primal_solver_is_for_the_refit():
    X, Y = _data(14, missing=0.2)
    model = MultiTaskKernelRidgeCV(alphas=ALPHAS, kernel="linear", solver="primal",
                                   cv=2).fit(X, Y)
    assert model.best_estimator_.solver_ == "primal"
    ref = MultiTaskKernelRidgeCV(alphas=ALPHAS, kernel="linear", cv=2).fit(X, Y)
    np.testing.assert_allclose(model.cv_results_["mean_test_score"],
                               ref.cv_results_["mean_test_score"], rtol=1e-8)


def _one_label_per_row(seed=15, n=30, T=3):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 2))
    Y = np.column_stack([X[:, 0] + 0.5 * t * X[:, 1] for t in range(T)])
    Y += 0.3 * rng.standard_normal(Y.shape)
    Y[np.arange(T)[None, :] != (np.arange(n) % T)[:, None]] = np.nan
    return X, Y


@pytest.mark.parametrize("loo,scoring", [("entry", None), ("sample", "r2"),
                                         ("gcv", None)])
def test_linear_kernel_selects_in_the_primal(loo, scoring):
    X, Y = _one_label_per_row()
    W = np.random.default_rng(16).uniform(0.5, 2.0, Y.shape)
    rng = np.random.default_rng(17)
    B = rng.standard_normal((3, 3))
    structures = ["independent", MeanRegularized(strength=1.0), "pooled",
                  B @ B.T / 3]
    kw = dict(alphas=(0.01, 0.1, 1.0, 3.0, 10.0, 30.0), task_structures=structures,
              loo=loo, scoring=scoring)
    primal = MultiTaskKernelRidgeCV(kernel="linear", **kw).fit(X, Y, sample_weight=W)
    dual = MultiTaskKernelRidgeCV(kernel="precomputed", **kw).fit(
        X @ X.T, Y, sample_weight=W)
    # 2 features x 3 tasks against 30 observed entries.
    assert primal.loo_solver_ == "primal" and dual.loo_solver_ == "observed"
    keys = ["mean_test_score"] + [f"mean_test_score_task_{t}" for t in range(3)]
    for key in keys:
        np.testing.assert_allclose(primal.cv_results_[key], dual.cv_results_[key],
                                   rtol=1e-8)
    assert primal.best_index_ == dual.best_index_
    np.testing.assert_allclose(primal.predict(X), dual.predict(X @ X.T), rtol=1e-8,
                               atol=1e-10)


def test_learned_structure_path_in_the_primal():
    X, Y = _one_label_per_row(18, n=24)
    kw = dict(alphas=(0.1, 1.0), task_structures=[LowRank(strength=0.5)], tol=1e-6,
              refit=False)
    primal = MultiTaskKernelRidgeCV(kernel="linear", **kw).fit(X, Y)
    dual = MultiTaskKernelRidgeCV(kernel="precomputed", **kw).fit(X @ X.T, Y)
    assert primal.loo_solver_ == "primal"
    # The same alternating iterations (primal B-steps instead of the observed
    # system's), then the same exact leave-one-out at the learned A.
    np.testing.assert_allclose(primal.cv_results_["mean_test_score"],
                               dual.cv_results_["mean_test_score"], rtol=1e-8)


def test_loo_solver_follows_the_problem():
    X, Y = _data(19, n=12)
    assert MultiTaskKernelRidgeCV(alphas=ALPHAS).fit(X, Y).loo_solver_ == "complete"
    Y[1, 2] = np.nan
    assert MultiTaskKernelRidgeCV(alphas=ALPHAS).fit(X, Y).loo_solver_ == "observed"
    # The primal order (2 features x rank 3) against 35 observed entries; a
    # pooled structure (rank 1) against 12 samples of complete data.
    linear = MultiTaskKernelRidgeCV(alphas=ALPHAS, kernel="linear")
    assert linear.fit(X, Y).loo_solver_ == "primal"
    assert clone(linear).set_params(task_structures=["pooled"]).fit(
        X, _data(19, n=12)[1]).loo_solver_ == "primal"
    assert clone(linear).set_params(cv=2).fit(X, Y).loo_solver_ is None
