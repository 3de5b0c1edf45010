"""
Disease progression: temporal group lasso and fused sparse group lasso
======================================================================

Predicting a clinical score at every future visit from a patient's baseline
measurements is a multi-task problem whose tasks are ordered in time: the same
few measurements matter at every visit (a shared support), their weights drift
slowly over the years, and patients leave the study, so later visits have fewer
labels. Two models of :mod:`rkhsmtl.linear` are made for it:

* the **temporal group lasso** (TGL, Zhou et al. 2011; ``penalty="tgl"``): the
  group lasso on the rows of ``W`` (a feature is used at every visit or at none)
  plus ``smoothness * sum_t ||w_{t+1} - w_t||^2``;
* the **convex fused sparse group lasso** (cFSGL, Zhou et al. 2012;
  ``penalty="cfsgl"``): lasso + group lasso on the rows + the fused lasso in time
  (piecewise-constant weights, a feature may enter at a later visit).

Real cohorts cannot be shipped, so the data come from
:func:`rkhsmtl.datasets.make_disease_progression`: a planted support of 5
features, weights linear in time, 15 % dropout per visit. Both models are
compared with the per-visit lasso and with the plain group lasso (l21) on

1. the recovery of the planted support (the features with a non-zero row), and
2. the test error at every visit.

Each model's ``alpha`` (and its second weight) is chosen on validation patients
along a warm-started path (:func:`~rkhsmtl.linear.linear_path`); the errors are
measured on other, test patients. The full run takes well under two minutes of
CPU time; ``RKHSMTL_EXAMPLE_SMALL=1`` (the test suite and the documentation
build) runs a smaller problem in a few seconds, whose numbers and figures are
those on this page.
"""

import argparse
import os
import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.exceptions import ConvergenceWarning

from rkhsmtl.datasets import make_disease_progression
from rkhsmtl.linear import (
    FusedSparseGroupLasso,
    TemporalGroupLasso,
    alpha_max,
    linear_path,
)

parser = argparse.ArgumentParser(description="Disease progression: tasks are the time "
                                             "points of one outcome.")
parser.add_argument("--save-figures", metavar="DIR",
                    help="save the figures as PNG files into DIR")
args = parser.parse_args()
SMALL = bool(os.environ.get("RKHSMTL_EXAMPLE_SMALL"))
N_PATIENTS, N_FEATURES, N_VISITS = (120, 20, 4) if SMALL else (600, 100, 6)
N_ALPHAS = 6 if SMALL else 12
TOL = 1e-4 if SMALL else 1e-6

# %%
# The data
# --------
# Half of the patients train the models, a quarter chooses their settings, a
# quarter measures their errors. Missing scores (after a dropout) are NaN and
# simply left out of the loss: every visit uses the patients still in the study.
X, Y, coef = make_disease_progression(n_samples=N_PATIENTS, n_features=N_FEATURES,
                                      n_timepoints=N_VISITS, random_state=0)
support = np.any(coef != 0, axis=1)
patients = np.random.default_rng(1).permutation(N_PATIENTS)
train, valid, test = np.split(patients, [N_PATIENTS // 2, 3 * N_PATIENTS // 4])
print(f"{N_PATIENTS} patients, {N_FEATURES} baseline features, {N_VISITS} visits; "
      f"planted support: features {np.flatnonzero(support).tolist()}")
print("observed scores per visit:", (~np.isnan(Y)).sum(axis=0).tolist())

# %%
# The models and their grids
# --------------------------
# ``alpha`` runs down a path from ``alpha_max`` (the smallest value with
# ``W = 0``); TGL's ``smoothness`` and cFSGL's ``fused_weight`` (both relative to
# ``alpha``) take three values each. Every setting is one warm-started path.
MODELS = {
    "lasso": ["lasso"],
    "l21": ["l21"],
    "tgl": [TemporalGroupLasso(s) for s in (0.3, 3.0, 30.0)],
    "cfsgl": [FusedSparseGroupLasso(fused_weight=f, group_weight=1.0)
              for f in (0.3, 1.0, 3.0)],
}


def visit_rmse(Y_true, Y_pred):
    """Root mean squared error of every visit over its observed scores."""
    err = np.where(np.isnan(Y_true), np.nan, Y_pred - Y_true) ** 2
    return np.sqrt(np.nanmean(err, axis=0))


def fewest_false(coefs):
    """Along a path: the fewest noise features selected with the whole planted
    support selected (None if no alpha selects it all)."""
    counts = [int(np.sum(np.any(W != 0, axis=0) & ~support)) for W in coefs
              if np.all(np.any(W != 0, axis=0)[support])]
    return min(counts) if counts else None


def select(penalties):
    """The (penalty, alpha) with the smallest validation error, its W, b, and the
    path's support recovery (:func:`fewest_false`)."""
    best = None
    for penalty in penalties:
        top = alpha_max(X[train], Y[train], penalty=penalty)
        alphas = top * np.geomspace(0.5, 0.005, N_ALPHAS)
        _, coefs, intercepts, _ = linear_path(X[train], Y[train], penalty=penalty,
                                              alphas=alphas, tol=TOL, max_iter=20000)
        for alpha, W, b in zip(alphas, coefs, intercepts, strict=True):
            error = np.mean(visit_rmse(Y[valid], X[valid] @ W.T + b) ** 2)
            if best is None or error < best[0]:
                best = (error, penalty, alpha, W.T, b, fewest_false(coefs))
    return best[1:]


results = {}
not_converged = []
for name, penalties in MODELS.items():
    start = time.process_time()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        penalty, alpha, W, b, fewest = select(penalties)
    if any(issubclass(w.category, ConvergenceWarning) for w in caught):
        not_converged.append(name)
    chosen = np.any(W != 0, axis=1)
    results[name] = {
        "W": W,
        "rmse": visit_rmse(Y[test], X[test] @ W + b),
        "found": int(np.sum(chosen & support)),
        "false": int(np.sum(chosen & ~support)),
        "fewest_false": fewest,
        "weight_error": np.linalg.norm(W - coef) / np.linalg.norm(coef),
        "setting": penalty, "alpha": alpha,
        "cpu": time.process_time() - start,
    }

# %%
# Support recovery and weights
# ----------------------------
# Selected features: rows of ``W`` that are not zero. The lasso selects features
# visit by visit, so a noise feature picked at any visit counts; the three group
# models select whole rows. The ``alpha`` that predicts best keeps many noise
# features (they cost little error), so the support is also read along each
# path: "path" is the fewest noise features selected at an ``alpha`` that
# selects the whole planted support (for the chosen second weight).
print(f"\n{'model':7s} {'found':>5s} {'false':>5s} {'path':>5s} "
      f"{'||W-W*||/||W*||':>16s}  setting")
for name, r in results.items():
    path = "-" if r["fewest_false"] is None else str(r["fewest_false"])
    print(f"{name:7s} {r['found']:3d}/{support.sum():d} {r['false']:5d} {path:>5s} "
          f"{r['weight_error']:16.3f}  {r['setting']!r}, alpha={r['alpha']:.3g} "
          f"({r['cpu']:.1f} s CPU)")

# %%
# Error at every visit
# --------------------
# Test RMSE per visit (later visits have fewer patients: their errors are
# noisier). Borrowing strength across visits helps most where the labels are
# few.
print("\ntest RMSE per visit")
print("model   " + " ".join(f"{f'visit {t}':>8s}" for t in range(N_VISITS)))
for name, r in results.items():
    print(f"{name:7s} " + " ".join(f"{e:8.3f}" for e in r["rmse"]))
print("\nConvergenceWarning in: " + ", ".join(not_converged) if not_converged
      else "\nEvery path converged.")

fig, ax = plt.subplots(figsize=(6, 4), layout="constrained")
for name, r in results.items():
    ax.plot(np.arange(N_VISITS), r["rmse"], marker="o", label=name)
ax.set_xlabel("visit")
ax.set_ylabel("test RMSE")
ax.set_xticks(np.arange(N_VISITS))
ax.set_title("error at every visit")
ax.legend()
ax.grid(alpha=0.3)

# %%
# The weights themselves (features of the planted support and the five largest
# others, visits on the columns): TGL's rows change smoothly over the visits,
# cFSGL's are piecewise constant, the lasso's leave gaps.
shown = np.flatnonzero(support)
others = np.argsort(-np.max([np.abs(r["W"]).sum(axis=1) for r in results.values()],
                            axis=0) * ~support)[:5]
rows = np.concatenate([shown, others])
scale = np.abs(coef).max()
fig, axes = plt.subplots(1, 1 + len(results), figsize=(12, 4), layout="constrained",
                         sharey=True)
for ax, (title, W) in zip(axes, [("planted W*", coef)]
                          + [(name, r["W"]) for name, r in results.items()],
                          strict=True):
    image = ax.imshow(W[rows], cmap="RdBu_r", vmin=-scale, vmax=scale, aspect="auto",
                      interpolation="nearest")
    ax.set_title(title)
    ax.set_xlabel("visit")
axes[0].set_yticks(np.arange(rows.size), [f"x{j}" for j in rows])
axes[0].set_ylabel("feature (support, then others)")
fig.colorbar(image, ax=axes[-1], label="weight")

# sphinx_gallery_start_ignore
# Run as a script (the gallery renders the figures of every cell itself and
# defines no __file__): show the figures, or save them where there is no display.
if "__file__" in globals():
    from rkhsmtl.plotting import show_or_save_figures

    show_or_save_figures("disease_progression", args.save_figures)
# sphinx_gallery_end_ignore
