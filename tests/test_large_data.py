"""MultiTaskKernelRidge with a low-rank kernel approximation: exactness with every
point as a Nyström centre, random features against brute force, ``partial_fit``
and Dask against the in-memory fit, parameters and errors."""

import pickle
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.kernel_approximation import RBFSampler
from sklearn.utils.estimator_checks import parametrize_with_checks

import rkhsmtl
from rkhsmtl import MultiTaskKernelRidge
from rkhsmtl._solvers.plan import ProblemShape, plan_fixed_solver
from rkhsmtl._solvers.statistics import accumulate_statistics, solve_fixed_statistics
from rkhsmtl.exceptions import MemoryBudgetError
from tests.reference import stacked_kronecker_solve


def _data(rng, n=40, T=3, missing=False):
    X = rng.normal(size=(n, 3))
    Y = np.column_stack([np.sin(X[:, 0]), np.cos(X[:, 1]), X[:, 2] * X[:, 0],
                         X[:, 1]][:T]) + 0.1 * rng.normal(size=(n, T))
    if missing:
        Y[rng.random((n, T)) < 0.3] = np.nan
    return X, Y


CASES = {
    "fixed-complete-weighted": dict(task_structure="mean_regularized", missing=False,
                                    weights="sample"),
    "fixed-masked-entry-weights": dict(task_structure="chain", missing=True,
                                       weights="entry"),
    "learned-complete": dict(task_structure="low_rank", missing=False, weights=None),
    "learned-masked": dict(task_structure="relation", missing=True, weights=None),
}


@pytest.mark.parametrize("case", CASES)
def test_every_point_a_centre_is_the_exact_fit(rng, case):
    spec = CASES[case]
    X, Y = _data(rng, missing=spec["missing"])
    w = {None: None, "sample": rng.uniform(0.5, 2, 40),
         "entry": rng.uniform(0.5, 2, (40, 3))}[spec["weights"]]
    params = dict(alpha=0.1, gamma=0.4, task_structure=spec["task_structure"], tol=1e-10)
    exact = MultiTaskKernelRidge(**params).fit(X, Y, sample_weight=w)
    approx = MultiTaskKernelRidge(**params, approximation="nystrom", n_components=40,
                                  random_state=0).fit(X, Y, sample_weight=w)
    X_new = rng.normal(size=(9, 3))
    np.testing.assert_allclose(approx.predict(X_new), exact.predict(X_new), atol=1e-8)
    np.testing.assert_allclose(approx.task_structure_, exact.task_structure_, atol=1e-8)
    assert approx.coef_.shape == (3, approx.feature_map_.n_components)
    assert not hasattr(approx, "X_fit_") and not hasattr(approx, "dual_coef_")
    assert approx.solver_info_["approximation"] == "nystrom"
    assert approx.solver_info_["system"] == ("per_task" if spec["missing"]
                                             or spec["weights"] == "entry" else "shared")
    if "learned" in case:
        history = approx.objective_history_
        assert np.all(np.diff(history) <= 1e-10 * np.abs(history[:-1]))
        assert approx.solver_ == "alternating"
    else:
        assert approx.solver_ == "primal"


@pytest.mark.parametrize("missing", [False, True])
def test_random_features_match_the_stacked_kronecker_solve(rng, missing):
    X, Y = _data(rng, missing=missing)
    A = np.array([[2.0, 0.5, 0.0], [0.5, 1.0, 0.3], [0.0, 0.3, 1.5]])
    model = MultiTaskKernelRidge(alpha=0.2, gamma=0.3, task_structure=A,
                                 approximation="rff", n_components=25,
                                 random_state=3).fit(X, Y)
    sampler = RBFSampler(gamma=0.3, n_components=25, random_state=3).fit(X)
    Phi = sampler.transform(X)
    C = stacked_kronecker_solve(Phi @ Phi.T, Y, A, 0.2)
    X_new = rng.normal(size=(6, 3))
    np.testing.assert_allclose(model.predict(X_new),
                               sampler.transform(X_new) @ Phi.T @ C @ A, atol=1e-8)


def test_matches_a_nystroem_pipeline_for_independent_tasks(rng):
    """A = I: every task is the single-task ridge on the same Nyström features."""
    from sklearn.kernel_approximation import Nystroem
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline

    X, Y = _data(rng, n=60)
    # The same random_state draws the same centres as scikit-learn's.
    model = MultiTaskKernelRidge(alpha=0.3, gamma=0.5, approximation="nystrom",
                                 n_components=25, random_state=0).fit(X, Y)
    pipe = make_pipeline(Nystroem(gamma=0.5, n_components=25, random_state=0),
                         Ridge(alpha=0.3, fit_intercept=False)).fit(X, Y)
    X_new = rng.normal(size=(5, 3))
    np.testing.assert_allclose(model.predict(X_new), pipe.predict(X_new), atol=1e-6)


@pytest.mark.parametrize("task_structure", ["mean_regularized", "low_rank"])
@pytest.mark.parametrize("missing", [False, True])
def test_partial_fit_over_chunks_is_the_one_shot_fit(rng, task_structure, missing):
    X, Y = _data(rng, n=90, missing=missing)
    params = dict(alpha=0.1, task_structure=task_structure, approximation="rff",
                  n_components=30, random_state=0)
    one_shot = MultiTaskKernelRidge(**params).fit(X, Y)
    streamed = MultiTaskKernelRidge(**params)
    for start in range(0, 90, 25):
        streamed.partial_fit(X[start:start + 25], Y[start:start + 25])
    X_new = rng.normal(size=(7, 3))
    np.testing.assert_allclose(streamed.predict(X_new), one_shot.predict(X_new),
                               atol=1e-10)
    assert streamed.solver_info_["n_samples_seen"] == 90


def test_nystrom_partial_fit_keeps_the_first_chunks_centres(rng):
    X, Y = _data(rng, n=90, missing=True)
    model = MultiTaskKernelRidge(alpha=0.1, task_structure="mean_regularized",
                                 approximation="nystrom", n_components=20,
                                 random_state=0)
    model.partial_fit(X[:30], Y[:30])
    centres = model.feature_map_.centres.copy()
    assert all(any(np.array_equal(c, x) for x in X[:30]) for c in centres)
    model.partial_fit(X[30:60], Y[30:60]).partial_fit(X[60:], Y[60:])
    np.testing.assert_array_equal(model.feature_map_.centres, centres)
    # The one-shot solve on all rows with that feature map.
    fmap = model.feature_map_
    stats = accumulate_statistics(lambda rows: fmap.transform(rows, np), X, Y, None, np,
                                  block_rows=1000)
    A = model.task_structure_
    coef, _ = solve_fixed_statistics(stats, A, 0.1, np)
    np.testing.assert_allclose(model.coef_, coef.T, atol=1e-10)


def _plain_statistics(Phi, Y, w):
    """Per-task ``Phi^T D_t Phi`` and ``Phi^T D_t y_t`` summed entry by entry."""
    W = np.where(np.isnan(Y), 0.0, np.ones_like(Y) if w is None else
                 (w[:, None] * np.ones_like(Y) if w.ndim == 1 else w))
    Y0 = np.nan_to_num(Y)
    gram = np.einsum("it,ia,ib->tab", W, Phi, Phi)
    return gram, Phi.T @ (W * Y0), (W * Y0**2).sum(0), (W > 0).sum(0)


def _one_label_per_row(rng, n, T):
    """School's layout: each row labelled for one task drawn at random."""
    X = rng.normal(size=(n, 3))
    Y = X @ rng.normal(size=(3, T)) + 0.1 * rng.normal(size=(n, T))
    keep = rng.integers(0, T, size=n)
    return X, np.where(np.arange(T)[None, :] == keep[:, None], Y, np.nan)


STATISTICS_CASES = ["complete", "complete-sample-weights", "complete-equal-entry-weights",
                    "missing", "missing-entry-weights", "one-label-per-row",
                    "one-label-per-row-weights", "complete-entry-weights"]


@pytest.mark.parametrize("case", STATISTICS_CASES)
@pytest.mark.parametrize("block_rows", [7, 1000])
def test_chunked_statistics_equal_the_plain_sums(rng, case, block_rows):
    """The syrk products with square-root weights, the in-place sums and both
    per-task orders (by chunk, by task) give the entry-by-entry sums."""
    from rkhsmtl._solvers import statistics

    n, T = 50, 3
    X, Y = (_one_label_per_row(rng, n, T) if "one-label" in case
            else _data(rng, n=n, T=T, missing=case.startswith("missing")))
    w = None
    if "sample-weights" in case:
        w = rng.uniform(0.2, 2.0, n)
    elif "equal-entry" in case:
        w = np.repeat(rng.uniform(0.2, 2.0, (n, 1)), T, axis=1)
    elif "weights" in case:
        w = rng.uniform(0.2, 2.0, (n, T))
        w[rng.random((n, T)) < 0.2] = 0.0  # zero weights drop their entries
    Phi = np.column_stack([X, X**2, np.sin(X)])  # 9 features

    def check(stats, per_task):
        gram, cross, sq, counts = _plain_statistics(Phi, Y, w)
        assert stats.per_task == per_task
        np.testing.assert_allclose(stats.gram, gram if per_task else gram[0],
                                   rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(stats.cross, cross, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(stats.sq, sq, rtol=1e-10)
        np.testing.assert_array_equal(stats.counts, counts)
        assert stats.n_samples == n

    shared = case.startswith("complete") and case != "complete-entry-weights"
    check(accumulate_statistics(lambda rows: np.column_stack(
        [rows, rows**2, np.sin(rows)]), X, Y, w, np, block_rows=block_rows),
        per_task=not shared)
    # Each per-task order, whatever the cost model would pick.
    for order in (statistics._per_task_by_chunk, statistics._per_task_by_task):
        gram, cross = order(lambda rows: np.column_stack([rows, rows**2, np.sin(rows)]),
                            X, Y, w, np, block_rows)
        plain_gram, plain_cross, _, _ = _plain_statistics(Phi, Y, w)
        np.testing.assert_allclose(gram, plain_gram, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(cross, plain_cross, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("one_label_per_row", [False, True])
def test_per_task_order_follows_the_labels_per_row(rng, monkeypatch, one_label_per_row):
    """One label per row: sums by task (no chunks x T additions); many: by chunk."""
    from rkhsmtl._solvers import statistics

    taken = []

    def spy(name):
        order = getattr(statistics, name)
        return lambda *args: taken.append(name) or order(*args)

    for name in ("_per_task_by_chunk", "_per_task_by_task"):
        monkeypatch.setattr(statistics, name, spy(name))
    n, T = 400, 20
    X, Y = (_one_label_per_row(rng, n, T) if one_label_per_row
            else _data(rng, n=n, T=3, missing=True))
    accumulate_statistics(lambda rows: rows, X, Y, None, np, block_rows=100)
    assert taken == (["_per_task_by_task"] if one_label_per_row
                     else ["_per_task_by_chunk"])


@pytest.mark.parametrize("scale", [1.0, 30.0])
def test_nystrom_rbf_columns_equal_the_kernel(rng, scale):
    """The in-place "rbf" evaluation of the fit's chunks is the kernel, also for
    inputs far from the origin (a large |x|^2 cancelling in the exponent)."""
    from rkhsmtl.kernel_approximation import NystromFeatureMap, statistics_block_rows
    from rkhsmtl.kernels import PairwiseKernel

    X = scale * rng.normal(size=(40, 4)) + 5.0 * scale
    kernel = PairwiseKernel("rbf", gamma=0.2 / scale**2)
    fmap = NystromFeatureMap(kernel, X[:15], np)
    np.testing.assert_allclose(fmap.columns(X, np), kernel(X, X[:15]), rtol=1e-10,
                               atol=1e-12)
    # The statistics pass takes at least m rows per chunk (an efficient syrk).
    with rkhsmtl.config_context(working_memory=0.001):
        assert fmap.block_rows() == 1
        assert statistics_block_rows(fmap) == 15


def test_learned_b_steps_take_conjugate_gradients_when_cheaper(rng, monkeypatch):
    """Per-task statistics, learned structure: a factorisation per B-step costs
    more than warm-started CG from a few hundred unknowns; both give the same fit."""
    import rkhsmtl._solvers.alternating as alternating
    from rkhsmtl._solvers.statistics import per_task_route

    # The same iterations on both routes: the factorised route would otherwise
    # take Newton steps (the CG route cannot).
    monkeypatch.setattr(alternating, "_USE_NEWTON", False)

    assert per_task_route(8, 3, repeated=True) == "cholesky"
    assert per_task_route(100, 20, repeated=True) == "cg"
    assert per_task_route(100, 20) == "cholesky"  # one factorisation per fit
    X, Y = _one_label_per_row(rng, 200, 12)
    params = dict(alpha=0.1, task_structure="low_rank", approximation="rff",
                  n_components=25, random_state=0, max_iter=5, tol=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # max_iter reached on purpose
        auto = MultiTaskKernelRidge(**params).fit(X, Y)
        direct = MultiTaskKernelRidge(**params, solver="primal").fit(X, Y)
    assert auto.solver_info_["method"] == "cg"
    assert direct.solver_info_["method"] == "cholesky"
    np.testing.assert_allclose(auto.predict(X[:20]), direct.predict(X[:20]), atol=1e-7)
    np.testing.assert_allclose(auto.objective_history_, direct.objective_history_,
                               rtol=1e-8)


def test_fit_then_partial_fit_continues(rng):
    X, Y = _data(rng, n=60)
    params = dict(alpha=0.1, approximation="rff", n_components=20, random_state=1)
    model = MultiTaskKernelRidge(**params).fit(X[:40], Y[:40]).partial_fit(X[40:],
                                                                           Y[40:])
    reference = MultiTaskKernelRidge(**params).fit(X, Y)
    np.testing.assert_allclose(model.coef_, reference.coef_, atol=1e-10)


def test_partial_fit_needs_an_approximation_and_the_same_tasks(rng):
    X, Y = _data(rng)
    assert not hasattr(MultiTaskKernelRidge(), "partial_fit")
    model = MultiTaskKernelRidge(approximation="rff", n_components=5).partial_fit(X, Y)
    with pytest.raises(ValueError, match="same tasks"):
        model.partial_fit(X, Y[:, :2])
    with pytest.raises(ValueError, match="features"):
        model.partial_fit(X[:, :2], Y)


def test_dask_fit_equals_the_in_memory_fit(rng):
    da = pytest.importorskip("dask.array")
    distributed = pytest.importorskip("distributed")
    X, Y = _data(rng, n=120, missing=True)
    w = rng.uniform(0.5, 2.0, 120)
    fits = [dict(task_structure="mean_regularized", approximation="nystrom"),
            dict(task_structure="low_rank", approximation="rff")]
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  host="127.0.0.1", protocol="tcp",
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster), distributed.get_task_stream() as stream:
        on_dask = [MultiTaskKernelRidge(alpha=0.1, n_components=15, random_state=0,
                                        **p).fit(da.from_array(X, chunks=35),
                                                 da.from_array(Y, chunks=(35, 3)),
                                                 sample_weight=da.from_array(w, 35))
                   for p in fits]
    assert any("_block_statistics" in str(t["key"]) for t in stream.data)
    for params, model in zip(fits, on_dask, strict=True):
        reference = MultiTaskKernelRidge(alpha=0.1, n_components=15, random_state=0,
                                         **params).fit(X, Y, sample_weight=w)
        assert isinstance(model.coef_, np.ndarray)
        np.testing.assert_allclose(model.predict(X), reference.predict(X), atol=1e-10)
        np.testing.assert_allclose(model.task_structure_, reference.task_structure_,
                                   atol=1e-10)


def test_dask_input_needs_an_approximation(rng):
    da = pytest.importorskip("dask.array")
    X, Y = _data(rng)
    with pytest.raises(ValueError, match="approximation='nystrom'"):
        MultiTaskKernelRidge().fit(da.from_array(X), da.from_array(Y))


def test_clone_params_and_pickle(rng):
    X, Y = _data(rng)
    model = MultiTaskKernelRidge(approximation="nystrom", n_components=12,
                                 nystrom_sampling="leverage", random_state=4)
    params = clone(model).get_params()
    assert params["approximation"] == "nystrom" and params["n_components"] == 12
    assert params["nystrom_sampling"] == "leverage" and params["random_state"] == 4
    model.fit(X, Y)
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(restored.predict(X), model.predict(X))
    # Same random_state, same fit; the long layout picks each row's task.
    again = clone(model).fit(X, Y)
    np.testing.assert_array_equal(again.predict(X), model.predict(X))
    task = np.arange(40) % 3
    np.testing.assert_allclose(model.predict(X, task=task),
                               model.predict(X)[np.arange(40), task], rtol=1e-12)
    assert model.predict(X.astype(np.float32)).dtype == np.float32


def test_leverage_sampling_fits_better_than_uniform_on_uneven_inputs(rng):
    # A dense cluster and a few scattered points: uniform centres land mostly in
    # the cluster; the scattered points have the large leverage scores.
    X = np.vstack([0.3 * rng.normal(size=(270, 2)), rng.uniform(-5, 5, size=(30, 2))])
    y = np.sin(X[:, 0]) + np.cos(X[:, 1])
    Y = np.column_stack([y, y + 0.1])
    scores = {}
    for sampling in ("uniform", "leverage"):
        scores[sampling] = np.mean([
            MultiTaskKernelRidge(alpha=1e-3, gamma=1.0, approximation="nystrom",
                                 n_components=30, nystrom_sampling=sampling,
                                 random_state=seed).fit(X, Y).score(X, Y)
            for seed in range(3)])
    assert scores["leverage"] > scores["uniform"] + 0.03


def test_auto_never_approximates_unasked(rng):
    X, Y = _data(rng)
    model = MultiTaskKernelRidge().fit(X, Y)
    assert not hasattr(model, "feature_map_") and hasattr(model, "dual_coef_")
    # A later fit without approximation leaves nothing of the approximate one.
    model.set_params(approximation="rff", n_components=5).fit(X, Y)
    assert model.statistics_.n_samples == 40
    model.set_params(approximation=None).fit(X, Y)
    assert not hasattr(model, "feature_map_") and not hasattr(model, "coef_")
    assert not hasattr(model, "statistics_")


def test_exact_solver_errors_point_to_the_approximation():
    shape = ProblemShape(n_samples=50_000, n_tasks=3, complete=True, weighted=False,
                         components=((0, 1, 2),), n_observed=(150_000,),
                         n_factorizations=1, kernel_cost=50.0)
    with pytest.raises(MemoryBudgetError, match="approximation='nystrom'"):
        plan_fixed_solver(shape, "cholesky", budget=1e9)
    with pytest.raises(MemoryBudgetError, match="approximation='nystrom'"):
        plan_fixed_solver(shape, "auto", budget=1e9)


@pytest.mark.parametrize("task_structure", ["chain", "low_rank"])
def test_per_task_statistics_over_budget_stream_the_rows(rng, task_structure):
    """T m^2 over the budget: conjugate gradients with products over row chunks."""
    X, Y = _data(rng, missing=True)
    # A learned structure's two routes take different steps (Newton in memory, the
    # accelerated map on streamed rows): both run to a duality gap of 1e-12.
    params = dict(alpha=0.1, task_structure=task_structure, approximation="rff",
                  n_components=100, random_state=0, tol=1e-12, max_iter=300,
                  solver_options={"tol": 1e-12})
    in_memory = MultiTaskKernelRidge(**params).fit(X, Y)
    assert in_memory.solver_info_["system"] == "per_task"
    model = MultiTaskKernelRidge(**params)
    with rkhsmtl.config_context(memory_limit=200_000, working_memory=0.01):
        model.fit(X, Y)
    assert model.solver_info_["system"] == "streamed"
    assert model.statistics_ is None
    np.testing.assert_allclose(model.predict(X), in_memory.predict(X), atol=1e-8)
    # partial_fit keeps statistics, which do not fit: the error names the knob.
    with rkhsmtl.config_context(memory_limit=200_000), \
            pytest.raises(MemoryBudgetError, match="n_components"):
        MultiTaskKernelRidge(**params).partial_fit(X, Y)
    with pytest.raises(ValueError, match="cannot continue"):
        model.partial_fit(X, Y)
    # Complete labels share one matrix, which fits.
    X, Y = _data(rng)
    with rkhsmtl.config_context(memory_limit=500_000):
        assert model.fit(X, Y).solver_info_["system"] == "shared"


@pytest.mark.parametrize("params, match", [
    (dict(approximation="nystrom", n_components=0), "n_components must be"),
    (dict(approximation="nystrom", n_components=2.5), "n_components must be"),
    (dict(approximation="nystrom", n_components=True), "n_components must be"),
    (dict(approximation="svd"), "approximation must be"),
    (dict(approximation="rff", kernel="poly"), "shift-invariant"),
    (dict(approximation="nystrom", kernel="precomputed"), "precomputed"),
    (dict(approximation="nystrom", solver="eig"), "solver must be"),
    (dict(approximation="nystrom", nystrom_sampling="kmeans"), "nystrom_sampling"),
])
def test_bad_parameters(rng, params, match):
    X, Y = _data(rng)
    with pytest.raises(ValueError, match=match):
        MultiTaskKernelRidge(**params).fit(X, Y)


def test_more_centres_than_samples_warns_and_clips(rng):
    X, Y = _data(rng, n=20)
    with pytest.warns(UserWarning, match="n_components=50 is larger than the 20"):
        model = MultiTaskKernelRidge(approximation="nystrom", n_components=50).fit(X, Y)
    assert model.feature_map_.centres.shape[0] == 20
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # random features have no such limit
        MultiTaskKernelRidge(approximation="rff", n_components=50).fit(X, Y)


@parametrize_with_checks([MultiTaskKernelRidge(approximation="nystrom", n_components=50,
                                               random_state=0)])
@pytest.mark.filterwarnings("ignore:n_components=50 is larger:UserWarning")
def test_sklearn_checks_with_nystrom(estimator, check):
    check(estimator)


@pytest.mark.slow
@parametrize_with_checks([MultiTaskKernelRidge(approximation="rff", n_components=50,
                                               random_state=0, task_structure="low_rank")])
def test_sklearn_checks_with_random_features_and_a_learned_structure(estimator, check):
    check(estimator)


def test_learned_structure_stops_where_the_exact_fit_stops(rng):
    """The same stopping rule (duality gap) and iterations as the exact fit."""
    X, Y = _data(rng, missing=True)
    exact = MultiTaskKernelRidge(alpha=0.1, task_structure="low_rank").fit(X, Y)
    approx = MultiTaskKernelRidge(alpha=0.1, task_structure="low_rank",
                                  approximation="nystrom", n_components=40).fit(X, Y)
    assert approx.n_iter_ == exact.n_iter_
    # The same Newton steps too (per-task statistics: the primal factorisation).
    for key in ("n_newton_steps", "n_hessian_products"):
        assert approx.solver_info_[key] == exact.solver_info_[key] > 0
    np.testing.assert_allclose(approx.predict(X), exact.predict(X), atol=1e-8)


def _auto_problem(rng, n=400):
    X = rng.normal(size=(n, 3))
    Y = np.c_[np.sin(X[:, 0]), np.cos(X[:, 1])] + 0.1 * rng.normal(size=(n, 2))
    Y[rng.random(Y.shape) < 0.3] = np.nan
    return X, Y


def test_auto_approximation_only_when_the_exact_fit_does_not_fit(rng):
    """approximation="auto": the exact fit within the memory budget; over it,
    Nyström centres, with a warning and the reason in solver_info_."""
    X, Y = _auto_problem(rng)
    params = dict(alpha=0.1, n_components=30, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning when the exact fit fits
        exact = MultiTaskKernelRidge(approximation="auto", **params).fit(X, Y)
    assert "approximation" not in exact.solver_info_
    assert not hasattr(exact, "feature_map_")
    reference = MultiTaskKernelRidge(**params).fit(X, Y)
    np.testing.assert_allclose(exact.predict(X), reference.predict(X), atol=1e-10)
    with rkhsmtl.config_context(memory_limit=300_000):
        with pytest.warns(UserWarning, match="approximation='auto': fitting on a "
                                             "Nyström approximation"):
            auto = MultiTaskKernelRidge(approximation="auto", **params).fit(X, Y)
        nystrom = MultiTaskKernelRidge(approximation="nystrom", **params).fit(X, Y)
        # A precomputed kernel has no feature map: the exact fit's error stands.
        K = reference._pairwise_kernel()(X)
        with pytest.raises(MemoryBudgetError):
            MultiTaskKernelRidge(approximation="auto", kernel="precomputed",
                                 **params).fit(K, Y)
    assert auto.solver_info_["approximation"] == "nystrom"
    assert "memory budget" in auto.solver_info_["approximation_reason"]
    np.testing.assert_allclose(auto.predict(X), nystrom.predict(X), atol=1e-12)
    # The approximate model continues with partial_fit, as a "nystrom" one does.
    auto.partial_fit(X[:50], Y[:50])
