"""Per-task binary labels in the wide layout: encode to +-1 with NaN, decode back.

Each column of ``Y`` is one binary task whose two classes may be numbers, bools or
strings; NaN, None or ``pandas.NA`` mark a missing label. Labels live on the host
(strings have no array-API dtype), so this module works in NumPy; callers move the
encoded float array to their compute namespace.

The positive class of a task is the larger of its two sorted classes, as in
scikit-learn (``classes_[1]``). A task may be let through with a single observed
class (:func:`encode_binary_tasks` with ``single_class="keep"``); its classes are
then the two labels of the whole ``Y`` when it has exactly two (a 0/1 indicator
matrix), else its one class, and its positive class is always ``classes[t][-1]``.
"""

from __future__ import annotations

import numpy as np

from ._validation import SPLITTER_ADVICE

__all__ = ["SINGLE_CLASS_TASKS", "encode_binary_tasks", "decode_binary_tasks",
           "missing_mask", "binarize_with_classes", "binary_task_weights",
           "check_both_classes_weighted", "check_class_weight",
           "check_single_class_tasks", "class_weight_matrix", "describe_tasks",
           "single_class_tasks", "skipped_intercepts"]

# The values of MultiTaskKernelClassifier's ``single_class_tasks``.
SINGLE_CLASS_TASKS = ("skip", "raise")


def _is_missing_scalar(value):
    if value is None:
        return True
    try:
        import pandas as pd

        if value is pd.NA or value is pd.NaT:
            return True
    except ImportError:  # pragma: no cover - pandas is optional
        pass
    try:
        return bool(np.isnan(value))
    except (TypeError, ValueError):
        return False


def _as_label_array(Y):
    """Y as a 1-D or 2-D NumPy array (object dtype when it is not numeric)."""
    from ._backend import is_array, to_numpy

    if is_array(Y) and not isinstance(Y, np.ndarray):
        Y = to_numpy(Y)
    if hasattr(Y, "to_numpy"):  # pandas: keep None / pd.NA as objects
        Y = Y.to_numpy()
    Y = np.asarray(Y)
    if Y.dtype.kind in "US":
        Y = Y.astype(object)
    return Y


def missing_mask(Y):
    """Boolean mask of the missing entries (NaN, None, ``pandas.NA``) of ``Y``."""
    Y = _as_label_array(Y)
    if Y.dtype.kind == "f":
        return np.isnan(Y)
    if Y.dtype.kind in "biu":
        return np.zeros(Y.shape, dtype=bool)
    return np.vectorize(_is_missing_scalar, otypes=[bool])(Y) if Y.size else \
        np.zeros(Y.shape, dtype=bool)


def _task_classes(column, observed, t):
    values = column[observed]
    try:
        classes = np.unique(values)
    except TypeError as exc:
        raise ValueError(
            f"Task {t} mixes label types that cannot be ordered: {exc}"
        ) from exc
    if classes.dtype == object:
        # np.unique on objects keeps e.g. 1 and True apart only by identity;
        # normalise to a plain dtype when the labels allow it.
        try:
            classes = np.asarray(classes.tolist())
        except (TypeError, ValueError):
            pass
    return classes


def _shared_pair(Y, missing):
    """The two labels of the whole ``Y`` if it has exactly two, else None."""
    try:
        labels = _task_classes(Y.ravel(), ~missing.ravel(), "all")
    except ValueError:  # label types that cannot be ordered together
        return None
    return labels if labels.size == 2 else None


def encode_binary_tasks(Y, *, single_class="raise"):
    """Encode per-task binary labels as +-1 with NaN for a missing label.

    Parameters
    ----------
    Y : array-like of shape (n_samples,) or (n_samples, n_tasks)
        Labels; every task needs two distinct observed classes, or at least one
        with ``single_class="keep"``.
    single_class : {"raise", "keep"}, default="raise"
        What to do with a task whose observed labels are all one class: raise a
        ValueError, or keep it. A kept task's classes are the two labels of the
        whole ``Y`` when it has exactly two (a 0/1 or True/False indicator matrix,
        so the task's other class is known), else its one class (an array of
        shape (1,)).

    Returns
    -------
    Y_pm : ndarray of shape (n_samples, n_tasks), float64
        +1 for the task's positive class (``classes[t][-1]``), -1 for the other,
        NaN where the label is missing.
    classes : list of ndarray of shape (2,) or (1,)
        The sorted classes of each task.
    was_1d : bool
        Whether ``Y`` was one-dimensional (a single task).
    """
    if Y is None:
        raise ValueError(
            "This estimator requires y to be passed, but the target y is None."
        )
    Y = _as_label_array(Y)
    if Y.ndim not in (1, 2):
        raise ValueError(
            f"Y must be 1-D or 2-D (n_samples, n_tasks), got shape {Y.shape}."
        )
    was_1d = Y.ndim == 1
    if was_1d:
        Y = Y.reshape(-1, 1)
    if Y.shape[1] < 1:
        raise ValueError("Y has no column: at least one task is needed.")
    if Y.dtype.kind == "f" and np.any(np.isinf(Y)):
        raise ValueError("Input Y contains infinity; use NaN to mark a missing label.")
    if Y.dtype.kind == "c":
        raise ValueError("Complex labels are not supported.")
    missing = missing_mask(Y)
    if Y.dtype.kind == "f":
        values = Y[~missing]
        if values.size and np.any(values != np.round(values)):
            raise ValueError(
                "Unknown label type: continuous. Each task needs two classes (numbers, "
                "bools or strings); real-valued targets are a regression problem "
                "(rkhsmtl.MultiTaskKernelRidge)."
            )
    n, T = Y.shape
    Y_pm = np.full((n, T), np.nan)
    classes = []
    shared = ()  # not looked for yet
    for t in range(T):
        observed = ~missing[:, t]
        if not observed.any():
            raise ValueError(
                f"Task {t} has no observed label (all-missing column of Y). Drop the "
                f"column or provide labels for it. {SPLITTER_ADVICE}"
            )
        task_classes = _task_classes(Y[:, t], observed, t)
        if task_classes.size == 1 and single_class == "keep":
            if isinstance(shared, tuple):
                shared = _shared_pair(Y, missing)
            if shared is not None:
                task_classes = shared
        elif task_classes.size != 2:
            what = ("only one class" if task_classes.size == 1
                    else f"{task_classes.size} classes")
            raise ValueError(
                "Only binary classification is supported. Each task must be binary: "
                f"task {t} has {what} among its observed "
                f"labels ({task_classes.tolist()[:5]}). The classifier needs samples "
                "of exactly 2 classes per task; a multiclass problem can be written "
                "as one-vs-rest tasks."
                + (f" {SPLITTER_ADVICE}" if task_classes.size == 1 else "")
            )
        positive = Y[observed, t] == task_classes[-1]
        Y_pm[observed, t] = np.where(positive, 1.0, -1.0)
        classes.append(task_classes)
    return Y_pm, classes, was_1d


def binarize_with_classes(Y, classes):
    """Encode labels against known per-task classes (at score time).

    Labels not among a task's two classes raise; missing entries become NaN.

    Returns
    -------
    Y_pm : ndarray of shape (n_samples, n_tasks), float64
    """
    Y = _as_label_array(Y)
    if Y.ndim == 1:
        Y = Y.reshape(-1, 1)
    if Y.ndim != 2 or Y.shape[1] != len(classes):
        raise ValueError(
            f"Y has shape {Y.shape}; expected (n_samples, {len(classes)}) to match "
            f"the {len(classes)} task(s) seen in fit."
        )
    missing = missing_mask(Y)
    Y_pm = np.full(Y.shape, np.nan)
    for t, task_classes in enumerate(classes):
        observed = ~missing[:, t]
        values = Y[observed, t]
        positive = values == task_classes[-1]
        negative = values == task_classes[0]
        unknown = ~(positive | negative)
        if np.any(unknown):
            raise ValueError(
                f"Task {t} has label(s) {np.unique(values[unknown]).tolist()[:5]} not "
                f"seen in fit; its classes are {task_classes.tolist()}."
            )
        Y_pm[observed, t] = np.where(positive, 1.0, -1.0)
    return Y_pm


def decode_binary_tasks(positive, classes):
    """Map a boolean (n_samples, n_tasks) "is positive" array back to labels.

    The result has a common dtype of the classes (object when they differ). A
    task with a single class predicts it either way.
    """
    positive = np.asarray(positive, dtype=bool)
    columns = [np.where(positive[:, t], c[-1], c[0]) for t, c in enumerate(classes)]
    dtypes = {col.dtype for col in columns}
    if len(dtypes) == 1:
        return np.stack(columns, axis=1)
    out = np.empty(positive.shape, dtype=object)
    for t, col in enumerate(columns):
        out[:, t] = col
    return out


def _host(array):
    from ._backend import to_numpy

    return np.asarray(to_numpy(array), dtype=float)


def _broadcast_weights(sample_weight, shape):
    """Per-entry weights (host) from None, (n,) or (n, T) sample weights."""
    if sample_weight is None:
        return np.ones(shape)
    return np.broadcast_to(_host(sample_weight).reshape(shape[0], -1), shape)


def check_both_classes_weighted(Y_pm, sample_weight):
    """With an unpenalised intercept, a task seeing one class has no minimiser."""
    weights = _broadcast_weights(sample_weight, Y_pm.shape)
    for t in range(Y_pm.shape[1]):
        used = weights[:, t] > 0
        if not (np.any(used & (Y_pm[:, t] > 0)) and np.any(used & (Y_pm[:, t] < 0))):
            raise ValueError(
                f"Task {t} has labels of only one class with a positive sample weight; "
                "with fit_intercept=True its intercept would grow without bound. Give "
                "both classes a positive weight or set fit_intercept=False."
            )


def check_single_class_tasks(single_class_tasks):
    """Reject a ``single_class_tasks`` that is not "skip" or "raise"."""
    if not (isinstance(single_class_tasks, str)
            and single_class_tasks in SINGLE_CLASS_TASKS):
        raise ValueError(
            f"single_class_tasks must be one of {SINGLE_CLASS_TASKS}, got "
            f"{single_class_tasks!r}."
        )


def single_class_tasks(Y_pm, weights):
    """Tasks whose labels with a positive weight are all of one class.

    Parameters
    ----------
    Y_pm : ndarray of shape (n, T)
        Labels in {-1, +1}, NaN where missing.
    weights : ndarray of shape (n, T)
        Entry weights (host).

    Returns
    -------
    tasks : dict
        ``{t: sign}`` with ``sign`` +1.0 or -1.0, the encoded class of those
        labels. A task without any label of positive weight is not in it.
    """
    used = weights > 0
    positive = np.any(used & (Y_pm > 0), axis=0)
    negative = np.any(used & (Y_pm < 0), axis=0)
    return {int(t): 1.0 if positive[t] else -1.0
            for t in np.flatnonzero(positive != negative)}


def describe_tasks(tasks, names=None, limit=10):
    """``tasks`` (indices) for a message: by name when ``names`` are given."""
    tasks = [int(t) for t in tasks]
    if names is not None:
        names = _as_label_array(names).tolist()
    shown = [names[t] if names is not None else t for t in tasks[:limit]]
    text = ", ".join(repr(str(name)) if isinstance(name, str) else str(name)
                     for name in shown)
    if len(tasks) > limit:
        text += f" and {len(tasks) - limit} more"
    if names is not None and any(names[t] != t for t in tasks):
        text += f" (column{'s' if len(tasks) > 1 else ''} {describe_tasks(tasks)})"
    return text


def _the_class(classes, t, sign):
    label = classes[t][-1] if sign > 0 else classes[t][0]
    return label.item() if isinstance(label, np.generic) else label


def _raise_one_observed_class(one_class, classes, names):
    first = next(iter(one_class))
    raise ValueError(
        f"{len(one_class)} task(s) have only one class among their observed labels: "
        f"task(s) {describe_tasks(one_class, names)} (e.g. task {first} has only "
        f"{_the_class(classes, first, one_class[first])!r}). With "
        "single_class_tasks='raise' every task needs labels of both its classes; set "
        "single_class_tasks='skip' to fit the other tasks (a skipped task predicts "
        f"its one class), or drop these tasks. {SPLITTER_ADVICE}"
    )


def _raise_one_weighted_class(one_class, names):
    raise ValueError(
        f"{len(one_class)} task(s) have labels of only one class with a positive "
        "weight (sample_weight times class_weight): task(s) "
        f"{describe_tasks(one_class, names)}. With fit_intercept=True their "
        "intercept would grow without bound. Give both classes a positive weight, "
        "set fit_intercept=False, or set single_class_tasks='skip' to leave these "
        "tasks out of the fit."
    )


def _raise_all_one_class(one_class, classes, weighted):
    what = " with a positive weight" if weighted else ""
    if len(classes) == 1:
        raise ValueError(
            f"The labels{what} have only one class "
            f"({_the_class(classes, 0, one_class[0])!r}): a classifier needs samples "
            f"of 2 classes. {SPLITTER_ADVICE}"
        )
    raise ValueError(
        f"Every task has labels{what} of only one class: there is nothing to fit. "
        "single_class_tasks='skip' leaves such tasks out, but at least one task needs "
        f"samples of both its classes. {SPLITTER_ADVICE}"
    )


def check_class_weight(class_weight):
    """Reject a ``class_weight`` that is not None, "balanced", a dict or a list."""
    if not (class_weight is None or isinstance(class_weight, (str, dict, list, tuple))):
        raise ValueError(
            "class_weight must be None, 'balanced', a dict {class label: weight} "
            f"or a list of those (one per task), got {class_weight!r}."
        )
    if isinstance(class_weight, str) and class_weight != "balanced":
        raise ValueError(
            f"class_weight must be None, 'balanced', a dict or a list, got "
            f"{class_weight!r}."
        )


def _task_class_weight(spec, n_neg, n_pos, task_classes, t):
    """(weight of classes[0], weight of classes[1]) of one task."""
    if spec is None:
        return 1.0, 1.0
    if isinstance(spec, str) and spec == "balanced":
        total = n_neg + n_pos
        return total / (2.0 * n_neg), total / (2.0 * n_pos)
    if isinstance(spec, dict):
        weights = []
        for label in task_classes.tolist():
            value = spec.get(label, 1.0)
            if not (isinstance(value, (int, float)) and value >= 0):
                raise ValueError(
                    f"class_weight values must be numbers >= 0, got {value!r} for "
                    f"class {label!r}."
                )
            weights.append(float(value))
        return tuple(weights)
    raise ValueError(
        f"class_weight for task {t} must be None, 'balanced' or a dict "
        f"{{class label: weight}}, got {spec!r}."
    )


def class_weight_matrix(class_weight, Y_pm, classes, sample_weight=None, *,
                        allow_one_class=False):
    """Per-entry class weights (n, T) on the host.

    ``class_weight`` is None, "balanced" (per task: ``n_t / (2 n_tc)`` over its
    observed labels, counts weighted by ``sample_weight`` as in scikit-learn's
    ``compute_class_weight``, so that a weight of 2 equals a repeated row), a dict
    ``{label: weight}`` used for every task, or a list with one of these per task.
    "balanced" raises for a task with one class of positive weight, unless
    ``allow_one_class``: its labels then weigh 1 (there is nothing to balance).
    """
    n_tasks = Y_pm.shape[1]
    if isinstance(class_weight, (list, tuple)):
        if len(class_weight) != n_tasks:
            raise ValueError(
                f"class_weight is a list of {len(class_weight)} entries; expected one "
                f"per task ({n_tasks})."
            )
        specs = list(class_weight)
    else:
        specs = [class_weight] * n_tasks
        if isinstance(class_weight, dict):
            known = {label for c in classes for label in c.tolist()}
            unknown = [key for key in class_weight if key not in known]
            if unknown:
                raise ValueError(
                    f"class_weight has label(s) {unknown} that no task has; the "
                    f"classes are {[c.tolist() for c in classes]}."
                )
    weights = np.ones(Y_pm.shape)
    counts = _broadcast_weights(sample_weight, Y_pm.shape)
    for t, spec in enumerate(specs):
        positive = Y_pm[:, t] > 0
        negative = Y_pm[:, t] < 0
        n_neg, n_pos = counts[negative, t].sum(), counts[positive, t].sum()
        if isinstance(spec, str) and min(n_neg, n_pos) <= 0:
            if allow_one_class:
                continue
            raise ValueError(
                f"class_weight='balanced': a class of task {t} has zero total weight."
            )
        w_neg, w_pos = _task_class_weight(spec, n_neg, n_pos, classes[t], t)
        weights[positive, t] = w_pos
        weights[negative, t] = w_neg
    return weights


def binary_task_weights(Y_pm, classes, sample_weight, class_weight, fit_intercept,
                        single_class="raise", task_names=None):
    """Entry weights (n, T) on the host, and the tasks left out of the fit.

    With an unpenalised intercept a task whose labels of positive weight are all
    one class has no minimiser: its intercept grows without bound, and in the limit
    its loss vanishes, so the infimum is the problem without that task's entries.
    ``single_class="skip"`` fits exactly that limit (zero weights on the task),
    ``"raise"`` refuses it. Without an intercept the problem has a minimiser and
    such a task is fitted like the others.

    Parameters
    ----------
    Y_pm : ndarray of shape (n, T)
        Labels in {-1, +1}, NaN where missing (:func:`encode_binary_tasks`, with
        ``single_class="keep"`` for "skip").
    classes : list of ndarray
        The classes of each task.
    sample_weight : array of shape (n,) or (n, T) or None
        Validated sample weights (any namespace).
    class_weight : None, "balanced", dict or list
        See :func:`class_weight_matrix`.
    fit_intercept : bool
        Whether each task has an unpenalised intercept.
    single_class : {"raise", "skip"}, default="raise"
        "raise": every task needs both classes among its observed labels, and
        with an intercept among those of positive weight. "skip": with an
        intercept, a task with one class of positive weight is left out (zero
        weights); without one, a task with one observed class is fitted. Both
        raise when every task has a single class.
    task_names : sequence or None, default=None
        Names of the tasks, for the messages.

    Returns
    -------
    W : ndarray of shape (n, T)
        Sample weights times class weights, zero on the skipped tasks.
    skipped : dict
        ``{t: sign}`` for each skipped task: the encoded class (+1.0 or -1.0) of
        its labels, i.e. the sign of its intercept in the limit.
    """
    skip = single_class == "skip"
    n_tasks = Y_pm.shape[1]
    observed_one = single_class_tasks(Y_pm, np.ones(Y_pm.shape))
    if observed_one and not skip:
        _raise_one_observed_class(observed_one, classes, task_names)
    if len(observed_one) == n_tasks:
        _raise_all_one_class(observed_one, classes, weighted=False)
    W = np.array(_broadcast_weights(sample_weight, Y_pm.shape), dtype=float)
    if fit_intercept and not skip:
        # Named before "balanced" refuses a class of zero weight.
        one_class = single_class_tasks(Y_pm, W)
        if one_class:
            _raise_one_weighted_class(one_class, task_names)
    if class_weight is not None:
        W = W * class_weight_matrix(
            class_weight, Y_pm, classes,
            None if sample_weight is None else _host(sample_weight),
            allow_one_class=skip)
    if not fit_intercept:
        return W, {}
    skipped = single_class_tasks(Y_pm, W)
    if skipped and not skip:
        _raise_one_weighted_class(skipped, task_names)
    if len(skipped) == n_tasks:
        _raise_all_one_class(skipped, classes, weighted=True)
    W[:, list(skipped)] = 0.0
    return W, skipped


def skipped_intercepts(skipped, n_tasks):
    """The skipped tasks' indices and the limit of every intercept's shift (host).

    Returns
    -------
    indices : ndarray of shape (n_skipped,), int
        The skipped tasks, sorted.
    shift : ndarray of shape (n_tasks,)
        ``+inf`` (``-inf``) at a skipped task whose labels are its positive
        (negative) class, 0 elsewhere: added to the fitted intercepts, it gives the
        limit of the optimum, where the skipped tasks predict their one class with
        probability 1.
    """
    indices = np.asarray(sorted(skipped), dtype=np.intp)
    shift = np.zeros(n_tasks)
    for t, sign in skipped.items():
        shift[t] = sign * np.inf
    return indices, shift
