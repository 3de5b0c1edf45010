"""Sufficient statistics of explicit features and the solves built on them
(``rkhsmtl/_solvers/statistics.py``), and the feature maps
(``rkhsmtl/kernel_approximation.py``), against brute force."""

import numpy as np
import pytest
from sklearn.kernel_approximation import RBFSampler
from sklearn.linear_model import Ridge
from sklearn.metrics.pairwise import laplacian_kernel, rbf_kernel, sigmoid_kernel

from rkhsmtl._solvers.statistics import (
    RowStream,
    accumulate_statistics,
    chunk_statistics,
    merge_statistics,
    solve_fixed_statistics,
    solve_learned_statistics,
    statistics_objective,
)
from rkhsmtl.kernel_approximation import (
    NystromFeatureMap,
    RandomFourierFeatureMap,
    ridge_leverage_scores,
    weighted_sample,
)
from rkhsmtl.kernels import PairwiseKernel
from rkhsmtl.structure import LowRank
from tests.reference import random_psd, stacked_kronecker_solve


def _problem(rng, n=60, m=8, T=3, missing=False, weights=None):
    Phi = rng.normal(size=(n, m))
    Y = Phi @ rng.normal(size=(m, T)) + 0.3 * rng.normal(size=(n, T))
    if missing:
        Y[rng.random((n, T)) < 0.3] = np.nan
    w = None
    if weights == "sample":
        w = rng.uniform(0.2, 2.0, size=n)
    elif weights == "entry":
        w = rng.uniform(0.2, 2.0, size=(n, T))
    return Phi, Y, w


def _brute_force_coef(Phi, Y, w, A, alpha):
    """W = Phi^T C A from the stacked Kronecker system of K = Phi Phi^T."""
    C = stacked_kronecker_solve(Phi @ Phi.T, Y, A, alpha, w)
    return Phi.T @ C @ A


def _assert_same_statistics(a, b, rtol=1e-10):
    assert a.per_task == b.per_task
    for name in ("gram", "cross", "sq", "counts"):
        np.testing.assert_allclose(getattr(a, name), getattr(b, name), rtol=rtol,
                                   atol=rtol)
    assert a.n_samples == b.n_samples


@pytest.mark.parametrize("missing, weights", [(False, None), (False, "sample"),
                                              (True, None), (False, "entry")])
def test_chunked_statistics_equal_one_shot(rng, missing, weights):
    Phi, Y, w = _problem(rng, missing=missing, weights=weights)
    one = chunk_statistics(Phi, Y, w, np)
    chunked = accumulate_statistics(lambda rows: rows, Phi, Y, w, np, block_rows=7)
    _assert_same_statistics(one, chunked)
    assert one.per_task == (missing or weights == "entry")
    # The two statistics of a complete problem describe the same sums.
    if not one.per_task:
        per_task = chunk_statistics(Phi, Y, w, np, per_task=True)
        np.testing.assert_allclose(per_task.gram, np.broadcast_to(one.gram, (3, 8, 8)),
                                   rtol=1e-12)


@pytest.mark.parametrize("missing, weights", [(False, None), (False, "sample"),
                                              (True, None)])
def test_statistics_of_factored_features_equal_those_of_the_features(rng, missing,
                                                                     weights):
    # Nystrom features are raw(X) @ R: shared statistics are summed for raw(X) and
    # mapped by R once at the end; per-task ones take raw(X) @ R chunk by chunk.
    raw, Y, w = _problem(rng, missing=missing, weights=weights)
    R = rng.normal(size=(raw.shape[1], 5))
    expected = chunk_statistics(raw @ R, Y, w, np)
    factored = accumulate_statistics(lambda rows: rows, raw, Y, w, np, block_rows=7,
                                     linear_part=R)
    _assert_same_statistics(expected, factored)


def test_merge_promotes_shared_to_per_task(rng):
    Phi, Y, _ = _problem(rng)
    Y_missing = Y.copy()
    Y_missing[40:, 1] = np.nan
    head = chunk_statistics(Phi[:40], Y_missing[:40], None, np)  # complete: shared
    tail = chunk_statistics(Phi[40:], Y_missing[40:], None, np)  # missing: per task
    assert not head.per_task and tail.per_task
    _assert_same_statistics(merge_statistics(head, tail),
                            chunk_statistics(Phi, Y_missing, None, np))
    _assert_same_statistics(head + tail, tail + head)


def test_merge_refuses_other_shapes(rng):
    Phi, Y, _ = _problem(rng)
    a = chunk_statistics(Phi, Y, None, np)
    b = chunk_statistics(Phi[:, :5], Y, None, np)
    with pytest.raises(ValueError, match="same feature map"):
        merge_statistics(a, b)


@pytest.mark.parametrize("missing, weights", [(False, None), (False, "sample"),
                                              (True, "sample"), (False, "entry")])
@pytest.mark.parametrize("solver", ["auto", "cg"])
def test_fixed_solve_matches_stacked_kronecker(rng, missing, weights, solver):
    Phi, Y, w = _problem(rng, missing=missing, weights=weights)
    A = random_psd(3, rng)
    stats = chunk_statistics(Phi, Y, w, np)
    coef, info = solve_fixed_statistics(stats, A, 0.3, np, solver=solver,
                                        options={"tol": 1e-13})
    np.testing.assert_allclose(coef, _brute_force_coef(Phi, Y, w, A, 0.3), rtol=1e-8,
                               atol=1e-10)
    assert info["system"] == ("per_task" if stats.per_task else "shared")
    if stats.per_task:
        assert info["method"] == ("cg" if solver == "cg" else "cholesky")


@pytest.mark.parametrize("missing", [False, True])
def test_singular_structure_pools_the_tasks(rng, missing):
    """A = 1 1^T (pooled, singular): one function, the ridge on the stacked tasks."""
    Phi, Y, _ = _problem(rng, missing=missing)
    T = Y.shape[1]
    coef, _ = solve_fixed_statistics(chunk_statistics(Phi, Y, None, np),
                                     np.ones((T, T)), 0.5, np)
    observed = ~np.isnan(Y)
    stacked_X = np.concatenate([Phi[observed[:, t]] for t in range(T)])
    stacked_y = np.concatenate([Y[observed[:, t], t] for t in range(T)])
    ridge = Ridge(alpha=0.5, fit_intercept=False, solver="cholesky").fit(stacked_X,
                                                                         stacked_y)
    for t in range(T):
        np.testing.assert_allclose(coef[:, t], ridge.coef_, rtol=1e-8, atol=1e-10)


def test_objective_from_statistics(rng):
    Phi, Y, w = _problem(rng, missing=True, weights="sample")
    coef = rng.normal(size=(8, 3))
    observed = ~np.isnan(Y)
    resid = np.where(observed, Y - Phi @ coef, 0.0)
    expected = float(np.sum(w[:, None] * resid**2))
    stats = chunk_statistics(Phi, Y, w, np)
    assert stats.per_task
    assert statistics_objective(stats, coef, np) == pytest.approx(expected, rel=1e-10)
    Phi, Y, w = _problem(rng, weights="sample")
    resid = Y - Phi @ coef
    stats = chunk_statistics(Phi, Y, w, np)
    assert statistics_objective(stats, coef, np) == pytest.approx(
        float(np.sum(w[:, None] * resid**2)), rel=1e-10)


@pytest.mark.parametrize("missing", [False, True])
def test_learned_objective_never_increases(rng, missing):
    Phi, Y, _ = _problem(rng, T=4, missing=missing)
    stats = chunk_statistics(Phi, Y, None, np)
    coef, A, info = solve_learned_statistics(stats, LowRank(strength=1.0), 0.5, np,
                                             max_iter=40, tol=1e-10)
    history = np.asarray(info["objective_history"])
    assert history.size > 2
    assert np.all(np.diff(history) <= 1e-10 * np.abs(history[:-1]))
    # The returned weights are the fixed-structure solution for the returned A.
    fixed, _ = solve_fixed_statistics(stats, A, 0.5, np)
    np.testing.assert_allclose(coef, fixed, rtol=1e-10, atol=1e-12)


def test_nystrom_with_every_point_reproduces_the_kernel(rng):
    X = rng.normal(size=(30, 3))
    kernel = PairwiseKernel("rbf", gamma=0.5, n_features=3)
    fmap = NystromFeatureMap(kernel, X, np)
    Phi = fmap.transform(X, np)
    np.testing.assert_allclose(Phi @ Phi.T, rbf_kernel(X, gamma=0.5), atol=1e-10)
    X_new = rng.normal(size=(5, 3))
    np.testing.assert_allclose(fmap.transform(X_new, np) @ Phi.T,
                               rbf_kernel(X_new, X, gamma=0.5), atol=1e-10)


def test_nystrom_drops_negative_directions_of_an_indefinite_kernel(rng):
    X = rng.normal(size=(30, 3))
    kernel = PairwiseKernel("sigmoid", gamma=1.0, coef0=-1.0, n_features=3)
    assert np.linalg.eigvalsh(sigmoid_kernel(X, gamma=1.0, coef0=-1.0))[0] < -1e-3
    fmap = NystromFeatureMap(kernel, X, np)
    assert fmap.n_components < 30
    Phi = fmap.transform(X, np)
    assert np.linalg.eigvalsh(Phi @ Phi.T)[0] > -1e-10


def test_rbf_random_features_are_sklearns(rng):
    X = rng.normal(size=(20, 4))
    fmap = RandomFourierFeatureMap("rbf", 0.3, 4, 50, 0, np)
    expected = RBFSampler(gamma=0.3, n_components=50, random_state=0).fit_transform(X)
    np.testing.assert_allclose(fmap.transform(X, np), expected, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("kernel, reference", [("rbf", rbf_kernel),
                                               ("laplacian", laplacian_kernel)])
def test_random_features_approximate_the_kernel(rng, kernel, reference):
    X = 0.5 * rng.normal(size=(15, 3))
    fmap = RandomFourierFeatureMap(kernel, 0.4, 3, 40000, 1, np)
    Phi = fmap.transform(X, np)
    # Monte Carlo error ~ 1 / sqrt(m) = 5e-3.
    np.testing.assert_allclose(Phi @ Phi.T, reference(X, gamma=0.4), atol=0.03)


def test_random_features_refuse_other_kernels():
    with pytest.raises(ValueError, match="shift-invariant"):
        RandomFourierFeatureMap("poly", 1.0, 3, 10, 0, np)


def test_leverage_scores_with_every_point_as_pilot_are_exact(rng):
    X = rng.normal(size=(25, 2))
    K = rbf_kernel(X, gamma=0.7)
    alpha = 0.1
    exact = np.diag(K @ np.linalg.inv(K + alpha * np.eye(25)))
    kernel = PairwiseKernel("rbf", gamma=0.7, n_features=2)
    scores = ridge_leverage_scores(kernel, X, X, alpha, np)
    np.testing.assert_allclose(scores, exact, rtol=1e-8, atol=1e-10)


def test_weighted_sample_draws_distinct_rows_by_score():
    rng = np.random.RandomState(0)
    scores = np.zeros(100)
    scores[:10] = 1.0
    picked = weighted_sample(scores, 10, rng)
    np.testing.assert_array_equal(picked, np.arange(10))
    scores = np.ones(1000)
    scores[:100] = 50.0
    picked = weighted_sample(scores, 50, rng)
    assert np.unique(picked).size == 50
    assert np.mean(picked < 100) > 0.6  # about 5 / 6 of the draws


def test_row_stream_products_equal_the_statistics(rng):
    Phi, Y, w = _problem(rng, missing=True, weights="sample")
    stats = chunk_statistics(Phi, Y, w, np)
    stream = RowStream(lambda rows: rows, Phi, Y, w, np, block_rows=7)
    np.testing.assert_allclose(stream.cross, stats.cross, rtol=1e-10)
    np.testing.assert_allclose(stream.G_bar, stats.gram.mean(axis=0), rtol=1e-10)
    V = rng.normal(size=(8, 3))
    np.testing.assert_allclose(stream.gram_times(V),
                               np.stack([stats.gram[t] @ V[:, t] for t in range(3)], 1),
                               rtol=1e-10)
    value, E = stream.residual(V)
    assert value == pytest.approx(statistics_objective(stats, V, np), rel=1e-10)
    np.testing.assert_allclose(
        E, stats.cross - np.stack([stats.gram[t] @ V[:, t] for t in range(3)], 1),
        rtol=1e-10, atol=1e-12)
    A = random_psd(3, rng)
    passes = stream.n_passes
    coef, info = solve_fixed_statistics(stream, A, 0.3, np, options={"tol": 1e-13})
    np.testing.assert_allclose(coef, _brute_force_coef(Phi, Y, w, A, 0.3), rtol=1e-8,
                               atol=1e-10)
    # One pass over the rows per conjugate-gradient iteration.
    assert info["system"] == "streamed" and info["n_passes"] == passes + info["n_iter"]
