"""solver="factored_cg": conjugate gradients preconditioned by factorisations of K.

Complete data: a few shifted Cholesky factorisations for any A. Missing labels: the
complete-data closed form as preconditioner. Both against the stacked Kronecker
solve, to the relative stationarity residual they report.
"""

import warnings

import array_api_compat.numpy as xnp
import numpy as np
import pytest
from reference import random_psd, rel_err, stacked_kronecker_solve
from sklearn.metrics.pairwise import rbf_kernel

from rkhsmtl import MultiTaskKernelRidge
from rkhsmtl._solvers.cg import solve_masked_cg
from rkhsmtl._solvers.complete import shift_levels, solve_shifted_cg
from rkhsmtl._solvers.fixed import run_plan
from rkhsmtl._solvers.plan import (
    EXACT_TOL,
    ProblemShape,
    SolverPlan,
    cg_iterations,
    describe_problem,
    plan_fixed_solver,
)
from rkhsmtl.exceptions import MemoryBudgetError
from rkhsmtl.kernels import PairwiseKernel, TrainingGram

ALPHA = 0.3
GiB = 2.0**30


def task_matrix(kind, T, rng):
    if kind == "dense":
        return random_psd(T, rng)
    if kind == "singular":
        return random_psd(T, rng, rank=2)
    # Condition number 1e6: shifts alpha / sigma_j spread over six decades.
    Q, _ = np.linalg.qr(rng.standard_normal((T, T)))
    return (Q * np.geomspace(1e-6, 1.0, T)) @ Q.T


def problem(seed, kind="dense", n=30, T=4, missing=0.0, weights=None):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 3))
    Y = rng.standard_normal((n, T))
    if missing:
        Y[rng.random((n, T)) < missing] = np.nan
        Y[0] = 0.5  # every task observed
    W = None
    if weights == "sample":
        W = rng.uniform(0.1, 2.0, n)
    elif weights == "entry":
        W = rng.uniform(0.1, 2.0, (n, T))
        W[2, 1] = 0.0
    return X, Y, W, task_matrix(kind, T, rng), rbf_kernel(X, gamma=1.0 / 3)


def stationarity(C, K, Y, A, W):
    """||D^{1/2}(K C A - Y) + alpha D^{-1/2} C|| / ||D^{1/2} Y|| on observed entries."""
    n, T = Y.shape
    D = np.ones((n, T)) if W is None else np.broadcast_to(
        W if W.ndim == 2 else W[:, None], (n, T))
    obs = ~np.isnan(Y) & (D > 0)
    Y0 = np.where(obs, Y, 0.0)
    sd = np.sqrt(np.where(obs, D, 1.0))
    r = np.where(obs, sd * (K @ C @ A - Y0) + ALPHA * C / sd, 0.0)
    return np.linalg.norm(r) / np.linalg.norm(sd * Y0)


KINDS = ["dense", "singular", "ill-conditioned"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("weights", [None, "sample"])
def test_complete_data_matches_stacked_solve(kind, weights):
    X, Y, W, A, K = problem(0, kind, weights=weights)
    model = MultiTaskKernelRidge(alpha=ALPHA, task_structure=A,
                                 solver="factored_cg").fit(X, Y, sample_weight=W)
    assert model.solver_ == "factored_cg"
    assert rel_err(model.dual_coef_, stacked_kronecker_solve(K, Y, A, ALPHA, W)) < 1e-8
    info = model.solver_info_
    assert info["converged"] and info["relative_residual"] <= EXACT_TOL
    # The reported residual is the true one.
    assert stationarity(model.dual_coef_, K, Y, A, W) == pytest.approx(
        info["relative_residual"], rel=1e-2, abs=1e-13)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("n_levels", [1, 2, 3])
def test_shifted_cg_any_number_of_levels(kind, n_levels):
    _, Y, _, A, K = problem(1, kind, n=25, T=5)
    C, info = solve_shifted_cg(K, Y, A, ALPHA, xnp, n_levels=n_levels)
    assert rel_err(C, stacked_kronecker_solve(K, Y, A, ALPHA)) < 1e-8
    # A rank-2 A has two shifts: two factors solve it exactly.
    assert info["n_factorizations"] == (min(n_levels, 2) if kind == "singular"
                                        else n_levels)
    assert info["relative_residual"] <= 1e-10


def test_one_level_per_distinct_eigenvalue_is_the_rotated_cholesky():
    _, Y, _, _, K = problem(2)
    A = np.eye(4) + 1.0  # mean-regularised-like: two distinct eigenvalues
    C, info = solve_shifted_cg(K, Y, A, ALPHA, xnp, n_levels=2)
    assert info["n_iter"] <= 1
    assert rel_err(C, stacked_kronecker_solve(K, Y, A, ALPHA)) < 1e-12


def test_shift_levels_bound_the_ratio_to_the_nearest_factor():
    shifts = list(np.geomspace(0.1, 100.0, 9))
    for k in (1, 2, 3):
        levels, assign = shift_levels(shifts, k)
        assert len(levels) == k
        worst = max(max(m / levels[a], levels[a] / m)
                    for m, a in zip(shifts, assign, strict=True))
        assert worst <= 1000.0 ** (1 / (2 * k)) * (1 + 1e-12)
    levels, assign = shift_levels([1.0, 2.0, 2.0], 3)
    assert levels == [1.0, 2.0] and assign == [0, 1, 1]


MASKED = [
    ("missing", dict(missing=0.3)),
    ("missing+entry-weights", dict(missing=0.3, weights="entry")),
    ("entry-weights", dict(weights="entry")),
    ("missing+sample-weights", dict(missing=0.3, weights="sample")),
]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name,case", MASKED)
def test_masked_matches_stacked_solve(kind, name, case):
    X, Y, W, A, K = problem(3, kind, **case)
    model = MultiTaskKernelRidge(alpha=ALPHA, task_structure=A,
                                 solver="factored_cg").fit(X, Y, sample_weight=W)
    assert model.solver_ == "factored_cg"
    assert rel_err(model.dual_coef_, stacked_kronecker_solve(K, Y, A, ALPHA, W)) < 1e-8
    assert np.all(model.dual_coef_[np.isnan(Y)] == 0.0)
    info = model.solver_info_
    assert info["converged"] and info["relative_residual"] <= EXACT_TOL
    assert stationarity(model.dual_coef_, K, Y, A, W) == pytest.approx(
        info["relative_residual"], rel=1e-2, abs=1e-13)


@pytest.mark.parametrize("method", ["cholesky", "eig"])
def test_masked_both_preconditioner_factorisations(method):
    _, Y, W, A, K = problem(4, "dense", missing=0.4, weights="entry")
    D = np.where(np.isnan(Y), 0.0, W)
    C, info = solve_masked_cg(K, Y, D, A, ALPHA, xnp, method=method)
    assert rel_err(C, stacked_kronecker_solve(K, Y, A, ALPHA, W)) < 1e-8
    assert info["factorization"] == method
    assert info["n_factorizations"] == (4 if method == "cholesky" else 0)


def test_masked_warm_start_reaches_the_same_solution_in_fewer_iterations():
    # The alternating solvers pass the previous B-step's coefficients.
    _, Y, W, A, K = problem(6, "dense", missing=0.4, weights="entry")
    D = np.where(np.isnan(Y), 0.0, W)
    C_ref = stacked_kronecker_solve(K, Y, A, ALPHA, W)
    cold, cold_info = solve_masked_cg(K, Y, D, A, ALPHA, xnp)
    near = C_ref + 1e-6 * np.random.default_rng(0).normal(size=C_ref.shape)
    warm, warm_info = solve_masked_cg(K, Y, D, A, ALPHA, xnp, x0=near)
    assert rel_err(warm, C_ref) < 1e-8 and rel_err(cold, C_ref) < 1e-8
    assert warm_info["converged"] and warm_info["n_iter"] < cold_info["n_iter"]
    # Entries of x0 at missing labels are ignored (c is zero there).
    noisy = np.where(np.isnan(Y), 1e3, near)
    warm2, _ = solve_masked_cg(K, Y, D, A, ALPHA, xnp, x0=noisy)
    assert rel_err(warm2, C_ref) < 1e-8


def test_a_sample_without_labels_gets_zero_coefficients():
    X, Y, _, A, K = problem(5, "dense", missing=0.3)
    Y[7] = np.nan
    model = MultiTaskKernelRidge(alpha=ALPHA, task_structure=A,
                                 solver="factored_cg").fit(X, Y)
    assert np.all(model.dual_coef_[7] == 0.0)
    assert rel_err(model.dual_coef_, stacked_kronecker_solve(K, Y, A, ALPHA)) < 1e-8


# ---- the plan (pure: nothing is solved) ------------------------------------
def shape(n=4000, T=20, complete=True, d=20, condition=20.0, n_observed=None,
          components=None, weighted=False):
    components = components or (tuple(range(T)),)
    return ProblemShape(n_samples=n, n_tasks=T, complete=complete, weighted=weighted,
                        components=components,
                        n_observed=n_observed or (n * T,), n_factorizations=d,
                        kernel_cost=30.0, task_condition=condition)


def test_auto_picks_few_shifted_factorisations_for_a_dense_A():
    plan = plan_fixed_solver(shape(), budget=10 * GiB)
    assert (plan.solver, plan.system) == ("factored_cg", "complete")
    assert plan.n_factorizations == 1
    assert plan.bytes == (1 + plan.n_factorizations) * 4000**2 * 8
    assert plan.fallback.solver == "eig"  # "auto" stays exact


def test_auto_keeps_the_direct_solvers_where_they_are_cheaper():
    # Two distinct eigenvalues (mean-regularised): the two Choleskys stay.
    plan = plan_fixed_solver(shape(d=2, condition=2.0), budget=10 * GiB)
    assert plan.solver == "cholesky"
    # A very ill-conditioned A and many tasks: the iterations would cost more than
    # eigh; a well-conditioned one with as many tasks still iterates.
    plan = plan_fixed_solver(shape(T=100, d=100, condition=1e12), budget=10 * GiB)
    assert plan.solver == "eig"
    plan = plan_fixed_solver(shape(T=100, d=100, condition=10.0), budget=10 * GiB)
    assert plan.solver == "factored_cg"
    # Small n: the triangular solves are not cheap next to one factorisation.
    plan = plan_fixed_solver(shape(n=60), budget=10 * GiB)
    assert plan.solver == "eig"
    # Unknown spread of A (a hand-made shape): as before.
    plan = plan_fixed_solver(shape(condition=None), budget=10 * GiB)
    assert plan.solver == "eig"


def test_auto_picks_the_masked_route_for_missing_labels():
    N = int(0.7 * 2000 * 10)
    plan = plan_fixed_solver(shape(n=2000, T=10, complete=False, d=2, n_observed=(N,)),
                             budget=10 * GiB)
    assert (plan.solver, plan.system, plan.factorization) == (
        "factored_cg", "masked", "cholesky")
    assert plan.n_factorizations == 2
    assert plan.fallback.system == "observed" and plan.fallback.solver == "cholesky"
    # Many distinct eigenvalues: the preconditioner is the eigendecomposition.
    plan = plan_fixed_solver(shape(n=2000, T=10, complete=False, d=10, n_observed=(N,)),
                             budget=10 * GiB)
    assert (plan.system, plan.factorization) == ("masked", "eig")


def test_one_label_per_row_keeps_the_observed_cholesky():
    # School: 15362 rows, 139 tasks, one observed entry per row.
    plan = plan_fixed_solver(
        shape(n=15362, T=139, complete=False, d=2, n_observed=(15362,)),
        budget=10 * GiB)
    assert (plan.solver, plan.system) == ("cholesky", "observed")


def test_explicit_factored_cg_that_does_not_fit_is_refused():
    with pytest.raises(MemoryBudgetError, match=r"solver='factored_cg' on 2000 "
                                                r"samples.*solver='cg'"):
        plan_fixed_solver(shape(n=2000, T=10, complete=False, d=2), "factored_cg",
                          budget=1e6)


def test_iteration_bound():
    assert cg_iterations(1.0, 1e-10) <= 13
    assert cg_iterations(100.0, 1e-10) > cg_iterations(4.0, 1e-10) > 20


def test_describe_problem_reads_the_spread_of_A():
    _, Y, _, A, _ = problem(0, "ill-conditioned")
    X = np.random.default_rng(0).standard_normal((30, 3))
    gram = TrainingGram(PairwiseKernel("rbf", n_features=3), X, xnp)
    s, _, _ = describe_problem(gram, Y, A, xnp)
    assert s.task_condition == pytest.approx(1e6, rel=1e-6)


# ---- the fallback of "auto" --------------------------------------------------
def test_auto_falls_back_to_the_direct_plan_when_cg_stops_early():
    X, Y, _, A, K = problem(6, "ill-conditioned")
    gram = TrainingGram(PairwiseKernel("rbf", n_features=3, gamma=1.0 / 3), X, xnp)
    s, sample_w, W = describe_problem(gram, Y, A, xnp)
    options = {"max_iter": 2}
    plan = SolverPlan("factored_cg", "complete", n_factorizations=1,
                      options=dict(plan_fixed_solver(s, "eig").options, **options),
                      fallback=SolverPlan("eig", "complete"))
    with pytest.warns(UserWarning, match="falls back to solver='eig'"):
        C, info = run_plan(plan, gram, Y, W, sample_w, A, ALPHA, xnp)
    assert info["solver"] == "eig" and info["fallback_from"] == "factored_cg"
    assert rel_err(C, stacked_kronecker_solve(K, Y, A, ALPHA)) < 1e-8
    # Without a fallback (an explicit solver="factored_cg"): a warning that says
    # what to do, and the last iterate.
    plan = SolverPlan("factored_cg", "complete", n_factorizations=1,
                      options=plan.options)
    with pytest.warns(Warning, match=r"max_iter.*solver='eig'"):
        C, info = run_plan(plan, gram, Y, W, sample_w, A, ALPHA, xnp)
    assert info["solver"] == "factored_cg" and not info["converged"]


def test_explicit_factored_cg_warns_when_it_stops_early():
    X, Y, _, A, _ = problem(6, "ill-conditioned", missing=0.3)
    model = MultiTaskKernelRidge(alpha=ALPHA, task_structure=A, solver="factored_cg",
                                 solver_options={"max_iter": 2})
    with pytest.warns(Warning, match="stationarity residual"):
        model.fit(X, Y)
    assert not model.solver_info_["converged"]


def test_no_warning_when_converged():
    X, Y, _, A, _ = problem(7, "dense", missing=0.2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        MultiTaskKernelRidge(alpha=ALPHA, task_structure=A, solver="factored_cg").fit(X, Y)


# ---- other namespaces --------------------------------------------------------
@pytest.mark.parametrize("missing,weights", [(0.0, "sample"), (0.3, "entry")])
def test_strict_arrays_match_numpy(missing, weights):
    xps = pytest.importorskip("array_api_strict")
    X, Y, W, A, _ = problem(8, "dense", missing=missing, weights=weights)
    kw = dict(alpha=ALPHA, task_structure=A, solver="factored_cg")
    ref = MultiTaskKernelRidge(**kw).fit(X, Y, sample_weight=W)
    for device in (xps.Device("CPU_DEVICE"), xps.Device("device1")):
        model = MultiTaskKernelRidge(**kw).fit(
            xps.asarray(X, device=device), xps.asarray(Y, device=device),
            sample_weight=xps.asarray(W, device=device))
        assert model.dual_coef_.device == device
        assert rel_err(np.asarray(xps.asarray(model.dual_coef_, device=xps.Device(
            "CPU_DEVICE"))), ref.dual_coef_) < 1e-10
