"""Run every (data set, estimator, split) unit of an experiment through joblib.

The units are independent: the runner builds them, reads the finished ones from
the cache, sends the others to ``joblib.Parallel`` under the ambient
:func:`joblib.parallel_config` (loky processes by default, Dask or Ray when a
backend is configured) and stores each record the moment it comes back, in
whatever order the units finish. A run killed at any point therefore loses only
the units in flight; running it again computes the rest.
"""

from __future__ import annotations

import json
import numbers
import os
import sys
import time

import joblib
from joblib import Parallel, delayed

from ._cache import UnitCache, estimator_key, unit_key
from ._data import as_datasets
from ._results import ExperimentResults
from ._scoring import as_metrics
from ._splits import as_splits
from ._unit import run_unit

__all__ = ["expand_grid", "run_experiment"]


def expand_grid(name, estimator, param_grid):
    """One method per point of a hyperparameter grid.

    Parameters
    ----------
    name : str
        Prefix of the methods' names.
    estimator : estimator
        The estimator whose parameters vary (it is cloned).
    param_grid : dict or list of dict
        As for :class:`sklearn.model_selection.ParameterGrid`: parameter names
        (nested ones with ``__``) to lists of values.

    Returns
    -------
    estimators : dict
        ``{"name[alpha=0.1]": estimator, ...}``, ready for ``estimators=`` of
        :func:`run_experiment` (merge several with ``{**a, **b}``).

    Examples
    --------
    >>> from rkhsmtl import MultiTaskKernelRidge
    >>> from rkhsmtl.experiments import expand_grid
    >>> sorted(expand_grid("ridge", MultiTaskKernelRidge(), {"alpha": [0.1, 1.0]}))
    ['ridge[alpha=0.1]', 'ridge[alpha=1.0]']
    """
    from sklearn.base import clone
    from sklearn.model_selection import ParameterGrid

    out = {}
    for params in ParameterGrid(param_grid):
        label = ",".join(f"{k}={v!r}" if isinstance(v, str) else f"{k}={v}"
                         for k, v in params.items())
        out[f"{name}[{label}]"] = clone(estimator).set_params(**params)
    return out


def _as_estimators(estimators):
    if isinstance(estimators, (list, tuple)):
        if not all(isinstance(p, (list, tuple)) and len(p) == 2 for p in estimators):
            raise ValueError("estimators must be a dict {name: estimator} or a list of "
                             "(name, estimator) pairs.")
        names = [p[0] for p in estimators]
        if len(set(names)) != len(names):
            raise ValueError(f"The names of the estimators must be distinct, got "
                             f"{names}.")
        estimators = dict(estimators)
    if not isinstance(estimators, dict) or not estimators:
        raise ValueError("estimators must be a non-empty dict {name: estimator}.")
    for name, estimator in estimators.items():
        if not isinstance(name, str):
            raise ValueError(f"The names of the estimators must be strings, got "
                             f"{name!r}.")
        if not hasattr(estimator, "fit"):
            raise ValueError(f"estimators[{name!r}] has no fit method: {estimator!r}.")
    return estimators


def _inner_threads(inner_threads, n_jobs):
    """BLAS threads per unit: all the cores when units run one at a time, else a share."""
    if inner_threads != "auto":
        if inner_threads is not None and (
                isinstance(inner_threads, bool)
                or not isinstance(inner_threads, numbers.Integral) or inner_threads < 1):
            raise ValueError(f"inner_threads must be 'auto', None or a positive int, "
                             f"got {inner_threads!r}.")
        return inner_threads
    # None: the ambient parallel_config's n_jobs (joblib's own default is -1).
    effective = joblib.effective_n_jobs(n_jobs)
    if effective <= 1:
        return None
    return max(1, (os.cpu_count() or 1) // effective)


class _Progress:
    """Units done / total / failures and an ETA: tqdm when installed, else lines."""

    def __init__(self, total, done, enabled):
        self.total, self.done, self.failed = total, done, 0
        self._done_at_start = done
        self.enabled = enabled and total > done
        self._bar = None
        self._start = self._last = time.perf_counter()
        if not self.enabled:
            return
        try:
            from tqdm.auto import tqdm
        except ImportError:
            print(f"experiment: {total} units, {done} from the cache", file=sys.stderr,
                  flush=True)
            return
        self._bar = tqdm(total=total, initial=done, unit="unit", desc="experiment",
                         dynamic_ncols=True, file=sys.stderr)
        self._bar.set_postfix(failed=0)

    def update(self, ok):
        self.done += 1
        self.failed += not ok
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.update(1)
            if not ok:
                self._bar.set_postfix(failed=self.failed)
            return
        now = time.perf_counter()
        if now - self._last > 5.0 or self.done == self.total:
            self._last = now
            rate = (self.done - self._done_at_start) / (now - self._start)
            eta = (self.total - self.done) / rate
            print(f"experiment: {self.done}/{self.total} units, {self.failed} failed, "
                  f"ETA {eta:.0f} s", file=sys.stderr, flush=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self._bar is not None:
            self._bar.close()
        return False


def _parallel(n_jobs):
    """Results as units finish; in submission order with joblib < 1.4."""
    try:
        return Parallel(n_jobs=n_jobs, return_as="generator_unordered")
    except ValueError:  # pragma: no cover - joblib 1.3
        return Parallel(n_jobs=n_jobs, return_as="generator")


def _run_units(n_jobs, calls):
    """Every call's result, yielded as soon as it can be.

    Backends that cannot stream results (Ray's joblib backend) get the units in
    batches of a few per worker, so that finished units still reach the cache
    batch by batch rather than all at the end.
    """
    calls = list(calls)
    try:
        # The backend is the ambient one, known only when the call starts.
        outputs = _parallel(n_jobs)(calls)
    except ValueError as exc:
        if "return_as" not in str(exc):
            raise
    else:
        yield from outputs
        return
    batch = 2 * max(1, joblib.effective_n_jobs(n_jobs))
    with Parallel(n_jobs=n_jobs) as listing:
        for start in range(0, len(calls), batch):
            yield from listing(calls[start:start + batch])


def run_experiment(estimators, data, *, splits=None, scoring=None, n_jobs=None,
                   cache_dir=None, on_error="record", progress=True,
                   inner_threads="auto", on_unit=None, return_models=False):
    """Fit and score every estimator on every split of every data set.

    Each (data set, estimator, split) *unit* clones the estimator, fits it on the
    split's training labels (every other label hidden as missing), predicts the
    rows with a test label and scores every task on its test labels. Units run
    through :class:`joblib.Parallel` under the ambient
    :func:`joblib.parallel_config`, so any joblib backend works: loky processes by
    default, Dask with ``parallel_config(backend="dask")`` and a
    ``dask.distributed.Client``, Ray once registered. With ``cache_dir``, every
    finished unit is stored as it arrives; running the same experiment again
    (after a crash, a kill, or with one estimator changed) computes only the
    units not stored.

    Parameters
    ----------
    estimators : dict or list of (str, estimator)
        Methods by name: any scikit-learn estimator or pipeline that fits the
        wide layout ``(X, Y)`` with NaN for a missing label -- the estimators of
        rkhsmtl, or :class:`PerTaskEstimator` around a single-task model for the
        "one model per task" baseline. :func:`expand_grid` turns a grid of
        hyperparameters into methods.
    data : Dataset, tuple or dict
        The data: a :class:`Dataset`, a tuple ``(X, Y)`` (wide layout) or
        ``(X, y, task)`` (long layout), or a dict ``{name: data set}``. For large
        data or remote workers, a :meth:`Dataset.from_loader` is loaded by the
        workers instead of being sent with every unit.
    splits : PerTaskSplits, splitter or list, default=None
        :class:`PerTaskSplits` (random splits of every task's labels, one per
        seed), a scikit-learn splitter over the rows such as
        :class:`~rkhsmtl.model_selection.MultiTaskStratifiedKFold`, or a list of
        ``(train, test)`` pairs (row indices, boolean row masks, or boolean entry
        masks of the shape of ``Y``). None: ``PerTaskSplits()`` (75 % / 25 %,
        10 seeds).
    scoring : str, list of str or dict, default=None
        Metrics of :mod:`rkhsmtl.metrics` (``"mse"``, ``"rmse"``, ``"nmse"``,
        ``"r2"``, ``"explained_variance"``, ``"accuracy"``, ``"f1"``,
        ``"roc_auc"``, ``"log_loss"``: raw values, a loss stays positive), scorer
        names of :func:`rkhsmtl.metrics.get_scorer` (their sign), or a dict
        ``{name: scorer}`` of scorers made by
        :func:`rkhsmtl.metrics.make_multitask_scorer`. Each is recorded per task,
        macro-averaged and micro-averaged (pooled). None: ``("mse", "r2")`` for a
        regressor, ``("accuracy", "roc_auc")`` for a classifier.
    n_jobs : int or None, default=None
        Units run at once; None takes the ambient ``parallel_config`` (1 if
        unset), -1 all cores (or all workers of a Dask cluster).
    cache_dir : str, path-like or None, default=None
        Folder of the finished units (created if needed; one small JSON file per
        unit). None keeps nothing on disk.
    on_error : {"record", "raise"}, default="record"
        ``"record"``: a unit that raises is recorded (exception type and message,
        see :meth:`ExperimentResults.failures`) and the others complete; it is not
        cached, so the next run tries it again. ``"raise"``: the first exception
        stops the run (units finished before it stay cached).
    progress : bool, default=True
        Show a progress bar (tqdm when installed, else a line every few seconds)
        with units done, total, failures and an ETA, on standard error.
    inner_threads : "auto", int or None, default="auto"
        BLAS/OpenMP threads of each unit (threadpoolctl). ``"auto"``: no limit when
        units run one at a time, else the cores divided by the number of units
        running at once, so that parallel units do not oversubscribe the CPU.
    on_unit : callable or None, default=None
        Called in this process as ``on_unit(unit, record)`` for every unit as its
        result arrives (units read from the cache first, then in the order they
        finish): ``unit`` is a dict with ``"dataset"``, ``"method"``, ``"split"``
        and ``"cached"``; ``record`` holds the unit's scores (``record["scores"]``:
        metric -> ``{"tasks", "macro", "micro"}``), ``fit_time``, ``n_iter``,
        ``converged``, ``solver``, ``status`` and, for a failure, ``error_type`` and
        ``error_message``. For live reports of long experiments; whatever it
        returns is ignored.
    return_models : bool, default=False
        Keep the fitted estimator of every unit computed in this run, in
        :attr:`ExperimentResults.models` (units read from the cache or failed have
        none). With process or cluster backends every model is sent back to this
        process: mind the memory of large models.

    Returns
    -------
    results : ExperimentResults
        The long table (:meth:`~ExperimentResults.to_frame`), the summary, the
        transfer report against a baseline, the failures and the counts of
        computed, cached and failed units.

    Raises
    ------
    ValueError
        If an argument is malformed (the message says which and how to fix it).

    See Also
    --------
    run_experiment_file : The same, described by a TOML or JSON file.

    Examples
    --------
    >>> from rkhsmtl import MultiTaskKernelRidge
    >>> from rkhsmtl.datasets import make_multitask_regression
    >>> from rkhsmtl.experiments import PerTaskSplits, run_experiment
    >>> X, Y = make_multitask_regression(n_samples=40, n_tasks=3, random_state=0)[:2]
    >>> results = run_experiment(
    ...     {"independent": MultiTaskKernelRidge(task_structure="independent"),
    ...      "pooled": MultiTaskKernelRidge(task_structure="pooled")},
    ...     (X, Y), splits=PerTaskSplits(seeds=2), scoring=["mse"], progress=False)
    >>> results.n_units, results.n_failed
    (4, 0)
    """
    if on_error not in ("record", "raise"):
        raise ValueError(f"on_error must be 'record' or 'raise', got {on_error!r}.")
    if on_unit is not None and not callable(on_unit):
        raise ValueError(f"on_unit must be a callable or None, got {on_unit!r}.")
    started = time.perf_counter()
    estimators = _as_estimators(estimators)
    datasets = as_datasets(data)
    splits = as_splits(splits)
    metrics = as_metrics(scoring)
    metrics_key = None if metrics is None else [m.key() for m in metrics]
    inner = _inner_threads(inner_threads, n_jobs)
    cache = UnitCache(cache_dir) if cache_dir is not None else None

    estimator_hashes = {name: estimator_key(est) for name, est in estimators.items()}
    labels = splits.labels()
    keys = {}
    for data_name, dataset in datasets.items():
        fingerprint = dataset.fingerprint()
        for index in range(len(labels)):
            split_key = splits.split_key(index)
            for method in estimators:
                keys[data_name, method, index] = unit_key(
                    estimator_hashes[method], fingerprint, split_key, metrics_key)
    # The table's order: data set, method, split.
    units = [{"dataset": d, "method": m, "split": labels[i], "key": keys[d, m, i]}
             for d in datasets for m in estimators for i in range(len(labels))]
    # The order of dispatch: data set, split, method, so that a worker's next unit
    # often reuses the split it has just computed. Equal keys (the same estimator
    # twice) are computed once.
    todo = {}
    for (d, m, i), key in keys.items():
        todo.setdefault(key, (estimators[m], datasets[d], i))

    records = {}
    if cache is not None:
        for key in todo:
            record = cache.load(key)
            if record is not None:
                records[key] = record
    pending = [(key, spec) for key, spec in todo.items() if key not in records]
    n_cached = sum(u["key"] in records for u in units)
    units_of_key = {}
    for unit in units:
        units_of_key.setdefault(unit["key"], []).append(unit)

    def report(key, cached):
        if on_unit is None:
            return
        for unit in units_of_key[key]:
            on_unit({"dataset": unit["dataset"], "method": unit["method"],
                     "split": unit["split"], "cached": cached}, records[key])

    for key in list(records):
        report(key, cached=True)
    models = {}
    with _Progress(len(todo), len(todo) - len(pending), progress) as bar:
        if pending:
            outputs = _run_units(n_jobs, (
                delayed(run_unit)(key, estimator, dataset, splits, index, metrics,
                                  inner, on_error, return_models)
                for key, (estimator, dataset, index) in pending))
            for key, record, *model in outputs:
                # The record as it will be read back from the cache: JSON types.
                record = json.loads(json.dumps(record))
                records[key] = record
                ok = record["status"] == "ok"
                if ok and cache is not None:
                    cache.store(key, record)
                if model and model[0] is not None:
                    for unit in units_of_key[key]:
                        models[unit["dataset"], unit["method"], unit["split"]] = model[0]
                bar.update(ok)
                report(key, cached=False)
    return ExperimentResults(units, records, n_cached=n_cached,
                             elapsed=time.perf_counter() - started,
                             models=models if return_models else None)
