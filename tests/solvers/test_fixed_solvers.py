"""Every solver against the naive stacked Kronecker solve of the stated objective."""

import warnings

import array_api_compat.numpy as xnp
import numpy as np
import pytest
from reference import objective, random_psd, rel_err, stacked_kronecker_solve
from scipy.optimize import minimize
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics.pairwise import rbf_kernel

from rkhsmtl import MultiTaskKernelRidge
from rkhsmtl._solvers.complete import distinct_eigenvalue_groups
from rkhsmtl._solvers.observed import ObservedEntries, build_observed_system
from rkhsmtl._solvers.operators import (
    DenseObservedOperator,
    KroneckerOperator,
    StreamingHadamardOperator,
)
from rkhsmtl.exceptions import MemoryBudgetError
from rkhsmtl.kernels import PairwiseKernel, TrainingGram

ALPHA = 0.3
TIGHT_CG = {"tol": 1e-13, "max_iter": 2000}


def make_problem(seed, n=30, d=3, T=4, missing=0.0, weights=None, one_per_row=False):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    Y = rng.standard_normal((n, T))
    if one_per_row:
        task = rng.integers(0, T, size=n)
        task[:T] = np.arange(T)  # every task observed
        mask = np.arange(T)[None, :] != task[:, None]
        Y[mask] = np.nan
    elif missing:
        mask = rng.random((n, T)) < missing
        mask[0] = False  # keep every task observed
        Y[mask] = np.nan
    W = None
    if weights == "sample":
        W = rng.uniform(0.1, 2.0, size=n)
        W[1] = 0.0  # a dropped sample
    elif weights == "entry":
        W = rng.uniform(0.1, 2.0, size=(n, T))
        W[2, 1] = 0.0
    A = random_psd(T, rng)
    K = rbf_kernel(X, gamma=1.0 / d)
    return X, Y, W, A, K


def fit(X, Y, W, A, solver, **kw):
    options = TIGHT_CG if solver == "cg" else None
    return MultiTaskKernelRidge(alpha=ALPHA, task_structure=A, solver=solver,
                                solver_options=options, **kw).fit(X, Y, sample_weight=W)


COMPLETE_CASES = [("none", None), ("sample", "sample")]
MASKED_CASES = [
    ("missing", dict(missing=0.3)),
    ("missing+entry-weights", dict(missing=0.3, weights="entry")),
    ("entry-weights", dict(weights="entry")),
    ("one-per-row", dict(one_per_row=True)),
    ("one-per-row+sample-weights", dict(one_per_row=True, weights="sample")),
]


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("solver", ["auto", "eig", "cholesky", "cg"])
@pytest.mark.parametrize("name,weights", COMPLETE_CASES)
def test_complete_data_solvers_match_stacked_solve(seed, solver, name, weights):
    X, Y, W, A, K = make_problem(seed, weights=weights)
    C_ref = stacked_kronecker_solve(K, Y, A, ALPHA, W)
    model = fit(X, Y, W, A, solver)
    assert rel_err(model.dual_coef_, C_ref) < 1e-8
    if solver != "auto":
        assert model.solver_ == solver


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("solver", ["auto", "cholesky", "cg"])
@pytest.mark.parametrize("name,case", MASKED_CASES)
def test_masked_solvers_match_stacked_solve(seed, solver, name, case):
    X, Y, W, A, K = make_problem(seed, **case)
    C_ref = stacked_kronecker_solve(K, Y, A, ALPHA, W)
    model = fit(X, Y, W, A, solver)
    assert rel_err(model.dual_coef_, C_ref) < 1e-8
    # Coefficients of missing entries are exactly zero.
    assert np.all(model.dual_coef_[np.isnan(Y)] == 0.0)


@pytest.mark.parametrize("name,case", MASKED_CASES[:2] + COMPLETE_CASES[1:])
def test_solution_minimises_the_objective(name, case):
    """scipy.optimize on J(C) itself reaches the same objective value."""
    kwargs = case if isinstance(case, dict) else {"weights": case}
    X, Y, W, A, K = make_problem(5, n=12, T=3, **kwargs)
    model = fit(X, Y, W, A, "auto")
    n, T = Y.shape

    Wb = np.ones((n, T)) if W is None else np.broadcast_to(
        W if W.ndim == 2 else W[:, None], (n, T))
    Wb = np.where(np.isnan(Y), 0.0, Wb)
    Y0 = np.nan_to_num(Y)

    def J(c):
        return objective(c.reshape(n, T), K, Y, A, ALPHA, W)

    def grad(c):
        C = c.reshape(n, T)
        residual = Wb * (Y0 - K @ C @ A)
        return (2 * K @ (ALPHA * C - residual) @ A).reshape(-1)

    def hessp(c, v):
        V = v.reshape(n, T)
        return (2 * K @ (ALPHA * V + Wb * (K @ V @ A)) @ A).reshape(-1)

    # Newton-CG (trust region) with the exact Hessian product: J is quadratic, and
    # L-BFGS-B needed seconds of iterations on its ill-conditioned directions.
    res = minimize(J, np.zeros(n * T), jac=grad, hessp=hessp, method="trust-ncg",
                   options={"maxiter": 200, "gtol": 1e-12})
    ours = objective(model.dual_coef_, K, Y, A, ALPHA, W)
    assert ours <= res.fun * (1 + 1e-10)
    assert abs(ours - res.fun) / abs(res.fun) < 1e-6
    # Stationarity (the KKT condition of this unconstrained problem) at our solution,
    # with the analytic gradient checked against finite differences first.
    c0 = model.dual_coef_.reshape(-1)
    probe = np.random.default_rng(0).standard_normal(n * T)
    fd = (J(c0 + 1e-6 * probe) - J(c0 - 1e-6 * probe)) / 2e-6
    assert abs(fd - grad(c0) @ probe) < 1e-6 * max(1.0, abs(ours))
    assert np.max(np.abs(grad(c0))) < 1e-9 * max(1.0, abs(ours))


def test_solvers_agree_with_each_other():
    X, Y, W, A, K = make_problem(3, n=40, T=5, weights="sample")
    coefs = [fit(X, Y, W, A, s).dual_coef_ for s in ("eig", "cholesky", "cg")]
    assert rel_err(coefs[1], coefs[0]) < 1e-9
    assert rel_err(coefs[2], coefs[0]) < 1e-9


@pytest.mark.parametrize("structure", ["independent", "mean_regularized", "pooled"])
def test_rotated_cholesky_uses_one_factorisation_per_distinct_eigenvalue(structure):
    X, Y, W, _, K = make_problem(0, T=6)
    model = MultiTaskKernelRidge(alpha=ALPHA, task_structure=structure,
                                 solver="cholesky").fit(X, Y)
    expected = {"independent": 1, "mean_regularized": 2, "pooled": 1}[structure]
    assert model.solver_info_["n_factorizations"] == expected
    C_ref = stacked_kronecker_solve(K, Y, model.task_structure_, ALPHA)
    assert rel_err(model.dual_coef_, C_ref) < 1e-8


def test_auto_prefers_eig_when_A_has_many_distinct_eigenvalues():
    X, Y, _, _, _ = make_problem(0, n=30, T=12)
    A = random_psd(12, np.random.default_rng(1))
    model = MultiTaskKernelRidge(alpha=ALPHA, task_structure=A).fit(X, Y)
    assert model.solver_ == "eig"
    model = MultiTaskKernelRidge(alpha=ALPHA, task_structure="mean_regularized").fit(X, Y)
    assert model.solver_ == "cholesky"


def test_distinct_eigenvalue_groups():
    sigma = np.array([0.0, 1e-17, 0.5, 0.5 + 1e-15, 2.0])
    groups = distinct_eigenvalue_groups(sigma, xnp)
    assert [(a, b) for a, b, _ in groups] == [(0, 2), (2, 4), (4, 5)]


# --- CG internals ---------------------------------------------------------------
def _operators(seed, **case):
    X, Y, W, A, K = make_problem(seed, **case)
    n, T = Y.shape
    Wfull = np.ones((n, T)) if W is None else (
        np.repeat(W[:, None], T, 1) if W.ndim == 1 else W)
    Wfull = np.where(np.isnan(Y), 0.0, Wfull)
    obs = ObservedEntries(xnp.asarray(Y), xnp.asarray(Wfull), xnp)
    gram = TrainingGram(PairwiseKernel("rbf", n_features=X.shape[1]), X, xnp)
    dense = build_observed_system(gram, A, obs, ALPHA, xnp, np.float64)
    ops = {
        "dense": DenseObservedOperator(dense, ALPHA),
        "kronecker": KroneckerOperator(gram, A, obs, ALPHA, xnp, K=gram.full()),
        "streaming_kronecker": KroneckerOperator(gram, A, obs, ALPHA, xnp, K=None),
        "streaming_hadamard": StreamingHadamardOperator(gram, A, obs, ALPHA, xnp),
    }
    # The explicit matrix H + alpha I from the Kronecker product.
    G = np.kron(A, K)
    order = (obs.tasks * n + obs.rows)  # task-major index of each observed entry
    sw = obs.sqrt_w
    H = sw[:, None] * G[np.ix_(order, order)] * sw[None, :]
    return ops, H + ALPHA * np.eye(obs.size)


@pytest.mark.parametrize("case", [dict(missing=0.3, weights="entry"),
                                  dict(one_per_row=True)])
def test_cg_operators_equal_the_explicit_system(case):
    ops, M = _operators(4, **case)
    V = np.random.default_rng(0).standard_normal((M.shape[0], 3))
    for name, op in ops.items():
        assert rel_err(op.matmat(V), M @ V) < 1e-12, name


@pytest.mark.parametrize("preconditioner", ["nystrom", "jacobi", None])
def test_cg_preconditioners_reach_the_same_solution(preconditioner):
    X, Y, W, A, K = make_problem(2, missing=0.2, weights="entry")
    C_ref = stacked_kronecker_solve(K, Y, A, ALPHA, W)
    model = MultiTaskKernelRidge(
        alpha=ALPHA, task_structure=A, solver="cg",
        solver_options={**TIGHT_CG, "preconditioner": preconditioner},
    ).fit(X, Y, sample_weight=W)
    assert rel_err(model.dual_coef_, C_ref) < 1e-8
    assert model.solver_info_["converged"]


def test_nystrom_preconditioner_reduces_iterations():
    X, Y, W, A, K = make_problem(2, n=120, missing=0.2)
    iters = {}
    for pc in ("nystrom", None):
        model = MultiTaskKernelRidge(
            alpha=1e-3, task_structure=A, solver="cg",
            solver_options={"tol": 1e-10, "max_iter": 5000, "preconditioner": pc,
                            "preconditioner_rank": 60},
        ).fit(X, Y)
        iters[pc] = model.solver_info_["n_iter"]
    assert iters["nystrom"] < iters[None] / 2


def test_cg_warns_when_not_converged():
    X, Y, W, A, K = make_problem(0, missing=0.3)
    model = MultiTaskKernelRidge(alpha=1e-4, task_structure=A, solver="cg",
                                 solver_options={"max_iter": 1, "preconditioner": None})
    with pytest.warns(ConvergenceWarning, match=r"solver_options\['max_iter'\]"):
        model.fit(X, Y)
    assert not model.solver_info_["converged"]


# --- memory guard -----------------------------------------------------------------
def test_memory_guard_names_the_need_and_the_alternative(monkeypatch):
    X, Y, _, A, _ = make_problem(0, n=60, missing=0.3)
    monkeypatch.setenv("RKHSMTL_MEMORY_LIMIT", "20000")  # bytes
    with pytest.raises(MemoryBudgetError, match=r"needs .* solver='cg'"):
        MultiTaskKernelRidge(task_structure=A, solver="cholesky").fit(X, Y)
    with pytest.raises(MemoryBudgetError, match=r"needs .*solver='cg'"):
        MultiTaskKernelRidge(task_structure=A, solver="eig").fit(X, np.nan_to_num(Y))


def test_auto_falls_back_to_streaming_cg_when_nothing_dense_fits(monkeypatch):
    X, Y, _, A, K = make_problem(0, n=150, T=2, missing=0.3)
    C_ref = stacked_kronecker_solve(K, Y, A, ALPHA)
    # Room for CG's vectors (~50 kB) but not for the 150 x 150 kernel (180 kB).
    monkeypatch.setenv("RKHSMTL_MEMORY_LIMIT", "150000")
    monkeypatch.setattr("rkhsmtl._solvers.plan.DEFAULT_SOLVER_OPTIONS",
                        {"tol": 1e-13, "max_iter": 2000, "preconditioner": "nystrom",
                         "preconditioner_rank": 20})
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        model = MultiTaskKernelRidge(alpha=ALPHA, task_structure=A).fit(X, Y)
    assert model.solver_ == "cg"
    assert model.solver_info_["operator"].startswith("streaming")
    assert rel_err(model.dual_coef_, C_ref) < 1e-8


def test_solver_eig_rejects_missing_labels():
    X, Y, _, A, _ = make_problem(0, missing=0.3)
    with pytest.raises(ValueError, match="solver='eig' needs a complete Y"):
        MultiTaskKernelRidge(solver="eig").fit(X, Y)


def test_solver_options_are_validated():
    X, Y, _, _, _ = make_problem(0)
    with pytest.raises(ValueError, match="Unknown solver_options"):
        MultiTaskKernelRidge(solver="cg", solver_options={"tolerance": 1}).fit(X, Y)
    with pytest.raises(ValueError, match="max_iter"):
        MultiTaskKernelRidge(solver="cg", solver_options={"max_iter": 0}).fit(X, Y)


def test_indefinite_kernel_cholesky_error_is_clear():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 2)) * 3
    Y = rng.standard_normal((30, 2))
    Y[0, 0] = np.nan
    with pytest.raises(ValueError, match="not positive definite"):
        MultiTaskKernelRidge(alpha=1e-6, kernel="sigmoid", gamma=5.0, coef0=-3.0,
                             solver="cholesky").fit(X, Y)


@pytest.mark.parametrize("solver", ["cholesky", "cg"])
def test_block_diagonal_structure_is_solved_per_group_of_tasks(solver):
    from rkhsmtl.structure import Clusters

    X, Y, W, _, K = make_problem(6, T=5, missing=0.3, weights="entry")
    structure = Clusters([0, 1, 0, 2, 1], strength=2.0)
    A = structure.task_matrix(5)
    model = fit(X, Y, W, structure, solver)
    assert model.solver_info_["n_blocks"] == 3
    assert rel_err(model.dual_coef_, stacked_kronecker_solve(K, Y, A, ALPHA, W)) < 1e-8


@pytest.mark.parametrize("case", COMPLETE_CASES + MASKED_CASES, ids=lambda c: c[0])
@pytest.mark.parametrize("rank", [None, 2, 1])  # full, low rank, pooled-like
def test_primal_solver_matches_stacked_solve(case, rank):
    kw = case[1] if isinstance(case[1], dict) else {"weights": case[1]}
    X, Y, W, _, _ = make_problem(3, n=25, **kw)
    A = random_psd(Y.shape[1], np.random.default_rng(4), rank=rank)
    model = MultiTaskKernelRidge(alpha=ALPHA, kernel="linear", task_structure=A,
                                 solver="primal").fit(X, Y, sample_weight=W)
    assert model.solver_ == "primal"
    K = X @ X.T
    C_ref = stacked_kronecker_solve(K, Y, A, ALPHA, W)
    # A primal fit keeps the weights W = X^T C A only (unique even for a singular A).
    assert not hasattr(model, "dual_coef_") and not hasattr(model, "X_fit_")
    assert rel_err(model.coef_, (X.T @ C_ref @ A).T) < 1e-8
    assert rel_err(model.predict(X), K @ C_ref @ A) < 1e-8


def test_primal_statistics_use_each_tasks_rows_and_are_reused_across_calls():
    from rkhsmtl._solvers.fixed import solve_fixed_structure
    from rkhsmtl._solvers.primal import primal_statistics

    X, Y, W, _, _ = make_problem(8, n=30, T=4, missing=0.5, weights="entry")
    K = X @ X.T
    W_entry = np.where(np.isnan(Y), 0.0, W)
    G, h = primal_statistics(X, Y, W_entry, xnp)
    for t in range(Y.shape[1]):
        np.testing.assert_allclose(G[t], X.T @ (W_entry[:, [t]] * X), rtol=1e-12)
        np.testing.assert_allclose(h[:, t], X.T @ (W_entry[:, t] * np.nan_to_num(Y[:, t])),
                                   rtol=1e-12)
    gram = TrainingGram(PairwiseKernel("linear"), X, xnp)
    memo = {}
    for seed in (1, 2):  # the second A reuses the statistics of the first call
        A = random_psd(Y.shape[1], np.random.default_rng(seed))
        C, info = solve_fixed_structure(gram, Y, A, ALPHA, xnp, sample_weight=W,
                                        solver="primal", cache=memo)
        assert info["solver"] == "primal" and "primal_statistics" in memo
        assert rel_err(C, stacked_kronecker_solve(K, Y, A, ALPHA, W)) < 1e-8


def test_auto_picks_primal_for_few_linear_features_and_many_observations():
    X, Y, W, A, _ = make_problem(5, n=120, d=2, T=3, one_per_row=True)
    linear = MultiTaskKernelRidge(alpha=ALPHA, kernel="linear", task_structure=A).fit(X, Y)
    assert linear.solver_ == "primal"
    rbf = MultiTaskKernelRidge(alpha=ALPHA, kernel="rbf", task_structure=A).fit(X, Y)
    assert rbf.solver_ != "primal"
    exact = MultiTaskKernelRidge(alpha=ALPHA, kernel="linear", task_structure=A,
                                 solver="cholesky").fit(X, Y)
    assert rel_err(linear.predict(X), exact.predict(X)) < 1e-8


def test_primal_needs_the_linear_kernel():
    X, Y, W, A, _ = make_problem(0)
    with pytest.raises(ValueError, match="kernel='linear'"):
        MultiTaskKernelRidge(task_structure=A, solver="primal").fit(X, Y)
