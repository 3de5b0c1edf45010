"""The metrics of an experiment, computed per task and aggregated (macro, micro).

``scoring=`` names metrics of :mod:`rkhsmtl.metrics` (``"mse"``, ``"r2"``,
``"roc_auc"``, ...: raw values, a loss stays positive), scorer names of
:func:`rkhsmtl.metrics.get_scorer` (``"neg_mean_squared_error"``,
``"pooled_explained_variance"``, ...: the scorer's sign) or scorers made by
:func:`rkhsmtl.metrics.make_multitask_scorer`. Every metric is recorded per task
and with both averages over tasks, whichever average a scorer name implies.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import joblib
import numpy as np
from sklearn.base import is_classifier
from sklearn.exceptions import UndefinedMetricWarning

from ..metrics._classification import normalize_classes
from ..metrics._scorers import (
    _LOSSES,
    _METRICS,
    _SCORERS,
    MultiTaskScorer,
    _accepts,
    get_scorer_names,
)

__all__ = ["MetricSpec", "as_metrics", "default_metrics", "score_unit"]

#: What ``scoring=None`` records, by the kind of estimator.
DEFAULT_SCORING = {"regressor": ("mse", "r2"), "classifier": ("accuracy", "roc_auc")}


@dataclass(frozen=True)
class MetricSpec:
    """One recorded metric: ``sign * metric(Y_true, response, average=...)``."""

    name: str
    metric: object
    response_method: object
    sign: int = 1
    greater_is_better: bool = True
    kwargs: dict = field(default_factory=dict)

    def key(self):
        """What identifies the metric in the cache."""
        function = getattr(self.metric, "__module__", ""), getattr(
            self.metric, "__qualname__", repr(self.metric))
        return (self.name, function, self.response_method, self.sign,
                joblib.hash(self.kwargs))


def _from_name(name, label=None):
    label = name if label is None else label
    if name in _METRICS:
        metric, method = _METRICS[name]
        return MetricSpec(label, metric, method, 1, name not in _LOSSES)
    if name in _SCORERS:
        metric_name, _, greater_is_better = _SCORERS[name]
        metric, method = _METRICS[metric_name]
        return MetricSpec(label, metric, method, 1 if greater_is_better else -1, True)
    raise ValueError(
        f"Unknown metric {name!r}: use a metric of rkhsmtl.metrics "
        f"({sorted(_METRICS)}), a scorer name ({get_scorer_names()}) or a scorer "
        "made by rkhsmtl.metrics.make_multitask_scorer.")


def _from_scorer(label, scorer):
    if isinstance(scorer, str):
        return _from_name(scorer, label)
    if isinstance(scorer, MultiTaskScorer):
        return MetricSpec(label, scorer._metric, scorer._response_method, scorer._sign,
                          True, dict(scorer._kwargs))
    raise ValueError(
        f"scoring[{label!r}] must be a metric name or a scorer made by "
        f"rkhsmtl.metrics.make_multitask_scorer (it records per-task values, which a "
        f"plain scorer cannot give); got {scorer!r}.")


def as_metrics(scoring):
    """The :class:`MetricSpec` list behind ``scoring=``, or None for the defaults."""
    if scoring is None:
        return None
    if isinstance(scoring, str):
        return [_from_name(scoring)]
    if isinstance(scoring, MultiTaskScorer):
        return [_from_scorer(getattr(scoring, "_name", None) or "score", scoring)]
    if isinstance(scoring, dict):
        if not scoring:
            raise ValueError("scoring is an empty dict; give at least one metric.")
        return [_from_scorer(str(name), value) for name, value in scoring.items()]
    if isinstance(scoring, (list, tuple)):
        if not scoring or not all(isinstance(s, str) for s in scoring):
            raise ValueError(f"scoring must be a non-empty list of metric names (a dict "
                             f"{{name: scorer}} for scorers), got {scoring!r}.")
        if len(set(scoring)) != len(scoring):
            raise ValueError(f"scoring names must be distinct, got {scoring!r}.")
        return [_from_name(s) for s in scoring]
    raise ValueError(f"scoring must be a metric name, a list of them or a dict "
                     f"{{name: scorer}}; got {scoring!r}.")


def default_metrics(estimator):
    """The metrics recorded for ``estimator`` when ``scoring=None``."""
    kind = "classifier" if is_classifier(estimator) else "regressor"
    return [_from_name(name) for name in DEFAULT_SCORING[kind]]


def _classes(estimator, spec, n_tasks):
    classes = getattr(estimator, "classes_", None)
    if classes is None or not _accepts(spec.metric, "classes"):
        return None
    return normalize_classes(classes, n_tasks)


def _to_host(values):
    if isinstance(values, np.ndarray):
        return values
    from .._backend import to_numpy

    return to_numpy(values)


def score_unit(estimator, X_test, Y_test, metrics, responses):
    """Per-task, macro and micro values of every metric on the test entries.

    ``responses`` memoises ``{method: output}`` across metrics (one ``predict`` for
    all of them); it maps each method to the seconds it took too (key
    ``(method, "seconds")``). Undefined values (a task without test labels, say)
    are NaN, silently: the table shows them.
    """
    n_tasks = Y_test.shape[1]
    scores = {}
    for spec in metrics:
        methods = (spec.response_method,) if isinstance(spec.response_method, str) \
            else tuple(spec.response_method)
        method = next((m for m in methods if hasattr(estimator, m)), None)
        if method is None:
            raise ValueError(f"{type(estimator).__name__} has none of the response "
                             f"methods {list(methods)} that metric {spec.name!r} needs.")
        if method not in responses:
            from time import perf_counter

            start = perf_counter()
            responses[method] = getattr(estimator, method)(X_test)
            responses[(method, "seconds")] = perf_counter() - start
        response = responses[method]
        kwargs = dict(spec.kwargs)
        classes = _classes(estimator, spec, n_tasks)
        if classes is not None:
            kwargs["classes"] = classes
            if (method == "predict_proba" and n_tasks == 1 and np.ndim(response) == 2
                    and np.shape(response)[1] == 2):
                response = response[:, 1]
        if np.ndim(response) == 1:
            response = response.reshape(-1, 1) if hasattr(response, "reshape") else \
                np.asarray(response).reshape(-1, 1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UndefinedMetricWarning)
            per_task = _to_host(spec.metric(Y_test, response, average=None, **kwargs))
            macro = spec.metric(Y_test, response, average="macro", **kwargs)
            micro = spec.metric(Y_test, response, average="micro", **kwargs)
        scores[spec.name] = {
            "task": [spec.sign * float(v) for v in np.asarray(per_task).reshape(-1)],
            "macro": spec.sign * float(macro),
            "micro": spec.sign * float(micro),
            "greater_is_better": bool(spec.greater_is_better),
        }
    return scores
