"""
Data sets and data layouts
==========================

Load the bundled School data in the long layout ``(X, y, task)``, convert it to
the wide layout ``(X, Y)`` used by every ``rkhsmtl`` estimator (NaN marks a
missing label) and back, split it per task as in the literature's 75/25 protocol,
and draw a synthetic problem with a known task structure.

Runs headless in a few seconds; prints its results (no figure).
"""

import numpy as np

from rkhsmtl.datasets import (
    load_school,
    long_to_wide,
    make_multitask_regression,
    train_test_split_per_task,
    wide_to_long,
)

# %%
# School data: 139 schools (tasks), one row per student.
X, y, task = load_school()
sizes = np.bincount(task)
print(f"School: X {X.shape}, y {y.shape}, {sizes.size} tasks")
print(
    f"rows per task: min {sizes.min()}, median {np.median(sizes):.0f}, "
    f"max {sizes.max()}"
)

# %%
# Long -> wide -> long. In the wide layout every row has one observed task.
_, Y = long_to_wide(X, y, task)
print(f"wide Y {Y.shape}, observed entries per row: {np.unique((~np.isnan(Y)).sum(1))}")
X_long, y_long, task_long = wide_to_long(X, Y)
assert np.array_equal(y_long, y) and np.array_equal(task_long, task)
print("round trip long -> wide -> long reproduces (X, y, task)")

# %%
# The 75/25 per-task split, split number 0 of 0..9.
train, test = train_test_split_per_task(task, train_size=0.75, random_state=0)
n_train = np.bincount(task[train], minlength=sizes.size)
n_test = np.bincount(task[test], minlength=sizes.size)
print(f"split 0: {train.size} training rows, {test.size} test rows")
print("first five tasks (n_t, train, test):")
for t in range(5):
    print(f"  task {t:3d}: {sizes[t]:4d} {n_train[t]:4d} {n_test[t]:4d}")

# %%
# A synthetic problem: 8 tasks in 2 clusters, 20 % of the labels missing.
X_syn, Y_syn, A = make_multitask_regression(
    n_samples=200,
    n_features=5,
    n_tasks=8,
    n_clusters=2,
    missing_fraction=0.2,
    random_state=0,
)
print(
    f"synthetic: X {X_syn.shape}, Y {Y_syn.shape}, "
    f"{np.isnan(Y_syn).mean():.0%} missing, true task structure {A.shape}"
)
with np.printoptions(precision=1, suppress=True):
    print(A)
