"""The data sets of an experiment: arrays given directly, or a loader run by the workers.

A :class:`Dataset` is either arrays (fingerprinted once, in the parent, with
:func:`joblib.hash`) or a *named loader*: an importable callable and its keyword
arguments, called where the units run and memoised per process, so that a large
data set is neither hashed nor sent to the workers once per unit. Whatever the
layout given, a loaded data set is wide: ``X`` (n, d), ``Y`` (n, T) with missing
labels (NaN, or None for non-numeric labels) and the names of the tasks.
"""

from __future__ import annotations

import collections
import hashlib
import importlib
import numbers
import os
import threading

import joblib
import numpy as np

from .._labels import _as_label_array, missing_mask
from .._validation import as_float_targets
from ..datasets import long_to_wide
from ..datasets._layout import _as_rows, _take_rows

__all__ = ["Dataset", "as_datasets", "file_digest", "import_object", "read_table"]

# Loaded data sets of this process, by fingerprint: a worker runs many units of the
# same data, and loads it once. Few are kept, so that a long-lived worker does not
# hold every data set it has seen.
_MEMO = collections.OrderedDict()
_MEMO_SIZE = 4
_MEMO_LOCK = threading.Lock()


def import_object(path):
    """The object named by ``"package.module:name"`` or ``"package.module.name"``.

    Parameters
    ----------
    path : str
        Import path; the part after ``:`` (or after the last dot) may be dotted
        (``"module:Class.method"``).

    Returns
    -------
    obj : object
    """
    if not isinstance(path, str) or not path:
        raise ValueError(f"An import path must be a non-empty string, got {path!r}.")
    if ":" in path:
        module_name, _, attribute = path.partition(":")
    else:
        module_name, _, attribute = path.rpartition(".")
    if not module_name or not attribute:
        raise ValueError(
            f"{path!r} is not an import path; write 'package.module.name' or "
            "'package.module:name'.")
    try:
        obj = importlib.import_module(module_name)
    except ImportError as exc:
        raise ImportError(f"Cannot import {module_name!r} (from {path!r}): {exc}") \
            from exc
    for part in attribute.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ImportError(f"{module_name!r} has no attribute {attribute!r} "
                              f"(from {path!r}).") from None
    return obj


def _callable_path(function):
    """``module:qualname`` of an importable top-level callable, else an error."""
    module = getattr(function, "__module__", None)
    qualname = getattr(function, "__qualname__", None)
    if not module or not qualname or "<" in qualname:
        raise ValueError(
            f"A loader must be an importable function (defined at the top level of "
            f"a module) or its import path 'package.module:function'; got "
            f"{function!r}. Lambdas and nested functions cannot be called by the "
            "workers.")
    return f"{module}:{qualname}"


def _as_targets(Y):
    """Wide targets: float64 with NaN when numeric, else an object array."""
    Y = _as_label_array(Y)
    if Y.ndim == 1:
        Y = Y.reshape(-1, 1)
    if Y.ndim != 2:
        raise ValueError(f"Y must be one- or two-dimensional, got shape {Y.shape}.")
    if Y.dtype.kind in "biuf":
        return Y.astype(np.float64)
    try:
        return as_float_targets(Y)
    except ValueError:  # labels such as strings: kept as objects, None when missing
        Y = Y.astype(object)
        Y[missing_mask(Y)] = None
        return Y


def _long_to_wide(X, y, task):
    """Wide ``(X, Y, names)`` from the long layout, non-numeric labels included."""
    task = np.asarray(task)
    names = np.unique(task)
    y_labels = _as_label_array(y)
    if y_labels.dtype.kind in "biuf":
        X, Y = long_to_wide(X, y_labels, task)
        return X, Y, names.tolist()
    X, n = _as_rows(X)
    if not (y_labels.shape == (n,) and task.shape == (n,)):
        raise ValueError(
            "X, y and task must have the same number of rows, got "
            f"len(X)={n}, y of shape {y_labels.shape}, task of shape {task.shape}.")
    _, column = np.unique(task, return_inverse=True)
    Y = np.full((n, names.shape[0]), None, dtype=object)
    Y[np.arange(n), column.reshape(-1)] = y_labels
    return X, _as_targets(Y), names.tolist()


def _python_scalar(value):
    """A task name as a JSON-friendly Python value (int, float, str or bool)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, (bool, numbers.Integral)):
        return int(value) if not isinstance(value, bool) else value
    if isinstance(value, (numbers.Real, str)):
        return value
    return str(value)


def _select_tasks(X, Y, names, tasks):
    """Keep the columns ``tasks`` (first n, positions or names) and their rows."""
    if tasks is None:
        return X, Y, names
    if isinstance(tasks, numbers.Integral) and not isinstance(tasks, bool):
        if not 1 <= tasks <= Y.shape[1]:
            raise ValueError(f"tasks={tasks} asks for the first {tasks} tasks; the data "
                             f"have {Y.shape[1]}.")
        columns = list(range(int(tasks)))
    else:
        position = {name: j for j, name in enumerate(names)}
        columns = []
        for t in tasks:
            if t in position:
                columns.append(position[t])
            elif isinstance(t, numbers.Integral) and 0 <= t < Y.shape[1]:
                columns.append(int(t))
            else:
                raise ValueError(f"Task {t!r} of tasks= is neither a task name nor a "
                                 f"position in range({Y.shape[1]}).")
    Y = Y[:, columns]
    rows = np.flatnonzero((~missing_mask(Y)).any(axis=1))
    return _take_rows(X, rows), Y[rows], [names[j] for j in columns]


def _as_wide(loaded):
    """``(X, Y, names)`` from what a loader returned: a Dataset, (X, Y) or (X, y, task)."""
    if isinstance(loaded, Dataset):
        return loaded._load_arrays()
    if not isinstance(loaded, (tuple, list)) or len(loaded) not in (2, 3):
        raise ValueError(
            "A loader must return (X, Y) (wide layout), (X, y, task) (long layout) or "
            f"a Dataset; got {type(loaded).__name__}"
            + (f" of length {len(loaded)}" if isinstance(loaded, (tuple, list)) else "")
            + ".")
    if len(loaded) == 3:
        return _long_to_wide(*loaded)
    X, Y = loaded
    names = ([c.item() if isinstance(c, np.generic) else c for c in Y.columns]
             if hasattr(Y, "columns") else None)
    X, n = _as_rows(X)
    Y = _as_targets(Y)
    if Y.shape[0] != n:
        raise ValueError(f"X and Y must have the same number of rows, got len(X)={n}, "
                         f"len(Y)={Y.shape[0]}.")
    return X, Y, names if names is not None else list(range(Y.shape[1]))


class Dataset:
    """A data set of an experiment: arrays, or a loader called by the workers.

    Build one from arrays in the wide layout (``Dataset(X, Y)``), in the long layout
    (:meth:`from_long`) or from a loader (:meth:`from_loader`). Arrays are
    fingerprinted once, in the calling process (:func:`joblib.hash`), and travel
    to the workers with every unit (joblib's process backends memory-map large
    NumPy arrays instead of copying them); a loader is called where the units run,
    once per process, and is fingerprinted by its name, arguments and
    ``version`` -- the choice for large data and for remote workers.

    Parameters
    ----------
    X : array-like or DataFrame of shape (n_samples, n_features)
        Inputs (a DataFrame is kept, for pipelines that select columns by name).
    Y : array-like or DataFrame of shape (n_samples, n_tasks) or (n_samples,)
        Labels, NaN (or None, ``pandas.NA``) where missing. The columns of a
        DataFrame name the tasks.
    tasks : int or sequence, default=None
        Keep only these tasks: the first ``tasks`` of them (an int), or a list of
        task names or positions; rows left without a label are dropped. None keeps
        every task.

    See Also
    --------
    run_experiment : Runs estimators on data sets and splits.

    Examples
    --------
    >>> import numpy as np
    >>> from rkhsmtl.experiments import Dataset
    >>> data = Dataset.from_long(np.eye(3), [1.0, 2.0, 3.0], ["a", "b", "a"])
    >>> X, Y, names = data.load()
    >>> Y.shape, names
    ((3, 2), ['a', 'b'])
    >>> school = Dataset.from_loader("rkhsmtl.datasets.load_school", tasks=12)
    """

    def __init__(self, X, Y, *, tasks=None):
        self._arrays = _as_wide((X, Y))
        self._loader = None
        self._tasks = tasks
        self._fingerprint = None
        self._check_tasks_now()

    @classmethod
    def from_long(cls, X, y, task, *, tasks=None):
        """A data set given in the long layout ``(X, y, task)``.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            Inputs, one row per observed (sample, task) pair.
        y : array-like of shape (n_samples,)
            Labels (numbers, or class labels such as strings).
        task : array-like of shape (n_samples,)
            Task of every row; the sorted distinct values name the tasks.
        tasks : int or sequence, default=None
            Keep only these tasks (see the class).

        Returns
        -------
        dataset : Dataset
        """
        self = cls.__new__(cls)
        self._arrays = _long_to_wide(X, y, task)
        self._loader = None
        self._tasks = tasks
        self._fingerprint = None
        self._check_tasks_now()
        return self

    @classmethod
    def from_loader(cls, loader, *, version=None, tasks=None, **kwargs):
        """A data set loaded by ``loader(**kwargs)`` where the units run.

        Parameters
        ----------
        loader : callable or str
            An importable top-level function, or its import path
            (``"rkhsmtl.datasets.load_school"`` or ``"package.module:function"``). It
            returns ``(X, Y)`` (wide layout), ``(X, y, task)`` (long layout) or a
            :class:`Dataset`.
        version : str, int or None, default=None
            Part of the fingerprint: change it when what the loader returns changes
            although its name and arguments do not (new data behind the same
            path), so that cached units are recomputed.
        tasks : int or sequence, default=None
            Keep only these tasks (see the class).
        **kwargs
            Keyword arguments of the loader (part of the fingerprint; keep them
            small: paths, sizes, seeds).

        Returns
        -------
        dataset : Dataset
        """
        if isinstance(loader, str):
            path = loader
        elif callable(loader):
            path = _callable_path(loader)
        else:
            raise ValueError(f"loader must be a callable or an import path, got "
                             f"{loader!r}.")
        self = cls.__new__(cls)
        self._arrays = None
        self._loader = (path, dict(kwargs), version)
        self._tasks = tasks
        self._fingerprint = None
        return self

    def _check_tasks_now(self):
        if self._tasks is not None:
            self._arrays = _select_tasks(*self._arrays, self._tasks)
            self._tasks = None

    def __repr__(self):
        if self._loader is not None:
            path, kwargs, version = self._loader
            args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
            extra = "".join(f", {k}={v!r}" for k, v in
                            (("version", version), ("tasks", self._tasks)) if v is not None)
            return f"Dataset.from_loader({path!r}{', ' + args if args else ''}{extra})"
        X, Y, _ = self._arrays
        return f"Dataset(X of shape {tuple(X.shape)}, Y of shape {Y.shape})"

    @property
    def is_lazy(self):
        """True for a data set loaded by the workers (:meth:`from_loader`)."""
        return self._loader is not None

    def fingerprint(self):
        """A hash of the data: of the arrays, or of the loader's name and arguments.

        Returns
        -------
        fingerprint : str
        """
        if self._fingerprint is None:
            if self._loader is not None:
                self._fingerprint = joblib.hash(("loader", *self._loader, self._tasks))
            else:
                X, Y, names = self._arrays
                self._fingerprint = joblib.hash(("arrays", X, Y, names))
        return self._fingerprint

    def _load_arrays(self):
        if self._arrays is not None:
            return self._arrays
        path, kwargs, _ = self._loader
        loaded = import_object(path)(**kwargs)
        return _select_tasks(*_as_wide(loaded), self._tasks)

    def load(self):
        """The data in the wide layout (a loader is called once per process).

        Returns
        -------
        X : ndarray or DataFrame of shape (n_samples, n_features)
            Inputs.
        Y : ndarray of shape (n_samples, n_tasks)
            Labels: float64 with NaN for missing ones, or an object array with
            None for non-numeric labels.
        task_names : list
            Name of every task (column of ``Y``).
        """
        if self._loader is None:
            return self._arrays
        key = self.fingerprint()
        # One lock per process: units running in threads load a data set once.
        with _MEMO_LOCK:
            if key in _MEMO:
                _MEMO.move_to_end(key)
                return _MEMO[key]
            loaded = self._load_arrays()
            _MEMO[key] = loaded
            while len(_MEMO) > _MEMO_SIZE:
                _MEMO.popitem(last=False)
            return loaded


def as_datasets(data):
    """``{name: Dataset}`` from a Dataset, a tuple of arrays or a dict of those."""
    def one(name, value):
        if isinstance(value, Dataset):
            return value
        if isinstance(value, (tuple, list)) and len(value) == 2:
            return Dataset(*value)
        if isinstance(value, (tuple, list)) and len(value) == 3:
            return Dataset.from_long(*value)
        raise ValueError(
            f"Data set {name!r} must be a Dataset, a tuple (X, Y) (wide layout) or "
            f"(X, y, task) (long layout); got {type(value).__name__}.")

    if isinstance(data, dict):
        if not data:
            raise ValueError("data is an empty dict; give at least one data set.")
        bad = [k for k in data if not isinstance(k, str)]
        if bad:
            raise ValueError(f"The names of the data sets must be strings, got {bad}.")
        return {name: one(name, value) for name, value in data.items()}
    return {"data": one("data", data)}


def file_digest(path, chunk=1 << 20):
    """SHA-256 of a file's bytes (the version of a data set read from a file).

    Parameters
    ----------
    path : str or path-like
        The file.
    chunk : int, default=1 MiB
        Bytes read at a time.

    Returns
    -------
    digest : str
    """
    sha = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            sha.update(block)
    return sha.hexdigest()


def read_table(path, *, layout="long", target=None, task=None, targets=None,
               features=None):
    """Read a CSV or Parquet file as ``(X, y, task)`` or ``(X, Y)``.

    Parameters
    ----------
    path : str or path-like
        A ``.csv`` (``.csv.gz``, ...) or ``.parquet`` file with a header row.
    layout : {"long", "wide"}, default="long"
        ``"long"``: one row per observed (sample, task) pair, with a ``target``
        and a ``task`` column. ``"wide"``: one column per task (``targets``),
        empty cells for missing labels.
    target : str, default=None
        The label column (long layout).
    task : str, default=None
        The task column (long layout).
    targets : list of str, default=None
        The label columns, one per task (wide layout).
    features : list of str, default=None
        The input columns; by default every other column.

    Returns
    -------
    data : tuple
        ``(X, y, task)`` for the long layout, ``(X, Y)`` for the wide one, as
        pandas objects (``X`` a DataFrame).
    """
    try:
        import pandas as pd
    except ImportError as exc:  # pragma: no cover - pandas is a test dependency
        raise ImportError("Reading a data file needs pandas: pip install pandas.") \
            from exc
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"Data file {path!r} does not exist.")
    lower = path.lower()
    frame = pd.read_parquet(path) if lower.endswith((".parquet", ".pq")) else \
        pd.read_csv(path)
    if layout == "long":
        if target is None or task is None:
            raise ValueError("A long-layout data file needs `target` (the label "
                             "column) and `task` (the task column).")
        label_columns = [target, task]
    elif layout == "wide":
        if not targets:
            raise ValueError("A wide-layout data file needs `targets`, the list of "
                             "label columns (one per task).")
        label_columns = list(targets)
    else:
        raise ValueError(f"layout must be 'long' or 'wide', got {layout!r}.")
    missing = [c for c in label_columns + list(features or []) if c not in frame.columns]
    if missing:
        raise ValueError(f"Column(s) {missing} not found in {path!r}; its columns are "
                         f"{list(frame.columns)}.")
    if features is None:
        features = [c for c in frame.columns if c not in label_columns]
    X = frame[list(features)]
    if layout == "long":
        return X, frame[target].to_numpy(), frame[task].to_numpy()
    return X, frame[label_columns]
