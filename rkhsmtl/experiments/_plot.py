"""Figures of an experiment (matplotlib, imported only when a figure is drawn)."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["plot_summary", "plot_task_gains"]


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError("Plotting needs matplotlib: pip install 'rkhsmtl[plot]'.") \
            from exc
    return plt


def _axes(ax, size):
    if ax is not None:
        return ax
    _, ax = _pyplot().subplots(figsize=size, layout="constrained")
    return ax


def plot_summary(results, metric=None, *, average="macro", dataset=None, ax=None):
    """Methods x metric: a bar per method (mean ± std over splits), a dot per split.

    Parameters
    ----------
    results : ExperimentResults
        What :func:`run_experiment` returned.
    metric : str, default=None
        The metric (default: the first recorded).
    average : {"macro", "micro"}, default="macro"
        Which aggregate over tasks: their mean, or the metric on all test labels
        pooled.
    dataset : str, default=None
        The data set (default: the first).
    ax : matplotlib Axes, default=None
        Where to draw (a new figure by default).

    Returns
    -------
    ax : matplotlib Axes
    """
    if average not in ("macro", "micro"):
        raise ValueError(f"average must be 'macro' or 'micro', got {average!r}.")
    metric = results.metrics[0] if metric is None else metric
    if metric not in results.metrics:
        raise ValueError(f"Metric {metric!r} was not recorded; recorded: "
                         f"{results.metrics}.")
    dataset = results.datasets[0] if dataset is None else dataset
    rows = [r for r in results.to_records() if r["dataset"] == dataset
            and r["metric"] == metric and r["average"] == average]
    methods = [m for m in results.methods if any(r["method"] == m for r in rows)]
    values = [[r["value"] for r in rows if r["method"] == m
               and r["value"] is not None and math.isfinite(r["value"])]
              for m in methods]
    ax = _axes(ax, (7, 0.5 * len(methods) + 1.5))
    positions = np.arange(len(methods))
    means = [np.mean(v) if v else np.nan for v in values]
    stds = [np.std(v) if v else np.nan for v in values]
    ax.barh(positions, means, xerr=stds, capsize=3, color="tab:blue", alpha=0.5)
    for k, v in enumerate(values):
        ax.plot(v, [k] * len(v), "o", color="tab:red", markersize=3, zorder=3)
    ax.set_yticks(positions, methods)
    ax.invert_yaxis()
    finite = [x for v in values for x in v]
    if finite:
        low, high = min(finite), max(finite)
        pad = 0.2 * (high - low) or 0.05 * max(abs(high), 1e-12)
        ax.set_xlim(low - pad, high + pad)
    ax.set_xlabel(f"{metric} ({average})")
    ax.set_title(f"{dataset}: mean ± std over splits (dots: splits)")
    ax.grid(axis="x", alpha=0.3)
    return ax


def plot_task_gains(report, method, *, metric=None, dataset=None, ax=None):
    """Per-task gains of ``method`` over the baseline, sorted, with their spread.

    Bars are the mean gain over splits (positive: better than the baseline), the
    error bars their standard deviation; tasks with negative transfer are red.

    Parameters
    ----------
    report : TransferReport
        What :meth:`ExperimentResults.transfer_report` returned.
    method : str
        The method compared with the baseline.
    metric : str, default=None
        The metric (default: the report's first).
    dataset : str, default=None
        The data set (default: the first of the report).
    ax : matplotlib Axes, default=None
        Where to draw (a new figure by default).

    Returns
    -------
    ax : matplotlib Axes
    """
    metric = report.metrics[0] if metric is None else metric
    if dataset is None:
        dataset = report.tasks[0]["dataset"] if report.tasks else None
    rows = [r for r in report.tasks if r["dataset"] == dataset and r["method"] == method
            and r["metric"] == metric and r["n_splits"]]
    if not rows:
        methods = sorted({r["method"] for r in report.tasks})
        raise ValueError(f"No per-task gain of method {method!r} for metric {metric!r} "
                         f"on {dataset!r}; methods in the report: {methods}.")
    rows.sort(key=lambda r: r["gain"])
    gains = np.array([r["gain"] for r in rows])
    spread = np.array([r["gain_std"] for r in rows])
    ax = _axes(ax, (8, 3.5))
    colors = np.where(gains < 0, "tab:red", "tab:blue")
    positions = np.arange(len(rows))
    ax.bar(positions, gains, yerr=spread, color=colors, alpha=0.7,
           error_kw={"elinewidth": 0.6, "alpha": 0.5})
    ax.axhline(0.0, color="black", linewidth=0.8)
    if len(rows) <= 30:
        ax.set_xticks(positions, [str(r["task"]) for r in rows], rotation=90)
    else:
        ax.set_xticks([])
    ax.set_xlabel(f"tasks, sorted by gain ({int((gains < 0).sum())} of {len(rows)} "
                  "below the baseline, in red)")
    ax.set_ylabel(f"gain in {metric} over {report.baseline}")
    ax.set_title(f"{dataset}: {method} vs {report.baseline} (mean ± std over splits)")
    return ax
