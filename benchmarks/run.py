#!/usr/bin/env python
"""Benchmarks of rkhsmtl's fixed-structure kernel ridge solvers.

Every measurement runs in a fresh subprocess (``_harness.measure``), so that

* its peak resident memory (``ru_maxrss`` of that child, read with ``os.wait4``)
  belongs to that measurement alone -- BLAS/LAPACK work arrays included, which
  ``tracemalloc`` cannot see;
* a crash of a baseline (e.g. a segmentation fault inside OpenBLAS) is reported
  as "crashed" instead of killing the benchmark run.

Times are wall-clock ``time.perf_counter()`` around the measured call only (data
generation and imports are excluded), the best of a few repeats for small cases.
Every ratio is computed against a baseline measured in the same run.

Usage::

    python benchmarks/run.py            # full sizes, writes benchmarks/results.md
    python benchmarks/run.py --quick    # tiny smoke sizes, writes results-quick.md
    python benchmarks/run.py --only school

The exit status is non-zero only when a correctness check fails (predictions or
solutions that should agree do not, or one of the package's own runs fails);
performance targets are reported, not enforced.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import _harness
from _harness import Row, measure

HERE = Path(__file__).resolve().parent

BENCHMARKS = ("kernel_ridge", "masked", "kronecker", "school", "large")

# Problem sizes. "quick" is a smoke test of the script itself (seconds).
SIZES = {
    "full": {
        "kernel_ridge": {"n": 4000, "T": 20, "d": 10, "n_test": 1000},
        "masked": {"n": 2000, "T": 10, "d": 10, "missing": 0.3},
        "kronecker": {"n": 600, "T": 20, "d": 10},
        "school": {"max_rows": None},
        "large": {"N": 17000, "T": 50, "d": 10},
    },
    "quick": {
        "kernel_ridge": {"n": 300, "T": 20, "d": 10, "n_test": 100},
        "masked": {"n": 300, "T": 10, "d": 10, "missing": 0.3},
        "kronecker": {"n": 60, "T": 10, "d": 10},
        "school": {"max_rows": 1500},
        "large": {"N": 2500, "T": 50, "d": 10},
    },
}

ALPHA = 1.0
SEED = 0
# Tolerances of the correctness checks.
PRED_RTOL = 1e-8  # MultiTaskKernelRidge(independent) vs KernelRidge predictions
COEF_RTOL = 1e-8  # our dual coefficients vs the stacked Kronecker solve
RESID_RTOL = 1e-8  # stationarity residual of an observed-entries fit
EXACT_RTOL = 1e-10  # stationarity residual of solver="factored_cg" (its target)
CHOL_RTOL = 1e-10  # ||L L^T v - M v|| / ||M v|| of a Cholesky factor


# =============================================================================
# Worker side: functions run in a child process by _harness.measure.
# =============================================================================
def _complete_data(n, T, d, n_test, seed=SEED):
    """Related smooth tasks on Gaussian inputs, complete targets."""
    import numpy as np

    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    X_test = rng.standard_normal((n_test, d))
    w0 = rng.standard_normal(d) / np.sqrt(d)
    W = w0[:, None] + 0.3 * rng.standard_normal((d, T)) / np.sqrt(d)
    Y = np.sin(2.0 * X @ W) + 0.1 * rng.standard_normal((n, T))
    return X, Y, X_test


def _dense_task_matrix(T, seed=SEED + 1, condition=None):
    """A random dense PSD matrix with T distinct eigenvalues (0.1 ... 2.0), or spread
    geometrically over ``[2 / condition, 2]``."""
    import numpy as np

    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((T, T)))
    if condition is None:
        eigenvalues = np.linspace(0.1, 2.0, T)
    else:
        eigenvalues = np.geomspace(2.0 / condition, 2.0, T)
    A = (Q * eigenvalues) @ Q.T
    return 0.5 * (A + A.T)


def _task_structure(name, T):
    from rkhsmtl.structure import MeanRegularized

    if name == "independent":
        return "independent"
    if name == "mean_regularized":
        return MeanRegularized(strength=1.0)
    if name == "dense":
        return _dense_task_matrix(T)
    if name == "dense_ill":
        return _dense_task_matrix(T, condition=1e3)
    raise ValueError(name)


def _task_matrix(name, T):
    from rkhsmtl.structure import resolve_task_structure

    return resolve_task_structure(_task_structure(name, T)).task_matrix(T)


def _rbf_spd_matrix(X, alpha, gamma, block=1024):
    """``rbf_kernel(X, X, gamma) + alpha I``, built in row blocks (bounded temporaries)."""
    import numpy as np
    from sklearn.metrics.pairwise import rbf_kernel

    N = X.shape[0]
    M = np.empty((N, N))
    for s in range(0, N, block):
        e = min(s + block, N)
        M[s:e] = rbf_kernel(X[s:e], X, gamma=gamma)
        M[s:e, s:e] += alpha * np.eye(e - s)
    return M


def _rbf_matvec(X, v, alpha, gamma, block=1024):
    """``(rbf_kernel(X, X, gamma) + alpha I) v`` without forming the matrix."""
    import numpy as np
    from sklearn.metrics.pairwise import rbf_kernel

    out = np.empty_like(v)
    for s in range(0, X.shape[0], block):
        e = min(s + block, X.shape[0])
        out[s:e] = rbf_kernel(X[s:e], X, gamma=gamma) @ v
    return out + alpha * v


def _observed_residual(model, X, Y, alpha):
    """Relative residual of the stationarity conditions of an unweighted fit.

    With unit weights the optimum satisfies ``Y - F = alpha C`` on the observed
    entries and ``C = 0`` elsewhere (``F = K C A``, the in-sample predictions).
    """
    import numpy as np

    F = model.predict(X)
    C = model.dual_coef_
    obs = ~np.isnan(Y)
    r_obs = F[obs] + alpha * C[obs] - Y[obs]
    r_off = C[~obs]
    num = np.sqrt(np.sum(r_obs**2) + np.sum(r_off**2))
    return float(num / np.linalg.norm(Y[obs]))


def _school_data(max_rows):
    """School in the wide layout; with ``max_rows`` the first schools up to that size."""
    import numpy as np

    from rkhsmtl.datasets import load_school, long_to_wide

    X, y, task = load_school()
    if max_rows is not None:
        keep = np.zeros(task.shape[0], dtype=bool)
        for t in np.unique(task):
            rows = task == t
            if keep.sum() + rows.sum() > max_rows:
                break
            keep |= rows
        X, y, task = X[keep], y[keep], task[keep]
    X, Y = long_to_wide(np.asarray(X), y, task)
    return np.ascontiguousarray(X), Y


def _heterogeneous_data(N, T, d, seed=SEED):
    """N rows, each with one observed task out of T (like School), synthetic."""
    import numpy as np

    rng = np.random.default_rng(seed)
    X = rng.standard_normal((N, d))
    task = rng.integers(0, T, size=N)
    task[:T] = np.arange(T)  # every task observed
    w0 = rng.standard_normal(d) / np.sqrt(d)
    W = w0[:, None] + 0.3 * rng.standard_normal((d, T)) / np.sqrt(d)
    y = np.sin(2.0 * np.sum(X * W[:, task].T, axis=1)) + 0.1 * rng.standard_normal(N)
    Y = np.full((N, T), np.nan)
    Y[np.arange(N), task] = y
    return X, Y


# ---- the measurements -------------------------------------------------------
def work_idle(p):
    """Imports only: the resident-memory floor of a worker."""
    import numpy  # noqa: F401
    import scipy.linalg  # noqa: F401
    import sklearn.kernel_ridge  # noqa: F401

    import rkhsmtl  # noqa: F401

    return {"time": 0.0}


def work_mtkr_complete(p):
    """MultiTaskKernelRidge.fit on complete data; saves predictions and C."""
    import numpy as np

    from rkhsmtl import MultiTaskKernelRidge

    X, Y, X_test = _complete_data(p["n"], p["T"], p["d"], p.get("n_test", 1))
    structure = _task_structure(p["structure"], p["T"])

    def fit():
        return MultiTaskKernelRidge(alpha=ALPHA, kernel="rbf",
                                    task_structure=structure).fit(X, Y)

    best, times, model = _harness.best_time(fit, p["repeats"], budget=20.0)
    np.savez(p["out"], pred=model.predict(X_test), coef=model.dual_coef_)
    return {"time": best, "times": times, "solver": model.solver_,
            "solver_info": {k: v for k, v in model.solver_info_.items()
                            if isinstance(v, (int, float, str))},
            "residual": _observed_residual(model, X, Y, ALPHA)}


def work_mtkr_masked(p):
    """MultiTaskKernelRidge.fit with a fraction of the labels missing (or none)."""
    import numpy as np

    from rkhsmtl import MultiTaskKernelRidge

    X, Y, _ = _complete_data(p["n"], p["T"], p["d"], 1)
    if p["missing"]:
        rng = np.random.default_rng(SEED + 3)
        Y[rng.random(Y.shape) < p["missing"]] = np.nan
    structure = _task_structure(p["structure"], p["T"])

    def fit():
        return MultiTaskKernelRidge(alpha=ALPHA, kernel="rbf", task_structure=structure,
                                    solver=p["solver"]).fit(X, Y)

    best, times, model = _harness.best_time(fit, p["repeats"], budget=20.0)
    return {"time": best, "times": times, "solver": model.solver_,
            "solver_info": {k: v for k, v in model.solver_info_.items()
                            if isinstance(v, (int, float, str))},
            "residual": _observed_residual(model, X, Y, ALPHA)}


def work_sklearn_kr(p):
    """sklearn KernelRidge fitted on all T targets at once (Y of shape (n, T))."""
    import numpy as np
    from sklearn.kernel_ridge import KernelRidge

    X, Y, X_test = _complete_data(p["n"], p["T"], p["d"], p["n_test"])

    def fit():
        return KernelRidge(alpha=ALPHA, kernel="rbf", gamma=1.0 / p["d"]).fit(X, Y)

    best, times, model = _harness.best_time(fit, p["repeats"], budget=20.0)
    np.savez(p["out"], pred=model.predict(X_test))
    return {"time": best, "times": times}


def work_kron_naive(p):
    """The textbook stacked solve: (A kron K + alpha I) vec(C) = vec(Y)."""
    import numpy as np
    import scipy.linalg
    from sklearn.metrics.pairwise import rbf_kernel

    n, T, d = p["n"], p["T"], p["d"]
    X, Y, _ = _complete_data(n, T, d, 1)
    A = _task_matrix(p["structure"], T)

    def solve():
        K = rbf_kernel(X, gamma=1.0 / d)
        G = np.kron(A, K)  # (nT, nT); vec is column-major: vec(K C A) = (A kron K) vec(C)
        G.reshape(-1)[:: n * T + 1] += ALPHA
        c = scipy.linalg.solve(G, Y.T.reshape(-1), assume_a="pos")
        return c.reshape(T, n).T

    best, times, C = _harness.best_time(solve, p["repeats"], budget=20.0)
    np.savez(p["out"], coef=C)
    return {"time": best, "times": times, "system_size": n * T}


def work_mtkr_observed(p):
    """MultiTaskKernelRidge.fit on School or synthetic one-task-per-row data."""
    from rkhsmtl import MultiTaskKernelRidge

    if p["data"] == "school":
        X, Y = _school_data(p["max_rows"])
    else:
        X, Y = _heterogeneous_data(p["N"], p["T"], p["d"])
    model = MultiTaskKernelRidge(alpha=ALPHA, kernel="rbf", task_structure=_task_structure(
        "mean_regularized", Y.shape[1]), solver=p.get("solver", "cholesky"))
    t0 = time.perf_counter()
    model.fit(X, Y)
    elapsed = time.perf_counter() - t0
    # Correctness (not timed): the stationarity residual of the observed system.
    residual = _observed_residual(model, X, Y, ALPHA)
    return {"time": elapsed, "times": [elapsed], "solver": model.solver_,
            "n_observed": int(model.solver_info_.get("n_observed", -1)),
            "n_tasks": int(Y.shape[1]), "residual": residual}


def work_cholesky(p):
    """One Cholesky factorisation of an N x N rbf Gram + alpha I.

    ``impl`` is "scipy" (``scipy.linalg.cholesky(M, lower=True)``, the plain call)
    or "rkhsmtl" (``rkhsmtl._backend.cholesky(M, numpy, overwrite_a=True)``, blocked
    for N >= 8192).
    """
    import numpy as np

    if p["data"] == "school":
        X, _ = _school_data(p["max_rows"])
    else:
        X = np.random.default_rng(SEED).standard_normal((p["N"], p["d"]))
    gamma = 1.0 / X.shape[1]
    M = _rbf_spd_matrix(X, ALPHA, gamma)
    N = M.shape[0]
    if p["impl"] == "scipy":
        import scipy.linalg

        t0 = time.perf_counter()
        L = scipy.linalg.cholesky(M, lower=True)
        elapsed = time.perf_counter() - t0
        del M
    else:
        from rkhsmtl._backend import cholesky

        t0 = time.perf_counter()
        L = cholesky(M, np, overwrite_a=True)
        elapsed = time.perf_counter() - t0
        del M
    # Correctness (not timed): L L^T v = M v for a random v (M v streamed from X).
    v = np.random.default_rng(SEED + 2).standard_normal(N)
    Mv = _rbf_matvec(X, v, ALPHA, gamma)
    LLv = L @ (L.T @ v)  # both implementations return the factor with a zero upper part
    residual = float(np.linalg.norm(LLv - Mv) / np.linalg.norm(Mv))
    return {"time": elapsed, "times": [elapsed], "N": int(N), "residual": residual}



# =============================================================================
# Parent side
# =============================================================================
def _rel_diff(a, b):
    import numpy as np

    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def _load(tmpdir, label, key):
    import numpy as np

    with np.load(os.path.join(tmpdir, f"{label}.npz")) as f:
        return f[key]



def bench_kernel_ridge(size, tmpdir):
    n, T = size["n"], size["T"]
    common = dict(n=n, T=T, d=size["d"], n_test=size["n_test"], repeats=3)
    print(f"[kernel_ridge] n={n}, T={T}, rbf, vs sklearn KernelRidge on Y (n, T)")
    base = measure(work_sklearn_kr, dict(common, out=os.path.join(tmpdir, "skl_kr.npz")),
                   "skl_kr")
    rows = []
    names = {"independent": 'task_structure="independent"',
             "mean_regularized": "MeanRegularized(strength=1)",
             "dense": f"random dense PSD A ({T} distinct eigenvalues, condition 20)",
             "dense_ill": f"random dense PSD A ({T} distinct eigenvalues, condition 1e3)"}
    structures = ("independent", "mean_regularized", "dense", "dense_ill")
    for tag, structure in zip("abcd", structures, strict=True):
        label = f"ours_kr_{structure}"
        ours = measure(work_mtkr_complete, dict(common, structure=structure,
                                                out=os.path.join(tmpdir, label + ".npz")),
                       label)
        check = None
        if structure == "independent":
            value = None
            if ours["status"] == "ok" and base["status"] == "ok":
                value = _rel_diff(_load(tmpdir, label, "pred"),
                                  _load(tmpdir, "skl_kr", "pred"))
            check = ("predictions vs KernelRidge, rel. diff", value, PRED_RTOL)
        elif ours["status"] == "ok" and ours["solver"] == "factored_cg":
            check = ("stationarity residual", ours["residual"], EXACT_RTOL)
        note = ""
        if ours["status"] == "ok":
            info = dict(ours.get("solver_info", {}))
            info.pop("solver", None)
            extra = ", ".join(f"{k}={v}" for k, v in info.items())
            note = f"solver={ours['solver']!r}" + (f", {extra}" if extra else "")
        rows.append(Row(f"1{tag}. fit n={n}, T={T}, {names[structure]} vs sklearn KernelRidge",
                        ours, base, target=3.0, target_text="<= 3x", check=check,
                        note=note))
    return rows


def _info_note(result):
    if result["status"] != "ok":
        return ""
    info = dict(result.get("solver_info", {}))
    info.pop("solver", None)
    extra = ", ".join(f"{k}={v:.2g}" if isinstance(v, float) else f"{k}={v}"
                      for k, v in info.items())
    return f"solver={result['solver']!r}" + (f", {extra}" if extra else "")


def bench_masked(size, tmpdir):
    n, T, missing = size["n"], size["T"], size["missing"]
    common = dict(n=n, T=T, d=size["d"], structure="mean_regularized", repeats=3)
    print(f"[masked] n={n}, T={T}, {missing:.0%} of the labels missing vs complete data")
    base = measure(work_mtkr_masked, dict(common, missing=0.0, solver="auto"),
                   "ours_complete")
    rows = []
    for tag, solver, target in (("a", "auto", 3.0), ("b", "cholesky", None)):
        label = f"ours_masked_{solver}"
        ours = measure(work_mtkr_masked, dict(common, missing=missing, solver=solver,
                                              repeats=3 if solver == "auto" else 1),
                       label)
        value = ours.get("residual") if ours["status"] == "ok" else None
        tol = EXACT_RTOL if solver == "auto" else RESID_RTOL
        what = ("solver='auto'" if solver == "auto" else
                "solver='cholesky' (the observed-entries system, the route before)")
        rows.append(Row(
            f"5{tag}. fit n={n}, T={T}, MeanRegularized, {missing:.0%} missing, {what} "
            f"vs the complete-data fit (solver='auto')", ours, base,
            target=target, target_text="<= 3x" if target else "informative",
            kind="slowdown" if target else "info",
            check=("stationarity residual", value, tol),
            note=_info_note(ours) + (f"; baseline {_info_note(base)}" if tag == "a"
                                     else "")))
    return rows


def bench_kronecker(size, tmpdir):
    n, T = size["n"], size["T"]
    common = dict(n=n, T=T, d=size["d"])
    print(f"[kronecker] n={n}, T={T}: fit vs stacked (nT x nT = {n * T}) solve")
    rows = []
    names = {"mean_regularized": "MeanRegularized(strength=1)",
             "dense": "random dense PSD A"}
    for tag, structure in zip("ab", ("mean_regularized", "dense"), strict=True):
        ours_label, base_label = f"ours_kron_{structure}", f"naive_kron_{structure}"
        ours = measure(work_mtkr_complete,
                       dict(common, structure=structure, repeats=5,
                            out=os.path.join(tmpdir, ours_label + ".npz")), ours_label)
        base = measure(work_kron_naive,
                       dict(common, structure=structure, repeats=1,
                            out=os.path.join(tmpdir, base_label + ".npz")), base_label)
        value = None
        if ours["status"] == "ok" and base["status"] == "ok":
            value = _rel_diff(_load(tmpdir, ours_label, "coef"),
                              _load(tmpdir, base_label, "coef"))
        note = f"solver={ours.get('solver')!r}" if ours["status"] == "ok" else ""
        rows.append(Row(f"2{tag}. fit n={n}, T={T}, {names[structure]} vs "
                        f"np.kron + scipy.linalg.solve(assume_a='pos') ({n * T}x{n * T})",
                        ours, base, kind="speedup", target=100.0, target_text=">= 100x",
                        check=("dual coef vs stacked solve, rel. diff", value, COEF_RTOL),
                        note=note))
    return rows


def bench_school(size, tmpdir):
    print("[school] MeanRegularized, solver='cholesky' vs one scipy.linalg.cholesky")
    p = dict(max_rows=size["max_rows"])
    ours = measure(work_mtkr_observed, dict(p, data="school"), "ours_school")
    base = measure(work_cholesky, dict(p, data="school", impl="scipy"),
                   "scipy_chol_school")
    N = ours.get("n_observed") or base.get("N") or "?"
    value = ours.get("residual") if ours["status"] == "ok" else None
    note = (f"observed system {N}x{N}, {ours.get('n_tasks', '?')} tasks; baseline = "
            "scipy.linalg.cholesky(M, lower=True) of the rbf Gram + alpha I of the same "
            "inputs (matrix built outside the timing); ours = the whole fit (Hadamard "
            "system assembly + blocked Cholesky + solves)")
    if base["status"] == "ok":
        note += f"; baseline factor check ||LL^T v - Mv||/||Mv|| = {base['residual']:.1e}"
    rows = [Row(f"3. School fit, all {N} students, MeanRegularized, solver='cholesky' "
                f"vs one scipy.linalg.cholesky (N={N})",
                ours, base, target=2.0, target_text="<= 2x",
                check=("stationarity residual", value, RESID_RTOL), note=note)]
    auto = measure(work_mtkr_observed, dict(p, data="school", solver="auto"),
                   "ours_school_auto")
    value = auto.get("residual") if auto["status"] == "ok" else None
    rows.append(Row(f"3b. School fit, all {N} students, MeanRegularized, solver='auto' "
                    f"vs one scipy.linalg.cholesky (N={N})",
                    auto, base, target=2.0, target_text="<= 2x",
                    check=("stationarity residual", value, RESID_RTOL),
                    note=f"solver={auto.get('solver')!r} (one label per row: the "
                         "observed-entries system stays the cheapest)"))
    return rows


def bench_large(size, tmpdir):
    N, T, d = size["N"], size["T"], size["d"]
    print(f"[large] factorisations of order N={N}")
    rows = []
    ours = measure(work_cholesky, dict(data="random", N=N, d=d, impl="rkhsmtl"),
                   "rkhsmtl_chol_large")
    rows.append(Row(f"4a. rkhsmtl._backend.cholesky, N={N} (rbf Gram + alpha I)", ours,
                    None, kind="completes", target_text="completes",
                    check=("||LL^T v - Mv||/||Mv||",
                           ours.get("residual") if ours["status"] == "ok" else None,
                           CHOL_RTOL),
                    note="blocked (2048-row diagonal blocks) for N >= 8192; in place"))
    ours = measure(work_mtkr_observed, dict(data="heterogeneous", N=N, T=T, d=d),
                   "ours_hetero_large")
    rows.append(Row(f"4b. fit, {N} rows x {T} tasks, one task per row, MeanRegularized, "
                    f"solver='cholesky' (observed system {N}x{N})", ours, None,
                    kind="completes", target_text="completes",
                    check=("stationarity residual",
                           ours.get("residual") if ours["status"] == "ok" else None,
                           RESID_RTOL)))
    base = measure(work_cholesky, dict(data="random", N=N, d=d, impl="scipy"),
                   "scipy_chol_large")
    if base["status"] == "ok":
        what = (f"completed this time (factor check {base['residual']:.1e}); same matrix "
                f"as 4a")
    else:
        what = f"{base['status']}: the reason the blocked path exists; same matrix as 4a"
    rows.append(Row(f"4c. (informative) plain scipy.linalg.cholesky, N={N}", None, base,
                    kind="info", target_text="informative", note=what))
    return rows


RUNNERS = {"kernel_ridge": bench_kernel_ridge, "masked": bench_masked,
           "kronecker": bench_kronecker,
           "school": bench_school, "large": bench_large}


# ---- output -----------------------------------------------------------------
def render_markdown(rows, facts, mode, idle, load_start, load_end, elapsed):
    out = [f"# rkhsmtl benchmark results ({mode} run)", "",
           "Produced by `python benchmarks/run.py"
           + (" --quick" if mode == "quick" else "") + "`. Every measurement ran in a "
           "fresh subprocess; times are `time.perf_counter()` around the measured call "
           "(best of up to 3 repeats for the small cases), peak RSS is `ru_maxrss` of "
           "that subprocess (includes the interpreter and imports: "
           f"{idle['peak_rss_mib']:.0f} MiB for an idle worker). "
           "Ratios are ours / baseline (or baseline / ours for speed-ups), measured in "
           "the same run.", "", "## Machine", ""]
    out += _harness.facts_markdown(facts)
    out.append(f"- load average (1, 5, 15 min) at start: {load_start}; at end: "
               f"{load_end}")
    out.append(f"- total run time: {elapsed:.0f} s, of which {_harness.WAITED[0]:.0f} s "
               "waiting for other processes to go quiet")
    out += ["", "## Results", ""]
    out += _harness.markdown_table(Row.HEADER, [r.cells() for r in rows])
    out += ["", "## Notes", ""]
    for r in rows:
        bits = r.notes()
        if bits:
            out.append(f"- **{r.benchmark.split(' ', 1)[0]}** " + "; ".join(bits))
    return "\n".join(out) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="tiny problem sizes (a smoke test of the script)")
    parser.add_argument("--only", action="append", choices=BENCHMARKS, metavar="NAME",
                        help=f"run only this benchmark (repeatable): {', '.join(BENCHMARKS)}")
    parser.add_argument("--output", type=Path, default=None,
                        help="markdown output (default benchmarks/results.md, or "
                             "benchmarks/results-quick.md with --quick)")
    _harness.add_options(parser, max_wait=600.0, retries=2)
    args = parser.parse_args(argv)
    _harness.configure(args)

    mode = "quick" if args.quick else "full"
    output = args.output or HERE / ("results-quick.md" if args.quick else "results.md")
    selected = args.only or list(BENCHMARKS)
    facts = _harness.machine_facts()
    load_start = _harness.loadavg()
    print(f"rkhsmtl benchmarks ({mode}); CPU {facts['CPU model']}, nproc {facts['nproc']}")
    t_start = time.perf_counter()
    rows = []
    tmpdir = _harness.workdir()
    idle = measure(work_idle, {}, "idle", retries=0)
    for name in BENCHMARKS:
        if name in selected:
            rows.extend(RUNNERS[name](SIZES[mode][name], tmpdir))
    elapsed = time.perf_counter() - t_start
    load_end = _harness.loadavg()

    print()
    print(_harness.text_table(Row.HEADER, [r.cells() for r in rows]))
    for r in rows:
        if r.note:
            print(f"  {r.benchmark.split(' ', 1)[0]} {r.note}")
    output.write_text(render_markdown(rows, facts, mode, idle, load_start, load_end,
                                      elapsed))
    print(f"\nwritten to {output} (total {elapsed:.0f} s)")

    failed = [r.benchmark for r in rows
              if r.check_passed() is False or r.verdict() == "FAIL" and r.kind == "completes"]
    for r in rows:
        if r.verdict() == "FAIL" and r.kind != "completes":
            print(f"target missed (not an error): {r.benchmark}: {r.fmt_ratio()} "
                  f"vs target {r.target_text}")
    if failed:
        print("CORRECTNESS FAILURE in: " + "; ".join(failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(_harness.main(main))
