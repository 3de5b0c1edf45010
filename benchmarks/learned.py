"""Benchmarks of learned task structures (alternating minimisation).

Every measurement runs in a fresh subprocess (its peak resident memory is read
with ``os.wait4``); ratios compare measurements of the same run. Not a test: no
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

Usage::

    python benchmarks/learned.py            # all, about 5 minutes on 2 cores
    python benchmarks/learned.py --quick    # tiny sizes (smoke test)
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


# --------------------------------------------------------------------------- #
# Workers (run in a subprocess)                                               #
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


def worker(spec):
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
    return {"seconds": seconds, "n_iter": int(model.n_iter_), "solver": model.solver_,
            "b_step_solver": info.get("b_step_solver", model.solver_),
            "n_samples": int(X.shape[0]), "n_tasks": int(Y.shape[1])}


def measure(spec):
    """Run one worker in a fresh subprocess; its result plus peak RSS (GiB)."""
    cmd = [sys.executable, __file__, "--worker", json.dumps(spec)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        return {"error": f"worker exited with status {status}"}
    result = json.loads(out.strip().splitlines()[-1])
    result["peak_rss_gib"] = usage.ru_maxrss * 1024 / 2**30
    return result


# --------------------------------------------------------------------------- #
# The benchmarks                                                              #
# --------------------------------------------------------------------------- #
def bench_complete(quick):
    n, T = (400, 5) if quick else (4000, 20)
    learned = measure({"kind": "complete_learned", "n": n, "T": T, "iters": 50})
    dense = measure({"kind": "complete_fixed_dense", "n": n, "T": T, "iters": 1})
    mean = measure({"kind": "complete_fixed_mean", "n": n, "T": T, "iters": 1})
    rows = []
    for base, label in ((dense, "fixed dense A ('eig')"),
                        (mean, "fixed mean-regularised A ('cholesky')")):
        ratio = learned["seconds"] / base["seconds"]
        rows.append({
            "benchmark": f"1. n={n}, T={T}, rbf, complete: learned OutputKernel, "
                         f"{learned['n_iter']} iterations vs one {label}",
            "ours": f"{learned['seconds']:.2f} s", "baseline": f"{base['seconds']:.2f} s",
            "ratio": f"{ratio:.2f}x",
            "target": "<= 1.25x" if "eig" in label else "(informative)",
            "result": ("pass" if ratio <= 1.25 else "FAIL") if "eig" in label else "info",
            "memory": f"{learned['peak_rss_gib']:.2f} / {base['peak_rss_gib']:.2f} GiB",
        })
    return rows


def bench_school(quick, kernel, solver, iters, label):
    extra = {"n_schools": 15} if quick else {}
    learned = measure({"kind": "school_learned", "kernel": kernel, "solver": solver,
                       "iters": iters, **extra})
    fixed = measure({"kind": "school_fixed", "kernel": kernel, "solver": solver, **extra})
    # One B-step per iteration plus the final one at the learned A.
    per_iter = learned["seconds"] / (learned["n_iter"] + 1)
    ratio = per_iter / fixed["seconds"]
    return [{
        "benchmark": f"{label}: School {learned['n_samples']} students, "
                     f"{learned['n_tasks']} tasks, kernel={kernel}, learned TaskRelation "
                     f"({learned['b_step_solver']} B-steps), {learned['n_iter']} "
                     f"iterations, total {learned['seconds']:.1f} s; per iteration vs "
                     f"one fixed fit ({fixed['solver']})",
        "ours": f"{per_iter:.2f} s/iter", "baseline": f"{fixed['seconds']:.2f} s",
        "ratio": f"{ratio:.2f}x", "target": "<= 1.5x",
        "result": "pass" if ratio <= 1.5 else "FAIL",
        "memory": f"{learned['peak_rss_gib']:.2f} / {fixed['peak_rss_gib']:.2f} GiB",
    }]


COLUMNS = ["benchmark", "ours", "baseline", "ratio", "target", "result", "memory"]


def render(rows, elapsed):
    import numpy
    import scipy
    import sklearn

    cpu = "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    lines = [
        "# rkhsmtl: learned task structures, benchmark results",
        "",
        "Produced by `python benchmarks/learned.py`; every measurement in a fresh "
        "subprocess, ratios within this run. Memory: peak RSS of ours / baseline "
        "(interpreter and imports included).",
        "",
        f"Machine: {os.cpu_count()} cores, {cpu}, {platform.platform()}; Python "
        f"{platform.python_version()}, numpy {numpy.__version__}, scipy "
        f"{scipy.__version__}, scikit-learn {sklearn.__version__}; total {elapsed:.0f} s.",
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
    ]
    lines += ["| " + " | ".join(r[c] for c in COLUMNS) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--output", default=None, help="markdown file to write")
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return 0
    start = time.perf_counter()
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
    sys.exit(main())
