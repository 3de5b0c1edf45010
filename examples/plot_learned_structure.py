"""
Learning the task structure
===========================

Twelve synthetic regression tasks form three clusters of related tasks, but the
model is not told which: the tasks come in a random order and a third of the labels
are missing. Instead of fixing the task-structure matrix ``A`` we learn it together
with the kernel coefficients (alternating minimisation, Ciliberto et al. 2015) with
the learned structures of :mod:`rkhsmtl.structure`: a shared low-rank subspace
(:class:`~rkhsmtl.structure.LowRank`), output kernel learning
(:class:`~rkhsmtl.structure.OutputKernel`), the cluster norm with three clusters
(:class:`~rkhsmtl.structure.ClusteredNorm`) and task-relation learning
(:class:`~rkhsmtl.structure.TaskRelation`), against independent tasks.

For each we print the test score (mean over tasks of R² on the observed test
labels) and the number of alternating iterations, then check whether the learned
``A`` reveals the clusters: spectral clustering of the tasks on the absolute
correlations of ``A`` is compared with the true clusters by the adjusted Rand index
(1 = the same partition, about 0 = chance). The figures show the true and the
learned structures (tasks reordered by :func:`rkhsmtl.plotting.task_order`), the
convergence of the objective of each learned structure, and the test score of
every task.

Runs in about 15 s of CPU time at full size (300 samples); prints a line per
model as it is fitted and draws three figures. Run as a script it opens the
figures in windows, or, without a display (matplotlib's ``Agg`` backend), saves
them as ``plot_learned_structure_<n>.png`` in the current directory;
``--save-figures DIR`` saves them into ``DIR``.
"""

import argparse
import os

import matplotlib.pyplot as plt
import numpy as np
from sklearn.cluster import SpectralClustering
from sklearn.metrics import adjusted_rand_score
from sklearn.model_selection import train_test_split

from rkhsmtl import MultiTaskKernelRidge
from rkhsmtl.datasets import make_multitask_regression
from rkhsmtl.metrics import r2_score
from rkhsmtl.plotting import plot_objective, plot_task_structure, task_correlation
from rkhsmtl.structure import ClusteredNorm, LowRank, OutputKernel, TaskRelation

parser = argparse.ArgumentParser(description="Learning the task structure.")
parser.add_argument("--save-figures", metavar="DIR",
                    help="save the figures as PNG files into DIR")
args = parser.parse_args()
# The test suite (and the documentation build) runs every example with
# RKHSMTL_EXAMPLE_SMALL=1, on less data.
n_samples = 120 if os.environ.get("RKHSMTL_EXAMPLE_SMALL") else 300
n_tasks, n_clusters = 12, 3

# %%
# The data
# --------
# Three clusters of four tasks (within a cluster the task functions are 0.9
# correlated), shuffled so that related tasks are not neighbours. Every task is
# named by the letter of its true cluster and its index.
X, Y, true_structure = make_multitask_regression(
    n_samples=n_samples, n_features=4, n_tasks=n_tasks, n_clusters=n_clusters,
    noise=0.5, missing_fraction=0.3, random_state=0,
)
shuffle = np.random.default_rng(0).permutation(n_tasks)
Y = Y[:, shuffle]
true_structure = true_structure[np.ix_(shuffle, shuffle)]
true_clusters = ((np.arange(n_tasks) * n_clusters) // n_tasks)[shuffle]
names = [f"{'ABC'[c]}{t}" for t, c in enumerate(true_clusters)]  # cluster + task
X_train, X_test, Y_train, Y_test = train_test_split(X, Y, test_size=0.5,
                                                    random_state=0)

structures = {
    "independent": "independent",
    "low rank": LowRank(strength=0.3),
    "output kernel": OutputKernel(strength=1.0),
    "cluster norm": ClusteredNorm(n_clusters=n_clusters, strength=10.0),
    "task relation": TaskRelation(strength=1.0),
}


def recovered_clusters(A):
    """Adjusted Rand index of spectral clustering on |correlations of A|."""
    affinity = np.abs(task_correlation(A))
    labels = SpectralClustering(n_clusters=n_clusters, affinity="precomputed",
                                random_state=0).fit_predict(affinity)
    return adjusted_rand_score(true_clusters, labels)


# %%
# Fitting
# -------
# Fit every structure; a learned one alternates between the coefficients and
# ``A``, and records its objective at every iteration (``objective_history_``).
models = {}
print(f"{'task structure':<15} {'test mean R2':>12} {'n_iter_':>8} "
      f"{'clusters (ARI)':>15}")
for name, structure in structures.items():
    model = MultiTaskKernelRidge(alpha=1.0, kernel="rbf", gamma=0.2,
                                 task_structure=structure)
    model.fit(X_train, Y_train)
    models[name] = model
    # A = I has no structure to cluster.
    ari = "-" if name == "independent" else f"{recovered_clusters(model.task_structure_):.2f}"
    print(f"{name:<15} {model.score(X_test, Y_test):>12.3f} {model.n_iter_:>8d} "
          f"{ari:>15}", flush=True)

learned = {name: model for name, model in models.items() if name != "independent"}

# %%
# The learned structures
# ----------------------
# Top left, the true structure in the (shuffled) task order the models see: the
# clusters are invisible. Next to it the same matrix with the tasks reordered by
# :func:`~rkhsmtl.plotting.task_order` (hierarchical clustering of the task
# correlations): the three blocks appear. The other panels show each learned
# ``A`` (``task_structure_``) reordered the same way, from its own correlations.
# Where the letters of a block agree, the structure has found a cluster.
fig, axes = plt.subplots(2, 3, figsize=(14, 9), layout="constrained")
plot_task_structure(true_structure, ax=axes[0, 0], reorder=False, labels=names,
                    title="true structure (given task order)", colorbar=False)
plot_task_structure(true_structure, ax=axes[0, 1], labels=names,
                    title="true structure (tasks reordered)", colorbar=False)
for ax, (name, model) in zip(axes.flat[2:], learned.items(), strict=True):
    plot_task_structure(model, ax=ax, labels=names, title=f"learned: {name}",
                        colorbar=ax is axes[1, 2])

# %%
# Convergence
# -----------
# The objective ``Q_delta`` must not increase from one alternating iteration to
# the next; :func:`~rkhsmtl.plotting.plot_objective` draws its excess over the
# final value on a log scale (given the estimator, dotted lines mark where the
# perturbation ``delta`` is lowered).
fig, axes = plt.subplots(1, len(learned), figsize=(15, 3.6), layout="constrained")
for ax, (name, model) in zip(axes, learned.items(), strict=True):
    plot_objective(model, ax=ax)
    ax.set_title(f"{name} ({model.n_iter_} iterations)")

# %%
# Per-task scores
# ---------------
# Test R² of every task on its observed labels, tasks grouped by true cluster.
order = np.argsort(true_clusters, kind="stable")
fig, ax = plt.subplots(figsize=(10, 4), layout="constrained")
for i, (name, model) in enumerate(models.items()):
    scores = r2_score(Y_test, model.predict(X_test), average=None)
    ax.plot(np.arange(n_tasks) + 0.1 * (i - 2), scores[order], "o", label=name)
ax.set_xticks(np.arange(n_tasks), [names[t] for t in order])
for boundary in np.flatnonzero(np.diff(true_clusters[order])):
    ax.axvline(boundary + 0.5, color="0.7", linewidth=1)
ax.set_xlabel("task (true cluster letter, task index)")
ax.set_ylabel("test R² of the task")
ax.set_title("per-task test R²")
ax.grid(axis="y", alpha=0.3)
fig.legend(loc="outside lower center", ncols=len(models))

# sphinx_gallery_start_ignore
# Run as a script (the gallery renders the figures of every cell itself and
# defines no __file__): show the figures, or save them where there is no display.
if "__file__" in globals():
    from rkhsmtl.plotting import show_or_save_figures

    show_or_save_figures("plot_learned_structure", args.save_figures)
# sphinx_gallery_end_ignore
