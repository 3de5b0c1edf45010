"""The same inputs and ``random_state`` give bit-identical models, for any ``n_jobs``.

Every random draw of the package takes ``random_state`` (or a fixed seed, as the
sketch of the Nystrom preconditioner), and parallel loops gather their results in
submission order, so nothing here is compared with a tolerance.
"""

import warnings

import numpy as np
import pytest
from joblib import parallel_config
from sklearn.base import clone
from sklearn.linear_model import Ridge

from rkhsmtl import DistributionMatchingMTL, MultiTaskKernelClassifier, MultiTaskKernelRidge
from rkhsmtl.experiments import PerTaskSplits, run_experiment
from rkhsmtl.linear import MultiTaskLinearClassifierCV, MultiTaskLinearRegressorCV
from rkhsmtl.model_selection import MultiTaskRandomizedSearchCV, MultiTaskStratifiedKFold
from rkhsmtl.structure import LowRank
from rkhsmtl.weighting import KLIEP, ULSIF, RuLSIF, TaskPosteriorRatio, task_density_ratios

N, D, T = 30, 3, 3

# Small grids of kernel widths and ridges keep the ratio fits cheap.
GRID = dict(sigmas=[0.5, 1.0], lambdas=[0.1, 1.0])
KLIEP_GRID = dict(n_centers=8, cv=2, sigmas=[0.5, 1.0])


def _data():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((N, D))
    Y = X @ rng.standard_normal((D, T)) + 0.1 * rng.standard_normal((N, T))
    Y[rng.random((N, T)) < 0.3] = np.nan
    labels = np.where(Y > 0, 1.0, 0.0)
    labels[np.isnan(Y)] = np.nan
    # Heterogeneous data, one observed task per row, as distribution matching takes.
    one_task = np.full((N, T), np.nan)
    rows = np.arange(N)
    one_task[rows, rows % T] = X @ rng.standard_normal(D) + rows % T
    return X, Y, labels, one_task


X, Y, LABELS, YH = _data()


def _fit(estimator, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence on this tiny problem
        return clone(estimator).fit(X, y)


def _state(model):
    """Predictions and the fitted arrays that define them."""
    out = [model.predict(X)]
    if hasattr(model, "predict_proba"):
        out.append(model.predict_proba(X))
    for name in ("dual_coef_", "coef_", "task_structure_", "weights_", "intercept_",
                 "cv_scores_"):
        value = getattr(model, name, None)
        if value is not None and not callable(value):
            out.append(np.asarray(value))
    return out


def _assert_identical(a, b):
    for x, y in zip(_state(a), _state(b), strict=True):
        np.testing.assert_array_equal(x, y)


# (id, estimator, y): everything with a random part, or an iterative solver whose
# path could depend on the run.
TWICE = [
    ("ridge-cg-nystrom", MultiTaskKernelRidge(solver="cg",
                                              solver_options={"preconditioner_rank": 5}),
     Y),
    ("ridge-learned", MultiTaskKernelRidge(task_structure=LowRank()), Y),
    ("classifier", MultiTaskKernelClassifier(task_structure="relation"), LABELS),
    ("distribution-matching-nystroem",
     DistributionMatchingMTL(weighting="kernel_logistic", weighting_cv=2, random_state=0), YH),
    ("randomized-search",
     MultiTaskRandomizedSearchCV(
         MultiTaskKernelRidge(), {"alpha": np.logspace(-2, 1, 6), "gamma": [0.1, 1.0]},
         n_iter=3, cv=MultiTaskStratifiedKFold(2, shuffle=True, random_state=0),
         random_state=0), Y),
]


@pytest.mark.parametrize("estimator, y", [c[1:] for c in TWICE], ids=[c[0] for c in TWICE])
def test_two_runs_give_identical_models(estimator, y):
    _assert_identical(_fit(estimator, y), _fit(estimator, y))


def test_randomised_ratio_estimators_repeat_with_random_state():
    X_nu, X_de = X[:12], X[12:]
    task = np.arange(N) % T
    for estimator in (RuLSIF(n_centers=8, **GRID, random_state=0),
                      KLIEP(**KLIEP_GRID, random_state=0)):
        first = clone(estimator).fit(X_nu, X_de).ratio(X)
        np.testing.assert_array_equal(clone(estimator).fit(X_nu, X_de).ratio(X), first)
    ratio = TaskPosteriorRatio(kernel="rbf", n_components=10, random_state=0)
    np.testing.assert_array_equal(clone(ratio).fit(X, task).ratio(X),
                                  clone(ratio).fit(X, task).ratio(X))
    # A different seed draws other centres: the seed is used, not ignored.
    other = ULSIF(n_centers=8, **GRID, random_state=1).fit(X_nu, X_de).ratio(X)
    assert not np.array_equal(other, ULSIF(n_centers=8, **GRID, random_state=0)
                              .fit(X_nu, X_de).ratio(X))


def test_stratified_folds_repeat_with_random_state():
    folds = [list(MultiTaskStratifiedKFold(3, shuffle=True, random_state=0).split(X, Y))
             for _ in range(2)]
    for (train_a, test_a), (train_b, test_b) in zip(*folds, strict=True):
        np.testing.assert_array_equal(train_a, train_b)
        np.testing.assert_array_equal(test_a, test_b)


# n_jobs=2 in threads: the results are gathered in submission order and every
# parallel fit gets its seed from random_state. (Worker processes would also run
# BLAS with fewer threads, which can change iterative solvers in the last bits.)
N_JOBS = [
    ("linear-regressor-cv", MultiTaskLinearRegressorCV(n_alphas=3, cv=3, tol=1e-8), Y),
    ("linear-classifier-cv", MultiTaskLinearClassifierCV(n_alphas=2, cv=2, tol=1e-6), LABELS),
    ("distribution-matching-joint",
     DistributionMatchingMTL(weighting="kernel_logistic", weighting_cv=3, random_state=0), YH),
    ("distribution-matching-per-task",
     DistributionMatchingMTL(Ridge(), weighting_cv=2, random_state=0), YH),
]


@pytest.mark.parametrize("estimator, y", [c[1:] for c in N_JOBS], ids=[c[0] for c in N_JOBS])
def test_one_and_two_jobs_give_identical_models(estimator, y):
    one = _fit(clone(estimator).set_params(n_jobs=1), y)
    with parallel_config(backend="threading"):
        two = _fit(clone(estimator).set_params(n_jobs=2), y)
    _assert_identical(one, two)


def test_task_density_ratios_do_not_depend_on_n_jobs():
    task = np.arange(N) % T
    kw = dict(cv=3, random_state=0)
    weighting = KLIEP(**KLIEP_GRID, random_state=0)
    R1, _, folds1 = task_density_ratios(X, task, T, weighting, n_jobs=1, **kw)
    with parallel_config(backend="threading"):
        R2, _, folds2 = task_density_ratios(X, task, T, weighting, n_jobs=2, **kw)
    np.testing.assert_array_equal(np.asarray(R1), np.asarray(R2))
    np.testing.assert_array_equal(folds1, folds2)


def test_experiment_runner_does_not_depend_on_n_jobs():
    methods = {"mean": MultiTaskKernelRidge(task_structure="mean_regularized"),
               "nystrom-cg": MultiTaskKernelRidge(solver="cg")}
    # One BLAS thread per unit in both runs: with the default "auto", a sequential
    # run uses every core and the conjugate gradients differ in the last bits.
    # (Units in loky processes: tests/experiments/test_experiments_runner.py.)
    kw = dict(splits=PerTaskSplits(seeds=2), scoring=["mse"], progress=False,
              return_models=True, inner_threads=1)
    one = run_experiment(methods, (X, Y), n_jobs=1, **kw)
    with parallel_config(backend="threading"):  # units finish in any order
        two = run_experiment(methods, (X, Y), n_jobs=2, **kw)
    values = [[(r["method"], r["split"], r["average"], r["task"], r["value"])
               for r in results.to_records()] for results in (one, two)]
    # The direct solver is bit-identical; the conjugate gradients of two units
    # running at once in one process may differ in the last bits (the reductions
    # of NumPy's SIMD kernels depend on the arrays' memory alignment), seen once in
    # CI at 1e-15 relative.
    for first, second in zip(values[0], values[1], strict=True):
        assert first[:4] == second[:4]
        if first[0] == "mean":
            assert first[4] == second[4]
        else:
            assert first[4] == pytest.approx(second[4], rel=1e-12)
    assert one.models.keys() == two.models.keys()
    for key, model in one.models.items():
        if key[1] == "mean":
            _assert_identical(model, two.models[key])
        else:
            np.testing.assert_allclose(model.predict(X), two.models[key].predict(X),
                                       rtol=1e-12)
