"""Saving and loading fitted models.

Every fitted estimator of rkhsmtl round-trips through :mod:`pickle`,
:func:`joblib.dump` and :func:`skops.io.dump` with identical predictions, and its
saved state records the rkhsmtl version: loading it with another version emits
:class:`~rkhsmtl.exceptions.InconsistentVersionWarning`.

:mod:`skops.io` (``pip install rkhsmtl[persistence]``) loads only the types it is
told to trust, and trusts none of this package by default. :func:`trusted_types`
lists them::

    import skops.io
    from rkhsmtl.persistence import trusted_types

    skops.io.dump(model, "model.skops")
    model = skops.io.load("model.skops", trusted=trusted_types())

See :ref:`errors-persistence`.
"""

from __future__ import annotations

import importlib

__all__ = ["trusted_types"]

# The public modules whose classes can be part of a fitted model.
_MODULES = ("rkhsmtl", "rkhsmtl.experiments", "rkhsmtl.linear", "rkhsmtl.model_selection",
            "rkhsmtl.structure", "rkhsmtl.weighting")


def _skops_name(obj):
    # How skops.io names a class or a function in get_untrusted_types.
    return f"{obj.__module__}.{obj.__name__}"


def trusted_types():
    """The rkhsmtl types to pass as ``trusted=`` to :func:`skops.io.load`.

    The estimators, task structures, penalties, density-ratio estimators,
    searches and splitters of rkhsmtl, the scorer classes of
    :func:`rkhsmtl.metrics.get_scorer` and the metric functions they refer to,
    under the names :func:`skops.io.get_untrusted_types` gives them. Types of
    other libraries that skops does not trust by default (such as the scorer
    scikit-learn's searches keep with ``scoring=None``, or a user's metric) are
    not included: check the output of ``skops.io.get_untrusted_types(file=path)``
    for the others before trusting them.

    Returns
    -------
    names : list of str
        Fully qualified names (``"rkhsmtl.ridge.MultiTaskKernelRidge"``, ...),
        sorted.

    Examples
    --------
    >>> from rkhsmtl.persistence import trusted_types
    >>> "rkhsmtl.ridge.MultiTaskKernelRidge" in trusted_types()
    True
    """
    from sklearn.base import BaseEstimator
    from sklearn.model_selection import BaseCrossValidator

    from .metrics._scorers import _METRICS, MultiTaskScorer, _FlatScorer

    # _FlatScorer: what a search keeps as scorer_ for per-task scores.
    names = {_skops_name(MultiTaskScorer), _skops_name(_FlatScorer)}
    names.update(_skops_name(metric) for metric, _ in _METRICS.values())
    for module_name in _MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            obj = getattr(module, name)
            if (isinstance(obj, type) and obj.__module__.startswith("rkhsmtl.")
                    and issubclass(obj, (BaseEstimator, BaseCrossValidator))):
                names.add(_skops_name(obj))
    return sorted(names)
