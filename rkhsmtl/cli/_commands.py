"""``rkhsmtl fit``, ``predict`` and ``evaluate``: models of a user's data file."""

from __future__ import annotations

import argparse
import sys
import time
import warnings

import numpy as np

from ._io import (
    MODEL_FORMAT,
    MODEL_FORMAT_VERSION,
    CommandError,
    features_matrix,
    fit_layout,
    import_pandas,
    layout_of,
    load_model,
    long_tasks,
    read_frame,
    save_model,
    select_columns,
    targets_matrix,
    write_frame,
)
from ._main import Command
from ._models import MODELS, TaskCenteredRegressor, build_estimator, parse_param

__all__ = ["EVALUATE", "FIT", "PREDICT"]

_DATA_HELP = ("CSV file (.csv, or compressed: .csv.gz, ...) or Parquet file "
              "(.parquet), with a header row")


def _list(names, limit=12):
    names = [str(n) for n in names]
    return ", ".join(names[:limit]) + (f", ... ({len(names)} in all)"
                                       if len(names) > limit else "")


def _first_line(exc):
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _final(estimator):
    """The last step of a saved estimator (a Pipeline when standardised)."""
    steps = getattr(estimator, "steps", None)
    return steps[-1][1] if steps else estimator


def _describe(model):
    """``Class(param=value, ...)`` with the parameters that differ from the defaults."""
    from sklearn.base import clone

    defaults = type(model)().get_params(deep=False)
    changed = {k: v for k, v in clone(model).get_params(deep=False).items()
               if repr(v) != repr(defaults.get(k))}
    inner = ", ".join(f"{k}={v!r}" for k, v in changed.items())
    return f"{type(model).__name__}({inner})"


# -- fit -------------------------------------------------------------------------------

def _add_fit_arguments(parser):
    parser.add_argument("data", metavar="DATA", help=_DATA_HELP)
    parser.add_argument("--model", default="ridge",
                        help=f"the estimator: {', '.join(MODELS)} (default: ridge, "
                             "MultiTaskKernelRidge)")
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                        help="a parameter of the model, repeatable; VALUE is a Python "
                             "literal (alpha=0.1, kernel='linear', "
                             "task_structure='mean_regularized', "
                             "task_structure__strength=10); other text is a string")
    long = parser.add_argument_group("long layout (one row per measurement)")
    long.add_argument("--target", metavar="COL", help="the label column")
    long.add_argument("--task", metavar="COL", help="the task column")
    wide = parser.add_argument_group("wide layout (one label column per task)")
    wide.add_argument("--targets", metavar="COLS",
                      help="the label columns, comma-separated, or a pattern such as "
                           "'score_*'; an empty cell is a missing label")
    parser.add_argument("--features", metavar="COLS",
                        help="the input columns, comma-separated or patterns (default: "
                             "every other numeric column)")
    parser.add_argument("--standardize", action=argparse.BooleanOptionalAction,
                        default=True,
                        help="scale every feature to mean 0 and variance 1 before the "
                             "model (a scikit-learn Pipeline with StandardScaler; "
                             "default: on)")
    parser.add_argument("--center", action=argparse.BooleanOptionalAction,
                        default=True,
                        help="regression models without an intercept (ridge): fit "
                             "the labels minus each task's mean, added back to the "
                             "predictions (default: on)")
    parser.add_argument("-o", "--output", default="model.joblib", metavar="PATH",
                        help="where to save the fitted model (default: model.joblib)")


def _fit(args):
    pd = import_pandas()
    from sklearn.base import is_classifier

    from .. import __version__

    params = dict(parse_param(p) for p in args.param)
    short, model, estimator = build_estimator(args.model, params, args.standardize,
                                              center=args.center)
    centered = isinstance(_final(estimator), TaskCenteredRegressor)
    regression = not is_classifier(model)
    frame = read_frame(args.data)
    layout, skipped = fit_layout(frame, target=args.target, task=args.task,
                                 targets=args.targets, features=args.features)
    X = features_matrix(frame, layout)
    row_tasks = None
    if layout.kind == "long":
        tasks, row_tasks = long_tasks(frame, layout)
    else:
        tasks = list(layout.targets)
    Y = targets_matrix(frame, layout, tasks, regression, row_tasks)
    # Named columns: the fitted model's tasks_ are the task names.
    Y = pd.DataFrame(Y, columns=pd.Index(tasks, dtype=object))
    out = sys.stdout
    if layout.kind == "long":
        print(f"Data: {args.data}, long layout: {X.shape[0]} rows, {len(tasks)} tasks "
              f"(column {layout.task_column!r}), target {layout.target!r}.", file=out)
    else:
        observed = int(Y.notna().to_numpy().sum())
        print(f"Data: {args.data}, wide layout: {X.shape[0]} rows, {len(tasks)} tasks "
              f"({observed} labels; empty cells are missing labels).", file=out)
    scaled = " (standardised)" if args.standardize else ""
    print(f"Features ({len(layout.features)}){scaled}: {_list(layout.features)}",
          file=out)
    if skipped:
        print(f"Not numeric, left out of the features: {_list(skipped)}", file=out)
    print(f"Model: {_describe(model)}", file=out, flush=True)
    start = time.perf_counter()
    try:
        estimator.fit(X, Y)
    except ValueError as exc:
        raise CommandError(f"{type(model).__name__} could not be fitted: "
                           f"{_first_line(exc)}") from None
    seconds = time.perf_counter() - start
    fitted = _final(estimator)
    solver = getattr(fitted, "solver_", "-")
    n_iter = getattr(fitted, "n_iter_", "-")
    print(f"Fitted in {seconds:.2f} s: n={X.shape[0]}, T={len(tasks)}, "
          f"solver_={solver}, n_iter_={n_iter}.", file=out)
    if centered:
        means = ", ".join(f"{m:.4g}" for m in fitted.task_means_[:8])
        more = ", ..." if len(tasks) > 8 else ""
        print(f"Labels centred per task (the model has no intercept): means {means}"
              f"{more}, added back to the predictions.", file=out)
    bundle = {
        "format": MODEL_FORMAT,
        "format_version": MODEL_FORMAT_VERSION,
        "rkhsmtl_version": __version__,
        "estimator": estimator,
        "model": short,
        "params": params,
        "standardize": bool(args.standardize),
        "center": centered,
        "kind": "regression" if regression else "classification",
        "layout": layout.kind,
        "features": list(layout.features),
        "target": layout.target,
        "task_column": layout.task_column,
        "targets": layout.targets,
        "tasks": list(tasks),
        "n_samples": int(X.shape[0]),
        "data": str(args.data),
    }
    save_model(args.output, bundle)
    print(f"Saved to {args.output}", file=out)
    return 0


FIT = Command(
    name="fit",
    help="fit a model on a data file (CSV or Parquet) and save it",
    description="Fit a multi-task model on a CSV or Parquet file in the long layout "
                "(--target and --task: one row per measurement) or the wide layout "
                "(--targets: one label column per task, an empty cell for a missing "
                "label), and save it with what predict and evaluate need (joblib).",
    add_arguments=_add_fit_arguments,
    run=_fit,
)


# -- predict ---------------------------------------------------------------------------

def _model_data(args):
    """The saved model, its layout, the data file and its feature matrix."""
    bundle = load_model(args.model)
    layout = layout_of(bundle)
    frame = read_frame(args.data)
    X = features_matrix(frame, layout)
    return bundle, layout, frame, X


def _call(estimator, method, X, **kwargs):
    try:
        return getattr(estimator, method)(X, **kwargs)
    except ValueError as exc:
        raise CommandError(f"{method} failed: {_first_line(exc)}") from None


def _add_predict_arguments(parser):
    parser.add_argument("model", metavar="MODEL", help="a model saved by rkhsmtl fit")
    parser.add_argument("data", metavar="DATA",
                        help=_DATA_HELP + ", with the model's feature columns (and its "
                                          "task column in the long layout)")
    parser.add_argument("-o", "--output", default=None, metavar="PATH",
                        help="predictions file, .csv or .parquet (default: CSV on "
                             "standard output)")
    parser.add_argument("--keep", metavar="COLS",
                        help="columns of DATA copied into the output first (e.g. an id)")
    parser.add_argument("--proba", action="store_true",
                        help="classifiers: the probability of each task's positive "
                             "class (its second class, sorted) instead of the label")


def _predict(args):
    pd = import_pandas()
    bundle, layout, frame, X = _model_data(args)
    if args.proba and bundle["kind"] != "classification":
        raise CommandError("--proba needs a classifier; this model is a regressor")
    keep = select_columns(frame, args.keep, "--keep") if args.keep else []
    method = "predict_proba" if args.proba else "predict"
    estimator = bundle["estimator"]
    result = frame[keep].copy()
    if layout.kind == "long":
        _, row_tasks = long_tasks(frame, layout, bundle["tasks"])
        values = _call(estimator, method, X, task=row_tasks)
        name = "probability" if args.proba else "prediction"
        if name in keep:
            raise CommandError(f"--keep: column {name!r} is the predictions' column")
        if layout.task_column not in keep:
            result[layout.task_column] = frame[layout.task_column]
        result[name] = np.asarray(values)
    else:
        values = np.asarray(_call(estimator, method, X))
        names = [str(t) for t in bundle["tasks"]]
        clash = [c for c in keep if c in names]
        if clash:
            raise CommandError(f"--keep: {_list(clash)} are also prediction columns (one "
                               "per task)")
        result = pd.concat([result, pd.DataFrame(values, columns=names,
                                                 index=result.index)], axis=1)
    write_frame(result, args.output, sys.stdout)
    if args.output is not None:
        print(f"Predictions of {len(result)} rows ({len(bundle['tasks'])} tasks, "
              f"{layout.kind} layout) written to {args.output}")
    return 0


PREDICT = Command(
    name="predict",
    help="predict with a saved model on a data file",
    description="Predict with a model saved by rkhsmtl fit, on a data file in the "
                "layout of the fit: long -> one prediction per row, for the row's own "
                "task; wide -> one column per task.",
    add_arguments=_add_predict_arguments,
    run=_predict,
)


# -- evaluate --------------------------------------------------------------------------

def _add_evaluate_arguments(parser):
    parser.add_argument("model", metavar="MODEL", help="a model saved by rkhsmtl fit")
    parser.add_argument("data", metavar="DATA",
                        help=_DATA_HELP + ", with the labels in the layout of the fit")
    parser.add_argument("-o", "--output", default=None, metavar="PATH",
                        help="also write the table to this file (.csv or .parquet)")


def _metric_table(bundle, X, Y):
    """Rows (task, n, metric values...) for every task, then the two aggregates."""
    from sklearn.exceptions import UndefinedMetricWarning

    from .. import metrics

    estimator = bundle["estimator"]
    if bundle["kind"] == "regression":
        P = np.asarray(_call(estimator, "predict", X), dtype=np.float64)
        named = {"MSE": (metrics.mean_squared_error, P, {}),
                 "R2": (metrics.r2_score, P, {}),
                 "explained variance": (metrics.explained_variance_score, P, {})}
    else:
        classes = _final(estimator).classes_
        labels = _call(estimator, "predict", X)
        scores = _call(estimator, "decision_function", X)
        named = {"accuracy": (metrics.accuracy_score, labels, {"classes": classes}),
                 "ROC AUC": (metrics.roc_auc_score, scores, {"classes": classes})}
    missing = np.array([[v is None or v != v for v in row] for row in Y]) \
        if Y.dtype == object else np.isnan(Y)
    counts = (~missing).sum(axis=0)
    columns = {}
    with warnings.catch_warnings():
        # An undefined value is shown as "-" and explained below the table.
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        for name, (metric, pred, kwargs) in named.items():
            values = [np.asarray(metric(Y, pred, average=None, **kwargs), dtype=float)]
            values += [[metric(Y, pred, average=a, **kwargs)] for a in ("macro", "micro")]
            columns[name] = np.concatenate([np.asarray(v, dtype=float) for v in values])
    tasks = [str(t) for t in bundle["tasks"]] + ["mean over tasks", "all labels pooled"]
    n = np.concatenate([counts, [counts.sum(), counts.sum()]])
    return tasks, n, columns


def _format(value):
    return "-" if not np.isfinite(value) else f"{value:.4g}"


def _evaluate(args):
    pd = import_pandas()
    bundle, layout, frame, X = _model_data(args)
    regression = bundle["kind"] == "regression"
    row_tasks = None
    if layout.kind == "long":
        _, row_tasks = long_tasks(frame, layout, bundle["tasks"])
    Y = targets_matrix(frame, layout, bundle["tasks"], regression, row_tasks)
    tasks, n, columns = _metric_table(bundle, X, Y)
    width = max(len(t) for t in tasks + ["task"])
    header = f"{'task':<{width}} {'n':>7}" + "".join(f" {c:>18}" for c in columns)
    print(header)
    print("-" * len(header))
    for i, task in enumerate(tasks):
        if i == len(tasks) - 2:
            print("-" * len(header))
        print(f"{task:<{width}} {int(n[i]):>7}"
              + "".join(f" {_format(v[i]):>18}" for v in columns.values()))
    if any(not np.isfinite(v).all() for v in columns.values()):
        why = ("fewer than two labels of the task" if regression
               else "a single class among the task's labels")
        print(f"- : undefined ({why}); the mean is over the other tasks.")
    if args.output is not None:
        table = pd.DataFrame({"task": tasks, "n": n.astype(int)})
        for name, values in columns.items():
            table[name.replace(" ", "_")] = values
        write_frame(table, args.output, sys.stdout)
        print(f"Table written to {args.output}")
    return 0


EVALUATE = Command(
    name="evaluate",
    help="score a saved model on a labelled data file",
    description="Score a model saved by rkhsmtl fit on a labelled data file in the "
                "layout of the fit: per task, their mean, and all labels pooled "
                "(regression: MSE, R2, explained variance; classification: accuracy, "
                "ROC AUC). Missing labels are left out.",
    add_arguments=_add_evaluate_arguments,
    run=_evaluate,
)
