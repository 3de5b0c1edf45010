"""scikit-learn's scoring names, multi-metric dicts and per-task scorers.

Every scikit-learn name that :func:`rkhsmtl.metrics.get_scorer` accepts is checked
against the metric computed by hand (scikit-learn's function on each task's
observed rows) on targets with missing labels, and against scikit-learn's own
scorer on complete targets.
"""

import warnings

import numpy as np
import pytest
import sklearn.metrics as skm
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import GridSearchCV, KFold, cross_validate

from rkhsmtl import MultiTaskKernelClassifier, MultiTaskKernelRidge
from rkhsmtl import metrics as mtm


def _regression(seed=0, n=40, T=3, missing=0.3):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 3))
    Y = X @ rng.standard_normal((3, T)) + 0.5 * rng.standard_normal((n, T))
    Y_missing = Y.copy()
    Y_missing[rng.random(Y.shape) < missing] = np.nan
    return X, Y, Y_missing


def _classification(seed=0, n=60, T=3, missing=0.3):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 3))
    margin = X @ rng.standard_normal((3, T)) + 0.8 * rng.standard_normal((n, T))
    Y = (margin > 0).astype(float)
    Y_missing = Y.copy()
    Y_missing[rng.random(Y.shape) < missing] = np.nan
    return X, Y, Y_missing


def _by_task(function, Y, R):
    """Mean over tasks of ``function`` on each task's observed rows."""
    values = []
    for t in range(Y.shape[1]):
        observed = ~np.isnan(Y[:, t])
        values.append(function(Y[observed, t], R[observed, t]))
    return np.mean(values)


REGRESSION = {
    "r2": (skm.r2_score, 1),
    "explained_variance": (skm.explained_variance_score, 1),
    "neg_mean_squared_error": (skm.mean_squared_error, -1),
    "neg_root_mean_squared_error": (skm.root_mean_squared_error, -1),
}


@pytest.mark.parametrize("name", sorted(REGRESSION))
def test_sklearn_regression_names(name):
    X, Y, Y_missing = _regression()
    model = MultiTaskKernelRidge(kernel="linear", alpha=0.1).fit(X[:25], Y_missing[:25])
    P = model.predict(X[25:])
    function, sign = REGRESSION[name]
    scorer = mtm.get_scorer(name)
    assert repr(scorer) == f"get_scorer({name!r})"
    expected = sign * _by_task(function, Y_missing[25:], P)
    assert scorer(model, X[25:], Y_missing[25:]) == pytest.approx(expected, rel=1e-10)
    # Complete targets: scikit-learn's own scorer (average over outputs).
    assert scorer(model, X[25:], Y[25:]) == pytest.approx(
        skm.get_scorer(name)(model, X[25:], Y[25:]), rel=1e-10)


CLASSIFICATION = {
    "accuracy": (skm.accuracy_score, "predict", 1),
    "f1": (skm.f1_score, "predict", 1),
    "roc_auc": (skm.roc_auc_score, "decision_function", 1),
    "neg_log_loss": (lambda y, p: skm.log_loss(y, p, labels=[0.0, 1.0]),
                     "predict_proba", -1),
}


@pytest.mark.parametrize("name", sorted(CLASSIFICATION))
def test_sklearn_classification_names(name):
    X, Y, Y_missing = _classification()
    model = MultiTaskKernelClassifier(kernel="linear").fit(X[:40], Y_missing[:40])
    function, method, sign = CLASSIFICATION[name]
    R = getattr(model, method)(X[40:])
    expected = sign * _by_task(function, Y_missing[40:], R)
    assert mtm.get_scorer(name)(model, X[40:], Y_missing[40:]) == pytest.approx(
        expected, rel=1e-10)
    if name == "roc_auc":  # complete tasks: scikit-learn's macro over labels
        assert mtm.get_scorer(name)(model, X[40:], Y[40:]) == pytest.approx(
            skm.get_scorer(name)(model, X[40:], Y[40:]), rel=1e-10)
    # One complete task and a plain scikit-learn classifier: scikit-learn's scorer.
    y = Y[:, 0]
    plain = LogisticRegression().fit(X[:40], y[:40])
    assert mtm.get_scorer(name)(plain, X[40:], y[40:]) == pytest.approx(
        skm.get_scorer(name)(plain, X[40:], y[40:]), rel=1e-10)


def test_root_mean_squared_error_macro_micro_and_undefined_task():
    from rkhsmtl.metrics._scorers import _root_mean_squared_error

    _, Y, Y_missing = _regression(seed=1)
    P = Y + 0.3
    Y_missing[:, 2] = np.nan
    with pytest.warns(UndefinedMetricWarning, match=r"root mean squared error.*\[2\]"):
        macro = _root_mean_squared_error(Y_missing, P)
    assert macro == pytest.approx(_by_task(skm.root_mean_squared_error,
                                           Y_missing[:, :2], P[:, :2]))
    observed = ~np.isnan(Y_missing)
    assert _root_mean_squared_error(Y_missing, P, average="micro") == pytest.approx(
        skm.root_mean_squared_error(Y_missing[observed], P[observed]))
    assert mtm.get_scorer("neg_micro_rmse")._sign == -1


def test_multimetric_lists_and_dicts():
    X, _, Y_missing = _regression(seed=2)
    model = MultiTaskKernelRidge(kernel="linear").fit(X, Y_missing)
    scorers = mtm.get_scorer(["r2", "neg_macro_nmse"])
    assert list(scorers) == ["r2", "neg_macro_nmse"]
    assert scorers["r2"](model, X, Y_missing) == pytest.approx(
        mtm.r2_score(Y_missing, model.predict(X)))
    assert list(mtm.get_scorer(("r2",))) == ["r2"]
    custom = mtm.make_multitask_scorer("r2", average="micro")
    scorers = mtm.get_scorer({"mse": "neg_mean_squared_error", "pooled": custom})
    assert scorers["pooled"] is custom
    assert scorers["mse"](model, X, Y_missing) == pytest.approx(
        -mtm.mean_squared_error(Y_missing, model.predict(X)))


@pytest.mark.parametrize("scoring, match", [
    ([], "empty list"),
    ({}, "empty dict"),
    (["r2", "r2"], r"unique, got \['r2'\]"),
    (["r2", mtm.make_multitask_scorer("r2")], "names only"),
    ({1: "r2"}, "keys of a scoring dict must be strings"),
    ({"a": 3}, r"scoring\['a'\] must be a scorer name or a callable"),
    (3, "must be a scorer name, a callable"),
    (["r2", "precision"], "'precision' has no NaN-aware multi-task version"),
])
def test_multimetric_errors(scoring, match):
    with pytest.raises(ValueError, match=match):
        mtm.get_scorer(scoring)


@pytest.mark.parametrize("name, match", [
    ("f1_macro", "use 'macro_f1'"),
    ("f1_micro", "use 'micro_f1'"),
    ("roc_auc_ovr", "use 'roc_auc'"),
    ("neg_mean_absolute_error", "scikit-learn's scoring 'neg_mean_absolute_error' has "
                                "no NaN-aware"),
    ("r2_score", "'r2_score' is not a multi-task scorer name"),
])
def test_names_that_cannot_be_honoured(name, match):
    with pytest.raises(ValueError, match=match) as error:
        mtm.get_scorer(name)
    # The message lists what is accepted.
    assert "'neg_root_mean_squared_error'" in str(error.value)
    assert name not in mtm.get_scorer_names()


def test_every_listed_name_gives_a_scorer():
    X, _, Y_missing = _regression(seed=3)
    model = MultiTaskKernelRidge(kernel="linear").fit(X, Y_missing)
    for name in mtm.get_scorer_names():
        scorer = mtm.get_scorer(name)
        if scorer._response_method == "predict" and scorer._metric not in (
                mtm.accuracy_score, mtm.f1_score):
            assert np.isfinite(scorer(model, X, Y_missing)), name


def test_average_none_scorer_returns_per_task_dict():
    X, _, Y_missing = _regression(seed=4)
    cv = KFold(3, shuffle=True, random_state=0)
    model = MultiTaskKernelRidge(kernel="linear")
    scorer = mtm.make_multitask_scorer("mse", average=None)
    values = scorer(model.fit(X, Y_missing), X, Y_missing)
    expected = -mtm.mean_squared_error(Y_missing, model.predict(X), average=None)
    assert list(values) == ["task_0", "task_1", "task_2"]
    np.testing.assert_allclose(list(values.values()), expected)
    # Usable as the single scoring of scikit-learn's model selection.
    result = cross_validate(model, X, Y_missing, cv=cv, scoring=scorer)
    assert {"test_task_0", "test_task_2"} <= set(result)
    assert "test_score" not in result


def test_dict_of_our_scorers_with_fit_sample_weight_in_plain_grid_search():
    # scikit-learn (1.7 and later) asks every scorer of a dict whether it takes
    # sample_weight, and then weights the scores with the weights given to fit.
    import sklearn

    weighted = tuple(int(p) for p in sklearn.__version__.split(".")[:2]) >= (1, 7)
    X, _, Y_missing = _regression(seed=5)
    w = np.random.default_rng(5).uniform(0.5, 1.5, len(X))
    search = GridSearchCV(
        MultiTaskKernelRidge(kernel="linear"), {"alpha": [0.1, 1.0]}, cv=KFold(3),
        scoring={"r2": mtm.get_scorer("r2"), "mse": mtm.get_scorer("neg_macro_mse")},
        refit="r2").fit(X, Y_missing, sample_weight=w)
    train, test = next(KFold(3).split(X))
    fitted = MultiTaskKernelRidge(kernel="linear", alpha=0.1).fit(
        X[train], Y_missing[train], sample_weight=w[train])
    assert search.cv_results_["split0_test_mse"][0] == pytest.approx(
        -mtm.mean_squared_error(Y_missing[test], fitted.predict(X[test]),
                                sample_weight=w[test] if weighted else None))


def test_sklearn_scorer_of_another_estimator_is_left_alone():
    # A callable passes through unchanged, even scikit-learn's own scorer.
    sk = skm.get_scorer("r2")
    assert mtm.get_scorer(sk) is sk
    X, Y, _ = _regression(seed=6)
    model = LinearRegression().fit(X, Y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert mtm.get_scorer("r2")(model, X, Y) == pytest.approx(sk(model, X, Y))
