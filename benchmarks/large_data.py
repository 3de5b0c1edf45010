"""Benchmarks of the low-rank kernel approximations (``approximation=...``).

Every measurement runs in a fresh subprocess (``_harness.measure``: its peak
resident memory is read with ``os.wait4``), after waiting for a quiet machine.
Not a test: no threshold fails the script, which prints a table and writes
``benchmarks/results-large-data.md``.

1. Scale: n = 1 000 000, d = 20, T = 20, rbf, complete data, Nyström with
   m = 2000 centres: a fixed task structure (mean-regularised) and a learned one
   (``LowRank``, 30 alternating iterations): fit time (one pass over the rows for
   the statistics, then ``m``-dimensional solves) and peak memory (the data, 2 x
   160 MB, plus ``O(m^2)``: the ``n x n`` kernel would need 8 TB).
2. Accuracy: n = 20 000, the exact fit vs Nyström with m = 2000 (uniform and
   leverage-score centres) and random Fourier features (m = 4000): test R^2 of
   each, the largest difference of their predictions to the exact ones, time and
   memory.
3. The same Nyström model as scikit-learn's
   ``Pipeline(Nystroem(n_components=m), Ridge(fit_intercept=False))`` for
   independent tasks (A = I): the same centres for the same ``random_state``, so
   the same predictions (largest difference reported), and the times.
4. School's layout scaled up: one task per row (every other label missing),
   n = 500 000, T = 200, Nyström with m = 1000: the per-task statistics
   (``T m^2``, 1.6 GB), a fixed and a learned task structure.

Usage::

    python benchmarks/large_data.py            # full sizes (long: run on a quiet machine)
    python benchmarks/large_data.py --quick    # small sizes, under a minute
    python benchmarks/large_data.py --max-wait 0   # do not wait for a quiet machine
"""

import argparse
import os
import sys
import time
from pathlib import Path

import _harness

HERE = Path(__file__).resolve().parent


# --------------------------------------------------------------------------- #
# The measured functions (run in a subprocess by _harness.measure)            #
# --------------------------------------------------------------------------- #
def _problem(n, d, T, seed=0, n_test=500, one_task_per_row=False):
    """Smooth related tasks: shared random-feature functions mixed per task.

    ``one_task_per_row``: each row keeps the label of one task drawn at random
    (the School layout), the others are missing.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n + n_test, d))
    omega = rng.standard_normal((d, 50)) * 0.3
    basis = np.cos(X @ omega + rng.uniform(0, 2 * np.pi, 50))
    mix = rng.standard_normal((50, 3)) @ rng.standard_normal((3, T)) / 5
    F = basis @ mix + 0.2 * basis @ rng.standard_normal((50, T)) / 5
    Y = F + 0.1 * F.std(axis=0) * rng.standard_normal(F.shape)
    if one_task_per_row:
        missing = np.ones(Y.shape, dtype=bool)
        missing[np.arange(n + n_test), rng.integers(0, T, size=n + n_test)] = False
        Y[missing] = np.nan
    return X[:n], Y[:n], X[n:], F[n:], Y[n:]


def fit_case(spec):
    import warnings

    import numpy as np
    from sklearn.exceptions import ConvergenceWarning

    from rkhsmtl import MultiTaskKernelRidge

    X, Y, X_test, F_test, Y_test = _problem(
        spec["n"], spec["d"], spec["T"], one_task_per_row=spec.get("one_per_row", False))
    gamma = 1.0 / (2 * spec["d"])
    start = time.perf_counter()
    if spec["kind"] == "sklearn":
        from sklearn.kernel_approximation import Nystroem
        from sklearn.linear_model import Ridge
        from sklearn.pipeline import make_pipeline

        model = make_pipeline(
            Nystroem(gamma=gamma, n_components=spec["m"], random_state=0),
            Ridge(alpha=spec["alpha"], fit_intercept=False)).fit(X, Y)
    else:
        params = dict(alpha=spec["alpha"], gamma=gamma,
                      task_structure=spec["structure"], max_iter=spec.get("iters", 100),
                      tol=0.0 if spec.get("iters") else 1e-6)
        if spec["kind"] != "exact":
            params.update(approximation=spec["kind"], n_components=spec["m"],
                          nystrom_sampling=spec.get("sampling", "uniform"),
                          random_state=0)
        model = MultiTaskKernelRidge(**params)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(X, Y)
    seconds = time.perf_counter() - start
    pred = model.predict(X_test)
    r2 = 1 - ((pred - F_test) ** 2).sum(axis=0) / ((F_test - F_test.mean(0)) ** 2).sum(0)
    # Test MSE on the noisy test labels (the observed ones), as a user measures it.
    mse = float(np.nanmean((pred - Y_test) ** 2))
    return {"time": seconds, "r2": float(np.mean(r2)), "mse": mse,
            "pred": pred[:100].tolist(), "n_iter": int(getattr(model, "n_iter_", 1))}


def run_case(label, spec):
    """``fit_case(spec)`` measured in a fresh subprocess (``_harness.measure``)."""
    return _harness.measure(fit_case, spec, label, strict=True)


def _gap(a, b):
    import numpy as np

    return float(np.max(np.abs(np.asarray(a["pred"]) - np.asarray(b["pred"]))))


def _relative(value, reference):
    return f"{100 * (value / reference - 1):+.1f} %"


def _gib(result):
    return f"{result['peak_rss_mib'] / 1024:.2f} GiB"


# --------------------------------------------------------------------------- #
# The benchmarks                                                              #
# --------------------------------------------------------------------------- #
def bench_scale(quick):
    n, d, T, m = (10_000, 20, 5, 200) if quick else (1_000_000, 20, 20, 2000)
    common = {"n": n, "d": d, "T": T, "m": m, "alpha": 1.0, "kind": "nystrom"}
    return _fixed_and_learned(f"1. n={n}, d={d}, T={T}, Nyström m={m}", "scale", common)


def _fixed_and_learned(title, name, common):
    """A fixed (mean-regularised) and a learned (LowRank, 30 iterations) fit."""
    rows, fixed = [], None
    for label, extra in (("fixed mean-regularised A", {"structure": "mean_regularized"}),
                         ("learned LowRank A, 30 iterations",
                          {"structure": "low_rank", "iters": 30})):
        res = run_case(f"{name}-{extra['structure']}", dict(common, **extra))
        versus = "" if fixed is None else (
            _harness.fmt_ratio(_harness.ratio(res["time"], fixed["time"]))
            + " the fixed fit's time")
        fixed = fixed or res
        rows.append({"benchmark": f"{title}: {label}",
                     "time": f"{res['time']:.1f} s", "R^2": f"{res['r2']:.4f}",
                     "vs reference": versus, "memory": _gib(res)})
    return rows


def bench_school_like(quick):
    """School's layout scaled up: one task per row, many tasks (per-task statistics)."""
    n, d, T, m = (6000, 20, 20, 100) if quick else (500_000, 20, 200, 1000)
    common = {"n": n, "d": d, "T": T, "m": m, "alpha": 1.0, "kind": "nystrom",
              "one_per_row": True}
    return _fixed_and_learned(f"4. one task per row, n={n}, T={T}, Nyström m={m}",
                              "school-like", common)


def bench_accuracy(quick):
    n, d, T, m = (1500, 20, 5, 200) if quick else (20_000, 20, 20, 2000)
    common = {"n": n, "d": d, "T": T, "m": m, "alpha": 1.0,
              "structure": "mean_regularized"}
    exact = run_case("accuracy-exact", dict(common, kind="exact"))
    rows = [{"benchmark": f"2. n={n}, T={T}: exact fit", "time": f"{exact['time']:.1f} s",
             "R^2": f"{exact['r2']:.4f}", "vs reference": "(reference)",
             "memory": _gib(exact)}]
    for label, extra in ((f"Nyström m={m}, uniform", {"kind": "nystrom"}),
                         (f"Nyström m={m}, leverage", {"kind": "nystrom",
                                                       "sampling": "leverage"}),
                         (f"random features m={2 * m}", {"kind": "rff", "m": 2 * m})):
        res = run_case(f"accuracy-{label.split(',')[0].split()[0]}-"
                       f"{extra.get('sampling', extra['kind'])}", dict(common, **extra))
        rows.append({"benchmark": f"2. n={n}, T={T}: {label}",
                     "time": f"{res['time']:.1f} s", "R^2": f"{res['r2']:.4f}",
                     "vs reference": f"test MSE {_relative(res['mse'], exact['mse'])} "
                                     "of the exact fit's; max |pred - exact| "
                                     f"{_gap(res, exact):.2e}",
                     "memory": _gib(res)})
    return rows


def bench_sklearn(quick):
    n, d, T, m = (3000, 20, 5, 200) if quick else (100_000, 20, 20, 2000)
    common = {"n": n, "d": d, "T": T, "m": m, "alpha": 1.0}
    ours = run_case("sklearn-ours", dict(common, kind="nystrom", structure="independent"))
    theirs = run_case("sklearn-pipeline", dict(common, kind="sklearn"))
    ratio = _harness.ratio(ours["time"], theirs["time"])
    return [{"benchmark": f"3. n={n}, T={T}, m={m}, A = I: ours vs "
                          "Pipeline(Nystroem, Ridge)",
             "time": f"{ours['time']:.1f} s vs {theirs['time']:.1f} s "
                     f"({_harness.fmt_ratio(ratio)})",
             "R^2": f"{ours['r2']:.4f} / {theirs['r2']:.4f}",
             "vs reference": f"max |pred - sklearn| {_gap(ours, theirs):.2e}",
             "memory": f"{_gib(ours)} / {_gib(theirs)}"}]


COLUMNS = ["benchmark", "time", "R^2", "vs reference", "memory"]


def render(rows, elapsed):
    facts = _harness.machine_facts()
    lines = [
        "# rkhsmtl: large data (kernel approximations), benchmark results",
        "",
        "Produced by `python benchmarks/large_data.py`; every measurement in a fresh "
        "subprocess. R^2: mean over tasks on 500 noise-free test points. Memory: "
        "peak RSS (interpreter, imports and the data included).",
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
    parser.add_argument("--quick", action="store_true", help="small sizes (< 1 min)")
    parser.add_argument("--output", default=None, help="markdown file to write")
    _harness.add_options(parser, max_wait=600.0)
    args = parser.parse_args(argv)
    _harness.configure(args, retries=0, echo=False)
    start = time.perf_counter()
    rows = (bench_scale(args.quick) + bench_accuracy(args.quick) + bench_sklearn(args.quick)
            + bench_school_like(args.quick))
    text = render(rows, time.perf_counter() - start)
    for r in rows:
        print(" | ".join(r[c] for c in COLUMNS))
    name = "results-large-data-quick.md" if args.quick else "results-large-data.md"
    output = Path(args.output) if args.output else HERE / name
    output.write_text(text)
    print(f"written: {output}")
    return 0


if __name__ == "__main__":
    sys.exit(_harness.main(main))
