"""Scorers: the multi-task metrics as ``scoring=`` objects for model selection.

A scorer is called as ``scorer(estimator, X, Y)`` (the protocol of
``GridSearchCV`` and ``cross_validate``), asks the fitted estimator for the
response its metric needs and returns a float where greater is better, or a dict
of per-task values plus the aggregate.
"""

from __future__ import annotations

import inspect
import warnings

import numpy as np
from sklearn.exceptions import UndefinedMetricWarning

from ._classification import (
    accuracy_score,
    f1_score,
    log_loss,
    normalize_classes,
    roc_auc_score,
)
from ._common import check_average
from ._regression import (
    explained_variance_score,
    mean_squared_error,
    normalized_mean_squared_error,
    r2_score,
)

__all__ = ["get_scorer", "get_scorer_names", "make_multitask_scorer"]

# Metric name -> (function, response method(s) in order of preference).
_METRICS = {
    "accuracy": (accuracy_score, "predict"),
    "f1": (f1_score, "predict"),
    "roc_auc": (roc_auc_score, ("decision_function", "predict_proba")),
    "log_loss": (log_loss, "predict_proba"),
    "mse": (mean_squared_error, "predict"),
    "nmse": (normalized_mean_squared_error, "predict"),
    "explained_variance": (explained_variance_score, "predict"),
    "r2": (r2_score, "predict"),
}
_RESPONSE_METHODS = ("predict", "predict_proba", "decision_function")


def _accepts(function, name):
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):  # pragma: no cover - builtins without signature
        return False
    return name in parameters or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())


def _response(estimator, X, response_method):
    methods = (response_method,) if isinstance(response_method, str) else \
        tuple(response_method)
    for method in methods:
        if hasattr(estimator, method):
            return method, getattr(estimator, method)(X)
    raise ValueError(
        f"{type(estimator).__name__} has none of the response methods {list(methods)} "
        "that this scorer needs."
    )


class MultiTaskScorer:
    """A multi-task metric bound to a response method; see :func:`make_multitask_scorer`."""

    def __init__(self, metric, *, average, response_method, sign, per_task, kwargs,
                 name=None):
        self._metric = metric
        self._average = average
        self._response_method = response_method
        self._sign = sign
        self._per_task = per_task
        self._kwargs = kwargs
        self._name = name

    def __repr__(self):
        if self._name is not None:
            return f"get_scorer({self._name!r})"
        name = getattr(self._metric, "__name__", repr(self._metric))
        return (f"make_multitask_scorer({name}, average={self._average!r}, "
                f"response_method={self._response_method!r}, "
                f"greater_is_better={self._sign > 0}, per_task={self._per_task})")

    def set_score_request(self, *, sample_weight=None):
        """Ask model selection to route ``sample_weight`` to this scorer.

        Only with ``sklearn.set_config(enable_metadata_routing=True)``, as for
        scikit-learn's scorers: ``scorer.set_score_request(sample_weight=True)``
        then ``cross_validate(..., params={"sample_weight": w})`` weights the scores.

        Parameters
        ----------
        sample_weight : bool, str or None, default=None
            ``True`` to request it, ``False`` not to, a string to alias it.

        Returns
        -------
        self : MultiTaskScorer
        """
        self._sample_weight_request = sample_weight
        return self

    def get_metadata_routing(self):
        """The metadata this scorer requests (see :meth:`set_score_request`).

        Returns
        -------
        routing : sklearn.utils.metadata_routing.MetadataRequest
        """
        from sklearn.utils.metadata_routing import MetadataRequest

        request = MetadataRequest(owner=repr(self))
        request.score.add_request(param="sample_weight",
                                  alias=getattr(self, "_sample_weight_request", None))
        return request

    def _classes(self, estimator, Y):
        classes = getattr(estimator, "classes_", None)
        if classes is None or not _accepts(self._metric, "classes"):
            return None
        n_tasks = 1 if np.ndim(Y) == 1 else np.shape(Y)[1]
        return normalize_classes(classes, n_tasks)

    def __call__(self, estimator, X, y_true, sample_weight=None):
        """Score ``estimator`` on ``(X, y_true)``: a float, or a dict if ``per_task``."""
        method, response = _response(estimator, X, self._response_method)
        kwargs = dict(self._kwargs)
        classes = self._classes(estimator, y_true)
        if classes is not None:
            kwargs["classes"] = classes
            # A scikit-learn binary classifier (one task) gives both columns.
            if (method == "predict_proba" and len(classes) == 1
                    and np.ndim(response) == 2 and np.shape(response)[1] == 2):
                response = response[:, 1]
        if sample_weight is not None:
            kwargs["sample_weight"] = sample_weight
        value = self._metric(y_true, response, average=self._average, **kwargs)
        if not self._per_task:
            return self._sign * float(value) if self._average is not None else \
                self._sign * value
        with warnings.catch_warnings():
            # The aggregate above already named the undefined tasks.
            warnings.simplefilter("ignore", UndefinedMetricWarning)
            per_task = self._metric(y_true, response, average=None, **kwargs)
        scores = {f"task_{t}": self._sign * float(per_task[t])
                  for t in range(per_task.shape[0])}
        if self._average is not None:
            scores["score"] = self._sign * float(value)
        return scores


# Named metrics that are losses (smaller is better).
_LOSSES = ("log_loss", "mse", "nmse")


def make_multitask_scorer(metric, *, average="macro", response_method=None,
                          greater_is_better=None, per_task=False, **kwargs):
    """Make a scorer from a NaN-aware multi-task metric.

    Parameters
    ----------
    metric : str or callable
        One of ``"accuracy"``, ``"f1"``, ``"roc_auc"``, ``"log_loss"``, ``"mse"``,
        ``"nmse"``, ``"explained_variance"``, ``"r2"`` (the functions of
        :mod:`rkhsmtl.metrics`), or a callable
        ``metric(Y_true, Y_response, *, average, **kwargs)`` that returns a float
        for ``average="macro"``/``"micro"`` and per-task values for ``None`` (and
        accepts ``sample_weight`` if the scorer is called with weights). If it
        accepts ``classes``, the estimator's fitted ``classes_`` are passed.
    average : {"macro", "micro"} or None, default="macro"
        Aggregation over tasks (see the metrics). ``None`` makes the scorer return
        the per-task array, which model selection cannot use; prefer
        ``per_task=True``.
    response_method : str or tuple of str, default=None
        ``"predict"``, ``"predict_proba"`` or ``"decision_function"``, or a tuple
        tried in order. By default, the metric's own: ``"predict"`` for labels and
        regression, ``("decision_function", "predict_proba")`` for ``"roc_auc"``,
        ``"predict_proba"`` for ``"log_loss"``. Required for a callable metric.
    greater_is_better : bool or None, default=None
        Whether the metric is a score (``True``) or a loss (``False``); a loss is
        negated so that the scorer is greater for better models, as in
        :func:`sklearn.metrics.make_scorer`. None means ``False`` for the losses
        named here (``"log_loss"``, ``"mse"``, ``"nmse"``) and ``True`` otherwise
        (a callable metric is then taken to be a score).
    per_task : bool, default=False
        Return ``{"task_0": v0, ..., "task_{T-1}": v_{T-1}, "score": aggregate}``
        (the per-task values are NaN where undefined and carry the same sign as
        the aggregate). ``cross_validate`` reports each key as ``test_<key>``;
        ``GridSearchCV`` needs ``refit="score"`` (or ``False``) with it.
    **kwargs
        Passed to the metric.

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, Y, sample_weight=None)``. Classification metrics
        binarise ``Y`` with the estimator's ``classes_`` (a list of per-task arrays
        of two classes, or one such array for an estimator fitted on a 1-D ``y``).
        With scikit-learn's metadata routing enabled,
        ``scorer.set_score_request(sample_weight=True)`` lets ``GridSearchCV`` and
        ``cross_validate`` pass it the weights given in their ``params``.

    Examples
    --------
    >>> from rkhsmtl.metrics import make_multitask_scorer
    >>> scorer = make_multitask_scorer("mse", greater_is_better=False, per_task=True)
    """
    check_average(average)
    if greater_is_better is None:
        greater_is_better = metric not in _LOSSES if isinstance(metric, str) else True
    if isinstance(metric, str):
        if metric not in _METRICS:
            raise ValueError(
                f"Unknown metric {metric!r}; known: {sorted(_METRICS)}, or pass a "
                "callable."
            )
        metric, default_method = _METRICS[metric]
        response_method = default_method if response_method is None else \
            response_method
    elif not callable(metric):
        raise ValueError(f"metric must be a name or a callable, got {metric!r}.")
    if response_method is None:
        raise ValueError("response_method is required for a callable metric.")
    methods = (response_method,) if isinstance(response_method, str) else \
        tuple(response_method)
    if not methods or any(m not in _RESPONSE_METHODS for m in methods):
        raise ValueError(
            f"response_method must be among {list(_RESPONSE_METHODS)} (or a tuple of "
            f"them), got {response_method!r}."
        )
    return MultiTaskScorer(metric, average=average, response_method=response_method,
                           sign=1 if greater_is_better else -1,
                           per_task=bool(per_task), kwargs=kwargs)


def _registry():
    names = {}
    for metric in ("accuracy", "f1", "roc_auc", "r2", "explained_variance"):
        for average in ("macro", "micro"):
            names[f"{average}_{metric}"] = (metric, average, True)
    for metric in ("log_loss", "mse", "nmse"):
        for average in ("macro", "micro"):
            names[f"neg_{average}_{metric}"] = (metric, average, False)
    # The School benchmark's measure (Argyriou et al. 2008): the pooled R^2.
    names["pooled_explained_variance"] = ("r2", "micro", True)
    return names


_SCORERS = _registry()


def get_scorer_names():
    """Names accepted by :func:`get_scorer`.

    Returns
    -------
    names : list of str
        ``"{macro,micro}_{accuracy,f1,roc_auc,r2,explained_variance}"``,
        ``"neg_{macro,micro}_{log_loss,mse,nmse}"`` (losses negated, so greater is
        better) and ``"pooled_explained_variance"`` (the same as ``"micro_r2"``).
    """
    return sorted(_SCORERS)


def get_scorer(scoring):
    """A multi-task scorer from its name.

    Parameters
    ----------
    scoring : str or callable
        A name from :func:`get_scorer_names`; a callable is returned unchanged.

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, Y, sample_weight=None)`` returning a float, greater
        is better. Usable as ``scoring=`` in
        :class:`~sklearn.model_selection.GridSearchCV` and
        :func:`~sklearn.model_selection.cross_validate`.

    Examples
    --------
    >>> from rkhsmtl.metrics import get_scorer
    >>> get_scorer("neg_macro_mse")
    get_scorer('neg_macro_mse')
    """
    if callable(scoring):
        return scoring
    if scoring not in _SCORERS:
        raise ValueError(
            f"{scoring!r} is not a multi-task scorer name; use one of "
            f"{get_scorer_names()}."
        )
    metric, average, greater_is_better = _SCORERS[scoring]
    scorer = make_multitask_scorer(metric, average=average,
                                   greater_is_better=greater_is_better)
    scorer._name = scoring
    return scorer
