"""A catalogue of bad and edge inputs: each gets a clear error, a warning or a sane result.

Every case states what must happen: the exception type AND a fragment of its
message (what is wrong, what to do), or the warning, or a finite result. No
exception from deep inside (IndexError, ZeroDivisionError, LinAlgError, numpy's
own messages) may reach the user. Data are tiny so the whole file runs in seconds.
"""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from rkhsmtl import (
    DistributionMatchingMTL,
    MultiTaskKernelClassifier,
    MultiTaskKernelRidge,
    datasets,
    metrics,
    weighting,
)
from rkhsmtl.exceptions import MemoryBudgetError
from rkhsmtl.linear import MultiTaskLinearClassifier, MultiTaskLinearRegressor
from rkhsmtl.structure import (
    ClusteredNorm,
    Clusters,
    FixedMatrix,
    Graph,
    LowRank,
    MeanRegularized,
    OutputKernel,
    PriorShrinkage,
    TaskRelation,
)

RNG = np.random.default_rng(0)
X = RNG.normal(size=(16, 3))
Y = np.column_stack([X[:, 0], X[:, 0] + 0.3 * X[:, 1]])
Y_CLS = (Y > 0).astype(float)
Y_CLS[0] = [1.0, 0.0]
Y_CLS[1] = [0.0, 1.0]

# name -> (factory, targets): every estimator family of the package.
ESTIMATORS = {
    "ridge_fixed": (lambda **kw: MultiTaskKernelRidge(
        task_structure="mean_regularized", **kw), Y),
    "ridge_learned": (lambda **kw: MultiTaskKernelRidge(task_structure="low_rank", **kw),
                      Y),
    "classifier": (lambda **kw: MultiTaskKernelClassifier(
        task_structure="mean_regularized", **kw), Y_CLS),
    "classifier_learned": (lambda **kw: MultiTaskKernelClassifier(
        task_structure="relation", **kw), Y_CLS),
    "linear_regressor": (lambda **kw: MultiTaskLinearRegressor(**kw), Y),
    "linear_classifier": (lambda **kw: MultiTaskLinearClassifier(**kw), Y_CLS),
    "distribution_matching": (lambda **kw: DistributionMatchingMTL(
        MultiTaskKernelRidge(), weighting_cv=None, **kw), Y),
}
KERNEL = ["ridge_fixed", "ridge_learned", "classifier", "classifier_learned"]
ALL = list(ESTIMATORS)


def _fit(name, X_=None, Y_=None, **params):
    factory, targets = ESTIMATORS[name]
    return factory(**params).fit(X if X_ is None else X_, targets if Y_ is None else Y_)


def _assert_finite(values):
    assert np.all(np.isfinite(np.asarray(values, dtype=float)))


# --------------------------------------------------------------- inputs X, y
BAD_DATA = [
    ("X with NaN", lambda: np.where(np.eye(16, 3, dtype=bool), np.nan, X), None,
     ValueError, "NaN"),
    ("X with inf", lambda: np.where(np.eye(16, 3, dtype=bool), np.inf, X), None,
     ValueError, "infinity"),
    ("X 1-D", lambda: X[:, 0], None, ValueError, "2D array"),
    ("X 3-D", lambda: X[:, :, None], None, ValueError, "dim 3"),
    ("X no row", "empty", None, ValueError, "0 sample"),
    ("X strings", lambda: np.full((16, 3), "a"), None, ValueError, "could not convert"),
    ("X complex", lambda: X + 1j, None, ValueError, "omplex"),
    ("y rows", None, lambda y: y[:5], ValueError,
     "inconsistent numbers of samples|y must have shape \\(16,\\)"),
    ("y None", None, lambda y: None, ValueError, "requires y to be passed"),
]


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("case", BAD_DATA, ids=[c[0] for c in BAD_DATA])
def test_bad_data_is_refused_clearly(name, case):
    _, make_X, make_y, exc, match = case
    factory, targets = ESTIMATORS[name]
    X_, y_ = X, targets
    if isinstance(make_X, str):  # "empty"
        X_, y_ = X[:0], targets[:0]
    elif make_X is not None:
        X_ = make_X()
    if make_y is not None:
        y_ = make_y(targets)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", np.exceptions.ComplexWarning)
        with pytest.raises(exc, match=match):
            factory().fit(X_, y_)


REGRESSORS = ["ridge_fixed", "ridge_learned", "linear_regressor"]
BAD_TARGETS = [
    ("Y with inf", lambda y: np.where(np.eye(16, 2, dtype=bool), np.inf, y),
     "infinity"),
    ("Y all NaN", lambda y: np.full_like(y, np.nan), "NaN only"),
    ("Y task without label", lambda y: np.column_stack([y[:, 0], np.full(16, np.nan)]),
     "no observed label"),
    ("Y strings", lambda y: np.full(y.shape, "a"), "numeric"),
    ("Y 3-D", lambda y: y[:, :, None], "1-D or 2-D"),
    ("Y overflowing", lambda y: y * 1e300, "overflow"),
]


@pytest.mark.parametrize("name", REGRESSORS)
@pytest.mark.parametrize("case", BAD_TARGETS, ids=[c[0] for c in BAD_TARGETS])
def test_bad_regression_targets(name, case):
    _, change, match = case
    with pytest.raises(ValueError, match=match):
        _fit(name, Y_=change(Y))


CLASSIFIERS = ["classifier", "classifier_learned", "linear_classifier"]
BAD_LABELS = [
    ("three classes", lambda y: np.where(np.arange(16)[:, None] % 3 == 0, 2.0, y),
     "two classes|binary|2 classes"),
    ("all missing", lambda y: np.full_like(y, np.nan), "no observed label|missing"),
    ("one class everywhere", lambda y: np.ones_like(y), "single class|one class"),
]


@pytest.mark.parametrize("name", CLASSIFIERS)
@pytest.mark.parametrize("case", BAD_LABELS, ids=[c[0] for c in BAD_LABELS])
def test_bad_labels(name, case):
    _, change, match = case
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match=match):
            _fit(name, Y_=change(Y_CLS))


BAD_WEIGHTS = [
    ("negative", lambda: -np.ones(16), "Negative values|non-negative"),
    ("NaN", lambda: np.full(16, np.nan), "NaN|finite"),
    ("inf", lambda: np.full(16, np.inf), "NaN or infinity|finite"),
    ("all zero", lambda: np.zeros(16), "all zero|zero"),
    ("wrong length", lambda: np.ones(5), "shape|inconsistent"),
    ("task weights all zero", lambda: np.column_stack([np.ones(16), np.zeros(16)]),
     "positive sample weight|zero"),
]


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("case", BAD_WEIGHTS, ids=[c[0] for c in BAD_WEIGHTS])
def test_bad_sample_weight(name, case):
    _, make, match = case
    if name == "distribution_matching" and case[0] == "task weights all zero":
        pytest.skip("pooled rows of every task carry the weight of their row")
    factory, targets = ESTIMATORS[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match=match):
            factory().fit(X, targets, sample_weight=make())


# ------------------------------------------------------------------ parameters
BAD_KERNEL_PARAMS = [
    (dict(alpha=np.inf), ValueError, "alpha must be a positive finite"),
    (dict(alpha=np.nan), ValueError, "alpha must be a positive finite"),
    (dict(alpha="1"), ValueError, "alpha must be a positive finite"),
    (dict(gamma=np.inf), ValueError, "gamma must be None or a finite number"),
    (dict(gamma=np.nan), ValueError, "gamma must be None or a finite number"),
    (dict(gamma=-1.0), ValueError, "gamma must be None or a finite number"),
    (dict(kernel="poly", degree=np.nan), ValueError, "'degree' parameter"),
    (dict(kernel="poly", degree=-1), ValueError, "'degree' parameter"),
    (dict(kernel="poly", coef0=np.nan), ValueError, "'coef0' parameter"),
    (dict(kernel="sigmoid", coef0=np.inf), ValueError, "'coef0' parameter"),
    (dict(kernel_params=[1]), TypeError, "'kernel_params' parameter"),
    (dict(tol=np.inf), ValueError, "tol must be a finite number"),
    (dict(tol=-1e-3), ValueError, "tol must be a finite number"),
    (dict(max_iter=0), ValueError, "max_iter must be an integer"),
    (dict(max_iter=2.5), ValueError, "max_iter must be an integer"),
    (dict(verbose="loud"), ValueError, "'verbose' parameter"),
    (dict(kernel="gauss"), ValueError, "kernel must be one of"),
    (dict(device="tpu"), ValueError, "device must be"),
]


@pytest.mark.parametrize("name", KERNEL)
@pytest.mark.parametrize("case", BAD_KERNEL_PARAMS,
                         ids=[str(c[0]) for c in BAD_KERNEL_PARAMS])
def test_bad_kernel_estimator_parameters(name, case):
    params, exc, match = case
    with pytest.raises(exc, match=match):
        _fit(name, **params)


@pytest.mark.parametrize("cls,targets", [(MultiTaskKernelRidge, Y),
                                         (MultiTaskKernelClassifier, Y_CLS)])
@pytest.mark.parametrize("structure,match", [
    ("nope", "Unknown task_structure 'nope'"),
    (np.ones((3, 3)), "3x3 but Y has 2 tasks"),
    (np.array([[1.0, 2.0], [2.0, 1.0]]), "not positive semidefinite"),
])
def test_bad_task_structure_argument(cls, targets, structure, match):
    with pytest.raises(ValueError, match=match):
        cls(task_structure=structure).fit(X, targets)


BAD_RIDGE_PARAMS = [
    (dict(solver="lu"), "solver must be one of"),
    (dict(solver_options={"tol": -1}), "solver_options\\['tol'\\]"),
    (dict(solver_options={"tolerance": 1}), "Unknown solver_options"),
    (dict(solver_options={"max_iter": 0}), "solver_options\\['max_iter'\\]"),
    (dict(solver_options={"preconditioner": "ilu"}), "preconditioner"),
    (dict(solver="primal"), "explicit feature map"),
]


@pytest.mark.parametrize("case", BAD_RIDGE_PARAMS, ids=[str(c[0]) for c in BAD_RIDGE_PARAMS])
def test_bad_ridge_solver_parameters(case):
    params, match = case
    with pytest.raises(ValueError, match=match):
        MultiTaskKernelRidge(**params).fit(X, Y)


BAD_CLASSIFIER_PARAMS = [
    (dict(class_weight="auto"), "class_weight must be"),
    (dict(class_weight={0.0: -1.0}), "class_weight values must be"),
    (dict(single_class_tasks="ignore"), "single_class_tasks"),
    (dict(solver="primal"), "needs kernel='linear'"),
]


@pytest.mark.parametrize("case", BAD_CLASSIFIER_PARAMS,
                         ids=[str(c[0]) for c in BAD_CLASSIFIER_PARAMS])
def test_bad_classifier_parameters(case):
    params, match = case
    with pytest.raises(ValueError, match=match):
        MultiTaskKernelClassifier(**params).fit(X, Y_CLS)


def test_all_zero_class_weight_is_refused_like_all_zero_sample_weight():
    with pytest.raises(ValueError, match="class_weight .*zero weight"):
        MultiTaskKernelClassifier(class_weight={0.0: 0.0, 1.0: 0.0}).fit(X, Y_CLS)


BAD_LINEAR_PARAMS = [
    (dict(alpha=-1.0), ValueError, "alpha must be"),
    (dict(alpha=np.nan), ValueError, "alpha must be"),
    (dict(l2=np.inf), ValueError, "l2 must be"),
    (dict(alpha="l21"), TypeError, "is a penalty, not a strength"),
    (dict(penalty="nope"), ValueError, "penalty"),
    (dict(max_iter=0), ValueError, "max_iter must be"),
    (dict(tol=np.nan), ValueError, "tol"),
    (dict(restart="always"), ValueError, "restart must be"),
]


@pytest.mark.parametrize("name", ["linear_regressor", "linear_classifier"])
@pytest.mark.parametrize("case", BAD_LINEAR_PARAMS, ids=[str(c[0]) for c in BAD_LINEAR_PARAMS])
def test_bad_linear_parameters(name, case):
    params, exc, match = case
    with pytest.raises(exc, match=match):
        _fit(name, **params)


BAD_DM_PARAMS = [
    (dict(features="labels"), "features must be"),
    (dict(label_scale=0.0), "label_scale must be"),
    (dict(per_task="yes"), "per_task must be"),
    (dict(tempering=2.0), "tempering"),
    (dict(clip=0.5), "clip"),
]


@pytest.mark.parametrize("case", BAD_DM_PARAMS, ids=[str(c[0]) for c in BAD_DM_PARAMS])
def test_bad_distribution_matching_parameters(case):
    params, match = case
    with pytest.raises(ValueError, match=match):
        DistributionMatchingMTL(MultiTaskKernelRidge(), weighting_cv=None,
                                **params).fit(X, Y)


# ------------------------------------------------------------ predict-time input
@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("bad,match", [
    (lambda: X[:, :2], "features"),
    (lambda: np.full((2, 3), np.nan), "NaN"),
])
def test_bad_predict_input(name, bad, match):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = _fit(name)
    method = "predict"
    with pytest.raises(ValueError, match=match):
        getattr(model, method)(bad())


@pytest.mark.parametrize("name", ["ridge_fixed", "classifier", "linear_regressor"])
def test_unknown_task_names_at_predict(name):
    model = _fit(name)
    with pytest.raises(ValueError, match="Unknown task"):
        model.predict(X[:3], task=["a", "b", "c"])
    with pytest.raises(ValueError, match="task has 2 entries"):
        model.predict(X[:3], task=[0, 1])


# ------------------------------------------------------- numerical breakdowns
def test_callable_kernel_returning_nan_is_an_error():
    with pytest.raises(ValueError, match="callable kernel .* NaN or infinity"):
        MultiTaskKernelRidge(kernel=lambda a, b: np.nan).fit(X, Y)


@pytest.mark.parametrize("name", KERNEL + ["linear_regressor", "linear_classifier"])
def test_overflowing_inputs_are_an_error(name):
    with pytest.raises(ValueError, match="squares overflow.*StandardScaler"):
        _fit(name, X_=X * 1e200)


def test_overflowing_test_inputs_are_an_error_at_predict():
    model = MultiTaskKernelRidge(kernel="poly", degree=3).fit(X, Y)
    with pytest.raises(ValueError, match="kernel matrix of kernel='poly'.*degree"):
        model.predict(X[:2] * 1e110)


@pytest.mark.parametrize("name", ["ridge_fixed", "linear_regressor"])
def test_poorly_scaled_inputs_warn(name):
    with pytest.warns(UserWarning, match="poorly scaled.*StandardScaler"):
        _fit(name, X_=X * 1e9)


def test_offset_inputs_warn_about_cancellation():
    with pytest.warns(UserWarning, match="mean exceeds their range"):
        MultiTaskKernelRidge().fit(X * 1e-3 + 1e5, Y)


def test_well_scaled_inputs_do_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        MultiTaskKernelRidge().fit(X, Y)
        MultiTaskKernelRidge(kernel="precomputed").fit(X @ X.T * 1e12, Y)


def test_non_symmetric_precomputed_kernel_is_refused():
    K = X @ X.T
    K[0, 1] += 1.0
    with pytest.raises(ValueError, match="symmetric training kernel.*\\(K \\+ K.T\\) / 2"):
        MultiTaskKernelRidge(kernel="precomputed").fit(K, Y)


def test_indefinite_precomputed_kernel_with_learned_structure_warns():
    K = np.tanh(3.0 * X @ X.T + 1.0)
    with pytest.warns(UserWarning, match="not positive semidefinite"):
        model = MultiTaskKernelRidge(kernel="precomputed",
                                     task_structure="low_rank").fit(K, Y)
    _assert_finite(model.predict(K))


def test_learned_structure_on_unscaled_polynomial_kernel_cannot_diverge():
    # Either a finite model or an error naming the cause -- never [[inf]].
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            model = MultiTaskKernelClassifier(kernel="poly", task_structure="low_rank",
                                              max_iter=5).fit(X * 1e15, Y_CLS)
        except ValueError as exc:
            assert "diverged" in str(exc) or "NaN or infinity" in str(exc)
        else:
            _assert_finite(model.task_structure_)
            _assert_finite(model.decision_function(X * 1e15))


def test_cg_on_unscaled_linear_inputs_warns_instead_of_dividing_by_zero():
    with pytest.warns(UserWarning):
        model = MultiTaskKernelRidge(kernel="linear", solver="cg").fit(X * 1e9 + 1e9, Y)
    _assert_finite(model.predict(X * 1e9 + 1e9))


def test_cluster_norm_a_step_on_unscaled_inputs():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = MultiTaskKernelRidge(kernel="linear", task_structure="clustered").fit(
            X * 1e9, Y)
    _assert_finite(model.task_structure_)


def test_water_fill_does_not_divide_by_zero_on_denormals():
    from rkhsmtl.structure._learned import water_fill

    s = water_fill([5e-324, 5e-324], 0.5, 1.0, 1.5)
    assert s == pytest.approx([0.75, 0.75])
    with pytest.raises(ValueError, match="non-finite"):
        water_fill([np.inf, 1.0], 0.5, 1.0, 1.5)


@pytest.mark.parametrize("penalty", ["trace", "l21", "dirty", "sparse_low_rank"])
def test_linear_family_on_unscaled_inputs_errors_instead_of_nan(penalty):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match="overflow|diverged"):
            MultiTaskLinearRegressor(penalty=penalty, max_iter=10).fit(X * 1e100, Y)


def test_linear_classifier_on_unscaled_inputs_is_not_silently_wrong():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match="diverged"):
            MultiTaskLinearClassifier(max_iter=10).fit(X * 1e100, Y_CLS)


@pytest.mark.parametrize("scale", [1e6, 1e15])
def test_kernel_classifier_primal_on_unscaled_inputs_reaches_the_optimum(scale):
    # Task 0 is separable, task 1 is not. The gradient rule relative to the zero
    # model is met far from the optimum on unscaled inputs (scores ~1e22); the
    # Newton decrement and the step in the scores must veto that stop, and coef_
    # must not be recovered from C by a cancelling sum.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = MultiTaskKernelClassifier(kernel="linear", fit_intercept=False,
                                        max_iter=300).fit(X * scale, Y_CLS)
    assert clf.solver_info_["converged"]
    scores = np.max(np.abs(clf.decision_function(X * scale)), axis=0)
    assert scores[0] < 1e4
    # The non-separable task: the optimum of the unscaled problem with alpha ~ 0.
    np.testing.assert_allclose(scores[1], 13.6606, rtol=1e-3)


def test_newton_cg_at_tiny_tol_stops_at_the_roundoff_floor():
    Xb = np.random.default_rng(3).normal(size=(80, 3))
    yb = (Xb[:, 0] + 0.5 * np.random.default_rng(4).normal(size=80) > 0).astype(float)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        clf = MultiTaskKernelClassifier(tol=1e-12, max_iter=30).fit(Xb, yb)
    assert clf.solver_info_["converged"]
    assert clf.solver_info_["newton_iterations"] < 30


@pytest.mark.parametrize("alpha", [1e-8, 1e-10, 1e-12])
def test_primal_ridge_at_tiny_alpha_matches_sklearn(alpha):
    from sklearn.linear_model import Ridge

    rng = np.random.default_rng(1)
    Xr = rng.normal(size=(40, 4)) + 3.0
    yr = Xr @ rng.normal(size=4) + 0.01 * rng.normal(size=40)
    model = MultiTaskKernelRidge(alpha=alpha, kernel="linear", solver="primal").fit(Xr, yr)
    ref = Ridge(alpha=alpha, fit_intercept=False, solver="svd").fit(Xr, yr).predict(Xr)
    np.testing.assert_allclose(model.predict(Xr), ref, rtol=1e-8)


def test_large_problem_with_auto_solver_is_refused_up_front():
    from rkhsmtl._solvers.plan import ProblemShape, plan_fixed_solver

    shape = ProblemShape(n_samples=200_000, n_tasks=1, complete=True, weighted=False,
                         components=((0,),), n_observed=(200_000,), n_factorizations=1,
                         kernel_cost=30.0)
    with pytest.raises(MemoryBudgetError, match="solver='auto'.*solver='cg' to insist"):
        plan_fixed_solver(shape, "auto", budget=2**34)
    plan = plan_fixed_solver(shape, "cg", budget=2**34)
    assert plan.solver == "cg"


def test_pcg_breakdown_is_reported_not_raised():
    from rkhsmtl._solvers.krylov import pcg

    # M = 0: the curvature is zero at the first step.
    result = pcg(lambda v: (np.zeros_like(v[0]),), (np.ones(3),), tol=1e-8,
                 max_iter=10, xp=np)
    assert not result.converged and np.all(np.isfinite(result.x[0]))


# --------------------------------------------------------------- structures
BAD_STRUCTURES = [
    (MeanRegularized(strength=-1.0), "strength"),
    (MeanRegularized(strength=np.nan), "strength"),
    (Graph(adjacency="ring"), "adjacency"),
    (Graph(adjacency=np.ones((3, 3))), "3"),
    (Clusters(labels=[0]), "labels"),
    (FixedMatrix(np.array([[1.0, 2.0], [2.0, 1.0]])), "positive semidefinite"),
    (FixedMatrix(np.array([[1.0, np.nan], [np.nan, 1.0]])), "NaN"),
    (FixedMatrix(np.array([[1.0, 0.5], [0.0, 1.0]])), "not symmetric"),
    (LowRank(strength=0.0), "strength must be a finite number > 0"),
    (LowRank(strength=np.inf), "strength must be a finite number > 0"),
    (OutputKernel(delta=-1.0), "delta must be"),
    (OutputKernel(delta=1e-3, delta_min=1e-2), "must not exceed delta"),
    (TaskRelation(strength=-1.0), "strength must be"),
    (PriorShrinkage(prior="pooled"), "positive definite"),
    (ClusteredNorm(n_clusters=5), "n_clusters must be an integer between 1"),
    (ClusteredNorm(n_clusters=1.5), "n_clusters must be an integer between 1"),
    (LowRank(prior=LowRank()), "fixed task structure"),
]


@pytest.mark.parametrize("structure,match", BAD_STRUCTURES,
                         ids=[f"{type(s).__name__}-{i}" for i, (s, _) in
                              enumerate(BAD_STRUCTURES)])
def test_bad_task_structures(structure, match):
    with pytest.raises(ValueError, match=match):
        MultiTaskKernelRidge(task_structure=structure).fit(X, Y)


# ------------------------------------------------------------------ weighting
XN = RNG.normal(size=(12, 2))
XD = RNG.normal(size=(14, 2)) + 0.5
RATIO_ESTIMATORS = [weighting.ULSIF, weighting.RuLSIF, weighting.KLIEP,
                    weighting.KernelMeanMatching, weighting.ClassifierDensityRatio]


@pytest.mark.parametrize("cls", RATIO_ESTIMATORS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("bad,match", [
    (lambda: (np.vstack([XN[:-1], [[np.nan, 0.0]]]), XD), "NaN"),
    (lambda: (XN, XD[:, :1]), "features"),
    (lambda: (XN[:, 0], XD), "2-D|2D"),
    (lambda: (XN * 1e200, XD), "overflow|NaN or infinity|too large"),
], ids=["nan", "features", "1-D", "overflow"])
def test_bad_density_ratio_inputs(cls, bad, match):
    Xn, Xd = bad()
    with pytest.raises(ValueError, match=match):
        cls().fit(Xn, Xd)


@pytest.mark.parametrize("estimator,match", [
    (weighting.KLIEP(sigmas=[-1.0]), "sigmas must be"),
    (weighting.KLIEP(sigmas=[np.nan]), "sigmas must be"),
    (weighting.KLIEP(cv=1), "cv must be"),
    (weighting.ULSIF(lambdas=[0.0]), "lambdas must be"),
    (weighting.ULSIF(n_centers=0), "n_centers must be"),
    (weighting.RuLSIF(alpha=1.0), "alpha must be"),
    (weighting.RuLSIF(alpha=np.nan), "alpha must be"),
    (weighting.KernelMeanMatching(B=0.0), "B must be"),
    (weighting.KernelMeanMatching(eps=-1.0), "eps must be"),
])
def test_bad_density_ratio_parameters(estimator, match):
    with pytest.raises(ValueError, match=match):
        estimator.fit(XN, XD)


@pytest.mark.parametrize("W,match", [
    (np.array([1.0, np.nan]), "finite and non-negative"),
    (np.array([1.0, -1.0]), "finite and non-negative"),
    (np.zeros(3), "all zero"),
    (np.ones(0), "no row"),
])
def test_bad_effective_sample_size_inputs(W, match):
    with pytest.raises(ValueError, match=match):
        weighting.effective_sample_size(W)


def test_effective_sample_size_of_extreme_weights_is_finite():
    assert weighting.effective_sample_size(np.array([1e300, 1e300])) == pytest.approx(2)
    assert weighting.effective_sample_size(np.array([1e-310, 1e-310])) == pytest.approx(2)


@pytest.mark.parametrize("kwargs,match", [
    (dict(R=np.array([1.0, np.nan])), "finite and non-negative"),
    (dict(R=np.array([1.0, -1.0])), "finite and non-negative"),
    (dict(R=np.zeros(3)), "all zero"),
    (dict(R=np.ones(3), tempering=-1.0), "tempering"),
    (dict(R=np.ones(3), clip=0.5), "clip"),
])
def test_bad_normalize_weights_inputs(kwargs, match):
    with pytest.raises(ValueError, match=match):
        weighting.normalize_weights(**kwargs)


@pytest.mark.parametrize("task,match", [
    (np.r_[np.zeros(8), np.ones(7), np.nan], "integer"),
    (np.zeros(5, dtype=int), "shape"),
    (np.r_[np.zeros(8), -np.ones(8)].astype(int), "task indices"),
])
def test_bad_task_posterior_ratio_tasks(task, match):
    with pytest.raises(ValueError, match=match):
        weighting.TaskPosteriorRatio().fit(X, task)


# -------------------------------------------------------------------- metrics
YT = np.array([[1.0, 2.0], [np.nan, 3.0], [2.0, np.nan]])
YP = np.array([[1.1, 2.0], [1.0, 3.2], [2.0, 1.0]])
REG_METRICS = [metrics.mean_squared_error, metrics.r2_score,
               metrics.explained_variance_score, metrics.normalized_mean_squared_error]


@pytest.mark.parametrize("metric", REG_METRICS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("kwargs,match", [
    (dict(Y_pred=YP[:, :1]), "different shapes"),
    (dict(Y_pred=YP[:2]), "different shapes"),
    (dict(Y_pred=YP * np.nan), "Y_pred contains NaN"),
    (dict(Y_pred=YP * np.inf), "Y_pred contains infinity"),
    (dict(sample_weight=[-1.0, 1.0, 1.0]), "non-negative"),
    (dict(sample_weight=[1.0, 1.0]), "sample_weight has shape"),
    (dict(average="weighted"), "average must be"),
], ids=["cols", "rows", "nan", "inf", "neg-weight", "weight-shape", "average"])
def test_bad_regression_metric_inputs(metric, kwargs, match):
    args = dict(Y_true=YT, Y_pred=YP)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        metric(args.pop("Y_true"), args.pop("Y_pred"), **args)


def test_metric_without_observed_entry_is_nan_with_a_warning():
    from sklearn.exceptions import UndefinedMetricWarning

    with pytest.warns(UndefinedMetricWarning, match="undefined for every task"):
        value = metrics.mean_squared_error(np.full((3, 2), np.nan), YP)
    assert np.isnan(value)


YTC = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, np.nan], [0.0, 0.0]])


@pytest.mark.parametrize("metric,kwargs,match", [
    (metrics.accuracy_score, dict(Y_pred=YTC[:, :1]), "different shapes"),
    (metrics.accuracy_score, dict(Y_true=np.array([[0.0], [1.0], [2.0]]),
                                  Y_pred=np.array([[0.0], [1.0], [2.0]])),
     "must be binary"),
    (metrics.accuracy_score, dict(average="x"), "average must be"),
    (metrics.roc_auc_score, dict(Y_pred=YTC * np.nan), "contains NaN"),
    (metrics.log_loss, dict(Y_pred=np.nan_to_num(YTC) * 2.0), "in \\[0, 1\\]"),
    (metrics.log_loss, dict(Y_pred=np.nan_to_num(YTC) - 2.0), "in \\[0, 1\\]"),
    (metrics.log_loss, dict(Y_pred=YTC * np.nan), "contains NaN"),
], ids=["acc-shape", "acc-3classes", "acc-average", "auc-nan", "logloss>1",
        "logloss<0", "logloss-nan"])
def test_bad_classification_metric_inputs(metric, kwargs, match):
    args = dict(Y_true=YTC, Y_pred=np.nan_to_num(YTC))
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        metric(args.pop("Y_true"), args.pop("Y_pred"), **args)


@pytest.mark.parametrize("scoring,match", [("nope", "not a multi-task scorer"),
                                           (3, "scoring must be")])
def test_bad_scorer_names(scoring, match):
    with pytest.raises(ValueError, match=match):
        metrics.get_scorer(scoring)


# --------------------------------------------------------------- data helpers
@pytest.mark.parametrize("task", [np.array([0, 1, np.nan, 1]),
                                  np.array([0, 1, None, 1], dtype=object)],
                         ids=["nan", "none"])
def test_long_to_wide_refuses_missing_task_ids(task):
    with pytest.raises(ValueError, match="task has missing values .* rows 2"):
        datasets.long_to_wide(X[:4], np.arange(4.0), task)


@pytest.mark.parametrize("args,match", [
    ((X[:4], np.arange(4.0), np.array([0, 1, 1])), "same number of rows"),
    ((X[:4], np.ones((4, 2)), np.array([0, 1, 1, 0])), "y must be one-dimensional"),
    ((X[:4], np.array([1.0, np.nan, 2.0, 3.0]), np.array([0, 1, 1, 0])),
     "y must be finite"),
    ((X[:4], np.ones(4), np.zeros((4, 2))), "task must be one-dimensional"),
])
def test_bad_long_to_wide_inputs(args, match):
    with pytest.raises(ValueError, match=match):
        datasets.long_to_wide(*args)


@pytest.mark.parametrize("args,match", [
    ((X[:4], np.ones((3, 2))), "same number of rows"),
    ((X[:4], np.ones((4, 2, 1))), "one- or two-dimensional"),
])
def test_bad_wide_to_long_inputs(args, match):
    with pytest.raises(ValueError, match=match):
        datasets.wide_to_long(*args)


@pytest.mark.parametrize("kwargs,match", [
    (dict(n_tasks=0), "n_tasks must be"),
    (dict(noise=np.nan), "noise must be"),
    (dict(noise=-1.0), "noise must be"),
    (dict(n_samples=0), "n_samples must be"),
])
def test_bad_synthetic_generator_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        datasets.make_multitask_regression(**kwargs)


def test_target_checks_by_blocks_of_rows_see_every_block(monkeypatch):
    """Y is checked by blocks of rows (bounded temporaries): an infinity, a task
    without labels or a huge value in a later block is still found."""
    import rkhsmtl._validation as validation

    monkeypatch.setattr(validation, "_TARGET_CHECK_ENTRIES", 6)  # 2 rows of 3 tasks
    X = np.random.default_rng(0).normal(size=(7, 2))
    Y = np.random.default_rng(1).normal(size=(7, 3))
    Y[:6, 2] = np.nan  # task 2's one label is in the last block
    model = MultiTaskKernelRidge().fit(X, Y)
    assert model.predict(X).shape == (7, 3)
    bad = Y.copy()
    bad[6, 0] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        MultiTaskKernelRidge().fit(X, bad)
    bad = Y.copy()
    bad[6, 2] = np.nan
    with pytest.raises(ValueError, match=r"Task\(s\) \[2\] have no observed label"):
        MultiTaskKernelRidge().fit(X, bad)
    bad = Y.copy()
    bad[5, 1] = 1e160
    with pytest.raises(ValueError, match="overflow"):
        MultiTaskKernelRidge().fit(X, bad)
