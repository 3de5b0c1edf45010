"""Learned task structures (Q_delta of the user guide) against independent references.

Every penalty ``F`` is re-coded here from its docstring; the A-steps are compared
with a generic optimiser (``scipy.optimize``) of the sub-problem

    alpha tr(A^{-1} (M + delta^2 I)) + F(A),

the alternating solver with a generic optimiser of the joint objective ``Q_delta``
at the final ``delta``, and the returned coefficients with the brute-force stacked
Kronecker solve of ``tests/reference.py``.
"""

import warnings

import array_api_compat.numpy as xnp
import numpy as np
import pytest
from reference import random_psd, rel_err, stacked_kronecker_solve
from scipy.optimize import minimize
from sklearn.base import clone
from sklearn.cluster import SpectralClustering
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import adjusted_rand_score
from sklearn.metrics.pairwise import rbf_kernel
from sklearn.model_selection import GridSearchCV
from sklearn.utils.estimator_checks import parametrize_with_checks
from threadpoolctl import threadpool_limits

from rkhsmtl import MultiTaskKernelRidge
from rkhsmtl.datasets import make_multitask_regression
from rkhsmtl.structure import (
    ClusteredNorm,
    LowRank,
    MeanRegularized,
    OutputKernel,
    PriorShrinkage,
    TaskRelation,
    resolve_task_structure,
    water_fill,
)


@pytest.fixture(autouse=True, scope="module")
def _single_blas_thread():
    # Tiny matrices: BLAS threads only fight over the 2 cores (10x slower under load).
    with threadpool_limits(1):
        yield


# --------------------------------------------------------------------------- #
# Independent helpers                                                         #
# --------------------------------------------------------------------------- #
def sym(S):
    return 0.5 * (S + S.T)


def mpow(S, p):
    w, V = np.linalg.eigh(sym(S))
    return (V * w**p) @ V.T


def complement_basis(T):
    """Orthonormal basis (T, T-1) of 1-perp, built differently from the package."""
    rng = np.random.default_rng(123)
    Q, _ = np.linalg.qr(np.column_stack([np.ones(T), rng.standard_normal((T, T - 1))]))
    return Q[:, 1:]


def penalty(kind, strength, A):
    """F(A) and its gradient dF/dA, coded from the docstrings."""
    T = A.shape[0]
    if kind == "low_rank":  # strength * tr(A)
        return strength * np.trace(A), strength * np.eye(T)
    if kind == "okl":  # strength * ||A||_F^2
        return strength * np.sum(A * A), 2.0 * strength * A
    if kind == "shrink":  # strength * (tr A - logdet A - T)
        sign, logdet = np.linalg.slogdet(A)
        if sign <= 0:
            return np.inf, np.zeros_like(A)
        return strength * (np.trace(A) - logdet - T), strength * (np.eye(T) - np.linalg.inv(A))
    raise AssertionError(kind)


def coupling(A, N, alpha):
    return alpha * np.trace(np.linalg.solve(A, N))


def spectral_objective(kind, strength, A, N, alpha):
    return coupling(A, N, alpha) + penalty(kind, strength, A)[0]


def minimise_over_cholesky(fun_grad, T, rng, scale, n_starts=3):
    """BFGS over L (A = L L^T + tiny I) from the identity and random starts."""
    best = None
    for k in range(n_starts):
        L0 = np.eye(T) if k == 0 else rng.standard_normal((T, T)) / np.sqrt(T)
        res = minimize(fun_grad, np.sqrt(scale) * L0.ravel(), jac=True, method="BFGS",
                       options={"gtol": 1e-13, "maxiter": 20000})
        if best is None or res.fun < best.fun:
            best = res
    return best


def spectral_fun_grad(kind, strength, N, alpha):
    T = N.shape[0]

    def fg(l):
        L = l.reshape(T, T)
        A = L @ L.T + 1e-12 * np.eye(T)
        try:
            Ai = np.linalg.inv(A)
        except np.linalg.LinAlgError:
            return np.inf, np.zeros_like(l)
        F, dF = penalty(kind, strength, A)
        value = alpha * np.trace(Ai @ N) + F
        if not np.isfinite(value):
            return np.inf, np.zeros_like(l)
        G = -alpha * Ai @ N @ Ai + dF
        return value, (2.0 * sym(G) @ L).ravel()

    return fg


def relation_fun_grad(rho, N, alpha):
    """alpha tr(A^{-1} N) with A^{-1} = (I + rho Omega^{-1}) / (1 + rho), Omega = T S /
    tr S, S = L L^T."""
    T = N.shape[0]

    def fg(l):
        L = l.reshape(T, T)
        S = L @ L.T
        try:
            Si = np.linalg.inv(S)
        except np.linalg.LinAlgError:
            return np.inf, np.zeros_like(l)
        trS = np.trace(S)
        value = (alpha * np.trace(N) + alpha * rho * trS / T * np.trace(Si @ N)) / (1 + rho)
        if not np.isfinite(value) or value < 0:
            return np.inf, np.zeros_like(l)
        dS = alpha * rho / (1 + rho) * (np.trace(Si @ N) / T * np.eye(T)
                                        - trS / T * Si @ N @ Si)
        return value, (2.0 * sym(dS) @ L).ravel()

    return fg


def relation_matrix(l, rho):
    T = int(round(np.sqrt(l.size)))
    L = l.reshape(T, T)
    S = L @ L.T
    Omega = T * S / np.trace(S)
    return (1 + rho) * np.linalg.inv(np.eye(T) + rho * np.linalg.inv(Omega))


def random_sub_problem(seed):
    """Random PSD M (T = 3..5, some rank deficient), alpha, strength, delta^2."""
    rng = np.random.default_rng(seed)
    T = int(rng.integers(3, 6))
    rank = int(rng.integers(1, T + 1))
    G = rng.standard_normal((T, rank)) * rng.uniform(0.3, 3.0, size=rank)
    M = G @ G.T
    alpha = float(rng.uniform(0.1, 3.0))
    strength = float(rng.uniform(0.2, 3.0))
    delta2 = float(rng.uniform(1e-3, 0.2)) * np.trace(M) / T
    return rng, T, M, alpha, strength, delta2


SPECTRAL = [("low_rank", LowRank), ("okl", OutputKernel), ("shrink", PriorShrinkage)]


# --------------------------------------------------------------------------- #
# 1. A-steps                                                                  #
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("kind,cls", SPECTRAL)
def test_spectral_a_step_is_the_numerical_minimiser(kind, cls, seed):
    rng, T, M, alpha, strength, delta2 = random_sub_problem(seed)
    structure = cls(strength=strength, prior=None)
    N = M + delta2 * np.eye(T)
    A_step = np.asarray(structure.a_step(xnp.asarray(M), alpha, delta2, xnp))
    res = minimise_over_cholesky(spectral_fun_grad(kind, strength, N, alpha), T, rng,
                                 scale=np.trace(M) / T)
    L = res.x.reshape(T, T)
    A_num = L @ L.T
    ours = spectral_objective(kind, strength, A_step, N, alpha)
    assert np.all(np.linalg.eigvalsh(A_step) > 0)
    assert np.allclose(A_step, A_step.T, rtol=0, atol=1e-12 * np.abs(A_step).max())
    assert ours <= res.fun * (1 + 1e-6)
    assert res.fun <= ours * (1 + 1e-6)  # scipy really reached the minimum
    assert rel_err(A_step, A_num) < 1e-6
    # The package's own regulariser is the same function.
    assert structure.regularizer(A_step, M, alpha, delta2, xnp) == pytest.approx(ours,
                                                                                 rel=1e-10)


@pytest.mark.parametrize("prior_kind", ["array", "chain"])
@pytest.mark.parametrize("kind,cls", SPECTRAL)
def test_spectral_a_step_with_prior_is_minimiser_in_whitened_coordinates(kind, cls,
                                                                         prior_kind):
    rng, T, M, alpha, strength, delta2 = random_sub_problem(10 + len(kind))
    if prior_kind == "array":
        prior = random_psd(T, rng) + 0.3 * np.eye(T)
        A0 = prior
    else:
        prior = "chain"
        A0 = resolve_task_structure("chain").task_matrix(T)
    structure = cls(strength=strength, prior=prior)
    R, Ri = mpow(A0, 0.5), mpow(A0, -0.5)
    N = Ri @ M @ Ri + delta2 * np.eye(T)
    A_step = np.asarray(structure.a_step(xnp.asarray(M), alpha, delta2, xnp))
    res = minimise_over_cholesky(spectral_fun_grad(kind, strength, N, alpha), T, rng,
                                 scale=np.trace(N) / T)
    L = res.x.reshape(T, T)
    A_num = R @ (L @ L.T) @ R
    ours = spectral_objective(kind, strength, Ri @ A_step @ Ri, N, alpha)
    assert ours <= res.fun * (1 + 1e-6)
    assert res.fun <= ours * (1 + 1e-6)
    assert rel_err(A_step, A_num) < 1e-6
    assert structure.regularizer(A_step, M, alpha, delta2, xnp) == pytest.approx(ours,
                                                                                 rel=1e-10)


@pytest.mark.parametrize("seed", range(4))
def test_task_relation_a_step_is_the_numerical_minimiser(seed):
    rng, T, M, alpha, rho, delta2 = random_sub_problem(20 + seed)
    structure = TaskRelation(strength=rho)
    N = M + delta2 * np.eye(T)
    A_step = np.asarray(structure.a_step(xnp.asarray(M), alpha, delta2, xnp))
    fg = relation_fun_grad(rho, N, alpha)
    best = None
    for k in range(3):
        L0 = np.eye(T) if k == 0 else rng.standard_normal((T, T))
        res = minimize(fg, L0.ravel(), jac=True, method="BFGS",
                       options={"gtol": 1e-12, "maxiter": 20000})
        if best is None or res.fun < best.fun:
            best = res
    A_num = relation_matrix(best.x, rho)
    ours = coupling(A_step, N, alpha)
    assert ours <= best.fun * (1 + 1e-6)
    assert best.fun <= ours * (1 + 1e-6)
    assert rel_err(A_step, A_num) < 1e-6
    # Feasible: Omega = rho ((1 + rho) A^{-1} - I)^{-1} is positive definite with
    # trace T.
    Omega = rho * np.linalg.inv((1 + rho) * np.linalg.inv(A_step) - np.eye(T))
    assert np.all(np.linalg.eigvalsh(Omega) > 0)
    assert np.trace(Omega) == pytest.approx(T, rel=1e-9)
    assert structure.regularizer(A_step, M, alpha, delta2, xnp) == pytest.approx(ours,
                                                                                 rel=1e-10)


def _random_feasible_spectra(rng, n, k, r, low, high):
    """n spectra in [low, high]^k summing to (k - r + 1) low + (r - 1) high."""
    target = r - 1  # in units u = (s - low) / (high - low), u in [0, 1]^k
    u = rng.random((n, k)) ** rng.uniform(0.2, 5.0, size=(n, 1))
    lo, hi = np.full((n, 1), -1.0), np.full((n, 1), 1.0)
    for _ in range(80):  # shift c with sum clip(u + c, 0, 1) = r - 1
        mid = 0.5 * (lo + hi)
        too_big = np.clip(u + mid, 0, 1).sum(axis=1, keepdims=True) > target
        hi = np.where(too_big, mid, hi)
        lo = np.where(too_big, lo, mid)
    u = np.clip(u + 0.5 * (lo + hi), 0, 1)
    # Some vertices too: r - 1 directions at high, the others at low (known clusters).
    n_vertices = n // 10
    u[:n_vertices] = 0.0
    for i in range(n_vertices):
        u[i, rng.permutation(k)[:target]] = 1.0
    return low + (high - low) * u


def _random_orthogonal(rng, n, k):
    Z = rng.standard_normal((n, k, k))
    Q, Rr = np.linalg.qr(Z)
    return Q * np.sign(np.diagonal(Rr, axis1=1, axis2=2))[:, None, :]


def _cluster_objectives(spectra, rotations, Qc, N, alpha, scale):
    """alpha tr(A^{-1} N) for A = scale 11^T/T + Qc R diag(s) R^T Qc^T, batched."""
    T = N.shape[0]
    A = scale * np.ones((T, T)) / T + np.einsum("ij,njk,nk,nlk,ml->nim", Qc, rotations,
                                                spectra, rotations, Qc)
    return alpha * np.trace(np.linalg.solve(A, np.broadcast_to(N, A.shape)),
                            axis1=1, axis2=2), A


@pytest.mark.parametrize("seed", range(4))
def test_clustered_norm_a_step_is_feasible_and_optimal(seed):
    rng, T, M, alpha, strength, delta2 = random_sub_problem(30 + seed)
    r = int(rng.integers(1, T + 1))
    structure = ClusteredNorm(n_clusters=r, strength=strength)
    N = M + delta2 * np.eye(T)
    A_step = np.asarray(structure.a_step(xnp.asarray(M), alpha, delta2, xnp))
    low, high = 1.0 / (1.0 + strength), 1.0
    k = T - 1
    total = (T - r) * low + (r - 1) * high
    # The set is scaled to trace T (the trace of independent tasks).
    scale = T / (1.0 + total)
    low, high, total = scale * low, scale * high, scale * total

    # (a) feasibility
    assert np.trace(A_step) == pytest.approx(T, rel=1e-10)
    assert np.allclose(A_step @ np.ones(T), scale * np.ones(T), rtol=0, atol=1e-10)
    Qc = complement_basis(T)
    sigma = np.linalg.eigvalsh(sym(Qc.T @ A_step @ Qc))
    assert sigma.min() >= low - 1e-10 and sigma.max() <= high + 1e-10
    assert sigma.sum() == pytest.approx(total, rel=1e-10)
    ours = coupling(A_step, N, alpha)
    assert structure.regularizer(A_step, M, alpha, delta2, xnp) == pytest.approx(ours,
                                                                                 rel=1e-10)

    # (b) no random feasible matrix does better: 2000 random ones, and 500 near A_step
    spectra = _random_feasible_spectra(rng, 2000, k, r, low, high)
    values, A_rand = _cluster_objectives(spectra, _random_orthogonal(rng, 2000, k), Qc,
                                         N, alpha, scale)
    # the random matrices are feasible
    assert np.allclose(A_rand @ np.ones(T), scale)
    assert values.min() >= ours * (1 - 1e-6)
    s_star, R_star = np.linalg.eigh(sym(Qc.T @ A_step @ Qc))
    t = rng.uniform(0, 0.05, size=(500, 1))
    near_spectra = (1 - t) * s_star + t * _random_feasible_spectra(rng, 500, k, r, low, high)
    skew = rng.standard_normal((500, k, k)) * 0.02
    skew = skew - np.swapaxes(skew, 1, 2)
    near_rot = np.einsum("ij,njk->nik", R_star,
                         np.linalg.qr(np.eye(k) + skew)[0])
    near_values, _ = _cluster_objectives(near_spectra, near_rot, Qc, N, alpha, scale)
    assert near_values.min() >= ours * (1 - 1e-6)

    # Exact optimal value: for a fixed spectrum the best rotation pairs it with the
    # eigenvectors of Qc^T N Qc (von Neumann), so the value is
    # alpha (1^T N 1 / (T scale) + min_s sum n_i / s_i); the inner minimum by SLSQP.
    n_eig = np.linalg.eigvalsh(sym(Qc.T @ N @ Qc))
    if high - low > 1e-12 and 1 < r < T:
        res = minimize(lambda s: np.sum(n_eig / s), np.full(k, total / k),
                       jac=lambda s: -n_eig / s**2, method="SLSQP",
                       bounds=[(low, high)] * k,
                       constraints=[{"type": "eq", "fun": lambda s: np.sum(s) - total,
                                     "jac": lambda s: np.ones(k)}],
                       options={"ftol": 1e-15, "maxiter": 1000})
        inner = res.fun
    else:  # the spectrum is forced: all low, or all high, or low = high
        inner = np.sum(n_eig / (np.full(k, total / k)))
    best_value = alpha * (np.ones(T) @ N @ np.ones(T) / (T * scale) + inner)
    assert ours == pytest.approx(best_value, rel=1e-6)


def test_clustered_norm_limits_are_independent_tasks():
    rng = np.random.default_rng(3)
    M = random_psd(5, rng)
    for structure in (ClusteredNorm(n_clusters=5, strength=2.0),
                      ClusteredNorm(n_clusters=2, strength=0.0)):
        A = np.asarray(structure.a_step(xnp.asarray(M), 0.7, 0.01, xnp))
        assert np.allclose(A, np.eye(5), atol=1e-12)
    # n_clusters = 1 is the mean-regularised structure of the same strength, scaled
    # to trace T.
    A = np.asarray(ClusteredNorm(n_clusters=1, strength=2.0).a_step(
        xnp.asarray(M), 0.7, 0.01, xnp))
    mean_regularized = MeanRegularized(strength=2.0).task_matrix(5)
    assert np.allclose(A, 5 / np.trace(mean_regularized) * mean_regularized, atol=1e-12)


def _check_water_fill_kkt(m, low, high, total):
    m = np.asarray(m, dtype=float)
    s = np.asarray(water_fill(list(m), low, high, total))
    k = m.size
    assert s.shape == (k,)
    assert s.min() >= low * (1 - 1e-12) and s.max() <= high * (1 + 1e-12)
    assert s.sum() == pytest.approx(total, rel=1e-10)
    # KKT of min sum m_i/s_i s.t. bounds and sum: some nu with m_i/s_i^2 = nu (free),
    # <= nu at the lower bound, >= nu at the upper bound.
    ratio = m / s**2
    below_high = s < high * (1 - 1e-9)
    above_low = s > low * (1 + 1e-9)
    if below_high.any() and above_low.any():
        assert ratio[below_high].max() <= ratio[above_low].min() * (1 + 1e-7) + 1e-300
    # The value equals a generic constrained optimiser's.
    res = minimize(lambda v: np.sum(m / v), np.full(k, total / k),
                   jac=lambda v: -m / v**2, method="SLSQP", bounds=[(low, high)] * k,
                   constraints=[{"type": "eq", "fun": lambda v: np.sum(v) - total,
                                 "jac": lambda v: np.ones(k)}],
                   options={"ftol": 1e-15, "maxiter": 1000})
    assert np.sum(m / s) <= res.fun * (1 + 1e-7)


@pytest.mark.parametrize("seed", range(12))
def test_water_fill_satisfies_kkt(seed):
    rng = np.random.default_rng(seed)
    k = int(rng.integers(1, 9))
    m = np.exp(rng.uniform(-6, 6, size=k))  # positive, several orders of magnitude
    if seed % 3 == 0 and k > 1:
        m[rng.integers(k)] = m[0]  # ties
    low = float(rng.uniform(0.01, 1.0))
    high = low * float(rng.uniform(1.0001, 20.0))
    total = float(rng.uniform(k * low, k * high))
    if seed == 1:
        total = k * low
    if seed == 2:
        total = k * high
    _check_water_fill_kkt(m, low, high, total)


def test_water_fill_with_zero_entries_keeps_the_budget():
    # Minimisers exist (the zero entries may take any value that fills the budget).
    _check_water_fill_kkt([0.0, 0.0, 1.0], 0.1, 1.0, 1.5)


def test_clustered_norm_a_step_of_rank_one_m_without_perturbation_is_feasible():
    rng = np.random.default_rng(0)
    structure = ClusteredNorm(n_clusters=3, strength=9.0)
    Qc = complement_basis(4)
    for _ in range(200):
        v = rng.standard_normal(4)
        M = np.outer(v, v)
        A = np.asarray(structure.a_step(xnp.asarray(M), 1.0, 0.0, xnp))
        # low = 0.1, high = 1, scaled to trace 4: 4 (0.1 + 2) / (1 + 0.1 + 2)
        assert np.trace(Qc.T @ A @ Qc) == pytest.approx(4 * 2.1 / 3.1, rel=1e-9)
        assert np.isfinite(structure.regularizer(A, M, 1.0, 0.0, xnp))


@pytest.mark.parametrize("structure", [LowRank(prior="chain", strength=0.4),
                                       OutputKernel(prior="chain", strength=1.0),
                                       TaskRelation(prior="chain", strength=2.0),
                                       PriorShrinkage(prior="chain", strength=0.5)])
def test_no_evidence_gives_a_multiple_of_the_prior(structure):
    """Module docstring: with B = 0 every A-step returns a multiple of A0.

    (Not true of ClusteredNorm, whose feasible set holds no multiple of I unless
    the spectrum is forced; the claim is therefore not tested for it.)"""
    T = 4
    A0 = resolve_task_structure("chain").task_matrix(T)
    A = np.asarray(structure.a_step(xnp.zeros((T, T)), 0.8, 0.05, xnp))
    c = np.trace(A) / np.trace(A0)
    assert c > 0
    assert np.allclose(A, c * A0, rtol=0, atol=1e-12 * c)


def test_task_relation_small_strength_has_finite_objective():
    rng = np.random.default_rng(0)
    M = random_psd(4, rng)
    structure = TaskRelation(strength=1e-10)
    A = np.asarray(structure.a_step(xnp.asarray(M), 0.5, 0.01, xnp))
    N = M + 0.01 * np.eye(4)
    assert structure.regularizer(A, M, 0.5, 0.01, xnp) == pytest.approx(
        coupling(A, N, 0.5), rel=1e-9)
    X = rng.standard_normal((20, 3))
    Y = rng.standard_normal((20, 4))
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        model = MultiTaskKernelRidge(alpha=0.3, task_structure=structure).fit(X, Y)
    assert np.all(np.isfinite(model.objective_history_))


# --------------------------------------------------------------------------- #
# 2. The alternating result is the joint optimum of Q_delta                   #
# --------------------------------------------------------------------------- #
def tiny_problem(case):
    rng = np.random.default_rng(7)
    n, T, d = 8, 3, 2
    X = rng.standard_normal((n, d))
    Y = rng.standard_normal((n, T)) + rng.standard_normal((n, 1))  # correlated tasks
    W = None
    if case == "masked":
        Y[[1, 4, 6, 3], [0, 1, 2, 0]] = np.nan
        W = rng.uniform(0.3, 2.0, (n, T))
    elif case == "sample_weights":
        W = rng.uniform(0.3, 2.0, n)
    K = rbf_kernel(X, gamma=1.0 / d)  # the estimator's default gamma
    return X, Y, W, K


class JointObjective:
    """Q_delta(B, A), from its definition in the user guide, with its gradient."""

    def __init__(self, K, Y, W, alpha, delta, kind, strength, prior=None):
        n, T = Y.shape
        self.K, self.alpha, self.delta2 = K, alpha, delta**2
        self.kind, self.strength = kind, strength
        observed = ~np.isnan(Y)
        self.Y0 = np.where(observed, Y, 0.0)
        Wb = np.ones((n, T)) if W is None else np.broadcast_to(
            W if W.ndim == 2 else W[:, None], (n, T))
        self.Wm = np.where(observed, Wb, 0.0)
        self.A0 = np.eye(T) if prior is None else prior
        self.R, self.Ri = mpow(self.A0, 0.5), mpow(self.A0, -0.5)
        self.n, self.T = n, T

    def data(self, B):
        R = self.Y0 - self.K @ B
        return np.sum(self.Wm * R * R), -2.0 * self.K @ (self.Wm * R)

    def value(self, B, A):
        """Q at a matrix A (whitened by the prior when there is one)."""
        T = self.T
        Aw = self.Ri @ A @ self.Ri
        N = self.Ri @ B.T @ self.K @ B @ self.Ri + self.delta2 * np.eye(T)
        if self.kind == "relation":
            # F = 0 on the feasible set; check A is in it.
            Omega = self.strength * np.linalg.inv((1 + self.strength) * np.linalg.inv(Aw)
                                                  - np.eye(T))
            assert np.trace(Omega) == pytest.approx(T, rel=1e-8)
            assert np.all(np.linalg.eigvalsh(sym(Omega)) > 0)
            F = 0.0
        else:
            F = penalty(self.kind, self.strength, Aw)[0]
        return self.data(B)[0] + coupling(Aw, N, self.alpha) + F

    def fun_grad(self, x):
        n, T, K, alpha = self.n, self.T, self.K, self.alpha
        B = x[: n * T].reshape(n, T)
        L = x[n * T:].reshape(T, T)
        Bw = B @ self.Ri
        N = Bw.T @ K @ Bw + self.delta2 * np.eye(T)
        d, gB = self.data(B)
        if self.kind == "relation":
            S = L @ L.T
            try:
                Si = np.linalg.inv(S)
            except np.linalg.LinAlgError:
                return np.inf, np.zeros_like(x)
            trS = np.trace(S)
            # A = (1 + rho) (I + rho Omega^{-1})^{-1}
            rho = self.strength
            Ainv = (np.eye(T) + rho * trS / T * Si) / (1 + rho)
            value = d + alpha * np.trace(Ainv @ N)
            gL = 2.0 * sym(alpha * rho / (1 + rho) * (np.trace(Si @ N) / T * np.eye(T)
                                                      - trS / T * Si @ N @ Si)) @ L
        else:
            A = L @ L.T + 1e-12 * np.eye(T)
            try:
                Ainv = np.linalg.inv(A)
            except np.linalg.LinAlgError:
                return np.inf, np.zeros_like(x)
            F, dF = penalty(self.kind, self.strength, A)
            value = d + alpha * np.trace(Ainv @ N) + F
            gL = 2.0 * sym(-alpha * Ainv @ N @ Ainv + dF) @ L
        if not np.isfinite(value):
            return np.inf, np.zeros_like(x)
        gB = gB + 2.0 * alpha * K @ Bw @ Ainv @ self.Ri
        return value, np.concatenate([gB.ravel(), gL.ravel()])

    def start_from(self, B, A):
        Aw = self.Ri @ A @ self.Ri
        if self.kind == "relation":
            Omega = self.strength * np.linalg.inv(
                (1 + self.strength) * np.linalg.inv(Aw) - np.eye(self.T))
            L = np.linalg.cholesky(sym(Omega))
        else:
            L = np.linalg.cholesky(sym(Aw))
        return np.concatenate([B.ravel(), L.ravel()])


JOINT_CASES = [
    ("low_rank", lambda: LowRank(strength=0.7)),
    ("okl", lambda: OutputKernel(strength=0.5)),
    ("relation", lambda: TaskRelation(strength=0.8)),
    ("shrink", lambda: PriorShrinkage(prior=None, strength=0.6)),
    ("low_rank", lambda: LowRank(strength=0.7, prior=np.array([[1.0, 0.4, 0.1],
                                                               [0.4, 1.0, 0.3],
                                                               [0.1, 0.3, 1.0]]),
                                 delta=0.5, delta_min=0.05)),
]


@pytest.mark.parametrize("case", ["complete", "masked", "sample_weights"])
@pytest.mark.parametrize("kind,make", JOINT_CASES,
                         ids=["low_rank", "okl", "relation", "shrink",
                              "low_rank-prior-large-delta"])
def test_alternating_result_is_the_joint_optimum(kind, make, case):
    X, Y, W, K = tiny_problem(case)
    alpha = 0.3
    structure = make()
    model = MultiTaskKernelRidge(alpha=alpha, task_structure=structure, tol=1e-12,
                                 max_iter=5000).fit(X, Y, sample_weight=W)
    assert model.solver_info_["converged"]
    delta = model.solver_info_["deltas"][-1]
    A = np.asarray(model.task_structure_)
    B = np.asarray(model.dual_coef_) @ A
    prior = structure.prior if isinstance(structure.prior, np.ndarray) else None
    Q = JointObjective(K, Y, W, alpha, delta, kind, structure.strength, prior)
    fitted = Q.value(B, A)
    # The recorded objective is Q_delta at the final delta.
    assert model.objective_history_[-1] == pytest.approx(fitted, rel=1e-6)

    rng = np.random.default_rng(1)
    n, T = Y.shape
    x_fit = Q.start_from(B, A)
    starts = {
        "zero": np.concatenate([np.zeros(n * T), np.eye(T).ravel()]),
        "random": rng.standard_normal(n * T + T * T),
        "fitted+noise": x_fit + 0.1 * rng.standard_normal(x_fit.size),
        "fitted+small-noise": x_fit + 1e-3 * rng.standard_normal(x_fit.size),
    }
    found = {}
    for name, x0 in starts.items():
        res = minimize(Q.fun_grad, x0, jac=True, method="BFGS",
                       options={"gtol": 1e-11, "maxiter": 50000})
        found[name] = res.fun
    best = min(found.values())
    assert fitted <= best * (1 + 1e-6), found
    # scipy independently (from the non-fitted starts) reaches the same value.
    assert min(found["zero"], found["random"]) <= fitted * (1 + 1e-6), found


def test_final_delta_follows_the_documented_schedule():
    X, Y, W, K = tiny_problem("complete")
    structure = LowRank(strength=0.7, delta=0.3, delta_min=0.003)
    model = MultiTaskKernelRidge(alpha=0.3, task_structure=structure, tol=1e-10,
                                 max_iter=2000).fit(X, Y)
    # Unit of delta^2: mean eigenvalue of B^T K B at the start (A = I).
    C0 = stacked_kronecker_solve(K, Y, np.eye(3), 0.3)
    unit = np.trace(C0.T @ K @ C0) / 3
    deltas = np.asarray(model.solver_info_["deltas"])
    assert np.all(np.diff(deltas) <= 0)
    expected = np.array([0.3, 0.03, 0.003]) * np.sqrt(unit)
    assert np.allclose(np.unique(deltas)[::-1], expected, rtol=1e-10)
    assert deltas[-1] == pytest.approx(expected[-1], rel=1e-10)


# --------------------------------------------------------------------------- #
# 3. Monotone objective; 4. exact fixed-A coefficients                        #
# --------------------------------------------------------------------------- #
LEARNED = [
    LowRank(strength=0.5),
    OutputKernel(strength=0.5),
    TaskRelation(strength=2.0),
    PriorShrinkage(prior="chain", strength=0.5),
    ClusteredNorm(n_clusters=2, strength=3.0),
]
LEARNED_IDS = ["low_rank", "okl", "relation", "shrink", "clustered"]


def small_problem(missing, seed=0, n=20, T=4):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 3))
    Y = rng.standard_normal((n, T)) + 0.8 * rng.standard_normal((n, 1))
    W = None
    if missing:
        mask = rng.random((n, T)) < 0.3
        mask[0] = False
        Y[mask] = np.nan
        W = rng.uniform(0.2, 2.0, (n, T))
    return X, Y, W, rbf_kernel(X, gamma=1.0 / 3)


SOLVER_OPTIONS = {"auto": None, "cholesky": None, "cg": {"tol": 1e-12}}


@pytest.mark.parametrize("solver", ["auto", "cholesky", "cg"])
@pytest.mark.parametrize("missing", [False, True], ids=["complete", "masked"])
@pytest.mark.parametrize("structure", LEARNED, ids=LEARNED_IDS)
def test_objective_never_increases_and_coef_is_fixed_a_solution(structure, missing,
                                                                solver):
    X, Y, W, K = small_problem(missing)
    model = MultiTaskKernelRidge(alpha=0.3, task_structure=clone(structure),
                                 solver=solver, solver_options=SOLVER_OPTIONS[solver],
                                 tol=1e-10, max_iter=300).fit(X, Y, sample_weight=W)
    history = np.asarray(model.objective_history_)
    assert history.ndim == 1 and history.size == model.n_iter_ >= 2
    assert np.all(np.isfinite(history))
    increase = np.diff(history)
    assert np.all(increase <= 1e-12 * np.abs(history[:-1])), increase.max()
    assert history[-1] < history[0]  # it does decrease
    # 4. dual_coef_ is the exact fixed-structure solution at the learned A.
    A = np.asarray(model.task_structure_)
    C_ref = stacked_kronecker_solve(K, Y, A, 0.3, W)
    assert rel_err(model.dual_coef_, C_ref) < 1e-8
    if missing:
        assert np.all(model.dual_coef_[np.isnan(Y)] == 0.0)
    # predict uses the same pair.
    assert rel_err(model.predict(X), K @ C_ref @ A) < 1e-8


@pytest.mark.parametrize("structure", LEARNED, ids=LEARNED_IDS)
def test_solvers_agree_on_the_learned_structure(structure):
    X, Y, W, K = small_problem(False, seed=4)
    W = np.random.default_rng(4).uniform(0.2, 2.0, Y.shape[0])  # per-sample weights
    fits = [MultiTaskKernelRidge(alpha=0.3, task_structure=clone(structure), solver=s,
                                 solver_options=SOLVER_OPTIONS.get(s), tol=1e-12,
                                 max_iter=500).fit(X, Y, sample_weight=W)
            for s in ("eig", "cholesky", "cg")]
    # The objective is flat around its optimum: a relative gap g leaves A known to
    # about sqrt(g) (here "cg", on the accelerated map, stops at a gap of 4e-14
    # with A 1.5e-7 from the long run; the Newton-stepped "eig" and "cholesky"
    # reach it to 1e-14).
    for other in fits[1:]:
        assert rel_err(other.task_structure_, fits[0].task_structure_) < 5e-7
    C_ref = stacked_kronecker_solve(K, Y, np.asarray(fits[0].task_structure_), 0.3, W)
    assert rel_err(fits[0].dual_coef_, C_ref) < 1e-8


# --------------------------------------------------------------------------- #
# 5. Planted structure                                                        #
# --------------------------------------------------------------------------- #
def unit_diagonal(A):
    d = np.sqrt(np.diag(A))
    return A / np.outer(d, d)


N_TASKS = 9
LABELS = np.arange(N_TASKS) * 3 // N_TASKS  # make_multitask_regression's clusters
SAME = LABELS[:, None] == LABELS[None, :]
OFF = ~np.eye(N_TASKS, dtype=bool)


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("structure", [ClusteredNorm(n_clusters=3, strength=9.0),
                                       LowRank(strength=1.0)],
                         ids=["clustered", "low_rank"])
def test_planted_clusters_are_recovered(structure, seed):
    X, Y, _ = make_multitask_regression(n_samples=60, n_tasks=N_TASKS, n_clusters=3,
                                        cluster_strength=0.95, noise=0.1, gamma=0.5,
                                        random_state=seed)
    model = MultiTaskKernelRidge(alpha=0.1, gamma=0.5, task_structure=clone(structure)
                                 ).fit(X, Y)
    R = unit_diagonal(np.asarray(model.task_structure_))
    labels = SpectralClustering(n_clusters=3, affinity="precomputed",
                                random_state=0).fit_predict(np.clip(R, 0, None))
    assert adjusted_rand_score(LABELS, labels) >= 0.9
    # Population values (A from M = true task covariance): ClusteredNorm
    # (1 - low) / (1 + 2 low) = 0.75 within clusters; LowRank (A ~ M^{1/2}) 0.69;
    # 0 between clusters.
    assert R[SAME & OFF].mean() > 0.5
    assert np.abs(R[~SAME]).max() < 0.3


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("structure", [LowRank(strength=1.0), OutputKernel(strength=1.0)],
                         ids=["low_rank", "okl"])
def test_independent_tasks_give_small_correlations(structure, seed):
    # The true A is I. The learned one reflects the empirical correlation of the
    # fitted task functions, whose sampling spread over the few well-determined
    # kernel directions is ~0.1-0.2 (here, 36 pairs); A ~ M^{1/2} (M^{1/3} for OKL)
    # halves (thirds) it. 0.3 is far below the > 0.5 within-cluster values above.
    X, Y, A_true = make_multitask_regression(n_samples=60, n_tasks=N_TASKS,
                                             n_clusters=N_TASKS, cluster_strength=0.0,
                                             noise=0.1, gamma=0.5, random_state=seed)
    assert np.allclose(A_true, np.eye(N_TASKS))
    model = MultiTaskKernelRidge(alpha=0.1, gamma=0.5, task_structure=clone(structure)
                                 ).fit(X, Y)
    R = unit_diagonal(np.asarray(model.task_structure_))
    assert np.abs(R[OFF]).max() < 0.3


# --------------------------------------------------------------------------- #
# 6. Iterations, warnings, errors, parameters                                 #
# --------------------------------------------------------------------------- #
def test_convergence_warning_names_max_iter():
    X, Y, W, _ = small_problem(False)
    model = MultiTaskKernelRidge(alpha=0.3, task_structure=LowRank(), max_iter=2)
    with pytest.warns(ConvergenceWarning, match="max_iter"):
        model.fit(X, Y)
    assert model.n_iter_ == 2
    assert len(model.objective_history_) == 2
    assert model.solver_info_["converged"] is False


@pytest.mark.parametrize("structure", LEARNED, ids=LEARNED_IDS)
def test_verbose_prints_one_line_per_iteration(structure, capsys):
    X, Y, W, _ = small_problem(True)
    model = MultiTaskKernelRidge(alpha=0.3, task_structure=clone(structure), verbose=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)  # converges by default
        model.fit(X, Y, sample_weight=W)
    lines = [line for line in capsys.readouterr().out.splitlines() if "iter" in line]
    assert len(lines) == model.n_iter_ == len(model.objective_history_)
    assert model.solver_info_["n_iter"] == model.n_iter_
    assert len(model.solver_info_["deltas"]) == model.n_iter_
    for value, line in zip(model.objective_history_, lines, strict=True):
        assert f"{value:.10g}" in line
    # verbose=0 prints nothing.
    clone(model).set_params(verbose=0).fit(X, Y, sample_weight=W)
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("structure,match", [
    (LowRank(strength=0), "strength"),
    (OutputKernel(strength=-1.0), "strength"),
    (PriorShrinkage(strength=0.0), "strength"),
    (TaskRelation(strength=-0.5), "strength"),
    (ClusteredNorm(n_clusters=0), "n_clusters"),
    (ClusteredNorm(n_clusters=5), "n_clusters"),
    (ClusteredNorm(n_clusters=2.5), "n_clusters"),
    (ClusteredNorm(strength=-1.0), "strength"),
    (LowRank(prior="pooled"), "positive definite"),
    (PriorShrinkage(prior="pooled"), "positive definite"),
    (PriorShrinkage(prior=np.ones((4, 4))), "positive definite"),
    (OutputKernel(prior=LowRank()), "fixed task structure"),
    (LowRank(delta=1e-3, delta_min=1e-2), "delta_min"),
    (TaskRelation(delta=0.0), "delta"),
])
def test_invalid_structures_raise(structure, match):
    X, Y, _, _ = small_problem(False)  # T = 4
    with pytest.raises(ValueError, match=match):
        MultiTaskKernelRidge(task_structure=structure).fit(X, Y)


@pytest.mark.parametrize("shortcut,cls", [("low_rank", LowRank), ("relation", TaskRelation),
                                          ("okl", OutputKernel),
                                          ("clustered", ClusteredNorm)])
def test_string_shortcuts(shortcut, cls):
    assert type(resolve_task_structure(shortcut)) is cls
    X, Y, W, _ = small_problem(True)
    by_name = MultiTaskKernelRidge(alpha=0.3, task_structure=shortcut).fit(
        X, Y, sample_weight=W)
    by_object = MultiTaskKernelRidge(alpha=0.3, task_structure=cls()).fit(
        X, Y, sample_weight=W)
    assert by_name.n_iter_ >= 2
    assert np.array_equal(by_name.task_structure_, by_object.task_structure_)
    assert np.array_equal(by_name.dual_coef_, by_object.dual_coef_)
    assert by_name.task_structure == shortcut  # the parameter is not modified
    # The learned structure is not the starting point.
    assert not np.allclose(by_name.task_structure_, cls().task_matrix(4))


def test_clone_get_set_params_and_grid_search():
    model = MultiTaskKernelRidge(alpha=0.3, task_structure=LowRank(strength=1.0))
    params = model.get_params()
    for name in ("task_structure__strength", "task_structure__delta",
                 "task_structure__delta_min", "task_structure__prior"):
        assert name in params
    twin = clone(model)
    twin.set_params(task_structure__strength=5.0)
    assert model.task_structure.strength == 1.0  # clone does not share the structure
    assert twin.task_structure.strength == 5.0

    X, Y, W, _ = small_problem(False, n=24)
    grid = GridSearchCV(model.set_params(max_iter=500),
                        {"task_structure__strength": [0.01, 1.0, 10.0]}, cv=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        grid.fit(X, Y)
    assert grid.best_params_["task_structure__strength"] in (0.01, 1.0, 10.0)
    assert (grid.best_estimator_.task_structure.strength
            == grid.best_params_["task_structure__strength"])
    scores = grid.cv_results_["mean_test_score"]
    assert np.all(np.isfinite(scores)) and np.ptp(scores) > 0  # strength matters
    # The refitted estimator equals a direct fit with the best strength.
    direct = MultiTaskKernelRidge(alpha=0.3, max_iter=500, task_structure=LowRank(
        strength=grid.best_params_["task_structure__strength"])).fit(X, Y)
    assert np.allclose(grid.best_estimator_.task_structure_, direct.task_structure_)


# --------------------------------------------------------------------------- #
# 7. Array API                                                                #
# --------------------------------------------------------------------------- #
xps = pytest.importorskip("array_api_strict")
from rkhsmtl._backend import to_numpy  # noqa: E402

DEVICES = [xps.Device("CPU_DEVICE"), xps.Device("device1")]
STRICT_CASES = [("auto", False), ("cholesky", True), ("cg", True)]


@pytest.mark.parametrize("device", DEVICES, ids=str)
@pytest.mark.parametrize("solver,missing", STRICT_CASES)
@pytest.mark.parametrize("structure", LEARNED, ids=LEARNED_IDS)
def test_strict_arrays_match_numpy(structure, solver, missing, device):
    if solver == "cg" and not isinstance(structure, LowRank):
        pytest.skip("one structure is enough for the CG B-steps")
    X, Y, W, _ = small_problem(missing, seed=2)
    kw = dict(alpha=0.3, task_structure=clone(structure), solver=solver,
              solver_options=SOLVER_OPTIONS[solver], tol=1e-10, max_iter=300)
    ref = MultiTaskKernelRidge(**kw).fit(X, Y, sample_weight=W)
    Xs, Ys = xps.asarray(X, device=device), xps.asarray(Y, device=device)
    Ws = None if W is None else xps.asarray(W, device=device)
    model = MultiTaskKernelRidge(**kw).fit(Xs, Ys, sample_weight=Ws)
    for name in ("dual_coef_", "task_structure_"):
        value = getattr(model, name)
        assert type(value).__module__.startswith("array_api_strict"), name
        assert value.device == device, name
    assert rel_err(to_numpy(model.task_structure_), ref.task_structure_) < 1e-8
    assert rel_err(to_numpy(model.dual_coef_), ref.dual_coef_) < 1e-8
    assert model.n_iter_ == ref.n_iter_
    assert np.allclose(to_numpy(model.objective_history_),
                       ref.objective_history_, rtol=1e-8)
    pred = model.predict(Xs)
    assert type(pred).__module__.startswith("array_api_strict") and pred.device == device
    assert rel_err(to_numpy(pred), ref.predict(X)) < 1e-8


def test_strict_objective_history_is_in_the_input_namespace():
    X, Y, _, _ = small_problem(False, seed=2)
    model = MultiTaskKernelRidge(alpha=0.3, task_structure=LowRank()).fit(
        xps.asarray(X, device=DEVICES[1]), xps.asarray(Y, device=DEVICES[1]))
    assert type(model.objective_history_).__module__.startswith("array_api_strict")


# --------------------------------------------------------------------------- #
# 8. scikit-learn's common checks                                             #
# --------------------------------------------------------------------------- #
CHECKED = [
    MultiTaskKernelRidge(task_structure=LowRank()),
    MultiTaskKernelRidge(task_structure=ClusteredNorm(n_clusters=1)),
]



@parametrize_with_checks(CHECKED)
def test_sklearn_compatible_estimator(estimator, check):
    # ClusteredNorm uses n_clusters=1: most checks fit one task, and the documented
    # range is 1 <= n_clusters <= n_tasks (test_invalid_parameters_are_rejected).
    check(estimator)
