"""Scorers: the multi-task metrics as ``scoring=`` objects for model selection.

A scorer is called as ``scorer(estimator, X, Y)`` (the protocol of
``GridSearchCV`` and ``cross_validate``), asks the fitted estimator for the
response its metric needs and returns a float where greater is better, or a dict
of per-task values plus the aggregate. :func:`get_scorer` also takes
scikit-learn's scoring names (``"r2"``, ``"neg_mean_squared_error"``, ...) for the
metrics defined here and returns the NaN-aware scorer with the same sign.
"""

from __future__ import annotations

import inspect
import math
import warnings
from traceback import format_exc

import numpy as np
import sklearn
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import get_scorer_names as _sklearn_scorer_names
from sklearn.utils.metadata_routing import MetadataRouter, MethodMapping, process_routing

from .._backend import get_namespace
from ._classification import (
    accuracy_score,
    f1_score,
    log_loss,
    normalize_classes,
    roc_auc_score,
)
from ._common import aggregate_tasks, check_average
from ._regression import (
    explained_variance_score,
    mean_squared_error,
    normalized_mean_squared_error,
    r2_score,
)

__all__ = ["get_scorer", "get_scorer_names", "make_multitask_scorer"]


def _root_mean_squared_error(Y_true, Y_pred, *, sample_weight=None, average="macro"):
    """Per-task root of :func:`~rkhsmtl.metrics.mean_squared_error`.

    Macro: the mean of the per-task roots (scikit-learn's
    ``root_mean_squared_error`` with ``multioutput="uniform_average"``); micro: the
    root of the pooled mean squared error.
    """
    check_average(average)
    if average == "micro":
        return math.sqrt(mean_squared_error(Y_true, Y_pred, sample_weight=sample_weight,
                                            average="micro"))
    with warnings.catch_warnings():
        # Named once below, with the wording of the root.
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        mse = mean_squared_error(Y_true, Y_pred, sample_weight=sample_weight,
                                 average=None)
    xp = get_namespace(mse)
    defined = ~xp.isnan(mse)
    return aggregate_tasks(xp, xp.sqrt(mse), defined, average,
                           "The root mean squared error",
                           "no observed label with positive weight")


# Metric name -> (function, response method(s) in order of preference).
_METRICS = {
    "accuracy": (accuracy_score, "predict"),
    "f1": (f1_score, "predict"),
    "roc_auc": (roc_auc_score, ("decision_function", "predict_proba")),
    "log_loss": (log_loss, "predict_proba"),
    "mse": (mean_squared_error, "predict"),
    "rmse": (_root_mean_squared_error, "predict"),
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


class SampleWeightRequestMixin:
    """``set_score_request`` and ``get_metadata_routing`` for ``sample_weight``."""

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
        self : object
            The scorer.
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


class MultiTaskScorer(SampleWeightRequestMixin):
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

    def _accept_sample_weight(self):
        # scikit-learn's multi-metric scoring asks each of its scorers this when
        # fit is given sample_weight without metadata routing.
        return _accepts(self._metric, "sample_weight")

    @property
    def _returns_dict(self):
        return self._per_task or self._average is None

    def _keys(self, n_tasks):
        """Keys of the dict returned for ``n_tasks`` tasks; None if a float is."""
        if not self._returns_dict:
            return None
        keys = [f"task_{t}" for t in range(n_tasks)]
        return keys + ["score"] if self._average is not None else keys

    def _classes(self, estimator, Y):
        classes = getattr(estimator, "classes_", None)
        if classes is None or not _accepts(self._metric, "classes"):
            return None
        n_tasks = 1 if np.ndim(Y) == 1 else np.shape(Y)[1]
        return normalize_classes(classes, n_tasks)

    def __call__(self, estimator, X, y_true, sample_weight=None):
        """Score ``estimator`` on ``(X, y_true)``.

        Parameters
        ----------
        estimator : estimator
            A fitted estimator with the response method of the metric.
        X : array-like of shape (n_samples, n_features)
            Inputs.
        y_true : array-like of shape (n_samples,) or (n_samples, n_tasks)
            Targets, missing labels as NaN, None or ``pandas.NA``.
        sample_weight : array-like of shape (n_samples,) or (n_samples, n_tasks), \
default=None
            Weights passed to the metric.

        Returns
        -------
        score : float or dict
            A float, or with ``per_task=True`` or ``average=None`` a dict of the
            per-task values (``"task_0"``, ...) and the aggregate (``"score"``).
        """
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
        if not self._returns_dict:
            return self._sign * float(value)
        if self._average is None:
            per_task = value
        else:
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
_LOSSES = ("log_loss", "mse", "rmse", "nmse")


def make_multitask_scorer(metric, *, average="macro", response_method=None,
                          greater_is_better=None, per_task=False, **kwargs):
    """Make a scorer from a NaN-aware multi-task metric.

    Parameters
    ----------
    metric : str or callable
        One of ``"accuracy"``, ``"f1"``, ``"roc_auc"``, ``"log_loss"``, ``"mse"``,
        ``"rmse"`` (the per-task root of the MSE), ``"nmse"``,
        ``"explained_variance"``, ``"r2"`` (the functions of
        :mod:`rkhsmtl.metrics`), or a callable
        ``metric(Y_true, Y_response, *, average, **kwargs)`` that returns a float
        for ``average="macro"``/``"micro"`` and per-task values for ``None`` (and
        accepts ``sample_weight`` if the scorer is called with weights). If it
        accepts ``classes``, the estimator's fitted ``classes_`` are passed.
    average : {"macro", "micro"} or None, default="macro"
        Aggregation over tasks (see the metrics). ``None``: the scorer returns
        the per-task values only, ``{"task_0": v0, ...}`` (a dict, as with
        ``per_task=True`` but without the aggregate).
    response_method : str or tuple of str, default=None
        ``"predict"``, ``"predict_proba"`` or ``"decision_function"``, or a tuple
        tried in order. By default, the metric's own: ``"predict"`` for labels and
        regression, ``("decision_function", "predict_proba")`` for ``"roc_auc"``,
        ``"predict_proba"`` for ``"log_loss"``. Required for a callable metric.
    greater_is_better : bool or None, default=None
        Whether the metric is a score (``True``) or a loss (``False``); a loss is
        negated so that the scorer is greater for better models, as in
        :func:`sklearn.metrics.make_scorer`. None means ``False`` for the losses
        named here (``"log_loss"``, ``"mse"``, ``"rmse"``, ``"nmse"``) and ``True``
        otherwise (a callable metric is then taken to be a score).
    per_task : bool, default=False
        Return ``{"task_0": v0, ..., "task_{T-1}": v_{T-1}, "score": aggregate}``
        (the per-task values are NaN where undefined and carry the same sign as
        the aggregate). ``cross_validate`` reports each key as ``test_<key>``;
        ``GridSearchCV`` needs ``refit="score"`` (or ``False``) with it. In a
        dict of scorers given to
        :class:`~rkhsmtl.model_selection.MultiTaskGridSearchCV`, the entry
        ``name`` gives the keys ``name`` (the aggregate) and ``name_task_0``, ....
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
    for metric in ("log_loss", "mse", "rmse", "nmse"):
        for average in ("macro", "micro"):
            names[f"neg_{average}_{metric}"] = (metric, average, False)
    # The School benchmark's measure (Argyriou et al. 2008): the pooled R^2.
    names["pooled_explained_variance"] = ("r2", "micro", True)
    # scikit-learn's names of the metrics above, with its average over outputs
    # (the mean over tasks) and its sign. Of several tasks, "accuracy", "f1" and
    # "neg_log_loss" are the means of the per-task binary metrics: scikit-learn's
    # multilabel forms (exact-match rows, none, one multiclass distribution per
    # row) cannot skip a missing label.
    names.update({
        "r2": ("r2", "macro", True),
        "explained_variance": ("explained_variance", "macro", True),
        "neg_mean_squared_error": ("mse", "macro", False),
        "neg_root_mean_squared_error": ("rmse", "macro", False),
        "accuracy": ("accuracy", "macro", True),
        "f1": ("f1", "macro", True),
        "roc_auc": ("roc_auc", "macro", True),
        "neg_log_loss": ("log_loss", "macro", False),
    })
    return names


_SCORERS = _registry()

# scikit-learn names refused with a pointer to the name that fits.
_HINTS = {
    "f1_macro": "its meaning depends on the shape of y (the mean of the two classes' "
                "F1 for a 1-D y, of the labels' F1 for a 2-D y); use 'macro_f1', the "
                "mean over tasks of each task's positive-class F1",
    "f1_micro": "its meaning depends on the shape of y; use 'micro_f1', the F1 of the "
                "positive classes with the counts summed over tasks",
    "roc_auc_ovr": "each task is binary; use 'roc_auc' (the mean per-task AUC)",
    "roc_auc_ovo": "each task is binary; use 'roc_auc' (the mean per-task AUC)",
}


def get_scorer_names():
    """Names accepted by :func:`get_scorer`.

    Returns
    -------
    names : list of str
        ``"{macro,micro}_{accuracy,f1,roc_auc,r2,explained_variance}"``,
        ``"neg_{macro,micro}_{log_loss,mse,rmse,nmse}"`` (losses negated, so
        greater is better), ``"pooled_explained_variance"`` (the same as
        ``"micro_r2"``), and scikit-learn's names of these metrics: ``"r2"``,
        ``"explained_variance"``, ``"neg_mean_squared_error"``,
        ``"neg_root_mean_squared_error"``, ``"accuracy"``, ``"f1"``,
        ``"roc_auc"`` and ``"neg_log_loss"`` (the macro average over tasks).
    """
    return sorted(_SCORERS)


def _unknown_name(name):
    valid = get_scorer_names()
    own = ("make_multitask_scorer(metric, response_method=...) for a metric of "
           "your own")
    if name in _HINTS:
        return (f"scikit-learn's scoring {name!r} is not accepted: {_HINTS[name]}. "
                f"Valid names: {valid}.")
    if name in _sklearn_scorer_names():
        return (f"scikit-learn's scoring {name!r} has no NaN-aware multi-task "
                f"version in rkhsmtl. Use one of {valid}, or {own}.")
    return f"{name!r} is not a multi-task scorer name; use one of {valid}, or {own}."


def _named_scorer(name):
    if name not in _SCORERS:
        raise ValueError(_unknown_name(name))
    metric, average, greater_is_better = _SCORERS[name]
    scorer = make_multitask_scorer(metric, average=average,
                                   greater_is_better=greater_is_better)
    scorer._name = name
    return scorer


def _multimetric(scoring):
    if isinstance(scoring, dict):
        if not scoring:
            raise ValueError("scoring is an empty dict; give at least one "
                             "name: scorer pair.")
        bad = [key for key in scoring if not isinstance(key, str)]
        if bad:
            raise ValueError(f"The keys of a scoring dict must be strings, got {bad}.")
        scorers = {}
        for key, value in scoring.items():
            if not (isinstance(value, str) or callable(value)):
                raise ValueError(
                    f"scoring[{key!r}] must be a scorer name or a callable, got "
                    f"{value!r}.")
            scorers[key] = get_scorer(value)
        return scorers
    if not scoring:
        raise ValueError(f"scoring is an empty {type(scoring).__name__}; give at "
                         "least one scorer name.")
    if not all(isinstance(name, str) for name in scoring):
        raise ValueError(
            f"A scoring list or tuple holds names only, got {scoring!r}; give "
            "callables in a dict {name: scorer}.")
    duplicates = sorted({name for name in scoring if list(scoring).count(name) > 1})
    if duplicates:
        raise ValueError(f"scoring names must be unique, got {duplicates} more "
                         "than once.")
    return {name: _named_scorer(name) for name in scoring}


def get_scorer(scoring):
    """A NaN-aware multi-task scorer from its name, or a dict of them.

    Parameters
    ----------
    scoring : str, callable, list, tuple or dict
        A name from :func:`get_scorer_names` -- this package's
        (``"neg_macro_mse"``, ...) or scikit-learn's for the same metrics
        (``"r2"``, ``"neg_mean_squared_error"``, ``"roc_auc"``, ...). A callable is
        returned unchanged. A list or tuple of names, or a dict whose values are
        names or callables, gives a dict of scorers, as scikit-learn's
        multi-metric ``scoring``.

    Returns
    -------
    scorer : callable or dict
        ``scorer(estimator, X, Y, sample_weight=None)`` returning a float, greater
        is better (a dict ``{name: scorer}`` for several). A scikit-learn name
        gives scikit-learn's sign and average over outputs (the mean over tasks,
        each on its observed labels); a loss such as
        ``"neg_mean_squared_error"`` is negated. Usable as ``scoring=`` in
        :class:`~rkhsmtl.model_selection.MultiTaskGridSearchCV` (which accepts
        the names themselves), :class:`~sklearn.model_selection.GridSearchCV` and
        :func:`~sklearn.model_selection.cross_validate` (which need the scorer
        objects: given a name, scikit-learn uses its own scorer, which cannot
        skip a missing label).

    Examples
    --------
    >>> from rkhsmtl.metrics import get_scorer
    >>> get_scorer("neg_macro_mse")
    get_scorer('neg_macro_mse')
    >>> sorted(get_scorer(["r2", "neg_mean_squared_error"]))
    ['neg_mean_squared_error', 'r2']
    """
    if isinstance(scoring, str):
        return _named_scorer(scoring)
    if callable(scoring):
        return scoring
    if isinstance(scoring, (list, tuple, dict)):
        return _multimetric(scoring)
    raise ValueError(
        "scoring must be a scorer name, a callable, a list or tuple of names or a "
        f"dict of names or callables; got {scoring!r}. Valid names: "
        f"{get_scorer_names()}."
    )


def _flat_key(name, key):
    return name if key == "score" else f"{name}_{key}"


def _scorer_keys(name, scorer, n_tasks):
    """The keys ``name`` gives in a flattened dict, for ``n_tasks`` tasks.

    None when they are only known once the scorer has returned (a callable that
    is not a :class:`MultiTaskScorer`, or an unknown number of tasks).
    """
    if not isinstance(scorer, MultiTaskScorer):
        return None
    if not scorer._returns_dict:
        return [name]
    if n_tasks is None:
        return None
    return [_flat_key(name, key) for key in scorer._keys(n_tasks)]


class _FlatScorer:
    """Several scorers as one scorer that returns one flat dict of numbers.

    scikit-learn's multi-metric scoring stores each scorer's result under its key
    and needs a number there, so a per-task scorer (which returns a dict) cannot
    be one of its entries. Here entry ``name`` returning ``{"task_0": v0, ...,
    "score": s}`` gives the keys ``name_task_0``, ... and ``name`` (for ``s``).
    With ``raise_exc=False`` a failing entry warns and gives ``error_score`` for
    its keys, as scikit-learn does for one scorer of a dict.
    """

    def __init__(self, scorers, *, raise_exc=True, error_score=np.nan, n_tasks=None):
        self._scorers = scorers
        self._raise_exc = raise_exc
        self._error_score = error_score
        self._n_tasks = n_tasks

    def __repr__(self):
        return f"FlatScorer({self._scorers!r})"

    def _accept_sample_weight(self):
        # See MultiTaskScorer._accept_sample_weight.
        return any(_takes_sample_weight(s) for s in self._scorers.values())

    def get_metadata_routing(self):
        """Route ``score`` metadata to every scorer, as scikit-learn's dict does.

        Returns
        -------
        routing : sklearn.utils.metadata_routing.MetadataRouter
        """
        return MetadataRouter(owner=self).add(
            **self._scorers,
            method_mapping=MethodMapping().add(caller="score", callee="score"))

    def _params(self, kwargs):
        if sklearn.get_config()["enable_metadata_routing"]:
            routed = process_routing(self, "score", **kwargs)
            return {name: dict(routed[name].score) for name in self._scorers}
        common = {k: v for k, v in kwargs.items() if k != "sample_weight"}
        weight = kwargs.get("sample_weight")
        return {name: {**common, **({"sample_weight": weight}
                                    if weight is not None and _takes_sample_weight(s)
                                    else {})}
                for name, s in self._scorers.items()}

    def __call__(self, estimator, X, y_true=None, **kwargs):
        params = self._params(kwargs)
        scores = {}
        for name, scorer in self._scorers.items():
            try:
                value = scorer(estimator, X, y_true, **params[name])
            except Exception:
                if self._raise_exc:
                    raise
                keys = _scorer_keys(name, scorer, self._n_tasks) or [name]
                warnings.warn(
                    f"Scoring {name!r} failed; {keys} on this train-test partition "
                    f"are set to {self._error_score}. Details:\n{format_exc()}",
                    UserWarning, stacklevel=2)
                scores.update(dict.fromkeys(keys, self._error_score))
                continue
            if isinstance(value, dict):
                scores.update({_flat_key(name, key): v for key, v in value.items()})
            else:
                scores[name] = value
        return scores


def _takes_sample_weight(scorer):
    if hasattr(scorer, "_accept_sample_weight"):
        return scorer._accept_sample_weight()
    return _accepts(scorer, "sample_weight")
