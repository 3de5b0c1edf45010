"""What a fitted multi-task model learned about its tasks.

* :func:`task_relations` -- a report on the task-structure matrix ``A`` of a
  fitted model: task correlations, partial correlations, a clustering of the
  tasks with its number of clusters chosen from ``A``, their stability under
  bootstrap refits, and the per-task transfer gain over an independent baseline.
* :class:`TaskRelationReport` -- the report: plain arrays, a printed table
  (:meth:`~TaskRelationReport.summary`), DataFrames
  (:meth:`~TaskRelationReport.to_frame`) and a figure
  (:meth:`~TaskRelationReport.plot`).
* :func:`partial_correlation` and :func:`cluster_tasks` -- the two analyses of
  ``A`` on their own.

See :doc:`/user_guide/task_relations`.
"""

from ._task_relations import (
    TaskRelationReport,
    cluster_tasks,
    partial_correlation,
    task_relations,
)

__all__ = ["TaskRelationReport", "cluster_tasks", "partial_correlation",
           "task_relations"]
