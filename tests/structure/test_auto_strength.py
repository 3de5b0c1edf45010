"""Defaults that need no tuning: strength="auto" of the learned structures whose
penalty depends on the targets' scale (LowRank, OutputKernel, PriorShrinkage): its
formula, its invariance to the scale of Y, warm starts; the normalisation of
TaskRelation and ClusteredNorm (unrelated tasks: independent fit, trace T); and
that every learned structure at its defaults does not lose to independent tasks on
data with a planted shared structure."""

import warnings

import array_api_compat.numpy as xnp
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics.pairwise import rbf_kernel

from rkhsmtl import MultiTaskKernelClassifier, MultiTaskKernelRidge
from rkhsmtl._solvers.alternating import solve_learned_structure
from rkhsmtl.datasets import make_multitask_regression
from rkhsmtl.kernels import PairwiseKernel, TrainingGram
from rkhsmtl.structure import (
    ClusteredNorm,
    LowRank,
    MeanRegularized,
    OutputKernel,
    PriorShrinkage,
    TaskRelation,
)

AUTO = [LowRank(), OutputKernel(), PriorShrinkage(), LowRank(prior=MeanRegularized(2.0))]


def _data(missing=0.0, seed=0, n=40):
    X, Y = make_multitask_regression(n_samples=n, n_features=3, n_tasks=4,
                                     missing_fraction=missing, random_state=seed)[:2]
    return X, Y


def _with_strength(structure, strength):
    return clone(structure).set_params(strength=strength)


def _first_M(X, Y, alpha, A0):
    """B^T K B of the first B-step (at the starting structure), by a fixed fit."""
    fixed = MultiTaskKernelRidge(alpha=alpha, task_structure=A0,
                                 solver="cholesky").fit(X, Y)
    B = np.nan_to_num(fixed.dual_coef_) @ A0
    K = rbf_kernel(X, gamma=1.0 / X.shape[1])
    return B.T @ K @ B


@pytest.mark.parametrize("structure", AUTO, ids=repr)
def test_auto_is_the_documented_formula_and_a_plain_number_refit_agrees(structure):
    X, Y = _data()
    alpha = 0.7
    model = MultiTaskKernelRidge(alpha=alpha, task_structure=structure).fit(X, Y)
    A0 = structure.task_matrix(4)
    M = _first_M(X, Y, alpha, A0)
    root_inv = np.linalg.inv(np.linalg.cholesky(A0)).T  # any A0^{-1/2} up to a rotation
    values = np.clip(np.linalg.eigvalsh(root_inv.T @ M @ root_inv), 0.0, None)
    expected = {LowRank: alpha * (np.sqrt(values).sum() / 4) ** 2,
                OutputKernel: alpha / 2 * (np.cbrt(values).sum() / 4) ** 3,
                PriorShrinkage: alpha * values.mean()}[type(structure)]
    strength = model.solver_info_["strength"]
    assert strength == pytest.approx(expected, rel=1e-8)
    # "auto" is that number: a fit given the number is the same fit.
    numeric = MultiTaskKernelRidge(alpha=alpha, task_structure=_with_strength(
        structure, strength)).fit(X, Y)
    np.testing.assert_allclose(numeric.predict(X), model.predict(X), rtol=1e-10)
    np.testing.assert_allclose(numeric.task_structure_, model.task_structure_,
                               rtol=1e-10)


@pytest.mark.parametrize("structure", AUTO, ids=repr)
@pytest.mark.parametrize("missing", [0.0, 0.3])
def test_auto_fits_do_not_depend_on_the_scale_of_the_targets(structure, missing):
    X, Y = _data(missing=missing, seed=1)
    # Solved to a duality gap of 1e-13 of the objective: the accelerated iterates
    # of Y and 1000 Y differ by rounding, their optima do not. The objective is
    # 1e6 times as large; the fits agree as closely as the objective pins them down
    # (LowRank is flat along A's small eigenvalues: 2e-5 of the predictions).
    fits = [MultiTaskKernelRidge(task_structure=structure, tol=1e-13,
                                 max_iter=1000).fit(X, c * Y)
            for c in (1.0, 1e3)]
    assert fits[1].objective_history_[-1] == pytest.approx(
        1e6 * fits[0].objective_history_[-1], rel=1e-11)
    np.testing.assert_allclose(fits[1].predict(X), 1e3 * fits[0].predict(X),
                               rtol=1e-4)
    np.testing.assert_allclose(fits[1].task_structure_, fits[0].task_structure_,
                               rtol=1e-3, atol=1e-6)
    # A plain number does depend on it (what "auto" is for).
    fixed_number = [MultiTaskKernelRidge(task_structure=_with_strength(
        structure, 1.0)).fit(X, c * Y) for c in (1.0, 1e3)]
    assert not np.allclose(fixed_number[1].task_structure_,
                           fixed_number[0].task_structure_, rtol=1e-3)


def test_a_warm_start_resolves_auto_at_the_prior_not_at_the_start():
    X, Y = _data(seed=2)
    gram = TrainingGram(PairwiseKernel("rbf", gamma=1.0 / 3), xnp.asarray(X), xnp)
    structure = LowRank()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        _, _, cold = solve_learned_structure(gram, xnp.asarray(Y), structure, 1.0, xnp)
        start = np.diag([3.0, 1.0, 0.5, 2.0])
        _, _, warm = solve_learned_structure(gram, xnp.asarray(Y), structure, 1.0, xnp,
                                             initial_structure=xnp.asarray(start))
    assert warm["strength"] == pytest.approx(cold["strength"], rel=1e-12)


def test_the_classifier_resolves_auto_and_reports_it():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    Y = (X[:, :1] + 0.3 * rng.normal(size=(40, 3)) > 0).astype(float)
    model = MultiTaskKernelClassifier(task_structure=LowRank(), max_iter=30).fit(X, Y)
    strength = model.solver_info_["strength"]
    assert np.isfinite(strength) and strength > 0
    numeric = MultiTaskKernelClassifier(task_structure=LowRank(strength), max_iter=30)
    numeric.fit(X, Y)
    np.testing.assert_allclose(numeric.decision_function(X),
                               model.decision_function(X), rtol=1e-8, atol=1e-10)


def test_auto_is_refused_where_the_strength_is_already_scale_free():
    X, Y = _data()
    for structure in (TaskRelation(strength="auto"), ClusteredNorm(strength="auto")):
        with pytest.raises(ValueError, match="has no strength='auto'"):
            MultiTaskKernelRidge(task_structure=structure).fit(X, Y)
    with pytest.raises(ValueError, match="set from the data when the model is fitted"):
        LowRank().a_step(xnp.eye(3), 1.0, 0.0, xnp)
    # B = 0 (all-zero targets): no scale to match, a finite fit all the same.
    zero = MultiTaskKernelRidge(task_structure=LowRank()).fit(X, np.zeros_like(Y))
    assert zero.solver_info_["strength"] == 1.0
    np.testing.assert_array_equal(zero.predict(X), 0.0)


def _test_errors(structures, n_clusters):
    """Test MSE over four draws of 6 tasks at the estimator's default alpha."""
    errors = {}
    for seed in range(4):
        X, Y = make_multitask_regression(n_samples=150, n_features=4, n_tasks=6,
                                         n_clusters=n_clusters, noise=0.5,
                                         random_state=seed)[:2]
        train = np.random.default_rng(seed).random(150) < 0.35
        for name, structure in [("independent", "independent"), *structures]:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                model = MultiTaskKernelRidge(task_structure=structure).fit(X[train],
                                                                           Y[train])
            pred = model.predict(X[~train])
            errors.setdefault(name, []).append(np.mean((pred - Y[~train]) ** 2))
    return {name: float(np.mean(values)) for name, values in errors.items()}


DEFAULTS = [("low_rank", LowRank()), ("okl", OutputKernel()), ("prior", PriorShrinkage()),
            ("relation", TaskRelation()), ("clustered", ClusteredNorm())]


def test_default_learned_structures_do_not_lose_to_independent_tasks():
    """The issue's bar: at default settings, on data with a planted shared
    structure (two clusters of related tasks), learning the structure does not
    lose to independent tasks -- here it wins by at least 2 % of the test MSE
    (measured: 4 to 12 %). Before TaskRelation and ClusteredNorm were normalised
    (A <= I, i.e. their defaults at alpha = 2 and 1.5 in today's units), they
    reached +5.9 % and -0.2 %."""
    errors = _test_errors(DEFAULTS, n_clusters=2)
    independent = errors.pop("independent")
    for name, value in errors.items():
        assert value <= 0.98 * independent, (name, value, independent)


def test_normalised_structures_cost_little_on_unrelated_tasks():
    """On unrelated tasks (no shared structure to find) TaskRelation and
    ClusteredNorm at their defaults stay within 2 % of independent tasks
    (measured: +0.1 % and +0.5 %; before their normalisation +11.6 % and +6.8 %)."""
    errors = _test_errors(DEFAULTS[3:], n_clusters=6)
    independent = errors.pop("independent")
    for name, value in errors.items():
        assert value <= 1.02 * independent, (name, value, independent)


def test_task_relation_gives_the_independent_fit_on_unrelated_tasks():
    """Targets whose first B-step has B^T K B = I (unrelated tasks of equal norm):
    the A-step keeps A = I, so the learned fit is the independent one, at every
    strength (without the factor 1 + strength it was I / (1 + strength))."""
    rng = np.random.default_rng(0)
    n, T, alpha = 30, 4, 0.5
    X = rng.standard_normal((n, 3))
    K = rbf_kernel(X, gamma=1.0 / 3)
    # B = (K + alpha I)^{-1} Y at A = I, so B^T K B = Y^T G Y with G as below.
    s, U = np.linalg.eigh(K)
    g = s / (s + alpha) ** 2
    Q = np.linalg.qr(rng.standard_normal((n, T)))[0]
    Y = U @ (U.T @ Q / np.sqrt(g)[:, None])  # G^{-1/2} Q
    independent = MultiTaskKernelRidge(alpha=alpha, task_structure="independent",
                                       solver="eig").fit(X, Y)
    for strength in (0.5, 1.0, 30.0):
        model = MultiTaskKernelRidge(alpha=alpha,
                                     task_structure=TaskRelation(strength)).fit(X, Y)
        np.testing.assert_allclose(model.task_structure_, np.eye(T), atol=1e-8)
        np.testing.assert_allclose(model.predict(X), independent.predict(X),
                                   rtol=1e-8, atol=1e-10)


def test_normalised_a_steps_on_isotropic_and_extreme_m():
    rng = np.random.default_rng(1)
    T = 5
    # Unrelated tasks (M = c I): TaskRelation gives I at every strength ...
    for strength in (0.0, 1.0, 50.0):
        A = np.asarray(TaskRelation(strength).a_step(xnp.asarray(7.0 * np.eye(T)), 0.3,
                                                     0.01, xnp))
        np.testing.assert_allclose(A, np.eye(T), atol=1e-12)
    # ... and tends to Omega = T M^{1/2} / tr(M^{1/2}) as strength grows.
    G = rng.standard_normal((T, T))
    M = G @ G.T
    values, vectors = np.linalg.eigh(M)
    omega = (vectors * np.sqrt(values)) @ vectors.T
    omega *= T / np.trace(omega)
    A = np.asarray(TaskRelation(1e8).a_step(xnp.asarray(M), 0.3, 0.0, xnp))
    np.testing.assert_allclose(A, omega, rtol=1e-6, atol=1e-6)
    # ClusteredNorm: every A-step has the trace of independent tasks; on M = c I it
    # is the mean-regularised structure of the same strength, scaled to trace T.
    for r, strength in ((1, 2.0), (2, 1.0), (3, 9.0), (T, 4.0)):
        structure = ClusteredNorm(n_clusters=r, strength=strength)
        A = np.asarray(structure.a_step(xnp.asarray(M), 0.3, 0.01, xnp))
        assert np.trace(A) == pytest.approx(T, rel=1e-12)
        A = np.asarray(structure.a_step(xnp.asarray(3.0 * np.eye(T)), 0.3, 0.01, xnp))
        low = 1 / (1 + strength)
        within = ((T - r) * low + r - 1) / (T - 1)  # the budget spread evenly
        expected = MeanRegularized(1 / within - 1).task_matrix(T)
        np.testing.assert_allclose(A, T * expected / np.trace(expected), atol=1e-12)
