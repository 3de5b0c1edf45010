"""The core estimator on array_api_strict arrays, including its second device.

array_api_strict rejects anything outside the standard, and its "device1" refuses
conversion to NumPy, so a silent round trip through NumPy fails here -- the stand-in
for CuPy arrays on a GPU, which CI does not have.
"""

import numpy as np
import pytest

xps = pytest.importorskip("array_api_strict")

from reference import rel_err  # noqa: E402

from rkhsmtl import MultiTaskKernelRidge  # noqa: E402
from rkhsmtl._backend import cho_solve, cholesky, to_numpy  # noqa: E402

DEVICES = [xps.Device("CPU_DEVICE"), xps.Device("device1")]


def _problem(missing, weights):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 3))
    Y = rng.standard_normal((30, 4))
    if missing:
        Y[rng.random(Y.shape) < 0.3] = np.nan
        Y[0] = 0.5
    W = None
    if weights == "sample":
        W = rng.uniform(0.2, 2.0, 30)
    elif weights == "entry":
        W = rng.uniform(0.2, 2.0, (30, 4))
    return X, Y, W


CASES = [
    ("eig", False, None), ("eig", False, "sample"),
    ("cholesky", False, "sample"), ("cholesky", True, None),
    ("cholesky", True, "entry"), ("cg", True, "entry"), ("cg", False, None),
    ("auto", True, None),
]


@pytest.mark.parametrize("device", DEVICES, ids=str)
@pytest.mark.parametrize("solver,missing,weights", CASES)
@pytest.mark.parametrize("structure", ["mean_regularized", "chain"])
def test_strict_arrays_match_numpy(device, solver, missing, weights, structure):
    X, Y, W = _problem(missing, weights)
    options = {"tol": 1e-13} if solver == "cg" else None
    kw = dict(alpha=0.3, task_structure=structure, solver=solver,
              solver_options=options)
    ref = MultiTaskKernelRidge(**kw).fit(X, Y, sample_weight=W)
    Xs = xps.asarray(X, device=device)
    Ys = xps.asarray(Y, device=device)
    Ws = None if W is None else xps.asarray(W, device=device)
    model = MultiTaskKernelRidge(**kw).fit(Xs, Ys, sample_weight=Ws)
    for name in ("dual_coef_", "task_structure_", "X_fit_"):
        value = getattr(model, name)
        assert type(value).__module__.startswith("array_api_strict"), name
        assert value.device == device, name
    pred = model.predict(Xs)
    assert type(pred).__module__.startswith("array_api_strict") and pred.device == device
    assert rel_err(to_numpy(pred), ref.predict(X)) < 1e-9
    assert rel_err(to_numpy(model.dual_coef_), ref.dual_coef_) < 1e-9
    assert model.score(Xs, Ys) == pytest.approx(ref.score(X, Y), rel=1e-9)


@pytest.mark.parametrize("kernel", ["linear", "poly", "rbf", "laplacian", "sigmoid",
                                    "cosine"])
def test_strict_kernels_match_numpy(kernel):
    X, Y, _ = _problem(False, None)
    ref = MultiTaskKernelRidge(kernel=kernel, solver="eig").fit(X, Y)
    device = DEVICES[1]
    model = MultiTaskKernelRidge(kernel=kernel, solver="eig").fit(
        xps.asarray(X, device=device), xps.asarray(Y, device=device))
    pred = model.predict(xps.asarray(X, device=device))
    assert rel_err(to_numpy(pred), ref.predict(X)) < 1e-9


def test_one_dimensional_strict_target():
    X, Y, _ = _problem(False, None)
    device = DEVICES[1]
    model = MultiTaskKernelRidge().fit(xps.asarray(X, device=device),
                                       xps.asarray(Y[:, 0], device=device))
    pred = model.predict(xps.asarray(X, device=device))
    assert pred.shape == (30,)


def test_predict_with_another_namespace_is_an_error():
    X, Y, _ = _problem(False, None)
    model = MultiTaskKernelRidge().fit(xps.asarray(X), xps.asarray(Y))
    with pytest.raises(ValueError, match=r"MultiTaskKernelRidge.predict\(\) must use "
                                         "the same namespace"):
        model.predict(X)
    numpy_model = MultiTaskKernelRidge().fit(X, Y)
    with pytest.raises(ValueError, match="must use the same namespace"):
        numpy_model.predict(xps.asarray(X))


def test_strict_errors_are_the_numpy_errors():
    X, Y, _ = _problem(False, None)
    Y[:, 1] = np.nan
    with pytest.raises(ValueError, match=r"Task\(s\) \[1\]"):
        MultiTaskKernelRidge().fit(xps.asarray(X), xps.asarray(Y))
    X[0, 0] = np.inf
    with pytest.raises(ValueError, match="NaN or infinity"):
        MultiTaskKernelRidge().fit(xps.asarray(X), xps.asarray(np.ones((30, 2))))


def test_backend_cholesky_on_strict_device():
    rng = np.random.default_rng(0)
    B = rng.standard_normal((6, 6))
    M = B @ B.T + 6 * np.eye(6)
    b = rng.standard_normal((6, 2))
    d = DEVICES[1]
    L = cholesky(xps.asarray(M, device=d), xps)
    x = cho_solve(L, xps.asarray(b, device=d), xps)
    assert x.device == d
    assert np.allclose(to_numpy(x), np.linalg.solve(M, b))


@pytest.mark.parametrize("device", DEVICES, ids=str)
@pytest.mark.parametrize("missing,weights", [(True, "entry"), (False, "sample")])
def test_primal_solver_on_strict_arrays(device, missing, weights):
    X, Y, W = _problem(missing, weights)
    kw = dict(alpha=0.3, kernel="linear", task_structure="chain", solver="primal")
    ref = MultiTaskKernelRidge(**kw).fit(X, Y, sample_weight=W)
    Ws = None if W is None else xps.asarray(W, device=device)
    model = MultiTaskKernelRidge(**kw).fit(xps.asarray(X, device=device),
                                           xps.asarray(Y, device=device), sample_weight=Ws)
    assert model.coef_.device == device
    assert rel_err(to_numpy(model.coef_), ref.coef_) < 1e-10


@pytest.mark.parametrize("device", DEVICES, ids=str)
@pytest.mark.parametrize("kernel,solver,structure", [
    ("rbf", "eig", "mean_regularized"), ("linear", "primal", "chain"),
    ("rbf", "auto", "relation"),
])
def test_classifier_on_strict_arrays_matches_numpy(device, kernel, solver, structure):
    from rkhsmtl import MultiTaskKernelClassifier

    rng = np.random.default_rng(1)
    X = rng.standard_normal((30, 3))
    Y = (X @ rng.standard_normal((3, 3)) > 0).astype(float)
    Y[rng.random(Y.shape) < 0.2] = np.nan
    W = rng.uniform(0.5, 1.5, (30, 3))
    kw = dict(alpha=0.3, kernel=kernel, solver=solver, task_structure=structure,
              tol=1e-9)
    ref = MultiTaskKernelClassifier(**kw).fit(X, Y, sample_weight=W)
    Xs = xps.asarray(X, device=device)
    model = MultiTaskKernelClassifier(**kw).fit(
        Xs, xps.asarray(Y, device=device), sample_weight=xps.asarray(W, device=device))
    coef = "coef_" if solver == "primal" else "dual_coef_"
    for name in (coef, "intercept_", "task_structure_"):
        value = getattr(model, name)
        assert type(value).__module__.startswith("array_api_strict"), name
        assert value.device == device, name
    for method in ("decision_function", "predict_proba", "predict"):
        out = getattr(model, method)(Xs)
        assert type(out).__module__.startswith("array_api_strict"), method
        assert out.device == device, method
        assert rel_err(to_numpy(out), getattr(ref, method)(X)) < 1e-8, method
