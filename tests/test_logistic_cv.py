"""MultiTaskKernelClassifierCV: the score table of GridSearchCV from warm-started
paths, the warm starts against cold ones, labels, weights, errors and the API."""

import warnings

import array_api_compat.numpy as xp
import numpy as np
import pytest
from joblib import parallel_config
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from rkhsmtl import MultiTaskKernelClassifier, MultiTaskKernelClassifierCV
from rkhsmtl._solvers.logistic import (
    fit_logistic_fixed,
    fit_logistic_learned,
    kernel_factor,
)
from rkhsmtl.exceptions import SingleClassTaskWarning
from rkhsmtl.kernels import PairwiseKernel, TrainingGram
from rkhsmtl.metrics import accuracy_score, get_scorer
from rkhsmtl.model_selection import MultiTaskStratifiedKFold
from rkhsmtl.structure import MeanRegularized, TaskRelation

ALPHAS = (0.03, 0.3, 3.0)
GAMMAS = (0.2, 1.0)
TOL = 1e-10


def _data(seed=0, n=36, T=3, missing=0.15):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 2))
    noise = 0.6 * rng.standard_normal((n, T))
    Y = (X[:, [0]] + 0.4 * np.arange(T) * X[:, [1]] + noise > 0).astype(float)
    Y[rng.random(Y.shape) < missing] = np.nan
    return X, Y


def _grid_search(structures, cv, scoring=None, gammas=GAMMAS, tol=TOL, **params):
    search = GridSearchCV(
        MultiTaskKernelClassifier(tol=tol, **params),
        {"alpha": list(ALPHAS), "gamma": list(gammas), "task_structure": structures},
        cv=cv, scoring=None if scoring is None else get_scorer(scoring))
    return search


def _assert_same_table(model, search):
    ours, theirs = model.cv_results_, search.cv_results_
    np.testing.assert_allclose(ours["mean_test_score"], theirs["mean_test_score"],
                               rtol=0, atol=1e-6)
    for f in range(model.n_splits_):
        np.testing.assert_allclose(ours[f"split{f}_test_score"],
                                   theirs[f"split{f}_test_score"], rtol=0, atol=1e-6)
    np.testing.assert_allclose(ours["std_test_score"], theirs["std_test_score"],
                               rtol=0, atol=1e-6)
    np.testing.assert_array_equal(ours["rank_test_score"], theirs["rank_test_score"])
    assert [p["alpha"] for p in ours["params"]] == [p["alpha"] for p in theirs["params"]]
    assert [p["gamma"] for p in ours["params"]] == [p["gamma"] for p in theirs["params"]]
    assert model.best_params_ == search.best_params_
    assert model.best_score_ == pytest.approx(search.best_score_, abs=1e-6)


@pytest.mark.parametrize("scoring", [None, "roc_auc", "neg_log_loss"])
def test_fixed_structures_equal_grid_search(scoring):
    X, Y = _data()
    cv = MultiTaskStratifiedKFold(3)
    structures = ["independent", MeanRegularized(strength=2.0)]
    model = MultiTaskKernelClassifierCV(
        alphas=ALPHAS, gammas=GAMMAS, task_structures=structures, cv=cv,
        scoring=scoring, tol=TOL).fit(X, Y)
    search = _grid_search(structures, cv, scoring).fit(X, Y)
    _assert_same_table(model, search)
    assert model.alpha_ == search.best_params_["alpha"]
    assert model.gamma_ == search.best_params_["gamma"]
    np.testing.assert_allclose(model.predict_proba(X), search.predict_proba(X),
                               atol=1e-8)
    np.testing.assert_array_equal(model.predict(X), search.predict(X))


def test_learned_structure_equals_grid_search():
    # The path starts each alternating minimisation from the previous alpha's
    # coefficients, with the same A-steps as a cold start: the default tol is
    # enough for the two to agree.
    X, Y = _data(1, n=30)
    cv = MultiTaskStratifiedKFold(2)
    structures = [TaskRelation()]
    model = MultiTaskKernelClassifierCV(
        alphas=ALPHAS, gammas=[1.0], task_structures=structures, cv=cv,
        scoring="neg_log_loss").fit(X, Y)
    search = _grid_search(structures, cv, "neg_log_loss", gammas=[1.0],
                          tol=1e-6).fit(X, Y)
    _assert_same_table(model, search)
    np.testing.assert_allclose(model.task_structure_,
                               search.best_estimator_.task_structure_, atol=1e-8)


def test_per_task_scores_are_each_task_alone():
    X, Y = _data(2)
    cv = MultiTaskStratifiedKFold(3)
    model = MultiTaskKernelClassifierCV(alphas=ALPHAS[:2], gammas=[1.0], cv=cv,
                                        tol=TOL, refit=False).fit(X, Y)
    splits = list(cv.split(X, Y))
    for row, params in enumerate(model.cv_results_["params"]):
        per_fold = []
        for train, test in splits:
            clf = MultiTaskKernelClassifier(tol=TOL, **params).fit(X[train], Y[train])
            per_fold.append(accuracy_score(Y[test], clf.predict(X[test]),
                                           average=None))
        expected = np.nanmean(per_fold, axis=0)
        for t in range(Y.shape[1]):
            assert model.cv_results_[f"mean_test_score_task_{t}"][row] == \
                pytest.approx(expected[t], abs=1e-12)


def test_path_points_equal_cold_fits_with_fewer_newton_iterations():
    X, Y = _data(3, n=40)
    Y_pm = np.where(np.isnan(Y), np.nan, 2.0 * Y - 1.0)
    W = np.ones_like(Y)
    Phi, _ = kernel_factor(TrainingGram(PairwiseKernel("rbf", gamma=0.5), X, xp), xp)
    A = MeanRegularized(strength=1.0).task_matrix(Y.shape[1])
    previous, warm_total, cold_total = None, 0, 0
    for alpha in sorted(np.logspace(-2, 1, 6), reverse=True):
        C_cold, b_cold, cold = fit_logistic_fixed(Phi, Y_pm, W, A, alpha, xp, tol=1e-8)
        C, b, warm = fit_logistic_fixed(Phi, Y_pm, W, A, alpha, xp, tol=1e-8,
                                        initial=previous)
        previous = (C, b)
        np.testing.assert_allclose(C, C_cold, rtol=0, atol=1e-7 * np.abs(C_cold).max())
        np.testing.assert_allclose(b, b_cold, rtol=0, atol=1e-7)
        warm_total += warm["n_iter"]
        cold_total += cold["n_iter"]
    assert warm_total < cold_total


def test_learned_warm_starts_reach_the_cold_optimum():
    X, Y = _data(4, n=20)
    Y_pm = np.where(np.isnan(Y), np.nan, 2.0 * Y - 1.0)
    W = np.ones_like(Y)
    Phi, _ = kernel_factor(TrainingGram(PairwiseKernel("rbf", gamma=0.5), X, xp), xp)
    structure = TaskRelation()
    C1, b1, A1, _ = fit_logistic_learned(Phi, Y_pm, W, structure, 1.0, xp)
    C_cold, b_cold, A_cold, cold = fit_logistic_learned(Phi, Y_pm, W, structure, 0.3,
                                                        xp)
    # From the previous alpha's coefficients the alternating iterates are the cold
    # ones (the same A-steps): only the first B-step is shorter.
    C, b, A, warm = fit_logistic_learned(Phi, Y_pm, W, structure, 0.3, xp,
                                         initial=(C1, b1))
    assert warm["n_iter"] == cold["n_iter"]
    assert warm["newton_iterations"] < cold["newton_iterations"]
    np.testing.assert_allclose(C, C_cold, rtol=0, atol=1e-8 * np.abs(C_cold).max())
    np.testing.assert_allclose(A, A_cold, rtol=0, atol=1e-8)
    # From its A too, the iterates differ; the minimum is the same within tol.
    C, b, A, warm = fit_logistic_learned(Phi, Y_pm, W, structure, 0.3, xp,
                                         initial=(C1, b1), initial_structure=A1)
    assert warm["converged"]
    assert warm["objective_history"][-1] == pytest.approx(
        cold["objective_history"][-1], rel=1e-5)
    np.testing.assert_allclose(A, A_cold, rtol=0, atol=1e-2)


def test_warm_path_equals_cold_starts_and_saves_newton_iterations():
    X, Y = _data(5, n=30)
    params = dict(alphas=np.logspace(-2, 1, 5), gammas=[0.5],
                  task_structures=["independent", "mean_regularized"],
                  scoring="neg_log_loss", cv=2, tol=TOL, refit=False)
    warm = MultiTaskKernelClassifierCV(**params).fit(X, Y)
    cold = MultiTaskKernelClassifierCV(**params)
    cold._warm_path = False
    cold.fit(X, Y)
    np.testing.assert_allclose(warm.cv_results_["mean_test_score"],
                               cold.cv_results_["mean_test_score"], rtol=0, atol=1e-9)
    assert warm.n_newton_iter_ < cold.n_newton_iter_


def _fit_n_jobs(backend):
    X, Y = _data(6, n=30)
    params = dict(alphas=ALPHAS[:2], gammas=[1.0], cv=3, scoring="roc_auc")
    one = MultiTaskKernelClassifierCV(**params).fit(X, Y)
    with parallel_config(backend=backend):
        two = MultiTaskKernelClassifierCV(n_jobs=2, **params).fit(X, Y)
    for key, value in one.cv_results_.items():
        if key.startswith(("mean_", "std_", "split", "rank_")):
            np.testing.assert_array_equal(two.cv_results_[key], value)
    assert two.best_params_ == one.best_params_
    assert two.n_newton_iter_ == one.n_newton_iter_


def test_n_jobs_gives_the_same_table():
    _fit_n_jobs("threading")


@pytest.mark.slow  # starting the worker processes takes ~10 s on 2 busy cores
def test_n_jobs_in_processes_gives_the_same_table():
    _fit_n_jobs("loky")


def test_string_labels_and_sample_weights_equal_grid_search():
    X, Y = _data(7)
    labels = np.empty(Y.shape, dtype=object)
    names = [("no", "yes"), ("cat", "dog"), ("a", "b")]
    for t, (neg, pos) in enumerate(names):
        labels[:, t] = np.where(Y[:, t] == 1, pos, neg)
        labels[np.isnan(Y[:, t]), t] = None
    weights = np.random.default_rng(0).uniform(0.2, 2.0, X.shape[0])
    cv = MultiTaskStratifiedKFold(3)
    structures = ["independent"]
    model = MultiTaskKernelClassifierCV(
        alphas=ALPHAS, gammas=GAMMAS, task_structures=structures, cv=cv, tol=TOL,
        class_weight="balanced").fit(X, labels, sample_weight=weights)
    search = _grid_search(structures, cv, class_weight="balanced").fit(
        X, labels, sample_weight=weights)
    _assert_same_table(model, search)
    assert [list(c) for c in model.classes_] == [list(n) for n in names]
    assert set(model.predict(X)[:, 1]) <= {"cat", "dog"}
    # The weights matter: unweighted folds score differently.
    plain = clone(model).fit(X, labels)
    assert not np.allclose(plain.cv_results_["mean_test_score"],
                           model.cv_results_["mean_test_score"])


def test_precomputed_kernel_equals_the_kernel():
    X, Y = _data(8, n=30)
    K = PairwiseKernel("rbf", gamma=0.5)(X, X, xp=xp)
    params = dict(alphas=ALPHAS, cv=3, tol=TOL, scoring="roc_auc")
    on_X = MultiTaskKernelClassifierCV(gammas=[0.5], **params).fit(X, Y)
    on_K = MultiTaskKernelClassifierCV(kernel="precomputed", **params).fit(K, Y)
    np.testing.assert_allclose(on_K.cv_results_["mean_test_score"],
                               on_X.cv_results_["mean_test_score"], atol=1e-8)
    np.testing.assert_allclose(on_K.decision_function(K), on_X.decision_function(X),
                               atol=1e-6)


def test_one_task_and_a_pipeline():
    X, Y = _data(9, n=30)
    y = Y[:, 0]
    y[np.isnan(y)] = 1.0
    pipe = make_pipeline(StandardScaler(), MultiTaskKernelClassifierCV(
        alphas=ALPHAS, cv=3)).fit(X, y)
    model = pipe[-1]
    assert pipe.predict_proba(X).shape == (X.shape[0], 2)
    assert pipe.predict(X).shape == (X.shape[0],)
    assert pipe.score(X, y) == model.best_estimator_.score(
        StandardScaler().fit_transform(X), y)
    np.testing.assert_array_equal(model.classes_, [0.0, 1.0])
    assert model.cv_results_["mean_test_score_task_0"] == pytest.approx(
        model.cv_results_["mean_test_score"])
    cloned = clone(model)
    assert cloned.get_params() == model.get_params()
    assert not hasattr(cloned, "cv_results_")


def test_refit_false_and_the_fitted_attributes():
    X, Y = _data(10, n=30)
    model = MultiTaskKernelClassifierCV(alphas=ALPHAS, cv=3, refit=False).fit(X, Y)
    assert not hasattr(model, "best_estimator_")
    assert model.n_features_in_ == 2 and model.n_tasks_ == 3
    np.testing.assert_array_equal(model.tasks_, [0, 1, 2])
    assert [list(c) for c in model.classes_] == [[0.0, 1.0]] * 3
    with pytest.raises(AttributeError, match="refit=False"):
        model.predict(X)
    full = MultiTaskKernelClassifierCV(alphas=ALPHAS, cv=3).fit(X, Y)
    assert full.best_estimator_.alpha == full.alpha_
    np.testing.assert_array_equal(full.task_structure_, np.eye(3))
    assert full.n_iter_ == full.best_estimator_.n_iter_


def test_single_class_folds_warn_once():
    X, Y = _data(11, n=24, missing=0.0)
    Y[:, 1] = np.r_[np.zeros(8), np.ones(16)]  # KFold's first test fold: all 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        MultiTaskKernelClassifierCV(alphas=ALPHAS[:2], cv=KFold(3), refit=False).fit(
            X, Y)
    messages = [str(w.message) for w in caught
                if issubclass(w.category, SingleClassTaskWarning)]
    assert len(messages) == 1
    assert "In 1 of 3 training folds, task 1 had labels of only one class" in \
        messages[0]


def test_unconverged_fold_fits_warn_once():
    X, Y = _data(12, n=30)
    with pytest.warns(ConvergenceWarning, match="fold fits stopped at max_iter"):
        MultiTaskKernelClassifierCV(alphas=[0.01], cv=3, max_iter=1,
                                    refit=False).fit(X, Y)


@pytest.mark.parametrize("params,message", [
    ({"alphas": []}, "alphas must hold at least one value"),
    ({"alphas": [1.0, 0.0]}, "alphas must hold positive finite numbers, got 0.0"),
    ({"alphas": [-1.0]}, "alphas must hold positive finite numbers"),
    ({"alphas": [np.inf]}, "alphas must hold positive finite numbers"),
    ({"alphas": [True]}, "alphas must hold positive finite numbers"),
    ({"alphas": 1.0}, "alphas must be a list of values"),
    ({"gammas": [-0.1]}, "gammas must hold None or finite numbers >= 0"),
    ({"gammas": []}, "gammas must hold at least one value"),
    ({"task_structures": "independent"}, "must be a list of task structures"),
    ({"task_structures": []}, "task_structures must hold at least one value"),
    ({"task_structures": ["no_such"]}, "Unknown task_structure 'no_such'"),
    ({"kernel": "nope"}, "kernel must be one of"),
    ({"scoring": ["roc_auc", "accuracy"]}, "scoring must be one scorer name"),
    ({"scoring": "no_such_score"}, "'no_such_score' is not a multi-task scorer"),
    ({"refit": "yes"}, "refit must be True or False"),
    ({"solver": "cg"}, "solver must be one of"),
    ({"class_weight": "auto"}, "class_weight must be None, 'balanced'"),
    ({"tol": -1.0}, "tol must be a finite number >= 0"),
])
def test_bad_parameters_raise_before_fitting(params, message):
    X, Y = _data(13, n=12)
    with pytest.raises(ValueError, match=message):
        MultiTaskKernelClassifierCV(cv=2, **params).fit(X, Y)


def test_bad_labels_and_warm_starts_raise():
    X, Y = _data(14, n=12)
    Y3 = Y.copy()
    Y3[0, 0] = 2.0
    with pytest.raises(ValueError, match="task 0 has 3 classes"):
        MultiTaskKernelClassifierCV(cv=2).fit(X, Y3)
    with pytest.raises(ValueError, match=r"sample_weight.shape == \(5,\)"):
        MultiTaskKernelClassifierCV(cv=2).fit(X, Y, sample_weight=np.ones(5))
    Y_pm = np.where(np.isnan(Y), np.nan, 2.0 * Y - 1.0)
    Phi, _ = kernel_factor(TrainingGram(PairwiseKernel("rbf"), X, xp), xp)
    A = np.eye(3)
    with pytest.raises(ValueError, match="initial must be a pair"):
        fit_logistic_fixed(Phi, Y_pm, np.ones_like(Y), A, 1.0, xp,
                           initial=(np.zeros((12, 2)), np.zeros(3)))
    with pytest.raises(ValueError, match="initial_structure must be of shape"):
        fit_logistic_learned(Phi, Y_pm, np.ones_like(Y), TaskRelation(), 1.0, xp,
                             initial_structure=np.eye(2))
