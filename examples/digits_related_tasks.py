"""
Related binary tasks with few labels each: handwritten digits
==============================================================

Two framings of scikit-learn's digits (8x8 images, bundled with scikit-learn) as
multi-task classification, each task seeing only its own small labelled subset
(every other entry of ``Y`` is missing):

* **annotators**: 12 tasks, three concepts ("odd", "five or more", "has a loop":
  0, 6, 8, 9) each labelled by four annotators; every annotator labels 15 random
  images and flips 10% of its labels. Tasks of one concept are the same problem;
  tasks of different concepts conflict.
* **one-vs-rest**: 10 tasks "is it digit k?", each labelled on 20 random images
  (at least two positives).

Methods (all ``MultiTaskKernelClassifier`` with an RBF kernel, gamma=0.05): every
task alone ("independent"), one shared function ("pooled"), the fixed
mean-regularised structure, and three learned task structures (task relation,
cluster norm with 3 clusters, low rank). ``alpha`` is chosen per method and seed
by 3-fold cross-validation of the macro ROC AUC on the training labels only
(``rkhsmtl.metrics.get_scorer("macro_roc_auc")``; the folds come from
``rkhsmtl.model_selection.MultiTaskStratifiedKFold``, which keeps both classes of
every task in every training fold -- with 15 labels per task a plain ``KFold``
often leaves a task with one class). The score is the ROC AUC of each task on 600 held-out
images with clean labels, averaged over tasks; mean and standard deviation over
seeds.

The protocol has 10 seeds and takes about 10 minutes of CPU time (``--full``;
the learned low-rank structure is most of it). By default the script runs seed
0 of it, with the same methods and the same alpha search, in about a minute of
CPU time; one seed has no spread over seeds, and the differences between methods
that are smaller than the spread of the full run (see the table of the full run
in the user guide, :ref:`classification`) may come out in another order::

    python examples/digits_related_tasks.py          # seed 0
    python examples/digits_related_tasks.py --full   # seeds 0..9

It prints a line per method and seed as the fits finish. With
``RKHSMTL_EXAMPLE_SMALL=1`` it runs seed 0 without the alpha search (``alpha=0.1``
for every method): the test suite and the documentation build do this, so the
numbers and figures on this page come from that run.
"""

import argparse
import os
import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning, UndefinedMetricWarning
from sklearn.model_selection import GridSearchCV

from rkhsmtl import MultiTaskKernelClassifier
from rkhsmtl.metrics import get_scorer, roc_auc_score
from rkhsmtl.model_selection import MultiTaskStratifiedKFold
from rkhsmtl.plotting import plot_task_structure
from rkhsmtl.structure import ClusteredNorm, LowRank, TaskRelation

# %%
# Setting up
# ----------
# The concepts, the methods, the two ways of making tasks, and one fit (with the
# alpha search of the full run).

parser = argparse.ArgumentParser(description="Related binary tasks with few labels "
                                 "each: handwritten digits.")
parser.add_argument("--full", action="store_true",
                    help="the whole protocol: seeds 0..9, about 10 minutes of CPU "
                    "time (default: seed 0)")
parser.add_argument("--save-figures", metavar="DIR",
                    help="save the figures as PNG files into DIR")
args = parser.parse_args()
SMALL = os.environ.get("RKHSMTL_EXAMPLE_SMALL") == "1"
N_SEEDS = 10 if args.full and not SMALL else 1
ALPHAS = [0.1] if SMALL else [0.03, 0.1, 0.3]
N_TEST = 600

CONCEPTS = {
    "odd": lambda digit: digit % 2 == 1,
    "five+": lambda digit: digit >= 5,
    "loop": lambda digit: np.isin(digit, [0, 6, 8, 9]),
}

METHODS = {
    "independent": "independent",
    "pooled": "pooled",
    "mean-regularised": "mean_regularized",
    "task relation (learned)": TaskRelation(strength=1.0),
    "cluster norm (learned)": ClusteredNorm(n_clusters=3),
    "low rank (learned)": LowRank(strength=1.0),
}


def annotator_tasks(digits, rng, n_labels=15, flip=0.1):
    """Three concepts x four noisy annotators; returns (Y_train, Y_test_fn)."""
    names = [name for name in CONCEPTS for _ in range(4)]
    Y = np.full((len(digits), len(names)), np.nan)
    for t, name in enumerate(names):
        while True:  # redraw until each class has two labels (one per CV side)
            idx = rng.choice(len(digits), n_labels, replace=False)
            labels = CONCEPTS[name](digits[idx]).astype(float)
            flipped = rng.random(n_labels) < flip
            labels[flipped] = 1.0 - labels[flipped]
            if 2 <= labels.sum() <= n_labels - 2:
                break
        Y[idx, t] = labels

    def truth(test_digits):
        return np.column_stack([CONCEPTS[name](test_digits) for name in names])

    return Y, truth, names


def one_vs_rest_tasks(digits, rng, n_labels=20):
    Y = np.full((len(digits), 10), np.nan)
    for k in range(10):
        idx = rng.choice(len(digits), n_labels, replace=False)
        Y[idx, k] = digits[idx] == k
        positives = rng.choice(np.flatnonzero(digits == k), 2, replace=False)
        Y[positives, k] = 1.0

    def truth(test_digits):
        return np.column_stack([test_digits == k for k in range(10)]).astype(float)

    return Y, truth, [f"is {k}" for k in range(10)]


def fit_method(structure, X, Y, seed):
    model = MultiTaskKernelClassifier(gamma=0.05, task_structure=structure)
    if len(ALPHAS) == 1:
        return model.set_params(alpha=ALPHAS[0]).fit(X, Y)
    search = GridSearchCV(model, {"alpha": ALPHAS}, scoring=get_scorer("macro_roc_auc"),
                          cv=MultiTaskStratifiedKFold(3, shuffle=True,
                                                      random_state=seed),
                          error_score="raise")
    return search.fit(X, Y).best_estimator_


def run(setting, X, digits):
    """Per-task test AUC of every method and seed, and the models of seed 0.

    Prints a line per fitted method.
    """
    per_task = {name: [] for name in METHODS}
    first_models = {}
    for seed in range(N_SEEDS):
        rng = np.random.default_rng(seed)
        order = rng.permutation(len(digits))
        test, pool = order[:N_TEST], order[N_TEST:]
        Y, truth, task_names = setting(digits[pool], rng)
        labelled = ~np.all(np.isnan(Y), axis=1)  # unlabelled rows carry nothing
        X_train, Y_train = X[pool][labelled], Y[labelled]
        Y_test = truth(digits[test])
        for name, structure in METHODS.items():
            fit_start = time.perf_counter()
            model = fit_method(structure, X_train, Y_train, seed)
            first_models.setdefault(name, model)
            scores = model.decision_function(X[test])
            per_task[name].append(roc_auc_score(Y_test, scores, average=None))
            print(f"  seed {seed}  {name:<24} mean AUC {per_task[name][-1].mean():.4f}"
                  f"  alpha {model.alpha:<5g} {time.perf_counter() - fit_start:5.1f} s",
                  flush=True)
    results = {name: np.array(values) for name, values in per_task.items()}
    return results, task_names, first_models


def print_table(title, results, task_names):
    print(f"\n{title}: ROC AUC, mean over tasks (std over {N_SEEDS} seed(s))",
          flush=True)
    print(f"{'method':<26}{'mean AUC':>10}{'std':>8}{'worst task':>12}")
    for name, values in results.items():
        per_seed = values.mean(axis=1)
        worst = values.mean(axis=0).min()
        print(f"{name:<26}{per_seed.mean():>10.4f}{per_seed.std():>8.4f}{worst:>12.4f}")
    print("per task (mean over seeds):")
    header = "".join(f"{t[:7]:>8}" for t in task_names)
    print(f"{'':<26}{header}")
    for name, values in results.items():
        print(f"{name:<26}" + "".join(f"{v:>8.3f}" for v in values.mean(axis=0)))


# Low rank reaches max_iter on some draws (see the learned-structures guide);
# a validation fold may hold one class of a task, whose AUC is then left out.
warnings.simplefilter("ignore", ConvergenceWarning)
warnings.simplefilter("ignore", UndefinedMetricWarning)
X, digits = load_digits(return_X_y=True)
X = X / 16.0
start = time.perf_counter()

# %%
# Annotators
# ----------
# Twelve tasks: three concepts, each labelled by four noisy annotators.
print(f"annotators: {N_SEEDS} seed(s), alpha from {ALPHAS}", flush=True)
annotators, annotator_names, annotator_models = run(annotator_tasks, X, digits)
print_table("annotators (3 concepts x 4 noisy annotators)", annotators,
            annotator_names)

# %%
# One-vs-rest
# -----------
# Ten tasks "is it digit k?", each with 20 labels.
print(f"one-vs-rest: {N_SEEDS} seed(s), alpha from {ALPHAS}", flush=True)
one_vs_rest, digit_names, digit_models = run(one_vs_rest_tasks, X, digits)
print_table("one-vs-rest (10 digits)", one_vs_rest, digit_names)
print(f"\n{N_SEEDS} seed(s), alpha grid {ALPHAS}, "
      f"{time.perf_counter() - start:.0f} s")

# %%
# Per-task scores
# ---------------
# The test ROC AUC of every task (mean over seeds) for every method. With 15 noisy
# labels per task, an annotator's task alone is hard; the four annotators of a
# concept gain by sharing. Pooling all twelve tasks mixes conflicting concepts.
fig, axes = plt.subplots(2, 1, figsize=(11, 7), layout="constrained")
for ax, (title, results, task_names) in zip(axes, [
        ("annotators", annotators, annotator_names),
        ("one-vs-rest", one_vs_rest, digit_names)], strict=True):
    positions = np.arange(len(task_names))
    for i, (name, values) in enumerate(results.items()):
        ax.plot(positions + 0.1 * (i - 2.5), values.mean(axis=0), "o", label=name)
    ax.set_xticks(positions, task_names)
    ax.set_ylabel("test ROC AUC of the task")
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
# Below the panels, where it hides no point.
fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncols=3)

# %%
# What the learned structures found
# ---------------------------------
# The learned task structures of seed 0 (:func:`rkhsmtl.plotting.plot_task_structure`,
# tasks reordered by similarity; the annotators of a concept are numbered 1-4).
# With 15 noisy labels per annotator the grouping by concept is at best partial,
# and the correlations learned by the task relation and the cluster norm are weak
# (they shrink towards independent tasks); the low-rank structure relates the
# tasks more strongly, with both signs. In one-vs-rest every digit is its own
# concept, and the task relations are weak and mostly negative: "is 3" and
# "is 8" cannot both be true.
annotator_labels = [f"{name} {t % 4 + 1}" for t, name in enumerate(annotator_names)]
fig, axes = plt.subplots(2, 2, figsize=(11, 10), layout="constrained")
for ax, name in zip(axes.flat, ["low rank (learned)", "task relation (learned)",
                                "cluster norm (learned)"], strict=False):
    plot_task_structure(annotator_models[name], ax=ax, labels=annotator_labels,
                        title=f"annotators: {name}", colorbar=False)
plot_task_structure(digit_models["task relation (learned)"], ax=axes[1, 1],
                    labels=digit_names, title="one-vs-rest: task relation (learned)")

# sphinx_gallery_start_ignore
# Run as a script (the gallery renders the figures of every cell itself and
# defines no __file__): show the figures, or save them where there is no display.
if "__file__" in globals():
    from rkhsmtl.plotting import show_or_save_figures

    show_or_save_figures("digits_related_tasks", args.save_figures)
# sphinx_gallery_end_ignore
