"""Benchmark of the experiment runner (rkhsmtl.experiments) on the School protocol.

The School experiment of ``examples/school_experiment.py`` -- 139 schools, 10
per-school 75/25 splits, five methods (independent, pooled, one scikit-learn
ridge per school, mean-regularised, a learned task relation) scored by R² and MSE
per school and aggregated -- measured three ways, each in a fresh subprocess
(``_harness.measure``), after waiting for a quiet machine:

1. **plain loop**: the same fits, predictions and per-task scores written as a
   Python loop in one process (the baseline);
2. **runner, n_jobs=1**: :func:`rkhsmtl.experiments.run_experiment` with one
   worker, no cache -- its overhead per unit against the loop;
3. **runner, n_jobs=2** (loky): the speed-up over one worker, with the data given
   as a loader (read once by each worker) and as arrays (memory-mapped by loky).

For every runner measurement it reports the peak resident memory of the parent
process itself (``ru_maxrss`` of ``RUSAGE_SELF``, read in the child at the end):
the data must not be copied once per unit, so the parent should stay near an idle
interpreter plus the data, whatever the number of units. Not a test: no threshold
fails the script, which prints a table and writes ``benchmarks/results-experiments.md``.

Usage::

    python benchmarks/experiments.py            # full size, a few minutes on 2 cores
    python benchmarks/experiments.py --quick    # 12 schools, 2 splits (smoke test)
    python benchmarks/experiments.py --max-wait 0   # do not wait for a quiet machine
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
def _methods():
    from sklearn.linear_model import Ridge

    from rkhsmtl import MultiTaskKernelRidge
    from rkhsmtl.experiments import PerTaskEstimator
    from rkhsmtl.structure import MeanRegularized, TaskRelation

    return {
        "independent": MultiTaskKernelRidge(kernel="linear", alpha=1.0,
                                            task_structure="independent"),
        "pooled": MultiTaskKernelRidge(kernel="linear", alpha=10.0,
                                       task_structure="pooled"),
        "ridge per school": PerTaskEstimator(Ridge(alpha=1.0)),
        "mean-regularised": MultiTaskKernelRidge(
            kernel="linear", alpha=1.0, task_structure=MeanRegularized(strength=10.0)),
        "learned task relation": MultiTaskKernelRidge(
            kernel="linear", alpha=1.0, task_structure=TaskRelation(strength=30.0),
            tol=1e-3, max_iter=5),
    }


def _self_peak_mib():
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _plain_loop(n_tasks, seeds):
    """The experiment by hand: split, fit, predict, score every task."""
    import warnings

    import numpy as np
    from sklearn.base import clone

    from rkhsmtl.datasets import load_school, long_to_wide, train_test_split_per_task
    from rkhsmtl.metrics import mean_squared_error, r2_score

    X, y, task = load_school()  # timed, as the runner's loader is
    if n_tasks is not None:
        keep = task < n_tasks
        X, y, task = X[keep], y[keep], task[keep]
    X, Y = long_to_wide(X, y, task)
    values = []
    for seed in seeds:
        train, test = train_test_split_per_task(task, train_size=0.75, random_state=seed)
        for estimator in _methods().values():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = clone(estimator).fit(X[train], Y[train])
                prediction = model.predict(X[test])
                for metric in (r2_score, mean_squared_error):
                    for average in (None, "macro", "micro"):
                        values.append(np.asarray(metric(Y[test], prediction,
                                                        average=average)))
    return len(seeds) * len(_methods()), float(sum(v.sum() for v in values))


def _import_in_worker():
    import rkhsmtl.experiments  # noqa: F401

    return os.getpid()


def run_case(spec):
    # Imports are not timed (an idle interpreter is measured apart).
    import rkhsmtl.experiments  # noqa: F401
    import rkhsmtl.metrics  # noqa: F401

    n_tasks = spec["n_tasks"]
    seeds = list(range(spec["seeds"]))
    start = time.perf_counter()
    if spec["kind"] == "loop":
        n_units, checksum = _plain_loop(n_tasks, seeds)
        seconds = time.perf_counter() - start
        return {"time": seconds, "n_units": n_units, "checksum": checksum,
                "parent_peak_mib": _self_peak_mib()}

    import numpy as np

    from rkhsmtl.datasets import load_school
    from rkhsmtl.experiments import Dataset, PerTaskSplits, run_experiment

    if spec["data"] == "loader":
        data = Dataset.from_loader("rkhsmtl.datasets.load_school", tasks=n_tasks)
    else:
        data = Dataset.from_long(*load_school(), tasks=n_tasks)
    startup = 0.0
    if spec["n_jobs"] != 1:
        # Starting the workers (fresh interpreters importing scikit-learn and
        # rkhsmtl) is paid once per process, whatever the experiment: timed apart.
        from joblib import Parallel, delayed

        start = time.perf_counter()
        Parallel(n_jobs=spec["n_jobs"])(delayed(_import_in_worker)()
                                        for _ in range(2 * spec["n_jobs"]))
        startup = time.perf_counter() - start
    start = time.perf_counter()
    results = run_experiment(_methods(), {"school": data},
                             splits=PerTaskSplits(0.75, seeds=seeds),
                             scoring=["r2", "mse"], n_jobs=spec["n_jobs"],
                             progress=False)
    seconds = time.perf_counter() - start
    records = results.to_records()
    units = results.units(as_frame=False)
    return {"time": seconds, "startup": startup, "n_units": results.n_units,
            "n_failed": results.n_failed,
            "checksum": float(np.nansum([r["value"] for r in records])),
            "fit_seconds": float(sum(u["fit_time"] or 0.0 for u in units)),
            "parent_peak_mib": _self_peak_mib(),
            "worker_peak_mib": max((u["peak_rss_mib"] or 0.0) for u in
                                   results.units(as_frame=False)),
            "workers": len({r["pid"] for r in results._records.values()})}


# --------------------------------------------------------------------------- #
# The benchmark                                                               #
# --------------------------------------------------------------------------- #
COLUMNS = ["measurement", "wall time", "vs", "ratio", "parent peak RSS", "note"]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="12 schools, 2 splits")
    parser.add_argument("--output", default=None, help="markdown file to write")
    _harness.add_options(parser, max_wait=600.0, retries=1)
    args = parser.parse_args(argv)
    _harness.configure(args, echo=True)
    size = {"n_tasks": 12, "seeds": 2} if args.quick else {"n_tasks": None, "seeds": 10}
    started = time.perf_counter()
    idle = _harness.measure(run_case, {"kind": "loop", "n_tasks": 2, "seeds": 0},
                            "idle interpreter", strict=True)
    loop = _harness.measure(run_case, {"kind": "loop", **size}, "plain loop",
                            strict=True)
    one = _harness.measure(run_case, {"kind": "runner", "n_jobs": 1, "data": "loader",
                                      **size}, "runner n_jobs=1", strict=True)
    two = _harness.measure(run_case, {"kind": "runner", "n_jobs": 2, "data": "loader",
                                      **size}, "runner n_jobs=2 (loader)", strict=True)
    arrays = _harness.measure(run_case, {"kind": "runner", "n_jobs": 2, "data": "arrays",
                                         **size}, "runner n_jobs=2 (arrays)", strict=True)
    n_units = one["n_units"]
    overhead_ms = 1000.0 * (one["time"] - loop["time"]) / n_units
    same = (abs(one["checksum"] - two["checksum"]) <= 1e-9 * abs(one["checksum"])
            and abs(two["checksum"] - arrays["checksum"]) <= 1e-9 * abs(one["checksum"]))

    def mib(m):
        return f"{m['parent_peak_mib']:.0f} MiB"

    rows = [
        ["plain loop (baseline)", f"{loop['time']:.1f} s", "-", "-", mib(loop),
         f"{n_units} fits in one process"],
        ["runner, n_jobs=1", f"{one['time']:.1f} s", "plain loop",
         f"{one['time'] / loop['time']:.2f}x",
         mib(one), f"overhead {overhead_ms:+.0f} ms per unit "
                   f"(mean unit {1000 * loop['time'] / n_units:.0f} ms)"],
        ["runner, n_jobs=2, data by loader", f"{two['time']:.1f} s", "n_jobs=1",
         f"{one['time'] / two['time']:.2f}x speed-up", mib(two),
         f"{two['workers']} workers, worker peak {two['worker_peak_mib']:.0f} MiB; "
         f"starting the workers took {two['startup']:.1f} s more"],
        ["runner, n_jobs=2, data as arrays", f"{arrays['time']:.1f} s", "n_jobs=1",
         f"{one['time'] / arrays['time']:.2f}x speed-up", mib(arrays),
         f"worker peak {arrays['worker_peak_mib']:.0f} MiB; starting the workers took "
         f"{arrays['startup']:.1f} s more"],
    ]
    elapsed = time.perf_counter() - started
    facts = _harness.machine_facts()
    lines = [
        "# rkhsmtl.experiments: the School experiment, benchmark results",
        "",
        "Produced by `python benchmarks/experiments.py"
        + (" --quick" if args.quick else "") + "`; every measurement in a fresh "
        "subprocess, ratios within this run. Parent peak RSS: the measuring "
        "process itself (`RUSAGE_SELF`), not its workers; an idle interpreter with "
        f"the imports and School loaded peaks at {idle['parent_peak_mib']:.0f} MiB.",
        "",
        f"Experiment: {n_units} units ({size['seeds']} splits x 5 methods, "
        f"{'12' if args.quick else '139'} schools); identical scores across the three "
        f"runner measurements: {'yes' if same else 'NO'}.",
        "",
        *_harness.facts_markdown(facts),
        f"- total: {elapsed:.0f} s (of which {_harness.WAITED[0]:.0f} s waiting for "
        "a quiet machine)",
        "",
        *_harness.markdown_table(COLUMNS, rows),
    ]
    text = "\n".join(lines) + "\n"
    print(_harness.text_table(COLUMNS, rows))
    name = "results-experiments-quick.md" if args.quick else "results-experiments.md"
    output = Path(args.output) if args.output else HERE / name
    output.write_text(text)
    print(f"written: {output}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(_harness.main(main))
