"""Benchmarks of learned task structures (alternating minimisation).

Every measurement runs in a fresh subprocess (``_harness.measure``: its peak
resident memory is read with ``os.wait4``), after waiting for a quiet machine;
ratios compare measurements of the same run. Not a test: no
threshold fails the script, which prints a table and writes
``benchmarks/results-learned.md``.

1. n = 4000, T = 20, rbf, complete data: a learned-structure fit with exactly 50
   alternating iterations (``OutputKernel``, ``tol=0``) vs one fixed-A fit with a
   dense A (solver "eig": one eigendecomposition) and vs one fixed-A fit with a
   mean-regularised A (solver "cholesky"). Target: <= 1.25x the fixed "eig" fit.
2. School, all 15 362 students, linear kernel: a learned ``TaskRelation`` fit
   (exact primal B-steps) -- wall time, iterations, peak memory -- vs one fixed-A
   fit (mean-regularised). Target: time per iteration <= 1.5x one fixed fit.
3. School, all students, rbf kernel, the exact observed-entries Cholesky B-step
   (``solver="cholesky"``, a 15 362 x 15 362 system per iteration), 2 iterations,
   vs one fixed-A Cholesky fit. Target: time per iteration <= 1.5x one fixed fit.

4. ``--convergence``: iterations of the alternating minimisation to its
   stopping rule on School (``--schools`` schools, the training students of split
   0; linear and rbf kernels; the structures and hyperparameters of the School
   table of the user guide), with the former rule (relative decrease and change
   of A, no acceleration), the duality-gap rule with the Anderson-accelerated
   alternating map and the current solver (duality gap, Newton-CG steps), and the
   objective's gap to a long run (``tol=1e-12``). Written
   as its own section of ``results-learned.md``; the iteration counts and gaps are
   what matter, the timings are taken as they come (``--max-wait``).

Usage::

    python benchmarks/learned.py            # all, about 5 minutes on 2 cores
    python benchmarks/learned.py --convergence --schools 30   # the convergence table
    python benchmarks/learned.py --quick    # tiny sizes (smoke test)
    python benchmarks/learned.py --max-wait 0   # do not wait for a quiet machine
"""

import argparse
import os
import sys
import time
from pathlib import Path

import _harness

HERE = Path(__file__).resolve().parent


# --------------------------------------------------------------------------- #
# The measured function (run in a subprocess by _harness.measure)             #
# --------------------------------------------------------------------------- #
def _complete_problem(n, T, seed=0):
    import numpy as np

    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 5))
    Y = np.sin(X[:, :1] * rng.uniform(0.5, 2.0, T)) + 0.1 * rng.standard_normal((n, T))
    return X, Y


def _dense_psd(T, seed=1):
    import numpy as np

    R = np.random.default_rng(seed).standard_normal((T, T))
    return R @ R.T / T + 0.1 * np.eye(T)


def _school():
    from rkhsmtl.datasets import load_school, long_to_wide

    X, y, task = load_school()
    return long_to_wide(X, y, task)


def fit_case(spec):
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    from rkhsmtl import MultiTaskKernelRidge
    from rkhsmtl.structure import MeanRegularized, OutputKernel, TaskRelation

    kind = spec["kind"]
    if kind.startswith("complete"):
        X, Y = _complete_problem(spec["n"], spec["T"])
        structure = {
            "complete_fixed_dense": lambda: _dense_psd(spec["T"]),
            "complete_fixed_mean": lambda: MeanRegularized(strength=1.0),
            "complete_learned": lambda: OutputKernel(strength=1.0),
        }[kind]()
        model = MultiTaskKernelRidge(alpha=1.0, kernel="rbf", gamma=0.2,
                                     task_structure=structure, max_iter=spec["iters"],
                                     tol=0.0)
    else:
        X, Y = _school()
        if spec.get("n_schools"):
            keep = ~__import__("numpy").isnan(Y[:, : spec["n_schools"]]).all(axis=1)
            X, Y = X[keep], Y[keep][:, : spec["n_schools"]]
        kernel = spec["kernel"]
        solver = spec["solver"]
        structure = (TaskRelation(strength=30.0) if kind == "school_learned"
                     else MeanRegularized(strength=10.0))
        model = MultiTaskKernelRidge(alpha=1.0, kernel=kernel, task_structure=structure,
                                     solver=solver, max_iter=spec.get("iters", 100),
                                     tol=spec.get("tol", 1e-5))
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, Y)
    seconds = time.perf_counter() - start
    info = model.solver_info_
    return {"time": seconds, "n_iter": int(model.n_iter_), "solver": model.solver_,
            "b_step_solver": info.get("b_step_solver", model.solver_),
            "n_samples": int(X.shape[0]), "n_tasks": int(Y.shape[1])}


def _school_subset(n_schools, kernel):
    """Training students (split 0) of ``n_schools`` schools drawn at random (fixed)."""
    import numpy as np

    from rkhsmtl.datasets import load_school, long_to_wide, train_test_split_per_task

    X, y, task = load_school()
    total = int(task.max()) + 1
    if n_schools < total:
        kept = np.sort(np.random.default_rng(0).choice(total, n_schools, replace=False))
        rows = np.isin(task, kept)
        X, y, task = X[rows], y[rows], np.searchsorted(kept, task[rows])
    X_wide, Y = long_to_wide(X, y, task)
    train, _ = train_test_split_per_task(task, train_size=0.75, random_state=0)
    return X_wide[train], Y[train]


#: structure -> (alpha, constructor name, arguments): the School table's choices.
CONVERGENCE_CASES = {
    "LowRank": (10.0, "LowRank", (100.0,)),
    "OutputKernel": (10.0, "OutputKernel", (10.0,)),
    "TaskRelation": (1.0, "TaskRelation", (30.0,)),
    "ClusteredNorm(r=3)": (1.0, "ClusteredNorm", (3, 100.0)),
}


def convergence_case(spec):
    """One learned fit on a School subset: iterations, time, objective, gap.

    ``spec["rule"]``: "gap" (the current solver), "former" (the stopping rule on
    the decrease of the objective and the change of A, without acceleration: the
    solver's behaviour when the B-step reports no dual variable) or "long"
    (``tol=1e-12``, the reference optimum).
    """
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    import rkhsmtl._solvers.alternating as alternating
    import rkhsmtl.structure as structures
    from rkhsmtl import MultiTaskKernelRidge

    X, Y = _school_subset(spec["n_schools"], spec["kernel"])
    alpha, name, args = CONVERGENCE_CASES[spec["structure"]]
    structure = getattr(structures, name)(*args)
    if spec["rule"] in ("former", "anderson"):
        alternating._USE_NEWTON = False
    if spec["rule"] == "former":
        run_stages = alternating._run_stages
        alternating._run_stages = lambda *a, **k: run_stages(*a[:7])
    tol, max_iter = (1e-12, spec["long_iter"]) if spec["rule"] == "long" else (1e-6, 100)
    model = MultiTaskKernelRidge(alpha=alpha, kernel=spec["kernel"],
                                 task_structure=structure, tol=tol, max_iter=max_iter)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, Y)
    seconds = time.perf_counter() - start
    info = model.solver_info_
    return {"time": seconds, "n_iter": int(model.n_iter_),
            "converged": bool(info["converged"]),
            "objective": float(model.objective_history_[-1]),
            "relative_gap": info.get("relative_gap"),
            "n_b_steps": info.get("n_b_steps"),
            "n_hessian_products": info.get("n_hessian_products", 0),
            "n_tasks": int(Y.shape[1]),
            "n_samples": int(X.shape[0])}


def bench_convergence(n_schools, kernels, long_iter):
    rows = []
    for kernel in kernels:
        for structure in CONVERGENCE_CASES:
            spec = {"n_schools": n_schools, "kernel": kernel, "structure": structure,
                    "long_iter": long_iter}
            runs = {rule: _harness.measure(convergence_case, dict(spec, rule=rule),
                                           f"{structure}-{kernel}-{rule}", strict=True)
                    for rule in ("long", "former", "anderson", "gap")}
            optimum = runs["long"]["objective"]
            row = {"case": f"{kernel}, {structure}, {runs['gap']['n_tasks']} schools, "
                           f"{runs['gap']['n_samples']} students",
                   "reference": f"{runs['long']['n_iter']} it., rel. gap "
                                f"{runs['long']['relative_gap']:.1e}"}
            for rule in ("former", "anderson", "gap"):
                r = runs[rule]
                excess = (r["objective"] - optimum) / abs(optimum)
                status = "" if r["converged"] else " (max_iter)"
                gap = ("" if r["relative_gap"] is None
                       else f", certified {r['relative_gap']:.1e}")
                work = f"{r['n_b_steps']} fact."
                if r["n_hessian_products"]:
                    work += f" + {r['n_hessian_products']} Hv"
                row[rule] = (f"{r['n_iter']} it.{status} ({work}), {r['time']:.1f} s, "
                             f"{excess:.1e} above{gap}")
            rows.append(row)
            print(" | ".join(row.values()), flush=True)
    return rows


CONVERGENCE_COLUMNS = ["case", "former", "anderson", "gap", "reference"]
CONVERGENCE_HEADER = "## Convergence of the alternating minimisation"


def render_convergence(rows, elapsed):
    lines = [
        CONVERGENCE_HEADER,
        "",
        "Produced by `python benchmarks/learned.py --convergence`. Training students of "
        "split 0 of a random subset of schools; the School table's structures and "
        "hyperparameters. *former*: the former stopping rule (relative decrease of "
        "the objective and change of A below tol = 1e-6, no acceleration); "
        "*Anderson*: duality gap <= 1e-6 of the objective, Anderson-accelerated "
        "alternating map (the previous solver); *Newton*: the same stopping rule, "
        "Newton-CG steps preconditioned by the B-step (the current solver; "
        "ClusteredNorm has no A-step derivative and keeps the Anderson map). "
        "`fact.`: factorisations of the B-step's system (B-steps), `Hv`: Hessian "
        "products (preconditioned CG iterations); `above` is the objective's "
        "relative distance to the *reference*, a run of the current solver to "
        "tol = 1e-12 (or its max_iter), `certified` the reported bound of that "
        "distance. Timings were taken on a busy shared "
        f"machine (other jobs running): only the iteration counts and gaps are "
        f"meaningful. Total {elapsed:.0f} s.",
        "",
    ]
    header = ["case", "former rule", "gap + Anderson", "gap + Newton", "reference"]
    lines += _harness.markdown_table(header, [[r[c] for c in CONVERGENCE_COLUMNS]
                                              for r in rows])
    return "\n".join(lines) + "\n"


def run_case(spec):
    """``fit_case(spec)`` measured in a fresh subprocess (``_harness.measure``)."""
    return _harness.measure(fit_case, spec, spec["kind"], strict=True)


# --------------------------------------------------------------------------- #
# The benchmarks                                                              #
# --------------------------------------------------------------------------- #
def bench_complete(quick):
    n, T = (400, 5) if quick else (4000, 20)
    learned = run_case({"kind": "complete_learned", "n": n, "T": T, "iters": 50})
    dense = run_case({"kind": "complete_fixed_dense", "n": n, "T": T, "iters": 1})
    mean = run_case({"kind": "complete_fixed_mean", "n": n, "T": T, "iters": 1})
    rows = []
    for base, label in ((dense, "fixed dense A ('eig')"),
                        (mean, "fixed mean-regularised A ('cholesky')")):
        ratio = _harness.ratio(learned["time"], base["time"])
        eig = "eig" in label
        rows.append({
            "benchmark": f"1. n={n}, T={T}, rbf, complete: learned OutputKernel, "
                         f"{learned['n_iter']} iterations vs one {label}",
            "ours": f"{learned['time']:.2f} s", "baseline": f"{base['time']:.2f} s",
            "ratio": _harness.fmt_ratio(ratio),
            "target": "<= 1.25x" if eig else "(informative)",
            "result": _harness.verdict(ratio, 1.25) if eig else "info",
            "memory": _memory(learned, base),
        })
    return rows


def bench_school(quick, kernel, solver, iters, label):
    extra = {"n_schools": 15} if quick else {}
    learned = run_case({"kind": "school_learned", "kernel": kernel, "solver": solver,
                        "iters": iters, **extra})
    fixed = run_case({"kind": "school_fixed", "kernel": kernel, "solver": solver, **extra})
    # One B-step per iteration plus the final one at the learned A.
    per_iter = learned["time"] / (learned["n_iter"] + 1)
    ratio = _harness.ratio(per_iter, fixed["time"])
    return [{
        "benchmark": f"{label}: School {learned['n_samples']} students, "
                     f"{learned['n_tasks']} tasks, kernel={kernel}, learned TaskRelation "
                     f"({learned['b_step_solver']} B-steps), {learned['n_iter']} "
                     f"iterations, total {learned['time']:.1f} s; per iteration vs "
                     f"one fixed fit ({fixed['solver']})",
        "ours": f"{per_iter:.2f} s/iter", "baseline": f"{fixed['time']:.2f} s",
        "ratio": _harness.fmt_ratio(ratio), "target": "<= 1.5x",
        "result": _harness.verdict(ratio, 1.5),
        "memory": _memory(learned, fixed),
    }]


def _memory(ours, baseline):
    return f"{ours['peak_rss_mib'] / 1024:.2f} / {baseline['peak_rss_mib'] / 1024:.2f} GiB"


COLUMNS = ["benchmark", "ours", "baseline", "ratio", "target", "result", "memory"]


def render(rows, elapsed):
    facts = _harness.machine_facts()
    lines = [
        "# rkhsmtl: learned task structures, benchmark results",
        "",
        "Produced by `python benchmarks/learned.py`; every measurement in a fresh "
        "subprocess, ratios within this run. Memory: peak RSS of ours / baseline "
        "(interpreter and imports included).",
        "",
        f"Machine: {os.cpu_count()} cores, {facts['CPU model']}, {facts['platform']}; "
        f"Python {facts['python']}, numpy {facts['numpy']}, scipy {facts['scipy']}, "
        f"scikit-learn {facts['scikit-learn']}; total {elapsed:.0f} s.",
        "",
    ]
    lines += _harness.markdown_table(COLUMNS, [[r[c] for c in COLUMNS] for r in rows])
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes")
    parser.add_argument("--output", default=None, help="markdown file to write")
    parser.add_argument("--convergence", action="store_true",
                        help="only the convergence table (its own section)")
    parser.add_argument("--schools", type=int, default=30,
                        help="schools of the convergence table (default 30)")
    parser.add_argument("--kernels", default="linear,rbf",
                        help="kernels of the convergence table")
    parser.add_argument("--long-iter", type=int, default=1000,
                        help="max_iter of the reference runs")
    _harness.add_options(parser, max_wait=600.0)
    args = parser.parse_args(argv)
    _harness.configure(args, retries=0, echo=False)
    start = time.perf_counter()
    if args.convergence:
        rows = bench_convergence(args.schools, args.kernels.split(","), args.long_iter)
        section = render_convergence(rows, time.perf_counter() - start)
        output = Path(args.output) if args.output else HERE / "results-learned.md"
        text = output.read_text() if output.exists() else ""
        if CONVERGENCE_HEADER in text:
            text = text[: text.index(CONVERGENCE_HEADER)].rstrip("\n") + "\n"
        output.write_text(text + "\n" + section)
        print(f"written: {output}")
        return 0
    rows = bench_complete(args.quick)
    rows += bench_school(args.quick, "linear", "auto", 100, "2")
    rows += bench_school(args.quick, "rbf", "cholesky", 2, "3")
    text = render(rows, time.perf_counter() - start)
    for r in rows:
        print(" | ".join(r[c] for c in COLUMNS))
    name = "results-learned-quick.md" if args.quick else "results-learned.md"
    output = Path(args.output) if args.output else HERE / name
    output.write_text(text)
    print(f"written: {output}")
    return 0


if __name__ == "__main__":
    sys.exit(_harness.main(main))
