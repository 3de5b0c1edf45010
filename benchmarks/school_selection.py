"""School protocol with every method's hyperparameters chosen inside each split.

The protocol of ``examples/school_protocol.py`` (139 schools = tasks, linear kernel
on the 28 raw features; for each seed every school's students split at random
75 % / 25 % by ``train_test_split_per_task(task, 0.75, random_state=seed)``; score:
the explained variance pooled over all test students of all schools,
:func:`rkhsmtl.metrics.pooled_explained_variance`), except for the selection:
the example tunes on split 0 once, here **every seed** chooses each method's
``alpha`` (and ``strength``) by :class:`rkhsmtl.MultiTaskKernelRidgeCV` -- exact
leave-one-out of single labels (``loo="entry"``), computed in the primal -- on
that split's training students only, refits the chosen candidate on them and
scores it on the test students (pooled explained variance, and the mean over
schools of each school's R2).

Methods and grids (``GRIDS``): independent, pooled and mean-regularised (fixed
structures: one eigendecomposition of the primal system per structure serves the
whole ``alpha`` grid), and the learned ``LowRank``, ``TaskRelation`` and
``OutputKernel`` (2 strengths x 2 alphas each, ``max_iter=LEARNED_MAX_ITER``
alternating iterations per fit). A learned structure is scored by the
leave-one-out of the model *at its learned* ``A`` (``A`` held fixed when a
label is left out), which is optimistic: it can favour a weakly penalised ``A``.

Sizing: seed 0 of a first version of these grids (8 alphas for the mean-regularised
structure) took 503 s with one BLAS thread on a shared 2-core machine (load about
3): 13 s for independent and pooled, 128 s for mean-regularised, 105-140 s for
each learned structure (4 path points and the refit, 15 iterations each). With
the grids below a seed takes about 7 minutes there, so ``--n-jobs 2`` runs the
10 seeds in about 35 minutes on 2 quiet cores. Not a test: nothing fails; it
writes a markdown table::

    python benchmarks/school_selection.py --n-jobs 2     # the protocol, 10 seeds
    python benchmarks/school_selection.py --quick        # 12 schools, 2 seeds, < 2 min
    python benchmarks/school_selection.py --schools 40 --seeds 1   # time a subset
"""

import argparse
import sys
import time
from pathlib import Path

import _harness

HERE = Path(__file__).resolve().parent

#: Alternating iterations of a learned fit (path points and refit); the learned
#: fits dominate the run time.
LEARNED_MAX_ITER = 15
LEARNED_TOL = 1e-5

FIXED_ALPHAS = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0)

#: method -> (structure class name or fixed structure, alphas, strengths or None)
GRIDS = {
    "independent": ("independent", FIXED_ALPHAS, None),
    "pooled": ("pooled", FIXED_ALPHAS, None),
    # Five alphas: one Cholesky factorisation each is cheaper than one
    # eigendecomposition (the leave-one-out's choice from six alphas on).
    "mean-regularised": ("MeanRegularized", (0.03, 0.1, 0.3, 1.0, 3.0),
                         (30.0, 100.0, 300.0, 1000.0, 3000.0)),
    "learned LowRank": ("LowRank", (3.0, 10.0), (100.0, 300.0)),
    # TaskRelation's A is now scaled by 1 + strength (alpha in independent tasks'
    # units): the recorded run's alphas 0.3 and 1 at strength 30 are 9.3 and 31.
    "learned TaskRelation": ("TaskRelation", (10.0, 30.0), (30.0, 100.0)),
    "learned OutputKernel": ("OutputKernel", (3.0, 10.0), (10.0, 30.0)),
    # Started from (and whitened by) the mean-regularised structure chosen on the
    # same split: the learned relation adjusts the tuned fixed structure. Its
    # alphas are factors of the alpha chosen for that structure (unrelated tasks
    # give A = prior, so alpha keeps the prior's meaning); small strengths stay
    # near the prior.
    "learned TaskRelation, prior: tuned mean-reg.": ("TaskRelation@mean",
                                                     (1 / 3, 1.0, 3.0), (1.0, 10.0)),
}

#: The same methods on small grids, for --quick.
QUICK_GRIDS = {
    "independent": ("independent", (0.3, 3.0, 30.0), None),
    "pooled": ("pooled", (0.3, 3.0, 30.0), None),
    "mean-regularised": ("MeanRegularized", (0.3, 3.0, 30.0), (3.0, 30.0)),
    "learned LowRank": ("LowRank", (1.0, 10.0), (10.0, 100.0)),
    "learned TaskRelation": ("TaskRelation", (3.0, 10.0), (10.0, 30.0)),
    "learned OutputKernel": ("OutputKernel", (1.0, 10.0), (1.0, 10.0)),
    "learned TaskRelation, prior: tuned mean-reg.": ("TaskRelation@mean", (1.0, 3.0),
                                                     (1.0, 10.0)),
}


def load(n_schools):
    """The School data in the wide layout, restricted to ``n_schools`` schools drawn
    at random (the same draw as ``examples/school_protocol.py``)."""
    import numpy as np

    from rkhsmtl.datasets import load_school, long_to_wide

    X, y, task = load_school()
    total = int(task.max()) + 1
    if n_schools < total:
        kept = np.sort(np.random.default_rng(0).choice(total, n_schools, replace=False))
        rows = np.isin(task, kept)
        X, y, task = X[rows], y[rows], np.searchsorted(kept, task[rows])
    X_wide, Y = long_to_wide(X, y, task)
    return X_wide, Y, task


def _structures(kind, strengths, chosen):
    from rkhsmtl import structure

    if strengths is None:
        return [kind]
    if kind.endswith("@mean"):
        prior = structure.MeanRegularized(strength=chosen["mean-regularised"])
        return [getattr(structure, kind[:-5])(strength=s, prior=prior)
                for s in strengths]
    return [getattr(structure, kind)(strength=s) for s in strengths]


def run_seed(spec):
    """Select, refit and score every method on one split (one BLAS thread)."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from threadpoolctl import threadpool_limits

    from rkhsmtl import MultiTaskKernelRidgeCV
    from rkhsmtl.datasets import train_test_split_per_task
    from rkhsmtl.metrics import pooled_explained_variance, r2_score

    X, Y, task = load(spec["n_schools"])
    seed = spec["seed"]
    train, test = train_test_split_per_task(task, train_size=0.75, random_state=seed)
    rows = []
    chosen = {}  # strength chosen per method on this split (a prior of later ones)
    chosen_alpha = {}
    with threadpool_limits(1), warnings.catch_warnings():
        # A learned fit stopped by max_iter is still a (monotonically improved)
        # model; the iterations of the refit are reported.
        warnings.simplefilter("ignore", ConvergenceWarning)
        for name, (kind, alphas, strengths) in spec["grids"].items():
            learned = strengths is not None and kind != "MeanRegularized"
            if kind.endswith("@mean"):  # factors of the prior's chosen alpha
                alphas = tuple(chosen_alpha["mean-regularised"] * f for f in alphas)
            model = MultiTaskKernelRidgeCV(
                alphas=alphas, kernel="linear",
                task_structures=_structures(kind, strengths, chosen), loo="entry",
                max_iter=LEARNED_MAX_ITER, tol=LEARNED_TOL)
            start = time.perf_counter()
            model.fit(X[train], Y[train])
            seconds = time.perf_counter() - start
            pred = model.predict(X[test])
            structure = model.best_params_["task_structure"]
            chosen[name] = getattr(structure, "strength", None)
            chosen_alpha[name] = model.alpha_
            rows.append({
                "method": name, "seed": seed, "alpha": model.alpha_,
                "strength": getattr(structure, "strength", None),
                "loo_score": model.best_score_, "loo_solver": model.loo_solver_,
                "n_candidates": len(model.cv_results_["params"]),
                "n_iter": int(model.n_iter_) if learned else None,
                "seconds": seconds,
                "explained_variance": 100.0 * pooled_explained_variance(Y[test], pred),
                "mean_task_r2": 100.0 * float(r2_score(Y[test], pred)),
            })
            print(f"seed {seed}  {name:<22} alpha={model.alpha_:<6g} strength="
                  f"{rows[-1]['strength']}  EV {rows[-1]['explained_variance']:.2f}%  "
                  f"{seconds:.1f} s", flush=True)
    return rows


def _fmt(value):
    return "-" if value is None else f"{value:g}"


def render(rows, args, n_schools, n_students, elapsed, grids):
    import numpy as np

    methods = list(grids)
    seeds = sorted({r["seed"] for r in rows})
    by = {(r["method"], r["seed"]): r for r in rows}
    facts = _harness.machine_facts()
    lines = [
        "# School: hyperparameters chosen inside every split",
        "",
        f"Produced by `python benchmarks/school_selection.py"
        f"{' --quick' if args.quick else ''} --n-jobs {args.n_jobs}"
        f"{f' --schools {args.schools}' if args.schools else ''}` "
        f"({n_schools} schools, {n_students} students, seeds "
        f"{seeds[0]}..{seeds[-1]}; per-school 75/25 splits; linear kernel on the raw "
        "features). Each method's alpha (and strength) chosen by "
        "MultiTaskKernelRidgeCV (exact entry leave-one-out, primal) on the training "
        "students of the split, refitted on them, scored on its test students. "
        "Explained variance pooled over all test students (%), and the mean over "
        "schools of each school's R2 (%); mean ± std over the seeds. Learned "
        f"structures: at most {LEARNED_MAX_ITER} alternating iterations per fit.",
        "",
    ]
    header = ["method", "explained variance (%)", "mean task R2 (%)",
              "selection + refit (s)", "candidates", "alternating iterations"]
    table = []
    for name in methods:
        got = [by[(name, s)] for s in seeds if (name, s) in by]
        ev = np.array([r["explained_variance"] for r in got])
        r2 = np.array([r["mean_task_r2"] for r in got])
        iters = [r["n_iter"] for r in got if r["n_iter"] is not None]
        table.append([
            name, f"{ev.mean():.2f} ± {ev.std():.2f}", f"{r2.mean():.2f} ± {r2.std():.2f}",
            f"{np.mean([r['seconds'] for r in got]):.1f}", got[0]["n_candidates"],
            f"{np.mean(iters):.1f}" if iters else "-"])
    lines += _harness.markdown_table(header, table)
    lines += ["", "Chosen (alpha, strength) per seed:", ""]
    header = ["method"] + [f"seed {s}" for s in seeds]
    table = [[name] + [f"{_fmt(by[(name, s)]['alpha'])}, "
                       f"{_fmt(by[(name, s)]['strength'])}"
                       if (name, s) in by else "" for s in seeds]
             for name in methods]
    lines += _harness.markdown_table(header, table)
    lines += ["", "Grids:", ""]
    for name, (kind, alphas, strengths) in grids.items():
        times = " times the mean-regularised alpha" if kind.endswith("@mean") else ""
        lines.append(f"- {name}: alphas {', '.join(f'{a:.3g}' for a in alphas)}{times}"
                     + (f"; strengths {', '.join(_fmt(s) for s in strengths)}"
                        if strengths else ""))
    solvers = sorted({str(r["loo_solver"]) for r in rows})
    lines += ["", f"Leave-one-out path(s): {', '.join(solvers)}. Total wall time "
              f"{elapsed:.0f} s with {args.n_jobs} job(s), one BLAS thread each; load "
              f"average at the end {_harness.loadavg()}.", "", "Machine:", ""]
    lines += _harness.facts_markdown(facts)
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="12 schools, 2 seeds, small grids (< 2 minutes)")
    parser.add_argument("--seeds", type=int, default=None,
                        help="number of seeds 0..N-1 (default 10, --quick 2)")
    parser.add_argument("--schools", type=int, default=None,
                        help="number of schools drawn at random (default 139, "
                             "--quick 12): to time a subset")
    parser.add_argument("--n-jobs", type=int, default=1,
                        help="seeds run in parallel (joblib; one BLAS thread each)")
    parser.add_argument("--output", default=None,
                        help="markdown file (default "
                             "benchmarks/results-school-selection.md; --quick: "
                             "benchmarks/results-school-selection-quick.md)")
    args = parser.parse_args(argv)
    n_schools = args.schools or (12 if args.quick else 139)
    n_seeds = args.seeds if args.seeds is not None else (2 if args.quick else 10)
    if n_seeds < 1 or args.n_jobs < 1 or not 2 <= n_schools <= 139:
        parser.error("--seeds and --n-jobs must be at least 1, --schools in 2..139.")
    grids = QUICK_GRIDS if args.quick else GRIDS
    from joblib import Parallel, delayed

    X, Y, _ = load(n_schools)
    start = time.perf_counter()
    specs = [{"seed": s, "n_schools": n_schools, "grids": grids}
             for s in range(n_seeds)]
    results = Parallel(n_jobs=args.n_jobs)(delayed(run_seed)(spec) for spec in specs)
    elapsed = time.perf_counter() - start
    rows = [row for seed_rows in results for row in seed_rows]
    text = render(rows, args, Y.shape[1], X.shape[0], elapsed, grids)
    name = ("results-school-selection-quick.md" if args.quick
            else "results-school-selection.md")
    output = Path(args.output) if args.output else HERE / name
    output.write_text(text)
    print(text)
    print(f"written: {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
