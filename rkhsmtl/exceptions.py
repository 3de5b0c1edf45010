"""Exceptions raised by rkhsmtl.

Warnings about iterative solvers use scikit-learn's
:class:`~sklearn.exceptions.ConvergenceWarning`, so that the usual filters apply.
"""

__all__ = ["MemoryBudgetError"]


class MemoryBudgetError(MemoryError):
    """Raised before allocating when a computation would not fit in the memory budget.

    The message says how much memory the computation needs, how much the budget
    allows (see :func:`rkhsmtl.set_config`) and which setting to use instead (a
    solver that streams the kernel matrix, explicit features, a subsample).
    """
