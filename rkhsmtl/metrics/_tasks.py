"""Scorers of some of the tasks only: tune and report for the primary task(s).

A model fitted on a primary task and its auxiliary tasks is judged by the primary
task alone; :func:`make_task_scorer` turns any scorer into one that scores the
chosen columns of ``Y`` and of the estimator's outputs and ignores the others.
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.utils import get_tags

from .._backend import array_device, get_namespace, is_array, to_namespace, to_numpy
from ._scorers import SampleWeightRequestMixin, _takes_sample_weight, get_scorer

__all__ = ["make_task_scorer"]

_RESPONSE_METHODS = ("predict", "predict_proba", "predict_log_proba",
                     "decision_function")


def _check_tasks(tasks):
    """``tasks`` as a non-empty list of distinct task names or positions."""
    if isinstance(tasks, (str, numbers.Integral)) or np.ndim(tasks) == 0:
        tasks = [tasks]
    tasks = list(tasks)
    if not tasks:
        raise ValueError("tasks is empty: give the name or position of at least one "
                         "task to score.")
    for task in tasks:
        if isinstance(task, bool) or not isinstance(task, (str, numbers.Integral)):
            raise ValueError(
                f"tasks must hold task names (strings) or integer positions, got "
                f"{task!r}.")
    if len(set(tasks)) != len(tasks):
        raise ValueError(f"tasks holds a task more than once: {tasks!r}.")
    return tasks


def task_positions(tasks, names, n_tasks, *, what="tasks"):
    """Positions of ``tasks`` among the columns: by name, else by integer position.

    Parameters
    ----------
    tasks : list of str or int
        Task names or positions.
    names : sequence or None
        The names of the ``n_tasks`` columns (None: unnamed, positions only).
    n_tasks : int
        Number of columns.
    what : str, default="tasks"
        How error messages call ``tasks``.

    Returns
    -------
    positions : list of int
    """
    names = [] if names is None else list(names)
    lookup = {name: j for j, name in enumerate(names)}
    if all(task in lookup for task in tasks):
        return [lookup[task] for task in tasks]
    if all(isinstance(task, numbers.Integral) and 0 <= task < n_tasks
           for task in tasks):
        return [int(task) for task in tasks]
    unknown = [task for task in tasks if task not in lookup and not (
        isinstance(task, numbers.Integral) and 0 <= task < n_tasks)]
    shown = ", ".join(repr(n) for n in names[:10]) + (", ..." if len(names) > 10
                                                      else "")
    known = f"the task names [{shown}] or " if names else ""
    raise ValueError(
        f"Unknown task(s) in {what}: {unknown}. Give {known}integer positions "
        f"0..{n_tasks - 1} of the columns of Y.")


def _take_columns(values, positions):
    """Columns ``positions`` of outputs or targets, in their own type."""
    if isinstance(values, list):  # one array per task
        return [values[p] for p in positions]
    if hasattr(values, "iloc"):
        return values.iloc[:, positions]
    if isinstance(values, np.ndarray) or not is_array(values):
        return np.asarray(values)[:, positions]
    xp = get_namespace(values)
    index = to_namespace(np.asarray(positions, dtype=np.int64), xp,
                         array_device(values))
    return xp.take(values, index, axis=1)


class _TaskSubset:
    """A fitted multi-task estimator seen through some of its tasks: its outputs
    and ``classes_`` restricted to the columns ``positions``."""

    def __init__(self, estimator, positions):
        self._estimator = estimator
        self._positions = positions

    def __sklearn_tags__(self):
        return get_tags(self._estimator)

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        if name in _RESPONSE_METHODS:
            method = getattr(self._estimator, name)  # AttributeError when absent

            def response(X):
                return _take_columns(method(X), self._positions)
            return response
        if name in ("classes_", "_classes_host"):
            classes = getattr(self._estimator, name)
            if isinstance(classes, (list, tuple)) or (
                    isinstance(classes, np.ndarray) and classes.ndim == 2):
                return [classes[p] for p in self._positions]
            return classes
        if name == "tasks_":
            return np.asarray(to_numpy(self._estimator.tasks_))[self._positions]
        if name == "n_tasks_":
            return len(self._positions)
        raise AttributeError(
            f"{type(self._estimator).__name__} seen through tasks {self._positions} "
            f"has no attribute {name!r}.")


class TaskScorer(SampleWeightRequestMixin):
    """A scorer restricted to some tasks; see :func:`make_task_scorer`."""

    def __init__(self, scorer, tasks, scoring):
        self._scorer = scorer
        self._tasks = tasks
        self._scoring = scoring

    def __repr__(self):
        return f"make_task_scorer({self._scoring!r}, tasks={self._tasks!r})"

    def _accept_sample_weight(self):
        # Asked by scikit-learn's multi-metric scoring, as of MultiTaskScorer.
        return _takes_sample_weight(self._scorer)

    def _positions(self, estimator, y_true, n_tasks):
        tasks_ = getattr(estimator, "tasks_", None)
        names = None if tasks_ is None else to_numpy(tasks_).tolist()
        if names is None or not all(task in names for task in self._tasks):
            columns = getattr(y_true, "columns", None)
            if columns is not None:
                names = list(columns)
        return task_positions(self._tasks, names, n_tasks)

    def __call__(self, estimator, X, y_true, sample_weight=None):
        """Score ``estimator`` on the chosen tasks of ``(X, y_true)``.

        Parameters
        ----------
        estimator : estimator
            A fitted multi-task estimator (one output column per column of
            ``y_true``).
        X : array-like of shape (n_samples, n_features)
            Inputs.
        y_true : array-like of shape (n_samples,) or (n_samples, n_tasks)
            Targets, missing labels as NaN, None or ``pandas.NA``.
        sample_weight : array-like of shape (n_samples,) or (n_samples, n_tasks), \
default=None
            Weights passed to the underlying scorer (the chosen columns of a 2-D
            one).

        Returns
        -------
        score : float or dict
            What the underlying scorer returns for the chosen tasks.
        """
        kwargs = {}
        n_tasks = 1 if len(np.shape(y_true)) == 1 else np.shape(y_true)[1]
        if n_tasks == 1:
            # One task cannot be narrowed down; searches score each task alone
            # this way for their per-task results.
            if sample_weight is not None:
                kwargs["sample_weight"] = sample_weight
            return self._scorer(estimator, X, y_true, **kwargs)
        positions = self._positions(estimator, y_true, n_tasks)
        if sample_weight is not None:
            kwargs["sample_weight"] = (_take_columns(sample_weight, positions)
                                       if len(np.shape(sample_weight)) == 2
                                       else sample_weight)
        return self._scorer(_TaskSubset(estimator, positions), X,
                            _take_columns(y_true, positions), **kwargs)


def make_task_scorer(scoring, tasks):
    """A scorer of some tasks only, e.g. the primary task(s) of a model.

    The scorer passes the columns ``tasks`` of ``Y`` (and of a 2-D
    ``sample_weight``) to ``scoring``, together with the estimator seen through
    those tasks: its ``predict``, ``predict_proba``, ``predict_log_proba`` and
    ``decision_function`` return those columns only, its ``classes_`` those
    tasks' classes. Given as ``scoring=`` to
    :class:`~rkhsmtl.model_selection.MultiTaskGridSearchCV`,
    :class:`sklearn.model_selection.GridSearchCV`,
    :class:`~rkhsmtl.MultiTaskKernelRidgeCV` or
    :class:`~rkhsmtl.MultiTaskKernelClassifierCV`, it tunes a model fitted on
    every task for the chosen ones.

    Parameters
    ----------
    scoring : str or callable
        The scorer of the chosen tasks: a name of :func:`get_scorer_names` or a
        callable ``scorer(estimator, X, Y)`` (e.g. from
        :func:`make_multitask_scorer`). Several tasks are aggregated as it
        aggregates tasks (the mean over tasks for the ``"macro"`` names and
        scikit-learn's names).
    tasks : str, int or list of str or int
        The tasks to score: task names (the fitted estimator's ``tasks_``, the
        column names of a DataFrame ``Y``) or, when they are not all names,
        integer positions of the columns of ``Y``.

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, Y, sample_weight=None)``, greater is better. A
        ``Y`` of one column (or 1-D) is scored as it is: the searches score each
        task alone that way for their per-task results
        (``mean_test_score_task_<k>``), which stay the plain scores of each task.

    See Also
    --------
    rkhsmtl.auxiliary.select_auxiliary_tasks : Which auxiliary tasks help the
        primary ones.

    Examples
    --------
    >>> import numpy as np
    >>> from rkhsmtl import MultiTaskKernelRidge
    >>> from rkhsmtl.metrics import make_task_scorer
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(30, 2))
    >>> Y = np.column_stack([np.sin(X[:, 0]), np.cos(X[:, 1])])
    >>> model = MultiTaskKernelRidge(alpha=0.1).fit(X, Y)
    >>> scorer = make_task_scorer("r2", tasks=[0])  # task 0 only
    >>> bool(scorer(model, X, Y) > 0.9)
    True
    """
    if isinstance(scoring, (list, tuple, dict)):
        raise ValueError(
            "scoring must be one scorer name or callable, got "
            f"{type(scoring).__name__} {scoring!r}; make one task scorer per "
            "metric.")
    tasks = _check_tasks(tasks)
    return TaskScorer(get_scorer(scoring), tasks, scoring)
