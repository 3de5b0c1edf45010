"""MultiTaskStratifiedKFold: a partition, balanced per task and per class."""

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score

from rkhsmtl import MultiTaskKernelClassifier
from rkhsmtl.model_selection import MultiTaskStratifiedKFold


def _sparse_labels(seed, n=200, T=8, per_task=15, rate=0.15):
    rng = np.random.default_rng(seed)
    Y = np.full((n, T), np.nan)
    for t in range(T):
        idx = rng.choice(n, per_task, replace=False)
        Y[idx, t] = rng.random(per_task) < rate
        Y[idx[:2], t] = 1.0  # at least two positives
        Y[idx[2:4], t] = 0.0
    return Y


@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("seed", range(5))
def test_partition_and_class_balance(shuffle, seed):
    Y = _sparse_labels(seed)
    cv = MultiTaskStratifiedKFold(3, shuffle=shuffle, random_state=seed)
    tests = [test for _, test in cv.split(Y, Y)]
    assert cv.get_n_splits() == 3
    np.testing.assert_array_equal(np.sort(np.concatenate(tests)), np.arange(len(Y)))
    for train, _ in cv.split(Y, Y):
        for t in range(Y.shape[1]):
            labels = Y[train, t]
            assert set(labels[~np.isnan(labels)]) == {0.0, 1.0}


def test_disjoint_groups_are_spread_within_one():
    """One observed task per row: every (task, class) count differs by <= 1."""
    rng = np.random.default_rng(0)
    n, T = 90, 3
    Y = np.full((n, T), np.nan)
    task = rng.integers(0, T, n)
    Y[np.arange(n), task] = rng.integers(0, 2, n)
    cv = MultiTaskStratifiedKFold(4, shuffle=True, random_state=1)
    counts = np.zeros((T, 2, 4))
    for k, (_, test) in enumerate(cv.split(Y, Y)):
        for t in range(T):
            for c in (0, 1):
                counts[t, c, k] = np.sum(Y[test, t] == c)
    assert (counts.max(axis=2) - counts.min(axis=2)).max() <= 1


def test_plain_kfold_fails_where_the_stratified_one_works():
    Y = _sparse_labels(3)
    X = np.random.default_rng(3).normal(size=(len(Y), 4))

    def one_class_somewhere(cv):
        return any(len(np.unique(Y[tr, t][~np.isnan(Y[tr, t])])) < 2
                   for tr, _ in cv.split(X, Y) for t in range(Y.shape[1]))

    assert any(one_class_somewhere(KFold(3, shuffle=True, random_state=s))
               for s in range(20))
    assert not any(one_class_somewhere(
        MultiTaskStratifiedKFold(3, shuffle=True, random_state=s)) for s in range(20))
    scores = cross_val_score(MultiTaskKernelClassifier(), X, Y, error_score="raise",
                             cv=MultiTaskStratifiedKFold(3, shuffle=True, random_state=0))
    assert np.isfinite(scores).all()


def test_regression_targets_are_stratified_per_task():
    rng = np.random.default_rng(4)
    Y = rng.normal(size=(60, 3))
    Y[rng.random(Y.shape) < 0.6] = np.nan
    cv = MultiTaskStratifiedKFold(3)
    per_fold = np.array([(~np.isnan(Y[test])).sum(axis=0) for _, test in cv.split(Y, Y)])
    assert (per_fold.max(axis=0) - per_fold.min(axis=0)).max() <= 1


def test_in_grid_search_with_string_labels():
    Y = _sparse_labels(5, n=120, T=3)
    labels = np.where(Y > 0, "yes", "no").astype(object)
    labels[np.isnan(Y)] = None
    X = np.random.default_rng(5).normal(size=(len(Y), 3))
    search = GridSearchCV(MultiTaskKernelClassifier(), {"alpha": [0.1, 1.0]},
                          cv=MultiTaskStratifiedKFold(3, shuffle=True, random_state=0),
                          error_score="raise")
    search.fit(X, labels)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()


@pytest.mark.parametrize("kwargs, match", [
    ({"n_splits": 1}, "n_splits"), ({"stratify": "rows"}, "stratify"),
    ({"n_splits": 50}, "greater than the number of samples"),
])
def test_bad_parameters(kwargs, match):
    Y = _sparse_labels(6, n=20, T=2, per_task=10)
    with pytest.raises(ValueError, match=match):
        list(MultiTaskStratifiedKFold(**kwargs).split(Y, Y))


def test_needs_y():
    with pytest.raises(ValueError, match="needs y"):
        list(MultiTaskStratifiedKFold(2).split(np.zeros((4, 1)), None))


# ------------------------------------------------------------------ searches


def _task_sorted(seed=0, n_per_task=15, T=3, kind="regression"):
    """One label per row, rows grouped by task (the long-to-wide layout)."""
    rng = np.random.default_rng(seed)
    n = n_per_task * T
    X = rng.normal(size=(n, 3))
    F = X @ rng.normal(size=(3, T)) + 0.3 * rng.normal(size=(n, T))
    task = np.repeat(np.arange(T), n_per_task)
    Y = np.full((n, T), np.nan)
    Y[np.arange(n), task] = F[np.arange(n), task]
    if kind == "classification":
        labels = np.where(Y > 0, "yes", "no").astype(object)
        labels[np.isnan(Y)] = None
        return X, labels
    return X, Y


GRID = {"alpha": [1e-3, 1.0, 100.0]}


def test_sklearn_string_scoring_on_task_sorted_data():
    from sklearn.base import clone

    from rkhsmtl import MultiTaskKernelRidge
    from rkhsmtl.metrics import get_scorer
    from rkhsmtl.model_selection import MultiTaskGridSearchCV

    X, Y = _task_sorted()
    model = MultiTaskKernelRidge(kernel="linear")
    # scikit-learn's own "r2" cannot skip a missing label: NaN scores, or an
    # error with error_score="raise" (what the user guide recommends).
    with pytest.warns(UserWarning) as records:
        plain = GridSearchCV(model, GRID, scoring="r2",
                             cv=MultiTaskStratifiedKFold(3)).fit(X, Y)
    assert any("Scoring failed" in str(r.message) for r in records)
    assert np.isnan(plain.cv_results_["mean_test_score"]).all()
    with pytest.raises(ValueError, match="Input contains NaN"):
        GridSearchCV(model, GRID, scoring="r2", cv=MultiTaskStratifiedKFold(3),
                     error_score="raise").fit(X, Y)
    search = MultiTaskGridSearchCV(model, GRID, scoring="r2", cv=3)
    given = search.get_params(deep=False)
    search.fit(X, Y)
    reference = GridSearchCV(model, GRID, scoring=get_scorer("macro_r2"),
                             cv=MultiTaskStratifiedKFold(3)).fit(X, Y)
    scores = search.cv_results_["mean_test_score"]
    assert np.isfinite(scores).all()
    np.testing.assert_allclose(scores, reference.cv_results_["mean_test_score"])
    assert search.best_params_ == reference.best_params_ == {"alpha": 1e-3}
    assert search.n_splits_ == 3
    assert repr(search.scorer_) == "get_scorer('r2')"
    # The parameters stay as given, so clone and get_params round-trip.
    assert search.get_params(deep=False) == given
    assert search.scoring == "r2" and search.cv == 3
    cloned = clone(search).get_params(deep=False)
    assert {k: cloned[k] for k in ("scoring", "cv", "param_grid", "refit")} == {
        "scoring": "r2", "cv": 3, "param_grid": GRID, "refit": True}
    assert search.score(X, Y) == pytest.approx(
        get_scorer("r2")(search.best_estimator_, X, Y))


def test_default_cv_is_five_stratified_folds_and_randomized_search():
    from rkhsmtl import MultiTaskKernelRidge
    from rkhsmtl.metrics import get_scorer
    from rkhsmtl.model_selection import MultiTaskRandomizedSearchCV

    X, Y = _task_sorted(seed=1)
    search = MultiTaskRandomizedSearchCV(
        MultiTaskKernelRidge(kernel="linear"), GRID, n_iter=2, random_state=0,
        scoring=["neg_mean_squared_error", "r2"], refit="neg_mean_squared_error")
    search.fit(X, Y)
    assert search.cv is None and search.n_splits_ == 5
    reference = GridSearchCV(
        MultiTaskKernelRidge(kernel="linear"),
        {"alpha": [p["alpha"] for p in search.cv_results_["params"]]},
        scoring=get_scorer("neg_macro_mse"), cv=MultiTaskStratifiedKFold(5)).fit(X, Y)
    np.testing.assert_allclose(search.cv_results_["mean_test_neg_mean_squared_error"],
                               reference.cv_results_["mean_test_score"])
    assert set(search.scorer_) == {"neg_mean_squared_error", "r2"}


def test_dict_with_per_task_scorers_flattens_and_refits():
    from rkhsmtl import MultiTaskKernelRidge
    from rkhsmtl.metrics import get_scorer, make_multitask_scorer, r2_score
    from rkhsmtl.model_selection import MultiTaskGridSearchCV

    X, Y = _task_sorted(seed=2)
    model = MultiTaskKernelRidge(kernel="linear")
    scoring = {"r2": make_multitask_scorer("r2", per_task=True),
               "mse": "neg_mean_squared_error",
               "mse_per": make_multitask_scorer("mse", average=None)}
    search = MultiTaskGridSearchCV(model, GRID, scoring=scoring, refit="r2", cv=3)
    search.fit(X, Y)
    keys = {k[len("mean_test_"):] for k in search.cv_results_ if k.startswith("mean_test_")}
    assert keys == {"r2", "r2_task_0", "r2_task_1", "r2_task_2", "mse",
                    "mse_per_task_0", "mse_per_task_1", "mse_per_task_2"}
    train, test = next(MultiTaskStratifiedKFold(3).split(X, Y))
    fitted = MultiTaskKernelRidge(kernel="linear", alpha=1e-3).fit(X[train], Y[train])
    per_task = r2_score(Y[test], fitted.predict(X[test]), average=None)
    for t in range(3):
        assert search.cv_results_[f"split0_test_r2_task_{t}"][0] == pytest.approx(
            per_task[t])
    assert search.cv_results_["split0_test_r2"][0] == pytest.approx(per_task.mean())
    assert search.best_index_ == np.argmax(search.cv_results_["mean_test_r2"])
    assert search.best_score_ == search.cv_results_["mean_test_r2"][search.best_index_]
    assert search.score(X, Y) == pytest.approx(
        get_scorer("r2")(search.best_estimator_, X, Y))
    assert search.scoring is scoring
    # A per-task key picks the candidate too.
    by_task = MultiTaskGridSearchCV(model, GRID, scoring=scoring, refit="mse_per_task_1",
                                    cv=3).fit(X, Y)
    assert by_task.best_index_ == np.argmax(by_task.cv_results_["mean_test_mse_per_task_1"])
    # The single per-task scorer is scikit-learn's callable returning a dict.
    single = MultiTaskGridSearchCV(model, GRID, scoring=scoring["r2"], refit="score",
                                   cv=3).fit(X, Y)
    np.testing.assert_allclose(single.cv_results_["mean_test_task_2"],
                               search.cv_results_["mean_test_r2_task_2"])


@pytest.mark.parametrize("scoring, refit, match", [
    ("roc_auc_ovr", True, "use 'roc_auc'"),
    ("neg_mean_absolute_error", True, "no NaN-aware multi-task version"),
    (["r2", "r3"], "r2", "'r3' is not a multi-task scorer name"),
    ("per_task", True, r"refit=True does not name one of the scores \['task_0'"),
    ("dict", "r2_task_5", r"refit='r2_task_5' does not name one of the scores"),
    ("dict", True, "refit=True does not name"),
    ("clash", "r2", r"give the keys \['r2_task_0'\] more than once"),
])
def test_search_errors_come_before_any_fit(scoring, refit, match):
    from sklearn.base import BaseEstimator, RegressorMixin

    from rkhsmtl.metrics import make_multitask_scorer
    from rkhsmtl.model_selection import MultiTaskGridSearchCV

    class NeverFitted(RegressorMixin, BaseEstimator):
        def __init__(self, alpha=1.0):
            self.alpha = alpha

        def fit(self, X, y):
            raise AssertionError("fit must not run")

    per_task = make_multitask_scorer("r2", per_task=True)
    if isinstance(scoring, str):
        scoring = {"per_task": per_task, "dict": {"r2": per_task},
                   "clash": {"r2": per_task, "r2_task_0": "r2"}}.get(scoring, scoring)
    X, Y = _task_sorted(seed=3)
    with pytest.raises(ValueError, match=match):
        MultiTaskGridSearchCV(NeverFitted(), {"alpha": [1.0]}, scoring=scoring,
                              refit=refit, cv=3).fit(X, Y)


def test_failing_scorer_in_a_flattened_dict_follows_error_score():
    from rkhsmtl import MultiTaskKernelRidge
    from rkhsmtl.metrics import make_multitask_scorer
    from rkhsmtl.model_selection import MultiTaskGridSearchCV

    X, Y = _task_sorted(seed=4)
    # A regressor has no decision values: the ROC AUC scorer fails.
    scoring = {"r2": make_multitask_scorer("r2", per_task=True),
               "auc": make_multitask_scorer("roc_auc", per_task=True)}
    model = MultiTaskKernelRidge(kernel="linear")
    with pytest.warns(UserWarning, match="Scoring 'auc' failed"):
        search = MultiTaskGridSearchCV(model, {"alpha": [1.0]}, scoring=scoring,
                                       refit="r2", cv=3, error_score=-1.0).fit(X, Y)
    assert search.cv_results_["mean_test_auc_task_1"][0] == -1.0
    assert search.cv_results_["mean_test_auc"][0] == -1.0
    assert np.isfinite(search.cv_results_["mean_test_r2"][0])
    with pytest.raises(ValueError, match="none of the response methods"):
        MultiTaskGridSearchCV(model, {"alpha": [1.0]}, scoring=scoring, refit="r2",
                              cv=3, error_score="raise").fit(X, Y)


def test_flattened_dict_routes_sample_weight():
    import sklearn

    from rkhsmtl import MultiTaskKernelRidge
    from rkhsmtl.metrics import make_multitask_scorer, mean_squared_error
    from rkhsmtl.model_selection import MultiTaskGridSearchCV

    X, Y = _task_sorted(seed=5)
    w = np.random.default_rng(5).uniform(0.1, 1.0, len(X))
    with sklearn.config_context(enable_metadata_routing=True):
        model = MultiTaskKernelRidge(kernel="linear", alpha=0.1).set_fit_request(
            sample_weight=False)
        scoring = {"mse": make_multitask_scorer("mse", per_task=True)
                   .set_score_request(sample_weight=True)}
        search = MultiTaskGridSearchCV(model, {"alpha": [0.1]}, scoring=scoring,
                                       refit="mse", cv=3).fit(X, Y, sample_weight=w)
        train, test = next(MultiTaskStratifiedKFold(3).split(X, Y))
        expected = -mean_squared_error(Y[test], model.fit(X[train], Y[train])
                                       .predict(X[test]), sample_weight=w[test])
    assert search.cv_results_["split0_test_mse"][0] == pytest.approx(expected)


def _pipeline_ridge():
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from rkhsmtl import MultiTaskKernelRidge

    return make_pipeline(StandardScaler(), MultiTaskKernelRidge()), \
        {"multitaskkernelridge__alpha": [0.1, 1.0]}


def _pipeline_classifier():
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), MultiTaskKernelClassifier()), \
        {"multitaskkernelclassifier__alpha": [0.1, 1.0]}


def _linear_regressor():
    from rkhsmtl.linear import L21, MultiTaskLinearRegressor

    return MultiTaskLinearRegressor(penalty=L21()), {"alpha": [0.01, 0.1]}


def _linear_classifier():
    from rkhsmtl.linear import L21, MultiTaskLinearClassifier

    return MultiTaskLinearClassifier(penalty=L21(), max_iter=100), {"alpha": [0.1]}


def _dm(kind):
    from rkhsmtl import DistributionMatchingMTL, MultiTaskKernelRidge

    estimator = MultiTaskKernelRidge() if kind == "regression" else \
        MultiTaskKernelClassifier()
    return DistributionMatchingMTL(estimator, weighting="none", random_state=0), \
        {"estimator__alpha": [0.1]}


@pytest.mark.parametrize("make, kind, scoring", [
    (_pipeline_ridge, "regression", "neg_root_mean_squared_error"),
    (_linear_regressor, "regression", "explained_variance"),
    (lambda: _dm("regression"), "regression", "r2"),
    (lambda: (MultiTaskKernelClassifier(), {"alpha": [0.1, 1.0]}), "classification",
     "roc_auc"),
    (_pipeline_classifier, "classification", ["neg_log_loss", "accuracy", "f1"]),
    (_linear_classifier, "classification", "neg_log_loss"),
    (lambda: _dm("classification"), "classification", "accuracy"),
], ids=["pipeline-ridge", "linear-regressor", "dm-ridge", "classifier",
        "pipeline-classifier", "linear-classifier", "dm-classifier"])
def test_search_with_the_package_estimators(make, kind, scoring):
    from rkhsmtl.metrics import get_scorer
    from rkhsmtl.model_selection import MultiTaskGridSearchCV

    X, Y = _task_sorted(seed=6, n_per_task=12, kind=kind)
    estimator, grid = make()
    refit = scoring if isinstance(scoring, str) else scoring[0]
    search = MultiTaskGridSearchCV(estimator, grid, scoring=scoring, refit=refit,
                                   cv=3, error_score="raise").fit(X, Y)
    assert np.isfinite(search.cv_results_[f"mean_test_{refit}" if not isinstance(
        scoring, str) else "mean_test_score"]).all()
    assert search.score(X, Y) == pytest.approx(
        get_scorer(refit)(search.best_estimator_, X, Y))
