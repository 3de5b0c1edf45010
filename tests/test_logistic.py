"""MultiTaskKernelClassifier: optimality, parity with scikit-learn, labels, errors."""

import warnings

import numpy as np
import pytest
from reference import random_psd
from scipy.optimize import minimize
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics.pairwise import rbf_kernel
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from rkhsmtl import MultiTaskKernelClassifier
from rkhsmtl.exceptions import SingleClassTaskWarning
from rkhsmtl.structure import ClusteredNorm, LowRank, TaskRelation


def _problem(seed=0, n=50, d=3, T=3, missing=0.25):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    shared = rng.normal(size=d)
    W = shared[:, None] + 0.5 * rng.normal(size=(d, T))
    Y = (X @ W + 0.5 * rng.normal(size=(n, T)) > 0).astype(float)
    Y[rng.random((n, T)) < missing] = np.nan
    return X, Y


def _objective(C, b, K, A, Y, W, alpha):
    """J(C, b) written out from its definition (brute force)."""
    F = K @ C @ A + b[None, :]
    observed = ~np.isnan(Y)
    y = np.where(Y > 0, 1.0, -1.0)
    loss = np.where(observed, W * np.logaddexp(0.0, -y * F), 0.0).sum()
    return loss + alpha * np.trace(C.T @ K @ C @ A)


def _loss_gradient(F, Y, W):
    observed = ~np.isnan(Y)
    y = np.where(Y > 0, 1.0, -1.0)
    return np.where(observed, -W * y / (1.0 + np.exp(y * F)), 0.0)


# -- parity with scikit-learn ------------------------------------------------
@pytest.mark.parametrize("fit_intercept", [False, True])
def test_linear_independent_equals_logistic_regression_per_task(fit_intercept):
    X, Y = _problem(seed=1)
    alpha = 0.4
    clf = MultiTaskKernelClassifier(alpha=alpha, kernel="linear",
                                    fit_intercept=fit_intercept, tol=1e-10).fit(X, Y)
    assert clf.solver_ == "primal"
    coef = clf.coef_.T
    for t in range(Y.shape[1]):
        rows = ~np.isnan(Y[:, t])
        ref = LogisticRegression(C=1.0 / (2.0 * alpha), fit_intercept=fit_intercept,
                                 tol=1e-12, max_iter=10_000).fit(X[rows], Y[rows, t])
        np.testing.assert_allclose(coef[:, t], ref.coef_.ravel(), atol=1e-6)
        np.testing.assert_allclose(clf.intercept_[t], ref.intercept_[0], atol=1e-6)
        np.testing.assert_allclose(clf.predict_proba(X)[:, t],
                                   ref.predict_proba(X)[:, 1], atol=1e-7)


def test_balanced_class_weight_equals_logistic_regression():
    X, Y = _problem(seed=2, T=2)
    Y[:35, 0] = 1.0  # imbalance task 0
    clf = MultiTaskKernelClassifier(alpha=0.3, kernel="linear", class_weight="balanced",
                                    tol=1e-10).fit(X, Y)
    for t in range(2):
        rows = ~np.isnan(Y[:, t])
        ref = LogisticRegression(C=1 / 0.6, class_weight="balanced", tol=1e-12,
                                 max_iter=10_000).fit(X[rows], Y[rows, t])
        np.testing.assert_allclose(clf.decision_function(X)[:, t],
                                   ref.decision_function(X), atol=1e-6)


def test_single_task_is_a_binary_sklearn_classifier():
    X, Y = _problem(seed=3, T=1, missing=0.0)
    y = np.where(Y[:, 0] > 0, "yes", "no")
    clf = MultiTaskKernelClassifier(alpha=0.5, kernel="linear", tol=1e-10).fit(X, y)
    ref = LogisticRegression(C=1.0, tol=1e-12, max_iter=10_000).fit(X, y)
    np.testing.assert_array_equal(clf.classes_, ref.classes_)
    assert clf.predict_proba(X).shape == (X.shape[0], 2)
    np.testing.assert_allclose(clf.predict_proba(X), ref.predict_proba(X), atol=1e-7)
    np.testing.assert_allclose(clf.predict_log_proba(X), ref.predict_log_proba(X),
                               atol=1e-6)
    np.testing.assert_array_equal(clf.predict(X), ref.predict(X))
    assert clf.decision_function(X).shape == (X.shape[0],)


# -- optimality ----------------------------------------------------------------
@pytest.mark.parametrize("structure", ["mean_regularized", "pooled", "dense"])
@pytest.mark.parametrize("fit_intercept", [False, True])
def test_stationarity_with_missing_labels_and_entry_weights(structure, fit_intercept):
    """The representer condition C = -G/(2 alpha) and zero intercept gradient."""
    X, Y = _problem(seed=4, n=40, T=4)
    rng = np.random.default_rng(5)
    weights = rng.uniform(0.2, 2.0, size=Y.shape)
    A = random_psd(4, rng) if structure == "dense" else structure
    alpha = 0.2
    clf = MultiTaskKernelClassifier(alpha=alpha, gamma=0.5, task_structure=A,
                                    fit_intercept=fit_intercept, tol=1e-9)
    clf.fit(X, Y, sample_weight=weights)
    K = rbf_kernel(X, gamma=0.5)
    A_used = clf.task_structure_
    F = K @ clf.dual_coef_ @ A_used + clf.intercept_[None, :]
    np.testing.assert_allclose(clf.decision_function(X), F, atol=1e-10)
    G = _loss_gradient(F, Y, weights)
    # Gradient of J with respect to C: K (G + 2 alpha C) A.
    grad_C = K @ (G + 2 * alpha * clf.dual_coef_) @ A_used
    scale = np.abs(K @ _loss_gradient(np.zeros_like(F), Y, weights) @ A_used).max()
    assert np.abs(grad_C).max() <= 1e-7 * scale
    if fit_intercept:
        np.testing.assert_allclose(G.sum(axis=0), 0.0, atol=1e-7 * scale)
    else:
        np.testing.assert_array_equal(clf.intercept_, 0.0)


def test_matches_scipy_minimisation_of_the_objective():
    X, Y = _problem(seed=6, n=15, T=2)
    rng = np.random.default_rng(7)
    weights = rng.uniform(0.5, 1.5, size=15)
    A = np.array([[1.0, 0.6], [0.6, 1.0]])
    alpha = 0.3
    K = rbf_kernel(X, gamma=0.7)
    clf = MultiTaskKernelClassifier(alpha=alpha, kernel="precomputed", task_structure=A,
                                    tol=1e-10).fit(K, Y, sample_weight=weights)
    Wfull = np.broadcast_to(weights[:, None], Y.shape)
    n, T = Y.shape

    def fun(v):
        return _objective(v[:n * T].reshape(n, T), v[n * T:], K, A, Y, Wfull, alpha)

    res = minimize(fun, np.zeros(n * T + T), method="L-BFGS-B",
                   options={"maxiter": 20_000, "ftol": 1e-15, "gtol": 1e-11})
    ours = _objective(clf.dual_coef_, clf.intercept_, K, A, Y, Wfull, alpha)
    assert ours <= res.fun + 1e-9 * abs(res.fun)
    np.testing.assert_allclose(ours, res.fun, rtol=1e-7)
    assert clf.solver_info_["converged"]


def test_sample_weight_per_entry_equals_dropping_entries():
    X, Y = _problem(seed=8, n=40, T=3, missing=0.0)
    rng = np.random.default_rng(9)
    drop = rng.random(Y.shape) < 0.3
    weights = np.where(drop, 0.0, 1.0)
    Y_nan = np.where(drop, np.nan, Y)
    a = MultiTaskKernelClassifier(task_structure="mean_regularized", tol=1e-10)
    b = MultiTaskKernelClassifier(task_structure="mean_regularized", tol=1e-10)
    a.fit(X, Y, sample_weight=weights)
    b.fit(X, Y_nan)
    np.testing.assert_allclose(a.decision_function(X), b.decision_function(X),
                               atol=1e-8)


def test_eig_and_primal_solvers_agree():
    X, Y = _problem(seed=10, n=60, d=4, T=3)
    kw = dict(kernel="linear", task_structure="mean_regularized", tol=1e-10)
    primal = MultiTaskKernelClassifier(solver="primal", **kw).fit(X, Y)
    eig = MultiTaskKernelClassifier(solver="eig", **kw).fit(X, Y)
    assert primal.solver_ == "primal" and eig.solver_ == "eig"
    np.testing.assert_allclose(primal.decision_function(X), eig.decision_function(X),
                               atol=1e-8)


def test_precomputed_kernel_equals_rbf():
    X, Y = _problem(seed=11)
    rbf = MultiTaskKernelClassifier(gamma=0.3, task_structure="chain").fit(X, Y)
    pre = MultiTaskKernelClassifier(kernel="precomputed", task_structure="chain")
    pre.fit(rbf_kernel(X, gamma=0.3), Y)
    X_test = np.random.default_rng(0).normal(size=(7, X.shape[1]))
    np.testing.assert_allclose(
        pre.predict_proba(rbf_kernel(X_test, X, gamma=0.3)), rbf.predict_proba(X_test),
        atol=1e-10)


# -- learned task structures ---------------------------------------------------
@pytest.mark.parametrize("structure", [TaskRelation(strength=1.0), LowRank(strength=0.5),
                                       ClusteredNorm(n_clusters=2)])
def test_learned_structure_objective_never_increases(structure):
    X, Y = _problem(seed=12, n=40, T=4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = MultiTaskKernelClassifier(alpha=0.3, task_structure=structure,
                                        max_iter=30).fit(X, Y)
    history = np.asarray(clf.objective_history_)
    assert history.shape == (clf.n_iter_,)
    assert np.all(np.diff(history) <= 1e-9 * np.abs(history[:-1]))
    A = clf.task_structure_
    np.testing.assert_allclose(A, A.T, atol=1e-12)
    assert np.linalg.eigvalsh(A).min() > 0


def test_learned_structure_b_step_is_exact_for_the_returned_structure():
    X, Y = _problem(seed=13, n=40, T=3)
    learned = MultiTaskKernelClassifier(alpha=0.3, task_structure=TaskRelation(1.0),
                                        tol=1e-6).fit(X, Y)
    fixed = MultiTaskKernelClassifier(alpha=0.3, task_structure=learned.task_structure_,
                                      tol=1e-10).fit(X, Y)
    np.testing.assert_allclose(learned.decision_function(X), fixed.decision_function(X),
                               atol=1e-6)


def test_learned_structure_recovers_two_groups():
    """Tasks 0-2 share one direction and tasks 3-5 its opposite."""
    rng = np.random.default_rng(14)
    n, T = 120, 6
    X = rng.normal(size=(n, 2))
    signs = np.array([1, 1, 1, -1, -1, -1])
    Y = ((X[:, [0]] * signs[None, :] + 0.3 * rng.normal(size=(n, T))) > 0).astype(float)
    Y[rng.random((n, T)) < 0.5] = np.nan
    clf = MultiTaskKernelClassifier(alpha=0.1, kernel="linear",
                                    task_structure=TaskRelation(1.0)).fit(X, Y)
    A = clf.task_structure_
    corr = A / np.sqrt(np.outer(np.diag(A), np.diag(A)))
    assert corr[0, 1] > 0.5 and corr[3, 4] > 0.5
    assert corr[0, 3] < -0.5


# -- labels ------------------------------------------------------------------
def test_string_bool_and_none_labels():
    X, Y = _problem(seed=15, T=3, missing=0.2)
    labels = np.empty(Y.shape, dtype=object)
    labels[:, 0] = np.where(Y[:, 0] > 0, "spam", "ham")
    labels[:, 1] = Y[:, 1] > 0
    labels[:, 2] = np.where(Y[:, 2] > 0, 7, -3)
    missing = np.isnan(Y)
    labels[missing] = None
    clf = MultiTaskKernelClassifier().fit(X, labels)
    assert [c.tolist() for c in clf.classes_] == [["ham", "spam"], [False, True],
                                                   [-3, 7]]
    pred = clf.predict(X)
    assert pred.shape == Y.shape
    assert set(pred[:, 0]) <= {"ham", "spam"}
    assert set(pred[:, 2]) <= {-3, 7}
    # The same fit as with 0/1 labels.
    ref = MultiTaskKernelClassifier().fit(X, Y)
    np.testing.assert_allclose(clf.decision_function(X), ref.decision_function(X))
    assert 0.5 < clf.score(X, labels) <= 1.0
    np.testing.assert_allclose(clf.score(X, labels), ref.score(X, Y))


def test_score_is_mean_of_per_task_accuracy_on_observed():
    X, Y = _problem(seed=16, T=2)
    clf = MultiTaskKernelClassifier().fit(X, Y)
    pred = clf.predict(X)
    expected = np.mean([np.mean(pred[~np.isnan(Y[:, t]), t] == Y[~np.isnan(Y[:, t]), t])
                        for t in range(2)])
    assert clf.score(X, Y) == pytest.approx(expected)


def test_predict_proba_and_predict_are_consistent():
    X, Y = _problem(seed=17)
    clf = MultiTaskKernelClassifier(task_structure="mean_regularized").fit(X, Y)
    scores = clf.decision_function(X)
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba, 1 / (1 + np.exp(-scores)))
    np.testing.assert_allclose(clf.predict_log_proba(X), np.log(proba))
    np.testing.assert_array_equal(clf.predict(X), (scores > 0).astype(float))


# -- bad input ---------------------------------------------------------------
@pytest.mark.parametrize("labels, match", [
    (np.ones(10), "only one class"),
    (np.arange(10) % 3, "Only binary classification"),
    (np.linspace(0, 1, 10), "Unknown label type: continuous"),
])
def test_bad_labels(labels, match):
    X = np.random.default_rng(0).normal(size=(10, 2))
    with pytest.raises(ValueError, match=match):
        MultiTaskKernelClassifier().fit(X, labels)


def test_bad_inputs():
    X, Y = _problem(seed=18, n=20, T=2)
    clf = MultiTaskKernelClassifier()
    Y_empty = Y.copy()
    Y_empty[:, 1] = np.nan
    with pytest.raises(ValueError, match="no observed label"):
        clf.fit(X, Y_empty)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        clf.fit(X[:-1], Y)
    X_bad = X.copy()
    X_bad[0, 0] = np.inf
    with pytest.raises(ValueError, match="infinity|NaN"):
        clf.fit(X_bad, Y)
    with pytest.raises(ValueError, match="positive semidefinite"):
        MultiTaskKernelClassifier(task_structure=np.array([[1.0, 2.0], [2.0, 1.0]])).fit(
            X, Y)
    with pytest.raises(ValueError, match="primal"):
        MultiTaskKernelClassifier(solver="primal").fit(X, Y)
    with pytest.raises(ValueError, match="class_weight"):
        MultiTaskKernelClassifier(class_weight="equal").fit(X, Y)
    with pytest.raises(ValueError, match="no task has"):
        MultiTaskKernelClassifier(class_weight={5: 2.0}).fit(X, Y)
    with pytest.raises(ValueError, match="alpha"):
        MultiTaskKernelClassifier(alpha=0).fit(X, Y)
    fitted = MultiTaskKernelClassifier().fit(X, Y)
    with pytest.raises(ValueError, match="not among its classes"):
        fitted.score(X, np.where(np.isnan(Y), np.nan, Y + 5))


def test_memory_error_points_to_the_primal_route(monkeypatch):
    monkeypatch.setenv("RKHSMTL_MEMORY_LIMIT", "1000")
    X, Y = _problem(seed=19, n=30, T=2)
    with pytest.raises(MemoryError, match="Nystroem"):
        MultiTaskKernelClassifier().fit(X, Y)


def test_convergence_warning_names_the_knob():
    X, Y = _problem(seed=20)
    with pytest.warns(ConvergenceWarning, match="max_iter"):
        MultiTaskKernelClassifier(max_iter=1, tol=1e-12).fit(X, Y)


# -- scikit-learn integration ------------------------------------------------
def test_pipeline_and_grid_search_with_missing_string_labels():
    X, Y = _problem(seed=21, n=60, T=2)
    labels = np.where(Y > 0, "a", "b").astype(object)
    labels[np.isnan(Y)] = None
    pipe = make_pipeline(StandardScaler(), MultiTaskKernelClassifier())
    # An integer cv makes scikit-learn inspect y to choose stratification, which it
    # cannot do with missing labels: an explicit splitter is needed (documented).
    with pytest.raises((TypeError, ValueError)):
        GridSearchCV(pipe, {"multitaskkernelclassifier__alpha": [0.1]}, cv=3).fit(
            X, labels)
    search = GridSearchCV(pipe, {"multitaskkernelclassifier__alpha": [0.1, 1.0]},
                          cv=KFold(3, shuffle=True, random_state=0))
    search.fit(X, labels)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    assert search.predict(X).shape == Y.shape


def test_nystroem_pipeline_takes_the_primal_route():
    """The scalable route of the docs: explicit features, then the linear kernel."""
    from sklearn.kernel_approximation import Nystroem

    X, Y = _problem(seed=22, n=300, d=4, T=3)
    pipe = make_pipeline(Nystroem(gamma=0.3, n_components=40, random_state=0),
                         MultiTaskKernelClassifier(kernel="linear",
                                                   task_structure="mean_regularized"))
    pipe.fit(X, Y)
    clf = pipe[-1]
    assert clf.solver_ == "primal"
    assert clf.solver_info_["converged"]
    assert pipe.score(X, Y) > 0.7


def test_one_weighted_class_with_intercept_is_skipped_or_rejected():
    X, Y = _problem(seed=23, n=30, T=2, missing=0.0)
    weights = np.ones(Y.shape)
    weights[Y[:, 1] > 0, 1] = 0.0  # task 1 keeps only its negatives
    with pytest.raises(ValueError, match="only one class with a positive weight"):
        MultiTaskKernelClassifier(single_class_tasks="raise").fit(
            X, Y, sample_weight=weights)
    with pytest.warns(SingleClassTaskWarning, match="task 1"):
        clf = MultiTaskKernelClassifier().fit(X, Y, sample_weight=weights)
    np.testing.assert_array_equal(clf.skipped_tasks_, [1])
    # Both classes were observed: classes_ is the task's own pair, and the task
    # predicts the class that kept a weight.
    np.testing.assert_array_equal(clf.classes_[1], [0.0, 1.0])
    assert clf.intercept_[1] == -np.inf
    np.testing.assert_array_equal(clf.predict(X)[:, 1], 0.0)
    # Without an intercept the penalty keeps the problem bounded.
    with warnings.catch_warnings():
        warnings.simplefilter("error", SingleClassTaskWarning)
        MultiTaskKernelClassifier(fit_intercept=False).fit(X, Y, sample_weight=weights)


def test_indefinite_kernel_is_reported():
    X, Y = _problem(seed=24, n=40, T=2)
    with pytest.warns(UserWarning, match="not positive semidefinite"):
        MultiTaskKernelClassifier(kernel="sigmoid", gamma=1.0, coef0=1.0).fit(X, Y)


def test_learned_structure_reports_the_regressors_keys():
    from rkhsmtl import MultiTaskKernelRidge

    X, Y = _problem(seed=14, n=40, T=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = MultiTaskKernelClassifier(alpha=0.3, task_structure=LowRank(0.5),
                                        max_iter=20).fit(X, Y)
        reg = MultiTaskKernelRidge(alpha=0.3, task_structure=LowRank(0.5),
                                   max_iter=20).fit(X, np.nan_to_num(Y))
    shared = {"objective_history", "deltas", "n_iter", "converged", "b_step_solver"}
    assert shared <= set(clf.solver_info_) and shared <= set(reg.solver_info_)
    assert len(clf.solver_info_["deltas"]) == clf.n_iter_
    np.testing.assert_array_equal(clf.solver_info_["objective_history"],
                                  clf.objective_history_)
    # The same plotting tool marks the continuation stages of both.
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    from rkhsmtl.plotting import plot_objective

    for model in (clf, reg):
        ax = plot_objective(model)
        n_stage_changes = int(np.sum(np.diff(model.solver_info_["deltas"]) != 0))
        assert len(ax.lines) == 1 + n_stage_changes


def test_a_wrong_task_structure_is_rejected_before_the_kernel_is_factorised(monkeypatch):
    X, Y = _problem(seed=15, n=30, T=2)

    def factorise(*args, **kwargs):
        raise AssertionError("the kernel was factorised before A was validated")

    monkeypatch.setattr("rkhsmtl.logistic.kernel_factor", factorise)
    with pytest.raises(ValueError, match="it must be 2x2"):
        MultiTaskKernelClassifier(task_structure=np.eye(3)).fit(X, Y)


# -- tasks with a single class -----------------------------------------------
def _one_class_problem(seed=30, n=40, T=4):
    """Task 1 sees only positives, task 3 only negatives (missing labels elsewhere)."""
    X, Y = _problem(seed=seed, n=n, T=T)
    observed = ~np.isnan(Y)
    Y[observed[:, 1], 1] = 1.0
    Y[observed[:, 3], 3] = 0.0
    return X, Y


@pytest.mark.parametrize("structure", ["mean_regularized", "dense"])
def test_single_class_tasks_are_skipped_and_the_others_fit_without_them(structure):
    """The limit of the optimum: the other tasks are the fit on their own columns
    with A restricted to them (a task without data has zero dual coefficients, so
    only A[others, others] couples the rest)."""
    X, Y = _one_class_problem()
    A = random_psd(4, np.random.default_rng(31)) if structure == "dense" else structure
    kw = dict(alpha=0.3, gamma=0.5, tol=1e-10)
    with pytest.warns(SingleClassTaskWarning) as record:
        clf = MultiTaskKernelClassifier(task_structure=A, **kw).fit(X, Y)
    assert len(record) == 1
    message = str(record[0].message)
    assert "2 of 4 tasks" in message and "tasks 1, 3" in message
    assert "MultiTaskStratifiedKFold" in message
    np.testing.assert_array_equal(clf.skipped_tasks_, [1, 3])
    others = [0, 2]
    A_used = clf.task_structure_
    ref = MultiTaskKernelClassifier(task_structure=A_used[np.ix_(others, others)],
                                    **kw).fit(X, Y[:, others])
    X_test = np.random.default_rng(32).normal(size=(9, X.shape[1]))
    np.testing.assert_allclose(clf.decision_function(X_test)[:, others],
                               ref.decision_function(X_test), atol=1e-8)
    np.testing.assert_allclose(clf.intercept_[others], ref.intercept_, atol=1e-8)
    np.testing.assert_array_equal(clf.dual_coef_[:, [1, 3]], 0.0)
    # The skipped tasks predict their one class with probability 1.
    np.testing.assert_array_equal(clf.intercept_[[1, 3]], [np.inf, -np.inf])
    scores = clf.decision_function(X_test)
    np.testing.assert_array_equal(scores[:, 1], np.inf)
    np.testing.assert_array_equal(scores[:, 3], -np.inf)
    proba = clf.predict_proba(X_test)
    np.testing.assert_array_equal(proba[:, 1], 1.0)
    np.testing.assert_array_equal(proba[:, 3], 0.0)
    log_proba = clf.predict_log_proba(X_test)
    np.testing.assert_array_equal(log_proba[:, 1], 0.0)
    np.testing.assert_array_equal(log_proba[:, 3], -np.inf)
    assert not np.isnan(log_proba).any()
    pred = clf.predict(X_test)
    np.testing.assert_array_equal(pred[:, 1], 1.0)
    np.testing.assert_array_equal(pred[:, 3], 0.0)
    # A 0/1 indicator matrix: the skipped tasks keep both classes.
    for t in (1, 3):
        np.testing.assert_array_equal(clf.classes_[t], [0.0, 1.0])


def test_single_class_task_with_its_own_labels_keeps_one_class():
    """When the other class cannot be known (labels differ between tasks), the
    task's classes_ is its one class."""
    X, Y = _problem(seed=33, n=40, T=2)
    labels = np.empty(Y.shape, dtype=object)
    labels[:, 0] = np.where(Y[:, 0] > 0, "spam", "ham")
    labels[:, 1] = "rare"
    labels[np.isnan(Y)] = None
    with pytest.warns(SingleClassTaskWarning, match="task 1"):
        clf = MultiTaskKernelClassifier().fit(X, labels)
    assert [c.tolist() for c in clf.classes_] == [["ham", "spam"], ["rare"]]
    np.testing.assert_array_equal(clf.predict(X)[:, 1], "rare")
    np.testing.assert_array_equal(clf.predict_proba(X)[:, 1], 1.0)
    assert clf.score(X, labels) == pytest.approx(
        np.mean([np.mean(clf.predict(X)[~np.isnan(Y[:, 0]), 0]
                         == labels[~np.isnan(Y[:, 0]), 0]), 1.0]))


def test_skipped_tasks_are_named_by_their_column():
    pd = pytest.importorskip("pandas")
    X, Y = _one_class_problem(seed=34)
    frame = pd.DataFrame(Y, columns=["fever", "cough", "rash", "ache"])
    with pytest.warns(SingleClassTaskWarning, match=r"'cough', 'ache' \(columns 1, 3\)"):
        MultiTaskKernelClassifier().fit(X, frame)
    with pytest.raises(ValueError, match=r"'cough', 'ache' \(columns 1, 3\)"):
        MultiTaskKernelClassifier(single_class_tasks="raise").fit(X, frame)


def test_single_class_tasks_raise():
    X, Y = _one_class_problem(seed=35)
    clf = MultiTaskKernelClassifier(single_class_tasks="raise")
    with pytest.raises(ValueError, match=r"only one class among their observed labels: "
                       r"task\(s\) 1, 3") as info:
        clf.fit(X, Y)
    message = str(info.value)
    assert "single_class_tasks='skip'" in message
    assert "MultiTaskStratifiedKFold" in message
    # Without an intercept too: "raise" asks for both classes in every task.
    with pytest.raises(ValueError, match="single_class_tasks='raise'"):
        clf.set_params(fit_intercept=False).fit(X, Y)
    with pytest.raises(ValueError, match="single_class_tasks must be one of"):
        MultiTaskKernelClassifier(single_class_tasks="drop").fit(X, Y)
    assert MultiTaskKernelClassifier(single_class_tasks="raise").get_params()[
        "single_class_tasks"] == "raise"


@pytest.mark.parametrize("single_class_tasks", ["skip", "raise"])
def test_every_task_with_one_class_is_an_error(single_class_tasks):
    X, Y = _problem(seed=36, n=20, T=2)
    Y = np.where(np.isnan(Y), np.nan, 1.0)
    clf = MultiTaskKernelClassifier(single_class_tasks=single_class_tasks)
    with pytest.raises(ValueError, match="only one class"):
        clf.fit(X, Y)
    with pytest.raises(ValueError, match="only one class"):
        clf.fit(X, np.ones(20))
    if single_class_tasks == "skip":
        with pytest.raises(ValueError, match="Every task has labels of only one class"):
            clf.fit(X, Y)
        with pytest.raises(ValueError, match="at least one task needs"):
            clf.set_params(fit_intercept=False).fit(X, Y)


def test_single_class_task_without_intercept_is_fitted():
    """Without an intercept the objective has a minimiser: nothing is skipped and
    the stationarity conditions hold for every task."""
    X, Y = _one_class_problem(seed=37, n=30)
    alpha = 0.3
    with warnings.catch_warnings():
        warnings.simplefilter("error", SingleClassTaskWarning)
        clf = MultiTaskKernelClassifier(alpha=alpha, gamma=0.5, fit_intercept=False,
                                        task_structure="mean_regularized",
                                        tol=1e-10).fit(X, Y)
    assert clf.skipped_tasks_.shape == (0,)
    np.testing.assert_array_equal(clf.intercept_, 0.0)
    K = rbf_kernel(X, gamma=0.5)
    F = K @ clf.dual_coef_ @ clf.task_structure_
    G = _loss_gradient(F, Y, np.ones(Y.shape))
    np.testing.assert_allclose(clf.dual_coef_, -G / (2 * alpha), atol=1e-9)
    # Each one-class task is pushed towards its class.
    assert np.all(clf.dual_coef_[~np.isnan(Y[:, 1]), 1] > 0)
    assert np.all(clf.dual_coef_[~np.isnan(Y[:, 3]), 3] < 0)
    assert np.isfinite(clf.decision_function(X)).all()


def test_class_weight_with_single_class_tasks():
    X, Y = _one_class_problem(seed=38)
    kw = dict(alpha=0.3, kernel="linear", tol=1e-10)
    # "balanced" is per task: the skipped tasks do not change the others.
    with pytest.warns(SingleClassTaskWarning):
        clf = MultiTaskKernelClassifier(class_weight="balanced", **kw).fit(X, Y)
    for t in (0, 2):
        rows = ~np.isnan(Y[:, t])
        ref = LogisticRegression(C=1 / 0.6, class_weight="balanced", tol=1e-12,
                                 max_iter=10_000).fit(X[rows], Y[rows, t])
        np.testing.assert_allclose(clf.decision_function(X)[:, t],
                                   ref.decision_function(X), atol=1e-6)
    # A class weight of zero leaves task 0 with one weighted class: skipped, or
    # named by "raise".
    weights = [{0.0: 0.0}, None, None, None]
    with pytest.warns(SingleClassTaskWarning, match="tasks 0, 1, 3"):
        clf = MultiTaskKernelClassifier(class_weight=weights, **kw).fit(X, Y)
    assert clf.intercept_[0] == np.inf
    Y_two = Y.copy()
    Y_two[:, [1, 3]] = Y[:, [0, 2]]
    with pytest.raises(ValueError, match=r"sample_weight times class_weight\): "
                       r"task\(s\) 0\."):
        MultiTaskKernelClassifier(class_weight=weights, single_class_tasks="raise",
                                  **kw).fit(X, Y_two)


def test_learned_structure_with_a_skipped_task():
    X, Y = _one_class_problem(seed=39)
    with pytest.warns(SingleClassTaskWarning, match="tasks 1, 3"):
        learned = MultiTaskKernelClassifier(alpha=0.3, task_structure=TaskRelation(1.0),
                                            tol=1e-6).fit(X, Y)
    history = np.asarray(learned.objective_history_)
    assert np.all(np.diff(history) <= 1e-9 * np.abs(history[:-1]))
    assert np.linalg.eigvalsh(learned.task_structure_).min() > 0
    with pytest.warns(SingleClassTaskWarning):
        fixed = MultiTaskKernelClassifier(alpha=0.3, tol=1e-10,
                                          task_structure=learned.task_structure_).fit(X, Y)
    np.testing.assert_allclose(learned.decision_function(X)[:, [0, 2]],
                               fixed.decision_function(X)[:, [0, 2]], atol=1e-6)
    np.testing.assert_array_equal(learned.predict_proba(X)[:, [1, 3]],
                                  np.tile([1.0, 0.0], (X.shape[0], 1)))


def test_per_task_metrics_of_skipped_tasks():
    from sklearn.exceptions import UndefinedMetricWarning

    from rkhsmtl.metrics import accuracy_score, get_scorer, log_loss, roc_auc_score

    X, Y = _one_class_problem(seed=40)
    with pytest.warns(SingleClassTaskWarning):
        clf = MultiTaskKernelClassifier().fit(X, Y)
    X_test, Y_test = _problem(seed=41, n=30, T=4, missing=0.0)
    scores = clf.decision_function(X_test)
    auc = roc_auc_score(Y_test, scores, average=None)
    # A constant score ranks nothing: every positive-negative pair is a tie.
    np.testing.assert_allclose(auc[[1, 3]], 0.5)
    assert np.isfinite(auc).all()
    proba = clf.predict_proba(X_test)
    losses = log_loss(Y_test, proba, average=None, classes=clf.classes_)
    eps = np.finfo(float).eps
    # Probability 1 on the one class seen: the clipped loss of each wrong label.
    np.testing.assert_allclose(losses[1], -np.log(eps) * np.mean(Y_test[:, 1] == 0))
    np.testing.assert_allclose(losses[3], -np.log(eps) * np.mean(Y_test[:, 3] == 1))
    accuracy = accuracy_score(Y_test, clf.predict(X_test), average=None,
                              classes=clf.classes_)
    np.testing.assert_allclose(accuracy[[1, 3]], [np.mean(Y_test[:, 1] == 1),
                                                  np.mean(Y_test[:, 3] == 0)])
    assert np.isfinite(get_scorer("roc_auc")(clf, X_test, Y_test))
    # A test set where the skipped task has one class too: undefined, not a crash.
    Y_test[:, 1] = 1.0
    with pytest.warns(UndefinedMetricWarning, match=r"task\(s\) \[1\]"):
        auc = roc_auc_score(Y_test, clf.decision_function(X_test), average=None)
    assert np.isnan(auc[1]) and np.isfinite(auc[[0, 2, 3]]).all()


def test_cross_validation_with_folds_that_leave_one_class():
    """The user's case: a plain KFold leaves a task with one class in a training
    fold; the fit goes on with a warning instead of failing the fold."""
    from sklearn.model_selection import cross_val_score

    rng = np.random.default_rng(42)
    X = rng.normal(size=(24, 2))
    Y = (X[:, [0, 1]] > 0).astype(float)
    Y[:, 1] = np.nan
    # Task 1: one negative, two positives; the first training fold has only these.
    Y[[0, 8, 16], 1] = [0.0, 1.0, 1.0]
    with pytest.warns(SingleClassTaskWarning):
        scores = cross_val_score(MultiTaskKernelClassifier(), X, Y, error_score="raise",
                                 cv=KFold(3))
    assert np.isfinite(scores).all()


def test_skipped_tasks_on_array_api_inputs():
    xp = pytest.importorskip("array_api_strict")
    X, Y = _one_class_problem(seed=43, n=30)
    with pytest.warns(SingleClassTaskWarning):
        ref = MultiTaskKernelClassifier(gamma=0.5).fit(X, Y)
    with pytest.warns(SingleClassTaskWarning):
        clf = MultiTaskKernelClassifier(gamma=0.5).fit(xp.asarray(X), xp.asarray(Y))
    assert type(clf.skipped_tasks_) is type(clf.intercept_) is type(xp.asarray(X))
    np.testing.assert_array_equal(np.asarray(clf.skipped_tasks_), [1, 3])
    np.testing.assert_allclose(np.asarray(clf.predict_proba(xp.asarray(X))),
                               ref.predict_proba(X), atol=1e-12)
