"""``rkhsmtl demo``: fixed task structures and a learned one on the School data."""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import sys
import time

from ._io import CommandError
from ._main import Command

__all__ = ["DEMO", "demo_models", "run_demo"]

#: File name of the heatmap of the learned task structure written by the demo.
HEATMAP_NAME = "school_learned_task_structure.png"

#: Name of the learned model in the table.
LEARNED_NAME = "learned (relation)"


def demo_models():
    """The demo's models: (name, unfitted estimator) pairs, the learned one last.

    Linear kernel on the stored features. The fixed structures' ``alpha`` and
    ``strength`` were chosen by validation inside the training part of split 0
    (``examples/school_protocol.py --full --select``). The learned task relation starts
    from the best fixed structure (``prior``) and its iterations are capped so
    that the whole demo stays within 30 s of CPU time on two cores; its
    ``alpha``, ``strength`` and cap were chosen by the same validation (see the
    user guide's command-line page).
    """
    from .. import MultiTaskKernelRidge
    from ..structure import MeanRegularized, TaskRelation

    return [
        ("independent", MultiTaskKernelRidge(kernel="linear", alpha=1.0,
                                             task_structure="independent")),
        ("mean-regularised", MultiTaskKernelRidge(
            kernel="linear", alpha=1.0, task_structure=MeanRegularized(strength=10.0))),
        ("pooled", MultiTaskKernelRidge(kernel="linear", alpha=10.0,
                                        task_structure="pooled")),
        (LEARNED_NAME, MultiTaskKernelRidge(
            # alpha 0.3 before TaskRelation's A was scaled by 1 + strength (the
            # same model).
            kernel="linear", alpha=9.3,
            task_structure=TaskRelation(strength=30.0,
                                        prior=MeanRegularized(strength=10.0),
                                        delta=1e-2, delta_min=1e-2),
            tol=1e-4, max_iter=10)),
    ]


class _IterationTicker(io.TextIOBase):
    """Stands for stdout while the models fit: the learned fit's iteration numbers.

    The learned model fits with ``verbose=1``; its iteration lines become one
    number each on ``out``, after a header printed at its first iteration.
    Everything else written to stdout during the fits is dropped.
    """

    _ITERATION = re.compile(r"^\[rkhsmtl\] iter\s+(\d+)")

    def __init__(self, out, header):
        self.out, self.header, self.buffer, self.count = out, header, "", 0

    def writable(self):
        return True

    def write(self, text):
        self.buffer += text
        *lines, self.buffer = self.buffer.split("\n")
        for line in lines:
            match = self._ITERATION.match(line)
            if match:
                if self.count == 0:
                    print(self.header, end="", file=self.out, flush=True)
                self.count = int(match.group(1))
                print(f" {self.count}", end="", file=self.out, flush=True)
        return len(text)

    def end_line(self):
        """Close the line of iteration numbers, if one was started."""
        if self.count:
            print(file=self.out, flush=True)
            self.count = 0


def run_demo(*, seed=0, train_size=0.75, n_schools=None, out=None, output_dir=".",
             threads=1):
    """Fit the demo's models on one per-task split of School; print a table.

    Parameters
    ----------
    seed : int, default=0
        Seed of the per-task split (``numpy.random.default_rng(seed)``).
    train_size : float, default=0.75
        Fraction of each school's students used for training.
    n_schools : int or None, default=None
        Use only the first ``n_schools`` schools (for a quick run).
    out : file-like, default=None
        Where the table is written (``sys.stdout`` when None).
    output_dir : str or None, default="."
        Folder where the heatmap of the learned task structure is saved (as
        ``school_learned_task_structure.png``; needs matplotlib); None saves nothing.
    threads : int or None, default=1
        Threads of the BLAS library during the fits; None leaves its default. One
        thread keeps the time predictable on a shared machine: the demo's systems
        are small (an order-3 892 Cholesky factorisation per iteration), and
        several BLAS threads competing with other processes for the cores spin
        instead of working.

    Returns
    -------
    rows : list of dict
        One row per method: ``method``, ``explained_variance`` (pooled over all
        test students, in percent), ``mean_task_r2``, ``fit_seconds``, ``solver``,
        ``n_iter``.
    """
    from threadpoolctl import threadpool_limits

    started = time.perf_counter()
    out = sys.stdout if out is None else out
    limits = contextlib.nullcontext() if threads is None else \
        threadpool_limits(limits=threads, user_api="blas")
    with limits:
        rows, learned = _fit_all(seed, train_size, n_schools, out, threads)
    if learned is not None and output_dir is not None:
        _save_heatmap(learned, output_dir, out)
    print(f"Total time: {time.perf_counter() - started:.1f} s.", file=out)
    return rows


def _fit_all(seed, train_size, n_schools, out, threads):
    """The table: every model fitted on the split, a row printed as each finishes.

    The demo is one experiment of :func:`rkhsmtl.experiments.run_experiment`: the
    School data, the demo's models and one per-school split, run in this process
    so that the learned fit's iterations can be shown as they happen.
    """
    from ..datasets import load_school, long_to_wide, train_test_split_per_task
    from ..experiments import run_experiment

    X, y, task = load_school()
    if n_schools is not None:
        keep = task < n_schools
        X, y, task = X[keep], y[keep], task[keep]
    train, test = train_test_split_per_task(task, train_size=train_size,
                                            random_state=seed)
    # One student per row: the long and the wide layout share their rows.
    X_wide, Y = long_to_wide(X, y, task)
    print(f"School data: {X.shape[0]} students, {Y.shape[1]} schools (tasks), "
          f"{X.shape[1]} features; per-school split {train_size:.0%}/"
          f"{1 - train_size:.0%} with seed {seed}: {train.size} train, "
          f"{test.size} test; {threads or 'default'} BLAS thread(s).", file=out)
    header = (f"{'method':<20} {'explained var. (%)':>18} {'mean task R2':>13} "
              f"{'fit time (s)':>13} {'iterations':>10}  solver")
    print(header, file=out)
    print("-" * len(header), file=out, flush=True)

    models = dict(demo_models())
    learned_name = next((name for name, model in models.items()
                         if getattr(model.task_structure, "is_learned", False)), None)
    if learned_name is not None:
        models[learned_name].set_params(verbose=1)
        ticker = _IterationTicker(
            out, f"{learned_name}: fitting, at most {models[learned_name].max_iter} "
                 "alternating iterations:")
    else:
        ticker = _IterationTicker(out, "")
    rows = []

    def print_row(unit, record):
        ticker.end_line()
        if record["status"] != "ok":
            raise CommandError(f"{unit['method']} failed: {record['error_type']}: "
                               f"{record['error_message']}")
        r2 = record["scores"]["r2"]
        r = {"method": unit["method"],
             # pooled over all test students: the micro average of R2
             "explained_variance": 100.0 * r2["micro"],
             "mean_task_r2": r2["macro"],
             "fit_seconds": record["fit_time"],
             "solver": record["solver"],
             "n_iter": record["n_iter"]}
        rows.append(r)
        print(f"{r['method']:<20} {r['explained_variance']:>18.2f} "
              f"{r['mean_task_r2']:>13.3f} {r['fit_seconds']:>13.2f} "
              f"{r['n_iter']:>10d}  {r['solver']}", file=out, flush=True)

    with contextlib.redirect_stdout(ticker):
        # n_jobs=1 runs the units in this process, in the order of `models`; the
        # learned model's iteration cap is part of the demo's design (see
        # demo_models), so its ConvergenceWarning is recorded, not shown.
        results = run_experiment(
            models, {"school": (X_wide, Y)}, splits=[(train, test)],
            scoring=["r2"], n_jobs=1, progress=False, inner_threads=None,
            on_unit=print_row, on_error="raise", return_models=True)
    order = {name: i for i, name in enumerate(models)}
    rows.sort(key=lambda r: order[r["method"]])
    print("Explained variance = 1 - test MSE / variance of the test scores, pooled "
          "over all test students.", file=out)
    _print_verdict(rows, out)
    learned = None
    if learned_name is not None:
        fitted = [m for (_, method, _), m in results.models.items()
                  if method == learned_name]
        learned = (learned_name, fitted[0]) if fitted else None
    return rows, learned


def _print_verdict(rows, out):
    """Whether the learned structure earned its place in this run, said plainly."""
    learned = [r for r in rows if r["method"] == LEARNED_NAME]
    fixed = [r for r in rows if r["method"] != LEARNED_NAME]
    if not learned or not fixed:
        return
    learned = learned[0]
    best = max(fixed, key=lambda r: r["explained_variance"])
    gap = learned["explained_variance"] - best["explained_variance"]
    cost = learned["fit_seconds"] / max(best["fit_seconds"], 1e-9)
    if gap > 0:
        print(f"The learned task relation beats the best fixed structure "
              f"({best['method']}) by {gap:.2f} points on this split, at {cost:.0f}x "
              "its fit time (it starts from the mean-regularised structure and "
              "adjusts it to the data).", file=out)
    else:
        print(f"The learned task relation does not beat the best fixed structure "
              f"({best['method']}) on this split: {-gap:.2f} points behind, at "
              f"{cost:.0f}x its fit time. The schools are mostly one common function "
              "plus a small deviation, which is exactly the mean-regularised "
              "structure's assumption (and the learned one's starting point); learning "
              "the structure pays off when how the tasks relate is not known in "
              "advance.", file=out)


def _save_heatmap(learned, output_dir, out):
    """Heatmap of the learned task structure next to the table (needs matplotlib)."""
    name, model = learned
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(matplotlib is not installed: no heatmap; pip install 'rkhsmtl[plot]')",
              file=out)
        return None
    from ..plotting import plot_task_structure

    fig, ax = plt.subplots(figsize=(7, 6))
    plot_task_structure(model, ax=ax,
                        title=f"School: {name} task structure")
    path = os.path.join(output_dir, HEATMAP_NAME)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    print(f"Heatmap of the learned task structure (schools reordered so that "
          f"groups show): {path}", file=out)
    return path


def fraction(text):
    value = float(text)
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def integer(text):
    value = int(text)
    if value < 2:
        raise argparse.ArgumentTypeError(f"must be an integer >= 2, got {text}")
    return value


def thread_count(text):
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {text}")
    return value


def _add_arguments(parser):
    parser.add_argument("--seed", type=int, default=0, help="split seed (default 0)")
    parser.add_argument("--train-size", type=fraction, default=0.75,
                        help="training fraction per school, in (0, 1) (default 0.75)")
    parser.add_argument("--n-schools", type=integer, default=None,
                        help="use only the first N schools (a quick run)")
    parser.add_argument("--output-dir", default=".",
                        help="existing folder for the heatmap PNG (default: current "
                             "folder)")
    parser.add_argument("--threads", type=thread_count, default=1,
                        help="BLAS threads during the fits (default 1, a predictable "
                             "time on a shared machine; 0: the BLAS default)")


def _run(args):
    if not os.path.isdir(args.output_dir):
        # Checked before the fits, not after them.
        raise CommandError(f"--output-dir {args.output_dir!r} is not an existing folder")
    run_demo(seed=args.seed, train_size=args.train_size, n_schools=args.n_schools,
             output_dir=args.output_dir, threads=args.threads or None)
    return 0


DEMO = Command(
    name="demo",
    help="fit fixed and learned task structures on the bundled School data and print "
         "a table",
    description="Fit fixed task structures and a learned one on the bundled School "
                "data (139 schools) and print a table of test scores as the models "
                "finish; about 30 s on two cores, a few seconds with --n-schools 12.",
    add_arguments=_add_arguments,
    run=_run,
)
