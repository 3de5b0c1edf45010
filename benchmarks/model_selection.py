"""Benchmark of model selection at the cost of one fit (``MultiTaskKernelRidgeCV``).

One multi-task regression problem (n = 2000 training rows, T = 10 tasks in two
clusters, complete labels, rbf kernel, 1000 test rows) and one grid: 20 alphas x
5 gammas x 4 strengths of the mean-regularised structure (400 candidates). The
same grid is searched three ways, each in a fresh subprocess
(``_harness.measure``) after waiting for a quiet machine:

1. **exact LOO**: ``MultiTaskKernelRidgeCV(cv=None)`` -- leave-one-entry-out from
   one eigendecomposition of K per gamma, shared by every alpha and structure;
2. **our 5-fold**: ``MultiTaskKernelRidgeCV(cv=KFold(5))`` -- the same folds as
   the baseline, one eigendecomposition per gamma and fold;
3. **GridSearchCV 5-fold** (the baseline): scikit-learn's ``GridSearchCV`` over
   ``MultiTaskKernelRidge`` with the same folds, a refit from scratch for every
   candidate and fold (2000 fits).

For each it reports the wall time, the ratio to the baseline, the chosen
hyperparameters and the test mean squared error of the refitted choice. The
issue's aim: exact LOO at least 50x faster than GridSearchCV. Not a test: no
threshold fails the script, which prints a table and writes
``benchmarks/results-model-selection.md``.

Usage::

    python benchmarks/model_selection.py            # full size, ~10 min on 2 cores
    python benchmarks/model_selection.py --quick    # n = 300, a 5 x 2 x 2 grid
    python benchmarks/model_selection.py --max-wait 0   # do not wait for quiet
"""

import argparse
import sys
import time
from pathlib import Path

import _harness

HERE = Path(__file__).resolve().parent

FULL = {"n_train": 2000, "n_test": 1000, "n_tasks": 10, "n_alphas": 20, "n_gammas": 5,
        "strengths": [0.1, 1.0, 10.0, 100.0]}
QUICK = {"n_train": 300, "n_test": 200, "n_tasks": 4, "n_alphas": 5, "n_gammas": 2,
         "strengths": [1.0, 10.0]}


def _problem(size):
    import numpy as np

    from rkhsmtl.datasets import make_multitask_regression

    n = size["n_train"] + size["n_test"]
    X, Y = make_multitask_regression(n_samples=n, n_features=5, n_tasks=size["n_tasks"],
                                     n_clusters=2, noise=0.5, random_state=0)[:2]
    # Wide enough that the choice is inside the grid (alpha about 0.04, gamma 0.2).
    alphas = np.logspace(-4, 1, size["n_alphas"]).tolist()
    # Around the default 1 / n_features (0.2).
    gammas = (0.2 * np.logspace(-1.5, 0.5, size["n_gammas"])).tolist()
    n_train = size["n_train"]
    return X[:n_train], Y[:n_train], X[n_train:], Y[n_train:], alphas, gammas


def run_case(spec):
    import numpy as np
    from sklearn.model_selection import GridSearchCV, KFold

    from rkhsmtl import MultiTaskKernelRidge, MultiTaskKernelRidgeCV
    from rkhsmtl.structure import MeanRegularized

    size = spec["size"]
    X, Y, X_test, Y_test, alphas, gammas = _problem(size)
    structures = [MeanRegularized(strength=s) for s in size["strengths"]]
    folds = KFold(5, shuffle=True, random_state=0)
    start = time.perf_counter()
    if spec["kind"] == "grid_search":
        search = GridSearchCV(
            MultiTaskKernelRidge(),
            {"alpha": alphas, "gamma": gammas, "task_structure": structures},
            cv=folds, scoring="neg_mean_squared_error", n_jobs=1).fit(X, Y)
        best = search.best_params_
        chosen = (best["alpha"], best["gamma"], best["task_structure"].strength)
        model = search.best_estimator_
    else:
        cv = None if spec["kind"] == "loo" else folds
        search = MultiTaskKernelRidgeCV(alphas=alphas, gammas=gammas,
                                        task_structures=structures, cv=cv).fit(X, Y)
        chosen = (search.alpha_, search.gamma_,
                  search.best_params_["task_structure"].strength)
        model = search
    seconds = time.perf_counter() - start
    test_mse = float(np.mean((model.predict(X_test) - Y_test) ** 2))
    return {"time": seconds, "alpha": float(chosen[0]), "gamma": float(chosen[1]),
            "strength": float(chosen[2]), "test_mse": test_mse,
            "n_candidates": len(alphas) * len(gammas) * len(structures)}


COLUMNS = ["selection", "wall time", "vs GridSearchCV", "chosen alpha", "chosen gamma",
           "chosen strength", "test MSE"]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="n = 300, T = 4, a 5 x 2 x 2 grid (smoke test)")
    parser.add_argument("--output", default=None, help="markdown file to write")
    _harness.add_options(parser, max_wait=600.0, retries=1)
    args = parser.parse_args(argv)
    _harness.configure(args, echo=True)
    size = QUICK if args.quick else FULL
    started = time.perf_counter()
    runs = {}
    for kind, label in (("loo", "exact LOO (ours)"), ("folds", "5-fold (ours)"),
                        ("grid_search", "GridSearchCV 5-fold")):
        runs[kind] = _harness.measure(run_case, {"kind": kind, "size": size}, label,
                                      strict=True)
    base = runs["grid_search"]["time"]
    labels = {"loo": "exact leave-one-entry-out, MultiTaskKernelRidgeCV(cv=None)",
              "folds": "5-fold, MultiTaskKernelRidgeCV(cv=KFold(5))",
              "grid_search": "5-fold, GridSearchCV(MultiTaskKernelRidge()) (baseline)"}
    rows = []
    for kind, run in runs.items():
        speed = "-" if kind == "grid_search" else f"{base / run['time']:.1f}x faster"
        rows.append([labels[kind], f"{run['time']:.1f} s", speed, f"{run['alpha']:.3g}",
                     f"{run['gamma']:.3g}", f"{run['strength']:g}",
                     f"{run['test_mse']:.4f}"])
    elapsed = time.perf_counter() - started
    n_candidates = runs["loo"]["n_candidates"]
    lines = [
        "# Model selection at the cost of one fit: benchmark results",
        "",
        "Produced by `python benchmarks/model_selection.py"
        + (" --quick" if args.quick else "") + "`; every measurement in a fresh "
        "subprocess, ratios within this run.",
        "",
        f"Problem: n = {size['n_train']} training rows, T = {size['n_tasks']} tasks "
        f"(two clusters, noise-to-signal 0.5, complete labels), rbf kernel, "
        f"{size['n_test']} test rows. Grid: {size['n_alphas']} alphas (1e-4 .. 10, "
        f"log) x {size['n_gammas']} gammas (0.0063 .. 0.63, log) x "
        f"{len(size['strengths'])} strengths of MeanRegularized "
        f"({', '.join(f'{s:g}' for s in size['strengths'])}) = {n_candidates} "
        "candidates; the folds are the same `KFold(5, shuffle=True, random_state=0)` "
        "for both 5-fold searches (so they choose the same candidate).",
        "",
        *_harness.facts_markdown(_harness.machine_facts()),
        f"- total: {elapsed:.0f} s (of which {_harness.WAITED[0]:.0f} s waiting for "
        "a quiet machine)",
        "",
        *_harness.markdown_table(COLUMNS, rows),
    ]
    print(_harness.text_table(COLUMNS, rows))
    name = "results-model-selection-quick.md" if args.quick else \
        "results-model-selection.md"
    output = Path(args.output) if args.output else HERE / name
    output.write_text("\n".join(lines) + "\n")
    print(f"written: {output}")
    return 0


if __name__ == "__main__":
    sys.exit(_harness.main(main))
