"""The solver plan is a pure function: asked without solving, checked before building."""

import numpy as np
import pytest
from reference import rel_err, stacked_kronecker_solve
from sklearn.metrics.pairwise import rbf_kernel

from rkhsmtl import MultiTaskKernelRidge
from rkhsmtl._solvers import describe_problem, plan_fixed_solver
from rkhsmtl._solvers.plan import ProblemShape, SolverPlan
from rkhsmtl.exceptions import MemoryBudgetError
from rkhsmtl.kernels import PairwiseKernel, TrainingGram
from rkhsmtl.structure import Clusters, MeanRegularized

GiB = 2.0**30


def shape(n=1000, T=5, complete=True, n_factorizations=2, components=None,
          n_observed=None, n_features=None, weighted=False):
    components = components or (tuple(range(T)),)
    n_observed = n_observed or tuple(n * len(c) for c in components)
    return ProblemShape(n_samples=n, n_tasks=T, complete=complete, weighted=weighted,
                        components=components, n_observed=n_observed,
                        n_factorizations=n_factorizations, n_features=n_features,
                        kernel_cost=10.0)


def test_auto_prefers_few_choleskys_then_the_eigendecomposition():
    plan = plan_fixed_solver(shape(n_factorizations=2), budget=10 * GiB)
    assert (plan.solver, plan.system, plan.n_factorizations) == ("cholesky", "complete", 2)
    assert plan.fallback_to_eig
    assert plan.bytes == 2 * 1000**2 * 8
    plan = plan_fixed_solver(shape(n_factorizations=20), budget=10 * GiB)
    assert (plan.solver, plan.system) == ("eig", "complete")
    assert plan.bytes == 3 * 1000**2 * 8


def test_auto_moves_to_cg_when_no_factorisation_fits():
    # K alone takes 32 MB: the budget holds CG's vectors (25 MB) only.
    plan = plan_fixed_solver(shape(n=2000), budget=3e7)
    assert plan.solver == "cg" and plan.system == "observed"
    assert plan.operator.startswith("streaming")
    assert plan.bytes <= 3e7


def test_explicit_solvers_that_do_not_fit_are_refused_before_building():
    with pytest.raises(MemoryBudgetError, match=r"solver='eig' on 1000 samples.*"
                                                r"solver='cg'"):
        plan_fixed_solver(shape(), "eig", budget=1e6)
    with pytest.raises(MemoryBudgetError, match=r"5000x5000 system.*solver='cg'"):
        plan_fixed_solver(shape(complete=False), "cholesky", budget=1e6)


def test_invalid_requests_are_rejected_before_anything_is_built():
    with pytest.raises(ValueError, match="solver must be one of"):
        plan_fixed_solver(shape(), "lu")
    with pytest.raises(ValueError, match="needs a complete Y"):
        plan_fixed_solver(shape(complete=False), "eig")
    with pytest.raises(ValueError, match="kernel='linear'"):
        plan_fixed_solver(shape(), "primal")
    for bad in ({"preconditioner": "ilu"}, {"preconditioner_rank": 0},
                {"tol": -1.0}, {"max_iter": 0}, {"tolerance": 1e-3}):
        with pytest.raises(ValueError, match="solver_options"):
            plan_fixed_solver(shape(), "cg", options=bad)


def test_estimator_rejects_a_bad_preconditioner_before_building_the_operator():
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((30, 2)), rng.standard_normal((30, 2))
    with pytest.raises(ValueError, match="preconditioner"):
        MultiTaskKernelRidge(solver="cg", solver_options={"preconditioner": "ilu"}).fit(X, Y)


def test_primal_plan_for_few_linear_features():
    plan = plan_fixed_solver(shape(n=5000, T=3, n_features=2, complete=False,
                                   n_observed=(5000,)), budget=10 * GiB)
    assert plan.solver == "primal" and plan.bytes == 2 * (2 * 3) ** 2 * 8
    # Many features: the dual system is smaller.
    plan = plan_fixed_solver(shape(n=50, T=3, n_features=400), budget=10 * GiB)
    assert plan.solver != "primal"


def test_block_diagonal_structure_gets_one_plan_per_group():
    s = shape(n=100, T=3, complete=False, components=((0, 2), (1,)),
              n_observed=(150, 60))
    plan = plan_fixed_solver(s, budget=10 * GiB)
    assert [tasks for tasks, _ in plan.blocks] == [(0, 2), (1,)]
    assert all(isinstance(p, SolverPlan) and p.solver == "cholesky"
               for _, p in plan.blocks)
    assert plan.bytes == 150**2 * 8


def test_describe_problem_reads_the_arrays_once():
    import array_api_compat.numpy as xp

    rng = np.random.default_rng(1)
    X = rng.standard_normal((20, 2))
    Y = rng.standard_normal((20, 3))
    Y[::4, 1] = np.nan
    A = Clusters([0, 1, 0], strength=1.0).task_matrix(3)
    gram = TrainingGram(PairwiseKernel("rbf", n_features=2), X, xp)
    s, sample_w, W = describe_problem(gram, Y, A, xp)
    assert not s.complete and sample_w is None
    assert s.components == ((0, 2), (1,))
    assert s.n_observed == (40, 15)
    assert np.array_equal(W > 0, ~np.isnan(Y))


def test_the_plan_is_what_the_estimator_runs():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((40, 2))
    Y = rng.standard_normal((40, 3))
    A = MeanRegularized().task_matrix(3)
    model = MultiTaskKernelRidge(alpha=0.5, task_structure=A).fit(X, Y)
    assert model.solver_ == "cholesky"
    assert model.solver_info_["n_factorizations"] == 2
    K = rbf_kernel(X, gamma=0.5)
    assert rel_err(model.dual_coef_, stacked_kronecker_solve(K, Y, A, 0.5)) < 1e-10
