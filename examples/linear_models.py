"""
Linear multi-task models: which penalty recovers which structure
================================================================

The regularised linear family of MALSAR / RMTL (:mod:`rkhsmtl.linear`) on

1. synthetic data with a planted structure -- a feature support shared by all
   tasks, a low-rank weight matrix, clusters of tasks, shared features with a few
   outlier tasks, low rank plus sparse entries, a smooth chain of tasks. Each
   model's ``alpha`` (``l2`` for ridge) is chosen on a separate validation draw
   along a warm-started path (:func:`~rkhsmtl.linear.linear_path`), and its
   weights are compared with the truth: ``||W - W*|| / ||W*||``;
2. synthetic data planted with the structure of each of the newer models --
   convex ASO, sparse graph-regularised MTL, multi-level decompositions, the
   multiplicative multi-level lasso, GO-MTL and multi-stage capped-l1 feature
   learning -- each against its closest relatives;
3. the School data (the 28 linear features standardised, 75/25 split within every
   school), each model tuned by 3-fold cross-validation (2-fold in the small run,
   :class:`~rkhsmtl.linear.MultiTaskLinearRegressorCV`) and scored by the
   explained variance pooled over the test students.

Every model assumes a different structure, so their numbers differ for a reason
(said below, model by model). A model is named best only when it beats each other
one by more than two standard errors of the paired differences -- per task for
the weight errors (the tasks as replicates), per school for the test errors on
School; models closer than that are reported as tied with it.

The full run takes about three minutes of CPU time. ``RKHSMTL_EXAMPLE_SMALL=1`` runs
smaller problems and grids (6 tasks, 12 features, 25 samples per task; 10
schools) in a few seconds: the test suite and the documentation build do this,
so the numbers and figures on this page come from that small run, where few
differences are significant; the results of a full run are in the user guide
(:ref:`linear`).
"""

import os
import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler

from rkhsmtl.datasets import load_school, long_to_wide, train_test_split_per_task
from rkhsmtl.linear import (
    ClusteredMTL,
    ConvexASO,
    Dirty,
    GOMTLRegressor,
    GraphPenalty,
    MultiLevel,
    MultiLevelLassoRegressor,
    MultiStageFeatureLearningRegressor,
    MultiTaskLinearRegressor,
    MultiTaskLinearRegressorCV,
    RobustMTFL,
    SparseLowRank,
    alpha_max,
    linear_path,
    tasks_to_wide,
)
from rkhsmtl.metrics import pooled_explained_variance

# %%
# The models and why they differ
# ------------------------------
# Each model assumes one structure of the weight matrix ``W`` (features x tasks):
#
# * **lasso** -- each task uses a few features of its own;
# * **l21** -- all tasks use the same few features (whole rows of ``W``);
# * **trace** -- the task vectors span a low-dimensional subspace (low rank);
# * **sparse+lowrank** -- ``W = P + Q``, ``P`` sparse, ``Q`` low rank;
# * **dirty** -- ``W = P + Q``, shared rows with a common magnitude
#   (:math:`\ell_{1,\infty}`) plus sparse task-specific entries;
# * **rmtfl** -- ``W = P + Q``, shared rows plus a few outlier tasks (whole
#   columns);
# * **cmtl** -- the tasks form 3 clusters;
# * **graph** -- tasks joined by an edge have similar weights: consecutive tasks
#   on the synthetic data (a chain), every school close to the mean school on
#   School (``"mean"``: the chain over school numbers would mean nothing there);
# * **ridge** -- no structure (``penalty="none"``): the baseline.
#
# In the three ``W = P + Q`` models, ``beta`` weighs ``Q``'s norm against
# ``P``'s. With ``beta = 1`` one part often stays zero at every ``alpha`` worth
# choosing, and the model *is* a one-part model with identical numbers (here:
# sparse + low rank would be trace, and rMTFL would be l21 on School). Here
# ``beta`` is set so that both parts leave zero at the same ``alpha``:
# ``alpha_max`` of such a model is the larger of ``a_P`` and ``a_Q / beta`` (each
# part's own threshold), an extreme ``beta`` isolates either, and
# ``beta = a_Q / a_P`` balances them. The robust low-rank
# model (low rank plus outlier tasks) is left out for time; it is used the same
# way.
#
# The graph, cmtl and ridge models have no ``alpha_max`` (no ``alpha`` sets ``W``
# to zero). Their grids are built around the data's curvature scale ``kappa``,
# the default ``alpha`` the estimators use for them (``alpha_`` of a default fit;
# see the user guide).

SMALL = bool(os.environ.get("RKHSMTL_EXAMPLE_SMALL"))
T, D, N_PER_TASK = (6, 12, 25) if SMALL else (20, 50, 40)
N_ALPHAS = 3 if SMALL else 8
CV = 2 if SMALL else 3
N_SCHOOLS = 10 if SMALL else None  # all 139
# Choosing alpha needs a few digits, not the solver's default tol=1e-6.
TOL = 1e-3 if SMALL else 1e-4
NOT_CONVERGED = set()  # models with a ConvergenceWarning (reported at the end)
MODELS = ["lasso", "l21", "trace", "sparse+lowrank", "dirty", "rmtfl", "cmtl",
          "graph", "ridge"]


def curvature_scale(X, Y):
    """``kappa``: the default ``alpha`` of the penalties without ``alpha_max``."""
    return MultiTaskLinearRegressor(penalty="none").fit(X, Y).alpha_


def balanced_beta(penalty, X, Y):
    """``beta`` at which both parts of ``W = P + Q`` leave zero at the same alpha."""
    a_P = alpha_max(X, Y, penalty=penalty(beta=1e6))  # Q's threshold is far below
    a_Q = 1e-6 * alpha_max(X, Y, penalty=penalty(beta=1e-6))  # P's is far below
    return a_Q / a_P


def grids(name, X, Y, kappa, graph):
    """``(penalty, alphas, l2s)`` of a model; ``alphas=None`` is the default path
    from ``alpha_max`` down to a hundredth of it."""
    if name in ("lasso", "l21", "trace"):
        return name, None, [0.0]
    two_parts = {"sparse+lowrank": SparseLowRank, "dirty": Dirty, "rmtfl": RobustMTFL}
    if name in two_parts:
        return two_parts[name](beta=balanced_beta(two_parts[name], X, Y)), None, [0.0]
    if name == "cmtl":
        return (ClusteredMTL(n_clusters=3), kappa * np.array([10.0, 1.0, 0.1]),
                [0.1 * kappa, 0.01 * kappa])
    if name == "graph":
        return GraphPenalty(graph), kappa * np.logspace(1, -2, N_ALPHAS), [0.0]
    return "none", [0.0], kappa * np.logspace(0, -3, N_ALPHAS)  # ridge: l2 only


def recorded(name, fit, *args, **kwargs):
    """``fit(*args, **kwargs)``, recording (not hiding) a ConvergenceWarning."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        result = fit(*args, **kwargs)
    if any(issubclass(w.category, ConvergenceWarning) for w in caught):
        NOT_CONVERGED.add(name)
    return result


def best_and_ties(losses):
    """The model of smallest total loss, and those within two standard errors of
    the paired differences. ``losses`` maps a model to its loss per replicate
    (task or school); the total is the sum over replicates."""
    best = min(losses, key=lambda m: losses[m].sum())
    ties = []
    for name, loss in losses.items():
        diff = loss - losses[best]
        if name != best and diff.sum() <= 2 * np.sqrt(diff.size) * diff.std(ddof=1):
            ties.append(name)
    return best, ties


def verdict(best, ties):
    if not ties:
        return f"best: {best}, beyond two standard errors of every difference"
    return (f"smallest error: {best}, tied with {', '.join(ties)} (within two "
            "standard errors)")


# %%
# Synthetic data
# --------------
# Each planted structure is a true weight matrix ``W*``; every task has its own
# training and validation rows (isotropic Gaussian inputs, noise 0.5). A model's
# error is computed from its weights, so it has no test-set noise; what varies is
# the training draw, which the per-task paired comparison accounts for.


def planted(kind, rng):
    """True weights W* (d x T) with the structure ``kind``."""
    W = np.zeros((D, T))
    if kind == "shared support":
        W[:5] = rng.normal(size=(5, T))
    elif kind == "low rank":
        W = rng.normal(size=(D, 2)) @ rng.normal(size=(2, T)) / np.sqrt(2)
    elif kind == "clusters":
        centres = rng.normal(size=(D, 3))
        W = centres[:, np.arange(T) % 3] + 0.1 * rng.normal(size=(D, T))
    elif kind == "outlier tasks":
        W[:5] = rng.normal(size=(5, T))
        W[:, :2] = rng.normal(size=(D, 2))  # two tasks ignore the shared support
    elif kind == "low rank + sparse":
        W = rng.normal(size=(D, 2)) @ rng.normal(size=(2, T)) / np.sqrt(2)
        spikes = rng.random((D, T)) < 0.03
        W[spikes] += 3.0 * rng.normal(size=int(spikes.sum()))
    elif kind == "smooth chain":
        # Neighbouring tasks (e.g. consecutive years) have similar weights.
        W = np.cumsum(0.3 * rng.normal(size=(D, T)), axis=1) + rng.normal(size=(D, 1))
    return W


def draw(W, n_per_task, rng):
    X_list = [rng.normal(size=(n_per_task, D)) for _ in range(T)]
    y_list = [x @ W[:, t] + 0.5 * rng.normal(size=n_per_task)
              for t, x in enumerate(X_list)]
    return tasks_to_wide(X_list, y_list)


def select_on_validation(name, X, Y, X_val, Y_val, kappa):
    """Weights (d x T) at the (alpha, l2) of smallest validation error."""
    penalty, alphas, l2s = grids(name, X, Y, kappa, graph="chain")
    observed = ~np.isnan(Y_val)
    best_error, best_W = np.inf, None
    for l2 in l2s:
        _, coefs, intercepts, _ = linear_path(
            X, Y, penalty=penalty, alphas=alphas, n_alphas=N_ALPHAS,
            alpha_min_ratio=1e-2, l2=l2, tol=TOL)
        for coef, intercept in zip(coefs, intercepts, strict=True):
            error = np.mean((X_val @ coef.T + intercept - Y_val)[observed] ** 2)
            if error < best_error:
                best_error, best_W = error, coef.T
    return best_W


def synthetic():
    rng = np.random.default_rng(0)
    kinds = ["shared support", "low rank", "clusters", "outlier tasks",
             "low rank + sparse", "smooth chain"]
    errors = np.zeros((len(MODELS), len(kinds)))
    tied_with_best = np.zeros_like(errors, dtype=bool)
    weights = {}
    print(f"Synthetic data: T={T} tasks, d={D} features, {N_PER_TASK} training and "
          f"{N_PER_TASK} validation rows per task; relative weight error "
          "||W - W*|| / ||W*|| (lower is better)", flush=True)
    widths = [max(len(name), 5) for name in MODELS]
    print(f"{'structure':18s} "
          + " ".join(f"{n:>{w}s}" for n, w in zip(MODELS, widths, strict=True)))
    for j, kind in enumerate(kinds):
        start = time.process_time()
        W_true = planted(kind, rng)
        X, Y = draw(W_true, N_PER_TASK, rng)
        X_val, Y_val = draw(W_true, N_PER_TASK, rng)
        kappa = curvature_scale(X, Y)
        per_task = {}
        for i, name in enumerate(MODELS):
            W = recorded(name, select_on_validation, name, X, Y, X_val, Y_val, kappa)
            weights[kind, name] = W
            per_task[name] = np.sum((W - W_true) ** 2, axis=0)
            errors[i, j] = np.sqrt(per_task[name].sum()) / np.linalg.norm(W_true)
        best, ties = best_and_ties(per_task)
        for name in [best, *ties]:
            tied_with_best[MODELS.index(name), j] = True
        weights[kind] = W_true
        cells = " ".join(f"{e:{w}.3f}" for e, w in zip(errors[:, j], widths, strict=True))
        print(f"{kind:18s} {cells}  ({time.process_time() - start:.1f} s CPU)\n"
              f"  -> {verdict(best, ties)}", flush=True)
    return kinds, errors, tied_with_best, weights


kinds, errors, tied_with_best, weights = synthetic()

# %%
# The weight errors as a table (light: close to the planted weights). Framed:
# the best model of each structure and those tied with it. In the full run (see
# the user guide) each structure is recovered best by the model that assumes it:
# l21 on the shared support, trace on low rank, rMTFL (tied with the lasso) with
# outlier tasks, sparse + low rank on low rank plus sparse entries, the chain
# graph on the smooth chain; on clusters (three clusters are also a rank-3
# structure) trace is just ahead of sparse + low rank and CMTL. On the small
# problem of this page many models are tied.
middle = 0.5 * (errors.min() + errors.max())
fig, ax = plt.subplots(figsize=(9, 5.5), layout="constrained")
image = ax.imshow(errors, cmap="viridis_r", aspect="auto")
for i in range(errors.shape[0]):
    for j in range(errors.shape[1]):
        ax.text(j, i, f"{errors[i, j]:.3f}", ha="center", va="center", fontsize=8,
                color="w" if errors[i, j] > middle else "k")
        if tied_with_best[i, j]:
            ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False,
                                       edgecolor="tab:red", linewidth=2.5))
ax.set_xticks(np.arange(len(kinds)), kinds, rotation=20, ha="right")
ax.set_yticks(np.arange(len(MODELS)), MODELS)
ax.set_xlabel("planted structure")
ax.set_title("relative weight error ||W - W*|| / ||W*|| (framed: best, and tied)")
fig.colorbar(image, ax=ax)

# %%
# What the penalties do to the weights: the planted shared support (the first
# five features, for every task) and the weights recovered by the lasso (sparse
# entry by entry), by l21 (whole rows of features kept or dropped together) and by
# plain ridge (nothing set to zero). Features on the rows, tasks on the columns.
shown = ["lasso", "l21", "ridge"]
W_true = weights["shared support"]
scale = np.abs(W_true).max()
fig, axes = plt.subplots(1, 1 + len(shown), figsize=(11, 4.5), layout="constrained",
                         sharey=True)
for ax, (title, W) in zip(axes, [("planted W*", W_true)]
                          + [(name, weights["shared support", name]) for name in shown],
                          strict=True):
    image = ax.imshow(W, cmap="RdBu_r", vmin=-scale, vmax=scale, aspect="auto",
                      interpolation="nearest")
    ax.set_title(title)
    ax.set_xlabel("task")
axes[0].set_ylabel("feature")
fig.colorbar(image, ax=axes[-1], label="weight")

# %%
# The newer models, each on the structure it assumes
# ---------------------------------------------------
# Six more models, each shown on synthetic data planted with the structure it
# assumes, against the models closest to it (the same protocol: ``alpha``, and a
# second weight where there is one, chosen on validation rows; the relative
# weight error; best and ties by the paired per-task comparison):
#
# * **caso** (convex alternating structure optimisation, :class:`ConvexASO`):
#   every task's weights are a part in a shared 2-dimensional subspace plus a
#   small part of its own -- against trace (the subspace alone) and ridge;
# * **srmtl** (graph plus lasso, ``GraphPenalty(l1_weight=1)``): a few features,
#   whose weights drift along the chain of tasks -- against graph and lasso;
# * **multilevel** (``W`` a sum of three parts: ``l21``, ``l1`` and trace norm,
#   :class:`MultiLevel`, the level weights balanced as ``beta`` above): shared
#   features plus a few entries of each task's own plus a rank-one part --
#   against the two-part dirty and sparse + low rank, l21 and lasso;
# * **mll** (the multiplicative multi-level lasso ``W = diag(c) V``,
#   :class:`MultiLevelLassoRegressor`): a few features, each used by only some of
#   the tasks -- against lasso and l21;
# * **gomtl** (grouping and overlap, ``W = L S`` with sparse codes ``S``,
#   :class:`GOMTLRegressor`): three latent basis tasks, each task a sparse
#   combination of one or two of them -- against trace and cmtl;
# * **msmtfl** (multi-stage capped-l1,l1 feature learning,
#   :class:`MultiStageFeatureLearningRegressor`): a shared support with large
#   weights, where the convex l21 shrinks the large rows it keeps --
#   against l21 and lasso.
#
# The temporal group lasso and the fused sparse group lasso have their own
# example (:ref:`sphx_glr_auto_examples_disease_progression.py`). The three
# estimators that are not a penalty of the FISTA core (mll, gomtl, msmtfl) have
# no warm-started path: their ``alpha`` is chosen among four multiples of the
# default (``alpha="auto"``).

NEWER = {
    "shared subspace": ("caso", ["trace", "ridge"]),
    "sparse chain": ("srmtl", ["graph", "lasso"]),
    "three parts": ("multilevel", ["dirty", "sparse+lowrank", "l21", "lasso"]),
    "sparse scaled rows": ("mll", ["lasso", "l21"]),
    "sparse codes": ("gomtl", ["trace", "cmtl"]),
    "large shared rows": ("msmtfl", ["l21", "lasso"]),
}
ESTIMATORS = {
    "mll": lambda alpha: MultiLevelLassoRegressor(alpha=alpha, tol=TOL),
    "gomtl": lambda alpha: GOMTLRegressor(alpha=alpha, n_components=3, tol=TOL,
                                          random_state=0),
    "msmtfl": lambda alpha: MultiStageFeatureLearningRegressor(alpha=alpha, tol=TOL),
}


def planted_newer(kind, rng):
    """True weights W* (d x T) with the structure one newer model assumes."""
    W = np.zeros((D, T))
    if kind == "shared subspace":
        W = rng.normal(size=(D, 2)) @ rng.normal(size=(2, T)) + 0.3 * rng.normal(size=(D, T))
    elif kind == "sparse chain":
        W[:5] = np.cumsum(0.3 * rng.normal(size=(5, T)), axis=1) + rng.normal(size=(5, 1))
    elif kind == "three parts":
        W[:4] = rng.normal(size=(4, T))
        own = rng.random((D, T)) < 0.05
        W[own] += 2.0 * rng.normal(size=int(own.sum()))
        W += 0.5 * rng.normal(size=(D, 1)) @ rng.normal(size=(1, T))
    elif kind == "sparse scaled rows":
        scale = np.zeros(D)
        scale[:5] = rng.uniform(1.0, 3.0, size=5)  # c: the features in use
        used = rng.random((D, T)) < 0.5            # V: which tasks use each one
        W = scale[:, None] * used * rng.normal(size=(D, T))
    elif kind == "sparse codes":
        basis = rng.normal(size=(D, 3))
        codes = np.zeros((3, T))
        codes[np.arange(T) % 3, np.arange(T)] = rng.uniform(0.5, 1.5, size=T)
        second = rng.random(T) < 0.3  # some tasks overlap two groups
        codes[(np.arange(T) + 1) % 3, np.arange(T)] += second * rng.uniform(0.3, 0.8, size=T)
        W = basis @ codes
    elif kind == "large shared rows":
        W[:4] = 3.0 + rng.normal(size=(4, T))
    return W


def newer_grid(name, X, Y, kappa):
    """``(penalty, alphas, l2s)`` of the newer penalties (the others: ``grids``)."""
    if name == "caso":
        # A direction inside the shared subspace costs l2, one outside alpha + l2:
        # l2 well below alpha.
        return (ConvexASO(n_components=2), kappa * np.logspace(2, -2, N_ALPHAS),
                kappa * np.array([0.03, 0.01, 0.003, 0.001]))
    if name == "srmtl":
        return GraphPenalty("chain", l1_weight=1.0), None, [0.0]
    if name == "multilevel":
        # Weights at which every part leaves zero at the same alpha (as for
        # balanced_beta): each level's own threshold over the first one's.
        thresholds = {norm: alpha_max(X, Y, penalty=MultiLevel(((norm, 1.0),)))
                      for norm in ("l21", "l1", "trace")}
        levels = tuple((norm, value / thresholds["l21"])
                       for norm, value in thresholds.items())
        return MultiLevel(levels), None, [0.0]
    return grids(name, X, Y, kappa, graph="chain")


def select_newer(name, X, Y, X_val, Y_val, kappa):
    """Weights (d x T) of ``name`` at its best validation error."""
    observed = ~np.isnan(Y_val)
    if name not in ESTIMATORS:
        if name not in ("caso", "srmtl", "multilevel"):
            return select_on_validation(name, X, Y, X_val, Y_val, kappa)
        penalty, alphas, l2s = newer_grid(name, X, Y, kappa)
        best_error, best_W = np.inf, None
        for l2 in l2s:
            _, coefs, intercepts, _ = linear_path(
                X, Y, penalty=penalty, alphas=alphas, n_alphas=N_ALPHAS,
                alpha_min_ratio=1e-2, l2=l2, tol=TOL)
            for coef, intercept in zip(coefs, intercepts, strict=True):
                error = np.mean((X_val @ coef.T + intercept - Y_val)[observed] ** 2)
                if error < best_error:
                    best_error, best_W = error, coef.T
        return best_W
    default = ESTIMATORS[name]("auto").fit(X, Y).alpha_
    best_error, best_W = np.inf, None
    for factor in (4.0, 1.0, 0.25, 0.0625):
        model = ESTIMATORS[name](factor * default).fit(X, Y)
        error = np.mean((model.predict(X_val) - Y_val)[observed] ** 2)
        if error < best_error:
            best_error, best_W = error, model.coef_.T
    return best_W


def newer_models():
    rng = np.random.default_rng(1)
    print("\nThe newer models on their own structure: relative weight error "
          "||W - W*|| / ||W*|| (lower is better)", flush=True)
    table = {}
    for kind, (new, relatives) in NEWER.items():
        start = time.process_time()
        W_true = planted_newer(kind, rng)
        X, Y = draw(W_true, N_PER_TASK, rng)
        X_val, Y_val = draw(W_true, N_PER_TASK, rng)
        kappa = curvature_scale(X, Y)
        per_task, errors = {}, {}
        for name in [new, *relatives]:
            W = recorded(name, select_newer, name, X, Y, X_val, Y_val, kappa)
            per_task[name] = np.sum((W - W_true) ** 2, axis=0)
            errors[name] = np.sqrt(per_task[name].sum()) / np.linalg.norm(W_true)
        best, ties = best_and_ties(per_task)
        table[kind] = errors, [best, *ties]
        cells = "  ".join(f"{name} {error:.3f}" for name, error in errors.items())
        print(f"{kind:22s} {cells}  ({time.process_time() - start:.1f} s CPU)\n"
              f"  -> {verdict(best, ties)}", flush=True)
    return table


newer_table = newer_models()

# %%
# The same numbers as bars: each group is one planted structure, its first bar
# the model that assumes it (red: the best, and those tied with it).
fig, ax = plt.subplots(figsize=(9, 4.5), layout="constrained")
position, ticks, labels = 0, [], []
for kind, (errors, top) in newer_table.items():
    for name, error in errors.items():
        ax.bar(position, error, color="tab:red" if name in top else "tab:blue",
               alpha=0.7)
        ax.text(position, error, name, rotation=90, ha="center", va="bottom", fontsize=8)
        position += 1
    ticks.append(position - 0.5 - len(errors) / 2)
    labels.append(kind)
    position += 1
ax.set_xticks(ticks, labels, rotation=15, ha="right")
ax.set_ylabel("||W - W*|| / ||W*||")
ax.set_ylim(0, 1.25 * max(max(e.values()) for e, _ in newer_table.values()))
ax.set_title("newer models on the structure each assumes (red: best, and tied)")

# %%
# The School data
# ---------------
# The same models on the School data (linear features standardised on the
# training students), each with ``alpha`` (and ``l2`` for ridge) chosen by 3-fold
# cross-validation, scored by the explained variance pooled over the test
# students. The paired comparison is per school: the difference of two models'
# squared test errors summed over a school's students.


def school():
    X, y, task = load_school()
    if N_SCHOOLS:
        keep = task < N_SCHOOLS
        X, y, task = X[keep], y[keep], task[keep]
    train, test = train_test_split_per_task(task, random_state=0)
    # The raw features range over standard deviations 0.07 to 15: standardised
    # (on the training students), first-order solvers converge far faster.
    X = StandardScaler().fit(X[train]).transform(X)
    tasks = np.unique(task)
    _, Y_train = long_to_wide(X[train], y[train], task[train], tasks=tasks)
    _, Y_test = long_to_wide(X[test], y[test], task[test], tasks=tasks)
    school_of_test = np.searchsorted(tasks, task[test])
    print(f"\nSchool: {tasks.size} schools, {train.size} training / {test.size} test "
          "students; pooled explained variance on the test students", flush=True)
    scores, per_school = {}, {}
    kappa = curvature_scale(X[train], Y_train)
    for name in MODELS:
        start = time.process_time()
        penalty, alphas, l2s = grids(name, X[train], Y_train, kappa, graph="mean")
        model = MultiTaskLinearRegressorCV(
            penalty, alphas=alphas, n_alphas=N_ALPHAS, alpha_min_ratio=1e-2, l2s=l2s,
            cv=CV, tol=TOL)
        recorded(name, model.fit, X[train], Y_train)
        pred = model.predict(X[test])
        scores[name] = 100 * pooled_explained_variance(Y_test, pred)
        residual = np.nansum((pred - Y_test) ** 2, axis=1)  # one task per row
        per_school[name] = np.bincount(school_of_test, residual, minlength=tasks.size)
        print(f"  {name:15s} {scores[name]:6.2f}%   alpha={model.alpha_:.3g} "
              f"l2={model.l2_:.3g}  ({time.process_time() - start:.1f} s CPU)",
              flush=True)
    best, ties = best_and_ties(per_school)
    print(f"  -> {verdict(best, ties)}", flush=True)
    return scores, [best, *ties], tasks.size


school_scores, school_top, n_schools = school()
if NOT_CONVERGED:
    print(f"\nConvergenceWarning (max_iter reached at some alpha of a path) in: "
          f"{sorted(NOT_CONVERGED)}")
else:
    print("\nEvery fit converged.")

fig, ax = plt.subplots(figsize=(7, 4), layout="constrained")
values = np.array([school_scores[name] for name in MODELS])
colors = ["tab:red" if name in school_top else "tab:blue" for name in MODELS]
ax.barh(np.arange(len(MODELS)), values, color=colors, alpha=0.7)
ax.set_yticks(np.arange(len(MODELS)), MODELS)
ax.invert_yaxis()
ax.set_xlim(max(0.0, values.min() - 5), values.max() + 2)
ax.set_xlabel("explained variance pooled over the test students (%)")
ax.set_title(f"School ({n_schools} schools), split 0 (red: best, and tied)")
ax.grid(axis="x", alpha=0.3)
