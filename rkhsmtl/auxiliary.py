"""Primary and auxiliary tasks: which candidate tasks help the task(s) that matter.

Often one task matters -- an engine's failure, a patient's outcome -- and other
tasks are measured only because they may help it learn (Caruana 1997).
:func:`select_auxiliary_tasks` adds auxiliary tasks one at a time, each time the
one that most improves the held-out score of the primary task(s), and reports the
whole path; :class:`AuxiliarySelection` holds it. See
:doc:`/user_guide/auxiliary_tasks`.
"""

from __future__ import annotations

import math
import numbers
import warnings

import numpy as np
from sklearn.base import clone, is_classifier
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.model_selection import check_cv
from sklearn.utils.metaestimators import _safe_split
from sklearn.utils.parallel import Parallel, delayed

from ._backend import to_numpy
from .logistic_cv import MultiTaskKernelClassifierCV
from .metrics import get_scorer, make_task_scorer
from .metrics._tasks import _take_columns, task_positions
from .model_selection import MultiTaskStratifiedKFold
from .ridge import MultiTaskKernelRidge
from .ridge_cv import MultiTaskKernelRidgeCV

__all__ = ["AuxiliarySelection", "select_auxiliary_tasks"]

# The estimators whose own search scores every task alone (``cv_results_``'s
# ``mean_test_score_task_<k>``), read directly with ``cv=None``.
_SEARCHES = (MultiTaskKernelRidgeCV, MultiTaskKernelClassifierCV)
_DEFAULT_FOLDS = 5


class AuxiliarySelection:
    """The path of a greedy forward selection of auxiliary tasks.

    Returned by :func:`select_auxiliary_tasks`; task names are those of the
    columns of ``Y`` (the column names of a DataFrame, else integer positions).

    Parameters
    ----------
    primary : list
        The primary task(s).
    candidates : list
        The candidate auxiliary tasks.
    ranking : list
        The auxiliary tasks in the order they were added.
    scores : array-like of shape (len(ranking) + 1,)
        The score of the primary task(s) alone, then after each step.
    history : dict of ndarray
        Every subset tried (see the attribute).
    criterion : str
        How the scores were computed.
    scoring : str or callable
        The scorer of each primary task.

    Attributes
    ----------
    primary : list
        The primary task(s), whose score is maximised.
    candidates : list
        The candidate auxiliary tasks.
    ranking : list
        The auxiliary tasks in the order they were added: ``ranking[k]`` was the
        best addition at step ``k + 1``. All the candidates (or ``max_tasks`` of
        them) unless ``tol`` stopped the path earlier.
    scores : ndarray of shape (len(ranking) + 1,)
        The score of the primary task(s) with the primary task(s) alone
        (``scores[0]``) and after each step.
    gains : ndarray of shape (len(ranking),)
        ``scores[k + 1] - scores[k]``: what step ``k + 1`` added.
    selected : list
        The prefix of ``ranking`` with the best score (the shortest one among
        ties): the auxiliary tasks to use.
    best_score : float
        The score of ``primary + selected``.
    history : dict of ndarray
        Every subset tried, one row each: ``"step"`` (0 for the primary alone),
        ``"task"`` (the candidate tried; None at step 0), ``"score"`` (the score
        of the primary task(s) with the tasks added before that step and this
        candidate), ``"gain"`` (over the previous step's score) and ``"added"``
        (whether the candidate was added at that step).
    criterion : str
        How the scores were computed: ``"leave-one-out"`` (exact, of the
        kernel ridge), ``"search"`` (the estimator's own search, best
        candidate for the primary task(s)) or ``"<k>-fold"``.
    scoring : str or callable
        The scorer of each primary task.
    """

    def __init__(self, *, primary, candidates, ranking, scores, history, criterion,
                 scoring):
        self.primary = primary
        self.candidates = candidates
        self.ranking = ranking
        self.scores = np.asarray(scores, dtype=float)
        self.gains = np.diff(self.scores)
        self.history = history
        self.criterion = criterion
        self.scoring = scoring
        # NaN (a subset that could not be scored) never wins.
        best = int(np.argmax(np.where(np.isnan(self.scores), -np.inf, self.scores)))
        self.selected = list(ranking[:best])
        self.best_score = float(self.scores[best])

    def __repr__(self):
        return (f"AuxiliarySelection(primary={self.primary!r}, "
                f"selected={self.selected!r}, best_score={self.best_score:.4g}, "
                f"criterion={self.criterion!r})")

    def to_frame(self):
        """The table of every subset tried, as a pandas DataFrame.

        Returns
        -------
        table : pandas.DataFrame
            The columns of :attr:`history`, one row per subset tried.
        """
        import pandas as pd

        return pd.DataFrame(self.history)

    def plot(self, ax=None):
        """Draw the gain of each step, and the score after it.

        Parameters
        ----------
        ax : matplotlib.axes.Axes, default=None
            Where to draw (None: a new figure).

        Returns
        -------
        ax : matplotlib.axes.Axes
            The axes of the gains (bars, one per added task, the selected ones
            filled); the scores are drawn on a twin axis on the right.
        """
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(layout="constrained")
        steps = np.arange(1, len(self.ranking) + 1)
        chosen = steps <= len(self.selected)
        ax.bar(steps[chosen], self.gains[chosen], color="C0", label="selected")
        ax.bar(steps[~chosen], self.gains[~chosen], color="white", edgecolor="C0",
               label="not selected")
        ax.axhline(0.0, color="grey", lw=0.8)
        ax.set_xticks(np.arange(len(self.scores)),
                      ["primary alone"] + [f"+{task}" for task in self.ranking],
                      rotation=30, ha="right")
        ax.set_xlabel("auxiliary task added (greedy order)")
        ax.set_ylabel("gain in the primary score")
        twin = ax.twinx()
        twin.plot(np.arange(len(self.scores)), self.scores, "o-", color="C1",
                  label="score")
        twin.set_ylabel("primary score", color="C1")
        ax.set_xlim(-0.5, len(self.ranking) + 0.5)
        ax.legend(loc="upper right")
        return ax


def _n_columns(Y):
    shape = np.shape(Y) if not hasattr(Y, "shape") else tuple(Y.shape)
    if len(shape) != 2:
        raise ValueError(
            f"Y must be 2-D (n_samples, n_tasks) with the primary and the candidate "
            f"tasks as columns, got shape {shape}.")
    return int(shape[1])


def _as_list(tasks, name):
    if tasks is None:
        return None
    if isinstance(tasks, (str, numbers.Integral)) or np.ndim(tasks) == 0:
        return [tasks]
    return list(tasks)


def _column_names(Y, n_tasks):
    columns = getattr(Y, "columns", None)
    if columns is not None:
        return list(columns)
    return list(range(n_tasks))


def _check_subset(tasks, names, n_tasks, what):
    positions = task_positions(tasks, names, n_tasks, what=what)
    if len(set(positions)) != len(positions):
        raise ValueError(f"{what} names a task more than once: {tasks!r}.")
    return positions


def _default_scoring(estimator):
    # The log-loss, a proper scoring rule, ranks candidates more reliably than the
    # AUC or the accuracy, which move by steps on the few labels of a test fold.
    return "neg_log_loss" if is_classifier(estimator) else "r2"


class _Criterion:
    """Scores the primary task(s) of one subset of columns of ``Y``.

    ``columns`` always starts with the ``n_primary`` primary columns.
    """

    def __init__(self, estimator, X, Y, sample_weight, n_primary, cv, scoring,
                 split_columns):
        self.X, self.Y, self.sample_weight = X, Y, sample_weight
        self.n_primary = n_primary
        if cv is None and isinstance(estimator, MultiTaskKernelRidge):
            self.kind = "leave-one-out"
            self.scoring = _default_scoring(estimator) if scoring is None else scoring
            self.estimator = _loo_twin(estimator, self.scoring)
        elif cv is None and isinstance(estimator, _SEARCHES):
            self.kind = "search"
            self.scoring = next(s for s in (scoring, estimator.scoring,
                                            _default_scoring(estimator))
                                if s is not None)
            self.estimator = clone(estimator).set_params(refit=False,
                                                         scoring=self.scoring)
        else:
            self.estimator = estimator
            self.scoring = _default_scoring(estimator) if scoring is None else scoring
            # Drawn once, on the primary and candidate columns: every subset is
            # scored on the same folds.
            self.splits = _splits(cv, X, _take_columns(Y, split_columns))
            self.kind = f"{len(self.splits)}-fold"

    def weights(self, columns, rows=None):
        w = self.sample_weight
        if w is None or isinstance(w, numbers.Number):
            return w
        w = np.asarray(to_numpy(w), dtype=float)
        if rows is not None:
            w = w[rows]
        return w[:, columns] if w.ndim == 2 else w

    def __call__(self, columns):
        Y = _take_columns(self.Y, columns)
        if self.kind in ("leave-one-out", "search"):
            return self._search_score(Y, columns)
        return self._fold_score(Y, columns)

    def _search_score(self, Y, columns):
        search = clone(self.estimator).fit(self.X, Y,
                                           sample_weight=self.weights(columns))
        results = search.cv_results_
        per_task = np.column_stack([results[f"mean_test_score_task_{k}"]
                                    for k in range(self.n_primary)])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows
            primary = np.nanmean(per_task, axis=1)
        # The search's candidate that is best for the primary task(s).
        return float(np.nanmax(primary)) if np.any(~np.isnan(primary)) else math.nan

    def _fold_score(self, Y, columns):
        scorer = make_task_scorer(self.scoring, list(range(self.n_primary)))
        values = []
        for train, test in self.splits:
            X_train, Y_train = _safe_split(self.estimator, self.X, Y, train)
            X_test, Y_test = _safe_split(self.estimator, self.X, Y, test, train)
            weights = self.weights(columns, train)
            model = clone(self.estimator)
            if weights is None:
                model.fit(X_train, Y_train)
            else:
                model.fit(X_train, Y_train, sample_weight=weights)
            with warnings.catch_warnings():
                # A fold without a label of a primary task scores NaN; the mean
                # over the folds leaves it out.
                warnings.simplefilter("ignore", UndefinedMetricWarning)
                values.append(float(scorer(model, X_test, Y_test)))
        values = np.asarray(values)
        return float(np.mean(values[~np.isnan(values)])) if np.any(~np.isnan(values)) \
            else math.nan


def _loo_twin(estimator, scoring):
    """The one-candidate :class:`MultiTaskKernelRidgeCV` whose exact leave-one-out
    scores ``estimator``: every label of a left-out sample is left out."""
    params = estimator.get_params(deep=False)
    return MultiTaskKernelRidgeCV(
        alphas=[params["alpha"]], kernel=params["kernel"],
        gammas=[params["gamma"]], degree=params["degree"], coef0=params["coef0"],
        kernel_params=params["kernel_params"],
        task_structures=[clone(params["task_structure"], safe=False)],
        loo="sample", scoring=scoring, refit=False, solver=params["solver"],
        solver_options=params["solver_options"], max_iter=params["max_iter"],
        tol=params["tol"], device=params["device"])


def _splits(cv, X, Y):
    if cv is None:
        cv = MultiTaskStratifiedKFold(n_splits=_DEFAULT_FOLDS)
    elif isinstance(cv, numbers.Integral) and not isinstance(cv, bool):
        cv = MultiTaskStratifiedKFold(n_splits=int(cv))
    else:
        cv = check_cv(cv)
    labels = Y.to_numpy() if hasattr(Y, "to_numpy") else np.asarray(to_numpy(Y))
    n_samples = labels.shape[0]
    return [(np.asarray(train), np.asarray(test))
            for train, test in cv.split(np.zeros((n_samples, 1)), labels)]


def select_auxiliary_tasks(estimator, X, Y, primary, candidates=None, *, cv=None,
                           scoring=None, max_tasks=None, tol=None, sample_weight=None,
                           n_jobs=None):
    """Rank candidate auxiliary tasks by how much they help the primary task(s).

    Greedy forward selection: starting from the primary task(s) alone, each step
    fits ``estimator`` on the primary task(s), the auxiliary tasks added so far
    and one more candidate, for every remaining candidate, and adds the candidate
    whose held-out score *of the primary task(s)* is highest. The path runs until
    every candidate is added (a full ranking), ``max_tasks`` are, or the best gain
    of a step is not above ``tol``. The auxiliary tasks to use are the prefix of
    the path with the best score.

    How a subset is scored:

    - ``cv=None`` and a :class:`~rkhsmtl.MultiTaskKernelRidge`: exact
      leave-one-out, as :class:`~rkhsmtl.MultiTaskKernelRidgeCV` computes it
      (at about the cost of one fit per subset), leaving out *every* label of a
      sample at once (``loo="sample"``): the auxiliary labels of a new sample
      are not known when its primary task is predicted, so a left-out sample's
      auxiliary labels must not help predict it.
    - ``cv=None`` and a :class:`~rkhsmtl.MultiTaskKernelRidgeCV` or
      :class:`~rkhsmtl.MultiTaskKernelClassifierCV`: the estimator's own search
      (its ``cv`` and ``loo``), fitted with ``refit=False``; the score of a
      subset is that of the search's candidate (``alpha``, ``gamma``,
      structure) best for the primary task(s), so each subset is tuned for the
      primary task(s).
    - otherwise refits on folds: ``cv`` folds of
      :class:`~rkhsmtl.model_selection.MultiTaskStratifiedKFold` (5 for
      ``cv=None``), or a splitter; the same splits, drawn once on the primary
      and candidate columns, serve every subset. The score is the mean over the
      folds of ``scoring`` of the primary task(s) on the test fold
      (:func:`~rkhsmtl.metrics.make_task_scorer`).

    Several primary tasks are scored by the mean of their scores.

    Parameters
    ----------
    estimator : estimator
        A multi-task estimator (``fit(X, Y, sample_weight=None)`` with ``Y`` of
        shape ``(n_samples, n_tasks)``, NaN for a missing label), cloned for
        every fit. A task structure is used as given for each subset: a named
        or parametrised one (``"mean_regularized"``, a learned structure, ...)
        adapts to the subset's number of tasks; a fixed ``T x T`` matrix does
        not (it would need one matrix per subset).
    X : array-like of shape (n_samples, n_features)
        Inputs.
    Y : array-like of shape (n_samples, n_tasks)
        Targets (or labels) of the primary and the candidate tasks, NaN (or
        None, ``pandas.NA``) for a missing label; a DataFrame names the tasks.
    primary : str, int or list of str or int
        The primary task(s): column names of a DataFrame ``Y`` or, when they are
        not all names, integer positions of the columns.
    candidates : list of str or int, default=None
        The candidate auxiliary tasks, named as ``primary``; None: every other
        column of ``Y``.
    cv : int, cross-validation generator, iterable or None, default=None
        See above: None uses exact leave-one-out or the estimator's own search
        when it has one, else 5 folds.
    scoring : str, callable or None, default=None
        The scorer of a primary task (a name of
        :func:`~rkhsmtl.metrics.get_scorer_names` or a callable
        ``scorer(estimator, X, Y)``), greater is better. None: ``"r2"`` for a
        regressor, ``"neg_log_loss"`` for a classifier (a proper scoring rule:
        on the few labels of a test fold it ranks candidates more reliably than
        the AUC or the accuracy), or the ``scoring`` of a search estimator when
        it has one.
    max_tasks : int, default=None
        The most auxiliary tasks to add (None: all the candidates).
    tol : float, default=None
        None: run the path to its end (a full ranking of the candidates). A
        number: stop when the best gain of a step is not above ``tol`` (that
        candidate is not added).
    sample_weight : float or array-like of shape (n_samples,) or \
            (n_samples, n_tasks), default=None
        Weights of the fits (the columns of each subset of a 2-D one); the
        held-out scores are unweighted.
    n_jobs : int, default=None
        Number of candidates scored in parallel at each step
        (:class:`joblib.Parallel`; None means 1 unless in a
        :func:`joblib.parallel_backend` context).

    Returns
    -------
    selection : AuxiliarySelection
        The ranking, the score after each step, the gain of each step, the
        selected tasks and the table of every subset tried.

    Notes
    -----
    A full path costs ``c (c + 1) / 2`` subset scores for ``c`` candidates (each
    one leave-one-out fit, one search, or one fit per fold); ``max_tasks`` and
    ``tol`` shorten it. The scores along the path are the maxima of noisy
    estimates, so the gains of the first steps are optimistic: check the
    selected tasks on data the selection has not seen.

    References
    ----------
    R. Caruana. Multitask learning. Machine Learning 28(1):41-75, 1997.

    Examples
    --------
    >>> from rkhsmtl import MultiTaskKernelRidge
    >>> from rkhsmtl.auxiliary import select_auxiliary_tasks
    >>> from rkhsmtl.datasets import make_auxiliary_tasks
    >>> X, Y, tasks = make_auxiliary_tasks(
    ...     n_samples=80, n_helpful=1, n_unrelated=1, primary="regression",
    ...     random_state=0)
    >>> tasks.tolist()
    ['primary', 'unrelated_0', 'helpful_0']
    >>> model = MultiTaskKernelRidge(alpha=0.1, task_structure="mean_regularized")
    >>> selection = select_auxiliary_tasks(model, X, Y, primary=0)
    >>> selection.ranking
    [2, 1]
    """
    n_tasks = _n_columns(Y)
    names = _column_names(Y, n_tasks)
    primary = _as_list(primary, "primary")
    if not primary:
        raise ValueError("primary is empty: give the primary task (its name or "
                         "position).")
    primary_pos = _check_subset(primary, names, n_tasks, "primary")
    if candidates is None:
        candidate_pos = [t for t in range(n_tasks) if t not in primary_pos]
    else:
        candidates = _as_list(candidates, "candidates")
        if not candidates:
            raise ValueError(
                "candidates is empty: give at least one candidate auxiliary task, or "
                "None for every task that is not primary.")
        candidate_pos = _check_subset(candidates, names, n_tasks, "candidates")
    both = [names[t] for t in candidate_pos if t in primary_pos]
    if both:
        raise ValueError(
            f"Task(s) {both} are both primary and candidates; a primary task is "
            "always fitted, so leave it out of candidates.")
    if not candidate_pos:
        raise ValueError(
            "There is no candidate auxiliary task: Y has no column other than the "
            "primary task(s). Add the candidate tasks as columns of Y.")
    if max_tasks is None:
        max_tasks = len(candidate_pos)
    elif (isinstance(max_tasks, bool) or not isinstance(max_tasks, numbers.Integral)
          or max_tasks < 1):
        raise ValueError(f"max_tasks must be a positive integer or None, got "
                         f"{max_tasks!r}.")
    if tol is not None and (isinstance(tol, bool) or not isinstance(tol, numbers.Real)
                            or math.isnan(tol)):
        raise ValueError(f"tol must be a number or None, got {tol!r}.")
    if scoring is not None:
        get_scorer(scoring)  # an unknown name fails before any fit

    criterion = _Criterion(estimator, X, Y, sample_weight, len(primary_pos), cv,
                           scoring, primary_pos + candidate_pos)

    base = criterion(primary_pos)
    if math.isnan(base):
        raise ValueError(
            f"The primary task(s) {primary} could not be scored alone (the score is "
            "NaN): check that they have enough labels (of both classes for a "
            "classifier) in every test fold, or choose another scoring.")
    history = {"step": [0], "task": [None], "score": [base], "gain": [math.nan],
               "added": [False]}
    chosen, scores, remaining = [], [base], list(candidate_pos)
    parallel = Parallel(n_jobs=n_jobs)
    for step in range(1, min(max_tasks, len(candidate_pos)) + 1):
        tried = parallel(delayed(criterion)(primary_pos + chosen + [c])
                         for c in remaining)
        tried = np.asarray(tried, dtype=float)
        order = np.where(np.isnan(tried), -np.inf, tried)
        best = int(np.argmax(order))  # the first of ties, in candidate order
        gain = tried[best] - scores[-1]
        stop = np.isneginf(order[best]) or (tol is not None and not gain > tol)
        for k, c in enumerate(remaining):
            history["step"].append(step)
            history["task"].append(names[c])
            history["score"].append(float(tried[k]))
            history["gain"].append(float(tried[k] - scores[-1]))
            history["added"].append(bool(k == best and not stop))
        if stop:
            break
        chosen.append(remaining.pop(best))
        scores.append(float(tried[best]))
    history = {key: (np.asarray(values, dtype=object) if key == "task"
                     else np.asarray(values))
               for key, values in history.items()}
    return AuxiliarySelection(
        primary=[names[t] for t in primary_pos],
        candidates=[names[t] for t in candidate_pos],
        ranking=[names[t] for t in chosen], scores=scores, history=history,
        criterion=criterion.kind, scoring=criterion.scoring)
