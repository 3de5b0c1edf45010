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
