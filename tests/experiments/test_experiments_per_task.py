"""PerTaskEstimator: one single-task model per task, a scikit-learn estimator itself."""

import numpy as np
import pytest
from sklearn.base import clone, is_classifier, is_regressor
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.utils.estimator_checks import parametrize_with_checks

from rkhsmtl.experiments import PerTaskEstimator
from rkhsmtl.metrics import r2_score


def _expected_failures(estimator):
    if is_classifier(estimator):
        # As for MultiTaskKernelClassifier: classes_ is a list of per-task arrays,
        # which this check indexes as one array shared by every output.
        return {"check_classifier_multioutput": "classes_ is a list of per-task "
                                                "arrays of classes."}
    return {}


@pytest.mark.slow
@parametrize_with_checks([PerTaskEstimator(Ridge()), PerTaskEstimator(LogisticRegression())],
                         expected_failed_checks=_expected_failures)
def test_scikit_learn_common_checks(estimator, check):
    check(estimator)


def test_it_is_a_regressor_or_a_classifier_like_its_estimator():
    assert is_regressor(PerTaskEstimator(Ridge()))
    assert is_classifier(PerTaskEstimator(LogisticRegression()))
    assert clone(PerTaskEstimator(Ridge(alpha=3.0))).estimator.alpha == 3.0


def test_predictions_and_probabilities_are_those_of_each_tasks_model(rng):
    X = rng.normal(size=(50, 3))
    Y = np.where(X[:, :2] + 0.5 * rng.normal(size=(50, 2)) > 0, 1.0, 0.0)
    Y[rng.random(Y.shape) < 0.3] = np.nan
    model = PerTaskEstimator(LogisticRegression()).fit(X, Y)
    proba = model.predict_proba(X)
    assert proba.shape == (50, 2) and model.decision_function(X).shape == (50, 2)
    for t in range(2):
        rows = ~np.isnan(Y[:, t])
        alone = LogisticRegression().fit(X[rows], Y[rows, t])
        np.testing.assert_allclose(proba[:, t], alone.predict_proba(X)[:, 1])
        np.testing.assert_array_equal(model.predict(X)[:, t], alone.predict(X))
        np.testing.assert_array_equal(model.classes_[t], [0.0, 1.0])


def test_score_is_the_mean_task_r2_on_observed_labels(rng):
    X = rng.normal(size=(40, 2))
    Y = X @ rng.normal(size=(2, 3)) + 0.1 * rng.normal(size=(40, 3))
    Y[rng.random(Y.shape) < 0.25] = np.nan
    model = PerTaskEstimator(Ridge()).fit(X, Y)
    assert model.score(X, Y) == pytest.approx(r2_score(Y, model.predict(X)))


def test_weights_per_entry_reach_each_tasks_model(rng):
    X = rng.normal(size=(30, 2))
    Y = rng.normal(size=(30, 2))
    W = rng.uniform(0.5, 2.0, size=(30, 2))
    model = PerTaskEstimator(Ridge()).fit(X, Y, sample_weight=W)
    alone = Ridge().fit(X, Y[:, 1], sample_weight=W[:, 1])
    np.testing.assert_allclose(model.estimators_[1].coef_, alone.coef_)
    with pytest.raises(ValueError, match="sample_weight has shape"):
        PerTaskEstimator(Ridge()).fit(X, Y, sample_weight=np.ones(3))
