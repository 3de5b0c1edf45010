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

Runs headless in a few seconds; prints its results.
"""

import os

import numpy as np

from rkhsmtl import MultiTaskKernelRidge
from rkhsmtl._backend import MemoryBudgetError
from rkhsmtl.datasets import make_multitask_regression
from rkhsmtl.structure import Graph

n_samples = 100 if os.environ.get("RKHSMTL_EXAMPLE_SMALL") else 600

X, Y, _ = make_multitask_regression(n_samples=n_samples, n_tasks=6, n_clusters=2,
                                    random_state=0)
structure = Graph("chain", strength=1.0)


def fit(Y, solver, **params):
    return MultiTaskKernelRidge(alpha=0.5, task_structure=structure, solver=solver,
                                **params).fit(X, Y)


# %%
# Complete targets: every solver gives the same coefficients.
reference = fit(Y, "eig").dual_coef_
for solver in ("cholesky", "cg"):
    options = {"tol": 1e-10} if solver == "cg" else None
    C = fit(Y, solver, solver_options=options).dual_coef_
    err = np.linalg.norm(C - reference) / np.linalg.norm(reference)
    print(f"complete Y, solver={solver!r}: relative difference to 'eig' {err:.1e}")

# %%
# A third of the labels missing: the observed-entries system, exactly or by CG.
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
# Heterogeneous data: each row belongs to one task (as in the School data).
task = rng.integers(0, 6, size=n_samples)
Y_hetero = np.full_like(Y, np.nan)
Y_hetero[np.arange(n_samples), task] = Y[np.arange(n_samples), task]
model = fit(Y_hetero, "auto")
print(f"one label per row: solver {model.solver_!r}, "
      f"{model.solver_info_['n_observed']} observed entries")

# %%
# The memory guard: with a budget of 1 MiB (RKHSMTL_MEMORY_LIMIT, in bytes) the
# exact solver refuses before allocating, and says what to do instead.
os.environ["RKHSMTL_MEMORY_LIMIT"] = str(2**20)
try:
    fit(Y_missing, "cholesky")
except MemoryBudgetError as exc:
    print("MemoryBudgetError:", exc)
finally:
    del os.environ["RKHSMTL_MEMORY_LIMIT"]
