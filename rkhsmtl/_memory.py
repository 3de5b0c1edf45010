"""Where memory is decided: the budget, the size of an item, row blocks, estimates.

Every solver asks this module, and only this module, how much memory it may plan to
use (:func:`memory_budget`), whether a computation fits (:func:`check_memory`), how
many rows of a kernel computation to take at a time (:func:`row_block`) and how much
the dense factorisations need (:func:`eigendecomposition_bytes`,
:func:`cholesky_bytes`, :func:`dense_bytes`). The budget and the block size are
settings (:func:`rkhsmtl.set_config`).
"""

from __future__ import annotations

import math
import os

from ._backend import is_cupy_namespace
from ._config import get_config
from .exceptions import MemoryBudgetError

__all__ = [
    "ITEMSIZE",
    "available_memory_bytes",
    "check_memory",
    "cholesky_bytes",
    "dense_bytes",
    "eigendecomposition_bytes",
    "factored_cg_bytes",
    "format_bytes",
    "memory_budget",
    "row_block",
]

# Bytes of one element: every solver computes in float64 (inputs are validated to it).
ITEMSIZE = 8

# Fraction of the available memory a computation may plan to use: the rest is left
# for the interpreter, the caller's arrays and allocator slack.
_BUDGET_FRACTION = 0.9


def available_memory_bytes(xp=None):
    """Memory a new allocation can use: free GPU memory for CuPy, else host RAM.

    The ``memory_limit`` setting (:func:`rkhsmtl.set_config`, or the
    ``RKHSMTL_MEMORY_LIMIT`` environment variable) caps the answer.
    """
    limit = get_config()["memory_limit"]
    cap = math.inf if limit is None else float(limit)
    if xp is not None and is_cupy_namespace(xp):
        import cupy

        free, _ = cupy.cuda.runtime.memGetInfo()
        return min(float(free), cap)
    avail = None
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    avail = float(line.split()[1]) * 1024.0
                    break
    except OSError:
        pass
    if avail is None:
        try:
            avail = float(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
        except (ValueError, OSError, AttributeError):
            avail = math.inf
    return min(avail, cap)


def memory_budget(xp=None):
    """Bytes a computation may plan to use: 90 % of :func:`available_memory_bytes`."""
    return _BUDGET_FRACTION * available_memory_bytes(xp)


def format_bytes(nbytes):
    """``nbytes`` in B, KiB, MiB, GiB or TiB, one decimal."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if nbytes < 1024.0 or unit == "TiB":
            return f"{nbytes:.1f} {unit}"
        nbytes /= 1024.0
    return f"{nbytes:.1f} TiB"  # pragma: no cover


def check_memory(nbytes, what, advice, xp=None, *, budget=None):
    """Raise `MemoryBudgetError` if ``nbytes`` exceed the memory budget.

    Parameters
    ----------
    nbytes : float
        Bytes the computation will allocate.
    what : str
        What is being allocated, for the message.
    advice : str
        What the user can do instead (another solver, fewer samples, ...).
    xp : module or None
        Namespace of the computation (CuPy: GPU memory).
    budget : float or None
        Bytes allowed; by default :func:`memory_budget` of ``xp``.
    """
    budget = memory_budget(xp) if budget is None else float(budget)
    if nbytes > budget:
        raise MemoryBudgetError(
            f"{what} needs {format_bytes(nbytes)} but the memory budget is "
            f"{format_bytes(budget)} (90% of the available memory, capped by "
            f"rkhsmtl.set_config(memory_limit=...)). {advice}"
        )


def working_memory_bytes():
    """Bytes of temporaries one row block may use.

    The smaller of rkhsmtl's ``working_memory`` and scikit-learn's (both MiB).
    """
    from sklearn import get_config as sklearn_config

    mib = min(float(get_config()["working_memory"]),
              float(sklearn_config()["working_memory"]))
    return mib * 2**20


def row_block(n_columns, arrays=1):
    """Rows per block so that ``arrays`` temporaries of ``(rows, n_columns)`` fit.

    Parameters
    ----------
    n_columns : int
        Length of one row of a temporary (e.g. the number of training samples for
        rows of a kernel matrix).
    arrays : float
        Number of such temporaries alive at once (or elements per column, e.g. the
        number of features for the laplacian kernel's broadcast differences).

    Returns
    -------
    rows : int
        At least 1.
    """
    per_row = ITEMSIZE * float(arrays) * max(int(n_columns), 1)
    return max(1, int(working_memory_bytes() // per_row))


def dense_bytes(n_rows, n_columns=None):
    """Bytes of one dense ``n_rows x n_columns`` float64 matrix (square by default)."""
    n_columns = n_rows if n_columns is None else n_columns
    return float(n_rows) * float(n_columns) * ITEMSIZE


def eigendecomposition_bytes(n, weighted=False):
    """Peak bytes of the eigendecomposition of an ``n x n`` kernel matrix.

    The matrix, its eigenvectors and LAPACK's workspace; a weighted problem holds
    one more copy (the rescaled matrix).
    """
    return (3 + int(bool(weighted))) * dense_bytes(n)


def factored_cg_bytes(n, n_factors, weighted=False, n_tasks=0):
    """Peak bytes of solver "factored_cg": the kernel matrix and ``n_factors`` more.

    The matrix, its rescaled copy when ``weighted``, ``n_factors`` Cholesky factors
    of shifted copies (or the eigenvectors and LAPACK's workspace, counted as two),
    and about a dozen ``(n, n_tasks)`` iteration arrays.
    """
    return ((1 + int(n_factors) + int(bool(weighted))) * dense_bytes(n)
            + 12.0 * dense_bytes(n, n_tasks))


def cholesky_bytes(n, weighted=False):
    """Peak bytes of one shifted Cholesky factorisation of an ``n x n`` kernel matrix.

    The matrix and one shifted copy factorised in place (plus the rescaled matrix
    of a weighted problem).
    """
    return (2 + int(bool(weighted))) * dense_bytes(n)
