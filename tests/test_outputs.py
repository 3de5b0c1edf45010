"""What every multi-task estimator gives back: dtypes, missing labels, task names,
the long layout of its outputs, and compact fits after the primal solver."""

import pickle

import numpy as np
import pandas as pd
import pytest
from reference import rel_err
from sklearn.base import clone
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import rkhsmtl
from rkhsmtl import DistributionMatchingMTL, MultiTaskKernelClassifier, MultiTaskKernelRidge
from rkhsmtl.datasets import long_to_wide
from rkhsmtl.linear import (
    MultiTaskLinearClassifier,
    MultiTaskLinearClassifierCV,
    MultiTaskLinearRegressor,
    MultiTaskLinearRegressorCV,
)

N, D, T = 36, 3, 3
NAMES = ["north", "south", "east"]

REGRESSORS = {
    "ridge_rbf": MultiTaskKernelRidge(alpha=0.1, task_structure="mean_regularized"),
    "ridge_primal": MultiTaskKernelRidge(alpha=0.1, kernel="linear", solver="primal",
                                         task_structure="chain"),
    "linear": MultiTaskLinearRegressor(alpha=0.1, tol=1e-10),
    "linear_cv": MultiTaskLinearRegressorCV(alphas=[0.05, 0.1], cv=2, tol=1e-4),
    # Unit weights: what is tested here is the plumbing around the learner.
    "dm": DistributionMatchingMTL(MultiTaskKernelRidge(alpha=0.1), weighting="none"),
}
CLASSIFIERS = {
    "kernel_eig": MultiTaskKernelClassifier(task_structure="mean_regularized"),
    "kernel_primal": MultiTaskKernelClassifier(kernel="linear"),
    "linear": MultiTaskLinearClassifier(alpha=0.1),
    "linear_cv": MultiTaskLinearClassifierCV(alphas=[0.1], cv=2, tol=1e-4),
    "dm": DistributionMatchingMTL(MultiTaskKernelClassifier(), weighting="none"),
}
SCORES = ("decision_function", "predict_proba", "predict_log_proba")


def _regression(one_per_row=False):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((N, D))
    Y = np.column_stack([np.sin(X[:, 0]) + 0.3 * t * X[:, 1] for t in range(T)])
    Y += 0.1 * rng.standard_normal((N, T))
    if one_per_row:  # distribution matching pools one label per row
        Y[np.arange(N)[:, None] % T != np.arange(T)[None, :]] = np.nan
    else:
        Y[::4, 1] = np.nan
        Y[1::5, 2] = np.nan
    return X, Y


def _classification(one_per_row=False):
    X, Y = _regression(one_per_row)
    return X, np.where(np.isnan(Y), np.nan, (Y > np.nanmedian(Y, axis=0)).astype(float))


def _data(name, classify):
    return (_classification if classify else _regression)(one_per_row=name == "dm")


CASES = ([(name, est, False) for name, est in REGRESSORS.items()]
         + [(name, est, True) for name, est in CLASSIFIERS.items()])
IDS = [("clf-" if c else "reg-") + name for name, _, c in CASES]


def _methods(model, classify):
    return [m for m in ("predict",) + (SCORES if classify else ()) if hasattr(model, m)]


# -- dtype ----------------------------------------------------------------------
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("name,estimator,classify", CASES, ids=IDS)
def test_float32_in_float32_out(name, estimator, classify):
    X, Y = _data(name, classify)
    X32 = X.astype(np.float32)
    X64 = X32.astype(np.float64)  # the same values: only the output dtype differs
    model32 = clone(estimator).fit(X32, Y)
    model64 = clone(estimator).fit(X64, Y)
    for method in _methods(model32, classify):
        out32 = getattr(model32, method)(X32)
        out64 = getattr(model64, method)(X64)
        if method == "predict" and classify:  # labels, from the float64 scores
            np.testing.assert_array_equal(out32, out64)
            continue
        assert out32.dtype == np.float32, method
        assert out64.dtype == np.float64, method
        np.testing.assert_allclose(out32, out64, rtol=1e-6, atol=1e-6, err_msg=method)
        # float64 X on the float32 fit: the float64 result itself.
        np.testing.assert_array_equal(getattr(model32, method)(X64), out64)


def test_float32_dataframe_gives_float32_predictions():
    X, Y = _regression()
    frame = pd.DataFrame(X.astype(np.float32), columns=["a", "b", "c"])
    model = MultiTaskKernelRidge(alpha=0.1).fit(frame, Y)
    assert model.predict(frame).dtype == np.float32
    mixed = frame.astype({"a": np.float64})
    assert model.predict(mixed).dtype == np.float64


@pytest.mark.parametrize("estimator", [
    MultiTaskKernelRidge(alpha=0.1, task_structure="chain"),
    MultiTaskKernelRidge(alpha=0.1, kernel="linear", solver="primal"),
    MultiTaskKernelClassifier(kernel="linear", task_structure="mean_regularized"),
    MultiTaskLinearRegressor(alpha=0.1, tol=1e-10),
], ids=lambda e: type(e).__name__ + "-" + str(e.get_params().get("kernel", "")))
def test_float32_array_api_strict_on_its_second_device(estimator):
    xps = pytest.importorskip("array_api_strict")
    from rkhsmtl._backend import to_numpy

    classify = isinstance(estimator, MultiTaskKernelClassifier)
    X, Y = _classification() if classify else _regression()
    device = xps.Device("device1")
    X32 = X.astype(np.float32)
    Xs = xps.asarray(X32, device=device)
    model = clone(estimator).fit(Xs, xps.asarray(Y, device=device))
    ref = clone(estimator).fit(X32.astype(np.float64), Y)
    for method in ("predict_proba", "decision_function") if classify else ("predict",):
        out = getattr(model, method)(Xs)
        assert out.dtype == xps.float32 and out.device == device, method
        np.testing.assert_allclose(to_numpy(out), getattr(ref, method)(X32),
                                   rtol=1e-6, atol=1e-6)
    tasks = model.tasks_
    assert type(tasks).__module__.startswith("array_api_strict") and tasks.device == device
    task = np.arange(N) % T
    out = model.predict(Xs, task=xps.asarray(task, device=device))
    assert out.device == device and out.shape == (N,)
    wide = to_numpy(model.predict(Xs))
    np.testing.assert_array_equal(to_numpy(out), wide[np.arange(N), task])


# -- pandas.NA ------------------------------------------------------------------
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("name,estimator", REGRESSORS.items(), ids=list(REGRESSORS))
def test_nullable_float_dataframe_with_pd_na(name, estimator):
    X, Y = _regression(one_per_row=name == "dm")
    frame = pd.DataFrame(Y, columns=NAMES).astype("Float64")  # NaN becomes pd.NA
    assert frame.isna().to_numpy().sum() == np.isnan(Y).sum() > 0
    assert any(value is pd.NA for value in frame.to_numpy().ravel())
    from_frame = clone(estimator).fit(X, frame)
    from_array = clone(estimator).fit(X, Y)
    np.testing.assert_allclose(from_frame.predict(X), from_array.predict(X), rtol=1e-12)
    assert np.isfinite(from_frame.score(X, frame))


def test_nullable_series_and_object_lists():
    X, Y = _regression()
    series = pd.Series(Y[:, 1], name="y").astype("Float64")
    model = MultiTaskKernelRidge(alpha=0.1).fit(X, series)
    ref = MultiTaskKernelRidge(alpha=0.1).fit(X, Y[:, 1])
    np.testing.assert_allclose(model.predict(X), ref.predict(X), rtol=1e-12)
    as_objects = [[pd.NA if np.isnan(v) else v for v in row] for row in Y.tolist()]
    model = MultiTaskKernelRidge(alpha=0.1).fit(X, as_objects)
    ref = MultiTaskKernelRidge(alpha=0.1).fit(X, Y)
    np.testing.assert_allclose(model.predict(X), ref.predict(X), rtol=1e-12)


def test_non_numeric_targets_are_refused_by_the_regressor():
    X, Y = _regression()
    labels = np.where(np.isnan(Y), None, "a").astype(object)
    with pytest.raises(ValueError, match="Y must be numeric with NaN"):
        MultiTaskKernelRidge().fit(X, labels)


# -- task names -----------------------------------------------------------------
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("name,estimator,classify", CASES, ids=IDS)
def test_tasks_are_the_column_names_and_a_refit_drops_them(name, estimator, classify):
    X, Y = _data(name, classify)
    model = clone(estimator).fit(X, pd.DataFrame(Y, columns=NAMES))
    assert isinstance(model.tasks_, np.ndarray) and model.tasks_.tolist() == NAMES
    model.fit(X, Y)
    np.testing.assert_array_equal(model.tasks_, np.arange(T))


def test_one_dimensional_y_is_one_task():
    X, Y = _regression()
    model = MultiTaskKernelRidge().fit(X, Y[:, 0])
    np.testing.assert_array_equal(model.tasks_, [0])
    assert model.predict(X, task=np.zeros(N, dtype=int)).shape == (N,)


# -- long layout ----------------------------------------------------------------
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("name,estimator,classify", CASES, ids=IDS)
def test_predict_with_task_is_each_rows_own_task(name, estimator, classify):
    X, Y = _data(name, classify)
    model = clone(estimator).fit(X, pd.DataFrame(Y, columns=NAMES))
    rng = np.random.default_rng(1)
    position = rng.integers(0, T, N)
    names = np.asarray(NAMES, dtype=object)[position]
    for method in _methods(model, classify):
        wide = getattr(model, method)(X)
        expected = wide[np.arange(N), position]
        for task in (names, position, pd.Series(names), names.tolist()):
            out = getattr(model, method)(X, task=task)
            assert out.shape == (N,), method
            np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-14,
                                       err_msg=method)


def test_unknown_task_names_and_wrong_lengths_are_errors():
    X, Y = _regression()
    model = MultiTaskKernelRidge().fit(X, pd.DataFrame(Y, columns=NAMES))
    with pytest.raises(ValueError, match=r"Unknown task\(s\) in task: 'up', 'west'\. "
                                         r".*tasks_ = \['north', 'south', 'east'\]"):
        model.predict(X[:3], task=["north", "west", "up"])
    with pytest.raises(ValueError, match=r"task has 2 entries but X has 3 rows"):
        model.predict(X[:3], task=["north", "east"])
    with pytest.raises(ValueError, match="task must be a 1-D array"):
        model.predict(X[:3], task=np.zeros((3, 2), dtype=int))
    positional = MultiTaskKernelRidge().fit(X, Y)
    with pytest.raises(ValueError, match=r"Unknown task\(s\) in task: 3\b.*0\.\.2"):
        positional.predict(X[:2], task=[0, 3])


def test_long_layout_round_trip_and_pipeline():
    X, Y = _regression(one_per_row=True)
    X_long, y_long, position = X, np.nansum(Y, axis=1), np.arange(N) % T
    task = np.asarray(NAMES)[position]
    _, Y_frame = long_to_wide(X_long, y_long, task, as_frame=True)
    assert list(Y_frame.columns) == sorted(NAMES)
    X_frame = pd.DataFrame(X_long, index=np.arange(N) + 100)
    _, Y_indexed = long_to_wide(X_frame, y_long, task, tasks=NAMES, as_frame=True)
    assert list(Y_indexed.columns) == NAMES
    assert Y_indexed.index.equals(X_frame.index)
    pipe = make_pipeline(StandardScaler(), MultiTaskKernelRidge(alpha=0.1)).fit(
        X_long, Y_frame)
    out = pipe.predict(X_long, task=task)
    wide = pipe.predict(X_long)
    columns = np.searchsorted(sorted(NAMES), task)
    np.testing.assert_allclose(out, wide[np.arange(N), columns], rtol=1e-12)

    Xc, Yc = _classification()
    clf = make_pipeline(StandardScaler(), MultiTaskKernelClassifier()).fit(
        Xc, pd.DataFrame(Yc, columns=NAMES))
    proba = clf.predict_proba(Xc, task=task)
    np.testing.assert_allclose(proba, clf.predict_proba(Xc)[np.arange(N), position])


def test_classifier_long_layout_labels_and_binary_fit():
    X, Y = _classification()
    labels = np.empty(Y.shape, dtype=object)
    labels[:, 0] = np.where(Y[:, 0] > 0, "yes", "no")
    labels[:, 1] = np.where(Y[:, 1] > 0, 7, 3)
    labels[:, 2] = np.where(Y[:, 2] > 0, "up", "down")
    labels[np.isnan(Y)] = None
    clf = MultiTaskKernelClassifier().fit(X, labels)
    position = np.arange(N) % T
    out = clf.predict(X, task=position)
    assert out.dtype == object
    assert out.tolist() == clf.predict(X)[np.arange(N), position].tolist()
    # A 1-D fit: with task, the probability of the positive class, like a task of
    # a multi-task fit (not scikit-learn's (n, 2) binary layout).
    binary = MultiTaskKernelClassifier().fit(X, np.nan_to_num(Y[:, 0]))
    proba = binary.predict_proba(X, task=np.zeros(N, dtype=int))
    np.testing.assert_allclose(proba, binary.predict_proba(X)[:, 1])


def test_kernel_expansion_of_one_task_per_row_in_blocks():
    X, Y = _regression()
    for kernel in ("rbf", "precomputed"):
        Xk = X @ X.T if kernel == "precomputed" else X
        model = MultiTaskKernelRidge(kernel=kernel, solver="cholesky").fit(Xk, Y)
        position = np.arange(N) % T
        expected = model.predict(Xk)[np.arange(N), position]
        # Three kernel rows per block.
        with rkhsmtl.config_context(working_memory=8 * N * 3 * 2 / 2**20):
            out = model.predict(Xk, task=position)
        assert rel_err(out, expected) < 1e-14


def test_distribution_matching_per_task_learners_take_task():
    X, Y = _regression(one_per_row=True)
    model = DistributionMatchingMTL(Ridge(), weighting_cv=2, random_state=0).fit(
        X, pd.DataFrame(Y, columns=NAMES))
    position = np.arange(N) % T
    out = model.predict(X, task=np.asarray(NAMES)[position])
    np.testing.assert_allclose(out, model.predict(X)[np.arange(N), position])


# -- compact primal fits --------------------------------------------------------
@pytest.mark.parametrize("structure,missing", [("chain", True), ("independent", False)])
def test_primal_fit_keeps_weights_only_and_predicts_as_the_dual(structure, missing):
    X, Y = _regression()
    if not missing:
        Y = np.nan_to_num(Y)
    kw = dict(alpha=0.1, kernel="linear", task_structure=structure)
    primal = MultiTaskKernelRidge(solver="primal", **kw).fit(X, Y)
    dual = MultiTaskKernelRidge(solver="cholesky", **kw).fit(X, Y)
    assert primal.solver_ == "primal"
    assert not hasattr(primal, "X_fit_") and not hasattr(primal, "dual_coef_")
    assert "primal_coef" not in primal.solver_info_
    assert primal.coef_.shape == (T, D)
    expected = (X.T @ dual.dual_coef_ @ dual.task_structure_).T
    assert rel_err(primal.coef_, expected) < 1e-10
    X_test = np.random.default_rng(3).standard_normal((7, D))
    assert rel_err(primal.predict(X_test), dual.predict(X_test)) < 1e-10
    assert rel_err(primal.predict(X_test), X_test @ primal.coef_.T) < 1e-14
    # A refit with a dual solver drops coef_ and stores the kernel expansion.
    primal.set_params(solver="cholesky").fit(X, Y)
    assert not hasattr(primal, "coef_") and hasattr(primal, "dual_coef_")


def test_learned_structure_with_primal_b_steps_is_compact():
    X, Y = _regression()
    kw = dict(alpha=0.1, kernel="linear", task_structure="low_rank", tol=1e-10)
    model = MultiTaskKernelRidge(solver="primal", **kw).fit(X, Y)
    assert model.solver_info_["b_step_solver"] == "primal"
    assert not hasattr(model, "X_fit_") and model.coef_.shape == (T, D)
    dual = MultiTaskKernelRidge(solver="cholesky", **kw).fit(X, Y)
    assert rel_err(model.predict(X), dual.predict(X)) < 1e-6


def test_primal_classifier_keeps_weights_only():
    X, Y = _classification()
    clf = MultiTaskKernelClassifier(kernel="linear", tol=1e-10).fit(X, Y)
    assert clf.solver_ == "primal"
    assert not hasattr(clf, "X_fit_") and not hasattr(clf, "dual_coef_")
    np.testing.assert_allclose(clf.decision_function(X),
                               X @ clf.coef_.T + clf.intercept_, rtol=1e-12)
    eig = MultiTaskKernelClassifier(kernel="linear", solver="eig", tol=1e-10).fit(X, Y)
    np.testing.assert_allclose(clf.decision_function(X), eig.decision_function(X),
                               rtol=1e-6, atol=1e-8)


def test_pickled_primal_fits_do_not_grow_with_n_samples():
    rng = np.random.default_rng(0)
    n, d = 30_000, 10
    X = rng.standard_normal((n, d))
    Y = X[:, :2] @ rng.standard_normal((2, 3)) + rng.standard_normal((n, 3))
    ridge = MultiTaskKernelRidge(kernel="linear", task_structure="mean_regularized").fit(
        X, Y)
    # The classifier's Newton solve on fewer rows: X_fit_ would still be 320 kB.
    clf = MultiTaskKernelClassifier(kernel="linear").fit(X[:4000], Y[:4000] > 0)
    for model in (ridge, clf):
        assert model.solver_ == "primal"
        # O(d T): a few kilobytes, where X_fit_ alone would be n * d * 8 bytes.
        assert len(pickle.dumps(model)) < 10_000
