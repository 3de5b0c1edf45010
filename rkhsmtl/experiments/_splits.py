"""The splits of an experiment, as train and test masks of the entries of ``Y``.

Every split turns the observed entries of ``Y`` (n, T) into two boolean masks of
the same shape: the training entries (the labels the model sees) and the test
entries (the labels it is scored on). Splits are computed where the units run --
the data of a lazy data set exist only there -- from a small description that
the calling process can hash: a fraction and seeds, a scikit-learn splitter, or
the user's own masks.
"""

from __future__ import annotations

import numbers

import joblib
import numpy as np

from ..datasets import train_test_split_per_task

__all__ = ["PerTaskSplits", "as_splits"]

# The folds of the last splitter and data set of this process.
_FOLDS = {}


class PerTaskSplits:
    """Random train/test splits of every task's observed labels, one per seed.

    For every seed, the observed entries of each task are split at random: a
    fraction ``train_size`` of them (rounded) for training, the rest for testing
    (:func:`rkhsmtl.datasets.train_test_split_per_task` on the observed entries
    taken row by row, each with the task of its column). For data in the long
    layout (one label per row) and ``train_size=0.75``, seeds ``0, ..., 9``, this
    is the School protocol of the literature. A row with labels of several tasks
    may give some of them to training and others to testing: the model then sees
    the row's inputs but not its test labels.

    Parameters
    ----------
    train_size : float, default=0.75
        Fraction of every task's observed labels used for training, in (0, 1).
    seeds : int or sequence of int, default=10
        The seeds of :func:`numpy.random.default_rng`, one split each; an int
        ``k`` means seeds ``0, ..., k - 1``.

    Examples
    --------
    >>> from rkhsmtl.experiments import PerTaskSplits
    >>> PerTaskSplits(train_size=0.75, seeds=3).labels()
    [0, 1, 2]
    """

    def __init__(self, train_size=0.75, *, seeds=10):
        if (isinstance(train_size, bool) or not isinstance(train_size, numbers.Real)
                or not 0.0 < float(train_size) < 1.0):
            raise ValueError(f"train_size must be a float in (0, 1), got {train_size!r}.")
        if isinstance(seeds, numbers.Integral) and not isinstance(seeds, bool):
            if seeds < 1:
                raise ValueError(f"seeds must be at least 1, got {seeds}.")
            seeds = range(int(seeds))
        seeds = list(seeds)
        if not seeds or not all(isinstance(s, numbers.Integral)
                                and not isinstance(s, bool) for s in seeds):
            raise ValueError(f"seeds must be a positive int or a non-empty list of ints, "
                             f"got {seeds!r}.")
        if len(set(seeds)) != len(seeds):
            raise ValueError(f"seeds must be distinct, got {seeds!r}.")
        self.train_size = float(train_size)
        self.seeds = [int(s) for s in seeds]

    def __repr__(self):
        return f"PerTaskSplits(train_size={self.train_size!r}, seeds={self.seeds!r})"

    def labels(self):
        """The label of every split (its seed).

        Returns
        -------
        labels : list of int
        """
        return list(self.seeds)

    def key(self):
        """What identifies these splits in the cache.

        Returns
        -------
        key : tuple
        """
        return ("per_task", self.train_size)

    def split_key(self, index):
        """What identifies split ``index`` in the cache (its seed, not its position).

        Parameters
        ----------
        index : int
            Position of the split.

        Returns
        -------
        key : tuple
        """
        return self.key() + (self.seeds[index],)

    def masks(self, X, Y, observed, index, data_key=None):
        """Train and test masks of split ``index``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs (unused).
        Y : ndarray of shape (n_samples, n_tasks)
            Labels (unused).
        observed : ndarray of bool, shape (n_samples, n_tasks)
            The observed entries of ``Y``.
        index : int
            Position of the split.
        data_key : str, default=None
            Fingerprint of the data (unused: these splits are cheap).

        Returns
        -------
        train, test : ndarray of bool, shape (n_samples, n_tasks)
        """
        rows, cols = np.nonzero(observed)
        train_i, test_i = train_test_split_per_task(
            cols, train_size=self.train_size, random_state=self.seeds[index])
        train = np.zeros(observed.shape, dtype=bool)
        test = np.zeros(observed.shape, dtype=bool)
        train[rows[train_i], cols[train_i]] = True
        test[rows[test_i], cols[test_i]] = True
        return train, test


class _SplitterSplits:
    """The folds of a scikit-learn splitter (``split(X, Y)``) over the rows."""

    def __init__(self, cv):
        try:
            n = cv.get_n_splits()
        except TypeError as exc:
            raise ValueError(
                f"{cv!r} needs data to count its splits (groups?); give a splitter "
                "whose get_n_splits() takes no argument, such as "
                "MultiTaskStratifiedKFold, or the masks themselves.") from exc
        seed = getattr(cv, "random_state", None)
        # KFold-like splitters draw only with shuffle=True; ShuffleSplit-like ones
        # (a random_state, no shuffle flag) always draw.
        draws = getattr(cv, "shuffle", hasattr(cv, "random_state"))
        if draws and not isinstance(seed, numbers.Integral):
            # The folds are drawn again in every worker and in every resumed run:
            # without a fixed seed they would differ between units of one
            # experiment while the cache key stays the same.
            raise ValueError(
                f"{cv!r} draws its folds at random without an integer random_state: "
                "each worker (and "
                "each resumed run) would draw different folds. Give it "
                "random_state=<int>, or shuffle=False.")
        self.cv = cv
        self.n_splits = int(n)
        self._key = ("splitter", joblib.hash(cv))

    def __repr__(self):
        return repr(self.cv)

    def labels(self):
        return list(range(self.n_splits))

    def key(self):
        return self._key

    def split_key(self, index):
        return self._key + (index,)

    def masks(self, X, Y, observed, index, data_key=None):
        # Every fold of the splitter comes from one pass over the data: computed
        # once per process and data set, not once per unit.
        memo_key = None if data_key is None else (data_key, self._key)
        folds = _FOLDS.get(memo_key) if memo_key is not None else None
        if folds is None:
            folds = list(self.cv.split(X, Y))
            if memo_key is not None:  # a race between threads only recomputes
                _FOLDS.clear()
                _FOLDS[memo_key] = folds
        if len(folds) != self.n_splits:
            raise ValueError(f"{self.cv!r} gave {len(folds)} splits, not the "
                             f"{self.n_splits} of its get_n_splits().")
        train_rows, test_rows = folds[index]
        train = np.zeros(observed.shape, dtype=bool)
        test = np.zeros(observed.shape, dtype=bool)
        train[train_rows] = observed[train_rows]
        test[test_rows] = observed[test_rows]
        return train, test


def _mask_of(part, observed, name):
    """A (n, T) entry mask from row indices, a row mask or an entry mask."""
    part = np.asarray(part)
    n, T = observed.shape
    if part.dtype == bool and part.shape == (n, T):
        return part & observed
    if part.dtype == bool and part.shape == (n,):
        return part[:, None] & observed
    if part.ndim == 1 and part.dtype.kind in "iu":
        if part.size and (part.min() < -n or part.max() >= n):
            raise ValueError(f"{name} has row indices outside range({n}).")
        rows = np.zeros(n, dtype=bool)
        rows[part] = True
        return rows[:, None] & observed
    raise ValueError(
        f"{name} must be row indices, a boolean row mask of shape ({n},) or a "
        f"boolean entry mask of shape ({n}, {T}); got an array of dtype {part.dtype} "
        f"and shape {part.shape}.")


class _GivenSplits:
    """The user's own (train, test) pairs."""

    def __init__(self, pairs):
        pairs = list(pairs)
        for k, pair in enumerate(pairs):
            if not isinstance(pair, (tuple, list)) or len(pair) != 2:
                raise ValueError(f"splits[{k}] must be a pair (train, test), got "
                                 f"{type(pair).__name__}.")
        if not pairs:
            raise ValueError("splits is an empty list; give at least one (train, test) "
                             "pair.")
        self.pairs = [(np.asarray(a), np.asarray(b)) for a, b in pairs]
        self._key = ("given", joblib.hash(self.pairs))

    def __repr__(self):
        return f"<{len(self.pairs)} given train/test splits>"

    def labels(self):
        return list(range(len(self.pairs)))

    def key(self):
        return self._key

    def split_key(self, index):
        return ("given", joblib.hash(self.pairs[index]))

    def masks(self, X, Y, observed, index, data_key=None):
        train, test = self.pairs[index]
        train = _mask_of(train, observed, f"the training part of split {index}")
        test = _mask_of(test, observed, f"the test part of split {index}")
        return train, test


def as_splits(splits):
    """The split description behind ``splits=`` of :func:`run_experiment`."""
    if splits is None:
        return PerTaskSplits()
    if isinstance(splits, (PerTaskSplits, _SplitterSplits, _GivenSplits)):
        return splits
    if hasattr(splits, "split") and hasattr(splits, "get_n_splits"):
        return _SplitterSplits(splits)
    if isinstance(splits, (list, tuple)):
        return _GivenSplits(splits)
    raise ValueError(
        "splits must be a PerTaskSplits, a scikit-learn splitter (such as "
        "rkhsmtl.model_selection.MultiTaskStratifiedKFold) or a list of (train, "
        f"test) pairs; got {splits!r}.")
