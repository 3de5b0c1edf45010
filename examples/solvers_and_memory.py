"""
Solvers, missing labels and the memory guard
============================================

:class:`rkhsmtl.MultiTaskKernelRidge` solves one exact problem with several
solvers (see the user guide): an eigendecomposition ("eig") or one Cholesky per
distinct eigenvalue of ``A`` ("cholesky") for complete targets, the system on the
observed entries ("cholesky") or matrix-free conjugate gradients ("cg") when labels
are missing. This script checks that they agree, fits heterogeneous data (one task
per row) and shows the error raised before a system too large for memory is
allocated.

Runs in about 5 s of CPU time at full size (600 samples); prints its results as
it goes (the numbers are the whole point here, so there is no figure).
"""

import os

import numpy as np

import rkhsmtl
from rkhsmtl import MultiTaskKernelRidge
from rkhsmtl.datasets import make_multitask_regression
from rkhsmtl.exceptions import MemoryBudgetError
from rkhsmtl.structure import Graph

# The test suite (and the documentation build) runs every example with
# RKHSMTL_EXAMPLE_SMALL=1, on less data.
n_samples = 100 if os.environ.get("RKHSMTL_EXAMPLE_SMALL") else 600

# %%
# Six tasks in two clusters, related by a chain graph; ``fit`` selects the solver.
X, Y, _ = make_multitask_regression(n_samples=n_samples, n_tasks=6, n_clusters=2,
                                    random_state=0)
structure = Graph("chain", strength=1.0)


def fit(Y, solver, **params):
    return MultiTaskKernelRidge(alpha=0.5, task_structure=structure, solver=solver,
                                **params).fit(X, Y)


# %%
# Complete targets
# ----------------
# Every solver gives the same dual coefficients, up to the tolerance of CG.
reference = fit(Y, "eig").dual_coef_
for solver in ("cholesky", "cg"):
    options = {"tol": 1e-10} if solver == "cg" else None
    C = fit(Y, solver, solver_options=options).dual_coef_
    err = np.linalg.norm(C - reference) / np.linalg.norm(reference)
    print(f"complete Y, solver={solver!r}: relative difference to 'eig' {err:.1e}")

# %%
# Missing labels
# --------------
# With a third of the labels missing (NaN), the problem lives on the observed
# entries only: solved exactly by a Cholesky factorisation of that system, or by
# conjugate gradients, which never forms it.
rng = np.random.default_rng(0)
Y_missing = Y.copy()
Y_missing[rng.random(Y.shape) < 0.3] = np.nan
exact = fit(Y_missing, "cholesky")
iterative = fit(Y_missing, "cg", solver_options={"tol": 1e-10})
err = np.linalg.norm(iterative.dual_coef_ - exact.dual_coef_) / np.linalg.norm(
    exact.dual_coef_)
print(f"30% missing: cg vs cholesky relative difference {err:.1e} "
      f"({iterative.solver_info_['n_iter']} CG iterations)")

# %%
# Heterogeneous data
# ------------------
# Each row belongs to one task (as in the School data): the observed-entries
# system has one unknown per row, and ``solver="auto"`` picks accordingly.
task = rng.integers(0, 6, size=n_samples)
Y_hetero = np.full_like(Y, np.nan)
Y_hetero[np.arange(n_samples), task] = Y[np.arange(n_samples), task]
model = fit(Y_hetero, "auto")
print(f"one label per row: solver {model.solver_!r}, "
      f"{model.solver_info_['n_observed']} observed entries")

# %%
# The memory guard
# ----------------
# With a budget of 1 MiB (``memory_limit``, in bytes, set for a block of code with
# :func:`rkhsmtl.config_context`; the ``RKHSMTL_MEMORY_LIMIT`` environment variable
# gives its default) the exact solver refuses before allocating, and says what to
# do instead. The error is a :class:`rkhsmtl.exceptions.MemoryBudgetError`, a
# :class:`MemoryError`.
with rkhsmtl.config_context(memory_limit=2**20):
    try:
        fit(Y_missing, "cholesky")
    except MemoryBudgetError as exc:
        print(f"{type(exc).__name__}: {exc}")
