"""Task-aware cross-validation splitters for the wide layout (Y with missing labels).

With few labels per task, plain ``KFold`` easily leaves a training fold in which a
task has no label, or only one class (the classifier then cannot be fitted). The
splitter here spreads the observed labels of every task -- and, for classification,
of every class of every task -- evenly over the folds, by the iterative
stratification of Sechidis, Tsoumakas and Vlahavas (ECML PKDD 2011) applied to the
"label groups" ``(task)`` or ``(task, class)``.
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.model_selection import BaseCrossValidator
from sklearn.utils import check_random_state

from ._labels import _as_label_array, missing_mask

__all__ = ["MultiTaskStratifiedKFold"]


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
