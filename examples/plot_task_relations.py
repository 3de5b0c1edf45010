"""
What the model learned about the tasks
======================================

Six synthetic regression tasks form two clusters of three related tasks, in a
shuffled order, with half of the labels missing; a seventh task is unrelated to
all of them. We learn the task structure with output kernel learning
(:class:`~rkhsmtl.structure.OutputKernel`), then ask
:func:`rkhsmtl.inspection.task_relations` what the fitted model says about the
tasks:

* the task correlations and partial correlations of the learned ``A``;
* a clustering of the tasks, the number of clusters chosen from ``A``;
* how stable all of this is when the model is refitted on bootstrap resamples of
  the rows;
* the per-task transfer gain: held-out score of the model minus that of the same
  model with independent tasks, with its interval, negative transfer flagged.

A second model pools every task into one shared function
(``task_structure="pooled"``): the two clusters and the unrelated task are forced
to share, and the report flags the tasks that lose significantly (negative
transfer).

Runs in about 20 s of CPU time at full size (240 samples, 40 bootstrap refits);
prints the two reports and draws two figures. Run as a script it opens the
figures in windows, or, without a display (matplotlib's ``Agg`` backend), saves
them as ``plot_task_relations_<n>.png`` in the current directory;
``--save-figures DIR`` saves them into ``DIR``.
"""

import argparse
import os
import warnings

import numpy as np
import pandas as pd
from sklearn.exceptions import ConvergenceWarning

from rkhsmtl import MultiTaskKernelRidge
from rkhsmtl.datasets import make_multitask_regression
from rkhsmtl.inspection import task_relations
from rkhsmtl.structure import OutputKernel

parser = argparse.ArgumentParser(description="What the model learned about the tasks.")
parser.add_argument("--save-figures", metavar="DIR",
                    help="save the figures as PNG files into DIR")
args = parser.parse_args()
# The test suite (and the documentation build) runs every example with
# RKHSMTL_EXAMPLE_SMALL=1, on less data and fewer refits.
small = bool(os.environ.get("RKHSMTL_EXAMPLE_SMALL"))
n_samples, n_bootstrap = (100, 6) if small else (240, 40)

# %%
# The data
# --------
# Two clusters of three tasks (0.9 correlated within a cluster, independent
# across), named by the letter of their true cluster and their index, and a
# seventh task ``U`` whose function is drawn independently of the others.
X, Y, _ = make_multitask_regression(
    n_samples=n_samples, n_features=3, n_tasks=9, n_clusters=3, noise=0.3,
    missing_fraction=0.3, random_state=0)
# make_multitask_regression's third cluster is tasks 6..8; keep one of them.
Y = Y[:, :7]
shuffle = np.random.default_rng(1).permutation(7)
Y = Y[:, shuffle]
names = ["ABU"[t // 3] + str(t) for t in shuffle]
# The column names of a DataFrame become the model's tasks_, and the report's.
Y = pd.DataFrame(Y, columns=names)

# %%
# A learned structure
# -------------------
# Output kernel learning fits ``A`` together with the kernel coefficients. The
# report uses the training data for the bootstrap (``n_bootstrap`` refits on
# resampled rows) and for the transfer gain (5-fold cross-validation stratified
# by task, the model against a clone with ``task_structure="independent"``).
model = MultiTaskKernelRidge(alpha=0.1, gamma=0.3, tol=1e-4,
                             task_structure=OutputKernel(strength=1.0))
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)  # refits on small resamples
    model.fit(X, Y)
    report = task_relations(model, X, Y, n_bootstrap=n_bootstrap, scoring="mse",
                            n_jobs=1, random_state=0)
print(report)

# %%
# The heatmap shows the learned correlations with the tasks in the order of the
# clustering tree, each cluster outlined; the bars, the gain of every task in
# held-out (negated) mean squared error, with its interval. The co-clustering
# frequencies of the refits show how stable the clusters are.
heatmap, gain = report.plot()
import matplotlib.pyplot as plt  # noqa: E402 - after the report, as a user would

fig, ax = plt.subplots(layout="constrained")
from rkhsmtl.plotting import plot_task_clusters  # noqa: E402

plot_task_clusters(report, ax=ax, matrix="co_clustering")

# %%
# Forcing every task to share
# ---------------------------
# The pooled structure ``A = 1 1^T`` fits one function for all tasks. The report
# finds a single cluster and, from held-out scores, the tasks that pay for it:
# those whose whole interval of gain lies below zero.
pooled = MultiTaskKernelRidge(alpha=0.1, gamma=0.3, task_structure="pooled").fit(X, Y)
pooled_report = task_relations(pooled, X, Y, scoring="mse", random_state=0)
print()
print(pooled_report.summary(max_pairs=0))
flagged = [names[t] for t in np.flatnonzero(pooled_report.negative_transfer)]
print(f"\nnegative transfer under pooling: {', '.join(flagged) or 'none'}")

# sphinx_gallery_start_ignore
# Run as a script (the gallery renders the figures of every cell itself and
# defines no __file__): show the figures, or save them where there is no display.
if "__file__" in globals():
    from rkhsmtl.plotting import show_or_save_figures

    show_or_save_figures("plot_task_relations", args.save_figures)
# sphinx_gallery_end_ignore
