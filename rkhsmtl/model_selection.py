"""Task-aware model selection for the wide layout (Y with missing labels).

With few labels per task, plain ``KFold`` easily leaves a training fold in which a
task has no label (no model can be fitted for it), or only one class (the
classifier then skips the task, or refuses it with ``single_class_tasks="raise"``). The
splitter here spreads the observed labels of every task -- and, for classification,
of every class of every task -- evenly over the folds, by the iterative
stratification of Sechidis, Tsoumakas and Vlahavas (ECML PKDD 2011) applied to the
"label groups" ``(task)`` or ``(task, class)``. The search classes are
scikit-learn's, with NaN-aware scoring names and this splitter for an integer
``cv``.
"""

from __future__ import annotations

import numbers
from contextlib import contextmanager

import numpy as np
from sklearn.model_selection import BaseCrossValidator, GridSearchCV, RandomizedSearchCV
from sklearn.utils import check_random_state

from ._base import VersionedStateMixin
from ._labels import _as_label_array, missing_mask
from .metrics._scorers import MultiTaskScorer, _FlatScorer, _scorer_keys, get_scorer

__all__ = ["MultiTaskGridSearchCV", "MultiTaskRandomizedSearchCV",
           "MultiTaskStratifiedKFold"]


def _label_groups(Y, stratify):
    """Boolean (n, n_groups) membership of every row in every label group."""
    missing = missing_mask(Y)
    columns = []
    for t in range(Y.shape[1]):
        observed = ~missing[:, t]
        values = Y[observed, t]
        by_class = stratify == "classes" or (
            stratify == "auto"
            and (Y.dtype.kind in "bOUS" or len(np.unique(values)) <= 2))
        if not by_class:
            columns.append(observed)
            continue
        for label in np.unique(values):
            member = np.zeros(Y.shape[0], dtype=bool)
            member[np.flatnonzero(observed)[values == label]] = True
            columns.append(member)
    return np.column_stack(columns) if columns else np.zeros((Y.shape[0], 0), bool)


class MultiTaskStratifiedKFold(BaseCrossValidator):
    """K-fold splitter that spreads every task's (and class's) labels over the folds.

    Rows are assigned to folds by iterative stratification (Sechidis et al. 2011)
    on label groups: one group per task (its observed labels) for regression, one
    per (task, class) for classification. The rarest group is placed first, each
    row going to the fold that still lacks most of that group. Every group then has
    fold counts that differ by at most one whenever the groups do not compete, so a
    class with at least two labels appears in every training set and a task with
    at least ``n_splits`` labels is observed in every test fold.

    Parameters
    ----------
    n_splits : int, default=5
        Number of folds (at least 2).
    shuffle : bool, default=False
        Break ties between rows and folds at random (otherwise by row order).
    random_state : int, RandomState instance or None, default=None
        Seed used when ``shuffle=True``.
    stratify : {"auto", "classes", "tasks"}, default="auto"
        "classes": one group per (task, class); "tasks": one group per task;
        "auto": per class for columns that look categorical (bool, object or
        string dtype, or at most two distinct observed values), per task otherwise.

    Examples
    --------
    >>> import numpy as np
    >>> from rkhsmtl.model_selection import MultiTaskStratifiedKFold
    >>> Y = np.array([[0, np.nan], [1, np.nan], [0, 1], [1, 0], [np.nan, 1],
    ...               [np.nan, 0]])
    >>> cv = MultiTaskStratifiedKFold(n_splits=2)
    >>> [test.tolist() for _, test in cv.split(np.zeros((6, 1)), Y)]
    [[0, 3, 4], [1, 2, 5]]
    """

    def __init__(self, n_splits=5, *, shuffle=False, random_state=None, stratify="auto"):
        self.n_splits = n_splits
        self.shuffle = shuffle
        self.random_state = random_state
        self.stratify = stratify

    def get_n_splits(self, X=None, y=None, groups=None):
        """Number of splits (``n_splits``).

        Parameters
        ----------
        X : object, default=None
            Ignored, present for API compatibility.
        y : object, default=None
            Ignored, present for API compatibility.
        groups : object, default=None
            Ignored, present for API compatibility.

        Returns
        -------
        n_splits : int
        """
        return self.n_splits

    def split(self, X, y, groups=None):
        """Generate train and test indices.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs (only their number matters).
        y : array-like of shape (n_samples,) or (n_samples, n_tasks)
            Targets or labels, missing entries as NaN, None or ``pandas.NA``.
        groups : None
            Ignored.

        Yields
        ------
        train : ndarray
            Training row indices.
        test : ndarray
            Test row indices.
        """
        yield from super().split(X, y, groups)

    def _iter_test_masks(self, X=None, y=None, groups=None):
        folds = self._assign_folds(X, y)
        for k in range(self.n_splits):
            yield folds == k

    def _assign_folds(self, X, y):
        if (isinstance(self.n_splits, bool) or not isinstance(self.n_splits, numbers.Integral)
                or self.n_splits < 2):
            raise ValueError(f"n_splits must be an integer >= 2, got {self.n_splits!r}.")
        if self.stratify not in ("auto", "classes", "tasks"):
            raise ValueError(
                f"stratify must be 'auto', 'classes' or 'tasks', got {self.stratify!r}."
            )
        if y is None:
            raise ValueError("MultiTaskStratifiedKFold needs y to stratify on.")
        Y = _as_label_array(y)
        if Y.ndim == 1:
            Y = Y.reshape(-1, 1)
        n = Y.shape[0]
        if self.n_splits > n:
            raise ValueError(
                f"Cannot have n_splits={self.n_splits} greater than the number of "
                f"samples: n_samples={n}."
            )
        rng = check_random_state(self.random_state if self.shuffle else 0)
        member = _label_groups(Y, self.stratify)
        if self.shuffle:
            order = rng.permutation(n)
        else:
            order = np.arange(n)
        fold = np.full(n, -1)
        want_rows = np.full(self.n_splits, n / self.n_splits)
        want_group = np.outer(member.sum(axis=0), np.ones(self.n_splits)) / self.n_splits
        left = member.copy()
        while left.any():
            counts = left.sum(axis=0)
            group = int(np.argmin(np.where(counts > 0, counts, np.iinfo(np.int64).max)))
            for row in order[left[order, group]]:
                need = want_group[group]
                candidates = np.flatnonzero(need == need.max())
                if candidates.size > 1:
                    rows_need = want_rows[candidates]
                    candidates = candidates[rows_need == rows_need.max()]
                k = int(candidates[rng.randint(candidates.size)] if self.shuffle
                        else candidates[0])
                fold[row] = k
                want_rows[k] -= 1
                want_group[member[row], k] -= 1
                left[row, :] = False
        # Rows without any label carry nothing to fit or score: fill the folds.
        for row in order[fold[order] < 0]:
            k = int(np.argmax(want_rows))
            fold[row] = k
            want_rows[k] -= 1
        return fold


# ------------------------------------------------------------------ searches


def _n_tasks(y):
    if y is None:
        return None
    return 1 if np.ndim(y) == 1 else int(np.shape(y)[1])


def _search_cv(cv):
    if cv is None:
        return MultiTaskStratifiedKFold(5)
    if isinstance(cv, numbers.Integral) and not isinstance(cv, bool):
        return MultiTaskStratifiedKFold(int(cv))
    return cv


def _check_refit(refit, keys):
    """Refuse a ``refit`` that cannot name one of the known score ``keys``."""
    if refit is False or callable(refit) or (isinstance(refit, str) and refit in keys):
        return
    raise ValueError(
        f"refit={refit!r} does not name one of the scores {keys}; pass one of them "
        "(the score that picks best_params_ and refits), a callable, or False."
    )


def _search_scoring(scoring, *, refit, n_tasks, error_score):
    """``scoring`` as scikit-learn's search takes it, with the NaN-aware scorers."""
    if scoring is None:
        return None
    scorers = get_scorer(scoring)
    if not isinstance(scorers, dict):
        keys = scorers._keys(n_tasks) if (isinstance(scorers, MultiTaskScorer)
                                          and n_tasks is not None) else None
        if keys is not None:
            _check_refit(refit, keys)
        return scorers
    if not any(isinstance(s, MultiTaskScorer) and s._returns_dict
               for s in scorers.values()):
        return scorers  # scikit-learn checks refit against the keys itself
    known = [_scorer_keys(name, s, n_tasks) for name, s in scorers.items()]
    if all(k is not None for k in known):
        keys = [key for ks in known for key in ks]
        repeated = sorted({key for key in keys if keys.count(key) > 1})
        if repeated:
            raise ValueError(
                f"The per-task scores of the scoring dict give the keys {repeated} "
                "more than once; rename its entries.")
        _check_refit(refit, keys)
    return _FlatScorer(scorers, raise_exc=error_score == "raise",
                       error_score=error_score, n_tasks=n_tasks)


class _MultiTaskSearchMixin(VersionedStateMixin):
    @contextmanager
    def _resolved(self, y=None):
        # scikit-learn's fit and get_metadata_routing read self.scoring and
        # self.cv and offer no public hook to change how they are interpreted,
        # so the resolved values stand in for them during the call only:
        # get_params() and clone() never see them.
        given = self.scoring, self.cv
        scoring = _search_scoring(self.scoring, refit=self.refit, n_tasks=_n_tasks(y),
                                  error_score=self.error_score)
        self.scoring, self.cv = scoring, _search_cv(self.cv)
        try:
            yield
        finally:
            self.scoring, self.cv = given

    def fit(self, X, y=None, **params):
        """Run fit with all sets of parameters, scoring NaN-aware.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training inputs.
        y : array-like of shape (n_samples,) or (n_samples, n_tasks)
            Targets, missing labels as NaN (or None, ``pandas.NA`` for labels).
        **params : dict
            Parameters passed to the estimator's ``fit``, the scorer and the
            splitter, as in scikit-learn's search.

        Returns
        -------
        self : object
            The fitted search.
        """
        with self._resolved(y):
            return super().fit(X, y, **params)

    def get_metadata_routing(self):
        """Metadata routing of the search, with the resolved scorer and splitter.

        Returns
        -------
        routing : sklearn.utils.metadata_routing.MetadataRouter
        """
        with self._resolved():
            return super().get_metadata_routing()


_SEARCH_DOC = """\
    {summary}

    scikit-learn's :class:`~sklearn.model_selection.{base}` with two changes for
    targets with missing labels, both made at ``fit`` (``get_params()`` returns
    the parameters as given):

    * ``scoring`` names -- a string, a list or tuple of them, or the values of a
      dict -- are looked up with :func:`rkhsmtl.metrics.get_scorer`: scikit-learn's
      names of the metrics it has (``"r2"``, ``"neg_mean_squared_error"``,
      ``"roc_auc"``, ``"accuracy"``, ...) and this package's
      (``"neg_macro_nmse"``, ...) give NaN-aware scorers with scikit-learn's sign;
      other names raise a ``ValueError`` before anything is fitted. In a dict, a
      per-task scorer (``make_multitask_scorer(..., per_task=True)`` or
      ``average=None``) under ``name`` gives the scores ``name`` (its aggregate)
      and ``name_task_0``, ``name_task_1``, ..., each usable as ``refit``.
    * An integer ``cv`` (and ``None``, 5 folds) means
      ``MultiTaskStratifiedKFold(n_splits=cv)``: every task, and every class of a
      classification task, is spread over the folds, also when rows are sorted
      by task. A splitter or an iterable of splits is used as given.

    Read more in :ref:`metrics`.

    Parameters
    ----------
    estimator : estimator object
        The estimator to tune (any scikit-learn estimator, a ``Pipeline``).
{grid}    scoring : str, callable, list, tuple, dict or None, default=None
        See above. None uses the estimator's ``score`` (NaN-aware for the
        estimators of this package). A callable (a scorer object) is used as
        given.
    n_jobs : int or None, default=None
        Number of jobs run in parallel.
    refit : bool, str or callable, default=True
        Refit the best candidate on all the data; with several scores, the key of
        the one that picks it.
    cv : int, cross-validation generator, iterable or None, default=None
        See above.
    verbose : int, default=0
        Verbosity.
    pre_dispatch : int or str, default="2*n_jobs"
        Number of jobs dispatched during parallel execution.
{random_state}    error_score : "raise" or float, default=np.nan
        Score of a failed fit or scoring; "raise" raises the error.
    return_train_score : bool, default=False
        Also score the training folds.

    Attributes
    ----------
    cv_results_ : dict of ndarray
        As in scikit-learn (``mean_test_<key>``, ``rank_test_<key>``, ...).
    best_estimator_ : estimator
        The refitted best candidate.
    best_score_ : float
        Mean cross-validated score of the best candidate.
    best_params_ : dict
        Parameters of the best candidate.
    scorer_ : callable or dict
        The scorer(s) used, after the name look-up.
    n_splits_ : int
        Number of folds.

    See Also
    --------
    rkhsmtl.metrics.get_scorer : The scoring names.
    MultiTaskStratifiedKFold : The splitter for an integer ``cv``.

    Examples
    --------
    >>> import numpy as np
    >>> from rkhsmtl import MultiTaskKernelRidge
    >>> from rkhsmtl.model_selection import {name}
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(30, 2))
    >>> Y = X @ rng.normal(size=(2, 3))
    >>> Y[rng.random(Y.shape) < 0.3] = np.nan
    >>> search = {name}(MultiTaskKernelRidge(), {example},
    ...                 scoring="r2", cv=3).fit(X, Y)
    >>> bool(np.isfinite(search.best_score_))
    True
"""


class MultiTaskGridSearchCV(_MultiTaskSearchMixin, GridSearchCV):
    __doc__ = _SEARCH_DOC.format(
        summary="Exhaustive search over a parameter grid, with NaN-aware scoring.",
        base="GridSearchCV", name="MultiTaskGridSearchCV",
        example='{"alpha": [0.1, 1.0]}',
        grid="""\
    param_grid : dict or list of dict
        Parameter names mapped to the lists of values to try.
""",
        random_state="")


class MultiTaskRandomizedSearchCV(_MultiTaskSearchMixin, RandomizedSearchCV):
    __doc__ = _SEARCH_DOC.format(
        summary="Randomized search over parameters, with NaN-aware scoring.",
        base="RandomizedSearchCV", name="MultiTaskRandomizedSearchCV",
        example='{"alpha": [0.1, 1.0]}, n_iter=2, random_state=0',
        grid="""\
    param_distributions : dict or list of dict
        Parameter names mapped to distributions (with an ``rvs`` method) or lists
        of values to sample.
    n_iter : int, default=10
        Number of parameter settings sampled.
""",
        random_state="""\
    random_state : int, RandomState instance or None, default=None
        Seed of the sampling of the parameters.
""")
