"""One single-task model per task: the "independent tasks" baseline for any estimator."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, MetaEstimatorMixin, clone, is_classifier
from sklearn.utils import get_tags
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from .._base import VersionedStateMixin
from .._labels import _as_label_array, missing_mask
from ..datasets._layout import _as_rows, _take_rows

__all__ = ["PerTaskEstimator"]


def _rows_and_count(X):
    """X (sparse matrices and DataFrames kept) and its number of rows."""
    if sp.issparse(X):
        # COO and DIA matrices cannot be indexed by rows.
        return (X if X.format in ("csr", "csc") else X.tocsr()), X.shape[0]
    return _as_rows(X)


def _subset(X, rows):
    return X[rows] if sp.issparse(X) else _take_rows(X, rows)


def _base_has(method):
    def check(self):
        if not hasattr(self.estimator, method):
            raise AttributeError(f"{type(self.estimator).__name__} has no {method}.")
        return True
    return check


class PerTaskEstimator(VersionedStateMixin, MetaEstimatorMixin, BaseEstimator):
    """Fit one clone of a single-task estimator per task, on that task's labels.

    The baseline "no sharing between tasks" for any scikit-learn regressor or
    binary classifier (or pipeline): task ``t``'s model is fitted on the rows
    where ``Y[:, t]`` is observed, and predictions stack every task's output as
    columns -- the wide layout of the multi-task estimators, so that it runs in
    :func:`run_experiment` and its metrics beside them.

    Parameters
    ----------
    estimator : estimator
        A single-task scikit-learn estimator (``fit(X, y)`` with a 1-D ``y``).

    Attributes
    ----------
    estimators_ : list of estimators
        The fitted clone of every task.
    n_tasks_ : int
        Number of tasks.
    classes_ : list of ndarray
        The classes of every task (classifiers only).
    n_features_in_ : int
        Number of input features.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import Ridge
    >>> from rkhsmtl.experiments import PerTaskEstimator
    >>> X = np.arange(8.0).reshape(4, 2)
    >>> Y = np.array([[1.0, np.nan], [2.0, 0.0], [np.nan, 1.0], [4.0, 2.0]])
    >>> PerTaskEstimator(Ridge()).fit(X, Y).predict(X).shape
    (4, 2)
    """

    def __init__(self, estimator):
        self.estimator = estimator

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        base = get_tags(self.estimator)
        tags.estimator_type = base.estimator_type
        tags.classifier_tags = base.classifier_tags
        tags.regressor_tags = base.regressor_tags
        tags.target_tags.required = True
        tags.target_tags.multi_output = True
        tags.input_tags = base.input_tags
        return tags

    def fit(self, X, y, sample_weight=None):
        """Fit one clone of ``estimator`` per task on the task's observed labels.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            Inputs.
        y : array-like of shape (n_samples, n_tasks) or (n_samples,)
            Labels, NaN (or None, ``pandas.NA``) where missing.
        sample_weight : array-like of shape (n_samples,) or (n_samples, n_tasks), \
default=None
            Weights, passed to every task's ``fit`` for its rows.

        Returns
        -------
        self : PerTaskEstimator
        """
        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the "
                             "target y is None.")
        X, n = _rows_and_count(X)
        Y = _as_label_array(y)
        y_was_1d = Y.ndim == 1
        if y_was_1d:
            Y = Y.reshape(-1, 1)
        if Y.ndim != 2 or Y.shape[0] != n:
            raise ValueError(f"Y must be of shape (n_samples, n_tasks) with n_samples="
                             f"{n} (the rows of X), got shape {Y.shape}.")
        missing = missing_mask(Y)
        weights = None if sample_weight is None else np.asarray(sample_weight, float)
        if weights is not None and weights.shape not in ((n,), Y.shape):
            raise ValueError(f"sample_weight has shape {weights.shape}; expected ({n},) "
                             f"or {Y.shape}.")
        estimators = []
        for t in range(Y.shape[1]):
            rows = np.flatnonzero(~missing[:, t])
            if rows.size == 0:
                raise ValueError(f"Task {t} has no observed label: its model cannot be "
                                 "fitted. Drop the task, or give it labels.")
            y_t = Y[rows, t]
            if y_t.dtype == object:
                y_t = np.asarray(y_t.tolist())
            kwargs = {}
            if weights is not None:
                kwargs["sample_weight"] = (weights[rows] if weights.ndim == 1
                                           else weights[rows, t])
            estimators.append(clone(self.estimator).fit(_subset(X, rows), y_t,
                                                        **kwargs))
        self.estimators_ = estimators
        self.n_tasks_ = len(estimators)
        self._y_was_1d = y_was_1d
        if hasattr(estimators[0], "classes_"):
            self.classes_ = (estimators[0].classes_ if y_was_1d
                             else [e.classes_ for e in estimators])
        n_features = getattr(estimators[0], "n_features_in_", None)
        if n_features is not None:
            self.n_features_in_ = n_features
        return self

    def predict(self, X):
        """Predictions of every task's model, one column per task.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        Y_pred : ndarray of shape (n_samples, n_tasks)
            Shape ``(n_samples,)`` when fitted on a 1-D ``y``.
        """
        check_is_fitted(self)
        if self._y_was_1d:
            return self.estimators_[0].predict(X)
        return np.column_stack([e.predict(X) for e in self.estimators_])

    def score(self, X, y, sample_weight=None):
        """Mean over tasks of the R² (regressors) or accuracy (classifiers).

        Each task is scored on its observed labels only
        (:func:`rkhsmtl.metrics.r2_score`, :func:`rkhsmtl.metrics.accuracy_score`,
        macro average).

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            Inputs.
        y : array-like of shape (n_samples, n_tasks) or (n_samples,)
            True labels, NaN (or None, ``pandas.NA``) where missing.
        sample_weight : array-like of shape (n_samples,) or (n_samples, n_tasks), \
default=None
            Weights.

        Returns
        -------
        score : float
        """
        from ..metrics import accuracy_score, r2_score

        check_is_fitted(self)
        if self._y_was_1d:  # one task: the base estimator's own score
            return self.estimators_[0].score(X, y, sample_weight=sample_weight)
        metric = accuracy_score if is_classifier(self) else r2_score
        return metric(y, self.predict(X), sample_weight=sample_weight, average="macro")

    def _binary_columns(self, method, X):
        """``method`` of every task's model, one column per task (that of
        ``classes_[t][1]`` for two-column outputs); after a 1-D ``y``, the model's
        own output."""
        check_is_fitted(self)
        if self._y_was_1d:
            return getattr(self.estimators_[0], method)(X)
        columns = []
        for t, estimator in enumerate(self.estimators_):
            output = np.asarray(getattr(estimator, method)(X))
            if output.ndim == 2:
                if output.shape[1] != 2:
                    raise ValueError(f"Task {t} has {output.shape[1]} classes; {method} "
                                     "of a PerTaskEstimator needs binary tasks.")
                output = output[:, 1]
            columns.append(output)
        return np.column_stack(columns)

    @available_if(_base_has("predict_proba"))
    def predict_proba(self, X):
        """Probability of each task's positive class (``classes_[t][1]``).

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_tasks)
            When fitted on a 1-D ``y``, the base estimator's own output.
        """
        return self._binary_columns("predict_proba", X)

    @available_if(_base_has("decision_function"))
    def decision_function(self, X):
        """Decision value of every task's model (positive: ``classes_[t][1]``).

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        scores : ndarray of shape (n_samples, n_tasks)
            When fitted on a 1-D ``y``, the base estimator's own output.
        """
        return self._binary_columns("decision_function", X)
