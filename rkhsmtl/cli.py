"""Command line: ``rkhsmtl demo`` fits baselines and a learned task structure on School."""

from __future__ import annotations

import argparse
import os
import sys
import time

__all__ = ["main", "run_demo"]

#: File name of the heatmap of the learned task structure written by the demo.
HEATMAP_NAME = "school_learned_task_structure.png"


def demo_models():
    """The demo's models: (name, unfitted estimator) pairs.

    Linear kernel on the stored features; hyperparameters chosen by validation
    inside the training part of split 0 (``examples/school_protocol.py --select``).
    """
    from .ridge import MultiTaskKernelRidge
    from .structure import MeanRegularized, TaskRelation

    return [
        ("independent", MultiTaskKernelRidge(kernel="linear", alpha=1.0,
                                             task_structure="independent")),
        ("mean-regularised", MultiTaskKernelRidge(
            kernel="linear", alpha=1.0, task_structure=MeanRegularized(strength=10.0))),
        ("pooled", MultiTaskKernelRidge(kernel="linear", alpha=10.0,
                                        task_structure="pooled")),
        ("learned (relation)", MultiTaskKernelRidge(
            kernel="linear", alpha=1.0, task_structure=TaskRelation(strength=30.0),
            tol=1e-5)),
    ]


def run_demo(*, seed=0, train_size=0.75, n_schools=None, out=None, output_dir="."):
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

    Returns
    -------
    rows : list of dict
        One row per method: ``method``, ``explained_variance`` (pooled over all
        test students, in percent), ``mean_task_r2``, ``fit_seconds``, ``solver``.
    """
    from .datasets import load_school, long_to_wide, train_test_split_per_task

    out = sys.stdout if out is None else out
    from .metrics import nan_r2_score, pooled_explained_variance

    X, y, task = load_school()
    if n_schools is not None:
        keep = task < n_schools
        X, y, task = X[keep], y[keep], task[keep]
    train, test = train_test_split_per_task(task, train_size=train_size,
                                            random_state=seed)
    X_wide, Y = long_to_wide(X, y, task)
    print(f"School data: {X.shape[0]} students, {Y.shape[1]} schools (tasks), "
          f"{X.shape[1]} features; per-school split {train_size:.0%}/"
          f"{1 - train_size:.0%} with seed {seed}: {train.size} train, "
          f"{test.size} test.", file=out)
    rows = []
    learned = None
    header = (f"{'method':<20} {'explained var. (%)':>18} {'mean task R2':>13} "
              f"{'fit time (s)':>13} {'iterations':>10}  solver")
    print(header, file=out)
    print("-" * len(header), file=out, flush=True)
    for name, model in demo_models():
        start = time.perf_counter()
        model.fit(X_wide[train], Y[train])
        seconds = time.perf_counter() - start
        pred = model.predict(X_wide[test])
        r = {
            "method": name,
            "explained_variance": 100.0 * pooled_explained_variance(Y[test], pred),
            "mean_task_r2": nan_r2_score(Y[test], pred),
            "fit_seconds": seconds,
            "solver": model.solver_,
            "n_iter": model.n_iter_,
        }
        rows.append(r)
        # Each row as soon as its model is fitted: the learned structure takes most
        # of the time, and the user sees the baselines meanwhile.
        print(f"{r['method']:<20} {r['explained_variance']:>18.2f} "
              f"{r['mean_task_r2']:>13.3f} {r['fit_seconds']:>13.2f} "
              f"{r['n_iter']:>10d}  {r['solver']}", file=out, flush=True)
        if hasattr(model, "objective_history_"):
            learned = (name, model)
    print("Explained variance = 1 - test MSE / variance of the test scores, pooled "
          "over all test students.", file=out)
    if learned is not None and output_dir is not None:
        _save_heatmap(learned, output_dir, out)
    return rows


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
    from .plotting import plot_task_structure

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


def main(argv=None):
    """Entry point of the ``rkhsmtl`` console script.

    Parameters
    ----------
    argv : list of str, default=None
        Command-line arguments without the program name; ``None`` reads
        ``sys.argv``.

    Returns
    -------
    status : int or None
        The exit status of the command.
    """
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="rkhsmtl",
        description="Multi-task learning with separable-kernel vector-valued RKHS "
                    "models.")
    parser.add_argument("--version", action="version",
                        version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser(
        "demo", help="fit baselines and a learned task structure on the bundled "
                     "School data and print a table",
        description="Fit baselines and a learned task structure on the bundled School "
                    "data (139 schools) and print a table of test scores; about a "
                    "minute on two cores, seconds with --n-schools 12.")
    demo.add_argument("--seed", type=int, default=0, help="split seed (default 0)")
    demo.add_argument("--train-size", type=fraction, default=0.75,
                      help="training fraction per school, in (0, 1) (default 0.75)")
    demo.add_argument("--n-schools", type=integer, default=None,
                      help="use only the first N schools (a quick run)")
    demo.add_argument("--output-dir", default=".",
                      help="existing folder for the heatmap PNG (default: current "
                           "folder)")
    args = parser.parse_args(argv)
    if args.command == "demo" and not os.path.isdir(args.output_dir):
        # Checked before the fits, not after them.
        demo.error(f"--output-dir {args.output_dir!r} is not an existing folder")
    if args.command == "demo":
        run_demo(seed=args.seed, train_size=args.train_size, n_schools=args.n_schools,
                 output_dir=args.output_dir)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
