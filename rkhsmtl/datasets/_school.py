"""The School (ILEA) multi-task regression benchmark, bundled with the package."""

import functools
import gzip
import io
from importlib import resources

import numpy as np

from ._layout import long_to_wide

__all__ = ["load_school"]

_DATA_FILE = "school.csv.gz"


@functools.lru_cache(maxsize=1)
def _read_school():
    """Parse the bundled CSV once; return (feature names, X, y, task), read-only."""
    resource = resources.files(__package__).joinpath("data", _DATA_FILE)
    with resource.open("rb") as raw, gzip.open(raw, "rb") as unzipped:
        text = io.TextIOWrapper(unzipped, encoding="utf-8")
        header = text.readline().strip().split(",")
        data = np.loadtxt(text, delimiter=",", dtype=np.float64, ndmin=2)
    if header[0] != "task" or header[-1] != "y" or data.shape[1] != len(header):
        raise RuntimeError(f"unexpected layout of the bundled {_DATA_FILE}.")
    feature_names = tuple(header[1:-1])
    X = np.ascontiguousarray(data[:, 1:-1])
    y = np.ascontiguousarray(data[:, -1])
    task = data[:, 0].astype(np.int64)
    for array in (X, y, task):
        array.setflags(write=False)
    return feature_names, X, y, task


def _import_pandas():
    try:
        import pandas as pd
    except ImportError as exc:  # pragma: no cover - pandas is a test dependency
        raise ImportError(
            "load_school(as_frame=True) needs pandas; install it with "
            "`pip install pandas`."
        ) from exc
    return pd


def load_school(*, wide=False, as_frame=False):
    """Load the School (ILEA) multi-task regression data set.

    Exam scores of 15 362 students of 139 secondary schools (Inner London
    Education Authority, 1985-1987); every school is a task. The 28 features are
    the encoding of Argyriou, Evgeniou & Pontil (2008) as shipped in MALSAR: 27
    attributes (one-hot year, gender, verbal-reasoning band, ethnic group, school
    gender and denomination, plus two raw school-level percentages) and a constant
    ``bias`` column. The data are bundled with the package (nothing is
    downloaded); see ``rkhsmtl/datasets/data/school_README.md`` for the columns,
    the provenance and the usual 75/25 per-task evaluation protocol (reproduced
    by :func:`train_test_split_per_task`).

    =================  ======================
    samples            15 362
    features           28 (including ``bias``)
    tasks              139 (22 to 251 rows each)
    target             integer score 1 to 70
    =================  ======================

    Parameters
    ----------
    wide : bool, default=False
        If False return the long layout ``(X, y, task)``; if True the wide layout
        ``(X, Y)`` with one observed entry per row.
    as_frame : bool, default=False
        If True return pandas objects: ``X`` a DataFrame with the CSV column names
        (``year_1985`` ... ``bias``), ``y`` a Series named ``"y"``, ``task`` a
        Series named ``"task"``, and in the wide layout ``Y`` a DataFrame with
        columns ``"school_0"`` ... ``"school_138"``. Requires pandas.

    Returns
    -------
    X : ndarray of shape (15362, 28), dtype float64, or DataFrame
        Features, rows in the order of the original file.
    y : ndarray of shape (15362,), dtype float64, or Series
        Exam scores. Only returned when ``wide=False``.
    task : ndarray of shape (15362,), dtype int64, or Series
        0-based school index of every row. Only returned when ``wide=False``.
    Y : ndarray of shape (15362, 139), dtype float64, or DataFrame
        ``Y[i, task[i]] = y[i]`` and NaN elsewhere. Only returned when
        ``wide=True``.

    Notes
    -----
    The parsed file is cached in memory; every call returns fresh copies, so
    modifying the returned arrays does not affect later calls.

    References
    ----------
    .. [1] H. Goldstein, "Multilevel modelling of survey data", The Statistician
       40 (1991) 235-244.
    .. [2] A. Argyriou, T. Evgeniou and M. Pontil, "Convex multi-task feature
       learning", Machine Learning 73 (2008) 243-272.

    Examples
    --------
    >>> from rkhsmtl.datasets import load_school
    >>> X, y, task = load_school()
    >>> X.shape, y.shape, int(task.max()) + 1
    ((15362, 28), (15362,), 139)
    >>> X, Y = load_school(wide=True)
    >>> Y.shape
    (15362, 139)
    """
    feature_names, X, y, task = _read_school()
    X, y, task = X.copy(), y.copy(), task.copy()
    if wide:
        _, Y = long_to_wide(X, y, task, tasks=range(int(task.max()) + 1))
    if not as_frame:
        return (X, Y) if wide else (X, y, task)

    pd = _import_pandas()
    X_frame = pd.DataFrame(X, columns=list(feature_names))
    if wide:
        columns = [f"school_{t}" for t in range(Y.shape[1])]
        return X_frame, pd.DataFrame(Y, columns=columns)
    return X_frame, pd.Series(y, name="y"), pd.Series(task, name="task")
