"""The shared conjugate-gradient iteration, its two users and the preconditioner fallback."""

import warnings

import array_api_compat.numpy as xnp
import numpy as np
import pytest
from reference import random_psd, rel_err, stacked_kronecker_solve
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics.pairwise import rbf_kernel

from rkhsmtl import MultiTaskKernelRidge
from rkhsmtl._solvers.cg import solve_observed_cg
from rkhsmtl._solvers.krylov import PCGResult, axpy, inner, norm, pcg
from rkhsmtl._solvers.logistic import LogisticProblem, _newton_system, task_factor
from rkhsmtl._solvers.observed import ObservedEntries, build_observed_system
from rkhsmtl._solvers.operators import DenseObservedOperator
from rkhsmtl.kernels import PairwiseKernel, TrainingGram


def spd(n, seed, cond=1e3):
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    return (Q * np.geomspace(1.0, cond, n)) @ Q.T


def flat(M):
    """``M`` as an operator on 1-tuples."""
    return lambda v: (M @ v[0],)


def paired(M, shape):
    """``M`` as an operator on pairs ``(Z, b)`` (``Z`` raveled first, then ``b``)."""
    size = int(np.prod(shape))

    def matvec(v):
        out = M @ np.concatenate([v[0].ravel(), v[1]])
        return (out[:size].reshape(shape), out[size:])

    return matvec


# --- the iteration ------------------------------------------------------------------
@pytest.mark.parametrize("preconditioned", [False, True])
def test_pcg_solves_a_flat_spd_system(preconditioned):
    M = spd(40, 0)
    b = np.random.default_rng(1).standard_normal(40)
    inv_diag = 1.0 / np.diag(M)
    precond = (lambda r: (inv_diag * r[0],)) if preconditioned else None
    result = pcg(flat(M), (b,), precond, tol=1e-12, max_iter=500, xp=xnp)
    assert isinstance(result, PCGResult)
    (x,), n_iter, converged, rel = result
    assert converged and rel <= 1e-12 and 0 < n_iter <= 500
    assert rel_err(x, np.linalg.solve(M, b)) < 1e-9
    # The recursive residual drifts from the true one by round-off only.
    assert np.linalg.norm(b - M @ x) / np.linalg.norm(b) < 1e-11


def test_pcg_solves_a_system_on_pairs():
    shape = (5, 3)
    M = spd(18, 2, cond=1e2)
    rng = np.random.default_rng(3)
    rhs = (rng.standard_normal(shape), rng.standard_normal(3))
    inv_diag = 1.0 / np.diag(M)

    def precond(r):
        return (inv_diag[:15].reshape(shape) * r[0], inv_diag[15:] * r[1])

    (Z, b), _, converged, _ = pcg(paired(M, shape), rhs, precond, tol=1e-13,
                                  max_iter=200, xp=xnp)
    assert converged and Z.shape == shape and b.shape == (3,)
    expected = np.linalg.solve(M, np.concatenate([rhs[0].ravel(), rhs[1]]))
    assert rel_err(np.concatenate([Z.ravel(), b]), expected) < 1e-10


def test_pcg_pairs_equal_the_flat_iteration():
    # Part-by-part inner products: a pair is the same vector as its concatenation.
    shape = (4, 2)
    M = spd(11, 4)
    rhs = np.random.default_rng(5).standard_normal(11)
    pair = pcg(paired(M, shape), (rhs[:8].reshape(shape), rhs[8:]), None, tol=1e-8,
               max_iter=7, xp=xnp)
    single = pcg(flat(M), (rhs,), None, tol=1e-8, max_iter=7, xp=xnp)
    assert pair.n_iter == single.n_iter
    assert rel_err(np.concatenate([pair.x[0].ravel(), pair.x[1]]), single.x[0]) < 1e-12


def test_pcg_warm_start():
    M = spd(30, 6)
    b = np.random.default_rng(7).standard_normal(30)
    x_ref = np.linalg.solve(M, b)
    cold = pcg(flat(M), (b,), None, tol=1e-10, max_iter=500, xp=xnp)
    at_solution = pcg(flat(M), (b,), None, tol=1e-10, max_iter=500, xp=xnp,
                      x0=(x_ref,))
    assert at_solution.n_iter == 0 and at_solution.converged
    assert at_solution.x[0] is x_ref
    near = x_ref + 1e-6 * np.random.default_rng(8).standard_normal(30)
    warm = pcg(flat(M), (b,), None, tol=1e-10, max_iter=500, xp=xnp, x0=(near,))
    assert warm.converged and warm.n_iter < cold.n_iter
    assert rel_err(warm.x[0], x_ref) < 1e-8


def test_pcg_reports_max_iter_reached():
    M = spd(50, 9, cond=1e6)
    b = np.random.default_rng(10).standard_normal(50)
    (x,), n_iter, converged, rel = pcg(flat(M), (b,), None, tol=1e-12, max_iter=3,
                                       xp=xnp)
    assert n_iter == 3 and not converged and rel > 1e-12
    assert rel == pytest.approx(np.linalg.norm(b - M @ x) / np.linalg.norm(b), rel=1e-8)
    (x0,), n_iter, converged, _ = pcg(flat(M), (b,), None, tol=1e-12, max_iter=0,
                                      xp=xnp)
    assert n_iter == 0 and not converged and not np.any(x0)


def test_pcg_zero_right_hand_side():
    M = spd(5, 11)
    (x,), n_iter, converged, rel = pcg(flat(M), (np.zeros(5),), None, tol=1e-10,
                                       max_iter=10, xp=xnp)
    assert n_iter == 0 and converged and rel == 0.0 and not np.any(x)


@pytest.mark.parametrize("M", [np.diag([1.0, -2.0]), np.diag([1.0, -1.0])],
                         ids=["negative", "zero"])
def test_pcg_curvature_guard_stops_and_keeps_the_iterate(M):
    b = np.ones(2)  # b^T M b <= 0: the first direction has no positive curvature
    (x,), n_iter, converged, rel = pcg(flat(M), (b,), None, tol=1e-10, max_iter=10,
                                       xp=xnp, curvature_guard=True)
    assert n_iter == 1 and not converged and rel == 1.0 and not np.any(x)


def test_pcg_without_guard_steps_on_through_negative_curvature():
    # CG on a symmetric indefinite system (an indefinite kernel with a large enough
    # alpha) may still converge; the observed-entries solver relies on that.
    M = np.diag([3.0, -1.0])
    b = np.array([1.0, 0.5])
    (x,), _, converged, _ = pcg(flat(M), (b,), None, tol=1e-12, max_iter=10, xp=xnp)
    assert converged and rel_err(x, np.linalg.solve(M, b)) < 1e-12


def test_vector_space_helpers_act_part_by_part():
    u = (np.arange(6.0).reshape(2, 3), np.array([1.0, -1.0]))
    v = (np.ones((2, 3)), np.array([2.0, 3.0]))
    assert inner(u, v, xnp) == 15.0 - 1.0
    assert norm(u, xnp) == pytest.approx(np.sqrt(55.0 + 2.0))
    a, b = axpy(2.0, u, v)
    assert np.array_equal(a, 2.0 * u[0] + v[0]) and np.array_equal(b, 2.0 * u[1] + v[1])


def test_pcg_on_array_api_strict_arrays_matches_numpy():
    xps = pytest.importorskip("array_api_strict")
    shape = (3, 2)
    M = spd(8, 12)
    rng = np.random.default_rng(13)
    rhs = (rng.standard_normal(shape), rng.standard_normal(2))
    ref = pcg(paired(M, shape), rhs, None, tol=1e-12, max_iter=100, xp=xnp)
    device = xps.Device("device1")
    Ms = xps.asarray(M, device=device)

    def matvec(v):
        out = Ms @ xps.concat([xps.reshape(v[0], (-1,)), v[1]])
        return (xps.reshape(out[:6], shape), out[6:])

    strict = pcg(matvec, tuple(xps.asarray(r, device=device) for r in rhs), None,
                 tol=1e-12, max_iter=100, xp=xps)
    assert strict.converged and strict.n_iter == ref.n_iter
    assert strict.x[0].device == device
    for got, want in zip(strict.x, ref.x, strict=True):
        assert rel_err(np.asarray(xps.asarray(got, device=xps.Device("CPU_DEVICE"))),
                       want) < 1e-12


# --- the Newton system of the logistic solver ---------------------------------------
def test_newton_step_through_pcg_is_the_dense_newton_step():
    rng = np.random.default_rng(14)
    n, T = 25, 3
    X = rng.standard_normal((n, 2))
    Phi = X  # linear kernel: K = X X^T
    Y = np.where(rng.random((n, T)) < 0.5, -1.0, 1.0)
    Y[rng.random((n, T)) < 0.2] = np.nan
    W = rng.uniform(0.5, 2.0, (n, T))
    problem = LogisticProblem(Phi, task_factor(random_psd(T, rng), xnp), Y, W, 0.1,
                              True, xnp)
    params = (0.3 * rng.standard_normal(problem.zero()[0].shape),
              0.1 * rng.standard_normal(T))
    _, grad, D, _ = problem.evaluate(params)
    hessian, precondition = _newton_system(problem, D)
    shape = grad[0].shape
    size = grad[0].size
    # The explicit Hessian, one column per basis pair.
    columns = []
    for k in range(size + T):
        e = np.zeros(size + T)
        e[k] = 1.0
        HZ, Hb = hessian((e[:size].reshape(shape), e[size:]))
        columns.append(np.concatenate([HZ.ravel(), Hb]))
    H = np.stack(columns, axis=1)
    assert rel_err(H, H.T) < 1e-12
    step = np.linalg.solve(H, -np.concatenate([grad[0].ravel(), grad[1]]))
    (P, c), _, converged, _ = pcg(hessian, (-grad[0], -grad[1]), precondition,
                                  tol=1e-13, max_iter=200, xp=xnp,
                                  curvature_guard=True)
    assert converged
    assert rel_err(np.concatenate([P.ravel(), c]), step) < 1e-9


# --- the observed-entries system and the preconditioner fallback ---------------------
def _observed(seed=0, n=30, T=3):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 2))
    Y = rng.standard_normal((n, T))
    Y[rng.random((n, T)) < 0.3] = np.nan
    Y[0] = 0.0
    W = np.where(np.isnan(Y), 0.0, rng.uniform(0.5, 2.0, (n, T)))
    A = random_psd(T, rng)
    obs = ObservedEntries(xnp.asarray(Y), xnp.asarray(W), xnp)
    gram = TrainingGram(PairwiseKernel("rbf", n_features=2), X, xnp)
    return X, Y, W, A, obs, gram


class _BrokenSketch(DenseObservedOperator):
    """Right products with the system, a sketch that is all NaN."""

    def apply_psd(self, V):
        return np.full_like(V, np.nan)


def test_failed_nystrom_sketch_warns_and_falls_back_to_jacobi():
    alpha = 0.3
    _, Y, _, A, obs, gram = _observed()
    system = build_observed_system(gram, A, obs, alpha, xnp, np.float64)
    operator = _BrokenSketch(system, alpha)
    with pytest.warns(UserWarning, match=r"Nystrom preconditioner could not be built"
                                         r".*Jacobi"):
        c, info = solve_observed_cg(operator, obs, alpha, xnp, np.float64, tol=1e-12,
                                    max_iter=500, preconditioner="nystrom", rank=10,
                                    gram=gram, A=A)
    assert info["preconditioner"] == "jacobi" and info["converged"]
    expected = obs.sqrt_w * np.linalg.solve(system, obs.sqrt_w * obs.y)
    assert rel_err(c, expected) < 1e-9


def test_working_nystrom_sketch_does_not_warn():
    alpha = 0.3
    _, _, _, A, obs, gram = _observed()
    operator = DenseObservedOperator(build_observed_system(gram, A, obs, alpha, xnp,
                                                           np.float64), alpha)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, info = solve_observed_cg(operator, obs, alpha, xnp, np.float64, tol=1e-12,
                                    max_iter=500, preconditioner="nystrom", rank=10,
                                    gram=gram, A=A)
    assert info["preconditioner"] == "nystrom"


def test_indefinite_kernel_nystrom_fallback_through_the_estimator():
    # A kernel with negative eigenvalues, but alpha large enough that the regularised
    # system stays positive definite: CG solves it, the full-rank Nystrom sketch of
    # the indefinite H cannot be factorised.
    X, Y, W, A, _, _ = _observed(seed=1)
    K = rbf_kernel(X, gamma=0.5) - 0.2 * np.eye(X.shape[0])
    alpha = 2.0 * np.max(np.diag(A)) * np.max(W)
    model = MultiTaskKernelRidge(
        alpha=alpha, kernel="precomputed", task_structure=A, solver="cg",
        solver_options={"tol": 1e-12, "max_iter": 1000, "preconditioner": "nystrom",
                        "preconditioner_rank": 200})
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        with pytest.warns(UserWarning, match=r"Nystrom preconditioner could not be "
                                             r"built .*indefinite kernel"):
            model.fit(K, Y, sample_weight=W)
    assert model.solver_info_["preconditioner"] == "jacobi"
    assert model.solver_info_["converged"]
    assert rel_err(model.dual_coef_, stacked_kronecker_solve(K, Y, A, alpha, W)) < 1e-8
