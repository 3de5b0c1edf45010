"""The results of an experiment: the tidy table, the summary and the transfer report.

The table is long: one row per data set x method x split x metric x task, plus
one per aggregate (``average`` is ``"task"`` for a task's own value, ``"macro"``
for the mean over tasks, ``"micro"`` for the metric on all test labels pooled),
with the unit's fit and predict times, iterations, convergence, solver and peak
memory repeated on each row. A failed unit gives one row with its status
``"error"``, the exception's type and message, and no value. Rows are ordered by
data set, method, split, metric and task, whatever order the units finished in.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["COLUMNS", "ExperimentResults", "TransferReport"]

#: The columns of :meth:`ExperimentResults.to_frame`, in order.
COLUMNS = ("dataset", "method", "split", "metric", "average", "task", "value",
           "status", "fit_time", "predict_time", "n_iter", "converged", "solver",
           "peak_rss_mib", "n_train", "n_test", "error_type", "error_message")
_UNIT_FIELDS = ("fit_time", "predict_time", "n_iter", "converged", "solver",
                "peak_rss_mib", "n_train", "n_test", "error_type", "error_message")
_AVERAGES = ("macro", "micro")


def _import_pandas(what):
    try:
        import pandas as pd
    except ImportError as exc:
        raise ImportError(f"{what} needs pandas: pip install pandas (or use the plain "
                          "records of to_records()).") from exc
    return pd


def _has_pandas():
    try:
        import pandas  # noqa: F401
    except ImportError:
        return False
    return True


def _mean_std(values):
    values = [v for v in values if v is not None and math.isfinite(v)]
    if not values:
        return float("nan"), float("nan"), 0
    array = np.asarray(values, dtype=float)
    return float(array.mean()), float(array.std()), len(values)


def _fmt(value, digits):
    return "nan" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def _text_table(header, rows):
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w)
                       for i, (c, w) in enumerate(zip(row, widths, strict=True)))
             for row in [header, *rows]]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def _frame_or_records(rows, columns, as_frame):
    if as_frame is None:
        as_frame = _has_pandas()
    if not as_frame:
        return rows
    pd = _import_pandas("as_frame=True")
    return _integer_columns(pd.DataFrame(rows, columns=list(columns)))


def _integer_columns(frame):
    # Counts stay integers where a failed unit (or a model without iterations) has
    # none, instead of turning the whole column into floats.
    for column in ("n_iter", "n_train", "n_test", "n_splits", "n_failed"):
        if column in frame.columns:
            frame[column] = frame[column].astype("Int64")
    return frame


class ExperimentResults:
    """What :func:`run_experiment` returns: every unit's record, as tables.

    Parameters
    ----------
    units : list of dict
        One per unit, in the experiment's order: ``dataset``, ``method``,
        ``split`` (the split's label) and ``key`` (its record's key).
    records : dict
        The record of every key.
    n_cached : int, default=0
        Units read from the cache.
    elapsed : float, default=None
        Wall time of the run, in seconds.
    models : dict, default=None
        Fitted estimators by ``(dataset, method, split)``.

    Attributes
    ----------
    n_units : int
        Number of (data set, method, split) units.
    n_cached : int
        Units whose record was read from the cache.
    n_computed : int
        Units computed by this run (failed ones included).
    n_failed : int
        Units whose fit or scoring raised.
    elapsed : float or None
        Wall time of the run, in seconds.
    models : dict
        The fitted estimator of every unit computed by this run, by ``(dataset,
        method, split)``, when :func:`run_experiment` was called with
        ``return_models=True``; empty otherwise.
    """

    def __init__(self, units, records, *, n_cached=0, elapsed=None, models=None):
        self._units = list(units)
        self.models = {} if models is None else dict(models)
        self._records = dict(records)
        self.n_units = len(self._units)
        self.n_cached = int(n_cached)
        self.n_failed = sum(self._records[u["key"]]["status"] != "ok"
                            for u in self._units)
        self.n_computed = self.n_units - self.n_cached
        self.elapsed = elapsed
        self._rows = None

    def __repr__(self):
        return (f"<ExperimentResults: {self.n_units} units ({self.n_computed} computed, "
                f"{self.n_cached} cached, {self.n_failed} failed)>")

    @property
    def datasets(self):
        """Names of the data sets, in order."""
        return list(dict.fromkeys(u["dataset"] for u in self._units))

    @property
    def methods(self):
        """Names of the methods, in order."""
        return list(dict.fromkeys(u["method"] for u in self._units))

    @property
    def metrics(self):
        """Names of the recorded metrics, in order."""
        names = {}
        for u in self._units:
            names.update(dict.fromkeys(self._records[u["key"]]["scores"]))
        return list(names)

    def _greater_is_better(self, metric):
        for u in self._units:
            scores = self._records[u["key"]]["scores"]
            if metric in scores:
                return bool(scores[metric].get("greater_is_better", True))
        raise ValueError(f"Metric {metric!r} was not recorded; recorded: "
                         f"{self.metrics}.")

    def units(self, as_frame=None):
        """One row per unit: status, times, iterations, warnings, errors (no scores).

        Parameters
        ----------
        as_frame : bool or None, default=None
            Return a pandas DataFrame (None: when pandas is installed) or a list
            of dicts.

        Returns
        -------
        units : DataFrame or list of dict
        """
        columns = ("dataset", "method", "split", "status", *_UNIT_FIELDS, "warnings",
                   "key")
        rows = []
        for u in self._units:
            record = self._records[u["key"]]
            row = {"dataset": u["dataset"], "method": u["method"], "split": u["split"],
                   "status": record["status"], "key": u["key"],
                   "warnings": "; ".join(record.get("warnings") or [])}
            row.update({f: record.get(f) for f in _UNIT_FIELDS})
            rows.append(row)
        return _frame_or_records(rows, columns, as_frame)

    def failures(self, as_frame=None):
        """The units that raised, with the exception's type and message.

        Parameters
        ----------
        as_frame : bool or None, default=None
            Return a pandas DataFrame (None: when pandas is installed) or a list
            of dicts.

        Returns
        -------
        failures : DataFrame or list of dict
        """
        rows = [dict(row, traceback=self._records[row["key"]].get("traceback"))
                for row in self.units(as_frame=False) if row["status"] != "ok"]
        columns = ("dataset", "method", "split", "error_type", "error_message",
                   "traceback", "key")
        rows = [{c: row[c] for c in columns} for row in rows]
        return _frame_or_records(rows, columns, as_frame)

    def to_records(self):
        """The long table as a list of dicts (one per row, keys :data:`COLUMNS`).

        Returns
        -------
        rows : list of dict
        """
        if self._rows is None:
            self._rows = [row for u in self._units for row in self._unit_rows(u)]
        return [dict(row) for row in self._rows]

    def _unit_rows(self, unit):
        record = self._records[unit["key"]]
        base = {"dataset": unit["dataset"], "method": unit["method"],
                "split": unit["split"], "status": record["status"]}
        base.update({f: record.get(f) for f in _UNIT_FIELDS})
        if record["status"] != "ok":
            yield {c: base.get(c, None if c != "value" else float("nan"))
                   for c in COLUMNS}
            return
        names = record["task_names"]
        for metric, values in record["scores"].items():
            entries = [("task", name, v) for name, v in
                       zip(names, values["task"], strict=True)]
            entries += [(average, None, values[average]) for average in _AVERAGES]
            for average, task, value in entries:
                row = dict(base, metric=metric, average=average, task=task,
                           value=value)
                yield {c: row.get(c) for c in COLUMNS}

    def to_frame(self):
        """The long table as a pandas DataFrame (columns :data:`COLUMNS`).

        Returns
        -------
        frame : pandas.DataFrame
        """
        pd = _import_pandas("to_frame()")
        rows = self.to_records()
        frame = pd.DataFrame(rows, columns=list(COLUMNS))
        # Task names stay as given (not floats made by the aggregates' None).
        frame["task"] = pd.Series([r["task"] for r in rows], dtype=object)
        return _integer_columns(frame)

    def to_csv(self, path):
        """Write the long table to a CSV file.

        Parameters
        ----------
        path : str or path-like
            The file.
        """
        self.to_frame().to_csv(path, index=False)

    def to_parquet(self, path):
        """Write the long table to a Parquet file (needs pyarrow or fastparquet).

        Parameters
        ----------
        path : str or path-like
            The file.
        """
        frame = self.to_frame()
        # Task names may mix numbers and aggregates' None; Parquet wants one type.
        frame["task"] = frame["task"].map(lambda t: None if t is None else str(t))
        frame.to_parquet(path, index=False)

    def summary(self, *, average="macro", as_frame=None):
        """Mean and standard deviation over splits, per data set, method and metric.

        Parameters
        ----------
        average : {"macro", "micro"}, default="macro"
            Which aggregate over tasks to summarise: the mean over tasks, or the
            metric on all test labels pooled.
        as_frame : bool or None, default=None
            Return a pandas DataFrame (None: when pandas is installed) or a list
            of dicts.

        Returns
        -------
        summary : DataFrame or list of dict
            Columns ``dataset``, ``method``, ``metric``, ``mean``, ``std`` (over
            the splits scored, ``ddof=0``), ``n_splits`` (splits scored),
            ``n_failed`` (failed units) and ``fit_time`` (mean seconds).
        """
        if average not in _AVERAGES:
            raise ValueError(f"average must be 'macro' or 'micro', got {average!r}.")
        groups = {}
        for u in self._units:
            record = self._records[u["key"]]
            group = groups.setdefault((u["dataset"], u["method"]),
                                      {"failed": 0, "fit": [], "values": {}})
            if record["status"] != "ok":
                group["failed"] += 1
                continue
            group["fit"].append(record["fit_time"])
            for metric, values in record["scores"].items():
                group["values"].setdefault(metric, []).append(values[average])
        rows = []
        for (dataset, method), group in groups.items():
            fit_time = _mean_std(group["fit"])[0]
            metrics = group["values"] or {None: []}
            for metric, values in metrics.items():
                mean, std, n = _mean_std(values)
                rows.append({"dataset": dataset, "method": method, "metric": metric,
                             "mean": mean, "std": std, "n_splits": n,
                             "n_failed": group["failed"], "fit_time": fit_time})
        columns = ("dataset", "method", "metric", "mean", "std", "n_splits", "n_failed",
                   "fit_time")
        return _frame_or_records(rows, columns, as_frame)

    def format_summary(self, *, average="macro", digits=4):
        """The summary as a text table: methods in rows, ``mean ± std`` per metric.

        Parameters
        ----------
        average : {"macro", "micro"}, default="macro"
            Which aggregate over tasks to summarise.
        digits : int, default=4
            Decimals shown.

        Returns
        -------
        text : str
        """
        rows = self.summary(average=average, as_frame=False)
        metrics = [m for m in self.metrics]
        blocks = []
        for dataset in self.datasets:
            header = ["method", *[f"{m} ({average})" for m in metrics], "splits",
                      "failed", "fit (s)"]
            lines = []
            for method in self.methods:
                mine = [r for r in rows if r["dataset"] == dataset
                        and r["method"] == method]
                if not mine:
                    continue
                by_metric = {r["metric"]: r for r in mine}
                cells = [method]
                for m in metrics:
                    r = by_metric.get(m)
                    cells.append("-" if r is None or r["n_splits"] == 0 else
                                 f"{_fmt(r['mean'], digits)} ± {_fmt(r['std'], digits)}")
                cells += [max(r["n_splits"] for r in mine), mine[0]["n_failed"],
                          _fmt(mine[0]["fit_time"], 2)]
                lines.append(cells)
            title = f"{dataset}: mean ± std over splits"
            blocks.append(title + "\n" + _text_table(header, lines))
        return "\n\n".join(blocks)

    def _task_values(self, dataset, method, metric):
        """``{split: per-task values}`` of one method (successful units only)."""
        out = {}
        for u in self._units:
            if u["dataset"] != dataset or u["method"] != method:
                continue
            record = self._records[u["key"]]
            if record["status"] == "ok" and metric in record["scores"]:
                out[u["split"]] = record["scores"][metric]["task"]
        return out

    def _task_names(self, dataset):
        for u in self._units:
            record = self._records[u["key"]]
            if u["dataset"] == dataset and record["status"] == "ok":
                return record["task_names"]
        return []

    def transfer_report(self, baseline, *, metrics=None):
        """Per-task gains of every method over ``baseline``, and the average Δ.

        For every other method, metric and task, the gain of each split is the
        method's value minus the baseline's on that task and split, with the sign
        that makes a positive gain an improvement (for a loss, the baseline minus
        the method); the report gives its mean and standard deviation over the
        splits, and flags the tasks whose mean gain is negative (negative
        transfer). Δ is the average relative improvement of LibMTL (Lin & Zhang
        2023), ``100 * mean_{tasks, metrics} s (M_m - M_b) / |M_b|`` with ``s = +1``
        for a score and ``-1`` for a loss, per split, then its mean and standard
        deviation over splits. A value of the baseline equal to 0 leaves its task
        out of Δ; Δ is meaningful for metrics far from zero (an MSE, an accuracy),
        less for an R² near zero.

        Parameters
        ----------
        baseline : str
            The method to compare with (for example independent tasks).
        metrics : str or list of str, default=None
            Metrics to report (default: every recorded metric).

        Returns
        -------
        report : TransferReport
        """
        if baseline not in self.methods:
            raise ValueError(f"baseline {baseline!r} is not a method of this experiment; "
                             f"methods: {self.methods}.")
        if metrics is None:
            metrics = self.metrics
        elif isinstance(metrics, str):
            metrics = [metrics]
        signs = {m: 1.0 if self._greater_is_better(m) else -1.0 for m in metrics}
        task_rows, delta_rows = [], []
        for dataset in self.datasets:
            names = self._task_names(dataset)
            for method in self.methods:
                if method == baseline:
                    continue
                relative = {}  # split -> list of relative gains (tasks x metrics)
                for metric in metrics:
                    ours = self._task_values(dataset, method, metric)
                    base = self._task_values(dataset, baseline, metric)
                    splits = [s for s in ours if s in base]
                    for t, name in enumerate(names):
                        gains, mine, theirs = [], [], []
                        for s in splits:
                            a, b = ours[s][t], base[s][t]
                            if not (math.isfinite(a) and math.isfinite(b)):
                                continue
                            gains.append(signs[metric] * (a - b))
                            mine.append(a)
                            theirs.append(b)
                            if b != 0:
                                relative.setdefault(s, []).append(
                                    100.0 * signs[metric] * (a - b) / abs(b))
                        gain, gain_std, n = _mean_std(gains)
                        task_rows.append({
                            "dataset": dataset, "method": method, "metric": metric,
                            "task": name, "baseline": _mean_std(theirs)[0],
                            "value": _mean_std(mine)[0], "gain": gain,
                            "gain_std": gain_std, "n_splits": n,
                            "negative_transfer": bool(n and gain < 0)})
                per_split = [float(np.mean(v)) for v in relative.values() if v]
                delta, delta_std, n = _mean_std(per_split)
                mine = [r for r in task_rows if r["dataset"] == dataset
                        and r["method"] == method and r["n_splits"]]
                delta_rows.append({
                    "dataset": dataset, "method": method, "delta": delta,
                    "delta_std": delta_std, "n_splits": n,
                    "n_tasks": len({r["task"] for r in mine}),
                    "n_negative": sum(r["negative_transfer"] for r in mine)})
        return TransferReport(baseline, list(metrics), task_rows, delta_rows)

    def plot(self, metric=None, *, average="macro", dataset=None, ax=None):
        """Methods x metric: mean ± std over splits, one dot per split.

        Parameters
        ----------
        metric : str, default=None
            The metric (default: the first recorded).
        average : {"macro", "micro"}, default="macro"
            Which aggregate over tasks.
        dataset : str, default=None
            The data set (default: the first).
        ax : matplotlib Axes, default=None
            Where to draw (a new figure by default).

        Returns
        -------
        ax : matplotlib Axes
        """
        from ._plot import plot_summary

        return plot_summary(self, metric, average=average, dataset=dataset, ax=ax)


class TransferReport:
    """Per-task gains over a baseline and the average relative improvement Δ.

    Made by :meth:`ExperimentResults.transfer_report`.

    Parameters
    ----------
    baseline : str
        The method compared with.
    metrics : list of str
        The metrics of the report.
    tasks : list of dict
        One row per data set, method, metric and task: ``baseline`` and ``value``
        (mean over splits), ``gain`` and ``gain_std`` (positive is better),
        ``n_splits`` and ``negative_transfer`` (mean gain below zero).
    delta : list of dict
        One row per data set and method: ``delta`` and ``delta_std`` (Δ in
        percent, over splits), ``n_splits``, ``n_tasks`` and ``n_negative``
        (tasks x metrics with negative transfer).
    """

    def __init__(self, baseline, metrics, tasks, delta):
        self.baseline = baseline
        self.metrics = metrics
        self.tasks = tasks
        self.delta = delta

    def __repr__(self):
        return (f"<TransferReport against {self.baseline!r}: {len(self.delta)} "
                f"method(s), {len(self.tasks)} task rows>")

    def to_frame(self, which="tasks"):
        """The per-task rows (``"tasks"``) or the Δ rows (``"delta"``) as a DataFrame.

        Parameters
        ----------
        which : {"tasks", "delta"}, default="tasks"
            Which table.

        Returns
        -------
        frame : pandas.DataFrame
        """
        if which not in ("tasks", "delta"):
            raise ValueError(f"which must be 'tasks' or 'delta', got {which!r}.")
        pd = _import_pandas("to_frame()")
        return pd.DataFrame(self.tasks if which == "tasks" else self.delta)

    def negative_transfer(self):
        """The rows of the tasks where a method does worse than the baseline.

        Returns
        -------
        rows : list of dict
            Sorted from the largest loss.
        """
        return sorted((r for r in self.tasks if r["negative_transfer"]),
                      key=lambda r: r["gain"])

    def format(self, *, max_tasks=3, digits=4):
        """The report as text: Δ and tasks hurt per method, then the worst tasks.

        Parameters
        ----------
        max_tasks : int, default=3
            Tasks with negative transfer listed per method and metric.
        digits : int, default=4
            Decimals of the gains.

        Returns
        -------
        text : str
        """
        header = ["method", "Δ (%)", *[f"tasks hurt ({m})" for m in self.metrics]]
        hurt = self.negative_transfer()
        blocks = []
        for dataset in dict.fromkeys(r["dataset"] for r in self.delta):
            lines, notes = [], []
            for row in (r for r in self.delta if r["dataset"] == dataset):
                method = row["method"]
                cells = [method, f"{_fmt(row['delta'], 2)} ± {_fmt(row['delta_std'], 2)}"]
                for metric in self.metrics:
                    mine = [r for r in self.tasks if r["dataset"] == dataset
                            and r["method"] == method and r["metric"] == metric
                            and r["n_splits"]]
                    worst = [r for r in hurt if r["dataset"] == dataset
                             and r["method"] == method and r["metric"] == metric]
                    cells.append(f"{len(worst)}/{len(mine)}")
                    if worst and max_tasks:
                        listed = ", ".join(
                            f"{r['task']} ({_fmt(r['gain'], digits)} ± "
                            f"{_fmt(r['gain_std'], digits)})" for r in worst[:max_tasks])
                        notes.append(f"  {method}, worst tasks by {metric}: {listed}")
                lines.append(cells)
            title = (f"{dataset}: transfer against {self.baseline!r} (per-task gain > 0 "
                     "is better; Δ: average relative improvement, over splits)")
            blocks.append("\n".join([title, _text_table(header, lines), *notes]))
        return "\n\n".join(blocks)

    def __str__(self):
        return self.format()

    def plot(self, method, *, metric=None, dataset=None, ax=None):
        """Per-task gains of ``method``, sorted, with their spread over splits.

        Parameters
        ----------
        method : str
            The method compared with the baseline.
        metric : str, default=None
            The metric (default: the report's first).
        dataset : str, default=None
            The data set (default: the first).
        ax : matplotlib Axes, default=None
            Where to draw (a new figure by default).

        Returns
        -------
        ax : matplotlib Axes
        """
        from ._plot import plot_task_gains

        return plot_task_gains(self, method, metric=metric, dataset=dataset, ax=ax)
