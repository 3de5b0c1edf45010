"""Exceptions and warnings raised by rkhsmtl.

Warnings about iterative solvers use scikit-learn's
:class:`~sklearn.exceptions.ConvergenceWarning`, so that the usual filters apply.
"""

__all__ = ["MemoryBudgetError", "SingleClassTaskWarning"]


class MemoryBudgetError(MemoryError):
    """Raised before allocating when a computation would not fit in the memory budget.

    The message says how much memory the computation needs, how much the budget
    allows (see :func:`rkhsmtl.set_config`) and which setting to use instead (a
    solver that streams the kernel matrix, explicit features, a subsample).
    """


class SingleClassTaskWarning(UserWarning):
    """A classifier left out tasks whose labels are all of one class.

    Emitted by :class:`~rkhsmtl.MultiTaskKernelClassifier` with
    ``single_class_tasks="skip"`` (the default): the message names the skipped
    tasks, which the fitted attribute ``skipped_tasks_`` lists. Silence it with
    ``warnings.filterwarnings("ignore", category=SingleClassTaskWarning)``, or turn
    it into an error with ``single_class_tasks="raise"``.
    """
