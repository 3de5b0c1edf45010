"""
Choosing a task structure
=========================

Twelve synthetic regression tasks in three clusters of related tasks, with a third
of the labels missing. We fit :class:`rkhsmtl.MultiTaskKernelRidge` with the fixed
task structures of :mod:`rkhsmtl.structure` (independent tasks, one pooled
function, tasks pulled to their common mean, a chain graph, the known clusters),
look at the task-structure matrix ``A`` each of them uses, and tune the strength
of the mean-regularised pull with ``GridSearchCV`` through
``task_structure__strength``. The score is R² on the observed test labels, per
task and averaged over tasks.

Runs in about 10 s of CPU time at full size (400 samples); prints a line per
model as it is fitted and draws three figures. Run as a script it opens the
figures in windows, or, without a display (matplotlib's ``Agg`` backend), saves
them as ``plot_task_structures_<n>.png`` in the current directory;
``--save-figures DIR`` saves them into ``DIR``.
"""

import argparse
import os

import matplotlib.pyplot as plt
import numpy as np
from sklearn.model_selection import GridSearchCV, train_test_split

from rkhsmtl import MultiTaskKernelRidge
from rkhsmtl.datasets import make_multitask_regression
from rkhsmtl.metrics import r2_score
from rkhsmtl.plotting import plot_task_structure
from rkhsmtl.structure import Clusters, Graph, MeanRegularized

parser = argparse.ArgumentParser(description="Choosing a task structure.")
parser.add_argument("--save-figures", metavar="DIR",
                    help="save the figures as PNG files into DIR")
args = parser.parse_args()
# The test suite (and the documentation build) runs every example with
# RKHSMTL_EXAMPLE_SMALL=1, on less data.
n_samples = 120 if os.environ.get("RKHSMTL_EXAMPLE_SMALL") else 400

# %%
# The data
# --------
# Three clusters of four tasks; within a cluster the task functions are 0.9
# correlated. Few labels per task and noise make sharing worthwhile.
X, Y, true_structure = make_multitask_regression(
    n_samples=n_samples, n_features=4, n_tasks=12, n_clusters=3, noise=0.5,
    missing_fraction=0.3, random_state=0,
)
X_train, X_test, Y_train, Y_test = train_test_split(X, Y, test_size=0.5,
                                                    random_state=0)
clusters = (np.arange(12) * 3) // 12  # the generator's contiguous clusters

structures = {
    "independent": "independent",
    "pooled": "pooled",
    "mean-regularised": MeanRegularized(strength=2.0),
    "chain graph": Graph("chain", strength=2.0),
    "known clusters": Clusters(clusters, strength=10.0),
}

# %%
# One fit per fixed structure
# ---------------------------
# Every model uses the same RBF kernel and ``alpha``; only ``task_structure``
# changes. A fixed structure is a single exact solve (the solver is chosen
# automatically).
models = {}
print(f"{'task structure':<18} {'test mean R2':>12}  solver")
for name, structure in structures.items():
    model = MultiTaskKernelRidge(alpha=1.0, kernel="rbf", gamma=0.2,
                                 task_structure=structure)
    model.fit(X_train, Y_train)
    models[name] = model
    print(f"{name:<18} {model.score(X_test, Y_test):>12.3f}  {model.solver_}",
          flush=True)

# %%
# What each structure assumes
# ---------------------------
# The matrix ``A`` each model used (``task_structure_``), drawn as task
# correlations in the given task order, next to the true structure of the data.
# Independent tasks share nothing (``A = I``), pooling makes all tasks one, the
# mean-regularised structure relates every pair of tasks equally, the chain graph
# relates neighbouring tasks (here it happens to match the contiguous clusters
# only partly: it also links the last task of a cluster with the first of the
# next), and the known clusters reproduce the true blocks.
fig, axes = plt.subplots(2, 3, figsize=(12, 7.5), layout="constrained")
plot_task_structure(true_structure, ax=axes[0, 0], reorder=False,
                    title="true structure of the data", colorbar=False)
for ax, (name, model) in zip(axes.flat[1:], models.items(), strict=True):
    plot_task_structure(model, ax=ax, reorder=False, title=name,
                        colorbar=name == "known clusters")

# %%
# Per-task scores
# ---------------
# The mean hides how the tasks fare one by one: R² of every task on its observed
# test labels (:func:`rkhsmtl.metrics.r2_score` with ``average=None``). Pooling
# forces one function on three unrelated clusters and loses on most tasks; between
# the other structures the differences are small at this sample size and change
# from task to task.
per_task = {name: r2_score(Y_test, model.predict(X_test), average=None)
            for name, model in models.items()}
fig, ax = plt.subplots(figsize=(9, 4), layout="constrained")
tasks = np.arange(Y.shape[1])
for i, (name, scores) in enumerate(per_task.items()):
    ax.plot(tasks + 0.1 * (i - 2), scores, "o", label=name)
ax.set_xticks(tasks)
ax.set_xlabel("task")
ax.set_ylabel("test R² of the task")
ax.set_title("per-task test R²")
fig.legend(loc="outside lower center", ncols=len(per_task))
ax.grid(axis="y", alpha=0.3)

# %%
# Tuning the strength of the pull towards the mean
# ------------------------------------------------
# ``alpha`` and the strength of the mean-regularised structure are tuned together
# by cross-validation; ``score`` ignores the missing labels of each validation
# fold. A strength of 0 gives independent tasks, a large one approaches pooling.
search = GridSearchCV(
    MultiTaskKernelRidge(kernel="rbf", gamma=0.2, task_structure=MeanRegularized()),
    {"alpha": [0.1, 1.0, 10.0], "task_structure__strength": [0.0, 1.0, 10.0, 100.0]},
    cv=3,
)
search.fit(X_train, Y_train)
print("best parameters:", search.best_params_)
print(f"tuned mean-regularised: test mean R2 {search.score(X_test, Y_test):.3f}")

# %%
# The cross-validated score over the grid: one curve per ``alpha``.
results = search.cv_results_
strengths = np.array(search.param_grid["task_structure__strength"])
fig, ax = plt.subplots(figsize=(6, 3.8), layout="constrained")
for alpha in search.param_grid["alpha"]:
    rows = np.flatnonzero(np.asarray(results["param_alpha"]) == alpha)
    order = np.argsort(np.asarray(results["param_task_structure__strength"])[rows])
    rows = rows[order]
    ax.errorbar(strengths, results["mean_test_score"][rows],
                yerr=results["std_test_score"][rows], marker="o", capsize=3,
                label=f"alpha = {alpha:g}")
ax.set_xscale("symlog", linthresh=1.0)
ax.set_xlabel("task_structure__strength (0: independent tasks)")
ax.set_ylabel("cross-validated mean R²")
ax.set_title("GridSearchCV of the mean-regularised structure")
ax.legend()

# sphinx_gallery_start_ignore
# Run as a script (the gallery renders the figures of every cell itself and
# defines no __file__): show the figures, or save them where there is no display.
if "__file__" in globals():
    from rkhsmtl.plotting import show_or_save_figures

    show_or_save_figures("plot_task_structures", args.save_figures)
# sphinx_gallery_end_ignore
