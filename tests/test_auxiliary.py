"""Primary and auxiliary tasks: the task scorer, the greedy selection of auxiliary
tasks (planted helpful and unrelated tasks, exact leave-one-out against refits)
and the generator of such problems."""

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import GridSearchCV

from rkhsmtl import (
    MultiTaskKernelClassifier,
    MultiTaskKernelRidge,
    MultiTaskKernelRidgeCV,
)
from rkhsmtl.auxiliary import AuxiliarySelection, select_auxiliary_tasks
from rkhsmtl.datasets import make_auxiliary_tasks
from rkhsmtl.metrics import make_task_scorer, r2_score, roc_auc_score
from rkhsmtl.structure import MeanRegularized


def _regression(seed=0, n_samples=60):
    return make_auxiliary_tasks(n_samples=n_samples, n_helpful=2, n_unrelated=2,
                                primary="regression", relatedness=0.95, noise=0.2,
                                random_state=seed)


def _ridge(alpha=0.01):
    return MultiTaskKernelRidge(alpha=alpha, gamma=0.05,
                                task_structure=MeanRegularized(strength=10.0))


# ------------------------------------------------------------------ task scorer
def test_task_scorer_scores_the_chosen_columns_only():
    X, Y, _ = _regression()
    model = _ridge().fit(X, Y)
    pred = model.predict(X)
    scorer = make_task_scorer("r2", tasks=[0, 3])
    assert scorer(model, X, Y) == pytest.approx(r2_score(Y[:, [0, 3]], pred[:, [0, 3]]))
    # Names of a DataFrame Y (the fitted tasks_), and a 2-D weight's columns.
    _, _, names = _regression()
    frame = pd.DataFrame(Y, columns=names)
    named = _ridge().fit(X, frame)
    W = np.random.default_rng(0).uniform(0.5, 2.0, size=Y.shape)
    assert make_task_scorer("r2", tasks="primary")(named, X, frame, sample_weight=W) \
        == pytest.approx(r2_score(Y[:, 0], pred[:, 0], sample_weight=W[:, 0]))


def test_task_scorer_of_a_classifier_uses_that_task_and_its_classes():
    X, Y, _ = make_auxiliary_tasks(n_samples=60, auxiliary="classification",
                                   primary_fraction=0.5, random_state=0)
    labels = np.where(np.isnan(Y), None, np.where(Y > 0, "yes", "no")).astype(object)
    model = MultiTaskKernelClassifier(alpha=1.0).fit(X, labels)
    value = make_task_scorer("roc_auc", tasks=2)(model, X, labels)
    expected = roc_auc_score(labels[:, 2], model.decision_function(X)[:, 2],
                             classes=["no", "yes"])
    assert value == pytest.approx(expected)


def test_task_scorer_tunes_a_search_for_the_primary_task():
    X, Y, _ = _regression()
    grid = {"alpha": [0.001, 0.1, 10.0]}
    search = GridSearchCV(_ridge(), grid, cv=3,
                          scoring=make_task_scorer("r2", tasks=[0])).fit(X, Y)
    ridge_cv = MultiTaskKernelRidgeCV(alphas=grid["alpha"], gammas=[0.05],
                                      task_structures=[MeanRegularized(10.0)],
                                      scoring=make_task_scorer("r2", tasks=[0]),
                                      refit=False).fit(X, Y)
    # The LOO search's score is the primary task's alone, per-task columns intact.
    primary = ridge_cv.cv_results_["mean_test_score_task_0"]
    np.testing.assert_allclose(ridge_cv.cv_results_["mean_test_score"], primary)
    assert ridge_cv.best_index_ == int(np.argmax(primary))
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))


def test_task_scorer_errors():
    X, Y, _ = _regression()
    model = _ridge().fit(X, Y)
    with pytest.raises(ValueError, match="Unknown task"):
        make_task_scorer("r2", tasks=["failure"])(model, X, Y)
    with pytest.raises(ValueError, match="tasks is empty"):
        make_task_scorer("r2", tasks=[])
    with pytest.raises(ValueError, match="more than once"):
        make_task_scorer("r2", tasks=[0, 0])
    with pytest.raises(ValueError, match="one scorer name or callable"):
        make_task_scorer(["r2", "neg_mean_squared_error"], tasks=[0])


# ------------------------------------------------------------------- selection
@pytest.mark.parametrize("seed", [0, 1])
def test_loo_selection_ranks_planted_helpful_tasks_first(seed):
    X, Y, tasks = _regression(seed)
    selection = select_auxiliary_tasks(_ridge(), X, Y, primary=0)
    assert isinstance(selection, AuxiliarySelection)
    assert selection.criterion == "leave-one-out"
    ranked = [tasks[t] for t in selection.ranking]
    assert sorted(ranked[:2]) == ["helpful_0", "helpful_1"]
    assert sorted(selection.ranking) == sorted(selection.candidates)
    assert selection.gains[0] > 0.1
    # The selected tasks are the best prefix; no unrelated task in it.
    assert all(tasks[t].startswith("helpful") for t in selection.selected)
    best = len(selection.selected)
    assert selection.best_score == selection.scores[best] == selection.scores.max()
    np.testing.assert_allclose(selection.gains, np.diff(selection.scores))


def _sample_loo_r2(estimator, X, Y):
    """R^2 of task 0 of refits without each labelled row (every label of it)."""
    pred = np.zeros(X.shape[0])
    for i in np.flatnonzero(~np.isnan(Y[:, 0])):
        keep = np.arange(X.shape[0]) != i
        pred[i] = estimator.fit(X[keep], Y[keep]).predict(X[i:i + 1])[0, 0]
    return r2_score(Y[:, 0], pred)


def test_loo_criterion_equals_brute_force_refits():
    X, Y, _ = make_auxiliary_tasks(n_samples=14, n_features=2, n_helpful=1,
                                   n_unrelated=1, primary="regression",
                                   primary_fraction=0.6, random_state=3)
    Y[[1, 6], 2] = np.nan  # missing auxiliary labels too
    estimator = MultiTaskKernelRidge(alpha=0.3, task_structure="mean_regularized")
    selection = select_auxiliary_tasks(estimator, X, Y, primary=0)
    history = selection.history
    assert history["step"].tolist() == [0, 1, 1, 2]
    for step, task, score in zip(history["step"], history["task"], history["score"],
                                 strict=True):
        columns = [0] + (selection.ranking[:step - 1] + [task] if step else [])
        assert score == pytest.approx(_sample_loo_r2(estimator, X, Y[:, columns]),
                                      rel=1e-7, abs=1e-9)


def test_folds_rank_a_helpful_exceedance_first_for_a_classifier():
    X, Y, tasks = make_auxiliary_tasks(n_samples=80, n_helpful=1, n_unrelated=2,
                                       auxiliary="classification", relatedness=1.0,
                                       noise=0.1, primary_fraction=0.5, random_state=0)
    classifier = MultiTaskKernelClassifier(alpha=1.0, gamma=0.1,
                                           task_structure=MeanRegularized(5.0))
    selection = select_auxiliary_tasks(classifier, X, Y, primary=0, cv=3,
                                       max_tasks=1)
    assert selection.criterion == "3-fold"
    assert selection.scoring == "neg_log_loss"
    assert tasks[selection.ranking[0]] == "helpful_0"
    assert selection.gains[0] > 0
    assert len(selection.history["step"]) == 1 + 3  # the primary, then 3 tries


def test_search_estimator_scores_its_best_candidate_for_the_primary():
    X, Y, _ = _regression(n_samples=40)
    alphas = [0.01, 1.0]
    search = MultiTaskKernelRidgeCV(alphas=alphas, gammas=[0.05],
                                    task_structures=[MeanRegularized(10.0)])
    selection = select_auxiliary_tasks(search, X, Y, primary=0, max_tasks=1)
    assert selection.criterion == "search"
    # The primary alone: entry and sample leave-one-out agree (one task).
    alone = [select_auxiliary_tasks(_ridge(a), X, Y, primary=0, max_tasks=1).scores[0]
             for a in alphas]
    assert selection.scores[0] == pytest.approx(max(alone))


def test_n_jobs_gives_the_same_path():
    X, Y, _ = _regression(n_samples=40)
    one = select_auxiliary_tasks(_ridge(), X, Y, primary=0, n_jobs=1)
    with joblib.parallel_config(backend="threading"):
        two = select_auxiliary_tasks(_ridge(), X, Y, primary=0, n_jobs=2)
    assert two.ranking == one.ranking
    np.testing.assert_array_equal(two.history["score"], one.history["score"])


def test_names_max_tasks_tol_and_table():
    X, Y, tasks = _regression(n_samples=40)
    frame = pd.DataFrame(Y, columns=tasks)
    candidates = [t for t in tasks if t != "primary"]
    short = select_auxiliary_tasks(_ridge(), X, frame, primary="primary",
                                   candidates=candidates, max_tasks=2)
    assert len(short.ranking) == 2 and set(short.ranking) <= set(candidates)
    assert short.primary == ["primary"]
    table = short.to_frame()
    assert list(table.columns) == ["step", "task", "score", "gain", "added"]
    assert len(table) == 1 + 4 + 3 and table["added"].sum() == 2
    # A huge tolerance stops before the first step: nothing is selected.
    none = select_auxiliary_tasks(_ridge(), X, frame, primary="primary", tol=10.0)
    assert none.ranking == [] and none.selected == []
    assert none.best_score == none.scores[0]
    assert "primary" in repr(none)


def test_selection_errors():
    X, Y, _ = _regression(n_samples=20)
    with pytest.raises(ValueError, match="Unknown task.*primary"):
        select_auxiliary_tasks(_ridge(), X, Y, primary=7)
    with pytest.raises(ValueError, match="candidates is empty"):
        select_auxiliary_tasks(_ridge(), X, Y, primary=0, candidates=[])
    with pytest.raises(ValueError, match="both primary and candidates"):
        select_auxiliary_tasks(_ridge(), X, Y, primary=0, candidates=[0, 1])
    with pytest.raises(ValueError, match="no candidate auxiliary task"):
        select_auxiliary_tasks(_ridge(), X, Y[:, :1], primary=0)
    with pytest.raises(ValueError, match="must be 2-D"):
        select_auxiliary_tasks(_ridge(), X, Y[:, 0], primary=0)
    with pytest.raises(ValueError, match="max_tasks must be a positive integer"):
        select_auxiliary_tasks(_ridge(), X, Y, primary=0, max_tasks=0)
    with pytest.raises(ValueError, match="not a multi-task scorer name"):
        select_auxiliary_tasks(_ridge(), X, Y, primary=0, scoring="r_two")


# ------------------------------------------------------------------- generator
def test_generator_plants_the_truth():
    kwargs = dict(n_samples=400, n_helpful=2, n_unrelated=2, primary="regression",
                  noise=0.0, relatedness=0.9, shuffle=False, random_state=0)
    X, Y, tasks = make_auxiliary_tasks(primary_fraction=1.0, **kwargs)
    assert X.shape == (400, 4) and Y.shape == (400, 5)
    assert tasks.tolist() == ["primary", "helpful_0", "helpful_1", "unrelated_0",
                              "unrelated_1"]
    corr = np.corrcoef(Y.T)[0]
    np.testing.assert_allclose(corr[1:3], 0.9, atol=1e-10)
    np.testing.assert_allclose(corr[3:], 0.0, atol=1e-10)
    X2, Y2, _ = make_auxiliary_tasks(primary_fraction=0.25, **kwargs)
    np.testing.assert_array_equal(X2, X)
    assert np.isnan(Y2[:, 0]).sum() == 300 and not np.isnan(Y2[:, 1:]).any()
    labelled = ~np.isnan(Y2[:, 0])
    np.testing.assert_array_equal(Y2[labelled], Y[labelled])


def test_generator_exceedance_labels_and_errors():
    _, Y, _ = make_auxiliary_tasks(n_samples=100, auxiliary="classification",
                                   positive_rate=0.2, random_state=1)
    observed = Y[~np.isnan(Y)]
    assert set(np.unique(observed)) == {0.0, 1.0}
    np.testing.assert_allclose(np.nanmean(Y[:, 1:], axis=0), 0.2, atol=0.02)
    assert set(np.unique(Y[~np.isnan(Y[:, 0]), 0])) == {0.0, 1.0}
    with pytest.raises(ValueError, match="primary must be one of"):
        make_auxiliary_tasks(primary="ordinal")
    with pytest.raises(ValueError, match="positive_rate must be in"):
        make_auxiliary_tasks(positive_rate=1.0)
