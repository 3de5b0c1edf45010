"""The task-relation report: closed forms of A, planted clusters, transfer gain."""

import warnings

import joblib
import numpy as np
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import Ridge
from sklearn.metrics import adjusted_rand_score

from rkhsmtl import MultiTaskKernelClassifier, MultiTaskKernelRidge
from rkhsmtl.datasets import make_multitask_regression
from rkhsmtl.inspection import (
    TaskRelationReport,
    cluster_tasks,
    partial_correlation,
    task_relations,
)
from rkhsmtl.metrics import make_multitask_scorer
from rkhsmtl.structure import Clusters, Graph, OutputKernel

# ------------------------------------------------------------ closed forms of A


def test_correlation_and_partial_correlation_match_brute_force():
    rng = np.random.default_rng(0)
    B = rng.normal(size=(5, 7))
    A = B @ B.T
    report = task_relations(A)
    d = np.sqrt(np.diag(A))
    np.testing.assert_allclose(report.correlation, A / np.outer(d, d), atol=1e-12)
    P = np.linalg.inv(A)
    p = np.sqrt(np.diag(P))
    expected = -P / np.outer(p, p)
    np.fill_diagonal(expected, 1.0)
    np.testing.assert_allclose(report.partial_correlation, expected, atol=1e-10)
    assert report.partial_ridge == 0.0
    assert report.tasks == [0, 1, 2, 3, 4]


def test_known_clusters_give_block_correlations_and_are_recovered():
    labels = np.array([1, 0, 1, 0, 1, 2])
    strength = 9.0
    A = Clusters(labels, strength=strength).task_matrix(6)
    report = task_relations(A)
    same = labels[:, None] == labels[None, :]
    sizes = np.bincount(labels)[labels]
    # Within a cluster of size n the correlation is strength / (n + strength).
    expected = np.where(same, strength / (sizes[:, None] + strength), 0.0)
    np.fill_diagonal(expected, 1.0)
    np.testing.assert_allclose(report.correlation, expected, atol=1e-12)
    assert report.n_clusters == 3
    assert adjusted_rand_score(labels, report.clusters) == 1.0
    # Clusters are contiguous runs of the order, numbered along it.
    runs = report.clusters[report.order]
    assert np.all(np.diff(runs) >= 0) and runs[0] == 0


def test_partial_correlations_of_a_chain_vanish_beyond_neighbours():
    strength, T = 2.0, 5
    A = Graph("chain", strength=strength).task_matrix(T)
    partial, ridge = partial_correlation(A)
    assert ridge == 0.0
    # P = I + strength L: -P_st = strength on an edge, P_tt = 1 + strength deg(t).
    degree = np.r_[1, np.full(T - 2, 2), 1]
    for s in range(T):
        for t in range(T):
            if abs(s - t) > 1:
                assert abs(partial[s, t]) < 1e-12
            elif abs(s - t) == 1:
                expected = strength / np.sqrt((1 + strength * degree[s])
                                              * (1 + strength * degree[t]))
                assert partial[s, t] == pytest.approx(expected, rel=1e-10)
    # The plain correlations of the same chain are non-zero everywhere.
    assert np.all(np.abs(task_relations(A).correlation) > 1e-3)


def test_singular_structures_pooled_and_independent():
    T = 4
    pooled = task_relations(np.ones((T, T)))
    assert pooled.partial_ridge > 0
    off = ~np.eye(T, dtype=bool)
    # The limit of T equally correlated tasks as the correlation tends to 1.
    np.testing.assert_allclose(pooled.partial_correlation[off], 1 / (T - 1), rtol=1e-6)
    assert pooled.n_clusters == 1 and np.all(pooled.clusters == 0)
    independent = task_relations(np.eye(T))
    assert independent.n_clusters == T
    assert sorted(independent.clusters.tolist()) == list(range(T))
    np.testing.assert_allclose(independent.partial_correlation, np.eye(T), atol=1e-12)


def test_cluster_tasks_fixed_number_and_errors():
    A = Clusters([0, 0, 1, 1], strength=9.0).task_matrix(4)
    labels, order, silhouettes = cluster_tasks(task_relations(A).correlation, 3)
    assert labels.max() == 2
    assert np.isnan(silhouettes[[0, 4]]).all() and np.isfinite(silhouettes[1:4]).all()
    assert silhouettes[2] > silhouettes[3]
    # One cluster is scored against an unrelated task: the mean correlation.
    assert silhouettes[1] == pytest.approx(2 * 9 / 11 / 6)
    with pytest.raises(ValueError, match=r"n_clusters must be 'auto' or an integer"):
        cluster_tasks(np.eye(3), 4)
    with pytest.raises(ValueError, match="must be square"):
        task_relations(np.ones((2, 3)))
    with pytest.raises(ValueError, match="is zero"):
        partial_correlation(np.zeros((2, 2)))
    one = task_relations(np.array([[2.0]]))
    assert one.n_clusters == 1 and one.partial_correlation[0, 0] == 1.0


# ------------------------------------------------- planted structure, bootstrap


def _planted(n_clusters, seed=0):
    X, Y, _ = make_multitask_regression(n_samples=50, n_features=3, n_tasks=6,
                                        n_clusters=n_clusters, noise=0.2,
                                        random_state=seed)
    # Interleave the clusters so that the recovery does not rely on the order.
    perm = np.array([0, 3, 1, 4, 2, 5])
    truth = ((np.arange(6) * n_clusters) // 6)[perm]
    return X, Y[:, perm], truth


def _learned(X, Y):
    # Output kernel learning: the quickest learned structure to fit.
    return MultiTaskKernelRidge(alpha=0.1, gamma=0.3, tol=1e-4,
                                task_structure=OutputKernel(strength=1.0)).fit(X, Y)


@pytest.fixture(scope="module")
def planted():
    X, Y, truth = _planted(2)
    model = _learned(X, Y)
    report = task_relations(model, X, Y, n_bootstrap=5, baseline=None, random_state=0)
    return X, Y, truth, model, report


def test_planted_clusters_are_recovered_and_stable(planted):
    X, Y, truth, model, report = planted
    assert report.n_clusters == 2
    assert adjusted_rand_score(truth, report.clusters) == 1.0
    assert report.adjusted_rand.min() == 1.0
    assert np.all(report.bootstrap_n_clusters == 2)
    same = truth[:, None] == truth[None, :]
    assert report.co_clustering[same].min() == 1.0
    assert report.co_clustering[~same].max() == 0.0
    assert np.all(report.cluster_stability == 1.0)
    assert np.all(report.task_stability == 1.0)
    # The within-cluster correlations are clearly positive in every refit.
    low = report.correlation_interval[0]
    assert low[same & ~np.eye(6, dtype=bool)].min() > 0.2
    assert report.bootstrap_correlations.shape == (5, 6, 6)
    assert report.fold_scores is None and report.gain is None


def test_unstructured_tasks_give_no_clusters_and_a_forced_clustering_is_unstable(
        planted):
    stable = planted[-1]
    X, Y, _ = _planted(6)
    model = _learned(X, Y)
    auto = task_relations(model)
    assert auto.n_clusters == 6
    forced = task_relations(model, X, Y, n_bootstrap=5, n_clusters=2, baseline=None,
                            random_state=0)
    assert stable.n_clusters == 2 and stable.adjusted_rand.mean() == 1.0
    assert forced.adjusted_rand.mean() < 0.8
    assert forced.cluster_stability.max() < 0.9 < stable.cluster_stability.min()
    off = ~np.eye(6, dtype=bool)
    # Without structure the correlations hover around 0 with a visible spread.
    assert np.abs(forced.correlation[off]).max() < 0.4
    assert forced.correlation_std[off].mean() > 0.02


def test_n_jobs_does_not_change_the_report(planted):
    X, Y, _, model, _ = planted
    kwargs = dict(n_bootstrap=2, cv=2, scoring="mse", random_state=0)
    one = task_relations(model, X, Y, n_jobs=1, **kwargs)
    with joblib.parallel_config(backend="threading"):
        two = task_relations(model, X, Y, n_jobs=2, **kwargs)
    np.testing.assert_array_equal(one.bootstrap_correlations, two.bootstrap_correlations)
    np.testing.assert_array_equal(one.fold_scores, two.fold_scores)
    np.testing.assert_array_equal(one.fold_baseline_scores, two.fold_baseline_scores)
    np.testing.assert_array_equal(one.gain_interval, two.gain_interval)


# ------------------------------------------------------------------ transfer gain


def _one_unrelated_task(seed=0, n=60):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-2, 2, size=(n, 2))
    f, g = np.sin(2 * X[:, 0]), np.cos(2 * X[:, 1])
    Y = np.column_stack([f, f, f, g]) + 0.3 * rng.normal(size=(n, 4))
    return X, Y


def test_a_task_forced_into_a_pooled_structure_shows_negative_transfer():
    X, Y = _one_unrelated_task()
    model = MultiTaskKernelRidge(alpha=1.0, gamma=0.5, task_structure="pooled").fit(X, Y)
    report = task_relations(model, X, Y, scoring="mse", random_state=0)
    np.testing.assert_array_equal(report.negative_transfer, [False, False, False, True])
    assert report.gain[3] < -0.2
    assert report.fold_scores.shape == report.fold_baseline_scores.shape == (5, 4)
    np.testing.assert_allclose(report.gain,
                               (report.fold_scores - report.fold_baseline_scores).mean(0))
    # The standard error of the corrected resampled t-test, 5 folds of 60 rows.
    differences = report.fold_scores - report.fold_baseline_scores
    ratio = np.mean([12 / 48])
    np.testing.assert_allclose(
        report.gain_se, differences.std(0, ddof=1) * np.sqrt(1 / 5 + ratio))
    assert "NEGATIVE" in report.summary()


def test_baseline_is_the_independent_clone_and_can_be_given():
    X, Y = _one_unrelated_task(n=40)
    model = MultiTaskKernelRidge(alpha=1.0, gamma=0.5,
                                 task_structure="independent").fit(X, Y)
    report = task_relations(model, X, Y, cv=3, random_state=0)
    # The same model as its baseline: no gain at all.
    np.testing.assert_array_equal(report.gain, np.zeros(4))
    assert not report.negative_transfer.any() and report.scoring == "r2"
    from rkhsmtl.experiments import PerTaskEstimator

    given = task_relations(model, X, Y, cv=3, random_state=0,
                           baseline=PerTaskEstimator(Ridge()),
                           scoring=make_multitask_scorer("r2", per_task=True))
    assert given.gain.shape == (4,) and np.all(given.gain > 0)


def test_classifier_report():
    X, Y = _one_unrelated_task(n=60)
    labels = np.where(Y > 0, "yes", "no").astype(object)
    labels[::7, 1] = None
    model = MultiTaskKernelClassifier(alpha=0.1, gamma=0.5,
                                      task_structure="pooled").fit(X, labels)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = task_relations(model, X, labels, n_bootstrap=2, cv=3, random_state=0)
    assert report.scoring == "roc_auc"
    assert report.n_clusters == 1
    assert np.all(report.gain_interval[0] <= report.gain)
    assert report.gain[3] < 0


def test_linear_clustered_mtl_reads_its_task_relation(planted):
    from rkhsmtl.linear import MultiTaskLinearRegressor

    X, Y = planted[:2]
    model = MultiTaskLinearRegressor(alpha=1.0, l2=0.5, penalty="cmtl").fit(X, Y)
    report = task_relations(model)
    eta = model.l2_ / model.alpha_
    np.testing.assert_allclose(report.task_structure,
                               model.task_relation_ + eta * np.eye(6), atol=1e-12)


# ---------------------------------------------------------------------- errors


def test_clear_errors():
    X, Y = _one_unrelated_task(n=20)
    with pytest.raises(NotFittedError, match="not fitted: call fit"):
        task_relations(MultiTaskKernelRidge())
    with pytest.raises(TypeError, match="has no task-structure matrix"):
        task_relations(Ridge().fit(X, Y))
    model = MultiTaskKernelRidge(task_structure="pooled").fit(X, Y)
    with pytest.raises(ValueError, match="pass its training data X and Y"):
        task_relations(model, n_bootstrap=2)
    with pytest.raises(ValueError, match="baseline must be 'independent'"):
        task_relations(model, X, Y, baseline="pooled")
    with pytest.raises(TypeError, match="not its matrix"):
        task_relations(model.task_structure_, X, Y)
    with pytest.raises(ValueError, match="must be the model's training data"):
        task_relations(model, X, Y[:, :3])
    with pytest.raises(ValueError, match="scoring must be a metric name"):
        task_relations(model, X, Y, scoring="no_such_score")
    with pytest.raises(ValueError, match="n_bootstrap must be an integer >= 0"):
        task_relations(model, X, Y, n_bootstrap=-1)
    with pytest.raises(ValueError, match=r"confidence must be in \(0, 1\)"):
        task_relations(model, confidence=95)
    with pytest.raises(TypeError, match="must return per-task values"):
        task_relations(model, X, Y, cv=2, scoring=lambda est, X, Y: 0.0)
    # One label per task: a resample keeps all 20 with probability about 1e-4.
    one_label = np.where(np.eye(20, dtype=bool), 1.0, np.nan)
    model.fit(X, one_label)
    with pytest.raises(ValueError, match="too few labels to be resampled"):
        task_relations(model, X, one_label, n_bootstrap=1, baseline=None,
                       random_state=0)


# --------------------------------------------------------------- table and plots


def test_summary_and_frames(planted):
    pd = pytest.importorskip("pandas")
    X, Y = planted[:2]
    frame_y = pd.DataFrame(Y, columns=[f"t{i}" for i in range(6)])
    model = _learned(X, frame_y)
    report = task_relations(model, X, frame_y, n_bootstrap=2, cv=2, random_state=0)
    assert isinstance(report, TaskRelationReport) and "n_clusters=2" in repr(report)
    tasks = report.to_frame()
    assert tasks["task"].tolist() == [f"t{i}" for i in range(6)]
    assert {"cluster", "stability", "gain", "gain_low", "gain_high",
            "transfer"} <= set(tasks.columns)
    pairs = report.to_frame("pairs")
    assert len(pairs) == 15 and "co_clustering" in pairs.columns
    text = str(report)
    assert "clusters: 2" in text and "t5" in text and "bootstrap: 2 refits" in text
    with pytest.raises(ValueError, match="kind must be 'tasks' or 'pairs'"):
        report.to_frame("rows")
    bare = task_relations(model)
    assert "gain" not in bare.to_frame().columns


def test_plot_draws_clusters_and_gain():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from rkhsmtl.plotting import plot_task_clusters

    X, Y = _one_unrelated_task(n=40)
    model = MultiTaskKernelRidge(alpha=1.0, gamma=0.5,
                                 task_structure=Clusters([0, 0, 0, 1], 9.0)).fit(X, Y)
    report = task_relations(model, X, Y, cv=3, random_state=0)
    heatmap, gain = report.plot()
    assert len(heatmap.patches) == report.n_clusters == 2
    image = heatmap.images[0].get_array()
    np.testing.assert_allclose(image, report.correlation[np.ix_(report.order,
                                                                report.order)])
    assert len(gain.patches) == 4
    heights = [bar.get_height() for bar in gain.patches]
    np.testing.assert_allclose(heights, report.gain[report.order])
    with pytest.raises(ValueError, match="n_bootstrap > 0"):
        plot_task_clusters(report, matrix="co_clustering")
    only_a = task_relations(model)
    assert len(only_a.plot(matrix="partial_correlation")) == 1
    with pytest.raises(ValueError, match="draws 1 panel"):
        only_a.plot(axes=[heatmap, gain])
    plt.close("all")
