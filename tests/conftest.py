"""Test configuration.

The tests mirror the package: ``tests/solvers`` for ``rkhsmtl/_solvers``,
``tests/structure``, ``tests/linear``, ``tests/metrics``, ``tests/weighting`` and
``tests/datasets`` for the subpackages of the same names, and one file per top-level
module beside this one (``test_ridge.py``, ``test_memory.py``, ...); cross-cutting
checks (scikit-learn's common checks, array API, refits, docstrings, examples) stand
at the top level. ``reference.py`` holds the brute-force references (the stacked
Kronecker solve, the objectives) every solver test compares against.

SCIPY_ARRAY_API must be set before SciPy is imported for scikit-learn's array-API
common checks (array_api_strict, including its fake second device) to run.

The suite runs on every core through pytest-xdist (``-n auto`` in pyproject.toml);
each xdist worker then keeps one BLAS/OpenMP thread, so that two workers on two
cores do not spin four threads against each other.
"""

import os

os.environ.setdefault("SCIPY_ARRAY_API", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

if os.environ.get("PYTEST_XDIST_WORKER"):
    from threadpoolctl import threadpool_limits

    # Kept for the whole session (the object restores the limits when collected).
    _ONE_BLAS_THREAD = threadpool_limits(limits=1)


def _unusable_device(check):
    """Why a scikit-learn array-API check cannot run here: torch on CUDA without a
    usable GPU. scikit-learn yields the torch CUDA cases whenever torch was built
    with CUDA (as the PyPI wheels are), also on machines without a GPU or driver."""
    # The keywords name torch and "cuda" as plain values or in NamespaceAndDevice.
    keywords = repr(getattr(check, "keywords", {}))
    if "torch" not in keywords or "cuda" not in keywords:
        return None
    try:
        import torch
    except ImportError:
        return None  # the check skips itself without torch
    return None if torch.cuda.is_available() else "torch sees no usable CUDA device"


def pytest_runtest_setup(item):
    # Every parametrize_with_checks test (the common checks of each module).
    callspec = getattr(item, "callspec", None)
    check = callspec.params.get("check") if callspec is not None else None
    reason = _unusable_device(check) if check is not None else None
    if reason:
        pytest.skip(reason)


@pytest.fixture
def rng():
    return np.random.default_rng(0)
