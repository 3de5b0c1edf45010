"""
Large data: Nyström and random features, streaming and Dask
===========================================================

:class:`rkhsmtl.MultiTaskKernelRidge` with ``approximation="nystrom"`` or
``"rff"`` replaces the ``n x n`` kernel matrix by ``n_components`` explicit
features and solves from statistics summed over chunks of rows (see the user
guide's "Large data" page). This script compares the exact fit with both
approximations, shows that every training row as a Nyström centre gives the
exact model, streams a memory-mapped file through ``partial_fit``, and fits on a
Dask array when Dask is installed.

Runs in about 20 s of CPU time at full size (6 000 samples, most of it the exact
fit); prints its results as it goes (no figure).
"""

import os
import tempfile
import time

import numpy as np

from rkhsmtl import MultiTaskKernelRidge
from rkhsmtl.datasets import make_multitask_regression

# The test suite (and the documentation build) runs every example with
# RKHSMTL_EXAMPLE_SMALL=1, on less data.
small = bool(os.environ.get("RKHSMTL_EXAMPLE_SMALL"))
n_samples = 1500 if small else 6000

# %%
# Eight related tasks with a fifth of the labels missing; the last quarter of the
# rows is held out.
X, Y, _ = make_multitask_regression(n_samples=n_samples, n_features=5, n_tasks=8,
                                    missing_fraction=0.2, gamma=0.2, random_state=0)
n_train = 3 * n_samples // 4
X_train, Y_train, X_test, Y_test = X[:n_train], Y[:n_train], X[n_train:], Y[n_train:]
params = dict(alpha=0.1, gamma=0.2, task_structure="mean_regularized")


def report(name, model, seconds):
    print(f"{name:28s} test R^2 {model.score(X_test, Y_test):.4f}   "
          f"fit {seconds:5.2f} s   solver_={model.solver_!r}")


# %%
# Exact fit and two approximations
# --------------------------------
# The exact fit holds the kernel matrix of the training rows; the approximate ones
# hold ``n_components x n_components`` matrices (one per task here, as labels are
# missing) whatever the number of rows.
for name, extra in [("exact", {}),
                    ("nystrom, 300 centres", dict(approximation="nystrom",
                                                  n_components=300)),
                    ("nystrom, leverage sampling", dict(approximation="nystrom",
                                                        n_components=300,
                                                        nystrom_sampling="leverage")),
                    ("random features, 600", dict(approximation="rff",
                                                  n_components=600))]:
    start = time.perf_counter()
    model = MultiTaskKernelRidge(**params, random_state=0, **extra).fit(X_train,
                                                                       Y_train)
    report(name, model, time.perf_counter() - start)

# %%
# Every row a centre is the exact model
# -------------------------------------
# With as many Nyström centres as training rows the feature map reproduces the
# kernel, and the approximate fit is the exact one up to rounding.
subset = slice(0, 300)
exact = MultiTaskKernelRidge(**params).fit(X_train[subset], Y_train[subset])
full_rank = MultiTaskKernelRidge(**params, approximation="nystrom", n_components=300,
                                 random_state=0).fit(X_train[subset], Y_train[subset])
gap = np.max(np.abs(exact.predict(X_test) - full_rank.predict(X_test)))
print(f"300 rows, 300 centres: largest prediction difference to the exact fit "
      f"{gap:.1e}")

# %%
# Streaming a file with partial_fit
# ---------------------------------
# The rows are written to disk and read back as memory-mapped arrays; each call to
# ``partial_fit`` adds the statistics of one chunk. The Nyström centres come from
# the first chunk, a random sample of the rows.
with tempfile.TemporaryDirectory() as folder:
    np.save(os.path.join(folder, "X.npy"), X_train)
    np.save(os.path.join(folder, "Y.npy"), Y_train)
    X_disk = np.load(os.path.join(folder, "X.npy"), mmap_mode="r")
    Y_disk = np.load(os.path.join(folder, "Y.npy"), mmap_mode="r")
    streamed = MultiTaskKernelRidge(**params, approximation="nystrom",
                                    n_components=300, random_state=0)
    order = np.random.default_rng(0).permutation(n_train)
    start = time.perf_counter()
    n_chunks = 3 if small else 5  # the first chunk holds at least 300 rows
    for rows in np.array_split(order, n_chunks):
        rows = np.sort(rows)
        streamed.partial_fit(X_disk[rows], Y_disk[rows])
    report(f"partial_fit, {n_chunks} chunks", streamed, time.perf_counter() - start)
    print(f"  rows seen: {streamed.solver_info_['n_samples_seen']}")
    del X_disk, Y_disk  # release the files before the folder is removed

# %%
# Dask arrays
# -----------
# A Dask array is reduced block by block (on a cluster when a
# ``dask.distributed.Client`` is active, here on Dask's local threads) and the fitted
# model is an ordinary in-memory estimator, equal to the in-memory fit.
try:
    import dask.array as da
except ImportError:
    print("Dask is not installed: skipping the Dask fit.")
else:
    dask_params = dict(params, approximation="rff", n_components=600, random_state=0)
    start = time.perf_counter()
    on_dask = MultiTaskKernelRidge(**dask_params).fit(
        da.from_array(X_train, chunks=n_train // 4),
        da.from_array(Y_train, chunks=(n_train // 4, -1)))
    report("random features on Dask", on_dask, time.perf_counter() - start)
    in_memory = MultiTaskKernelRidge(**dask_params).fit(X_train, Y_train)
    gap = np.max(np.abs(on_dask.predict(X_test) - in_memory.predict(X_test)))
    print(f"  largest difference to the in-memory fit {gap:.1e}")
