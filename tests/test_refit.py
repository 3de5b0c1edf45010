"""A refit leaves no stale state: every estimator, any change of parameters."""

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.linear_model import Ridge

from rkhsmtl import DistributionMatchingMTL, MultiTaskKernelClassifier, MultiTaskKernelRidge
from rkhsmtl.linear import MultiTaskLinearClassifier, MultiTaskLinearRegressor


def _fitted(est):
    return {name for name in vars(est) if name.endswith("_") and not name.startswith("_")}


def _data(classify):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 3))
    Y = np.column_stack([X[:, 0] + 0.1 * rng.standard_normal(40),
                         X[:, 0] - X[:, 1] + 0.1 * rng.standard_normal(40)])
    Y[::5, 1] = np.nan
    if classify:
        Y = np.where(np.isnan(Y), np.nan, (Y > 0).astype(float))
    return X, Y


CASES = [
    # (estimator, first parameters, second parameters, classification)
    (MultiTaskKernelRidge(), {"task_structure": "low_rank", "max_iter": 5},
     {"task_structure": "independent"}, False),
    (MultiTaskKernelClassifier(), {"task_structure": "low_rank", "max_iter": 5},
     {"task_structure": "independent"}, True),
    (MultiTaskLinearRegressor(), {"penalty": "cmtl", "alpha": 0.1, "l2": 0.1},
     {"penalty": "l21", "alpha": 0.1}, False),
    (MultiTaskLinearRegressor(), {"penalty": "dirty", "alpha": 0.1},
     {"penalty": "l21", "alpha": 0.1}, False),
    (MultiTaskLinearRegressor(warm_start=True), {"penalty": "dirty", "alpha": 0.1},
     {"penalty": "l21", "alpha": 0.1}, False),
    (MultiTaskLinearClassifier(), {"penalty": "cmtl", "alpha": 0.1, "l2": 0.1},
     {"penalty": "lasso", "alpha": 0.1}, True),
    (DistributionMatchingMTL(random_state=0, weighting_cv=2),
     {"estimator": MultiTaskKernelRidge()}, {"estimator": Ridge()}, False),
]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("case", CASES, ids=lambda c: type(c[0]).__name__ if
                         not isinstance(c, dict) else "")
def test_refit_with_other_parameters_equals_a_fresh_fit(case):
    estimator, first, second, classify = case
    X, Y = _data(classify)
    refitted = clone(estimator).set_params(**first).fit(X, Y)
    assert _fitted(refitted)
    refitted.set_params(**second).fit(X, Y)
    fresh = clone(estimator).set_params(**second).fit(X, Y)
    assert _fitted(refitted) == _fitted(fresh)


@pytest.mark.parametrize("estimator", [MultiTaskKernelRidge(), MultiTaskLinearRegressor(),
                                       DistributionMatchingMTL(random_state=0,
                                                               weighting_cv=2)],
                         ids=lambda e: type(e).__name__)
def test_feature_names_do_not_survive_a_refit_without_them(estimator):
    X, Y = _data(False)
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    model = clone(estimator).fit(frame, Y)
    assert list(model.feature_names_in_) == ["a", "b", "c"]
    model.fit(X, Y)
    assert not hasattr(model, "feature_names_in_")
