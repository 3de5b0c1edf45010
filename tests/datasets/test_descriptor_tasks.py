"""make_descriptor_tasks: the documented construction, and what it is for."""

import numpy as np
import pytest
from sklearn.metrics.pairwise import rbf_kernel

from rkhsmtl.datasets import make_descriptor_tasks


def test_shapes_determinism_and_structure():
    X, Y, Z, A = make_descriptor_tasks(40, 2, 7, n_descriptors=3, shared=0.25,
                                       descriptor_gamma=0.4, random_state=0)
    assert X.shape == (40, 2) and Y.shape == (40, 7) and Z.shape == (7, 3)
    np.testing.assert_allclose(A, 0.25 + 0.75 * rbf_kernel(Z, gamma=0.4), atol=1e-14)
    np.testing.assert_allclose(np.diag(A), 1.0)
    assert np.all(np.isfinite(Y))
    again = make_descriptor_tasks(40, 2, 7, n_descriptors=3, shared=0.25,
                                  descriptor_gamma=0.4, random_state=0)
    for a, b in zip((X, Y, Z, A), again, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.allclose(Y, make_descriptor_tasks(40, 2, 7, random_state=1)[1])


def test_functions_vary_smoothly_with_the_descriptor():
    # Noise-free functions of many inputs: tasks with close descriptors are
    # more correlated than tasks with distant ones, as A says.
    X, Y, Z, A = make_descriptor_tasks(2000, 2, 12, noise=0.0, random_state=0)
    corr = np.corrcoef(Y.T)
    close, far = A > 0.8, A < 0.1
    np.fill_diagonal(close, False)
    assert close.any() and far.any()
    assert corr[close].mean() > 0.6 > 0.3 > np.abs(corr[far]).mean()


def test_heterogeneous_layout():
    _, Y, _, _ = make_descriptor_tasks(60, 2, 6, heterogeneous=True, random_state=0)
    observed = np.isfinite(Y)
    assert np.all(observed.sum(axis=1) == 1)
    assert np.all(observed.sum(axis=0) == 10)


@pytest.mark.parametrize("kwargs, match", [
    ({"n_tasks": 0}, "n_tasks must be >= 1"),
    ({"n_descriptors": 0}, "n_descriptors must be >= 1"),
    ({"shared": 1.5}, "shared must be in"),
    ({"descriptor_gamma": 0.0}, "descriptor_gamma must be in"),
    ({"heterogeneous": 1}, "heterogeneous must be a bool"),
    ({"n_samples": 10, "n_tasks": 6, "heterogeneous": True}, "n_samples >= 2 \\* n_tasks"),
])
def test_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_descriptor_tasks(**kwargs)
