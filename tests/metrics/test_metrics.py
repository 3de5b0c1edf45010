"""NaN-aware multi-task metrics and scorers.

Each per-task value is checked against the matching ``sklearn.metrics`` function on
that task's observed rows (with their weights), each micro value against the same
function on all observed entries pooled, and the scorers inside ``GridSearchCV``
and ``cross_validate`` with missing labels.
"""

import warnings

import numpy as np
import pandas as pd
import pytest
import sklearn.metrics as skm
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, KFold, cross_validate

from rkhsmtl import MultiTaskKernelRidge
from rkhsmtl import metrics as mtm
from rkhsmtl._labels import missing_mask

# ---------------------------------------------------------------- data helpers


def _regression(seed=0, n=30, T=4, missing=0.3):
    rng = np.random.default_rng(seed)
    Y = rng.standard_normal((n, T)) + np.arange(T)
    P = Y + 0.6 * rng.standard_normal((n, T)) + 0.2
    Y[rng.random(Y.shape) < missing] = np.nan
    return Y, P


def _weights(kind, shape, seed=1):
    rng = np.random.default_rng(seed)
    if kind is None:
        return None
    if kind == "sample":
        return rng.uniform(0.2, 2.0, shape[0])
    return rng.uniform(0.2, 2.0, shape)


def _task_weights(W, observed, t):
    if W is None:
        return None
    return (W if W.ndim == 1 else W[:, t])[observed]


def _classification(seed=0, n=40, T=3, missing=0.3):
    """String labels ("no"/"yes") with None for missing, decision values, probas."""
    rng = np.random.default_rng(seed)
    S = np.round(rng.standard_normal((n, T)), 1)  # rounding makes ties
    positive = S + rng.standard_normal((n, T)) > 0
    Y = np.where(positive, "yes", "no").astype(object)
    Y[rng.random(Y.shape) < missing] = None
    P = 1 / (1 + np.exp(-S))
    L = np.where(S > 0, "yes", "no")
    return Y, S, P, L


REGRESSION = [
    (mtm.mean_squared_error, skm.mean_squared_error),
    (mtm.r2_score, skm.r2_score),
    (mtm.explained_variance_score, skm.explained_variance_score),
]


def _sk_nmse(y, p, sample_weight=None):
    variance = np.average((y - np.average(y, weights=sample_weight)) ** 2,
                          weights=sample_weight)
    return skm.mean_squared_error(y, p, sample_weight=sample_weight) / variance


REGRESSION.append((mtm.normalized_mean_squared_error, _sk_nmse))

# ------------------------------------------------------------ regression metrics


@pytest.mark.parametrize("ours,theirs", REGRESSION, ids=lambda f: f.__name__)
@pytest.mark.parametrize("weights", [None, "sample", "entry"])
def test_regression_per_task_macro_micro_match_sklearn(ours, theirs, weights):
    Y, P = _regression()
    W = _weights(weights, Y.shape)
    per_task = ours(Y, P, sample_weight=W, average=None)
    observed = ~np.isnan(Y)
    expected = [theirs(Y[observed[:, t], t], P[observed[:, t], t],
                       sample_weight=_task_weights(W, observed[:, t], t))
                for t in range(Y.shape[1])]
    np.testing.assert_allclose(per_task, expected, rtol=1e-12)
    assert ours(Y, P, sample_weight=W) == pytest.approx(np.mean(expected), rel=1e-12)
    Wfull = np.ones(Y.shape) if W is None else np.broadcast_to(
        W if W.ndim == 2 else W[:, None], Y.shape)
    pooled = theirs(Y[observed], P[observed], sample_weight=Wfull[observed])
    assert ours(Y, P, sample_weight=W, average="micro") == pytest.approx(pooled,
                                                                         rel=1e-12)


def test_nmse_is_one_minus_r2_and_micro_r2_is_pooled_explained_variance():
    Y, P = _regression(seed=3)
    W = _weights("entry", Y.shape)
    np.testing.assert_allclose(
        mtm.normalized_mean_squared_error(Y, P, sample_weight=W, average=None),
        1 - mtm.r2_score(Y, P, sample_weight=W, average=None), rtol=1e-12)
    pooled = mtm.pooled_explained_variance(Y, P, sample_weight=W)
    assert mtm.r2_score(Y, P, sample_weight=W, average="micro") == pytest.approx(pooled)
    assert mtm.normalized_mean_squared_error(
        Y, P, sample_weight=W, average="micro") == pytest.approx(1 - pooled)
    # Explained variance ignores a constant shift of a task's predictions; R2 doesn't.
    shifted = P + np.array([5.0, 0, 0, 0])
    ev = mtm.explained_variance_score(Y, shifted, average=None)
    np.testing.assert_allclose(ev, mtm.explained_variance_score(Y, P, average=None))
    assert mtm.r2_score(Y, shifted, average=None)[0] < mtm.r2_score(Y, P, average=None)[0]


def test_nan_r2_score_is_backward_compatible():
    Y, P = _regression(seed=4)
    Y[:, 2] = np.nan
    Y[0, 2] = 1.0  # one label: no R2, left out silently as before
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        old = mtm.nan_r2_score(Y, P)
        raw = mtm.nan_r2_score(Y, P, multioutput="raw_values")
    with pytest.warns(UndefinedMetricWarning, match=r"task\(s\) \[2\]"):
        assert mtm.r2_score(Y, P) == pytest.approx(old)
    assert np.isnan(raw[2])
    with pytest.raises(ValueError, match="multioutput"):
        mtm.nan_r2_score(Y, P, multioutput="variance_weighted")


@pytest.mark.parametrize("missing", ["nan", "none", "pandas_na"])
def test_missing_value_kinds_regression(missing):
    Y, P = _regression(seed=5)
    expected = mtm.r2_score(Y, P, average=None)
    if missing == "none":
        Y_in = np.where(np.isnan(Y), None, Y).astype(object)
    elif missing == "pandas_na":
        Y_in = pd.DataFrame(Y).astype("Float64")
        assert Y_in.isna().to_numpy().any()
    else:
        Y_in = Y
    np.testing.assert_allclose(mtm.r2_score(Y_in, P, average=None), expected)
    np.testing.assert_allclose(mtm.mean_squared_error(Y_in, P, average="micro"),
                               mtm.mean_squared_error(Y, P, average="micro"))


def test_regression_undefined_tasks_warn_and_are_left_out():
    Y, P = _regression(seed=6, T=3)
    Y[:, 1] = np.nan
    Y[3, 1] = 2.0  # one label: no R2, no nMSE, but an MSE
    Y[:, 2] = np.where(np.isnan(Y[:, 2]), np.nan, 7.0)  # constant: nMSE undefined
    with pytest.warns(UndefinedMetricWarning, match=r"task\(s\) \[1\]"):
        macro = mtm.r2_score(Y, P)
    with pytest.warns(UndefinedMetricWarning, match=r"task\(s\) \[1\]"):
        per_task = mtm.r2_score(Y, P, average=None)
    assert np.isnan(per_task[1]) and not np.isnan(per_task[[0, 2]]).any()
    assert macro == pytest.approx(np.mean(per_task[[0, 2]]))
    with pytest.warns(UndefinedMetricWarning, match=r"task\(s\) \[1, 2\]"):
        nmse = mtm.normalized_mean_squared_error(Y, P, average=None)
    assert np.isnan(nmse[1:]).all() and np.isfinite(nmse[0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isfinite(mtm.mean_squared_error(Y, P, average=None)).all()
    Y_all = np.full_like(Y, np.nan)
    Y_all[0] = 1.0
    with pytest.warns(UndefinedMetricWarning, match="every task"):
        assert np.isnan(mtm.r2_score(Y_all, P))
    with pytest.warns(UndefinedMetricWarning, match="pooled"):
        assert np.isnan(mtm.normalized_mean_squared_error(np.full_like(Y, 3.0), P,
                                                          average="micro"))


def test_zero_weight_counts_as_missing():
    Y, P = _regression(seed=7)
    W = _weights("entry", Y.shape)
    W[:5] = 0.0
    Y_cut = Y.copy()
    Y_cut[:5] = np.nan
    for f, _ in REGRESSION:
        np.testing.assert_allclose(f(Y, P, sample_weight=W, average=None),
                                   f(Y_cut, P, sample_weight=W, average=None))


@pytest.mark.parametrize("f", [f for f, _ in REGRESSION], ids=lambda f: f.__name__)
def test_regression_bad_input(f):
    Y, P = _regression()
    with pytest.raises(ValueError, match="different shapes"):
        f(Y, P[:, :2])
    bad = P.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="Y_pred contains NaN"):
        f(Y, bad)
    with pytest.raises(ValueError, match="sample_weight has shape"):
        f(Y, P, sample_weight=np.ones(3))
    with pytest.raises(ValueError, match="non-negative"):
        f(Y, P, sample_weight=-np.ones(Y.shape[0]))
    with pytest.raises(ValueError, match="average"):
        f(Y, P, average="weighted")
    with pytest.raises(ValueError, match="numeric"):
        f(np.array([["a"], ["b"]], dtype=object), np.zeros((2, 1)))


def test_one_dimensional_targets_are_one_task():
    Y, P = _regression(seed=8)
    y, p = Y[:, 0], P[:, 0]
    for f, _ in REGRESSION:
        assert f(y, p) == pytest.approx(f(Y[:, :1], P[:, :1]))
        assert f(y, p, average=None).shape == (1,)


# ---------------------------------------------------------- array API (strict)


@pytest.mark.parametrize("f", [f for f, _ in REGRESSION] + [mtm.nan_r2_score],
                         ids=lambda f: f.__name__)
def test_regression_metrics_on_array_api_strict(f):
    xps = pytest.importorskip("array_api_strict")
    Y, P = _regression(seed=9)
    W = _weights("entry", Y.shape)
    average = {"multioutput": "raw_values"} if f is mtm.nan_r2_score else \
        {"average": None}
    expected = f(Y, P, sample_weight=W, **average)
    for device in (xps.Device("CPU_DEVICE"), xps.Device("device1")):
        Ys, Ps, Ws = (xps.asarray(a, device=device) for a in (Y, P, W))
        per_task = f(Ys, Ps, sample_weight=Ws, **average)
        assert type(per_task).__module__.startswith("array_api_strict")
        assert per_task.device == device
        values = [float(per_task[t]) for t in range(per_task.shape[0])]
        np.testing.assert_allclose(values, expected, rtol=1e-12)
        if f is not mtm.nan_r2_score:
            for agg in ("macro", "micro"):
                assert f(Ys, Ps, sample_weight=Ws, average=agg) == pytest.approx(
                    f(Y, P, sample_weight=W, average=agg), rel=1e-12)


# -------------------------------------------------------- classification metrics


def _observed(Y):
    return ~missing_mask(Y)


def _sk_per_task(theirs, Y, R, W, classes, kw):
    out = []
    observed = _observed(Y)
    for t in range(Y.shape[1]):
        o = observed[:, t]
        out.append(theirs(Y[o, t].astype(str), R[o, t],
                          sample_weight=_task_weights(W, o, t), **kw(classes[t])))
    return np.array(out)


CLASSIFICATION = {
    "accuracy": (mtm.accuracy_score, skm.accuracy_score, "labels", lambda c: {}),
    "f1": (mtm.f1_score, skm.f1_score, "labels", lambda c: {"pos_label": c[1]}),
    "roc_auc": (mtm.roc_auc_score, skm.roc_auc_score, "scores", lambda c: {}),
    "roc_auc_proba": (mtm.roc_auc_score, skm.roc_auc_score, "probas", lambda c: {}),
    "log_loss": (mtm.log_loss, skm.log_loss, "probas", lambda c: {"labels": c}),
}


def _response(kind, S, P, L):
    return {"labels": L, "scores": S, "probas": P}[kind]


@pytest.mark.parametrize("name", list(CLASSIFICATION))
@pytest.mark.parametrize("weights", [None, "sample", "entry"])
def test_classification_per_task_macro_micro_match_sklearn(name, weights):
    ours, theirs, kind, kw = CLASSIFICATION[name]
    Y, S, P, L = _classification()
    R = _response(kind, S, P, L)
    W = _weights(weights, Y.shape)
    classes = [np.array(["no", "yes"])] * Y.shape[1]
    per_task = ours(Y, R, sample_weight=W, average=None)
    expected = _sk_per_task(theirs, Y, R, W, classes, kw)
    np.testing.assert_allclose(per_task, expected, rtol=1e-12)
    assert ours(Y, R, sample_weight=W) == pytest.approx(expected.mean(), rel=1e-12)
    observed = _observed(Y)
    Wfull = np.ones(Y.shape) if W is None else np.broadcast_to(
        W if W.ndim == 2 else W[:, None], Y.shape)
    pooled = theirs(Y[observed].astype(str), R[observed], sample_weight=Wfull[observed],
                    **kw(classes[0]))
    assert ours(Y, R, sample_weight=W, average="micro") == pytest.approx(pooled,
                                                                         rel=1e-12)


@pytest.mark.parametrize("name,ours,kind", [
    ("roc_auc", mtm.roc_auc_score, "scores"), ("f1", mtm.f1_score, "labels")])
@pytest.mark.parametrize("average", ["micro", "macro"])
def test_complete_indicator_labels_match_sklearn_multilabel(name, ours, kind, average):
    _, S, _, _ = _classification(seed=2, missing=0.0)
    rng = np.random.default_rng(2)
    Y = (S + rng.standard_normal(S.shape) > 0).astype(int)
    R = S if kind == "scores" else (S > 0).astype(int)
    theirs = getattr(skm, f"{name}_score")
    assert ours(Y, R, average=average) == pytest.approx(
        theirs(Y, R, average=average), rel=1e-12)


def test_positive_class_from_classes_argument():
    Y, S, P, L = _classification(seed=3)
    T = Y.shape[1]
    flipped = [np.array(["yes", "no"])] * T  # "no" is now the positive class
    observed = _observed(Y)
    f1 = mtm.f1_score(Y, L, average=None, classes=flipped)
    auc = mtm.roc_auc_score(Y, 1 - P, average=None, classes=flipped)
    for t in range(T):
        o = observed[:, t]
        y = Y[o, t].astype(str)
        assert f1[t] == pytest.approx(skm.f1_score(y, L[o, t], pos_label="no"))
        assert auc[t] == pytest.approx(skm.roc_auc_score(y == "no", 1 - P[o, t]))
    np.testing.assert_allclose(auc, mtm.roc_auc_score(Y, P, average=None))
    # Default positive class is the larger sorted label, per task.
    Yb = np.where(_observed(Y), Y == "yes", None)
    np.testing.assert_allclose(mtm.f1_score(Yb, L == "yes", average=None),
                               mtm.f1_score(Y, L, average=None))


def test_one_known_class_is_the_positive_one_and_other_labels_negative():
    # A task the classifier skipped (seen with one class) has one class in
    # classes_; its test labels may include a class it never saw.
    y = np.array(["c", "d", "c", "d", "d"], dtype=object)
    scores = np.array([0.9, 0.2, 0.7, 0.4, 0.1])
    Y = np.stack([np.array(["a", "b", "a", "b", "a"], dtype=object), y], axis=1)
    S = np.stack([np.array([0.1, 0.8, 0.3, 0.6, 0.2]), scores], axis=1)
    classes = [np.array(["a", "b"]), np.array(["c"])]
    auc = mtm.roc_auc_score(Y, S, average=None, classes=classes)
    assert auc[1] == pytest.approx(skm.roc_auc_score(y == "c", scores))
    assert auc[0] == pytest.approx(skm.roc_auc_score(Y[:, 0] == "b", S[:, 0]))
    L = np.stack([Y[:, 0], np.full(5, "c", dtype=object)], axis=1)
    acc = mtm.accuracy_score(Y, L, average=None, classes=classes)
    assert acc[1] == pytest.approx(np.mean(y == "c"))
    with pytest.raises(ValueError, match="two classes"):
        mtm.roc_auc_score(Y, S, classes=[np.array(["a", "b", "e"]), np.array(["c"])])


@pytest.mark.parametrize("missing", ["nan", "none", "pandas_na", "strings_none"])
def test_missing_value_kinds_classification(missing):
    Y, S, P, L = _classification(seed=4)
    observed = _observed(Y)
    numeric = np.where(observed, Y == "yes", np.nan).astype(float)
    expected = mtm.roc_auc_score(numeric, S, average=None)
    if missing == "nan":
        Y_in = numeric
    elif missing == "none":
        Y_in = np.where(observed, Y == "yes", None).astype(object)
    elif missing == "pandas_na":
        Y_in = pd.DataFrame(numeric).astype("Int64")
        assert Y_in.isna().to_numpy().any()
    else:
        Y_in = Y
    np.testing.assert_allclose(mtm.roc_auc_score(Y_in, S, average=None), expected)
    assert mtm.log_loss(Y_in, P) == pytest.approx(mtm.log_loss(numeric, P))
    Lb = (L == "yes").astype(int) if missing != "strings_none" else L
    assert mtm.accuracy_score(Y_in, Lb) == pytest.approx(
        mtm.accuracy_score(numeric, (L == "yes").astype(int)))


def test_classification_undefined_cases_warn():
    Y, S, P, L = _classification(seed=5)
    Y[:, 1] = np.where(_observed(Y)[:, 1], "yes", None)  # one class in task 1
    with pytest.warns(UndefinedMetricWarning, match=r"task\(s\) \[1\]"):
        macro = mtm.roc_auc_score(Y, S)
    with pytest.warns(UndefinedMetricWarning):
        per_task = mtm.roc_auc_score(Y, S, average=None)
    assert np.isnan(per_task[1]) and macro == pytest.approx(per_task[[0, 2]].mean())
    # Without `classes`, one seen class leaves the positive class unknown ...
    with pytest.warns(UndefinedMetricWarning, match=r"task\(s\) \[1\]"):
        mtm.log_loss(Y, P)
    # ... with it, log-loss is defined, matching scikit-learn with `labels`.
    classes = [np.array(["no", "yes"])] * 3
    value = mtm.log_loss(Y, P, average=None, classes=classes)
    o = _observed(Y)[:, 1]
    assert value[1] == pytest.approx(skm.log_loss(Y[o, 1].astype(str), P[o, 1],
                                                  labels=["no", "yes"]))
    # F1 with no positive among true and predicted labels: undefined, not 0.
    Yn = np.where(_observed(Y), "no", None)
    with pytest.warns(UndefinedMetricWarning, match="every task"):
        assert np.isnan(mtm.f1_score(Yn, np.full(Y.shape, "no"), classes=classes))
    with pytest.warns(UndefinedMetricWarning, match="pooled"):
        assert np.isnan(mtm.roc_auc_score(Yn, S, average="micro"))
    # Accuracy needs no positive class.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert mtm.accuracy_score(Yn, np.full(Y.shape, "no")) == 1.0


def test_classification_bad_input():
    Y, S, P, L = _classification(seed=6)
    with pytest.raises(ValueError, match="different shapes"):
        mtm.accuracy_score(Y, L[:, :2])
    with pytest.raises(ValueError, match="different shapes"):
        mtm.roc_auc_score(Y, S[:-1])
    bad = S.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="Y_score contains NaN"):
        mtm.roc_auc_score(Y, bad)
    L_missing = L.astype(object)
    L_missing[0, 0] = None
    with pytest.raises(ValueError, match="Y_pred contains missing"):
        mtm.f1_score(Y, L_missing)
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        mtm.log_loss(Y, S)
    classes = [np.array(["no", "yes"])] * 3
    L_unknown = L.astype(object)
    L_unknown[1, 2] = "maybe"
    with pytest.raises(ValueError, match="maybe"):
        mtm.accuracy_score(Y, L_unknown, classes=classes)
    with pytest.raises(ValueError, match="binary"):
        mtm.accuracy_score(Y, L_unknown)
    with pytest.raises(ValueError, match="classes has 2 task"):
        mtm.roc_auc_score(Y, S, classes=classes[:2])
    with pytest.raises(ValueError, match="two classes"):
        mtm.roc_auc_score(Y, S, classes=[["no", "yes", "maybe"]] * 3)
    with pytest.raises(ValueError, match="non-negative"):
        mtm.roc_auc_score(Y, S, sample_weight=-np.ones(Y.shape))
    with pytest.raises(ValueError, match="average"):
        mtm.log_loss(Y, P, average="samples")


def test_classification_accepts_array_api_scores():
    xps = pytest.importorskip("array_api_strict")
    Y, S, P, L = _classification(seed=7)
    assert mtm.roc_auc_score(Y, xps.asarray(S)) == pytest.approx(mtm.roc_auc_score(Y, S))


# --------------------------------------------------------------------- scorers


class _PerTaskLogistic(ClassifierMixin, BaseEstimator):
    """Stand-in with MultiTaskKernelClassifier's interface: one logistic per task."""

    def __init__(self, C=1.0):
        self.C = C

    def fit(self, X, Y):
        Y = np.asarray(Y, dtype=object)
        self._was_1d = Y.ndim == 1
        Y = Y.reshape(len(Y), -1)
        observed = _observed(Y)
        self.models_ = [LogisticRegression(C=self.C).fit(X[observed[:, t]],
                                                          Y[observed[:, t], t].astype(str))
                        for t in range(Y.shape[1])]
        self.classes_ = [m.classes_ for m in self.models_]
        if self._was_1d:
            self.classes_ = self.classes_[0]
        return self

    def _stack(self, columns):
        out = np.stack(columns, axis=1)
        return out[:, 0] if self._was_1d else out

    def decision_function(self, X):
        return self._stack([m.decision_function(X) for m in self.models_])

    def predict_proba(self, X):
        return self._stack([m.predict_proba(X)[:, 1] for m in self.models_])

    def predict(self, X):
        return self._stack([m.predict(X) for m in self.models_])


def _classification_problem(seed=0, n=90, T=3, missing=0.25):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 4))
    margin = X @ rng.standard_normal((4, T)) + 0.7 * rng.standard_normal((n, T))
    Y = np.where(margin > 0, "pos", "neg").astype(object)
    Y[rng.random(Y.shape) < missing] = None
    return X, Y


def test_scorer_names_and_lookup():
    names = mtm.get_scorer_names()
    for name in ("macro_accuracy", "micro_accuracy", "macro_f1", "micro_f1",
                 "macro_roc_auc", "micro_roc_auc", "neg_macro_log_loss",
                 "neg_micro_log_loss", "macro_r2", "micro_r2", "neg_macro_mse",
                 "neg_micro_mse", "neg_macro_nmse", "neg_micro_nmse",
                 "macro_explained_variance", "micro_explained_variance",
                 "pooled_explained_variance"):
        assert name in names
    with pytest.raises(ValueError, match="not a multi-task scorer"):
        mtm.get_scorer("r2_score")
    with pytest.raises(ValueError, match="Unknown metric"):
        mtm.make_multitask_scorer("auc")
    with pytest.raises(ValueError, match="response_method"):
        mtm.make_multitask_scorer("r2", response_method="transform")
    with pytest.raises(ValueError, match="required"):
        mtm.make_multitask_scorer(lambda y, p, average: 0.0)
    scorer = mtm.make_multitask_scorer("r2")
    assert mtm.get_scorer(scorer) is scorer
    assert repr(mtm.get_scorer("macro_f1")) == "get_scorer('macro_f1')"


@pytest.mark.parametrize("name,metric,method,average,sign", [
    ("macro_accuracy", mtm.accuracy_score, "predict", "macro", 1),
    ("micro_f1", mtm.f1_score, "predict", "micro", 1),
    ("macro_roc_auc", mtm.roc_auc_score, "decision_function", "macro", 1),
    ("micro_roc_auc", mtm.roc_auc_score, "decision_function", "micro", 1),
    ("neg_macro_log_loss", mtm.log_loss, "predict_proba", "macro", -1),
])
def test_classification_scorers_use_response_and_classes(name, metric, method, average,
                                                         sign):
    X, Y = _classification_problem()
    model = _PerTaskLogistic().fit(X[:60], Y[:60])
    expected = metric(Y[60:], getattr(model, method)(X[60:]), average=average)
    assert mtm.get_scorer(name)(model, X[60:], Y[60:]) == pytest.approx(sign * expected)


def test_scorer_binarises_with_fitted_classes():
    # The test fold of task 0 only holds "pos": the positive class must still be
    # the fitted classes_[0][1], and the log-loss stays defined.
    X, Y = _classification_problem(seed=1)
    model = _PerTaskLogistic().fit(X, Y)
    Y_test = Y[:20].copy()
    Y_test[:, 0] = np.where(_observed(Y_test)[:, 0], "pos", None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value = mtm.get_scorer("neg_macro_log_loss")(model, X[:20], Y_test)
    assert value == pytest.approx(-mtm.log_loss(Y_test, model.predict_proba(X[:20]),
                                                classes=model.classes_))


def test_scorer_on_one_task_and_plain_sklearn_classifier():
    X, Y = _classification_problem(seed=2, T=1, missing=0.0)
    y = Y[:, 0].astype(str)
    ours = _PerTaskLogistic().fit(X, y)  # classes_ is one array of two classes
    plain = LogisticRegression().fit(X, y)  # predict_proba has two columns
    for name in ("macro_roc_auc", "neg_macro_log_loss", "macro_f1"):
        scorer = mtm.get_scorer(name)
        assert scorer(ours, X, y) == pytest.approx(scorer(plain, X, y))
    assert mtm.get_scorer("macro_roc_auc")(plain, X, y) == pytest.approx(
        skm.get_scorer("roc_auc")(plain, X, y))
    assert mtm.get_scorer("neg_macro_log_loss")(plain, X, y) == pytest.approx(
        skm.get_scorer("neg_log_loss")(plain, X, y))


def test_classifier_scorers_in_grid_search_and_cross_validate():
    X, Y = _classification_problem(seed=3)
    cv = KFold(3, shuffle=True, random_state=0)
    search = GridSearchCV(_PerTaskLogistic(), {"C": [0.01, 1.0]}, cv=cv,
                          scoring=mtm.get_scorer("macro_roc_auc")).fit(X, Y)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    best = search.best_params_["C"]
    # Redo the search by hand with the metric itself.
    means = []
    for C in (0.01, 1.0):
        scores = [mtm.roc_auc_score(Y[te], _PerTaskLogistic(C=C).fit(X[tr], Y[tr])
                                    .decision_function(X[te]))
                  for tr, te in cv.split(X)]
        means.append(np.mean(scores))
    np.testing.assert_allclose(search.cv_results_["mean_test_score"], means)
    assert best == (0.01, 1.0)[int(np.argmax(means))]
    result = cross_validate(_PerTaskLogistic(), X, Y, cv=cv, scoring=mtm.make_multitask_scorer(
        "accuracy", per_task=True))
    per_task = np.column_stack([result[f"test_task_{t}"] for t in range(3)])
    np.testing.assert_allclose(result["test_score"], per_task.mean(axis=1))


def _regression_problem(seed=0, n=45, T=3):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 3))
    Y = X @ rng.standard_normal((3, T)) + 0.3 * rng.standard_normal((n, T))
    Y[rng.random(Y.shape) < 0.3] = np.nan
    return X, Y


def test_regression_scorers_with_missing_labels():
    X, Y = _regression_problem()
    cv = KFold(3, shuffle=True, random_state=0)
    model = MultiTaskKernelRidge(kernel="linear", alpha=0.1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # sklearn's "Scoring failed"
        builtin = cross_validate(model, X, Y, cv=cv, scoring="r2")["test_score"]
    assert np.isnan(builtin).all()  # scikit-learn's r2 cannot skip missing labels
    ours = cross_validate(model, X, Y, cv=cv, scoring=mtm.get_scorer("macro_r2"))
    expected = [mtm.r2_score(Y[te], model.fit(X[tr], Y[tr]).predict(X[te]))
                for tr, te in cv.split(X)]
    np.testing.assert_allclose(ours["test_score"], expected)
    per_task = cross_validate(model, X, Y, cv=cv, scoring=mtm.make_multitask_scorer(
        "mse", greater_is_better=False, per_task=True, average="micro"))
    assert set(per_task) >= {"test_task_0", "test_task_1", "test_task_2", "test_score"}
    assert (per_task["test_task_0"] < 0).all() and (per_task["test_score"] < 0).all()
    search = GridSearchCV(model, {"alpha": [1e-3, 1e3]}, cv=cv,
                          scoring=mtm.get_scorer("neg_macro_nmse")).fit(X, Y)
    assert search.best_params_["alpha"] == 1e-3
    scorer = mtm.get_scorer("pooled_explained_variance")
    model.fit(X, Y)
    assert scorer(model, X, Y) == pytest.approx(
        mtm.pooled_explained_variance(Y, model.predict(X)))
    search = GridSearchCV(model, {"alpha": [1e-3, 1e3]}, cv=cv, refit="score",
                          scoring=mtm.make_multitask_scorer("r2", per_task=True)).fit(X, Y)
    assert "mean_test_task_2" in search.cv_results_


def test_scorer_sample_weight_and_callable_metric():
    X, Y = _regression_problem(seed=1)
    model = MultiTaskKernelRidge(kernel="linear", alpha=0.1).fit(X, Y)
    W = _weights("entry", Y.shape)
    scorer = mtm.get_scorer("neg_macro_mse")
    assert scorer(model, X, Y, sample_weight=W) == pytest.approx(
        -mtm.mean_squared_error(Y, model.predict(X), sample_weight=W))

    def worst_task_r2(Y_true, Y_pred, *, average):
        return np.nanmin(mtm.r2_score(Y_true, Y_pred, average=None))

    custom = mtm.make_multitask_scorer(worst_task_r2, response_method="predict")
    assert custom(model, X, Y) == pytest.approx(
        min(mtm.r2_score(Y, model.predict(X), average=None)))


def test_scorer_sample_weight_through_metadata_routing():
    import sklearn

    X, Y = _regression_problem(seed=2)
    w = np.random.default_rng(3).uniform(0.1, 1.0, X.shape[0])
    cv = KFold(3)
    with sklearn.config_context(enable_metadata_routing=True):
        model = MultiTaskKernelRidge(kernel="linear").set_fit_request(sample_weight=False)
        scorer = mtm.get_scorer("neg_macro_mse").set_score_request(sample_weight=True)
        result = cross_validate(model, X, Y, cv=cv, scoring=scorer,
                                params={"sample_weight": w})
        expected = [-mtm.mean_squared_error(Y[te], model.fit(X[tr], Y[tr]).predict(X[te]),
                                            sample_weight=w[te])
                    for tr, te in cv.split(X)]
    np.testing.assert_allclose(result["test_score"], expected)


def test_scorers_with_the_kernel_classifier():
    from rkhsmtl.logistic import MultiTaskKernelClassifier

    X, Y = _classification_problem(seed=4)
    cv = KFold(3, shuffle=True, random_state=0)
    model = MultiTaskKernelClassifier(kernel="linear")
    search = GridSearchCV(model, {"alpha": [0.01, 1.0]}, cv=cv,
                          scoring=mtm.get_scorer("macro_roc_auc")).fit(X, Y)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    fitted = search.best_estimator_
    assert mtm.get_scorer("macro_accuracy")(fitted, X, Y) == pytest.approx(
        fitted.score(X, Y))
    assert mtm.get_scorer("neg_micro_log_loss")(fitted, X, Y) == pytest.approx(
        -mtm.log_loss(Y, fitted.predict_proba(X), average="micro"))
    # Fitted on one task (1-D y): classes_ is one array of two classes.
    y = Y[:, 0]
    keep = _observed(y[:, None])[:, 0]
    result = cross_validate(model, X[keep], y[keep].astype(str), cv=cv,
                            scoring=mtm.make_multitask_scorer("roc_auc", per_task=True))
    np.testing.assert_allclose(result["test_task_0"], result["test_score"])
    assert (result["test_score"] > 0.5).all()


def test_scorer_sign_is_inferred_for_named_losses():
    from rkhsmtl.metrics import get_scorer, make_multitask_scorer

    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 2))
    Y = X @ rng.normal(size=(2, 2))
    from rkhsmtl import MultiTaskKernelRidge

    model = MultiTaskKernelRidge(alpha=1.0).fit(X, Y)
    inferred = make_multitask_scorer("mse")(model, X, Y)
    assert inferred < 0
    assert inferred == get_scorer("neg_macro_mse")(model, X, Y)
    assert make_multitask_scorer("mse", greater_is_better=True)(model, X, Y) == -inferred
    assert make_multitask_scorer("r2")(model, X, Y) > 0


# ------------------------------------------------- one accuracy, for every caller
def test_accuracy_with_given_classes_of_any_number_per_task():
    """Accuracy needs no positive class: with ``classes`` given, a task may have
    any number of classes (per-task multi-class classifiers), and the value is
    sklearn's weighted accuracy on the task's observed rows."""
    rng = np.random.default_rng(12)
    n = 40
    labels = np.array(["a", "b", "c", "d"])
    Y = labels[rng.integers(0, 4, (n, 2))].astype(object)
    P = labels[rng.integers(0, 4, (n, 2))].astype(object)
    Y[rng.random((n, 2)) < 0.3] = None
    W = rng.uniform(0.2, 2.0, (n, 2))
    classes = [labels, labels[::-1]]
    per_task = mtm.accuracy_score(Y, P, sample_weight=W, classes=classes, average=None)
    unweighted = mtm.accuracy_score(Y, P, classes=classes, average=None)
    for t in range(2):
        o = ~missing_mask(Y[:, t])
        assert per_task[t] == pytest.approx(skm.accuracy_score(
            Y[o, t].astype(str), P[o, t].astype(str), sample_weight=W[o, t]))
    assert mtm.accuracy_score(Y, P, sample_weight=W, classes=classes) == \
        pytest.approx(per_task.mean())
    o = ~missing_mask(Y)
    assert mtm.accuracy_score(Y, P, sample_weight=W, classes=classes,
                              average="micro") == pytest.approx(
        skm.accuracy_score(Y[o].astype(str), P[o].astype(str), sample_weight=W[o]))
    # One task, its classes as one array (a classifier fitted on a 1-D y).
    assert mtm.accuracy_score(Y[:, 0], P[:, 0], classes=labels) == pytest.approx(
        unweighted[0])
    with pytest.raises(ValueError, match="not among its classes"):
        mtm.accuracy_score(Y, P, classes=[labels[:3], labels])
    # Without classes, the labels must still be at most two per task, and the
    # binary metrics still want exactly two given classes.
    with pytest.raises(ValueError, match="binary"):
        mtm.accuracy_score(Y, P)
    with pytest.raises(ValueError, match="two classes"):
        mtm.f1_score(Y, P, classes=classes)
    with pytest.raises(ValueError, match="non-empty"):
        mtm.accuracy_score(Y, P, classes=[labels, []])


def test_accuracy_of_the_linear_cv_folds_is_the_metrics_accuracy():
    from rkhsmtl.linear._cv import _fold_score

    rng = np.random.default_rng(13)
    Y = np.where(rng.random((30, 3)) < 0.5, 1.0, -1.0)
    Y[rng.random(Y.shape) < 0.3] = np.nan
    Y[:, 2] = np.nan  # a task without a test label is left out, silently
    F = rng.standard_normal((30, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value = _fold_score("logistic", Y, F)
    plain = [np.mean((F[~np.isnan(Y[:, t]), t] > 0) == (Y[~np.isnan(Y[:, t]), t] > 0))
             for t in range(2)]
    assert value == pytest.approx(np.mean(plain))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isnan(_fold_score("logistic", np.full((4, 2), np.nan),
                                    np.zeros((4, 2))))


def test_pooled_explained_variance_is_the_micro_r2_from_one_label():
    Y, P = _regression(seed=14)
    assert mtm.pooled_explained_variance(Y, P) == pytest.approx(
        mtm.r2_score(Y, P, average="micro"), rel=1e-12)
    one = np.full((3, 2), np.nan)
    one[1, 0] = 2.0
    assert mtm.pooled_explained_variance(one, np.full((3, 2), 2.0)) == 1.0
    assert mtm.pooled_explained_variance(one, np.zeros((3, 2))) == 0.0
    with pytest.raises(ValueError, match="No observed label"):
        mtm.pooled_explained_variance(np.full((3, 2), np.nan), np.zeros((3, 2)))
