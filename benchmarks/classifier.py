"""Benchmarks of MultiTaskKernelClassifier (Newton-CG), each against a baseline of the
same run.

Every measurement runs in a fresh subprocess (peak resident memory read with
``os.wait4``), after waiting for a quiet machine (``_harness.measure``). Not a
test: nothing fails on time; the script prints a table and writes
``benchmarks/results-classifier.md``.

1. ``linear``: n = 4000, d = 20, T = 20, complete labels, linear kernel, A = I, no
   intercept: our fit ("primal" Newton-CG) vs a loop of scikit-learn
   ``LogisticRegression(C=1/(2 alpha), fit_intercept=False)`` over the 20 tasks
   (lbfgs, tol=1e-10). The decision values must agree to 1e-6.
2. ``rbf``: n = 2000, T = 10, rbf kernel, mean-regularised A, 30% missing labels:
   our fit ("eig") vs scipy's L-BFGS-B on the stated objective J(C, b) in the
   ``n T + T`` dual variables (gradient supplied, run until it reaches our
   objective to 1e-8 relative, or for at most 60 s). Also the squared-loss
   ``MultiTaskKernelRidge`` fit on the same data, for scale.
3. ``learned``: n = 2000, T = 10, rbf, ``TaskRelation``: time per alternating
   iteration vs one fixed-structure fit.

Usage::

    python benchmarks/classifier.py            # about 3 minutes on 2 quiet cores
    python benchmarks/classifier.py --quick    # tiny sizes (smoke test)
    python benchmarks/classifier.py --max-wait 0   # do not wait for a quiet machine
"""

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import _harness

HERE = Path(__file__).resolve().parent
ALPHA = 0.5


def _data(n, d, T, missing, seed=0):
    import numpy as np

    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    shared = rng.normal(size=d)
    W = shared[:, None] + 0.7 * rng.normal(size=(d, T))
    Y = (X @ W / np.sqrt(d) + 0.5 * rng.normal(size=(n, T)) > 0).astype(float)
    if missing:
        Y[rng.random((n, T)) < missing] = np.nan
    return X, Y


def fit_case(spec):
    import warnings

    import numpy as np

    X, Y = _data(spec["n"], spec["d"], spec["T"], spec["missing"])
    kind = spec["kind"]
    out = {}
    if kind == "ours_linear":
        from rkhsmtl import MultiTaskKernelClassifier

        model = MultiTaskKernelClassifier(alpha=ALPHA, kernel="linear",
                                          fit_intercept=False, tol=1e-8)
        start = time.perf_counter()
        model.fit(X, Y)
        out["time"] = time.perf_counter() - start
        out["scores"] = model.decision_function(X[:200]).tolist()
        out["n_iter"] = model.n_iter_
    elif kind == "sklearn_linear":
        from sklearn.linear_model import LogisticRegression

        start = time.perf_counter()
        coefs = []
        for t in range(Y.shape[1]):
            lr = LogisticRegression(C=1 / (2 * ALPHA), fit_intercept=False, tol=1e-10,
                                    max_iter=10_000).fit(X, Y[:, t])
            coefs.append(lr.coef_.ravel())
        out["time"] = time.perf_counter() - start
        out["scores"] = (X[:200] @ np.array(coefs).T).tolist()
    elif kind in ("ours_rbf", "ridge_rbf", "learned_rbf"):
        from rkhsmtl import MultiTaskKernelClassifier, MultiTaskKernelRidge
        from rkhsmtl.structure import TaskRelation

        if kind == "ridge_rbf":
            model = MultiTaskKernelRidge(alpha=ALPHA, gamma=0.05,
                                         task_structure="mean_regularized")
            Y = 2 * Y - 1
        elif kind == "ours_rbf":
            model = MultiTaskKernelClassifier(alpha=ALPHA, gamma=0.05,
                                              task_structure="mean_regularized",
                                              solver="eig", tol=1e-8)
        else:
            model = MultiTaskKernelClassifier(alpha=ALPHA, gamma=0.05,
                                              task_structure=TaskRelation(1.0))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            start = time.perf_counter()
            model.fit(X, Y)
            out["time"] = time.perf_counter() - start
        out["n_iter"] = int(model.n_iter_)
        if kind == "ours_rbf":
            out["objective"] = float(model.solver_info_["objective"])
    elif kind == "lbfgs_rbf":
        from scipy.optimize import minimize
        from sklearn.metrics.pairwise import rbf_kernel

        from rkhsmtl.structure import MeanRegularized

        target = spec["target"]
        n, T = Y.shape
        start = time.perf_counter()
        K = rbf_kernel(X, gamma=0.05)
        A = MeanRegularized().task_matrix(T)
        observed = ~np.isnan(Y)
        y = np.where(Y > 0, 1.0, -1.0)
        reached = {"at": None, "iters": 0}

        def fun(v):
            C = v[:n * T].reshape(n, T)
            b = v[n * T:]
            KC = K @ C
            F = KC @ A + b
            m = y * F
            loss = np.where(observed, np.logaddexp(0.0, -m), 0.0).sum()
            value = loss + ALPHA * np.sum(C * (KC @ A))
            G = np.where(observed, -y / (1.0 + np.exp(m)), 0.0)
            grad_C = K @ (G @ A) + 2 * ALPHA * (KC @ A)
            return value, np.concatenate([grad_C.ravel(), G.sum(axis=0)])

        def callback(intermediate_result):
            reached["iters"] += 1
            if (reached["at"] is None
                    and intermediate_result.fun <= target * (1 + 1e-8)):
                reached["at"] = time.perf_counter() - start
                raise StopIteration
            if time.perf_counter() - start > spec["budget"]:
                raise StopIteration

        minimize(fun, np.zeros(n * T + T), jac=True, method="L-BFGS-B",
                 callback=callback,
                 options={"maxiter": spec["maxiter"], "ftol": 0, "gtol": 0})
        out["time"] = time.perf_counter() - start
        out["reached"] = reached["at"] is not None
        out["n_iter"] = reached["iters"]
    return out


def run_case(spec):
    """``fit_case(spec)`` measured in a fresh subprocess (``_harness.measure``)."""
    return _harness.measure(fit_case, spec, spec["kind"], strict=True)


def main(argv=None):
    import numpy as np

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    _harness.add_options(parser, max_wait=300.0)
    args = parser.parse_args(argv)
    _harness.configure(args, retries=0, echo=False)
    quick = args.quick
    rows = []
    ok = True

    lin = {"n": 400 if quick else 4000, "d": 20, "T": 5 if quick else 20, "missing": 0}
    ours = run_case(dict(lin, kind="ours_linear"))
    ref = run_case(dict(lin, kind="sklearn_linear"))
    agree = float(np.max(np.abs(np.array(ours["scores"]) - np.array(ref["scores"]))))
    ok &= agree < 1e-6
    rows.append(("linear, A = I, n={n}, d={d}, T={T}".format(**lin),
                 "ours (primal Newton-CG)", ours["time"], "LogisticRegression x T",
                 ref["time"], f"max abs. score difference {agree:.1e}"))

    rbf = {"n": 300 if quick else 2000, "d": 10, "T": 4 if quick else 10,
           "missing": 0.3}
    ours = run_case(dict(rbf, kind="ours_rbf"))
    ridge = run_case(dict(rbf, kind="ridge_rbf"))
    lbfgs = run_case(dict(rbf, kind="lbfgs_rbf", target=ours["objective"],
                          maxiter=10**6, budget=10.0 if quick else 60.0))
    note = (f"L-BFGS reached our objective after {lbfgs['n_iter']} iterations"
            if lbfgs["reached"] else
            f"L-BFGS did NOT reach our objective in {lbfgs['time']:.0f} s "
            f"({lbfgs['n_iter']} iterations; time shown is that budget)")
    rows.append(("rbf, mean-regularised, 30% missing, n={n}, T={T}".format(**rbf),
                 "ours (eig Newton-CG)", ours["time"], "scipy L-BFGS on J(C, b)",
                 lbfgs["time"], note))
    rows.append(("rbf, mean-regularised, 30% missing, n={n}, T={T}".format(**rbf),
                 "ours (eig Newton-CG)", ours["time"],
                 "MultiTaskKernelRidge (squared loss)", ridge["time"],
                 f"Newton iterations {ours['n_iter']}"))
    learned = run_case(dict(rbf, kind="learned_rbf"))
    per_iter = learned["time"] / max(learned["n_iter"], 1)
    rows.append(("rbf, TaskRelation (learned), n={n}, T={T}".format(**rbf),
                 "one alternating iteration", per_iter, "one fixed-structure fit",
                 ours["time"], f"{learned['n_iter']} iterations, "
                 f"{learned['time']:.2f} s in all"))

    columns = ["problem", "ours", "time (s)", "baseline", "time (s)", "ours / baseline",
               "note"]
    lines = _harness.markdown_table(columns, [
        (problem, a, f"{ta:.3f}", b, f"{tb:.3f}", _harness.fmt_ratio(_harness.ratio(ta, tb)),
         note) for problem, a, ta, b, tb, note in rows])
    header = (f"Measured {time.strftime('%Y-%m-%d')} on {platform.machine()}, "
              f"{os.cpu_count()} cores, Python {platform.python_version()}, "
              f"{'quick' if quick else 'full'} sizes.\n\n")
    table = "\n".join(lines)
    print(table)
    name = "results-classifier-quick.md" if quick else "results-classifier.md"
    (HERE / name).write_text("# MultiTaskKernelClassifier benchmarks\n\n" + header
                             + table + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(_harness.main(main))
