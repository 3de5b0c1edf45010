"""NaN-aware multi-task binary classification metrics, computed on the host.

Labels may be strings, so these metrics work in NumPy: array-API inputs (scores of a
model fitted on a GPU, say) are copied to the host first. Each task is one binary
problem; its positive class is ``classes[t][1]``, the larger of its two sorted
classes unless ``classes`` is given. The micro average is each metric on one column
holding every observed ``(i, t)`` entry, encoded as positive / negative.
"""

from __future__ import annotations

import numpy as np

from .._backend import is_array, to_numpy
from .._labels import _as_label_array, _task_classes, missing_mask
from ._common import aggregate_tasks, check_average, micro_value

__all__ = ["accuracy_score", "f1_score", "log_loss", "roc_auc_score"]


def _labels_2d(Y, name):
    Y = _as_label_array(Y)
    if Y.ndim == 1:
        Y = Y.reshape(-1, 1)
    if Y.ndim != 2:
        raise ValueError(f"{name} must be 1-D or 2-D, got shape {Y.shape}.")
    if Y.dtype.kind == "f" and np.any(np.isinf(Y)):
        raise ValueError(f"{name} contains infinity; use NaN to mark a missing label.")
    return Y


def _check_same_shape(Y_true, other, name):
    if Y_true.shape != other.shape:
        raise ValueError(
            f"Y_true and {name} have different shapes: {Y_true.shape} and {other.shape}."
        )


def normalize_classes(classes, n_tasks, *, binary=True):
    """``classes`` as a list of ``n_tasks`` arrays of the tasks' labels.

    Accepts a list of per-task arrays (a multi-task classifier's ``classes_``), an
    array of shape (n_tasks, n_classes), or one array of labels when there is one
    task (a classifier fitted on a 1-D ``y``). With ``binary`` every task must
    have two classes, or one (a task the classifier saw with a single class: that
    class is the positive one, any other label the negative one); otherwise any
    non-zero number.
    """
    def scalars(values):
        return all(np.ndim(c) == 0 for c in values)

    if isinstance(classes, np.ndarray) and classes.ndim == 1 and (
            classes.dtype != object or (not binary and scalars(classes))):
        classes = [classes]
    elif isinstance(classes, np.ndarray) and classes.ndim == 2:
        classes = list(classes)
    elif isinstance(classes, (list, tuple, np.ndarray)) and scalars(classes) and (
            len(classes) == 2 or not binary):
        classes = [np.asarray(classes)]
    classes = [np.asarray(c) for c in classes]
    if len(classes) != n_tasks:
        raise ValueError(
            f"classes has {len(classes)} task(s) but the labels have {n_tasks}."
        )
    for t, c in enumerate(classes):
        if binary and c.shape not in ((2,), (1,)):
            raise ValueError(
                f"classes[{t}] must hold the task's two classes (or the one class of a "
                f"task seen with a single class), got {c.tolist()!r}."
            )
        if not binary and (c.ndim != 1 or c.size == 0):
            raise ValueError(
                f"classes[{t}] must be a non-empty 1-D list of the task's classes, "
                f"got {c.tolist()!r}."
            )
    return classes


def _task_label_classes(Y_true, missing, others, classes, binary=True):
    """Per-task classes: given, or the sorted observed labels (1 or 2 of them)."""
    n_tasks = Y_true.shape[1]
    if classes is not None:
        return normalize_classes(classes, n_tasks, binary=binary)
    found = []
    for t in range(n_tasks):
        pieces = [Y_true[~missing[:, t], t]] + [o[:, t] for o in others]
        column = np.concatenate([np.asarray(p, dtype=object) for p in pieces])
        task_classes = (_task_classes(column, np.ones(column.shape, dtype=bool), t)
                        if column.size else np.asarray([]))
        if task_classes.size > 2:
            raise ValueError(
                f"Each task must be binary: task {t} has {task_classes.size} classes "
                f"({task_classes.tolist()[:5]}) among its labels and predictions. Pass "
                "`classes` to score against known classes."
            )
        found.append(task_classes)
    return found


def _encode(values, task_classes, t, name):
    """1.0 for the positive class, 0.0 for the other; unknown labels raise.

    With more than two classes (accuracy only), the index of each label among
    ``task_classes``: equal codes are equal labels, which is all accuracy needs.
    """
    if task_classes.size == 2:
        positive = values == task_classes[1]
        known = positive | (values == task_classes[0])
    elif task_classes.size == 1:
        # One class known (a task the classifier skipped, having seen only this
        # class): it is the positive class, and any other label is the negative one.
        positive = values == task_classes[0]
        known = np.ones(values.shape, dtype=bool)
    elif task_classes.size > 2:
        codes = np.full(values.shape, -1.0)
        for k, label in enumerate(task_classes):
            codes[values == label] = k
        positive, known = codes, codes >= 0
    else:
        positive = known = np.zeros(values.shape, dtype=bool)
    if not np.all(known):
        unknown = np.unique(np.asarray(values[~known], dtype=str))[:5].tolist()
        raise ValueError(
            f"{name} has label(s) {unknown} in task {t} not among its classes "
            f"{task_classes.tolist()}."
        )
    return positive.astype(np.float64)


def _weights(sample_weight, shape, observed):
    if sample_weight is None:
        W = np.ones(shape)
    else:
        W = np.asarray(to_numpy(sample_weight) if is_array(sample_weight)
                       else sample_weight, dtype=np.float64)
        if W.ndim == 1 and W.shape[0] == shape[0]:
            W = np.broadcast_to(W[:, None], shape)
        if W.shape != shape:
            raise ValueError(
                f"sample_weight has shape {W.shape}; expected ({shape[0]},) or {shape}."
            )
        if not np.all(np.isfinite(W)) or np.any(W < 0):
            raise ValueError("sample_weight must be finite and non-negative.")
    return np.where(observed, W, 0.0)


def _prepare_labels(Y_true, Y_pred, classes, sample_weight, binary=True):
    """(truth, prediction) as 0/1 "is positive" arrays (class indices for more than
    two given classes), weights, per-task classes."""
    Yt = _labels_2d(Y_true, "Y_true")
    Yp = _labels_2d(Y_pred, "Y_pred")
    _check_same_shape(Yt, Yp, "Y_pred")
    if np.any(missing_mask(Yp)):
        raise ValueError("Y_pred contains missing values (NaN / None); predictions "
                         "must be complete.")
    missing = missing_mask(Yt)
    task_classes = _task_label_classes(Yt, missing, [Yp], classes, binary=binary)
    truth = np.zeros(Yt.shape)
    pred = np.zeros(Yt.shape)
    for t, c in enumerate(task_classes):
        observed = ~missing[:, t]
        truth[observed, t] = _encode(Yt[observed, t], c, t, "Y_true")
        pred[:, t] = _encode(Yp[:, t], c, t, "Y_pred")
    W = _weights(sample_weight, Yt.shape, ~missing)
    return truth, pred, W, task_classes


def _prepare_scores(Y_true, Y_score, classes, sample_weight, probability):
    Yt = _labels_2d(Y_true, "Y_true")
    name = "Y_proba" if probability else "Y_score"
    S = Y_score
    if is_array(S) and not isinstance(S, np.ndarray):
        S = to_numpy(S)
    try:
        S = np.asarray(S, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric: {exc}") from exc
    if S.ndim == 1:
        S = S.reshape(-1, 1)
    _check_same_shape(Yt, S, name)
    if np.any(np.isnan(S)):
        raise ValueError(f"{name} contains NaN.")
    if probability and (np.any(S < 0) or np.any(S > 1)):
        raise ValueError(
            f"{name} must hold probabilities of the positive class, in [0, 1]; got "
            f"values in [{S.min():.6g}, {S.max():.6g}]."
        )
    missing = missing_mask(Yt)
    task_classes = _task_label_classes(Yt, missing, [], classes)
    truth = np.zeros(Yt.shape)
    for t, c in enumerate(task_classes):
        observed = ~missing[:, t]
        truth[observed, t] = _encode(Yt[observed, t], c, t, "Y_true")
    W = _weights(sample_weight, Yt.shape, ~missing)
    known = np.array([c.size == 2 for c in task_classes])
    return truth, S, W, known


def _accuracy_columns(truth, pred, W, known):
    wsum = W.sum(axis=0)
    defined = wsum > 0
    correct = (W * (truth == pred)).sum(axis=0)
    return np.where(defined, correct / np.where(defined, wsum, 1.0), np.nan), defined


def _f1_columns(truth, pred, W, known):
    tp = (W * truth * pred).sum(axis=0)
    fp = (W * (1 - truth) * pred).sum(axis=0)
    fn = (W * truth * (1 - pred)).sum(axis=0)
    denominator = 2 * tp + fp + fn
    defined = known & (denominator > 0)
    value = 2 * tp / np.where(defined, denominator, 1.0)
    return np.where(defined, value, np.nan), defined


def _roc_auc_columns(truth, S, W, known):
    n_tasks = truth.shape[1]
    values = np.full(n_tasks, np.nan)
    defined = np.zeros(n_tasks, dtype=bool)
    for t in range(n_tasks):
        keep = W[:, t] > 0
        w, y, s = W[keep, t], truth[keep, t], S[keep, t]
        # Mann-Whitney form of the area under the (weighted) ROC curve: every
        # positive-negative pair counts 1 if ordered right and 1/2 if tied.
        _, group = np.unique(s, return_inverse=True)
        pos = np.bincount(group, weights=w * y)
        neg = np.bincount(group, weights=w * (1 - y))
        total_pos, total_neg = pos.sum(), neg.sum()
        if total_pos > 0 and total_neg > 0:
            below = np.cumsum(neg) - neg
            values[t] = np.sum(pos * (below + 0.5 * neg)) / (total_pos * total_neg)
            defined[t] = True
    return values, defined


def _log_loss_columns(truth, P, W, known):
    eps = np.finfo(P.dtype).eps
    P = np.clip(P, eps, 1 - eps)
    loss = -(truth * np.log(P) + (1 - truth) * np.log1p(-P))
    wsum = W.sum(axis=0)
    defined = known & (wsum > 0)
    value = (W * loss).sum(axis=0) / np.where(defined, wsum, 1.0)
    return np.where(defined, value, np.nan), defined


def _finish(columns, what, why, A, B, W, known, average):
    if average == "micro":
        value, defined = columns(A.reshape(-1, 1), B.reshape(-1, 1), W.reshape(-1, 1),
                                 np.array([bool(np.all(known))]))
        return micro_value(value[0], defined[0], what, why, stacklevel=4)
    values, defined = columns(A, B, W, known)
    return aggregate_tasks(np, values, defined, average, what, why, stacklevel=4)


_LABEL_HEAD = """
    Parameters
    ----------
    Y_true : array-like of shape (n_samples,) or (n_samples, n_tasks)
        True labels: per task two classes (numbers, bools or strings); NaN, None or
        ``pandas.NA`` mark a missing label.
    Y_pred : array-like of the same shape
        Predicted labels (complete).
    sample_weight : array-like of shape (n_samples,) or (n_samples, n_tasks), \
default=None
        Non-negative weights; entries with zero weight count as not observed.
    average : {"macro", "micro"} or None, default="macro"
        ``"macro"``: mean of the per-task values over the tasks where the metric is
        defined (the others are named in an ``UndefinedMetricWarning``; NaN if none
        is). ``"micro"``: the metric on all observed ``(i, t)`` entries pooled.
        ``None``: the per-task values, NaN where undefined.
"""

_RETURNS = """
    Returns
    -------
    score : float or ndarray of shape (n_tasks,)
"""

_LABEL_PARAMETERS = _LABEL_HEAD + """\
    classes : list of array-like of shape (2,), default=None
        The two classes of each task (a fitted classifier's ``classes_``); the
        positive class is ``classes[t][1]``. By default the sorted labels seen in
        ``Y_true`` and ``Y_pred``. Labels outside the classes raise a ValueError.
""" + _RETURNS

# Accuracy needs no positive class: given classes may be any number per task.
_ACCURACY_PARAMETERS = _LABEL_HEAD + """\
    classes : list of array-like of shape (n_classes_t,), default=None
        The classes of each task (a fitted classifier's ``classes_``), any number
        of them (e.g. per-task multi-class classifiers). By default the sorted
        labels seen in ``Y_true`` and ``Y_pred``, which must then be at most two
        per task. Labels outside the classes raise a ValueError.
""" + _RETURNS

_SCORE_PARAMETERS = """
    Parameters
    ----------
    Y_true : array-like of shape (n_samples,) or (n_samples, n_tasks)
        True labels: per task two classes (numbers, bools or strings); NaN, None or
        ``pandas.NA`` mark a missing label.
    {name} : array-like of the same shape
        {what}
    sample_weight : array-like of shape (n_samples,) or (n_samples, n_tasks), \
default=None
        Non-negative weights; entries with zero weight count as not observed.
    average : {{"macro", "micro"}} or None, default="macro"
        ``"macro"``: mean of the per-task values over the tasks where the metric is
        defined (the others are named in an ``UndefinedMetricWarning``; NaN if none
        is). ``"micro"``: the metric on all observed ``(i, t)`` entries pooled.
        ``None``: the per-task values, NaN where undefined.
    classes : list of array-like of shape (2,), default=None
        The two classes of each task (a fitted classifier's ``classes_``); the
        positive class is ``classes[t][1]``. By default the sorted labels observed
        in ``Y_true``. Labels outside the classes raise a ValueError.

    Returns
    -------
    score : float or ndarray of shape (n_tasks,)
"""


def _append_doc(text):
    def decorate(function):
        function.__doc__ += text
        return function
    return decorate


@_append_doc(_ACCURACY_PARAMETERS)
def accuracy_score(Y_true, Y_pred, *, sample_weight=None, average="macro",
                   classes=None):
    """Fraction of correct predictions per task, on the observed entries.

    ``accuracy_t = sum_{O_t} w 1[y = yhat] / sum_{O_t} w`` over the observed entries
    ``O_t`` of task ``t`` (:func:`sklearn.metrics.accuracy_score` on its observed
    rows). Micro: the weighted fraction of correct entries among all observed
    entries, so tasks with more labels weigh more. Undefined for a task without an
    observed label of positive weight.
    """
    check_average(average)
    truth, pred, W, task_classes = _prepare_labels(Y_true, Y_pred, classes,
                                                   sample_weight, binary=False)
    known = np.array([c.size == 2 for c in task_classes])
    return _finish(_accuracy_columns, "Accuracy", "no observed label with positive "
                   "weight", truth, pred, W, known, average)


@_append_doc(_LABEL_PARAMETERS)
def f1_score(Y_true, Y_pred, *, sample_weight=None, average="macro", classes=None):
    """F1 score of each task's positive class, on the observed entries.

    With weighted counts over the observed entries of task ``t`` of true positives
    ``TP``, false positives ``FP`` and false negatives ``FN`` (positive meaning
    ``classes[t][1]``)::

        F1_t = 2 TP / (2 TP + FP + FN)

    (:func:`sklearn.metrics.f1_score` with ``pos_label=classes[t][1]`` on the task's
    observed rows). Undefined when ``2 TP + FP + FN = 0`` (no positive among the
    true and predicted labels), where scikit-learn returns 0.0 with a warning, and
    when only one class is seen and ``classes`` is not given (the positive class is
    then unknown). Micro: ``2 sum TP / (2 sum TP + sum FP + sum FN)`` with the counts
    summed over tasks, scikit-learn's micro F1 for multilabel indicators.
    """
    check_average(average)
    truth, pred, W, task_classes = _prepare_labels(Y_true, Y_pred, classes,
                                                   sample_weight)
    known = np.array([c.size == 2 for c in task_classes])
    return _finish(_f1_columns, "F1", "no positive label among the observed true and "
                   "predicted labels, or only one class seen without `classes`",
                   truth, pred, W, known, average)


@_append_doc(_SCORE_PARAMETERS.format(
    name="Y_score",
    what="Decision values or probabilities of each task's positive class (no NaN)."))
def roc_auc_score(Y_true, Y_score, *, sample_weight=None, average="macro",
                  classes=None):
    """Area under the ROC curve per task, on the observed entries.

    ``AUC_t`` is the weighted probability that a positive entry of task ``t``
    scores above a negative one (ties count one half)::

        AUC_t = sum_{i pos, j neg} w_i w_j (1[s_i > s_j] + 1[s_i = s_j] / 2)
                / (sum_{i pos} w_i  sum_{j neg} w_j)

    over the task's observed entries, which equals the area under its weighted ROC
    curve (:func:`sklearn.metrics.roc_auc_score` on its observed rows). Undefined for
    a task with a single observed class. Micro: the AUC of all observed ``(i, t)``
    decision values pooled, i.e. how well one threshold common to all tasks ranks
    every task's positives above every task's negatives. It mixes the tasks'
    score scales (a task whose scores are shifted lowers it even if it is ranked
    perfectly within itself); use probabilities for a comparable scale.
    """
    check_average(average)
    truth, S, W, known = _prepare_scores(Y_true, Y_score, classes, sample_weight,
                                         probability=False)
    return _finish(_roc_auc_columns, "ROC AUC", "a single class among the observed "
                   "labels", truth, S, W, known, average)


@_append_doc(_SCORE_PARAMETERS.format(
    name="Y_proba",
    what="Probabilities of each task's positive class, in [0, 1]."))
def log_loss(Y_true, Y_proba, *, sample_weight=None, average="macro", classes=None):
    """Binary cross-entropy per task, on the observed entries.

    With ``p`` the predicted probability of the positive class, clipped to
    ``[eps, 1 - eps]`` (``eps`` the machine epsilon of float64, as scikit-learn
    does) and ``y = 1`` for the positive class, 0 otherwise::

        logloss_t = - sum_{O_t} w (y log p + (1 - y) log(1 - p)) / sum_{O_t} w

    (:func:`sklearn.metrics.log_loss` on the task's observed rows). Micro: the
    weighted mean loss over all observed entries. Undefined for a task without an
    observed label of positive weight, or with a single observed class when
    ``classes`` is not given (which class ``p`` refers to is then unknown).
    Smaller is better.
    """
    check_average(average)
    truth, P, W, known = _prepare_scores(Y_true, Y_proba, classes, sample_weight,
                                         probability=True)
    return _finish(_log_loss_columns, "The log-loss", "no observed label with "
                   "positive weight, or one class seen without `classes`",
                   truth, P, W, known, average)

