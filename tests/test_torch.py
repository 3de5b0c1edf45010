"""The core estimators and metrics on PyTorch tensors, against the NumPy fit.

PyTorch is a real second array library (through ``array-api-compat``), where
``array_api_strict`` (tests/test_array_api.py) only checks the standard. Torch is
not in the ``test`` extra: install the ``torch`` extra to run these tests. They run
on the CPU, and on a CUDA device too where torch sees one.

Exact solvers agree with NumPy to rounding; iterative ones (CG, the classifier's
Newton iterations, alternating learned structures) to a tolerance set by their own
stopping rule, since a last-bit difference can stop them one step apart.
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from reference import rel_err  # noqa: E402

import rkhsmtl._backend as backend  # noqa: E402
from rkhsmtl import MultiTaskKernelClassifier, MultiTaskKernelRidge  # noqa: E402
from rkhsmtl import metrics as mtm  # noqa: E402
from rkhsmtl._backend import to_numpy  # noqa: E402
from rkhsmtl.structure import LowRank, TaskRelation  # noqa: E402

# The pytest-xdist workers share the cores; torch's own thread pool would not see
# the one-BLAS-thread limit of conftest.py.
torch.set_num_threads(1)

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def _problem(missing, weights, n=30, T=4, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 3))
    Y = rng.standard_normal((n, T))
    if missing:
        Y[rng.random(Y.shape) < 0.3] = np.nan
        Y[0] = 0.5
    W = None
    if weights == "sample":
        W = rng.uniform(0.2, 2.0, n)
    elif weights == "entry":
        W = rng.uniform(0.2, 2.0, (n, T))
    return X, Y, W


def _t(a, device, dtype=torch.float64):
    return None if a is None else torch.asarray(a, dtype=dtype, device=device)


def _assert_torch(value, device, dtype=torch.float64, name=""):
    assert isinstance(value, torch.Tensor), name
    assert value.device.type == device, name
    assert value.dtype == dtype, name


CASES = [
    ("eig", False, None), ("eig", False, "sample"),
    ("cholesky", False, "sample"), ("cholesky", True, None),
    ("cholesky", True, "entry"), ("cg", True, "entry"), ("cg", False, None),
    ("auto", True, None),
]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("solver,missing,weights", CASES)
@pytest.mark.parametrize("structure", ["mean_regularized", "chain"])
def test_torch_ridge_matches_numpy(device, solver, missing, weights, structure):
    X, Y, W = _problem(missing, weights)
    options = {"tol": 1e-13} if solver == "cg" else None
    kw = dict(alpha=0.3, task_structure=structure, solver=solver,
              solver_options=options)
    ref = MultiTaskKernelRidge(**kw).fit(X, Y, sample_weight=W)
    Xt = _t(X, device)
    model = MultiTaskKernelRidge(**kw).fit(Xt, _t(Y, device), sample_weight=_t(W, device))
    for name in ("dual_coef_", "task_structure_", "X_fit_"):
        _assert_torch(getattr(model, name), device, name=name)
    pred = model.predict(Xt)
    _assert_torch(pred, device)
    assert rel_err(to_numpy(pred), ref.predict(X)) < 1e-10
    assert rel_err(to_numpy(model.dual_coef_), ref.dual_coef_) < 1e-10
    assert model.score(Xt, _t(Y, device)) == pytest.approx(ref.score(X, Y), rel=1e-10)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("missing,weights", [(True, "entry"), (False, "sample")])
def test_torch_primal_solver_matches_numpy(device, missing, weights):
    X, Y, W = _problem(missing, weights)
    kw = dict(alpha=0.3, kernel="linear", task_structure="chain", solver="primal")
    ref = MultiTaskKernelRidge(**kw).fit(X, Y, sample_weight=W)
    model = MultiTaskKernelRidge(**kw).fit(_t(X, device), _t(Y, device),
                                           sample_weight=_t(W, device))
    _assert_torch(model.coef_, device)
    assert rel_err(to_numpy(model.coef_), ref.coef_) < 1e-10
    assert rel_err(to_numpy(model.predict(_t(X, device))), ref.predict(X)) < 1e-10


# LowRank with missing labels: its perturbation continuation (delta divided by 10
# when a stage has converged) moves on one iteration apart after a last-bit
# difference (1e-15 up to iteration 17, then 3e-9 decreasing to 6e-10 by the end):
# the two fits agree to the stopping tolerance, not to rounding.
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("structure,missing,rtol", [
    (LowRank(), False, 1e-10), (LowRank(), True, 1e-8),
    (TaskRelation(), False, 1e-10), (TaskRelation(), True, 1e-10),
], ids=["lowrank", "lowrank-missing", "relation", "relation-missing"])
def test_torch_learned_structure_matches_numpy(device, structure, missing, rtol):
    X, Y, _ = _problem(missing, None)
    kw = dict(alpha=0.3, task_structure=structure, tol=1e-10)
    ref = MultiTaskKernelRidge(**kw).fit(X, Y)
    model = MultiTaskKernelRidge(**kw).fit(_t(X, device), _t(Y, device))
    _assert_torch(model.task_structure_, device)
    _assert_torch(model.objective_history_, device)
    # Round-off can move the stopping test (or an accepted extrapolation) by one
    # iteration; both fits stop within the tolerance of the same optimum.
    assert abs(model.n_iter_ - ref.n_iter_) <= 1
    assert rel_err(to_numpy(model.task_structure_), ref.task_structure_) < rtol
    assert rel_err(to_numpy(model.predict(_t(X, device))), ref.predict(X)) < rtol


@pytest.mark.parametrize("kernel", ["linear", "poly", "rbf", "laplacian", "cosine"])
def test_torch_kernels_match_numpy(kernel):
    X, Y, _ = _problem(False, None)
    ref = MultiTaskKernelRidge(kernel=kernel, solver="eig").fit(X, Y)
    device = DEVICES[-1]
    model = MultiTaskKernelRidge(kernel=kernel, solver="eig").fit(_t(X, device),
                                                                  _t(Y, device))
    assert rel_err(to_numpy(model.predict(_t(X, device))), ref.predict(X)) < 1e-10


def test_torch_indefinite_kernel_falls_back_to_eig():
    # torch's Cholesky error is neither named LinAlgError nor says "positive
    # definite": the backend translates it so the solver can fall back.
    X, Y, _ = _problem(False, None)
    kw = dict(alpha=0.01, kernel="sigmoid", solver="auto")
    with pytest.warns(UserWarning, match="falling back to solver='eig'"):
        ref = MultiTaskKernelRidge(**kw).fit(X, Y)
    with pytest.warns(UserWarning, match="falling back to solver='eig'"):
        model = MultiTaskKernelRidge(**kw).fit(_t(X, "cpu"), _t(Y, "cpu"))
    assert model.solver_ == "eig"
    assert rel_err(to_numpy(model.predict(_t(X, "cpu"))), ref.predict(X)) < 1e-9


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("kernel,solver,structure,rtol", [
    ("rbf", "eig", "mean_regularized", 1e-10), ("linear", "primal", "chain", 1e-10),
    ("rbf", "auto", "relation", 1e-8),
])
def test_torch_classifier_matches_numpy(device, kernel, solver, structure, rtol):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((30, 3))
    Y = (X @ rng.standard_normal((3, 3)) > 0).astype(float)
    Y[rng.random(Y.shape) < 0.2] = np.nan
    W = rng.uniform(0.5, 1.5, (30, 3))
    kw = dict(alpha=0.3, kernel=kernel, solver=solver, task_structure=structure,
              tol=1e-9)
    ref = MultiTaskKernelClassifier(**kw).fit(X, Y, sample_weight=W)
    Xt = _t(X, device)
    model = MultiTaskKernelClassifier(**kw).fit(Xt, _t(Y, device),
                                                sample_weight=_t(W, device))
    coef = "coef_" if solver == "primal" else "dual_coef_"
    for name in (coef, "intercept_", "task_structure_"):
        _assert_torch(getattr(model, name), device, name=name)
    for method in ("decision_function", "predict_proba"):
        out = getattr(model, method)(Xt)
        _assert_torch(out, device, name=method)
        assert rel_err(to_numpy(out), getattr(ref, method)(X)) < rtol, method
    labels = model.predict(Xt)
    assert isinstance(labels, torch.Tensor) and labels.device.type == device
    np.testing.assert_array_equal(to_numpy(labels), ref.predict(X))


@pytest.mark.parametrize("solver", ["eig", "cholesky", "cg"])
def test_torch_float32_input(solver):
    # Computed in float64, returned in float32: the NumPy float32 fit exactly, and
    # the float64 fit to float32 rounding (the tolerance in the array API guide).
    X, Y, _ = _problem(False, None)
    X32, Y32 = X.astype(np.float32), Y.astype(np.float32)
    kw = dict(alpha=0.3, task_structure="chain", solver=solver)
    ref32 = MultiTaskKernelRidge(**kw).fit(X32, Y32).predict(X32)
    ref64 = MultiTaskKernelRidge(**kw).fit(X32.astype(np.float64),
                                           Y32.astype(np.float64)).predict(X32)
    X_t = _t(X32, DEVICES[-1], torch.float32)
    model = MultiTaskKernelRidge(**kw).fit(X_t, _t(Y32, DEVICES[-1], torch.float32))
    _assert_torch(model.dual_coef_, DEVICES[-1])  # fitted attributes: float64
    pred = model.predict(X_t)
    _assert_torch(pred, DEVICES[-1], torch.float32)
    assert rel_err(to_numpy(pred), ref32) < 1e-6
    assert rel_err(to_numpy(pred), ref64) < 1e-7


def test_torch_one_dimensional_target():
    X, Y, _ = _problem(False, None)
    model = MultiTaskKernelRidge().fit(_t(X, "cpu"), _t(Y[:, 0], "cpu"))
    pred = model.predict(_t(X, "cpu"))
    assert isinstance(pred, torch.Tensor) and pred.shape == (30,)


def test_torch_predict_with_another_namespace_is_an_error():
    X, Y, _ = _problem(False, None)
    model = MultiTaskKernelRidge().fit(_t(X, "cpu"), _t(Y, "cpu"))
    with pytest.raises(ValueError, match="must use the same namespace"):
        model.predict(X)


def test_torch_errors_are_the_numpy_errors():
    X, Y, _ = _problem(False, None)
    Y[:, 1] = np.nan
    with pytest.raises(ValueError, match=r"Task\(s\) \[1\]"):
        MultiTaskKernelRidge().fit(_t(X, "cpu"), _t(Y, "cpu"))
    X[0, 0] = np.inf
    with pytest.raises(ValueError, match="NaN or infinity"):
        MultiTaskKernelRidge().fit(_t(X, "cpu"), _t(np.ones((30, 2)), "cpu"))


REGRESSION_METRICS = [mtm.mean_squared_error, mtm.normalized_mean_squared_error,
                      mtm.r2_score, mtm.explained_variance_score]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("f", REGRESSION_METRICS + [mtm.nan_r2_score],
                         ids=lambda f: f.__name__)
def test_torch_regression_metrics_match_numpy(device, f):
    X, Y, W = _problem(True, "entry", seed=3)
    P = Y + np.random.default_rng(4).standard_normal(Y.shape)
    P[np.isnan(P)] = 0.0
    per_task = {"multioutput": "raw_values"} if f is mtm.nan_r2_score else \
        {"average": None}
    expected = f(Y, P, sample_weight=W, **per_task)
    got = f(_t(Y, device), _t(P, device), sample_weight=_t(W, device), **per_task)
    _assert_torch(got, device)
    np.testing.assert_allclose(to_numpy(got), expected, rtol=1e-12)
    if f is not mtm.nan_r2_score:
        for average in ("macro", "micro"):
            value = f(_t(Y, device), _t(P, device), sample_weight=_t(W, device),
                      average=average)
            assert isinstance(value, float)
            assert value == pytest.approx(f(Y, P, sample_weight=W, average=average),
                                          rel=1e-12)
    assert mtm.pooled_explained_variance(_t(Y, device), _t(P, device)) == \
        pytest.approx(mtm.pooled_explained_variance(Y, P), rel=1e-12)


def test_torch_backend_dispatches_to_torch_linalg(monkeypatch):
    import array_api_compat.torch as xp

    called = []
    for name in ("cholesky", "solve_triangular", "eigh"):
        original = getattr(torch.linalg, name)

        def spy(*args, _original=original, _name=name, **kwargs):
            called.append(_name)
            return _original(*args, **kwargs)

        monkeypatch.setattr(torch.linalg, name, spy)
    rng = np.random.default_rng(0)
    B = rng.standard_normal((6, 6))
    M = B @ B.T + 6 * np.eye(6)
    b = rng.standard_normal((6, 2))
    L = backend.cholesky(_t(M, "cpu"), xp)
    for rhs in (b, b[:, 0]):
        x = backend.cho_solve(L, _t(rhs, "cpu"), xp)
        assert isinstance(x, torch.Tensor) and x.shape == rhs.shape
        np.testing.assert_allclose(to_numpy(x), np.linalg.solve(M, rhs), rtol=1e-12)
    upper = backend.solve_triangular(L.mT, _t(b, "cpu"), xp, lower=False)
    np.testing.assert_allclose(to_numpy(upper), np.linalg.solve(to_numpy(L).T, b),
                               rtol=1e-12)
    values, _ = backend.eigh(_t(M, "cpu"), xp)
    np.testing.assert_allclose(to_numpy(values), np.linalg.eigvalsh(M), rtol=1e-12)
    assert set(called) == {"cholesky", "solve_triangular", "eigh"}
    M_t = torch.tensor(M)
    shifted = backend.add_to_diagonal(M_t, 2.0, xp)
    assert shifted is M_t  # in place, as for NumPy
    np.testing.assert_allclose(to_numpy(shifted), M + 2 * np.eye(6))


def test_torch_cholesky_failure_is_numpy_linalg_error():
    import array_api_compat.torch as xp

    with pytest.raises(np.linalg.LinAlgError, match="not positive definite"):
        backend.cholesky(-torch.eye(3, dtype=torch.float64), xp)
