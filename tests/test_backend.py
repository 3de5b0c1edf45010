"""Backend shims: blocked Cholesky, memory queries, namespaces."""

import array_api_compat.numpy as xnp
import numpy as np
import pytest
import scipy.linalg

from rkhsmtl import _backend
from rkhsmtl._backend import (
    _blocked_cholesky_numpy,
    cholesky,
    resolve_compute_namespace,
)
from rkhsmtl._memory import available_memory_bytes, check_memory
from rkhsmtl.exceptions import MemoryBudgetError


def _spd(n, seed=0):
    B = np.random.default_rng(seed).standard_normal((n, n))
    return B @ B.T + n * np.eye(n)


@pytest.mark.parametrize("n,block", [(50, 7), (64, 16), (33, 64), (100, 100)])
def test_blocked_cholesky_equals_lapack(n, block):
    M = _spd(n)
    L = _blocked_cholesky_numpy(M.copy(), block=block)
    assert np.allclose(L, np.tril(L))
    assert np.allclose(L, scipy.linalg.cholesky(M, lower=True), rtol=1e-10, atol=1e-10)


def test_large_matrices_take_the_blocked_path(monkeypatch):
    calls = []
    real = _backend._blocked_cholesky_numpy
    monkeypatch.setattr(_backend, "_BLOCKED_CHOLESKY_MIN_SIZE", 40)
    monkeypatch.setattr(_backend, "_blocked_cholesky_numpy",
                        lambda a: calls.append(a.shape) or real(a, block=16))
    M = _spd(60)
    L = cholesky(M, xnp)
    assert calls == [(60, 60)]
    assert np.allclose(L @ L.T, M)
    assert np.allclose(M, _spd(60))  # not overwritten without overwrite_a


def test_blocked_cholesky_reports_indefinite_matrix():
    M = _spd(30)
    M[20, 20] = -1e3
    with pytest.raises(np.linalg.LinAlgError, match="not positive definite"):
        _blocked_cholesky_numpy(M, block=8)


def test_memory_limit_environment_variable(monkeypatch):
    monkeypatch.setenv("RKHSMTL_MEMORY_LIMIT", "1000")
    assert available_memory_bytes() == 1000
    with pytest.raises(MemoryBudgetError, match=r"needs 2\.0 KiB .* Try less"):
        check_memory(2000, "A thing", "Try less.")
    monkeypatch.delenv("RKHSMTL_MEMORY_LIMIT")
    assert available_memory_bytes() > 2**20


def test_resolve_compute_namespace():
    assert resolve_compute_namespace("cpu", xnp) is xnp
    with pytest.raises(ValueError, match="device must be"):
        resolve_compute_namespace("tpu", xnp)


def test_gpu_without_cupy_names_an_installable_package(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "cupy", None)
    with pytest.raises(ImportError, match=r"cupy-cuda12x.*device='cpu'"):
        resolve_compute_namespace("gpu", xnp)
