"""Property-based tests (hypothesis): small random problems, every solver.

* Only ValueError / TypeError (with a message) may escape a fit on random,
  possibly invalid, inputs; predictions of a fit are finite.
* Fixed-structure predictions equal the stacked Kronecker reference
  (``tests/reference.py``) to 1e-6, for random missing-label masks, weights and
  positive semidefinite or singular ``A``, with every solver that applies.
* Learned structures return a symmetric positive semidefinite ``task_structure_``
  and a non-increasing ``objective_history_``.

Profiles: "ci" (the default: few examples, ``derandomize=True`` so that CI is
deterministic) and "release" (many more, random), chosen by the environment
variable ``RKHSMTL_HYPOTHESIS_PROFILE``.
"""

import os
import warnings

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from reference import rel_err, stacked_kronecker_solve  # noqa: E402

from rkhsmtl import MultiTaskKernelClassifier, MultiTaskKernelRidge  # noqa: E402
from rkhsmtl.structure import LowRank, OutputKernel, TaskRelation  # noqa: E402

settings.register_profile(
    "ci", max_examples=10, derandomize=True, database=None, deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow])
settings.register_profile(
    "release", max_examples=400, deadline=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow])
PROFILE = settings.get_profile(os.environ.get("RKHSMTL_HYPOTHESIS_PROFILE", "ci"))


@st.composite
def problems(draw, *, missing=True, weights=True):
    """A small wide problem: X (n, d), Y (n, T) with NaN, weights, PSD A, alpha."""
    n = draw(st.integers(3, 8))
    d = draw(st.integers(1, 3))
    T = draw(st.integers(1, 3))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    Y = rng.normal(size=(n, T))
    if missing and draw(st.booleans()):
        mask = rng.random((n, T)) < draw(st.sampled_from([0.2, 0.5]))
        mask[rng.integers(n, size=T), np.arange(T)] = False  # a label per task
        Y[mask] = np.nan
    sample_weight = None
    if weights and draw(st.booleans()):
        sample_weight = rng.uniform(0.1, 3.0, size=n if draw(st.booleans()) else (n, T))
    rank = draw(st.integers(1, T))  # rank < T: a singular A
    B = rng.normal(size=(T, rank))
    A = B @ B.T / rank + (0.0 if rank < T else 0.1) * np.eye(T)
    alpha = draw(st.sampled_from([0.1, 1.0, 5.0]))
    return X, Y, sample_weight, A, alpha


def _complete(Y, sample_weight):
    per_sample = sample_weight is None or sample_weight.ndim == 1
    return per_sample and not np.isnan(Y).any()


@PROFILE
@given(problem=problems(), kernel=st.sampled_from(["rbf", "linear"]),
       solver=st.sampled_from(["auto", "eig", "cholesky", "cg", "primal"]))
def test_fixed_structure_equals_the_stacked_kronecker_reference(problem, kernel, solver):
    X, Y, sample_weight, A, alpha = problem
    if solver == "eig" and not _complete(Y, sample_weight):
        solver = "cholesky"
    if solver == "primal" and kernel != "linear":
        solver = "auto"
    model = MultiTaskKernelRidge(
        alpha=alpha, kernel=kernel, gamma=0.5, task_structure=A, solver=solver,
        solver_options={"tol": 1e-13, "max_iter": 5000})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # an indefinite rounding of K
        model.fit(X, Y, sample_weight=sample_weight)
    K = X @ X.T if kernel == "linear" else np.exp(
        -0.5 * np.sum((X[:, None, :] - X[None, :, :]) ** 2, axis=2))
    C = stacked_kronecker_solve(K, Y, A, alpha, sample_weight)
    expected = K @ C @ A
    pred = model.predict(X).reshape(expected.shape)
    assert np.all(np.isfinite(pred))
    scale = max(np.max(np.abs(expected)), 1e-3)
    assert np.max(np.abs(pred - expected)) / scale < 1e-6, (model.solver_, rel_err(
        pred, expected))


@st.composite
def maybe_bad_inputs(draw):
    """Valid problems with, sometimes, one thing broken."""
    X, Y, sample_weight, A, alpha = draw(problems())
    breakage = draw(st.sampled_from(
        ["none", "nan_X", "inf_Y", "neg_weight", "zero_weights", "rows", "A_shape",
         "A_indefinite", "alpha", "empty_task"]))
    params = {"alpha": alpha, "task_structure": A}
    if breakage == "nan_X":
        X = X.copy()
        X[0, 0] = np.nan
    elif breakage == "inf_Y":
        Y = Y.copy()
        Y[0, 0] = np.inf
    elif breakage == "neg_weight":
        sample_weight = -np.ones(X.shape[0])
    elif breakage == "zero_weights":
        sample_weight = np.zeros(X.shape[0])
    elif breakage == "rows":
        Y = Y[:-1]
    elif breakage == "A_shape":
        params["task_structure"] = np.eye(A.shape[0] + 1)
    elif breakage == "A_indefinite":
        params["task_structure"] = A - 2.0 * np.max(np.abs(A)) * np.eye(A.shape[0])
    elif breakage == "alpha":
        params["alpha"] = draw(st.sampled_from([0.0, -1.0, np.nan, np.inf]))
    elif breakage == "empty_task":
        Y = Y.copy()
        Y[:, -1] = np.nan
    return X, Y, sample_weight, params, breakage


@PROFILE
@given(case=maybe_bad_inputs(), solver=st.sampled_from(["auto", "cholesky", "cg"]),
       classifier=st.booleans())
def test_only_clear_errors_escape_and_predictions_are_finite(case, solver, classifier):
    X, Y, sample_weight, params, breakage = case
    if classifier:
        Y = np.where(np.isnan(Y), np.nan, (Y > 0).astype(float))
        model = MultiTaskKernelClassifier(**params)
    else:
        model = MultiTaskKernelRidge(solver=solver, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            model.fit(X, Y, sample_weight=sample_weight)
        except (ValueError, TypeError) as exc:
            assert str(exc), "an error must say what is wrong"
            return
    # A fit that succeeded must have had valid inputs, and predicts finite values.
    assert breakage == "none" or classifier, breakage
    # A task with one class is skipped and scores +-inf by design (documented);
    # its probabilities are finite.
    out = model.predict_proba(X) if classifier else model.predict(X)
    assert np.all(np.isfinite(out))


@PROFILE
@given(problem=problems(missing=True, weights=False),
       structure=st.sampled_from([LowRank(strength=0.5), TaskRelation(strength=1.0),
                                  OutputKernel(strength=0.5)]),
       solver=st.sampled_from(["auto", "cholesky", "cg"]))
def test_learned_structures_are_psd_with_monotone_objective(problem, structure, solver):
    X, Y, _, _, alpha = problem
    model = MultiTaskKernelRidge(alpha=alpha, task_structure=structure, solver=solver,
                                 solver_options={"tol": 1e-12, "max_iter": 5000},
                                 max_iter=30)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, Y)
    A = np.asarray(model.task_structure_)
    assert np.all(np.isfinite(A))
    np.testing.assert_allclose(A, A.T, atol=1e-10 * max(1.0, np.max(np.abs(A))))
    assert np.linalg.eigvalsh(A)[0] >= -1e-10 * max(1.0, np.max(np.abs(A)))
    history = np.asarray(model.objective_history_)
    assert np.all(np.isfinite(history))
    # Exact steps for a fixed delta; CG B-steps are exact to their tolerance only.
    slack = (1e-9 if solver != "cg" else 1e-6) * np.abs(history[:-1]) + 1e-12
    assert np.all(np.diff(history) <= slack)
    assert np.all(np.isfinite(model.predict(X)))
