"""scikit-learn's common estimator checks.

Run with SCIPY_ARRAY_API=1 (set in conftest.py) so that the array-API checks
(array_api_strict on CPU and on its second device, float32 and float64) run too.
No check is expected to fail.
"""

from sklearn.utils.estimator_checks import parametrize_with_checks

from rkhsmtl import MultiTaskKernelRidge

ESTIMATORS = [
    MultiTaskKernelRidge(),
    MultiTaskKernelRidge(kernel="linear", task_structure="mean_regularized",
                         solver="eig"),
    MultiTaskKernelRidge(task_structure="chain", solver="cg",
                         solver_options={"tol": 1e-10}),
    MultiTaskKernelRidge(kernel="precomputed", task_structure="pooled"),
]


def expected_failed_checks(estimator):
    return {}


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=expected_failed_checks)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
