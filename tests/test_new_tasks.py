"""New tasks: the zero-shot prediction is the extended problem's, the fold-in is the
exact minimiser over the new task's own part, and how far it is from a refit."""

import pickle
import warnings

import array_api_compat.numpy as xp_np
import numpy as np
import pandas as pd
import pytest
from reference import objective, stacked_kronecker_solve
from sklearn.metrics.pairwise import rbf_kernel

from rkhsmtl import MultiTaskKernelRidge
from rkhsmtl._solvers.alternating import solve_learned_structure
from rkhsmtl.kernels import PairwiseKernel, TrainingGram
from rkhsmtl.structure import (
    ClusteredNorm,
    LowRank,
    MeanRegularized,
    OutputKernel,
    PriorShrinkage,
    TaskDescriptorKernel,
    TaskRelation,
)

T, N, D, GAMMA, ALPHA = 5, 30, 2, 0.5, 0.1


def problem(seed=0, missing=0.3):
    rng = np.random.default_rng(seed)
    Z = rng.normal(size=(T + 1, 2))
    X = rng.normal(size=(N, D))
    Y = rng.normal(size=(N, T))
    Y[rng.random((N, T)) < missing] = np.nan
    Y[0] = 1.0  # every task keeps a label
    return rng, Z, X, Y


def fit(X, Y, structure, **kwargs):
    return MultiTaskKernelRidge(ALPHA, gamma=GAMMA, task_structure=structure,
                                **kwargs).fit(X, Y)


@pytest.mark.parametrize("weighted", [False, True])
def test_zero_shot_equals_extended_problem_with_missing_column(weighted):
    rng, Z, X, Y = problem()
    W = rng.uniform(0.5, 2.0, size=(N, T)) if weighted else None
    structure = TaskDescriptorKernel(Z[:T], gamma=0.7, identity=0.1, shared=0.2)
    model = MultiTaskKernelRidge(ALPHA, gamma=GAMMA, task_structure=structure)
    model.fit(X, Y, sample_weight=W)
    X_test = rng.normal(size=(8, D))
    # The extended problem, T + 1 tasks, the last column all missing, solved by
    # brute force on the stacked Kronecker system.
    A_ext = structure.with_new_tasks(Z[T]).task_matrix(T + 1)
    Y_ext = np.column_stack([Y, np.full(N, np.nan)])
    W_ext = None if W is None else np.column_stack([W, np.ones(N)])
    C_ext = stacked_kronecker_solve(rbf_kernel(X, gamma=GAMMA), Y_ext, A_ext, ALPHA,
                                    W_ext)
    expected = rbf_kernel(X_test, X, gamma=GAMMA) @ C_ext @ A_ext
    assert np.all(C_ext[:, -1] == 0)  # no labels, no coefficients
    np.testing.assert_allclose(model.predict_new_task(X_test, Z[T]), expected[:, -1],
                               rtol=0, atol=1e-8)
    np.testing.assert_allclose(model.predict(X_test), expected[:, :T], rtol=0, atol=1e-8)


def test_several_new_tasks_shapes_and_dtypes():
    rng, Z, X, Y = problem()
    model = fit(X, Y, TaskDescriptorKernel(Z[:T], identity=0.1))
    X_test = rng.normal(size=(4, D))
    Z_new = rng.normal(size=(3, 2))
    both = model.predict_new_task(X_test, Z_new)
    assert both.shape == (4, 3)
    for j in range(3):
        np.testing.assert_allclose(both[:, j], model.predict_new_task(X_test, Z_new[j]),
                                   atol=1e-14)
    assert model.predict_new_task(X_test.astype(np.float32), Z_new[0]).dtype == np.float32
    # A training task's descriptor gives that task's prediction when its own
    # part (identity) is zero.
    plain = fit(X, Y, TaskDescriptorKernel(Z[:T]))
    np.testing.assert_allclose(plain.predict_new_task(X_test, Z[1]),
                               plain.predict(X_test)[:, 1], atol=1e-10)


def test_refuses_models_without_descriptors():
    _, Z, X, Y = problem()
    for structure in ("mean_regularized", PriorShrinkage(prior=MeanRegularized())):
        model = fit(X, Y, structure)
        with pytest.raises(ValueError, match="needs task descriptors.*TaskDescriptorKernel"):
            model.predict_new_task(X, Z[T])
        with pytest.raises(ValueError, match="needs task descriptors"):
            model.fold_in_task(X[:3], Y[:3, 0], Z[T])


def test_refuses_structure_changed_after_fit():
    _, Z, X, Y = problem()
    model = fit(X, Y, TaskDescriptorKernel(Z[:T]))
    model.set_params(task_structure__gamma=3.0)
    with pytest.raises(ValueError, match="changed after fit"):
        model.predict_new_task(X, Z[T])
    model.set_params(task_structure__descriptors=Z)
    with pytest.raises(ValueError, match="describes 6 tasks but the model was fitted on 5"):
        model.predict_new_task(X, Z[T])


def test_warns_for_a_task_unrelated_to_all():
    _, Z, X, Y = problem()
    model = fit(X, Y, TaskDescriptorKernel(Z[:T], gamma=1.0))
    with pytest.warns(UserWarning, match="unrelated to every training task"):
        pred = model.predict_new_task(X, [1e3, 1e3])
    assert np.all(pred == 0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit(X, Y, TaskDescriptorKernel(Z[:T], shared=0.5)).predict_new_task(X, [1e3, 1e3])


def test_primal_model_matches_dual():
    rng, Z, X, Y = problem()
    structure = TaskDescriptorKernel(Z[:T], gamma=0.5, identity=0.1)
    primal = MultiTaskKernelRidge(ALPHA, kernel="linear", task_structure=structure,
                                  solver="primal").fit(X, Y)
    dual = MultiTaskKernelRidge(ALPHA, kernel="linear", task_structure=structure,
                                solver="cholesky").fit(X, Y)
    assert primal.solver_ == "primal" and not hasattr(primal, "dual_coef_")
    X_test = rng.normal(size=(6, D))
    np.testing.assert_allclose(primal.predict_new_task(X_test, Z[T]),
                               dual.predict_new_task(X_test, Z[T]), atol=1e-10)
    X_new, y_new = rng.normal(size=(4, D)), rng.normal(size=4)
    np.testing.assert_allclose(primal.fold_in_task(X_new, y_new, Z[T]).predict(X_test),
                               dual.fold_in_task(X_new, y_new, Z[T]).predict(X_test),
                               atol=1e-10)


# ---------------------------------------------------------------- learned structures


def extended_learned_fit(structure_ext, X, Y):
    Y_ext = np.column_stack([Y, np.full(N, np.nan)])
    gram = TrainingGram(PairwiseKernel("rbf", gamma=GAMMA), X, xp_np)
    C, A, _ = solve_learned_structure(gram, Y_ext, structure_ext, ALPHA, xp_np,
                                      max_iter=2000, tol=1e-12)
    return C, A


@pytest.mark.parametrize("learned, exact", [
    (PriorShrinkage, True), (OutputKernel, True), (LowRank, True),
    (TaskRelation, False), (ClusteredNorm, False),
])
def test_learned_rule_is_exact_for_separable_spectral_penalties(learned, exact):
    """With a numeric strength, the prior's conditional placement of a new task is
    the fit of the extended problem for penalties that act on each eigenvalue of
    the whitened A; a trace constraint (TaskRelation) or cluster budget couples
    the tasks, and the rule is then an approximation."""
    rng, Z, X, _ = problem(missing=0.0)
    Y = rng.normal(size=(N, T))
    kwargs = dict(delta=1e-3, delta_min=1e-7)
    if learned is ClusteredNorm:
        kwargs["n_clusters"] = 2
    prior = TaskDescriptorKernel(Z[:T], gamma=0.5, identity=0.2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning of the coupled ones
        model = fit(X, Y, learned(prior=prior, strength=1.0, **kwargs),
                    max_iter=2000, tol=1e-12)
        C, A = extended_learned_fit(
            learned(prior=prior.with_new_tasks(Z[T]), strength=1.0, **kwargs), X, Y)
    X_test = rng.normal(size=(6, D))
    expected = rbf_kernel(X_test, X, gamma=GAMMA) @ C @ A
    pred = model.predict_new_task(X_test, Z[T])
    error = np.max(np.abs(pred - expected[:, -1])) / np.max(np.abs(expected[:, -1]))
    if exact:
        assert error < 1e-6
        np.testing.assert_allclose(model.predict(X_test), expected[:, :T], atol=1e-6)
    else:
        assert 1e-4 < error < 0.5


# ------------------------------------------------------------------------- fold-in


def fold_in_setup(seed=0, identity=0.1):
    rng, Z, X, Y = problem(seed)
    structure = TaskDescriptorKernel(Z[:T], gamma=0.7, identity=identity)
    model = fit(X, Y, structure)
    X_new = rng.normal(size=(6, D))
    y_new = np.sin(X_new[:, 0]) + 0.1 * rng.normal(size=6)
    return rng, Z, X, Y, model, X_new, y_new


def extended_data(X, Y, X_new, y_new):
    X_ext = np.vstack([X, X_new])
    Y_ext = np.full((X_ext.shape[0], T + 1), np.nan)
    Y_ext[:N, :T] = Y
    Y_ext[N:, T] = y_new
    return X_ext, Y_ext


def test_fold_in_keeps_old_tasks_and_is_between_zero_shot_and_refit():
    rng, Z, X, Y, model, X_new, y_new = fold_in_setup()
    folded = model.fold_in_task(X_new, y_new, Z[T])
    X_test = rng.normal(size=(10, D))
    assert folded.n_tasks_ == T + 1 and folded.tasks_.tolist() == list(range(T + 1))
    np.testing.assert_allclose(folded.predict(X_test)[:, :T], model.predict(X_test),
                               atol=1e-10)
    assert model.n_tasks_ == T  # not modified

    X_ext, Y_ext = extended_data(X, Y, X_new, y_new)
    refit = fit(X_ext, Y_ext, folded.task_structure)
    np.testing.assert_allclose(refit.task_structure_, folded.task_structure_, atol=1e-12)
    K_ext = rbf_kernel(X_ext, gamma=GAMMA)
    A_ext = folded.task_structure_
    # The zero-shot model as an extended model: the new rows have no coefficients.
    C_zero = np.vstack([np.column_stack([model.dual_coef_, np.zeros(N)]),
                        np.zeros((6, T + 1))])
    j_zero = objective(C_zero, K_ext, Y_ext, A_ext, ALPHA)
    j_fold = objective(folded.dual_coef_, K_ext, Y_ext, A_ext, ALPHA)
    j_refit = objective(refit.dual_coef_, K_ext, Y_ext, A_ext, ALPHA)
    assert j_refit <= j_fold < j_zero
    # Exact over the new task's own part: moving its coefficients (with the
    # cancelling old-task entries) in any direction increases the objective.
    beta = np.linalg.solve(A_ext[:T, :T], A_ext[:T, T])
    for _ in range(5):
        u = 1e-3 * rng.normal(size=6)
        step = np.zeros_like(folded.dual_coef_)
        step[N:] = np.column_stack([-np.outer(u, beta), u])
        assert objective(folded.dual_coef_ + step, K_ext, Y_ext, A_ext, ALPHA) > j_fold
        assert objective(folded.dual_coef_ - step, K_ext, Y_ext, A_ext, ALPHA) > j_fold

    # How far from the exact refit, for the new task: much closer than the
    # zero-shot prediction (0.13 of its distance here).
    new_fold = folded.predict(X_test)[:, T]
    new_refit = refit.predict(X_test)[:, T]
    new_zero = model.predict_new_task(X_test, Z[T])
    assert np.linalg.norm(new_fold - new_refit) < 0.25 * np.linalg.norm(new_zero - new_refit)


def test_fold_in_of_an_unrelated_task_is_the_exact_refit():
    """A task unrelated to the others (cross kernel 0): the refit leaves them
    unchanged and fits the new one alone, as the fold-in does."""
    rng, Z, X, Y, model, X_new, y_new = fold_in_setup()
    far = np.array([1e3, 1e3])
    folded = model.fold_in_task(X_new, y_new, far, sample_weight=np.linspace(0.5, 2, 6))
    X_ext, Y_ext = extended_data(X, Y, X_new, y_new)
    W_ext = np.ones_like(Y_ext)
    W_ext[N:, T] = np.linspace(0.5, 2, 6)
    refit = MultiTaskKernelRidge(ALPHA, gamma=GAMMA, task_structure=folded.task_structure)
    refit.fit(X_ext, Y_ext, sample_weight=W_ext)
    X_test = rng.normal(size=(10, D))
    np.testing.assert_allclose(folded.predict(X_test), refit.predict(X_test), atol=1e-8)


def test_fold_in_with_no_own_part_is_the_zero_shot():
    _, Z, X, Y, model, X_new, y_new = fold_in_setup(identity=0.0)
    # A training task's descriptor without an identity part: the training tasks
    # explain the new task entirely (Schur complement 0).
    folded = model.fold_in_task(X_new, y_new, Z[2])
    assert abs(folded.solver_info_["folded_in"][0]["schur"]) < 1e-8
    np.testing.assert_allclose(folded.predict(X)[:, T], model.predict(X)[:, 2],
                               atol=1e-6)


def test_fold_in_twice_names_missing_labels_and_pickle():
    rng, Z, X, Y, model, X_new, y_new = fold_in_setup()
    y_new[1] = np.nan
    folded = model.fold_in_task(X_new, y_new, Z[T], task_name=10)
    # A NaN label is a missing one: the same fit as without the row.
    keep = ~np.isnan(y_new)
    without = model.fold_in_task(X_new[keep], y_new[keep], Z[T], task_name=10)
    X_test = rng.normal(size=(5, D))
    np.testing.assert_allclose(folded.predict(X_test), without.predict(X_test), atol=1e-10)
    twice = folded.fold_in_task(X_new[:3], y_new[:3] + 1.0, rng.normal(size=2))
    assert twice.tasks_.tolist() == [0, 1, 2, 3, 4, 10, 11]
    np.testing.assert_allclose(twice.predict(X_test)[:, :T + 1], folded.predict(X_test),
                               atol=1e-10)
    assert [entry["task"] for entry in twice.solver_info_["folded_in"]] == [10, 11]
    restored = pickle.loads(pickle.dumps(twice))
    np.testing.assert_array_equal(restored.predict(X_test), twice.predict(X_test))
    with pytest.raises(ValueError, match="already a task of the model"):
        folded.fold_in_task(X_new, y_new, Z[T], task_name=10)


def test_fold_in_string_task_names_and_learned_structure():
    rng, Z, X, Y = problem()
    frame = pd.DataFrame(Y, columns=[f"school_{t}" for t in range(T)])
    model = fit(X, frame, PriorShrinkage(prior=TaskDescriptorKernel(Z[:T], identity=0.2),
                                         strength=1.0))
    folded = model.fold_in_task(X[:4], Y[:4, 0], Z[T])
    assert folded.tasks_.tolist()[-1] == "task_5"
    assert folded.task_structure.prior.descriptors.shape == (T + 1, 2)
    X_test = rng.normal(size=(5, D))
    np.testing.assert_allclose(folded.predict(X_test)[:, :T], model.predict(X_test),
                               atol=1e-10)
    # The folded model predicts further new tasks the same way as the original
    # up to the new task's influence on them (none when it is not related).
    assert folded.predict_new_task(X_test, Z[T]).shape == (5,)


def test_fold_in_errors():
    _, Z, X, Y, model, X_new, y_new = fold_in_setup()
    with pytest.raises(ValueError, match="one task at a time"):
        model.fold_in_task(X_new, y_new, Z[:2])
    with pytest.raises(ValueError, match="one new task"):
        model.fold_in_task(X_new, np.column_stack([y_new, y_new]), Z[T])
    with pytest.raises(ValueError, match="no observed label"):
        model.fold_in_task(X_new, np.full(6, np.nan), Z[T])
    K = rbf_kernel(X, gamma=GAMMA)
    pre = MultiTaskKernelRidge(ALPHA, kernel="precomputed",
                               task_structure=TaskDescriptorKernel(Z[:T])).fit(K, Y)
    with pytest.raises(ValueError, match="kernel='precomputed' does not provide"):
        pre.fold_in_task(K[:3], y_new[:3], Z[T])
    # Zero-shot works with a precomputed kernel (it is the kernel to the
    # training inputs).
    plain = fit(X, Y, TaskDescriptorKernel(Z[:T]))
    np.testing.assert_allclose(pre.predict_new_task(K[:4], Z[T]),
                               plain.predict_new_task(X[:4], Z[T]), atol=1e-10)
