"""
Data sets and data layouts
==========================

Load the bundled School data in the long layout ``(X, y, task)``, convert it to
the wide layout ``(X, Y)`` used by every ``rkhsmtl`` estimator (NaN marks a
missing label) and back, split it per task as in the literature's 75/25 protocol,
and draw a synthetic problem with a known task structure.

Runs in about 5 s of CPU time at full size (and in small mode, which changes
nothing here); prints its results and draws two figures. Run as a script it
opens the figures in windows, or, without a display (matplotlib's ``Agg``
backend), saves them as ``plot_datasets_<n>.png`` in the current directory;
``--save-figures DIR`` saves them into ``DIR``.
"""

import argparse

import matplotlib.pyplot as plt
import numpy as np

from rkhsmtl.datasets import (
    load_school,
    long_to_wide,
    make_multitask_regression,
    train_test_split_per_task,
    wide_to_long,
)
from rkhsmtl.plotting import plot_task_structure

parser = argparse.ArgumentParser(description="Data sets and data layouts.")
parser.add_argument("--save-figures", metavar="DIR",
                    help="save the figures as PNG files into DIR")
args = parser.parse_args()

# %%
# The School data in the long layout
# ----------------------------------
# 139 schools are the tasks; there is one row per student, and ``task`` says which
# school the student's exam score ``y`` belongs to. The schools are of very
# different sizes, from about twenty students to about 250.
X, y, task = load_school()
sizes = np.bincount(task)
print(f"School: X {X.shape}, y {y.shape}, {sizes.size} tasks")
print(
    f"rows per task: min {sizes.min()}, median {np.median(sizes):.0f}, "
    f"max {sizes.max()}"
)

fig, ax = plt.subplots(figsize=(6, 3.2), layout="constrained")
ax.hist(sizes, bins=30, color="tab:blue")
ax.axvline(np.median(sizes), color="k", linestyle="--",
           label=f"median ({np.median(sizes):.0f})")
ax.set_xlabel("students per school (rows per task)")
ax.set_ylabel("number of schools")
ax.set_title("School: task sizes")
ax.legend()

# %%
# Long -> wide -> long
# --------------------
# The estimators take the *wide* layout: one column of ``Y`` per task, NaN where a
# row has no label for a task. In the School data every row (student) has exactly
# one observed task, so ``Y`` is 139 columns wide with one number per row. The
# conversion is lossless.
_, Y = long_to_wide(X, y, task)
print(f"wide Y {Y.shape}, observed entries per row: {np.unique((~np.isnan(Y)).sum(1))}")
X_long, y_long, task_long = wide_to_long(X, Y)
assert np.array_equal(y_long, y) and np.array_equal(task_long, task)
print("round trip long -> wide -> long reproduces (X, y, task)")

# %%
# The 75/25 per-task split
# ------------------------
# The literature's protocol splits every school's students 75 % / 25 %, so that
# each task keeps training and test rows; ``random_state`` numbers the splits
# (0..9 in the literature). Here split 0.
train, test = train_test_split_per_task(task, train_size=0.75, random_state=0)
n_train = np.bincount(task[train], minlength=sizes.size)
n_test = np.bincount(task[test], minlength=sizes.size)
print(f"split 0: {train.size} training rows, {test.size} test rows")
print("first five tasks (n_t, train, test):")
for t in range(5):
    print(f"  task {t:3d}: {sizes[t]:4d} {n_train[t]:4d} {n_test[t]:4d}")

# %%
# A synthetic problem with a known task structure
# -----------------------------------------------
# :func:`~rkhsmtl.datasets.make_multitask_regression` draws the task functions
# from the prior of the separable kernel ``k(x, x') A`` with a known task
# structure ``A``: here 8 tasks in 2 clusters, with 20 % of the labels missing
# (NaN in ``Y``).
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

# %%
# Left, which entries of ``Y`` are observed (first 40 rows): in this
# *homogeneous* layout a row may carry labels for several tasks. Right, the true
# ``A`` drawn by :func:`rkhsmtl.plotting.plot_task_structure` as task correlations
# ``A[s, t] / sqrt(A[s, s] A[t, t])``, in the given task order: two blocks of four
# tasks correlated 0.9, and no relation between the clusters.
fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4), layout="constrained",
                                  width_ratios=[1, 1.3])
left.imshow(~np.isnan(Y_syn[:40]).T, cmap="Greys", aspect="auto",
            interpolation="nearest")
left.set_xlabel("row of Y")
left.set_ylabel("task")
left.set_title("observed entries of Y (black)")
plot_task_structure(A, ax=right, reorder=False, title="true task structure A")
# sphinx_gallery_thumbnail_number = 2

# sphinx_gallery_start_ignore
# Run as a script (the gallery renders the figures of every cell itself and
# defines no __file__): show the figures, or save them where there is no display.
if "__file__" in globals():
    from rkhsmtl.plotting import show_or_save_figures

    show_or_save_figures("plot_datasets", args.save_figures)
# sphinx_gallery_end_ignore
