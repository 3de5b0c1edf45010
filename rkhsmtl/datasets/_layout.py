"""Conversions between the long and the wide multi-task layouts, per-task splits.

Two layouts describe the same multi-task data (see :doc:`/user_guide/datasets`):

* **wide** ``(X, Y)``: ``X`` (n, d) and ``Y`` (n, T), one column per task, NaN
  marks a missing label. This is what every ``rkhsmtl`` estimator consumes.
* **long** ``(X, y, task)``: one row per observed (sample, task) pair, ``y`` (n,)
  the label and ``task`` (n,) the task it belongs to.
"""

import numbers

import numpy as np

__all__ = ["long_to_wide", "wide_to_long", "train_test_split_per_task"]


def _is_dataframe(X):
    """True for pandas-like data frames (checked without importing pandas)."""
    return hasattr(X, "iloc") and hasattr(X, "columns")


def _as_rows(X, name="X"):
    """Return X as an ndarray (DataFrames are kept) and its number of rows."""
    if not _is_dataframe(X):
        X = np.asarray(X)
        if X.ndim == 0:
            raise ValueError(
                f"{name} must be an array with one row per sample, got a scalar."
            )
    return X, X.shape[0]


def _take_rows(X, rows):
    """Rows ``rows`` of X (positional), keeping a DataFrame a DataFrame."""
    if _is_dataframe(X):
        return X.iloc[rows].reset_index(drop=True)
    return X[rows]


def _check_task_ids(task):
    """Refuse missing task ids (NaN, None, ``pandas.NA``), which would become a task."""
    from .._labels import missing_mask

    missing = missing_mask(task)
    if np.any(missing):
        rows = np.flatnonzero(missing)
        shown = ", ".join(str(i) for i in rows[:5].tolist())
        more = f" (and {rows.shape[0] - 5} more)" if rows.shape[0] > 5 else ""
        raise ValueError(
            f"task has missing values (NaN, None or pandas.NA) at rows {shown}{more}: "
            "every row needs the id of its task. Drop those rows or give them a task."
        )


def _as_1d(a, name):
    a = np.asarray(a)
    if a.ndim == 2 and a.shape[1] == 1:
        a = a[:, 0]
    if a.ndim != 1:
        raise ValueError(
            f"{name} must be one-dimensional, got an array of shape {a.shape}."
        )
    return a


def long_to_wide(X, y, task, *, tasks=None, as_frame=False):
    """Convert the long layout ``(X, y, task)`` to the wide layout ``(X, Y)``.

    Each input row becomes one output row whose only observed entry is the
    column of its task; every other entry of ``Y`` is NaN.

    Parameters
    ----------
    X : array-like or DataFrame of shape (n_samples, n_features)
        Inputs. Returned unchanged (converted to a NumPy array unless it is a
        pandas DataFrame, which is kept as is).
    y : array-like of shape (n_samples,)
        Labels; must be finite.
    task : array-like of shape (n_samples,)
        Task label of every row: any hashable values (integers, strings, ...).
    tasks : sequence of hashable, default=None
        The task labels in column order. Every value of ``task`` must occur in
        ``tasks``; labels of ``tasks`` that never occur give all-NaN columns.
        By default the columns are ``np.unique(task)`` (sorted distinct labels).
    as_frame : bool, default=False
        Return ``Y`` as a pandas DataFrame whose columns are the task labels (and
        whose index is that of a DataFrame ``X``). An estimator fitted on it
        keeps the labels as ``tasks_``, so that ``predict(X, task=task)``
        accepts them. Needs pandas.

    Returns
    -------
    X : ndarray or DataFrame of shape (n_samples, n_features)
        The inputs, unchanged.
    Y : ndarray or DataFrame of shape (n_samples, n_tasks), dtype float64
        ``Y[i, j] = y[i]`` where ``j`` is the column of ``task[i]``, NaN elsewhere.

    Raises
    ------
    ValueError
        If the lengths of ``X``, ``y`` and ``task`` differ, ``y`` is not finite,
        ``tasks`` has duplicates or a value of ``task`` is not in ``tasks``.

    See Also
    --------
    wide_to_long : The inverse conversion.

    Examples
    --------
    >>> import numpy as np
    >>> from rkhsmtl.datasets import long_to_wide
    >>> X = np.arange(6.0).reshape(3, 2)
    >>> _, Y = long_to_wide(X, [1.0, 2.0, 3.0], ["b", "a", "b"])
    >>> Y
    array([[nan,  1.],
           [ 2., nan],
           [nan,  3.]])
    >>> _, Y = long_to_wide(X, [1.0, 2.0, 3.0], ["b", "a", "b"], tasks=["b", "a", "c"])
    >>> Y.shape
    (3, 3)
    >>> _, Y = long_to_wide(X, [1.0, 2.0, 3.0], ["b", "a", "b"], as_frame=True)
    >>> list(Y.columns)
    ['a', 'b']
    """
    X, n_x = _as_rows(X)
    y = _as_1d(y, "y")
    task = _as_1d(task, "task")
    if not (n_x == y.shape[0] == task.shape[0]):
        raise ValueError(
            "X, y and task must have the same number of rows, got "
            f"len(X)={n_x}, len(y)={y.shape[0]}, len(task)={task.shape[0]}."
        )
    try:
        y = y.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError("y must be numeric.") from exc
    if not np.all(np.isfinite(y)):
        raise ValueError("y must be finite: it contains NaN or infinite values.")
    _check_task_ids(task)

    uniques, inverse = np.unique(task, return_inverse=True)
    inverse = inverse.reshape(-1)
    if tasks is None:
        n_tasks = uniques.shape[0]
        columns = inverse
        labels = uniques.tolist()
    else:
        tasks = list(tasks)
        position = {}
        for j, label in enumerate(tasks):
            if label in position:
                raise ValueError(f"tasks must be distinct; {label!r} occurs twice.")
            position[label] = j
        missing = [u for u in uniques.tolist() if u not in position]
        if missing:
            shown = ", ".join(repr(m) for m in missing[:5])
            more = f" (and {len(missing) - 5} more)" if len(missing) > 5 else ""
            raise ValueError(f"task values not found in tasks: {shown}{more}.")
        n_tasks = len(tasks)
        lookup = np.array([position[u] for u in uniques.tolist()], dtype=np.intp)
        columns = lookup[inverse]
        labels = tasks

    Y = np.full((y.shape[0], n_tasks), np.nan)
    Y[np.arange(y.shape[0]), columns] = y
    if as_frame:
        try:
            import pandas as pd
        except ImportError as exc:  # pragma: no cover - pandas is a test dependency
            raise ImportError(
                "long_to_wide(as_frame=True) needs pandas; install it with "
                "`pip install pandas`."
            ) from exc
        index = X.index if _is_dataframe(X) else None
        Y = pd.DataFrame(Y, columns=pd.Index(labels), index=index)
    return X, Y


def wide_to_long(X, Y):
    """Convert the wide layout ``(X, Y)`` to the long layout ``(X, y, task)``.

    One output row per observed (non-NaN) entry of ``Y``, in row-major order:
    the observed tasks of row 0 in increasing column order, then those of row 1,
    and so on. A row of ``X`` is repeated once per observed task of that row and
    dropped when the row has none.

    Parameters
    ----------
    X : array-like or DataFrame of shape (n_samples, n_features)
        Inputs (a DataFrame stays a DataFrame, with a fresh ``RangeIndex``).
    Y : array-like of shape (n_samples, n_tasks) or (n_samples,)
        Labels, NaN where missing. A 1-D ``Y`` is a single task.

    Returns
    -------
    X_long : ndarray or DataFrame of shape (n_observed, n_features)
        ``X`` rows, repeated as needed.
    y : ndarray of shape (n_observed,), dtype float64
        The observed labels.
    task : ndarray of shape (n_observed,), dtype int64
        The column index of each observed label.

    Raises
    ------
    ValueError
        If ``X`` and ``Y`` have different numbers of rows, ``Y`` has more than two
        dimensions or contains infinite values.

    See Also
    --------
    long_to_wide : The inverse conversion.

    Examples
    --------
    >>> import numpy as np
    >>> from rkhsmtl.datasets import wide_to_long
    >>> X = np.array([[0.0], [1.0]])
    >>> Y = np.array([[1.0, 2.0], [np.nan, 3.0]])
    >>> X_long, y, task = wide_to_long(X, Y)
    >>> X_long.ravel(), y, task
    (array([0., 0., 1.]), array([1., 2., 3.]), array([0, 1, 1]))
    """
    X, n_x = _as_rows(X)
    Y = np.asarray(Y, dtype=np.float64)
    if Y.ndim == 1:
        Y = Y[:, None]
    if Y.ndim != 2:
        raise ValueError(f"Y must be one- or two-dimensional, got shape {Y.shape}.")
    if n_x != Y.shape[0]:
        raise ValueError(
            "X and Y must have the same number of rows, got "
            f"len(X)={n_x}, len(Y)={Y.shape[0]}."
        )
    if np.any(np.isinf(Y)):
        raise ValueError(
            "Y must not contain infinite values (NaN marks a missing label)."
        )
    rows, cols = np.nonzero(~np.isnan(Y))
    return _take_rows(X, rows), Y[rows, cols], cols.astype(np.int64)


def _task_from_wide(Y):
    """Task index of every row of a wide Y with exactly one observed entry per row."""
    Y = np.asarray(Y, dtype=np.float64)
    observed = ~np.isnan(Y)
    counts = observed.sum(axis=1)
    bad = np.flatnonzero(counts != 1)
    if bad.size:
        raise ValueError(
            "a wide Y passed as task must have exactly one observed (non-NaN) entry "
            f"per row; row {bad[0]} has {counts[bad[0]]} ({bad.size} such rows). "
            "Use wide_to_long first and split its task array."
        )
    return np.argmax(observed, axis=1)


def train_test_split_per_task(task, *, train_size=0.75, random_state=None):
    """Split row indices into train and test parts within every task.

    For each distinct task (in sorted order) its rows are permuted with a single
    generator ``rng = numpy.random.default_rng(random_state)`` shared by the whole
    call, and the first ``round(train_size * n_t)`` permuted rows go to the
    training part, the rest to the test part (``n_t`` = number of rows of the
    task; Python's ``round``, i.e. halves round to even).

    With ``train_size=0.75`` and ``random_state=split`` for ``split = 0, ..., 9``
    this reproduces the School protocol used for the baselines in the bundled
    data README (``rkhsmtl/datasets/data/school_README.md``): "10 per-task random
    splits, ``numpy.random.default_rng(split)`` for split = 0…9,
    ``round(0.75·n_t)`` training rows".

    Parameters
    ----------
    task : array-like of shape (n_samples,) or (n_samples, n_tasks)
        Task label of every row (any sortable labels). Alternatively a wide ``Y``
        with exactly one observed (non-NaN) entry per row, whose column index is
        then the row's task.
    train_size : float, default=0.75
        Fraction of every task's rows put in the training part, in (0, 1).
    random_state : int, numpy.random.Generator, numpy.random.SeedSequence or None, \
default=None
        Seed passed to :func:`numpy.random.default_rng`.

    Returns
    -------
    train_index : ndarray of shape (n_train,), dtype intp
        Sorted row indices of the training part.
    test_index : ndarray of shape (n_samples - n_train,), dtype intp
        Sorted row indices of the test part. A task with very few rows may have
        no test (or no training) row, e.g. one with ``n_t = 2`` and
        ``train_size=0.75``.

    Raises
    ------
    ValueError
        If ``train_size`` is not a number in (0, 1), ``task`` has more than two
        dimensions, or a wide ``task`` has a row without exactly one observed
        entry.

    Examples
    --------
    >>> import numpy as np
    >>> from rkhsmtl.datasets import train_test_split_per_task
    >>> task = np.array([0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1])
    >>> train, test = train_test_split_per_task(task, random_state=0)
    >>> np.bincount(task[train]), np.bincount(task[test])
    (array([3, 6]), array([1, 2]))
    """
    if (
        isinstance(train_size, bool)
        or not isinstance(train_size, numbers.Real)
        or not 0.0 < float(train_size) < 1.0
    ):
        raise ValueError(f"train_size must be a float in (0, 1), got {train_size!r}.")
    task = np.asarray(task)
    if task.ndim == 2:
        task = _task_from_wide(task)
    elif task.ndim != 1:
        raise ValueError(
            "task must be a 1-D array of task labels or a wide 2-D Y, "
            f"got an array of shape {task.shape}."
        )
    rng = np.random.default_rng(random_state)
    _, inverse = np.unique(task, return_inverse=True)
    inverse = inverse.reshape(-1)
    order = np.argsort(inverse, kind="stable")
    boundaries = np.cumsum(np.bincount(inverse))[:-1]
    train, test = [], []
    for rows in np.split(order, boundaries):
        permuted = rng.permutation(rows)
        n_train = int(round(float(train_size) * rows.shape[0]))
        train.append(permuted[:n_train])
        test.append(permuted[n_train:])
    train_index = np.sort(np.concatenate(train)) if train else np.empty(0, np.intp)
    test_index = np.sort(np.concatenate(test)) if test else np.empty(0, np.intp)
    return train_index.astype(np.intp), test_index.astype(np.intp)
