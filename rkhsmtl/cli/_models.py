"""Models of the command line: short names, ``--param name=value``, standardisation."""

from __future__ import annotations

import ast
import importlib
import re

import numpy as np
from sklearn.base import BaseEstimator, MetaEstimatorMixin, RegressorMixin, clone

from ._io import CommandError

__all__ = ["MODELS", "TaskCenteredRegressor", "build_estimator", "parse_param"]

#: Short name -> (module, class) of the estimators ``rkhsmtl fit --model`` knows.
MODELS = {
    "ridge": ("rkhsmtl", "MultiTaskKernelRidge"),
    "classifier": ("rkhsmtl", "MultiTaskKernelClassifier"),
    "linear": ("rkhsmtl.linear", "MultiTaskLinearRegressor"),
    "linear-classifier": ("rkhsmtl.linear", "MultiTaskLinearClassifier"),
    "linear-cv": ("rkhsmtl.linear", "MultiTaskLinearRegressorCV"),
    "linear-classifier-cv": ("rkhsmtl.linear", "MultiTaskLinearClassifierCV"),
}

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def parse_param(text):
    """``"name=value"`` -> ``(name, value)``; the value is a Python literal if it
    parses as one (``0.1``, ``'linear'``, ``None``, ``[1, 2]``), else the text.

    Parameters
    ----------
    text : str
        One ``--param`` argument.

    Returns
    -------
    name : str
    value : object
    """
    name, sep, value = text.partition("=")
    name = name.strip()
    if not sep or not all(_NAME.match(part) for part in name.split("__")):
        raise CommandError(f"--param {text!r}: write name=value, e.g. alpha=0.1 or "
                           "task_structure__strength=10")
    value = value.strip()
    try:
        return name, ast.literal_eval(value)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        # kernel=linear reads as the string 'linear'.
        return name, value


def estimator_class(name):
    """The estimator class of a short name (or of its class name)."""
    key = name.strip().lower()
    by_class = {cls.lower(): short for short, (_, cls) in MODELS.items()}
    key = by_class.get(key, key)
    if key not in MODELS:
        raise CommandError(f"--model {name!r} is not a model; use one of "
                           f"{', '.join(MODELS)}")
    module, cls = MODELS[key]
    return key, getattr(importlib.import_module(module), cls)


class TaskCenteredRegressor(MetaEstimatorMixin, RegressorMixin, BaseEstimator):
    """A multi-task regressor fitted on targets centred per task.

    Kernel ridge has no intercept: on targets far from zero (exam scores around 70)
    it shrinks every prediction towards 0. This wrapper subtracts each task's mean
    observed training label before ``fit`` and adds it back to the predictions.

    Parameters
    ----------
    estimator : estimator
        A multi-task regressor taking ``(n_samples, n_tasks)`` targets with NaN
        for a missing label, with ``tasks_`` and ``predict(X, task=None)``.

    Attributes
    ----------
    estimator_ : estimator
        The fitted clone of ``estimator``.
    task_means_ : ndarray of shape (n_tasks,)
        Mean observed training label of every task.
    tasks_ : ndarray of shape (n_tasks,)
        Task names (those of ``estimator_``).
    """

    def __init__(self, estimator):
        self.estimator = estimator

    def fit(self, X, y):
        """Fit ``estimator`` on ``y`` minus each task's mean observed label.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.
        y : array-like or DataFrame of shape (n_samples, n_tasks)
            Targets, NaN for a missing label (a DataFrame's columns name the tasks).

        Returns
        -------
        self : object
        """
        values = np.asarray(y, dtype=np.float64)
        observed = ~np.isnan(values)
        counts = observed.sum(axis=0)
        sums = np.where(observed, values, 0.0).sum(axis=0)
        self.task_means_ = np.where(counts > 0, sums / np.maximum(counts, 1), 0.0)
        self.estimator_ = clone(self.estimator).fit(X, y - self.task_means_)
        self.tasks_ = self.estimator_.tasks_
        return self

    def predict(self, X, task=None):
        """Predictions of ``estimator_`` plus the task means.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.
        task : array-like of shape (n_samples,), default=None
            The task of every row (long layout), as in the estimator's ``predict``.

        Returns
        -------
        Y_pred : ndarray of shape (n_samples, n_tasks), or (n_samples,) with ``task``
        """
        from .._base import task_columns

        pred = np.asarray(self.estimator_.predict(X, task=task))
        if task is None:
            return pred + self.task_means_
        return pred + self.task_means_[task_columns(self.estimator_, task)]

    @property
    def solver_(self):
        """The solver of ``estimator_``."""
        return self.estimator_.solver_

    @property
    def n_iter_(self):
        """The iterations of ``estimator_``."""
        return self.estimator_.n_iter_


def needs_centering(model):
    """Whether a regressor has no intercept of its own (kernel ridge)."""
    return "fit_intercept" not in model.get_params(deep=False)


def build_estimator(name, params, standardize, center=True):
    """The unfitted estimator: the model with its parameters, after a scaler if asked.

    Parameters
    ----------
    name : str
        A key of :data:`MODELS` (or the class name).
    params : dict
        Parameters of the model, nested ones as ``task_structure__strength``.
    standardize : bool
        Put a :class:`~sklearn.preprocessing.StandardScaler` before the model.
    center : bool, default=True
        Regressors without an intercept: fit them on targets centred per task
        (:class:`TaskCenteredRegressor`).

    Returns
    -------
    short_name : str
    model : estimator
        The model (its parameters set, unvalidated: they are checked by ``fit``).
    estimator : estimator
        ``model`` (centred if asked), after the scaler in a ``Pipeline`` if asked.
    """
    short, cls = estimator_class(name)
    model = cls()
    try:
        model.set_params(**params)
    except (ValueError, TypeError) as exc:
        valid = sorted(model.get_params(deep=False))
        bad = next((p for p in params if p.split("__")[0] not in valid), None)
        if bad is not None:
            raise CommandError(f"--param {bad}: {cls.__name__} has no parameter "
                               f"{bad.split('__')[0]!r}; its parameters are "
                               f"{', '.join(valid)}") from None
        raise CommandError(f"--param: {str(exc).splitlines()[0]}") from None
    from sklearn.base import is_regressor

    estimator = model
    if center and is_regressor(model) and needs_centering(model):
        estimator = TaskCenteredRegressor(model)
    if not standardize:
        return short, model, estimator
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return short, model, make_pipeline(StandardScaler(), estimator)
