"""Exceptions and warnings raised by rkhsmtl.

Warnings about iterative solvers use scikit-learn's
:class:`~sklearn.exceptions.ConvergenceWarning`, so that the usual filters apply.
"""

__all__ = ["InconsistentVersionWarning", "MemoryBudgetError", "SingleClassTaskWarning"]


class InconsistentVersionWarning(UserWarning):
    """A fitted estimator was saved by another version of rkhsmtl.

    Emitted when a model saved with :mod:`pickle`, :func:`joblib.dump` or
    :func:`skops.io.dump` by one version of rkhsmtl is loaded by another: the
    fitted attributes may not mean the same thing, so predictions may differ or
    fail. Refit the model with the installed version (or install the version that
    saved it). Turn it into an error with
    ``warnings.filterwarnings("error", category=InconsistentVersionWarning)``.

    Parameters
    ----------
    estimator_name : str
        Name of the estimator's class.
    current_version : str
        The installed version of rkhsmtl.
    original_version : str or None
        The version that saved the estimator (None for a model saved by a version
        that did not record it).
    """

    def __init__(self, estimator_name, current_version, original_version):
        self.estimator_name = estimator_name
        self.current_version = current_version
        self.original_version = original_version
        super().__init__(estimator_name, current_version, original_version)

    def __str__(self):
        if self.original_version is None:
            saved, load_with = "a version of rkhsmtl that did not record it", ""
        else:
            saved = f"rkhsmtl {self.original_version}"
            load_with = f", or load it with rkhsmtl {self.original_version}"
        return (
            f"This {self.estimator_name} was saved by {saved} and is loaded by "
            f"rkhsmtl {self.current_version}: its fitted attributes may not be read "
            f"the same way, so its predictions may differ or fail. Refit it with "
            f"rkhsmtl {self.current_version}{load_with}."
        )


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
