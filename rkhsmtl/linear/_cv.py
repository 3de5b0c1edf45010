"""Cross-validation of ``alpha`` (along warm-started paths) and ``l2``, then refit."""

from __future__ import annotations

import numbers
import warnings

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, MultiOutputMixin, RegressorMixin
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.model_selection import check_cv
from sklearn.utils.parallel import Parallel, delayed

from .._backend import array_device, get_namespace, to_namespace, to_numpy
from .._base import ShortcutParamsMixin, VersionedStateMixin
from .._delegate import RefitDelegateMixin, refit_method
from .._labels import check_both_classes_weighted, encode_binary_tasks
from .._validation import validate_sample_weight, validate_targets, validate_X_fit
from ..metrics import accuracy_score, nan_r2_score
from ..model_selection import MultiTaskStratifiedKFold
from ._datafits import DATAFITS
from ._estimators import (
    SOLVER_PARAMS_DOC,
    MultiTaskLinearClassifier,
    MultiTaskLinearRegressor,
)
from ._fista import loss_alpha_max, make_problem
from ._path import linear_path
from ._penalties import _check_real, resolve_penalty

__all__ = ["MultiTaskLinearClassifierCV", "MultiTaskLinearRegressorCV"]


def _fold_score(loss, Y_test, F):
    """Mean over tasks of R^2 (squared) or accuracy (logistic, Y in +-1) on the
    observed test entries; NaN when no task can be scored."""
    if loss == "squared":
        return nan_r2_score(Y_test, F)
    # A test fold may hold no label of a task: that task is left out (and a fold
    # without any label scores NaN), which the mean over folds handles.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        return accuracy_score(Y_test, np.where(F > 0, 1.0, -1.0),
                              classes=[np.array([-1.0, 1.0])] * Y_test.shape[1])



def _path_scores(X, Y, train, test, Y_test_host, sw_train, l2, alphas, penalty, loss,
                 fit_intercept, max_iter, tol, restart):
    """Validation scores of the ``alphas`` path fitted on one training fold."""
    # The namespace is found again here: a module does not travel to a worker.
    xp = get_namespace(X)
    device = array_device(X)
    tr = to_namespace(train, xp, device)
    te = to_namespace(test, xp, device)
    X_tr, X_te = xp.take(X, tr, axis=0), xp.take(X, te, axis=0)
    sw_tr = None if sw_train is None else to_namespace(sw_train, xp, device)
    _, coefs, intercepts, _ = linear_path(
        X_tr, xp.take(Y, tr, axis=0), penalty=penalty, loss=loss, alphas=alphas,
        l2=l2, sample_weight=sw_tr, fit_intercept=fit_intercept, max_iter=max_iter,
        tol=tol, restart=restart)
    return [_fold_score(loss, Y_test_host,
                        to_numpy(X_te @ coefs[j, ...].T + intercepts[j, ...][None, :]))
            for j in range(alphas.size)]

class _LinearCVBase(RefitDelegateMixin, VersionedStateMixin, ShortcutParamsMixin,
                    MultiOutputMixin, BaseEstimator):
    _loss = "squared"
    _estimator = MultiTaskLinearRegressor
    # Read by DistributionMatchingMTL: fit takes a wide y with NaN and an
    # (n_samples, n_tasks) sample_weight.
    _accepts_wide_targets = True

    def __init__(self, penalty="l21", *, alphas=None, n_alphas=20, alpha_min_ratio=1e-3,
                 l2s=(0.0,), cv=5, fit_intercept=True, max_iter=5000, tol=1e-6,
                 restart="gradient", n_jobs=None):
        self.penalty = penalty
        self.alphas = alphas
        self.n_alphas = n_alphas
        self.alpha_min_ratio = alpha_min_ratio
        self.l2s = l2s
        self.cv = cv
        self.fit_intercept = fit_intercept
        self.max_iter = max_iter
        self.tol = tol
        self.restart = restart
        self.n_jobs = n_jobs

    def _shortcut_params(self):
        return {"penalty": resolve_penalty}

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.single_output = True
        return tags

    def _encoded_targets(self, X, y, xp, device):
        if self._loss == "squared":
            Y, _ = validate_targets(y, X.shape[0], xp, device)
            return Y
        Y_pm, _, _ = encode_binary_tasks(y)
        return xp.astype(to_namespace(Y_pm, xp, device), X.dtype)

    def fit(self, X, y, sample_weight=None):
        """Score every (alpha, l2) by cross-validation, then refit the best on all data.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training inputs.
        y : array-like of shape (n_samples,) or (n_samples, n_tasks)
            NaN (or None) marks a missing label. Every training fold must contain
            an observed label of every task.
        sample_weight : array-like of shape (n_samples,) or (n_samples, n_tasks), \
                default=None
            Weights of the training losses (test folds are scored unweighted).

        Returns
        -------
        self : object
        """
        l2s = np.asarray(self.l2s, dtype=np.float64).ravel()
        if l2s.size == 0:
            raise ValueError("l2s must contain at least one value.")
        for value in l2s:
            _check_real(float(value), "l2s")
        X_checked, xp = validate_X_fit(self, X)
        device = array_device(X_checked)
        Y = self._encoded_targets(X_checked, y, xp, device)
        # Validated once (scalars broadcast to (n,), shapes and signs checked), so
        # that the folds can index the weights.
        sample_weight = validate_sample_weight(sample_weight, Y, xp, device)
        if self._loss == "logistic" and self.fit_intercept:
            check_both_classes_weighted(to_numpy(Y), sample_weight)
        pen = resolve_penalty(self.penalty)
        if self.alphas is None:
            design, Yf, omega = make_problem(
                X_checked, Y, None if sample_weight is None else to_namespace(
                    np.asarray(to_numpy(sample_weight), dtype=np.float64), xp, device),
                xp)
            top = loss_alpha_max(design, Yf, omega, DATAFITS[self._loss](), pen,
                                 bool(self.fit_intercept), xp)
            if top is None:
                raise ValueError(
                    f"The penalty {pen!r} has no alpha_max; pass alphas explicitly."
                )
            ratio = _check_real(self.alpha_min_ratio, "alpha_min_ratio", positive=True)
            alphas = top * np.logspace(0.0, np.log10(ratio), int(self.n_alphas))
        else:
            alphas = np.sort(np.asarray(self.alphas, dtype=np.float64).ravel())[::-1]
        Y_host = to_numpy(Y)
        if isinstance(self.cv, numbers.Integral) and not isinstance(self.cv, bool):
            # Rows of the long-to-wide layout are grouped by task: plain K-fold would
            # leave whole tasks out of a training fold.
            cv = MultiTaskStratifiedKFold(
                n_splits=int(self.cv),
                stratify="tasks" if self._loss == "squared" else "classes")
        else:
            cv = check_cv(self.cv)
        splits = list(cv.split(to_numpy(X_checked), Y_host))
        scores = np.full((l2s.size, alphas.size, len(splits)), np.nan)
        sw = None if sample_weight is None else np.asarray(to_numpy(sample_weight),
                                                           dtype=np.float64)
        # Each (fold, l2) path is independent: joblib runs them in parallel, and
        # each returns its scores, so the table is the same for any n_jobs.
        path_scores = Parallel(n_jobs=self.n_jobs)(
            delayed(_path_scores)(
                X_checked, Y, train, test, Y_host[test],
                None if sw is None else sw[train], float(l2), alphas, pen,
                self._loss, self.fit_intercept, self.max_iter, self.tol, self.restart)
            for train, test in splits for l2 in l2s)
        for k, values in enumerate(path_scores):
            f, i = divmod(k, l2s.size)
            scores[i, :, f] = values
        mean = np.nanmean(scores, axis=2)
        i, j = np.unravel_index(np.nanargmax(mean), mean.shape)
        self.alphas_ = alphas
        self.l2s_ = l2s
        self.cv_scores_ = scores
        self.mean_cv_score_ = mean
        self.alpha_ = float(alphas[j])
        self.l2_ = float(l2s[i])
        self.best_estimator_ = self._estimator(
            self.alpha_, penalty=pen, l2=self.l2_, fit_intercept=self.fit_intercept,
            max_iter=self.max_iter, tol=self.tol, restart=self.restart,
        ).fit(X, y, sample_weight=sample_weight)
        for name in ("coef_", "intercept_", "n_features_in_", "n_tasks_", "n_iter_",
                     "tasks_"):
            setattr(self, name, getattr(self.best_estimator_, name))
        if hasattr(self.best_estimator_, "feature_names_in_"):
            self.feature_names_in_ = self.best_estimator_.feature_names_in_
        return self


_CV_DOC = """

    The grid of ``alpha`` is scored along a warm-started path (:func:`linear_path`)
    on every training fold, for every ``l2`` in ``l2s``; the pair with the best
    mean test score ({score}) is refitted on the whole data. RMTL tunes
    ``Lam1`` only; here ``l2`` is tuned too. For other scorers, or to tune penalty
    settings such as ``penalty__beta``, use
    :class:`~sklearn.model_selection.GridSearchCV` on :class:`{base}`.

    Parameters
    ----------
    penalty : str or LinearPenalty, default="l21"
        As in :class:`{base}`. It comes first here, whereas ``alpha`` comes first
        in :class:`{base}`: these estimators choose ``alpha`` themselves, from
        the grid ``alphas`` (keyword-only), so the penalty is the one thing to say.
    alphas : array-like, default=None
        Grid of ``alpha``; by default ``n_alphas`` values log-spaced from
        :func:`alpha_max` (on the whole data) down to ``alpha_min_ratio`` times it.
        The penalties without ``alpha_max`` ("graph" without a lasso term,
        "cmtl", "none") need a grid, e.g. around the ``alpha_`` that
        :class:`{base}` sets by default.
    n_alphas : int, default=20
        Size of the default grid.
    alpha_min_ratio : float, default=1e-3
        Smallest ``alpha`` of the default grid, relative to ``alpha_max``.
    l2s : array-like, default=(0.0,)
        Values of ``l2`` to try.
    cv : int, cross-validation generator or iterable, default=5
        An integer is the number of folds of
        :class:`~rkhsmtl.model_selection.MultiTaskStratifiedKFold` (every task's
        labels spread over the folds); otherwise as in scikit-learn.
    fit_intercept : bool, default=True
        Fit unpenalised per-task intercepts.
    {solver}
        Here every point of every path, and the refit, is one FISTA run with
        these settings; ``n_iter_`` and ``best_estimator_.solver_info_``
        describe the refit.
    restart : {{"gradient", "function", None}}, default="gradient"
        Adaptive momentum restart scheme, as in :class:`{base}`.
    n_jobs : int or None, default=None
        Number of (fold, ``l2``) paths computed in parallel through joblib (None
        means 1 unless in a :func:`joblib.parallel_config` context; -1 all
        processors). The results do not depend on it.

    Attributes
    ----------
    alpha_, l2_ : float
        The selected values.
    alphas_ : ndarray of shape (n_alphas,)
    l2s_ : ndarray of shape (n_l2s,)
    cv_scores_ : ndarray of shape (n_l2s, n_alphas, n_splits)
    mean_cv_score_ : ndarray of shape (n_l2s, n_alphas)
    best_estimator_ : {base}
        Refitted on the whole data with ``alpha_`` and ``l2_``.
    coef_, intercept_, n_features_in_, n_tasks_, n_iter_, tasks_
        Those of ``best_estimator_`` (``n_iter_`` of the refit).
"""


class MultiTaskLinearRegressorCV(RegressorMixin, _LinearCVBase):
    __doc__ = ("Multi-task linear regression with ``alpha`` and ``l2`` chosen by "
               "cross-validation." + _CV_DOC.format(
                   score="mean per-task R^2 on the observed entries",
                   base="MultiTaskLinearRegressor", solver=SOLVER_PARAMS_DOC))
    _loss = "squared"
    _estimator = MultiTaskLinearRegressor
    predict = refit_method(MultiTaskLinearRegressor, "predict")
    score = refit_method(MultiTaskLinearRegressor, "score")  # not RegressorMixin's


class MultiTaskLinearClassifierCV(ClassifierMixin, _LinearCVBase):
    __doc__ = ("Multi-task linear classification with ``alpha`` and ``l2`` chosen by "
               "cross-validation." + _CV_DOC.format(
                   score="mean per-task accuracy on the observed entries",
                   base="MultiTaskLinearClassifier", solver=SOLVER_PARAMS_DOC))
    _loss = "logistic"
    _estimator = MultiTaskLinearClassifier
    predict = refit_method(MultiTaskLinearClassifier, "predict")
    score = refit_method(MultiTaskLinearClassifier, "score")  # not ClassifierMixin's
    predict_proba = refit_method(MultiTaskLinearClassifier, "predict_proba")
    decision_function = refit_method(MultiTaskLinearClassifier, "decision_function")

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        tags.classifier_tags.multi_label = True
        return tags

    def fit(self, X, y, sample_weight=None):
        super().fit(X, y, sample_weight=sample_weight)
        self.classes_ = self.best_estimator_.classes_
        return self

    fit.__doc__ = _LinearCVBase.fit.__doc__
