"""Experiments described by a TOML or JSON file, and the command line that runs them.

A file names the data (a bundled set, a CSV or Parquet file in the long or wide
layout, or a loader), the estimators (import path and parameters, nested objects
written the same way, optional grids), the splits, the metrics and how to run
(``n_jobs``, joblib backend, cache folder, output table). Relative paths are
relative to the file. See :doc:`/user_guide/experiments` for the format.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys

from ._data import Dataset, file_digest, import_object
from ._runner import expand_grid, run_experiment
from ._splits import PerTaskSplits

__all__ = ["add_run_arguments", "load_experiment_file", "run_experiment_file",
           "run_from_args"]

_TOP_KEYS = {"data", "estimators", "splits", "scoring", "n_jobs", "backend", "scheduler",
             "cache", "output", "baseline", "on_error", "inner_threads"}
_DATA_KEYS = {"bundled": {"bundled", "tasks"},
              "path": {"path", "layout", "target", "task", "targets", "features",
                       "tasks"},
              "loader": {"loader", "kwargs", "version", "tasks"}}
_BUNDLED = {"school": "rkhsmtl.datasets.load_school"}
_ESTIMATOR_KEYS = {"class", "params", "grid"}
_BACKENDS = {None, "loky", "threading", "multiprocessing", "sequential", "dask", "ray"}
_SPLIT_KEYS = {"per_task": {"kind", "train_size", "seeds"},
               "kfold": {"kind", "n_splits", "shuffle", "random_state", "stratify"}}


class ExperimentFileError(ValueError):
    """An experiment file that does not describe an experiment (says where)."""


def _check_keys(where, table, allowed):
    if not isinstance(table, dict):
        raise ExperimentFileError(f"{where} must be a table (a dict), got "
                                  f"{type(table).__name__}.")
    unknown = sorted(set(table) - set(allowed))
    if unknown:
        raise ExperimentFileError(f"Unknown key(s) {unknown} in {where}; valid keys: "
                                  f"{sorted(allowed)}.")


def _read(path):
    if path.lower().endswith(".json"):
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    if not path.lower().endswith(".toml"):
        raise ExperimentFileError(f"{path!r}: an experiment file ends in .toml or .json.")
    try:
        import tomllib
    except ImportError:  # Python 3.10
        try:
            import tomli as tomllib
        except ImportError as exc:
            raise ImportError(
                "Reading a TOML file needs Python >= 3.11 or the tomli package: pip "
                "install 'rkhsmtl[toml]', or write the experiment as JSON.") from exc
    with open(path, "rb") as fh:
        return tomllib.load(fh)


def _build(value, where):
    """Objects from ``{class = "pkg.Class", params = {...}}``, recursively."""
    if isinstance(value, dict) and "class" in value:
        _check_keys(where, value, {"class", "params"})
        try:
            cls = import_object(value["class"])
        except (ImportError, ValueError) as exc:
            raise ExperimentFileError(f"{where}: {exc}") from exc
        params = value.get("params", {})
        _check_keys(f"{where}.params", params, params)
        kwargs = {k: _build(v, f"{where}.params.{k}") for k, v in params.items()}
        try:
            return cls(**kwargs)
        except TypeError as exc:
            raise ExperimentFileError(f"{where}: {value['class']}(**params) failed: "
                                      f"{exc}") from exc
    if isinstance(value, list):
        return [_build(v, f"{where}[{k}]") for k, v in enumerate(value)]
    if isinstance(value, dict):
        return {k: _build(v, f"{where}.{k}") for k, v in value.items()}
    return value


def _estimators(table):
    if not table:
        raise ExperimentFileError("The file has no [estimators] table; give at least "
                                  "one, e.g. [estimators.ridge] class = "
                                  "\"rkhsmtl.MultiTaskKernelRidge\".")
    _check_keys("[estimators]", table, table)
    out = {}
    for name, spec in table.items():
        where = f"[estimators.{name}]"
        _check_keys(where, spec, _ESTIMATOR_KEYS)
        if "class" not in spec:
            raise ExperimentFileError(f"{where} needs `class`, the import path of the "
                                      "estimator (e.g. \"rkhsmtl.MultiTaskKernelRidge\").")
        estimator = _build({"class": spec["class"], "params": spec.get("params", {})},
                           where)
        if "grid" in spec:
            _check_keys(f"{where}.grid", spec["grid"], spec["grid"])
            grid = {k: [_build(v, f"{where}.grid.{k}") for v in values]
                    for k, values in spec["grid"].items()}
            out.update(expand_grid(name, estimator, grid))
        else:
            out[name] = estimator
    return out


def _dataset(name, spec, folder):
    where = f"[data.{name}]"
    kinds = [k for k in _DATA_KEYS if isinstance(spec, dict) and k in spec]
    if len(kinds) != 1:
        raise ExperimentFileError(
            f"{where} needs exactly one of `bundled` (a data set of the package: "
            f"{sorted(_BUNDLED)}), `path` (a CSV or Parquet file) or `loader` (an "
            "import path 'package.module:function').")
    kind = kinds[0]
    _check_keys(where, spec, _DATA_KEYS[kind])
    tasks = spec.get("tasks")
    if kind == "bundled":
        if spec["bundled"] not in _BUNDLED:
            raise ExperimentFileError(f"{where}: unknown bundled data set "
                                      f"{spec['bundled']!r}; known: {sorted(_BUNDLED)}.")
        return Dataset.from_loader(_BUNDLED[spec["bundled"]], tasks=tasks)
    if kind == "loader":
        return Dataset.from_loader(spec["loader"], version=spec.get("version"),
                                   tasks=tasks, **spec.get("kwargs", {}))
    path = os.path.abspath(os.path.join(folder, spec["path"]))
    if not os.path.isfile(path):
        raise ExperimentFileError(f"{where}: data file {path!r} does not exist.")
    kwargs = {k: spec[k] for k in ("layout", "target", "task", "targets", "features")
              if k in spec}
    # The file's bytes are its version: an edited file is new data.
    return Dataset.from_loader("rkhsmtl.experiments._data:read_table",
                               version=file_digest(path), tasks=tasks, path=path,
                               **kwargs)


def _splits(spec):
    if spec is None:
        return None
    kind = spec.get("kind", "per_task") if isinstance(spec, dict) else None
    if kind not in _SPLIT_KEYS:
        raise ExperimentFileError(f"[splits] kind must be 'per_task' or 'kfold', got "
                                  f"{kind!r}.")
    _check_keys("[splits]", spec, _SPLIT_KEYS[kind])
    if kind == "per_task":
        return PerTaskSplits(spec.get("train_size", 0.75), seeds=spec.get("seeds", 10))
    from ..model_selection import MultiTaskStratifiedKFold

    return MultiTaskStratifiedKFold(
        n_splits=spec.get("n_splits", 5), shuffle=spec.get("shuffle", True),
        random_state=spec.get("random_state", 0) if spec.get("shuffle", True) else None,
        stratify=spec.get("stratify", "auto"))


def load_experiment_file(path):
    """Read an experiment file (``.toml`` or ``.json``) into Python objects.

    Parameters
    ----------
    path : str or path-like
        The file. Relative paths inside it are relative to its folder.

    Returns
    -------
    experiment : dict
        ``estimators``, ``data``, ``splits`` and ``scoring`` (the arguments of
        :func:`run_experiment`), and how to run: ``n_jobs``, ``backend``,
        ``scheduler``, ``cache_dir`` (default: the folder ``<file stem>-cache``
        beside the file; None when the file says ``cache = false``), ``output``
        (default ``<file stem>-results.csv`` beside the file), ``baseline``,
        ``on_error`` and ``inner_threads``.

    Raises
    ------
    ValueError
        If the file misses a table, has an unknown key or a malformed value (the
        message names the table and the key).
    """
    path = os.path.abspath(os.fspath(path))
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Experiment file {path!r} does not exist.")
    spec = _read(path)
    _check_keys("the experiment file", spec, _TOP_KEYS)
    folder = os.path.dirname(path)
    stem = os.path.splitext(os.path.basename(path))[0]
    data = spec.get("data")
    if not data:
        raise ExperimentFileError(
            "The file has no [data] table; give at least one data set, e.g. "
            "[data.school] bundled = \"school\".")
    _check_keys("[data]", data, data)
    cache = spec.get("cache", f"{stem}-cache")
    if cache is True:
        cache = f"{stem}-cache"
    if spec.get("backend") not in _BACKENDS:
        raise ExperimentFileError(f"backend must be one of {sorted(_BACKENDS - {None})}, "
                                  f"got {spec['backend']!r}.")
    if spec.get("scheduler") is not None and spec.get("backend") != "dask":
        raise ExperimentFileError("`scheduler` (a Dask scheduler's address) needs "
                                  "backend = \"dask\".")
    scoring = spec.get("scoring")
    if isinstance(scoring, dict):
        scoring = _build(scoring, "scoring")
    return {
        "estimators": _estimators(spec.get("estimators")),
        "data": {name: _dataset(name, value, folder) for name, value in data.items()},
        "splits": _splits(spec.get("splits")),
        "scoring": scoring,
        "n_jobs": spec.get("n_jobs"),
        "backend": spec.get("backend"),
        "scheduler": spec.get("scheduler"),
        "cache_dir": None if cache is False else os.path.join(folder, cache),
        "output": os.path.join(folder, spec.get("output", f"{stem}-results.csv")),
        "baseline": spec.get("baseline"),
        "on_error": spec.get("on_error", "record"),
        "inner_threads": spec.get("inner_threads", "auto"),
    }


@contextlib.contextmanager
def _backend(backend, scheduler, n_jobs):
    """The joblib backend of the file: a name, or Dask (a cluster) or Ray."""
    import joblib

    if backend in (None, "loky", "threading", "multiprocessing", "sequential"):
        with joblib.parallel_config(backend=backend) if backend else \
                contextlib.nullcontext():
            yield
        return
    if backend == "dask":
        try:
            from distributed import Client, LocalCluster
        except ImportError as exc:
            raise ImportError("backend = \"dask\" needs dask.distributed: pip install "
                              "'rkhsmtl[dask]'.") from exc
        with contextlib.ExitStack() as stack:
            if scheduler is None:
                workers = n_jobs if isinstance(n_jobs, int) and n_jobs > 0 else \
                    (os.cpu_count() or 1)
                cluster = stack.enter_context(LocalCluster(
                    n_workers=workers, threads_per_worker=1, processes=True,
                    dashboard_address=None))
                stack.enter_context(Client(cluster))
            else:
                stack.enter_context(Client(scheduler))
            stack.enter_context(joblib.parallel_config(backend="dask"))
            yield
        return
    if backend == "ray":
        try:
            from ray.util.joblib import register_ray
        except ImportError as exc:
            raise ImportError("backend = \"ray\" needs Ray: pip install ray.") from exc
        register_ray()
        with joblib.parallel_config(backend="ray"):
            yield
        return
    raise ExperimentFileError(f"backend must be one of {sorted(_BACKENDS - {None})}, "
                              f"got {backend!r}.")


_DEFAULT = object()


def run_experiment_file(path, *, n_jobs=None, cache_dir=_DEFAULT, output=_DEFAULT,
                        progress=True, out=None):
    """Run the experiment of a TOML or JSON file, print its summary, write its table.

    Parameters
    ----------
    path : str or path-like
        The experiment file (see :func:`load_experiment_file`).
    n_jobs : int or None, default=None
        Overrides the file's ``n_jobs`` when given.
    cache_dir : str, path-like or None, default=the file's
        Overrides the file's cache folder; None runs without a cache.
    output : str, path-like or None, default=the file's
        Overrides the file's results table (``.csv`` or ``.parquet``); None writes
        nothing.
    progress : bool, default=True
        Show a progress bar on standard error.
    out : file-like, default=None
        Where the summary is printed (``sys.stdout`` when None).

    Returns
    -------
    results : ExperimentResults
    """
    out = sys.stdout if out is None else out
    spec = load_experiment_file(path)
    if n_jobs is not None:
        spec["n_jobs"] = n_jobs
    if cache_dir is not _DEFAULT:
        spec["cache_dir"] = None if cache_dir is None else os.fspath(cache_dir)
    if output is not _DEFAULT:
        spec["output"] = None if output is None else os.fspath(output)
    with _backend(spec["backend"], spec["scheduler"], spec["n_jobs"]):
        results = run_experiment(
            spec["estimators"], spec["data"], splits=spec["splits"],
            scoring=spec["scoring"], n_jobs=spec["n_jobs"], cache_dir=spec["cache_dir"],
            on_error=spec["on_error"], progress=progress,
            inner_threads=spec["inner_threads"])
    print(results.format_summary(average="macro"), file=out)
    print(file=out)
    print(results.format_summary(average="micro"), file=out)
    if spec["baseline"] is not None and results.n_failed < results.n_units:
        print(file=out)
        print(results.transfer_report(spec["baseline"]).format(), file=out)
    print(f"\n{results.n_units} units: {results.n_computed} computed, "
          f"{results.n_cached} from the cache"
          + (f" ({spec['cache_dir']})" if spec["cache_dir"] else "")
          + f", {results.n_failed} failed; {results.elapsed:.1f} s.", file=out)
    for row in results.failures(as_frame=False)[:10]:
        print(f"  failed: {row['dataset']} / {row['method']} / split {row['split']}: "
              f"{row['error_type']}: {row['error_message']}", file=out)
    if spec["output"]:
        if spec["output"].lower().endswith((".parquet", ".pq")):
            results.to_parquet(spec["output"])
        else:
            results.to_csv(spec["output"])
        print(f"Results table ({len(results.to_records())} rows): {spec['output']}",
              file=out)
    return results


def add_run_arguments(parser):
    """Add the arguments of ``run FILE`` to an :mod:`argparse` parser.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The parser (or sub-parser) to complete.

    Returns
    -------
    parser : argparse.ArgumentParser
    """
    parser.add_argument("file", help="experiment file (.toml or .json)")
    parser.add_argument("--n-jobs", type=int, default=None,
                        help="units run at once (overrides the file's n_jobs)")
    cache = parser.add_mutually_exclusive_group()
    cache.add_argument("--cache", default=None, metavar="DIR",
                       help="cache folder (overrides the file's)")
    cache.add_argument("--no-cache", action="store_true",
                       help="run without a cache: recompute every unit")
    parser.add_argument("--output", default=None, metavar="PATH",
                        help="results table, .csv or .parquet (overrides the file's)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def run_from_args(args):
    """Run the experiment of parsed :func:`add_run_arguments` arguments.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed arguments.

    Returns
    -------
    status : int
        0 (failed units are reported, not fatal).
    """
    kwargs = {}
    if args.no_cache:
        kwargs["cache_dir"] = None
    elif args.cache is not None:
        kwargs["cache_dir"] = args.cache
    if args.output is not None:
        kwargs["output"] = args.output
    run_experiment_file(args.file, n_jobs=args.n_jobs, progress=not args.quiet, **kwargs)
    return 0

