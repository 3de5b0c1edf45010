"""Data sets and data-layout helpers for multi-task learning.

* :func:`load_school` — the School (ILEA) benchmark, bundled with the package.
* :func:`make_multitask_regression` — synthetic problems with a known task
  structure.
* :func:`make_descriptor_tasks` — synthetic tasks whose functions vary smoothly
  with a task descriptor (for predictions on new tasks).
* :func:`make_disease_progression` — simulated longitudinal disease-progression
  data (a score per visit, a sparse support shared over time, patient dropout).
* :func:`make_auxiliary_tasks` — a primary task with planted helpful and unrelated
  auxiliary tasks (regression or exceedance labels).
* :func:`long_to_wide`, :func:`wide_to_long` — convert between the long layout
  ``(X, y, task)`` and the wide layout ``(X, Y)`` (NaN marks a missing label).
* :func:`train_test_split_per_task` — random train/test split within every task.
"""

from ._auxiliary import make_auxiliary_tasks
from ._descriptor_tasks import make_descriptor_tasks
from ._layout import long_to_wide, train_test_split_per_task, wide_to_long
from ._school import load_school
from ._synthetic import make_disease_progression, make_multitask_regression

__all__ = [
    "load_school",
    "long_to_wide",
    "make_auxiliary_tasks",
    "make_descriptor_tasks",
    "make_disease_progression",
    "make_multitask_regression",
    "train_test_split_per_task",
    "wide_to_long",
]
