"""The searches answer with their refitted model (``refit_method``), and the kernel
classifier's search fits each candidate as the classifier's own ``fit`` does."""

import inspect

import numpy as np
import pytest
from sklearn.base import clone

from rkhsmtl import (
    MultiTaskKernelClassifier,
    MultiTaskKernelClassifierCV,
    MultiTaskKernelRidge,
    MultiTaskKernelRidgeCV,
)
from rkhsmtl.linear import (
    MultiTaskLinearClassifier,
    MultiTaskLinearClassifierCV,
    MultiTaskLinearRegressorCV,
)
from rkhsmtl.logistic_cv import _FoldFit
from rkhsmtl.structure import resolve_task_structure


def _regression(n=20, T=2, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 3))
    Y = X[:, :1] + 0.1 * rng.standard_normal((n, T))
    Y[::5, 1] = np.nan
    return X, Y


def _labels(n=30, seed=0):
    X, Y = _regression(n=n, seed=seed)
    return X, np.where(np.isnan(Y), np.nan, (Y > 0).astype(float))


@pytest.mark.parametrize("search, model, methods", [
    (MultiTaskKernelRidgeCV, MultiTaskKernelRidge, ["predict", "score"]),
    (MultiTaskKernelClassifierCV, MultiTaskKernelClassifier,
     ["decision_function", "predict_proba", "predict_log_proba", "predict", "score"]),
    (MultiTaskLinearClassifierCV, MultiTaskLinearClassifier,
     ["decision_function", "predict_proba", "predict", "score"]),
])
def test_methods_have_the_models_signature_and_documentation(search, model, methods):
    for name in methods:
        method, own = getattr(search, name), getattr(model, name)
        assert inspect.signature(method) == inspect.signature(own)
        assert method.__doc__.startswith(f":meth:`{model.__name__}.{name}` of "
                                         ":attr:`best_estimator_`.")
        assert inspect.cleandoc(own.__doc__) in inspect.cleandoc(method.__doc__)


def test_only_the_methods_a_search_had_are_there():
    assert not hasattr(MultiTaskKernelRidgeCV, "predict_proba")
    assert not hasattr(MultiTaskLinearRegressorCV, "decision_function")
    assert not hasattr(MultiTaskLinearClassifierCV, "predict_log_proba")


def test_answers_are_those_of_best_estimator_():
    X, Y = _regression()
    search = MultiTaskKernelRidgeCV(alphas=(0.1, 1.0)).fit(X, Y)
    best = search.best_estimator_
    np.testing.assert_array_equal(search.predict(X), best.predict(X))
    task = np.arange(X.shape[0]) % 2
    np.testing.assert_array_equal(search.predict(X, task=task), best.predict(X, task=task))
    assert search.score(X, Y) == best.score(X, Y)
    Xc, Yc = _labels()
    clf = MultiTaskKernelClassifierCV(alphas=(0.1, 1.0), cv=2).fit(Xc, Yc)
    np.testing.assert_array_equal(clf.predict_log_proba(Xc),
                                  clf.best_estimator_.predict_log_proba(Xc))


@pytest.mark.parametrize("method", ["predict", "score"])
def test_refit_false_names_the_method_and_the_fix(method):
    X, Y = _regression()
    search = MultiTaskKernelRidgeCV(alphas=(0.1, 1.0), refit=False).fit(X, Y)
    args = (X,) if method == "predict" else (X, Y)
    with pytest.raises(AttributeError, match=rf"{method} is not available with "
                       r"refit=False.*MultiTaskKernelRidge\(\*\*best_params_\)"):
        getattr(search, method)(*args)


# A few alternating iterations are enough to compare the two fits.
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("params", [
    {"kernel": "linear", "solver": "primal"},
    {"kernel": "rbf"},
    {"kernel": "rbf", "task_structure": "low_rank", "max_iter": 5},
])
def test_a_fold_fit_is_the_classifiers_fit(params):
    X, Y = _labels()
    rows = np.arange(20)
    template = MultiTaskKernelClassifier(alpha=0.5, **params)
    fitted = clone(template).fit(X[rows], Y[rows])
    fold = _FoldFit(clone(template), X[rows], Y[rows], None)
    structure = resolve_task_structure(template.task_structure)
    est, _, _ = fold.fit(structure, template.task_structure, 0.5, None)
    for name in ("intercept_", "coef_", "dual_coef_", "task_structure_",
                 "skipped_tasks_"):
        if hasattr(fitted, name):
            np.testing.assert_allclose(getattr(est, name), getattr(fitted, name),
                                       rtol=1e-12, atol=1e-12, err_msg=name)
        else:
            assert not hasattr(est, name), name
    assert est.solver_info_.keys() == fitted.solver_info_.keys()
    np.testing.assert_array_equal(est.predict(X), fitted.predict(X))
