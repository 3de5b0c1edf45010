"""Test configuration.

SCIPY_ARRAY_API must be set before SciPy is imported for scikit-learn's array-API
common checks (array_api_strict, including its fake second device) to run.
"""

import os

os.environ.setdefault("SCIPY_ARRAY_API", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture
def rng():
    return np.random.default_rng(0)
