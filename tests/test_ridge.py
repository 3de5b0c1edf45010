"""MultiTaskKernelRidge: scikit-learn parity, layout, errors, model selection."""

import numpy as np
import pytest
from reference import rel_err, stacked_kronecker_solve
from sklearn.base import clone
from sklearn.kernel_ridge import KernelRidge
from sklearn.metrics import r2_score
from sklearn.metrics.pairwise import pairwise_kernels
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import rkhsmtl
from rkhsmtl import MultiTaskKernelRidge
from rkhsmtl.structure import FixedMatrix, MeanRegularized


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 3))
    Y = np.column_stack([np.sin(X[:, 0]) + 0.1 * rng.standard_normal(40)
                         for _ in range(4)]) + rng.standard_normal((1, 4))
    return X, Y


def _l1(x, y, scale=1.0):
    return float(np.exp(-scale * np.abs(x - y).sum()))


KERNEL_CASES = [
    ("linear", {}),
    ("poly", dict(degree=2, gamma=0.5, coef0=1.0)),
    ("polynomial", dict(degree=3)),
    ("rbf", dict(gamma=0.7)),
    ("rbf", {}),
    ("laplacian", dict(gamma=0.3)),
    ("sigmoid", dict(gamma=0.1, coef0=0.5)),
    ("cosine", {}),
    (_l1, dict(kernel_params={"scale": 0.5})),
]


@pytest.mark.parametrize("kernel,params", KERNEL_CASES)
@pytest.mark.parametrize("solver", ["auto", "eig", "cg"])
def test_independent_equals_sklearn_kernel_ridge(data, kernel, params, solver):
    X, Y = data
    alpha = 0.5
    options = {"tol": 1e-14, "max_iter": 5000} if solver == "cg" else None
    if solver == "cg" and kernel == "sigmoid":
        pytest.skip("CG needs a positive semidefinite kernel.")
    ours = MultiTaskKernelRidge(alpha=alpha, kernel=kernel, solver=solver,
                                solver_options=options, **params).fit(X, Y)
    ref = KernelRidge(alpha=alpha, kernel=kernel, **params).fit(X, Y)
    X_test = np.random.default_rng(1).standard_normal((7, 3))
    assert rel_err(ours.predict(X_test), ref.predict(X_test)) < 1e-8
    if ours.solver_ == "primal":  # linear kernel: only the weights X^T C are kept
        assert rel_err(ours.coef_, (X.T @ ref.dual_coef_).T) < 1e-8
    else:
        assert rel_err(ours.dual_coef_, ref.dual_coef_) < 1e-8


def test_one_dimensional_y_equals_kernel_ridge(data):
    X, Y = data
    y = Y[:, 0]
    ours = MultiTaskKernelRidge(alpha=0.2, kernel="rbf").fit(X, y)
    ref = KernelRidge(alpha=0.2, kernel="rbf").fit(X, y)
    pred = ours.predict(X)
    assert pred.shape == (40,)
    assert rel_err(pred, ref.predict(X)) < 1e-8
    assert ours.dual_coef_.shape == (40, 1)
    assert ours.n_tasks_ == 1


def test_sample_weight_equals_kernel_ridge(data):
    X, Y = data
    w = np.random.default_rng(2).uniform(0.0, 3.0, size=40)
    ours = MultiTaskKernelRidge(alpha=0.5).fit(X, Y, sample_weight=w)
    ref = KernelRidge(alpha=0.5, kernel="rbf", gamma=1 / 3).fit(X, Y, sample_weight=w)
    assert rel_err(ours.predict(X), ref.predict(X)) < 1e-8


def test_missing_labels_equal_per_task_kernel_ridge_on_observed_rows(data):
    """With A = I, a task with NaN labels is KernelRidge on its observed rows."""
    X, Y = data
    Y = Y.copy()
    rng = np.random.default_rng(3)
    Y[rng.random(Y.shape) < 0.4] = np.nan
    Y[0] = 1.0
    ours = MultiTaskKernelRidge(alpha=0.3).fit(X, Y)
    for t in range(Y.shape[1]):
        rows = ~np.isnan(Y[:, t])
        ref = KernelRidge(alpha=0.3, kernel="rbf", gamma=1 / 3).fit(X[rows], Y[rows, t])
        assert rel_err(ours.predict(X)[:, t], ref.predict(X)) < 1e-8


def test_pooled_equals_kernel_ridge_on_pooled_labels(data):
    """A = 1 1^T shares one function: kernel ridge on all (x, y) pairs stacked."""
    X, Y = data
    Y = Y[:, :3].copy()
    Y[::2, 1] = np.nan
    ours = MultiTaskKernelRidge(alpha=0.4, task_structure="pooled").fit(X, Y)
    rows, tasks = np.nonzero(~np.isnan(Y))
    ref = KernelRidge(alpha=0.4, kernel="rbf", gamma=1 / 3).fit(X[rows], Y[rows, tasks])
    pred = ours.predict(X)
    for t in range(3):
        assert rel_err(pred[:, t], ref.predict(X)) < 1e-8


def test_zero_weight_equals_dropping_the_entry(data):
    X, Y = data
    A = MeanRegularized(2.0).task_matrix(4)
    W = np.ones(Y.shape)
    W[5, 2] = 0.0
    Y_nan = Y.copy()
    Y_nan[5, 2] = np.nan
    a = MultiTaskKernelRidge(task_structure=A).fit(X, Y, sample_weight=W)
    b = MultiTaskKernelRidge(task_structure=A).fit(X, Y_nan)
    assert rel_err(a.predict(X), b.predict(X)) < 1e-10


def test_integer_weight_equals_duplicated_row(data):
    X, Y = data
    Y = Y.copy()
    Y[3, 1] = np.nan
    w = np.ones(40)
    w[0] = 2.0
    a = MultiTaskKernelRidge(task_structure="chain").fit(X, Y, sample_weight=w)
    b = MultiTaskKernelRidge(task_structure="chain").fit(
        np.vstack([X, X[:1]]), np.vstack([Y, Y[:1]]))
    assert rel_err(a.predict(X), b.predict(X)) < 1e-8


def test_fitted_attributes(data):
    X, Y = data
    model = MultiTaskKernelRidge(task_structure="mean_regularized").fit(X, Y)
    assert model.dual_coef_.shape == (40, 4)
    assert isinstance(model.task_structure_, np.ndarray)
    assert np.allclose(model.task_structure_, MeanRegularized().task_matrix(4))
    assert model.n_tasks_ == 4 and model.n_features_in_ == 3
    X_copy = X.copy()
    X[:] = 0.0  # the model keeps its own copy of the training inputs
    assert np.array_equal(model.X_fit_, X_copy)


def test_predict_in_blocks_equals_one_block(data, monkeypatch):
    X, Y = data
    model = MultiTaskKernelRidge().fit(X, Y)
    whole = model.predict(X)
    # Three rows of the 40-column test kernel per block.
    with rkhsmtl.config_context(working_memory=8 * 40 * 3 / 2**20):
        blocked = model.predict(X)
    assert np.array_equal(blocked, whole) or rel_err(blocked, whole) < 1e-14


def test_precomputed_kernel_equals_named_kernel(data):
    X, Y = data
    Xt = X[:5] + 0.1
    named = MultiTaskKernelRidge(kernel="rbf", gamma=0.5,
                                 task_structure="chain").fit(X, Y)
    K = pairwise_kernels(X, metric="rbf", gamma=0.5)
    pre = MultiTaskKernelRidge(kernel="precomputed", task_structure="chain").fit(K, Y)
    K_test = pairwise_kernels(Xt, X, metric="rbf", gamma=0.5)
    assert rel_err(pre.predict(K_test), named.predict(Xt)) < 1e-10
    with pytest.raises(ValueError, match="square"):
        MultiTaskKernelRidge(kernel="precomputed").fit(X, Y)


def test_score_is_mean_per_task_r2_on_observed_entries(data):
    X, Y = data
    model = MultiTaskKernelRidge().fit(X, Y)
    Y_test = Y.copy()
    Y_test[::3, 0] = np.nan
    pred = model.predict(X)
    expected = np.mean([
        r2_score(Y_test[~np.isnan(Y_test[:, t]), t], pred[~np.isnan(Y_test[:, t]), t])
        for t in range(4)])
    assert model.score(X, Y_test) == pytest.approx(expected, rel=1e-12)


def test_dataframe_input_sets_feature_names(data):
    pd = pytest.importorskip("pandas")
    X, Y = data
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    Y_frame = pd.DataFrame(Y, columns=list("pqrs"))
    model = MultiTaskKernelRidge().fit(frame, Y_frame)
    assert list(model.feature_names_in_) == ["a", "b", "c"]
    assert rel_err(model.predict(frame), MultiTaskKernelRidge().fit(X, Y).predict(X)) \
        < 1e-12
    # None in an object column means a missing label.
    Y_obj = Y_frame.astype(object)
    Y_obj.iloc[0, 0] = None
    model.fit(frame, Y_obj)
    assert model.dual_coef_[0, 0] == 0.0


def test_grid_search_tunes_the_task_structure_strength(data):
    X, Y = data
    Y = Y.copy()
    Y[::4, 2] = np.nan
    search = GridSearchCV(
        make_pipeline(StandardScaler(), MultiTaskKernelRidge(
            task_structure=MeanRegularized())),
        {"multitaskkernelridge__task_structure__strength": [0.0, 1.0, 10.0],
         "multitaskkernelridge__alpha": [0.1, 1.0]},
        cv=KFold(3, shuffle=True, random_state=0),
    ).fit(X, Y)
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))
    best = search.best_estimator_[-1]
    assert best.task_structure.strength == search.best_params_[
        "multitaskkernelridge__task_structure__strength"]
    # The estimator given to the search was not modified.
    assert search.estimator[-1].task_structure.strength == 1.0


def test_clone_keeps_structure_parameters():
    model = MultiTaskKernelRidge(task_structure=MeanRegularized(strength=3.0))
    params = clone(model).get_params()
    assert params["task_structure__strength"] == 3.0


# --- errors --------------------------------------------------------------------
@pytest.mark.parametrize(
    "change,match",
    [
        (lambda X, Y, w: (X, np.full_like(Y, np.nan), w), "NaN only"),
        (lambda X, Y, w: (X, np.where(np.arange(4) == 2, np.nan, Y), w),
         r"Task\(s\) \[2\] have no observed label"),
        (lambda X, Y, w: (X, np.where(Y > 1, np.inf, Y), w), "infinity"),
        (lambda X, Y, w: (np.where(X > 1, np.nan, X), Y, w), "NaN"),
        (lambda X, Y, w: (X, Y[:-1], w), "inconsistent numbers of samples"),
        (lambda X, Y, w: (X, Y[:, :, None], w), "1-D or 2-D"),
        (lambda X, Y, w: (X, Y, np.ones(39)), r"sample_weight.shape"),
        (lambda X, Y, w: (X, Y, np.ones((40, 3))), r"sample_weight.shape"),
        (lambda X, Y, w: (X, Y, -np.ones(40)), "Negative"),
        (lambda X, Y, w: (X, Y, np.zeros(40)), "all zero"),
        (lambda X, Y, w: (X, Y, np.where(np.arange(4) == 1, 0.0, np.ones((40, 4)))),
         r"Task\(s\) \[1\] have no observed label with a positive sample weight"),
        (lambda X, Y, w: (X, np.full((40, 4), "a"), w), "numeric"),
    ],
)
def test_bad_input_gets_a_clear_error(data, change, match):
    X, Y = data
    X2, Y2, w = change(X.copy(), Y.copy(), None)
    with pytest.raises(ValueError, match=match):
        MultiTaskKernelRidge().fit(X2, Y2, sample_weight=w)


@pytest.mark.parametrize(
    "params,match",
    [
        (dict(alpha=0.0), "alpha must be a positive"),
        (dict(alpha=-1.0), "alpha must be a positive"),
        (dict(kernel="gaussian"), "kernel must be one of"),
        (dict(solver="lu"), "solver must be one of"),
        (dict(device="tpu"), "device must be"),
        (dict(task_structure="clusters"), "Unknown task_structure"),
        (dict(task_structure=np.eye(3)), "Y has 4 tasks"),
        (dict(task_structure=np.triu(np.ones((4, 4)))), "not symmetric"),
        (dict(task_structure=-np.eye(4)), "not positive semidefinite"),
    ],
)
def test_bad_parameters_get_a_clear_error(data, params, match):
    X, Y = data
    with pytest.raises(ValueError, match=match):
        MultiTaskKernelRidge(**params).fit(X, Y)


def test_gpu_without_cupy_is_a_clear_error(data):
    pytest.importorskip("numpy")
    try:
        import cupy  # noqa: F401

        pytest.skip("CuPy is installed")
    except ImportError:
        pass
    X, Y = data
    with pytest.raises(ImportError, match="CuPy"):
        MultiTaskKernelRidge(device="gpu").fit(X, Y)
    # "auto" falls back to NumPy.
    model = MultiTaskKernelRidge(device="auto").fit(X, Y)
    assert isinstance(model.dual_coef_, np.ndarray)


def test_predict_checks_features(data):
    X, Y = data
    model = MultiTaskKernelRidge().fit(X, Y)
    with pytest.raises(ValueError, match="features"):
        model.predict(X[:, :2])


def test_stacked_reference_for_fixed_matrix_structure(data):
    X, Y = data
    rng = np.random.default_rng(9)
    B = rng.standard_normal((4, 2))
    A = B @ B.T  # rank deficient
    model = MultiTaskKernelRidge(alpha=0.2, task_structure=FixedMatrix(A)).fit(X, Y)
    K = pairwise_kernels(X, metric="rbf", gamma=1 / 3)
    assert rel_err(model.dual_coef_, stacked_kronecker_solve(K, Y, A, 0.2)) < 1e-8


def test_a_structure_given_by_name_is_tunable_by_its_parameters(data):
    X, Y = data
    search = GridSearchCV(
        MultiTaskKernelRidge(task_structure="mean_regularized"),
        {"task_structure__strength": [0.1, 10.0]},
        cv=KFold(3, shuffle=True, random_state=0)).fit(X, Y)
    assert search.best_params_["task_structure__strength"] in (0.1, 10.0)
    model = MultiTaskKernelRidge(task_structure="mean_regularized")
    model.set_params(task_structure__strength=3.0)
    assert isinstance(model.task_structure, MeanRegularized)
    assert model.task_structure.get_params() == {"strength": 3.0}
    # The same values through the object give the same fit.
    by_object = MultiTaskKernelRidge(task_structure=MeanRegularized(3.0)).fit(X, Y)
    assert rel_err(model.fit(X, Y).predict(X), by_object.predict(X)) < 1e-12
    # Setting the name and its parameter together works too.
    both = MultiTaskKernelRidge().set_params(task_structure="chain",
                                             task_structure__strength=2.0)
    assert both.task_structure.get_params()["strength"] == 2.0


def test_a_task_without_training_labels_names_the_multitask_splitter(data):
    X, Y = data
    Y = Y.copy()
    Y[:, 1] = np.nan
    with pytest.raises(ValueError, match="MultiTaskStratifiedKFold"):
        MultiTaskKernelRidge().fit(X, Y)
