"""What every multi-task metric shares: the ``average`` rule and its warnings."""

from __future__ import annotations

import warnings

from sklearn.exceptions import UndefinedMetricWarning

AVERAGES = ("macro", "micro", None)


def check_average(average):
    if average not in AVERAGES:
        raise ValueError(
            f"average must be 'macro', 'micro' or None, got {average!r}."
        )


def _undefined_tasks(defined):
    return [t for t in range(defined.shape[0]) if not bool(defined[t])]


def aggregate_tasks(xp, values, defined, average, what, why, stacklevel=3):
    """Per-task ``values`` (NaN where not ``defined``) reduced as ``average`` asks.

    ``"macro"`` is the mean over the defined tasks (a Python float), ``None`` the
    per-task array itself. Undefined tasks are named in an ``UndefinedMetricWarning``.
    """
    undefined = _undefined_tasks(defined)
    n_tasks = defined.shape[0]
    if average is None:
        if undefined:
            warnings.warn(
                f"{what} is undefined for task(s) {undefined} ({why}); their value "
                "is NaN.", UndefinedMetricWarning, stacklevel=stacklevel)
        return values
    if len(undefined) == n_tasks:
        warnings.warn(
            f"{what} is undefined for every task ({why}); the macro average is NaN.",
            UndefinedMetricWarning, stacklevel=stacklevel)
        return float("nan")
    if undefined:
        warnings.warn(
            f"{what} is undefined for task(s) {undefined} ({why}); they are left out "
            "of the macro average.", UndefinedMetricWarning, stacklevel=stacklevel)
    kept = xp.where(defined, values, xp.zeros_like(values))
    return float(xp.sum(kept)) / (n_tasks - len(undefined))


def micro_value(value, defined, what, why, stacklevel=3):
    """The pooled value as a Python float, NaN with a warning when undefined."""
    if not bool(defined):
        warnings.warn(f"{what} is undefined over the pooled entries ({why}); the "
                      "micro average is NaN.", UndefinedMetricWarning,
                      stacklevel=stacklevel)
        return float("nan")
    return float(value)
