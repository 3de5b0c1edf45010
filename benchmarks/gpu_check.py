"""GPU check: the core fits on a CUDA GPU (CuPy and/or PyTorch) against the CPU.

For every GPU library that is importable and sees a GPU -- CuPy arrays, and torch
tensors on ``"cuda"`` -- the script fits, with the inputs already on the GPU:

* ``ridge-eig``: :class:`~rkhsmtl.MultiTaskKernelRidge`, ``MeanRegularized``,
  ``solver="eig"`` (one eigendecomposition of the kernel matrix);
* ``ridge-cholesky``: the same with ``solver="cholesky"`` (one factorisation per
  distinct eigenvalue of ``A``: two);
* ``ridge-learned``: a learned ``TaskRelation`` (one eigendecomposition, then
  cheap alternating iterations, stopped at the default ``tol=1e-6``: its
  predictions agree with the CPU fit's to about that tolerance, not to rounding);
* ``classifier``: :class:`~rkhsmtl.MultiTaskKernelClassifier`, ``MeanRegularized``
  (one eigendecomposition, then Newton-CG);

at n = 20 000 and 50 000 samples (``T = 10`` tasks, ``d = 20`` features, rbf
kernel, complete labels), and the same fits with NumPy on the CPU
(``device="cpu"``). It prints a table of fit times, speed-ups and the largest
difference of the predictions on 1000 test rows, and writes it, with the machine,
as markdown to ``--output``. A float32 check fits ``ridge-cholesky`` on float32
GPU arrays at the smallest size (the package computes in float64 and returns
float32: no speed-up is expected, only the dtype and float32 rounding).

A dense fit costs ``O(n^3)``: the CPU fits are first timed at a calibration size
(``--calibration``, n = 4000), and a CPU fit at size ``n`` is run only when the
``n^3`` extrapolation stays under ``--cpu-limit`` seconds; otherwise its time is
that estimate (marked ``~``, an upper bound for the parts of a fit that are not
cubic) and the predictions are compared at the calibration size. A GPU fit whose
extrapolation from the previous size would overrun the ``--budget`` is skipped
(and said so), so the whole run stays within the budget. Times are one fit each,
after a warm-up fit at a tiny size (CUDA context, solver handles, CuPy's kernel
compilation), with the device synchronised before the clock stops.

Usage::

    python benchmarks/gpu_check.py --output benchmarks/results-gpu.md
    python benchmarks/gpu_check.py --quick     # tiny sizes; without a GPU it runs
                                               # torch on the CPU as a smoke test
    python benchmarks/gpu_check.py --backends torch-cuda --sizes 20000

Without a GPU (and without ``--quick``) it says why each library cannot be used and
exits with status 0.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from pathlib import Path

import _harness

HERE = Path(__file__).resolve().parent
T, D, N_TEST = 10, 20, 1000
CASES = ("ridge-eig", "ridge-cholesky", "ridge-learned", "classifier")


# --------------------------------------------------------------------------- #
# Backends: where the "GPU" side of a comparison computes                     #
# --------------------------------------------------------------------------- #
class Backend:
    """Moves host arrays to one library/device, synchronises, frees its pools."""

    def __init__(self, name):
        self.name = name
        if name == "cupy":
            import cupy

            self._lib = cupy
        elif name.startswith("torch"):
            import torch

            self._lib = torch
            self._device = "cuda" if name == "torch-cuda" else "cpu"

    def asarray(self, a, dtype="float64"):
        if self.name == "cupy":
            return self._lib.asarray(a.astype(dtype))
        return self._lib.asarray(a.astype(dtype), device=self._device)

    def synchronize(self):
        if self.name == "cupy":
            self._lib.cuda.Device().synchronize()
        elif self.name == "torch-cuda":
            self._lib.cuda.synchronize()

    def free(self):
        gc.collect()
        if self.name == "cupy":
            self._lib.get_default_memory_pool().free_all_blocks()
        elif self.name == "torch-cuda":
            self._lib.cuda.empty_cache()

    def describe(self):
        if self.name == "cupy":
            props = self._lib.cuda.runtime.getDeviceProperties(0)
            name = props["name"].decode() if isinstance(props["name"], bytes) \
                else props["name"]
            return (f"CuPy {self._lib.__version__}, {name}, "
                    f"{props['totalGlobalMem'] / 2**30:.0f} GiB")
        if self.name == "torch-cuda":
            props = self._lib.cuda.get_device_properties(0)
            return (f"torch {self._lib.__version__} (CUDA {self._lib.version.cuda}), "
                    f"{props.name}, {props.total_memory / 2**30:.0f} GiB")
        return f"torch {self._lib.__version__} on the CPU (smoke test, not a GPU)"


def gpu_backends():
    """The usable GPU backends, and why each other one is not usable."""
    usable, reasons = [], []
    try:
        import cupy

        if cupy.cuda.runtime.getDeviceCount() > 0:
            usable.append("cupy")
        else:
            reasons.append("CuPy: installed, sees no GPU")
    except ImportError:
        reasons.append("CuPy: not installed")
    except Exception as exc:  # noqa: BLE001 - no driver, no device: not usable
        reasons.append(f"CuPy: sees no GPU ({type(exc).__name__}: {exc})")
    try:
        import torch

        if torch.cuda.is_available():
            usable.append("torch-cuda")
        else:
            reasons.append(f"torch {torch.__version__}: installed, CUDA not available")
    except ImportError:
        reasons.append("torch: not installed")
    return usable, reasons


# --------------------------------------------------------------------------- #
# Problems and fits                                                           #
# --------------------------------------------------------------------------- #
def make_problem(n, seed=0):
    """Inputs (n + N_TEST rows), T smooth related tasks with noise; host arrays."""
    import numpy as np

    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n + N_TEST, D))
    shared = np.sin(X @ rng.standard_normal((D, 3)) / np.sqrt(D))
    Y = shared @ rng.uniform(0.5, 1.5, (3, T))
    Y += 0.3 * np.sin(X @ rng.standard_normal((D, T)) / np.sqrt(D))
    Y += 0.1 * rng.standard_normal(Y.shape)
    return X[:n], Y[:n], X[n:]


def make_estimator(case, device="auto"):
    from rkhsmtl import MultiTaskKernelClassifier, MultiTaskKernelRidge
    from rkhsmtl.structure import TaskRelation

    if case == "classifier":
        return MultiTaskKernelClassifier(alpha=1.0, task_structure="mean_regularized",
                                         device=device)
    if case == "ridge-learned":
        return MultiTaskKernelRidge(alpha=1.0, task_structure=TaskRelation(),
                                    device=device)
    solver = case.split("-")[1]
    return MultiTaskKernelRidge(alpha=1.0, task_structure="mean_regularized",
                                solver=solver, device=device)


def _targets(case, Y):
    import numpy as np

    if case == "classifier":
        return (Y > np.median(Y, axis=0)).astype(np.float64)
    return Y


def _output(model, case, X_test):
    return (model.decision_function(X_test) if case == "classifier"
            else model.predict(X_test))


def fit_cpu(case, problem):
    """NumPy on the CPU: (fit seconds, predictions on the test rows)."""
    X, Y, X_test = problem
    model = make_estimator(case, device="cpu")
    start = time.perf_counter()
    model.fit(X, _targets(case, Y))
    seconds = time.perf_counter() - start
    out = _output(model, case, X_test)
    del model
    gc.collect()
    return seconds, out


def fit_on(backend, case, problem, dtype="float64"):
    """``backend`` arrays: (fit seconds, predictions as a host array, their dtype)."""
    from rkhsmtl._backend import to_numpy

    X, Y, X_test = problem
    Xb = backend.asarray(X, dtype)
    Yb = backend.asarray(_targets(case, Y), dtype)
    Xt = backend.asarray(X_test, dtype)
    backend.synchronize()
    model = make_estimator(case)
    start = time.perf_counter()
    model.fit(Xb, Yb)
    backend.synchronize()
    seconds = time.perf_counter() - start
    out = _output(model, case, Xt)
    out_dtype = str(out.dtype)
    out = to_numpy(out)
    del model, Xb, Yb, Xt
    backend.free()
    return seconds, out, out_dtype


def _failure(exc):
    """"out of memory" or "FAILED": what the table says of a fit that raised."""
    from rkhsmtl.exceptions import MemoryBudgetError

    out_of_memory = (isinstance(exc, (MemoryError, MemoryBudgetError))
                     or "OutOfMemory" in type(exc).__name__
                     or "out of memory" in str(exc))
    return "out of memory" if out_of_memory else "FAILED"


def _describe(exc):
    return f"{type(exc).__name__}: {str(exc).splitlines()[0][:80] if str(exc) else ''}"


def difference(a, b):
    import numpy as np

    diff = float(np.max(np.abs(a - b)))
    return diff, diff / max(float(np.max(np.abs(b))), 1e-300)


# --------------------------------------------------------------------------- #
# The run                                                                     #
# --------------------------------------------------------------------------- #
class Clock:
    def __init__(self, budget):
        self.start, self.budget = time.perf_counter(), budget

    def left(self):
        return self.budget - (time.perf_counter() - self.start)


def _fmt_s(seconds, estimated=False):
    if seconds is None:
        return "-"
    return ("~" if estimated else "") + (f"{seconds:.2f}" if seconds < 100
                                         else f"{seconds:.0f}")


def _fmt_e(value):
    return "-" if value is None else f"{value:.1e}"


def run(args):
    failed = False
    usable, reasons = gpu_backends()
    names = args.backends or usable
    missing = [b for b in names if b not in usable and b != "torch-cpu"]
    if missing:
        print(f"Requested backend(s) {missing} not usable here: {'; '.join(reasons)}.")
        return 0
    if not names:
        if not args.quick:
            print("No GPU to check: " + "; ".join(reasons) + ". Nothing was run. "
                  "Run with --quick for a smoke test of this script on the CPU.")
            return 0
        try:
            import torch  # noqa: F401
        except ImportError:
            print("No GPU and no torch for the CPU smoke test (" + "; ".join(reasons)
                  + "). Nothing was run.")
            return 0
        print("No GPU (" + "; ".join(reasons) + "): smoke test with torch on the CPU.")
        names = ["torch-cpu"]
    backends = [Backend(name) for name in names]
    clock = Clock(args.budget)
    sizes = sorted(args.sizes)

    print("Warm-up (CUDA context, solver handles, kernel compilation) ...", flush=True)
    tiny = make_problem(200, seed=1)
    for backend in list(backends):
        try:
            for case in CASES:
                fit_on(backend, case, tiny)
            fit_on(backend, "ridge-cholesky", tiny, "float32")
        except Exception as exc:  # noqa: BLE001 - drop this backend, keep the others
            print(f"{backend.name}: the warm-up fits failed ({_describe(exc)}); "
                  "this backend is left out.")
            backends.remove(backend)
            failed = True
    if not backends:
        return 1

    # CPU and GPU fits at the calibration size: the base of the CPU estimates, and
    # the comparison of predictions where a CPU fit is too long to run.
    cal = make_problem(args.calibration)
    cal_cpu = {case: fit_cpu(case, cal) for case in CASES}
    cal_gpu = {}
    for backend in backends:
        for case in CASES:
            try:
                cal_gpu[backend.name, case] = fit_on(backend, case, cal)[1]
            except Exception as exc:  # noqa: BLE001 - reported in the rows of the case
                backend.free()
                print(f"{backend.name} {case} n={args.calibration}: {_describe(exc)}")

    rows, last = [], {}
    for n in sizes:
        problem = make_problem(n)
        for case in CASES:
            rows += _compare(args, clock, backends, case, n, problem, cal_cpu[case],
                             cal_gpu, last)
        if n == sizes[0]:
            rows += _float32_rows(clock, backends, n, problem)

    header = ["backend", "fit", "n", "output dtype", "GPU fit (s)", "CPU fit (s)",
              "speed-up", "max abs Δ pred", "max rel Δ pred", "note"]
    total = time.perf_counter() - clock.start
    print()
    print(_harness.text_table(header, rows, first_width=12))
    print(f"\ntotal {total:.0f} s")
    if args.output:
        write_markdown(args, backends, header, rows, total)
    failed = failed or any(row[4] == "FAILED" for row in rows)
    return 1 if failed else 0


def _row(*cells):
    print("  " + " | ".join(str(c) for c in cells), flush=True)
    return list(cells)


def _compare(args, clock, backends, case, n, problem, cal_cpu, cal_gpu, last):
    """Rows of one fit at size ``n``: the CPU fit (or its estimate), each backend."""
    cal_seconds, cal_out = cal_cpu
    estimate = cal_seconds * (n / args.calibration) ** 3
    if estimate <= min(args.cpu_limit, 0.5 * clock.left()):
        cpu_seconds, cpu_out = fit_cpu(case, problem)
        estimated = False
    else:
        cpu_seconds, cpu_out, estimated = estimate, None, True
    rows = []
    for backend in backends:
        key = (backend.name, case)
        if key in last:  # a GPU fit is cubic too, from the previous size on
            n_prev, seconds_prev = last[key]
            gpu_estimate = seconds_prev * (n / n_prev) ** 3
            if gpu_estimate > clock.left() - 10:
                rows.append(_row(backend.name, case, n, "float64", "skipped", "-", "-",
                                 "-", "-", f"est. {gpu_estimate:.0f} s > time left"))
                continue
        try:
            seconds, out, out_dtype = fit_on(backend, case, problem)
        except Exception as exc:  # noqa: BLE001 - one fit fails, the run goes on
            backend.free()
            rows.append(_row(backend.name, case, n, "float64", _failure(exc), "-",
                             "-", "-", "-", _describe(exc)))
            continue
        last[key] = (n, seconds)
        if cpu_out is not None:
            diff, rel = difference(out, cpu_out)
            note = ""
            if case == "ridge-learned":
                # Alternating iterations: the two fits agree to their stopping
                # tolerance, not to rounding.
                note = "stops at tol=1e-6"
        elif key in cal_gpu:
            diff, rel = difference(cal_gpu[key], cal_out)
            note = f"Δ at n={args.calibration}"
        else:
            diff = rel = None
            note = f"no fit to compare (n={args.calibration} failed)"
        rows.append(_row(backend.name, case, n, out_dtype, _fmt_s(seconds),
                         _fmt_s(cpu_seconds, estimated),
                         ("~" if estimated else "") + f"{cpu_seconds / seconds:.1f}x",
                         _fmt_e(diff), _fmt_e(rel), note))
    return rows


def _float32_rows(clock, backends, n, problem):
    """float32 inputs: the output dtype and its distance to the float64 fit."""
    rows = []
    for backend in backends:
        if clock.left() < 30:
            rows.append(_row(backend.name, "ridge-cholesky", n, "float32", "skipped",
                             "-", "-", "-", "-", "time left"))
            continue
        try:
            _, out64, _ = fit_on(backend, "ridge-cholesky", problem)
            seconds, out32, dtype32 = fit_on(backend, "ridge-cholesky", problem,
                                             "float32")
        except Exception as exc:  # noqa: BLE001 - one fit fails, the run goes on
            backend.free()
            rows.append(_row(backend.name, "ridge-cholesky", n, "float32",
                             _failure(exc), "-", "-", "-", "-", _describe(exc)))
            continue
        diff, rel = difference(out32.astype("float64"), out64)
        rows.append(_row(backend.name, "ridge-cholesky", n, dtype32, _fmt_s(seconds),
                         "-", "-", _fmt_e(diff), _fmt_e(rel),
                         "float32 input; Δ vs the float64 fit"))
    return rows


def write_markdown(args, backends, header, rows, total):
    facts = _harness.machine_facts()
    lines = ["# GPU check (`benchmarks/gpu_check.py`)", "",
             f"Command: `python benchmarks/gpu_check.py {' '.join(sys.argv[1:])}`", "",
             "Backends:", ""]
    lines += [f"- {b.name}: {b.describe()}" for b in backends]
    lines += ["", f"T = {T} tasks, d = {D} features, rbf kernel, complete labels; "
              f"predictions compared on {N_TEST} test rows. CPU: NumPy/SciPy "
              f"(`device=\"cpu\"`); `~`: extrapolated by n^3 from n = "
              f"{args.calibration}, not run. Total {total:.0f} s.", ""]
    lines += _harness.markdown_table(header, rows)
    lines += ["", "Machine:", ""] + _harness.facts_markdown(facts) + [""]
    Path(args.output).write_text("\n".join(lines))
    print(f"written to {args.output}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="tiny sizes (a smoke test of the script)")
    parser.add_argument("--sizes", type=int, nargs="+", default=None,
                        help="numbers of training samples (default 20000 50000)")
    parser.add_argument("--backends", nargs="+", default=None,
                        choices=["cupy", "torch-cuda", "torch-cpu"],
                        help="default: every usable GPU backend")
    parser.add_argument("--calibration", type=int, default=None,
                        help="size of the CPU fits the n^3 estimates start from "
                             "(default 4000)")
    parser.add_argument("--cpu-limit", type=float, default=60.0,
                        help="longest estimated CPU fit that is run (s, default 60)")
    parser.add_argument("--budget", type=float, default=420.0,
                        help="time for the whole run (s, default 420)")
    parser.add_argument("--output", default=None, help="markdown file to write")
    args = parser.parse_args(argv)
    if args.sizes is None:
        args.sizes = [200, 400] if args.quick else [20000, 50000]
    if args.calibration is None:
        args.calibration = 100 if args.quick else 4000
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
