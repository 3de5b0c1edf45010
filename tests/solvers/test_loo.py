"""Exact leave-one-out and GCV (rkhsmtl._solvers.loo) against brute-force refits."""

import array_api_compat.numpy as xnp
import numpy as np
import pytest
from reference import random_psd, stacked_kronecker_solve
from sklearn.metrics.pairwise import rbf_kernel

from rkhsmtl._solvers.alternating import solve_learned_structure
from rkhsmtl._solvers.complete import kernel_eigh, task_eigh
from rkhsmtl._solvers.loo import (
    complete_loo_path,
    gcv_scores,
    observed_loo_path,
    primal_loo_path,
    weighted_mean_squares,
)
from rkhsmtl._validation import entry_weights
from rkhsmtl.exceptions import MemoryBudgetError
from rkhsmtl.kernels import PairwiseKernel, TrainingGram
from rkhsmtl.structure import LowRank, MeanRegularized

ALPHAS = (0.05, 0.7)
N_SAMPLES, N_TASKS = 12, 3


def _structure(kind, rng):
    if kind == "independent":
        return np.eye(N_TASKS)
    if kind == "mean_regularized":
        return MeanRegularized(strength=0.5).task_matrix(N_TASKS)
    if kind == "dense":
        return random_psd(N_TASKS, rng)
    return random_psd(N_TASKS, rng, rank=1)  # singular


def _problem(seed, missing, weights, kind="dense"):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((N_SAMPLES, 2))
    Y = rng.standard_normal((N_SAMPLES, N_TASKS))
    if missing:
        Y[rng.random(Y.shape) < 0.3] = np.nan
        Y[0] = 0.3  # every task observed
    W = None
    if weights == "sample":
        W = rng.uniform(0.2, 2.0, N_SAMPLES)
        W[3] = 0.0  # a dropped sample
    elif weights == "entry":
        W = rng.uniform(0.2, 2.0, (N_SAMPLES, N_TASKS))
        W[4, 1] = 0.0
    return rbf_kernel(X, gamma=0.5), Y, W, _structure(kind, rng)


def _entry_weights(Y, W):
    return np.asarray(entry_weights(Y, None if W is None else np.asarray(W), xnp))


def _brute_force(K, Y, W, A, alpha, mode):
    """Refits with one entry (or one row) set to NaN: the left-out predictions."""
    Wf = _entry_weights(Y, W)
    out = np.full(Y.shape, np.nan)
    left_out = ([(i, [t]) for i, t in zip(*np.nonzero(Wf > 0), strict=True)]
                if mode == "entry" else
                [(i, np.flatnonzero(Wf[i] > 0)) for i in range(Y.shape[0])])
    for i, tasks in left_out:
        Y_minus = Y.copy()
        Y_minus[i, tasks] = np.nan
        C = stacked_kronecker_solve(K, Y_minus, A, alpha, W)
        out[i, tasks] = Y[i, tasks] - (K @ C @ A)[i, tasks]
    return out


def _paths(K, Y, W, A, mode):
    Wf = _entry_weights(Y, W)
    complete = not np.isnan(Y).any() and (W is None or W.ndim == 1)
    paths = {}
    if complete:
        sqrt_w = None if W is None else np.sqrt(W)
        paths["complete"] = complete_loo_path(kernel_eigh(K, xnp, sqrt_w),
                                              task_eigh(A, xnp), Y, ALPHAS, xnp,
                                              sqrt_w=sqrt_w, mode=mode)
    gram = TrainingGram(PairwiseKernel("precomputed"), K, xnp)
    paths["observed"] = observed_loo_path(gram, Y, Wf, A, ALPHAS, xnp, mode=mode)
    return paths


CASES = [(False, None), (False, "sample"), (False, "entry"), (True, None),
         (True, "sample"), (True, "entry")]


@pytest.mark.parametrize("mode,kinds", [
    ("entry", ["independent", "mean_regularized", "dense", "singular"]),
    ("sample", ["mean_regularized", "singular"])])
@pytest.mark.parametrize("missing,weights", CASES)
def test_loo_equals_refits(missing, weights, mode, kinds):
    for kind in kinds:
        _check_loo_against_refits(missing, weights, kind, mode)


def _check_loo_against_refits(missing, weights, kind, mode):
    K, Y, W, A = _problem(1, missing, weights, kind)
    expected = _brute_force(K, Y, W, A, ALPHAS[-1], mode)
    for name, path in _paths(K, Y, W, A, mode).items():
        assert path.loo_residuals.shape == (len(ALPHAS),) + Y.shape
        for j, alpha in enumerate(ALPHAS):
            C = stacked_kronecker_solve(K, Y, A, alpha, W)
            np.testing.assert_allclose(np.asarray(path.coef[j]), C, atol=1e-10)
        # The last point of the path (refits are the costly part of this test).
        got = np.asarray(path.loo_residuals[-1])
        np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
        np.testing.assert_allclose(got, expected, rtol=1e-8, atol=1e-10, err_msg=name)


def test_sample_loo_equals_entry_loo_with_one_entry_per_row():
    K, Y, _, A = _problem(2, False, None)
    Y[np.arange(N_TASKS)[None, :] != (np.arange(N_SAMPLES) % N_TASKS)[:, None]] = np.nan
    Wf = _entry_weights(Y, None)
    gram = TrainingGram(PairwiseKernel("precomputed"), K, xnp)
    entry = observed_loo_path(gram, Y, Wf, A, ALPHAS, xnp, mode="entry")
    sample = observed_loo_path(gram, Y, Wf, A, ALPHAS, xnp, mode="sample")
    np.testing.assert_allclose(sample.loo_residuals, entry.loo_residuals, rtol=1e-10)


@pytest.mark.parametrize("missing,weights", CASES)
def test_gcv_equals_its_formula_from_the_hat_matrix(missing, weights):
    K, Y, W, A = _problem(3, missing, weights)
    Wf = _entry_weights(Y, W)
    # The stacked system in the reference's (task-major) order.
    y = Y.T.reshape(-1)
    w = Wf.T.reshape(-1)
    obs = w > 0
    G = np.kron(A, K)[np.ix_(obs, obs)]
    N = int(obs.sum())
    for name, path in _paths(K, Y, W, A, "gcv").items():
        assert path.loo_residuals is None
        for j, alpha in enumerate(ALPHAS):
            S = G @ np.linalg.inv(G + alpha * np.diag(1.0 / w[obs]))
            r = y[obs] - S @ y[obs]
            expected = N * np.sum(w[obs] * r**2) / (N - np.trace(S)) ** 2
            assert path.traces[j] == pytest.approx(np.trace(S), rel=1e-10), name
            value, per_task = gcv_scores(path.residuals[j], Wf, path.traces[j], xnp)
            assert value == pytest.approx(expected, rel=1e-9), name
            counts = (Wf > 0).sum(axis=0)
            assert np.sum(counts * per_task) / N == pytest.approx(value, rel=1e-12)


def test_weighted_mean_squares():
    rng = np.random.default_rng(4)
    R = rng.standard_normal((6, 2))
    W = rng.uniform(0.5, 1.5, (6, 2))
    W[0, 1] = 0.0
    R[0, 1] = np.nan
    pooled, per_task = weighted_mean_squares(R, W, xnp)
    obs = W > 0
    assert pooled == pytest.approx(np.sum((W * R**2)[obs]) / obs.sum())
    assert per_task[1] == pytest.approx(np.sum((W * R**2)[obs[:, 1], 1]) / 5)


def test_unknown_mode_and_memory_refusal():
    K, Y, W, A = _problem(5, True, None)
    Wf = _entry_weights(Y, W)
    gram = TrainingGram(PairwiseKernel("precomputed"), K, xnp)
    with pytest.raises(ValueError, match="mode must be one of"):
        observed_loo_path(gram, Y, Wf, A, ALPHAS, xnp, mode="row")
    with pytest.raises(MemoryBudgetError, match="pass cv= a number of folds or a "
                                                "splitter"):
        observed_loo_path(gram, Y, Wf, A, ALPHAS, xnp, budget=1000.0)


def test_initial_structure_starts_the_alternating_solver():
    rng = np.random.default_rng(6)
    X = rng.standard_normal((15, 2))
    Y = X @ rng.standard_normal((2, 3)) + 0.1 * rng.standard_normal((15, 3))
    gram = TrainingGram(PairwiseKernel("rbf", gamma=0.5, n_features=2), X, xnp)
    structure = LowRank(strength=0.5)
    _, A_cold, info_cold = solve_learned_structure(gram, Y, structure, 1.0, xnp,
                                                   tol=1e-10, max_iter=500)
    # Started from the answer, the iterations stop at once, at the same point.
    _, A_warm, info_warm = solve_learned_structure(
        gram, Y, structure, 1.0, xnp, tol=1e-10, max_iter=500,
        initial_structure=A_cold)
    assert info_warm["n_iter"] < info_cold["n_iter"]
    np.testing.assert_allclose(A_warm, A_cold, atol=1e-4)
    with pytest.raises(ValueError, match="initial_structure must be of shape"):
        solve_learned_structure(gram, Y, structure, 1.0, xnp,
                                initial_structure=np.eye(2))


@pytest.mark.parametrize("mode", ["entry", "sample", "gcv"])
def test_complete_path_on_array_api_strict(mode):
    xps = pytest.importorskip("array_api_strict")
    K, Y, W, A = _problem(7, False, "sample")
    sqrt_w = np.sqrt(W)
    ref = complete_loo_path(kernel_eigh(K, xnp, sqrt_w), task_eigh(A, xnp), Y, ALPHAS,
                            xnp, sqrt_w=sqrt_w, mode=mode)
    device = xps.Device("device1")  # refuses conversion to NumPy
    K_s, Y_s, A_s, sw_s = (xps.asarray(a, device=device) for a in (K, Y, A, sqrt_w))
    got = complete_loo_path(kernel_eigh(K_s, xps, sw_s), task_eigh(A_s, xps), Y_s,
                            ALPHAS, xps, sqrt_w=sw_s, mode=mode)
    assert got.residuals.device == device
    back = xps.asarray(got.residuals, device=xps.Device("CPU_DEVICE"))
    np.testing.assert_allclose(np.asarray(back), ref.residuals, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(got.traces, ref.traces, rtol=1e-10)
    W_s = xps.broadcast_to(xps.asarray(W, device=device)[:, None], Y_s.shape)
    value, _ = gcv_scores(got.residuals[-1, ...], W_s, got.traces[-1], xps)
    Wf = np.broadcast_to(W[:, None], Y.shape)
    assert value == pytest.approx(gcv_scores(ref.residuals[-1], Wf, ref.traces[-1],
                                             xnp)[0], rel=1e-10)
    if mode != "gcv":
        loo = np.asarray(xps.asarray(got.loo_residuals,
                                     device=xps.Device("CPU_DEVICE")))
        np.testing.assert_allclose(loo, ref.loo_residuals, rtol=1e-9, atol=1e-12)
        pooled, _ = weighted_mean_squares(got.loo_residuals[0, ...], W_s, xps)
        assert pooled == pytest.approx(
            weighted_mean_squares(ref.loo_residuals[0], Wf, xnp)[0], rel=1e-10)


# ---------------------------------------------------------------- primal (linear)
def _primal_problem(seed, missing, weights, kind):
    """A linear problem: features, targets, weights and A (``kind`` as in
    ``_structure``, plus "pooled")."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((N_SAMPLES, 3))
    _, Y, W, _ = _problem(seed, missing, weights)
    A = np.ones((N_TASKS, N_TASKS)) if kind == "pooled" else _structure(kind, rng)
    return X, Y, W, A


@pytest.mark.parametrize("mode", ["entry", "sample", "gcv"])
@pytest.mark.parametrize("missing,weights", CASES)
def test_primal_loo_equals_dual_loo(missing, weights, mode):
    for i, kind in enumerate(("independent", "mean_regularized", "pooled", "dense")):
        X, Y, W, A = _primal_problem(8, missing, weights, kind)
        Wf = _entry_weights(Y, W)
        # Both factorisations over the cases (each call is cheap, not free).
        method = ("eig", "cholesky")[(i + CASES.index((missing, weights))) % 2]
        got = primal_loo_path(X, Y, Wf, A, ALPHAS, xnp, mode=mode, method=method)
        for name, ref in _paths(X @ X.T, Y, W, A, mode).items():
            msg = f"{kind} {name} {method}"
            for key in ("residuals", "coef", "traces"):
                np.testing.assert_allclose(getattr(got, key), getattr(ref, key),
                                           rtol=1e-8, atol=1e-10, err_msg=msg)
            assert got.n_observed == ref.n_observed
            if mode == "gcv":
                assert got.loo_residuals is None
                for j in range(len(ALPHAS)):
                    assert gcv_scores(got.residuals[j], Wf, got.traces[j], xnp)[0] == (
                        pytest.approx(gcv_scores(ref.residuals[j], Wf, ref.traces[j],
                                                 xnp)[0], rel=1e-8))
                continue
            np.testing.assert_array_equal(np.isnan(got.loo_residuals),
                                          np.isnan(ref.loo_residuals))
            np.testing.assert_allclose(got.loo_residuals, ref.loo_residuals,
                                       rtol=1e-8, atol=1e-10, err_msg=msg)
        # The weights W = Phi^T C A of the fits.
        np.testing.assert_allclose(got.primal_coef[-1], X.T @ ref.coef[-1] @ A,
                                   rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("mode", ["entry", "sample"])
@pytest.mark.parametrize("missing,weights", [(False, "sample"), (True, "entry")])
def test_primal_loo_equals_refits(missing, weights, mode):
    X, Y, W, A = _primal_problem(9, missing, weights, "dense")
    expected = _brute_force(X @ X.T, Y, W, A, ALPHAS[-1], mode)
    got = primal_loo_path(X, Y, _entry_weights(Y, W), A, ALPHAS, xnp, mode=mode)
    np.testing.assert_allclose(got.loo_residuals[-1], expected, rtol=1e-8,
                               atol=1e-10)


def test_primal_loo_with_one_label_per_row_and_a_zero_structure():
    X, Y, _, A = _primal_problem(10, False, None, "mean_regularized")
    Y[np.arange(N_TASKS)[None, :] != (np.arange(N_SAMPLES) % N_TASKS)[:, None]] = np.nan
    Wf = _entry_weights(Y, None)
    entry = primal_loo_path(X, Y, Wf, A, ALPHAS, xnp, mode="entry")
    sample = primal_loo_path(X, Y, Wf, A, ALPHAS, xnp, mode="sample")
    np.testing.assert_allclose(sample.loo_residuals, entry.loo_residuals, rtol=1e-12)
    # A = 0 predicts zero: every residual is the target, the trace zero.
    zero = primal_loo_path(X, Y, Wf, np.zeros((N_TASKS, N_TASKS)), ALPHAS, xnp,
                           mode="sample")
    np.testing.assert_allclose(zero.loo_residuals[0], Y)
    assert zero.traces == [0.0, 0.0]


def test_primal_loo_refusals():
    X, Y, _, A = _primal_problem(11, True, None, "dense")
    Wf = _entry_weights(Y, None)
    with pytest.raises(ValueError, match="method must be one of"):
        primal_loo_path(X, Y, Wf, A, ALPHAS, xnp, method="qr")
    with pytest.raises(MemoryBudgetError, match="Exact leave-one-out in the primal"):
        primal_loo_path(X, Y, Wf, A, ALPHAS, xnp, budget=1000.0)


@pytest.mark.parametrize("mode", ["entry", "sample"])
def test_primal_path_on_array_api_strict(mode):
    xps = pytest.importorskip("array_api_strict")
    X, Y, W, A = _primal_problem(12, True, "entry", "mean_regularized")
    Wf = _entry_weights(Y, W)
    device = xps.Device("device1")  # refuses conversion to NumPy
    for method in ("eig", "cholesky"):
        ref = primal_loo_path(X, Y, Wf, A, ALPHAS, xnp, mode=mode, method=method)
        got = primal_loo_path(*(xps.asarray(a, device=device) for a in (X, Y, Wf, A)),
                              ALPHAS, xps, mode=mode, method=method)
        assert got.loo_residuals.device == device
        back = xps.asarray(got.loo_residuals, device=xps.Device("CPU_DEVICE"))
        np.testing.assert_allclose(np.asarray(back), ref.loo_residuals, rtol=1e-9,
                                   atol=1e-12)
        np.testing.assert_allclose(got.traces, ref.traces, rtol=1e-10)
