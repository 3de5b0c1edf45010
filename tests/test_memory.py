"""Settings: the memory budget and the row-block size have one owner."""

import threading

import numpy as np
import pytest
import sklearn

import rkhsmtl
from rkhsmtl import MultiTaskKernelRidge
from rkhsmtl._memory import (
    available_memory_bytes,
    eigendecomposition_bytes,
    memory_budget,
    row_block,
)
from rkhsmtl.exceptions import MemoryBudgetError


def test_config_context_sets_and_restores():
    before = rkhsmtl.get_config()
    with rkhsmtl.config_context(memory_limit=1e6, working_memory=1):
        assert rkhsmtl.get_config()["memory_limit"] == 1e6
        assert available_memory_bytes() <= 1e6
        assert memory_budget() == pytest.approx(0.9 * available_memory_bytes())
        assert row_block(1024) == 2**20 // (8 * 1024)
    assert rkhsmtl.get_config() == before


def test_set_config_is_thread_local_and_validated():
    with rkhsmtl.config_context():
        rkhsmtl.set_config(working_memory=2)
        assert rkhsmtl.get_config()["working_memory"] == 2
        seen = {}
        thread = threading.Thread(
            target=lambda: seen.update(rkhsmtl.get_config()))
        thread.start()
        thread.join()
        assert seen["working_memory"] == 64
    for bad in (0, -1.0, "1GB", True):
        with pytest.raises(ValueError, match="positive number"):
            rkhsmtl.set_config(memory_limit=bad)


def test_environment_variable_is_the_default_limit(monkeypatch):
    monkeypatch.setenv("RKHSMTL_MEMORY_LIMIT", "5000")
    assert rkhsmtl.get_config()["memory_limit"] == 5000
    with rkhsmtl.config_context(memory_limit=7000):
        assert available_memory_bytes() == 7000


def test_scikit_learn_working_memory_is_honoured():
    with sklearn.config_context(working_memory=1):
        assert row_block(1024) == 2**20 // (8 * 1024)
    assert row_block(1024) == 64 * 2**20 // (8 * 1024)
    assert row_block(10**12) == 1


def test_memory_limit_reaches_the_solvers():
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((60, 2)), rng.standard_normal((60, 2))
    need = eigendecomposition_bytes(60)
    with rkhsmtl.config_context(memory_limit=need / 2):
        with pytest.raises(MemoryBudgetError, match=r"set_config.*solver='cg'"):
            MultiTaskKernelRidge(solver="eig").fit(X, Y)
    MultiTaskKernelRidge(solver="eig").fit(X, Y)


def test_memory_budget_error_is_public_and_a_memory_error():
    from rkhsmtl._backend import MemoryBudgetError as former_home

    assert former_home is MemoryBudgetError
    assert issubclass(MemoryBudgetError, MemoryError)
