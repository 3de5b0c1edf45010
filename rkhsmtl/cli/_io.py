"""Data files and saved models of the command line.

A data file is a CSV (compressed or not: ``.csv.gz``, ``.csv.bz2``, ...) or a
Parquet file with a header row, in one of two layouts:

* **long**: one row per measurement, with a target column and a task column;
* **wide**: one target column per task, an empty cell for a missing label.

The inputs are the feature columns, the same for every task. Everything the
user can get wrong (a file or a column that does not exist, a target that is not
numeric, an empty cell) raises :class:`CommandError` with a one-line message; the
command line turns it into an argparse error (exit status 2).
"""

from __future__ import annotations

import fnmatch
import importlib.util
import os
import warnings
from dataclasses import dataclass

import numpy as np

__all__ = ["CommandError", "Layout", "load_model", "read_frame", "save_model"]

#: Identifies a file written by ``rkhsmtl fit``.
MODEL_FORMAT = "rkhsmtl-cli-model"
#: Version of the saved dictionary's keys (bumped when they change).
MODEL_FORMAT_VERSION = 1

_PARQUET_SUFFIXES = (".parquet", ".pq")
_SHOWN = 10  # names shown in a message before "..."


class CommandError(Exception):
    """A mistake in a command's arguments or data, reported as a usage error."""


def _names(values, limit=_SHOWN):
    """``'a', 'b', ...`` for a message."""
    values = list(values)
    shown = ", ".join(repr(v) for v in values[:limit])
    return shown + (f", ... ({len(values)} in all)" if len(values) > limit else "")


def _first_line(exc):
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def import_pandas():
    """pandas, or a :class:`CommandError` saying how to install it."""
    try:
        import pandas
    except ImportError:
        raise CommandError(
            "reading and writing data files needs pandas: pip install 'rkhsmtl[io]'"
        ) from None
    return pandas


def is_parquet(path):
    """Whether ``path`` names a Parquet file (by its extension)."""
    return os.fspath(path).lower().endswith(_PARQUET_SUFFIXES)


def _check_parquet_engine():
    if importlib.util.find_spec("pyarrow") is None \
            and importlib.util.find_spec("fastparquet") is None:
        raise CommandError(
            "Parquet files need pyarrow: pip install 'rkhsmtl[parquet]' (or save the "
            "data as CSV)")


def read_frame(path):
    """Read a data file into a DataFrame.

    Parameters
    ----------
    path : str
        A ``.parquet`` / ``.pq`` file, or a CSV file (with a header row; the
        compression is inferred from the extension: ``.gz``, ``.bz2``, ``.zip``,
        ``.xz``, ``.zst``).

    Returns
    -------
    frame : pandas.DataFrame
        Column names are strings.
    """
    if not os.path.exists(path):
        raise CommandError(f"data file {path!r} does not exist")
    if not os.path.isfile(path):
        raise CommandError(f"data file {path!r} is not a file")
    pd = import_pandas()
    try:
        if is_parquet(path):
            _check_parquet_engine()
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(path)
    except CommandError:
        raise
    except Exception as exc:  # pandas raises many types for an unreadable file
        kind = "Parquet" if is_parquet(path) else "CSV"
        raise CommandError(f"cannot read {path!r} as {kind}: {_first_line(exc)}") \
            from None
    frame.columns = [str(c) for c in frame.columns]
    duplicated = sorted({c for c in frame.columns if list(frame.columns).count(c) > 1})
    if duplicated:
        raise CommandError(f"data file {path!r} has duplicated column names "
                           f"{_names(duplicated)}")
    return frame


def write_frame(frame, path, out):
    """Write a DataFrame as CSV (Parquet for a ``.parquet`` path); None: to ``out``."""
    if path is None:
        frame.to_csv(out, index=False)
        return
    if is_parquet(path):
        _check_parquet_engine()
    try:
        if is_parquet(path):
            frame.to_parquet(path, index=False)
        else:
            frame.to_csv(path, index=False)
    except OSError as exc:
        raise CommandError(f"cannot write {path!r}: {_first_line(exc)}") from None


def split_names(text):
    """The names of a comma-separated list (blanks around names ignored)."""
    return [name.strip() for name in text.split(",") if name.strip()]


def select_columns(frame, spec, option):
    """Column names from a comma-separated list whose items may be glob patterns.

    ``"score_*"`` is every column starting with ``score_``, in file order.
    """
    columns = list(frame.columns)
    names = []
    for item in split_names(spec):
        if any(char in item for char in "*?["):
            matched = [c for c in columns if fnmatch.fnmatchcase(c, item)]
            if not matched:
                raise CommandError(f"{option} pattern {item!r} matches no column; the "
                                   f"columns are {_names(columns)}")
            names.extend(matched)
        elif item in columns:
            names.append(item)
        else:
            raise CommandError(f"{option}: no column {item!r}; the columns are "
                               f"{_names(columns)}")
    if not names:
        raise CommandError(f"{option} names no column")
    return list(dict.fromkeys(names))


def _is_numeric(series):
    import pandas as pd

    return pd.api.types.is_numeric_dtype(series.dtype) \
        and not pd.api.types.is_complex_dtype(series.dtype)


def _not_numeric_example(series):
    import pandas as pd

    values = pd.to_numeric(series, errors="coerce")
    bad = series[values.isna() & series.notna()]
    return bad.iloc[0] if len(bad) else None


def _require_numeric(frame, column, what, hint):
    series = frame[column]
    if not _is_numeric(series):
        raise CommandError(f"{what} column {column!r} is not numeric (it holds "
                           f"{_not_numeric_example(series)!r}){hint}")


def _require_complete(frame, column, what, hint):
    empty = int(frame[column].isna().sum())
    if empty:
        rows = np.flatnonzero(frame[column].isna().to_numpy())[:3] + 1
        where = ", ".join(str(r) for r in rows)
        raise CommandError(f"{what} column {column!r} has {empty} empty cell(s) (data "
                           f"row {where}{', ...' if empty > 3 else ''}){hint}")


@dataclass
class Layout:
    """Where the targets, the tasks and the features are in a data file.

    Parameters
    ----------
    kind : {"long", "wide"}
        The layout.
    features : list of str
        The input columns, in the model's order.
    target : str or None
        Long layout: the label column.
    task_column : str or None
        Long layout: the task column.
    targets : list of str or None
        Wide layout: the label columns, one per task (the task names).
    """

    kind: str
    features: list
    target: str | None = None
    task_column: str | None = None
    targets: list | None = None

    @property
    def label_columns(self):
        """The columns that are not inputs."""
        if self.kind == "long":
            return [self.target, self.task_column]
        return list(self.targets)


def fit_layout(frame, *, target=None, task=None, targets=None, features=None):
    """The layout of a training file from the ``fit`` options.

    Returns
    -------
    layout : Layout
    skipped : list of str
        Columns left out of the features because they are not numeric (only when
        the features are not given).
    """
    if targets is not None:
        if target is not None or task is not None:
            raise CommandError("give either --targets (wide layout) or --target and "
                               "--task (long layout), not both")
        layout = Layout("wide", [], targets=select_columns(frame, targets, "--targets"))
    elif target is None or task is None:
        raise CommandError("say where the labels are: --target COL --task COL (long "
                           "layout, one row per measurement) or --targets COL1,COL2,... "
                           "(wide layout, one column per task)")
    else:
        for option, name in (("--target", target), ("--task", task)):
            if name not in frame.columns:
                raise CommandError(f"{option}: no column {name!r}; the columns are "
                                   f"{_names(frame.columns)}")
        if target == task:
            raise CommandError(f"--target and --task are the same column {target!r}")
        layout = Layout("long", [], target=target, task_column=task)
    labels = set(layout.label_columns)
    skipped = []
    if features is not None:
        chosen = select_columns(frame, features, "--features")
        overlap = [c for c in chosen if c in labels]
        if overlap:
            raise CommandError(f"--features: {_names(overlap)} are label columns, not "
                               "inputs")
    else:
        rest = [c for c in frame.columns if c not in labels]
        chosen = [c for c in rest if _is_numeric(frame[c])]
        skipped = [c for c in rest if c not in chosen]
        if not chosen:
            raise CommandError("no numeric column is left for the features; name them "
                               "with --features")
    layout.features = chosen
    return layout, skipped


def features_matrix(frame, layout):
    """The ``(n_samples, n_features)`` float array of the layout's feature columns."""
    missing = [c for c in layout.features if c not in frame.columns]
    if missing:
        raise CommandError(f"the model's feature column(s) {_names(missing)} are not in "
                           "the data file")
    hint = ": fill or drop those rows, or leave the column out with --features"
    for column in layout.features:
        _require_numeric(frame, column, "feature",
                         ": features must be numbers (encode categories as 0/1 "
                         "columns, or leave the column out with --features)")
        _require_complete(frame, column, "feature", hint)
    return frame[layout.features].to_numpy(dtype=np.float64)


def _task_key(value):
    """Task names are matched by their text: a CSV may read ``7`` as 7 or '7'."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _sorted_tasks(values):
    values = list(dict.fromkeys(values.tolist()))
    try:
        return sorted(values)
    except TypeError:  # mixed types
        return sorted(values, key=_task_key)


def long_tasks(frame, layout, tasks=None):
    """Task names of a long-layout file and the task (name) of every row.

    Parameters
    ----------
    frame : DataFrame
    layout : Layout
        A long layout.
    tasks : list or None
        The model's task names; None (at fit) takes the sorted distinct values.

    Returns
    -------
    tasks : list
    row_tasks : ndarray of shape (n_rows,)
        The task of every row, as an element of ``tasks``.
    """
    column = layout.task_column
    if column not in frame.columns:
        raise CommandError(f"the model was fitted in the long layout: the data file "
                           f"needs its task column {column!r}")
    _require_complete(frame, column, "task", ": every row needs its task")
    values = frame[column].to_numpy()
    if tasks is None:
        tasks = _sorted_tasks(values)
    lookup = {_task_key(name): name for name in tasks}
    keys = [_task_key(v) for v in values.tolist()]
    unknown = [k for k in dict.fromkeys(keys) if k not in lookup]
    if unknown:
        raise CommandError(f"task(s) {_names(unknown, 5)} in column {column!r} were not "
                           f"seen at fit; the model knows {_names(tasks)}")
    row_tasks = np.empty(len(keys), dtype=object)
    row_tasks[:] = [lookup[k] for k in keys]
    return list(tasks), row_tasks


def _label_array(frame, column, regression, what):
    series = frame[column]
    if regression:
        _require_numeric(frame, column, what,
                         ": a regression model needs numbers (use a classifier for "
                         "class labels)")
        return series.to_numpy(dtype=np.float64, na_value=np.nan)
    if _is_numeric(series):
        return series.to_numpy(dtype=np.float64, na_value=np.nan)
    values = series.to_numpy(dtype=object)
    values[series.isna().to_numpy()] = None
    return values


def targets_matrix(frame, layout, tasks, regression, row_tasks=None):
    """The wide ``(n_samples, n_tasks)`` targets of a data file, missing as NaN/None.

    Parameters
    ----------
    frame : DataFrame
    layout : Layout
    tasks : list
        Task names, in column order.
    regression : bool
        Whether labels must be numbers.
    row_tasks : ndarray or None
        Long layout: the task of every row (from :func:`long_tasks`).

    Returns
    -------
    Y : ndarray of shape (n_samples, n_tasks)
        float64 with NaN for a missing label, or object with None (class labels
        that are not numbers).
    """
    if layout.kind == "long":
        if layout.target not in frame.columns:
            raise CommandError(f"no target column {layout.target!r} in the data file")
        _require_complete(frame, layout.target, "target",
                          ": the long layout has one row per measurement; drop the "
                          "rows without a label")
        y = _label_array(frame, layout.target, regression, "target")
        position = {_task_key(name): j for j, name in enumerate(tasks)}
        columns = np.array([position[_task_key(t)] for t in row_tasks.tolist()],
                           dtype=np.intp)
        if y.dtype == object:
            Y = np.full((y.shape[0], len(tasks)), None, dtype=object)
        else:
            Y = np.full((y.shape[0], len(tasks)), np.nan)
        Y[np.arange(y.shape[0]), columns] = y
        return Y
    missing = [c for c in layout.targets if c not in frame.columns]
    if missing:
        raise CommandError(f"target column(s) {_names(missing)} (one per task) are not "
                           "in the data file")
    columns = [_label_array(frame, c, regression, "target") for c in layout.targets]
    if any(c.dtype == object for c in columns):
        columns = [c.astype(object) for c in columns]
        for c in columns:
            c[[v is not None and v != v for v in c]] = None  # NaN -> None
    return np.column_stack(columns)


# -- saved models ------------------------------------------------------------------------

def save_model(path, bundle):
    """Write the dictionary of a fitted model with :func:`joblib.dump`."""
    import joblib

    try:
        joblib.dump(bundle, path)
    except OSError as exc:
        raise CommandError(f"cannot write the model to {path!r}: {_first_line(exc)}") \
            from None


def load_model(path):
    """Read a model saved by ``rkhsmtl fit``.

    A model saved by another version of rkhsmtl is loaded with a ``UserWarning``
    (its predictions may differ; refit it to be sure).

    Parameters
    ----------
    path : str
        The file written by ``rkhsmtl fit``.

    Returns
    -------
    bundle : dict
        ``"estimator"`` (the fitted estimator, a scikit-learn ``Pipeline`` when the
        features are standardised), ``"layout"``, ``"features"``, ``"target"``,
        ``"task_column"``, ``"targets"``, ``"tasks"``, ``"kind"``
        (``"regression"`` or ``"classification"``), ``"model"``, ``"params"``,
        ``"standardize"``, ``"rkhsmtl_version"`` and the format keys; see the user
        guide's command-line page.
    """
    import joblib

    from .. import __version__

    if not os.path.isfile(path):
        raise CommandError(f"model file {path!r} does not exist")
    try:
        bundle = joblib.load(path)
    except Exception as exc:  # unpickling raises anything for a foreign file
        raise CommandError(f"{path!r} is not a model saved by rkhsmtl fit (cannot load "
                           f"it: {_first_line(exc)})") from None
    if not isinstance(bundle, dict) or bundle.get("format") != MODEL_FORMAT:
        raise CommandError(f"{path!r} is not a model saved by rkhsmtl fit")
    if bundle.get("format_version", 0) > MODEL_FORMAT_VERSION:
        raise CommandError(f"{path!r} was saved by rkhsmtl "
                           f"{bundle.get('rkhsmtl_version')}, in a newer format than "
                           f"this rkhsmtl {__version__} reads: upgrade rkhsmtl")
    saved = bundle.get("rkhsmtl_version")
    if saved != __version__:
        warnings.warn(f"{path!r} was saved by rkhsmtl {saved}; this is rkhsmtl "
                      f"{__version__}: its predictions may differ, refit it with this "
                      "version to be sure", UserWarning, stacklevel=2)
    return bundle


def layout_of(bundle):
    """The :class:`Layout` stored in a saved model."""
    return Layout(bundle["layout"], list(bundle["features"]), target=bundle["target"],
                  task_column=bundle["task_column"], targets=bundle["targets"])
