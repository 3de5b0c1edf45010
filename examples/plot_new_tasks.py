"""
New tasks from their descriptors: zero-shot prediction and fold-in
==================================================================

Thirty synthetic regression tasks each come with a descriptor ``z_t`` (two
numbers, think of a school's intake statistics), and the task functions vary
smoothly with it (:func:`rkhsmtl.datasets.make_descriptor_tasks`). Six tasks are
held out: the model never sees them in training. The task structure is a kernel
on the descriptors (:class:`~rkhsmtl.structure.TaskDescriptorKernel`), so the
fitted model predicts a held-out task from its descriptor alone
(:meth:`~rkhsmtl.MultiTaskKernelRidge.predict_new_task`). We compare this
zero-shot prediction with the two answers that ignore the descriptors: one model
pooled over all training tasks, and the mean of the training tasks' predictions.

Then each held-out task reveals a handful of labels, and
:meth:`~rkhsmtl.MultiTaskKernelRidge.fold_in_task` adds it to the model without
refitting the others. We measure how far the fold-in is from the exact refit of
all tasks, and from a kernel ridge fitted on the new task's labels alone.

The error is the normalised mean squared error (test MSE over the variance of the
task's test labels, averaged over the held-out tasks; 1 is the error of
predicting the task's mean). Runs in a few seconds; draws two figures. Run as a
script it opens them in windows, or, without a display, saves them as
``plot_new_tasks_<n>.png``; ``--save-figures DIR`` saves them into ``DIR``.
"""

import argparse
import os

import matplotlib.pyplot as plt
import numpy as np
from sklearn.kernel_ridge import KernelRidge

from rkhsmtl import MultiTaskKernelRidge
from rkhsmtl.datasets import make_descriptor_tasks
from rkhsmtl.structure import TaskDescriptorKernel

parser = argparse.ArgumentParser(description="New tasks from their descriptors.")
parser.add_argument("--save-figures", metavar="DIR",
                    help="save the figures as PNG files into DIR")
args = parser.parse_args()
# The test suite (and the documentation build) runs every example with
# RKHSMTL_EXAMPLE_SMALL=1, on less data.
small = bool(os.environ.get("RKHSMTL_EXAMPLE_SMALL"))
n_tasks, n_new = 30, 6
n_per_task = 20 if small else 40

# %%
# The data
# --------
# Every row belongs to one task (the School layout). The descriptor kernel's
# ``gamma`` is that of the generator here; on real data, tune it with the other
# hyperparameters (``task_structure__gamma`` in a grid search).
X, Y, Z, _ = make_descriptor_tasks(
    n_samples=n_per_task * n_tasks, n_tasks=n_tasks, n_descriptors=2,
    descriptor_gamma=0.5, noise=0.2, heterogeneous=True, random_state=0)
rng = np.random.default_rng(0)
new = np.sort(rng.choice(n_tasks, size=n_new, replace=False))
old = np.setdiff1d(np.arange(n_tasks), new)
task = np.nanargmax(np.isfinite(Y), axis=1)
train_rows = np.isin(task, old)
X_train, Y_train = X[train_rows], Y[train_rows][:, old]


def nmse(y_true, y_pred):
    return float(np.mean((y_true - y_pred) ** 2) / np.var(y_true))


alpha, gamma = 0.05, 1.0 / 3
structure = TaskDescriptorKernel(Z[old], gamma=0.5, identity=0.05)
model = MultiTaskKernelRidge(alpha, gamma=gamma, task_structure=structure)
model.fit(X_train, Y_train)
pooled = MultiTaskKernelRidge(alpha, gamma=gamma, task_structure="pooled")
pooled.fit(X_train, Y_train)

# %%
# Zero-shot: the held-out tasks from their descriptors alone
# ------------------------------------------------------------
errors = {"zero-shot (descriptors)": [], "pooled model": [],
          "mean of the other tasks": []}
for t in new:
    rows = task == t
    y = Y[rows, t]
    errors["zero-shot (descriptors)"].append(
        nmse(y, model.predict_new_task(X[rows], Z[t])))
    errors["pooled model"].append(nmse(y, pooled.predict(X[rows])[:, 0]))
    errors["mean of the other tasks"].append(
        nmse(y, model.predict(X[rows]).mean(axis=1)))
for name, values in errors.items():
    print(f"{name:<26} nMSE on the held-out tasks: {np.mean(values):.3f}")

# %%
# Fold-in: a handful of labels of each new task
# ---------------------------------------------
# The new task's first ``k`` rows are labelled; the rest are its test rows. The
# exact refit fits all 25 + 1 tasks again on the extended data (the folded-in
# model's ``task_structure`` already describes them).
counts = [1, 2, 4, 8] if small else [1, 2, 4, 8, 16]
curves = {"zero-shot": [], "fold-in": [], "exact refit": [],
          "the new task alone": []}
gap = []
for k in counts:
    per_method = {name: [] for name in curves}
    gap_k = []
    for t in new:
        rows = np.flatnonzero(task == t)
        labelled, test = rows[:k], rows[k:]
        y_test = Y[test, t]
        folded = model.fold_in_task(X[labelled], Y[labelled, t], Z[t])
        Y_ext = np.full((X_train.shape[0] + k, n_tasks - n_new + 1), np.nan)
        Y_ext[:X_train.shape[0], :-1] = Y_train
        Y_ext[X_train.shape[0]:, -1] = Y[labelled, t]
        refit = MultiTaskKernelRidge(alpha, gamma=gamma,
                                     task_structure=folded.task_structure)
        refit.fit(np.vstack([X_train, X[labelled]]), Y_ext)
        alone = KernelRidge(alpha=alpha, kernel="rbf", gamma=gamma)
        alone.fit(X[labelled], Y[labelled, t])
        pred_fold = folded.predict(X[test])[:, -1]
        pred_refit = refit.predict(X[test])[:, -1]
        per_method["zero-shot"].append(nmse(y_test, model.predict_new_task(X[test], Z[t])))
        per_method["fold-in"].append(nmse(y_test, pred_fold))
        per_method["exact refit"].append(nmse(y_test, pred_refit))
        per_method["the new task alone"].append(nmse(y_test, alone.predict(X[test])))
        gap_k.append(np.sqrt(np.mean((pred_fold - pred_refit) ** 2) / np.var(y_test)))
    for name, values in per_method.items():
        curves[name].append(np.mean(values))
    gap.append(np.mean(gap_k))
    print(f"k = {k:>2} labels: " + ", ".join(
        f"{name} {curves[name][-1]:.3f}" for name in curves)
        + f"; fold-in vs refit, RMS difference / std {gap[-1]:.4f}")

# %%
# Figures
# -------
# Left: the descriptors of the training and the held-out tasks. Right: the error
# on the held-out tasks of each zero-shot answer.
fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(10, 4), layout="constrained")
ax0.scatter(*Z[old].T, label="training tasks", color="0.5")
ax0.scatter(*Z[new].T, label="held-out tasks", color="C3", marker="*", s=120)
ax0.set_xlabel("descriptor 1")
ax0.set_ylabel("descriptor 2")
ax0.legend()
ax0.set_title("task descriptors")
names = list(errors)
ax1.bar(range(len(names)), [np.mean(errors[n]) for n in names],
        color=["C0", "C1", "C2"])
ax1.set_xticks(range(len(names)), [n.replace(" (", "\n(") for n in names])
ax1.set_ylabel("nMSE on the held-out tasks")
ax1.set_title("tasks never seen in training")

# %%
# The error of a new task against the number of its labels: the fold-in follows
# the exact refit closely, and both start from the zero-shot prediction where a
# model of the new task alone starts from nothing.
fig, ax = plt.subplots(figsize=(6, 4), layout="constrained")
for (name, values), marker in zip(curves.items(), "os^v", strict=True):
    ax.plot(counts, values, marker=marker, label=name)
ax.set_xscale("log", base=2)
ax.set_xlabel("labels of the new task")
ax.set_ylabel("nMSE on its other rows")
ax.set_ylim(0, 1.5)
ax.legend()
ax.set_title("adding a task with a few labels")

# sphinx_gallery_start_ignore
# Run as a script (the gallery renders the figures of every cell itself and
# defines no __file__): show the figures, or save them where there is no display.
if "__file__" in globals():
    from rkhsmtl.plotting import show_or_save_figures

    show_or_save_figures("plot_new_tasks", args.save_figures)
# sphinx_gallery_end_ignore
