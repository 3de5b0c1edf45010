"""The distribution-matching meta-estimator (rkhsmtl.DistributionMatchingMTL)."""

import numpy as np
import pytest
import sklearn
from sklearn.kernel_ridge import KernelRidge
from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from rkhsmtl import DistributionMatchingMTL, MultiTaskKernelClassifier, MultiTaskKernelRidge
from rkhsmtl.weighting import ULSIF, RuLSIF, TaskPosteriorRatio, normalize_weights

N_TASKS = 3


def heterogeneous(seed=0, n=90, classification=False):
    """One observed task per row; tasks with shifted inputs and slightly different f."""
    rng = np.random.default_rng(seed)
    task = np.arange(n) % N_TASKS
    X = rng.normal(size=(n, 2)) + np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])[task]
    f = np.sin(X[:, 0]) + 0.3 * task * X[:, 1]
    Y = np.full((n, N_TASKS), np.nan)
    if classification:
        Y = np.full((n, N_TASKS), None, dtype=object)
        Y[np.arange(n), task] = np.where(f + 0.3 * rng.normal(size=n) > 0.3, "yes", "no")
    else:
        Y[np.arange(n), task] = f + 0.1 * rng.normal(size=n)
    return X, Y, task


def complete_problem(model, X, Y, sample_weight=None):
    """The complete weighted problem the meta-estimator claims to solve."""
    rows, tasks = model.pool_index_, model.pool_task_
    labels = np.asarray(Y, dtype=object if Y.dtype == object else float)[rows, tasks]
    Y_complete = np.repeat(labels[:, None], model.n_tasks_, axis=1)
    sw = np.ones(X.shape[0]) if sample_weight is None else sample_weight
    return X[rows], Y_complete, model.weights_ * sw[rows][:, None]


@pytest.mark.parametrize("structure", ["independent", "mean_regularized", "relation"])
def test_equals_direct_weighted_solve(structure):
    X, Y, _ = heterogeneous()
    sw = np.random.default_rng(1).uniform(0.5, 2.0, X.shape[0])
    inner = MultiTaskKernelRidge(alpha=0.3, gamma=0.5, task_structure=structure)
    model = DistributionMatchingMTL(inner, random_state=0).fit(X, Y, sample_weight=sw)
    Xp, Yc, W = complete_problem(model, X, Y, sw)
    direct = MultiTaskKernelRidge(alpha=0.3, gamma=0.5, task_structure=structure).fit(
        Xp, Yc, sample_weight=W)
    np.testing.assert_allclose(model.estimator_.dual_coef_, direct.dual_coef_,
                               rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(model.predict(X), direct.predict(X), rtol=1e-8, atol=1e-10)


def test_each_task_is_weighted_kernel_ridge_on_the_whole_pool():
    # Brute force, independent of rkhsmtl's solvers: task t is scikit-learn's
    # KernelRidge on every pooled example with weights W[:, t].
    X, Y, _ = heterogeneous()
    model = DistributionMatchingMTL(MultiTaskKernelRidge(alpha=0.3, gamma=0.5),
                                    random_state=0).fit(X, Y)
    Xp, Yc, W = complete_problem(model, X, Y)
    for t in range(N_TASKS):
        ref = KernelRidge(alpha=0.3, kernel="rbf", gamma=0.5).fit(
            Xp, Yc[:, t], sample_weight=W[:, t])
        np.testing.assert_allclose(model.predict(X)[:, t], ref.predict(X), rtol=1e-8,
                                   atol=1e-10)
    # The per-task path with scikit-learn's estimator gives the same model.
    per_task = DistributionMatchingMTL(KernelRidge(alpha=0.3, kernel="rbf", gamma=0.5),
                                       random_state=0).fit(X, Y)
    assert per_task.estimators_ is not None and len(per_task.estimators_) == N_TASKS
    np.testing.assert_allclose(per_task.predict(X), model.predict(X), rtol=1e-8,
                               atol=1e-10)


@pytest.mark.parametrize("weighting", ["logistic", RuLSIF(alpha=0.1, random_state=0)], ids=str)
def test_parallel_folds_and_per_task_fits_give_the_same_model(weighting):
    from joblib import parallel_config

    X, Y, _ = heterogeneous(seed=3)
    template = KernelRidge(alpha=0.3, kernel="rbf", gamma=0.5)  # one fit per task
    kw = dict(weighting=weighting, weighting_cv=3, random_state=0)
    one = DistributionMatchingMTL(template, **kw).fit(X, Y)
    with parallel_config(backend="threading"):
        two = DistributionMatchingMTL(template, n_jobs=2, **kw).fit(X, Y)
    np.testing.assert_array_equal(one.weights_, two.weights_)
    np.testing.assert_array_equal(one.predict(X), two.predict(X))
    assert len(two.estimators_) == N_TASKS and len(two.ratio_models_) == 3


def test_weights_are_normalised_cross_fitted_task_posteriors():
    X, Y, task = heterogeneous()
    model = DistributionMatchingMTL(features="covariate", weighting_cv=None).fit(X, Y)
    Z = (X - X.mean(axis=0)) / X.std(axis=0)
    expected = normalize_weights(np.asarray(TaskPosteriorRatio().fit(Z, task).ratio(Z)))
    np.testing.assert_allclose(model.weights_, expected, rtol=1e-10)
    np.testing.assert_allclose(model.weights_.mean(axis=0), 1.0)
    crossfit = DistributionMatchingMTL(features="covariate", random_state=0).fit(X, Y)
    assert crossfit.folds_ is not None and len(crossfit.ratio_models_) == 5
    np.testing.assert_allclose(crossfit.weights_.mean(axis=0), 1.0)
    assert not np.allclose(crossfit.weights_, model.weights_)
    # Own-task examples weigh more than the other tasks' for that task.
    for t in range(N_TASKS):
        assert crossfit.weights_[task == t, t].mean() > crossfit.weights_[task != t, t].mean()
    ess = crossfit.effective_sample_size_
    assert ess.shape == (N_TASKS,) and np.all((1 <= ess) & (ess <= X.shape[0]))


def test_joint_features_see_the_labels():
    # Same input distribution for both tasks, shifted labels: only joint (x, y)
    # ratios can tell the tasks apart.
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 1))
    task = np.arange(120) % 2
    Y = np.full((120, 2), np.nan)
    Y[np.arange(120), task] = X[:, 0] + np.where(task == 0, 1.0, -1.0)
    joint = DistributionMatchingMTL(random_state=0).fit(X, Y)
    covariate = DistributionMatchingMTL(features="covariate", random_state=0).fit(X, Y)
    own = joint.weights_[np.arange(120), task].mean()
    assert own > 1.5
    assert covariate.weights_[np.arange(120), task].mean() < 1.2
    # A larger label scale makes the label count more in the task classifier.
    sharper = DistributionMatchingMTL(label_scale=3.0, random_state=0).fit(X, Y)
    assert sharper.weights_[np.arange(120), task].mean() > own + 0.05
    # Tempering 0 gives unit weights, i.e. every task trained on the pool.
    flat = DistributionMatchingMTL(tempering=0.0, random_state=0).fit(X, Y)
    np.testing.assert_allclose(flat.weights_, 1.0)


def test_unit_weights_equal_pooling():
    X, Y, _ = heterogeneous()
    model = DistributionMatchingMTL(MultiTaskKernelRidge(alpha=0.3), weighting="none")
    model.fit(X, Y)
    np.testing.assert_allclose(model.weights_, 1.0)
    np.testing.assert_allclose(model.effective_sample_size_, X.shape[0])
    pooled = MultiTaskKernelRidge(alpha=0.3).fit(X, np.nanmax(Y, axis=1))
    np.testing.assert_allclose(model.predict(X), np.repeat(pooled.predict(X)[:, None],
                                                           N_TASKS, axis=1), rtol=1e-8)


@pytest.mark.parametrize("weighting", [
    "ulsif", "kliep", RuLSIF(alpha=0.1), "kernel_logistic", LogisticRegression(C=10.0),
    LogisticRegressionCV(Cs=3, cv=3, scoring="neg_log_loss", l1_ratios=(0.0,),
                         use_legacy_attributes=False)],
    ids=["ulsif", "kliep", "rulsif", "kernel_logistic", "classifier", "classifier-cv"])
def test_other_weightings(weighting):
    X, Y, task = heterogeneous(n=60)
    model = DistributionMatchingMTL(weighting=weighting, weighting_cv=2,
                                    random_state=0).fit(X, Y)
    np.testing.assert_allclose(model.weights_.mean(axis=0), 1.0)
    assert np.all(model.weights_ >= 0)
    assert model.predict(X).shape == (60, N_TASKS)


def test_kernel_mean_matching_weights_are_in_sample_only():
    X, Y, _ = heterogeneous(n=60)
    model = DistributionMatchingMTL(weighting="kmm", weighting_cv=None).fit(X, Y)
    np.testing.assert_allclose(model.weights_.mean(axis=0), 1.0)
    with pytest.raises(ValueError, match="weighting_cv=None"):
        DistributionMatchingMTL(weighting="kmm").fit(X, Y)


def test_classifier_joint_fit_and_per_task():
    X, Y, _ = heterogeneous(classification=True)
    inner = MultiTaskKernelClassifier(alpha=0.1)
    model = DistributionMatchingMTL(inner, random_state=0).fit(X, Y)
    Xp, Yc, W = complete_problem(model, X, Y)
    direct = MultiTaskKernelClassifier(alpha=0.1).fit(Xp, Yc, sample_weight=W)
    np.testing.assert_allclose(model.predict_proba(X), direct.predict_proba(X),
                               rtol=1e-8, atol=1e-10)
    assert model.predict(X).shape == (X.shape[0], N_TASKS)
    assert sklearn.base.is_classifier(model)
    assert 0.5 < model.score(X, Y) <= 1.0
    # Per task with a scikit-learn classifier taking sample_weight.
    per_task = DistributionMatchingMTL(LogisticRegression(), random_state=0).fit(X, Y)
    proba = per_task.predict_proba(X)
    assert proba.shape == (X.shape[0], N_TASKS)
    for t, est in enumerate(per_task.estimators_):
        used = W[:, t] > 0
        ref = LogisticRegression().fit(Xp[used], Yc[used, t], sample_weight=W[used, t])
        np.testing.assert_allclose(proba[:, t], ref.predict_proba(X)[:, 1], rtol=1e-6)
        assert list(est.classes_) == ["no", "yes"]
    assert set(np.unique(per_task.predict(X))) <= {"no", "yes"}


def test_rows_with_several_labels_enter_the_pool_once_per_label():
    X, Y, _ = heterogeneous(n=30)
    Y[0, 1] = 0.5  # row 0 (task 0) also labelled for task 1
    model = DistributionMatchingMTL(random_state=0).fit(X, Y)
    assert model.weights_.shape == (31, N_TASKS)
    np.testing.assert_array_equal(model.pool_index_[:2], [0, 0])
    np.testing.assert_array_equal(model.pool_task_[:2], [0, 1])
    Y[3] = np.nan
    with pytest.raises(ValueError, match="no observed label"):
        DistributionMatchingMTL().fit(X, Y)


def test_pipeline_and_grid_search_compute_weights_inside_fit():
    X, Y, _ = heterogeneous()
    pipe = make_pipeline(StandardScaler(), DistributionMatchingMTL(random_state=0))
    grid = GridSearchCV(pipe, {"distributionmatchingmtl__estimator": [
        MultiTaskKernelRidge(alpha=a) for a in (0.1, 1.0)]}, cv=KFold(3))
    grid.fit(X, Y)
    assert np.all(np.isfinite(grid.cv_results_["mean_test_score"]))
    best = grid.best_estimator_[-1]
    assert best.weights_.shape == (X.shape[0], N_TASKS)
    assert grid.predict(X).shape == (X.shape[0], N_TASKS)


def test_metadata_routing_of_user_sample_weight():
    X, Y, _ = heterogeneous()
    sw = np.random.default_rng(3).uniform(0.5, 2.0, X.shape[0])
    reference = DistributionMatchingMTL(random_state=0).fit(X, Y, sample_weight=sw)
    with sklearn.config_context(enable_metadata_routing=True):
        meta = (DistributionMatchingMTL(random_state=0)
                .set_fit_request(sample_weight=True).set_score_request(sample_weight=False))
        grid = GridSearchCV(meta, {"tempering": [1.0]}, cv=KFold(2)).fit(
            X, Y, sample_weight=sw)
        np.testing.assert_allclose(grid.best_estimator_.predict(X), reference.predict(X),
                                   rtol=1e-10)
        unset = GridSearchCV(DistributionMatchingMTL().set_score_request(sample_weight=False),
                             {"tempering": [1.0]}, cv=KFold(2))
        with pytest.raises(ValueError, match="sample_weight"):
            unset.fit(X, Y, sample_weight=sw)
    unweighted = DistributionMatchingMTL(random_state=0).fit(X, Y)
    assert not np.allclose(unweighted.predict(X), reference.predict(X))


@pytest.mark.parametrize("kwargs,match", [
    ({"features": "x"}, "features"), ({"per_task": "yes"}, "per_task"),
    ({"weighting": "magic"}, "weighting"), ({"label_scale": 0}, "label_scale"),
    ({"weighting_cv": 1}, "cv"), ({"clip": 0.5}, "clip"),
])
def test_bad_parameters(kwargs, match):
    X, Y, _ = heterogeneous(n=30)
    with pytest.raises(ValueError, match=match):
        DistributionMatchingMTL(**kwargs).fit(X, Y)


def test_one_task_and_bad_weights():
    X, Y, _ = heterogeneous(n=30)
    y = np.nanmax(Y, axis=1)
    model = DistributionMatchingMTL(MultiTaskKernelRidge(alpha=0.3)).fit(X, y)
    np.testing.assert_allclose(model.predict(X),
                               MultiTaskKernelRidge(alpha=0.3).fit(X, y).predict(X))
    with pytest.raises(ValueError, match="sample_weight"):
        DistributionMatchingMTL().fit(X, Y, sample_weight=np.ones(3))
    with pytest.raises(ValueError, match="non-negative"):
        DistributionMatchingMTL().fit(X, Y, sample_weight=-np.ones(30))


_EXPECTED_FAILURES = {
    "check_classifier_multioutput": (
        "classes_ is a list with one array per task (as for MultiTaskKernelClassifier "
        "and sklearn's MultiOutputClassifier); the check indexes it as one shared array."
    ),
}


def _expected_failed_checks(estimator):
    return _EXPECTED_FAILURES if sklearn.base.is_classifier(estimator) else {}


@parametrize_with_checks(
    [DistributionMatchingMTL(weighting_cv=2, random_state=0),
     DistributionMatchingMTL(LogisticRegression(), weighting_cv=2, random_state=0)],
    expected_failed_checks=_expected_failed_checks)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


# uLSIF on a 2 x 2 grid of widths and ridges: the same code as the default 8 x 8
# grid at a sixteenth of array_api_strict's per-call cost.
@pytest.mark.parametrize("weighting", [
    "logistic", ULSIF(sigmas=(0.5, 1.0), lambdas=(0.01, 0.1), random_state=0)],
    ids=["logistic", "ulsif"])
def test_array_api_strict_matches_numpy(weighting):
    xps = pytest.importorskip("array_api_strict")
    X, Y, _ = heterogeneous(n=45)
    sw = np.random.default_rng(2).uniform(0.5, 2.0, 45)
    kw = dict(weighting=weighting, weighting_cv=3, random_state=0)
    inner = MultiTaskKernelRidge(alpha=0.3, gamma=0.5, task_structure="mean_regularized")
    ref = DistributionMatchingMTL(inner, **kw).fit(X, Y, sample_weight=sw)
    for device in (xps.Device("CPU_DEVICE"), xps.Device("device1")):
        Xs, Ys = xps.asarray(X, device=device), xps.asarray(Y, device=device)
        model = DistributionMatchingMTL(inner, **kw).fit(
            Xs, Ys, sample_weight=xps.asarray(sw, device=device))
        for value in (model.weights_, model.effective_sample_size_, model.predict(Xs)):
            assert type(value).__module__.startswith("array_api_strict")
            assert value.device == device

        def host(a):
            return np.asarray(xps.asarray(a, device=xps.Device("CPU_DEVICE")))

        np.testing.assert_allclose(host(model.weights_), ref.weights_, rtol=1e-8)
        np.testing.assert_allclose(host(model.predict(Xs)), ref.predict(X), rtol=1e-8,
                                   atol=1e-10)
    with pytest.raises(ValueError, match="NumPy input"):
        DistributionMatchingMTL(KernelRidge(), **kw).fit(xps.asarray(X), Y)


def test_object_integer_labels_with_none_for_per_task_sklearn_classifiers():
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(7)
    X = rng.normal(size=(60, 2))
    labels = np.empty((60, 2), dtype=object)
    labels[:] = None
    task = np.arange(60) % 2
    labels[np.arange(60), task] = (X[:, 0] > 0).astype(int)
    model = DistributionMatchingMTL(LogisticRegression(), random_state=0).fit(X, labels)
    assert model.predict(X).shape == (60, 2)


def test_joint_fit_of_a_sklearn_estimator_is_explained():
    from sklearn.kernel_ridge import KernelRidge

    rng = np.random.default_rng(8)
    X = rng.normal(size=(40, 2))
    Y = np.full((40, 2), np.nan)
    Y[np.arange(40), np.arange(40) % 2] = X[:, 0]
    with pytest.raises(ValueError, match="per_task=False"):
        DistributionMatchingMTL(KernelRidge(), per_task=False).fit(X, Y)


# ------------------------------------------------- capability marker, not module
class _WideRidge(MultiTaskKernelRidge):
    """A user's subclass, defined outside rkhsmtl."""


class _NotWide(MultiTaskKernelRidge):
    _accepts_wide_targets = False


class _WideMean(sklearn.base.RegressorMixin, sklearn.base.BaseEstimator):
    """A third-party multi-task learner that declares the capability."""

    _accepts_wide_targets = True

    def fit(self, X, y, sample_weight=None):
        Y = np.asarray(y, dtype=float)
        W = np.where(np.isnan(Y), 0.0, np.asarray(sample_weight, dtype=float))
        self.mean_ = np.sum(W * np.nan_to_num(Y), axis=0) / np.sum(W, axis=0)
        self.shape_ = (Y.shape, W.shape)
        return self

    def predict(self, X):
        return np.tile(self.mean_, (np.asarray(X).shape[0], 1))


def test_joint_fit_is_decided_by_the_capability_marker():
    from rkhsmtl.distribution_matching import _accepts_wide_targets
    from rkhsmtl.linear import MultiTaskLinearClassifier, MultiTaskLinearRegressor

    for estimator in (MultiTaskKernelRidge(), MultiTaskKernelClassifier(),
                      MultiTaskLinearRegressor(), MultiTaskLinearClassifier(),
                      DistributionMatchingMTL(), _WideRidge(), _WideMean()):
        assert _accepts_wide_targets(estimator), estimator
    for estimator in (KernelRidge(), LogisticRegression(), _NotWide(),
                      make_pipeline(StandardScaler(), MultiTaskKernelRidge())):
        assert not _accepts_wide_targets(estimator), estimator

    X, Y, _ = heterogeneous(n=45)
    model = DistributionMatchingMTL(_WideMean(), random_state=0).fit(X, Y)
    assert model.estimators_ is None
    assert model.estimator_.shape_ == ((45, N_TASKS), (45, N_TASKS))
    linear = DistributionMatchingMTL(MultiTaskLinearRegressor(0.1, penalty="l21"),
                                     random_state=0).fit(X, Y)
    assert linear.estimators_ is None and linear.predict(X).shape == (45, N_TASKS)
    per_task = DistributionMatchingMTL(_NotWide(), random_state=0).fit(X, Y)
    assert per_task.estimator_ is None and len(per_task.estimators_) == N_TASKS


def test_per_task_classifier_score_is_the_metrics_accuracy():
    """Per-task fits score with rkhsmtl.metrics.accuracy_score, also with more
    than two classes per task, and equal the weighted accuracy written plainly."""
    from rkhsmtl.metrics import accuracy_score

    rng = np.random.default_rng(9)
    n = 90
    X = rng.normal(size=(n, 2))
    task = np.arange(n) % 2
    Y = np.full((n, 2), None, dtype=object)
    Y[np.arange(n), task] = np.array(["a", "b", "c"])[np.digitize(X[:, 0], [-0.5, 0.5])]
    sw = rng.uniform(0.5, 2.0, (n, 2))
    model = DistributionMatchingMTL(LogisticRegression(), random_state=0).fit(X, Y)
    assert all(len(c) == 3 for c in model.classes_)
    pred = model.predict(X)
    score = model.score(X, Y, sample_weight=sw)
    plain = []
    for t in range(2):
        seen = task == t
        plain.append(np.sum(sw[seen, t] * (pred[seen, t] == Y[seen, t]))
                     / np.sum(sw[seen, t]))
    assert score == pytest.approx(np.mean(plain))
    assert score == accuracy_score(Y, pred, sample_weight=sw, classes=model.classes_)
    import rkhsmtl.distribution_matching as dm

    assert not hasattr(dm, "_nan_accuracy")
