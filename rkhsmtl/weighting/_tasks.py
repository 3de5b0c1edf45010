"""Per-task density ratios on a pool of examples, optionally cross-fitted."""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.base import clone
from sklearn.utils import check_random_state
from sklearn.utils.parallel import Parallel, delayed

from .._backend import array_device, get_namespace, to_namespace, to_numpy
from ._discriminative import TaskPosteriorRatio

__all__ = ["is_task_ratio_estimator", "task_density_ratios", "task_folds"]


def is_task_ratio_estimator(estimator):
    """Whether ``estimator`` returns all tasks' ratios at once (``fit(Z, task)``)."""
    return isinstance(estimator, TaskPosteriorRatio) or getattr(
        estimator, "_rkhsmtl_task_ratio", False)


def task_folds(task, n_tasks, cv, random_state, groups=None):
    """Fold of each row, stratified by task (each task spread round-robin).

    With ``groups`` (e.g. the row of ``X`` each pooled example comes from), all
    examples of a group share one fold, stratified by the task of the group's
    first example: copies of one input never end up on both sides of a split.

    Returns
    -------
    fold : ndarray of int, shape (n_samples,)
    """
    rng = check_random_state(random_state)
    if groups is not None:
        groups = np.asarray(groups)
        _, first, inverse = np.unique(groups, return_index=True,
                                           return_inverse=True)
        group_fold = task_folds(task[first], n_tasks, cv, rng)
        return group_fold[inverse.ravel()]
    fold = np.empty(task.shape[0], dtype=int)
    for t in range(n_tasks):
        rows = np.flatnonzero(task == t)
        fold[rows[rng.permutation(rows.size)]] = (rng.randint(cv) + np.arange(rows.size)) % cv
    return fold


def _fit_predict(weighting, Z_train, task_train, Z_eval, n_tasks, xp):
    """Fit on the training pool, return ``(R_eval (n_eval, T), fitted model(s))``."""
    if is_task_ratio_estimator(weighting):
        model = clone(weighting).fit(Z_train, task_train, n_tasks=n_tasks)
        return to_namespace(model.ratio(Z_eval), xp, array_device(Z_eval)), model
    task_np = to_numpy(task_train)
    models, columns = [], []
    for t in range(n_tasks):
        rows = xp.asarray(np.flatnonzero(task_np == t), device=array_device(Z_train))
        model = clone(weighting).fit(xp.take(Z_train, rows, axis=0), Z_train)
        columns.append(to_namespace(model.ratio(Z_eval), xp, array_device(Z_eval)))
        models.append(model)
    return xp.stack(columns, axis=1), models


def _cross_fitted_fold(weighting, Z, task, train, test, n_tasks):
    """Ratios of the ``test`` rows from a model fitted on the ``train`` rows."""
    # The namespace is found again here: a module does not travel to a worker.
    xp = get_namespace(Z)
    device = array_device(Z)
    Z_train = xp.take(Z, xp.asarray(train, device=device), axis=0)
    Z_eval = xp.take(Z, xp.asarray(np.concatenate([test, train]), device=device), axis=0)
    R_k, model = _fit_predict(weighting, Z_train, task[train], Z_eval, n_tasks, xp)
    R_k = xp.astype(R_k, xp.float64)
    # Fold models differ in scale; each is put on the scale where its own training
    # pool has mean ratio 1 before the folds are joined.
    train_mean = xp.mean(R_k[test.size:, :], axis=0)
    train_mean = xp.where(train_mean > 0, train_mean, xp.ones_like(train_mean))
    return R_k[:test.size, :] / train_mean[None, :], model


def task_density_ratios(Z, task, n_tasks, weighting, *, cv=None, random_state=None,
                        groups=None, n_jobs=None):
    """Raw density ratios ``r_t(z_i)`` of every pooled example for every task.

    Parameters
    ----------
    Z : array of shape (n_samples, n_features)
        Features of the pooled examples (``x`` or ``(x, y)``).
    task : ndarray of int, shape (n_samples,)
        Task of each example.
    n_tasks : int
        Number of tasks ``T``.
    weighting : estimator
        Either a task-ratio estimator (`TaskPosteriorRatio`: ``fit(Z, task)``,
        ``ratio(Z) -> (n, T)``) or a two-sample estimator (`ULSIF`, `RuLSIF`,
        `KLIEP`, `ClassifierDensityRatio`), fitted per task with the task's
        examples as numerator and the whole pool as denominator.
    cv : int or None, default=None
        ``None``: ratios of the training points from the model fitted on all of
        them. An integer ``k >= 2``: cross-fitting, the ratios of fold ``k`` come
        from a model fitted without fold ``k`` (folds stratified by task; every
        task needs at least 2 examples).
    random_state : int or None, default=None
        Seeds the folds.
    groups : array-like of shape (n_samples,) or None, default=None
        Examples sharing a group (copies of one input labelled for several tasks)
        are kept in one fold.
    n_jobs : int or None, default=None
        Number of cross-fitting folds fitted in parallel through joblib; the
        ratios do not depend on it.

    Returns
    -------
    R : array of shape (n_samples, n_tasks)
        Raw (unnormalised) ratios, in the namespace of ``Z``.
    models : list
        The fitted model(s) per fold (one element when ``cv`` is None). Each is the
        task-ratio estimator, or a list of ``n_tasks`` two-sample estimators.
    fold : ndarray of int or None
        Fold of each row.
    """
    xp = get_namespace(Z)
    device = array_device(Z)
    task = np.asarray(task, dtype=int)
    counts = np.bincount(task, minlength=n_tasks)
    if cv is None:
        R, model = _fit_predict(weighting, Z, task, Z, n_tasks, xp)
        return R, [model], None
    if isinstance(cv, bool) or not isinstance(cv, numbers.Integral) or cv < 2:
        raise ValueError(f"cv must be None or an integer >= 2, got {cv!r}.")
    if np.any(counts < 2):
        raise ValueError(
            f"Cross-fitting the weights needs at least 2 examples per task; task(s) "
            f"{np.flatnonzero(counts < 2).tolist()} have fewer. Use weighting_cv=None "
            "or drop those tasks.")
    fold = task_folds(task, n_tasks, int(cv), random_state, groups=groups)
    two_sample = not is_task_ratio_estimator(weighting)
    if two_sample:
        # A two-sample estimator selects its width/ridge by leave-one-out or
        # likelihood CV among the task's examples: two are needed in every
        # training part.
        short = sorted({t for k in range(int(cv)) for t in range(n_tasks)
                        if np.sum((fold != k) & (task == t)) < 2})
        if short:
            raise ValueError(
                f"{type(weighting).__name__} fits one ratio per task and needs at least "
                f"2 examples of each task in every cross-fitting training part; "
                f"task(s) {short} have too few for weighting_cv={int(cv)}. Use the "
                "discriminative weighting ('logistic'), fewer folds, or "
                "weighting_cv=None.")
    tests = [np.flatnonzero(fold == k) for k in range(int(cv))]
    tests = [test for test in tests if test.size]
    # The folds are independent fits: joblib runs them in parallel.
    fitted = Parallel(n_jobs=n_jobs)(
        delayed(_cross_fitted_fold)(weighting, Z, task, np.flatnonzero(fold != fold[test[0]]),
                                    test, n_tasks)
        for test in tests)
    blocks = [R_k for R_k, _ in fitted]
    models = [model for _, model in fitted]
    order = tests
    # Rows came fold by fold; put them back in the original order.
    inverse = np.argsort(np.concatenate(order))
    R = xp.take(xp.concat(blocks, axis=0), xp.asarray(inverse, device=device), axis=0)
    return R, models, fold
