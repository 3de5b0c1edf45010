"""NaN-aware multi-task metrics and scorers.

Targets are wide ``(n_samples, n_tasks)`` arrays (or ``(n_samples,)`` for one task)
in which NaN, None or ``pandas.NA`` mark a missing label; every metric uses the
observed entries only, with optional ``sample_weight`` of shape ``(n_samples,)`` or
``(n_samples, n_tasks)``. ``average="macro"`` is the mean of the per-task values
over the tasks where the metric is defined, ``"micro"`` the metric on all observed
``(i, t)`` entries pooled, ``None`` the per-task values.

* Regression metrics (:func:`mean_squared_error`,
  :func:`normalized_mean_squared_error`, :func:`explained_variance_score`,
  :func:`r2_score`, and the older :func:`nan_r2_score`,
  :func:`pooled_explained_variance`) are array-API code: they compute in the
  namespace and on the device of ``Y_pred``.
* Classification metrics (:func:`accuracy_score`, :func:`f1_score`,
  :func:`roc_auc_score`, :func:`log_loss`) treat each task as a binary problem
  whose labels may be numbers, bools or strings, so they compute on the host with
  NumPy (array-API inputs are copied there).
* Scorers for ``scoring=`` in model selection: :func:`get_scorer`,
  :func:`get_scorer_names`, :func:`make_multitask_scorer`, and
  :func:`make_task_scorer` (some tasks only, e.g. the primary ones). :func:`get_scorer`
  also takes scikit-learn's names of these metrics (``"r2"``,
  ``"neg_mean_squared_error"``, ``"roc_auc"``, ...), as do
  :class:`~rkhsmtl.model_selection.MultiTaskGridSearchCV` and
  :class:`~rkhsmtl.model_selection.MultiTaskRandomizedSearchCV`.

See :doc:`/user_guide/metrics` for the definitions.
"""

from ._classification import accuracy_score, f1_score, log_loss, roc_auc_score
from ._regression import (
    explained_variance_score,
    mean_squared_error,
    nan_r2_score,
    normalized_mean_squared_error,
    pooled_explained_variance,
    r2_score,
)
from ._scorers import get_scorer, get_scorer_names, make_multitask_scorer
from ._tasks import make_task_scorer

__all__ = [
    "accuracy_score",
    "explained_variance_score",
    "f1_score",
    "get_scorer",
    "get_scorer_names",
    "log_loss",
    "make_multitask_scorer",
    "make_task_scorer",
    "mean_squared_error",
    "nan_r2_score",
    "normalized_mean_squared_error",
    "pooled_explained_variance",
    "r2_score",
    "roc_auc_score",
]
