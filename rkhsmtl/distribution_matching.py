"""Distribution matching for multi-task learning (Bickel et al. 2008).

Every task is trained on the pool of all tasks' labelled examples, each example
weighted by the density ratio ``r_t(x, y) = p(x, y | t) / p(x, y)`` that makes the
pool look like task ``t``. The meta-estimator turns heterogeneous wide data (one
observed task per row) into that complete weighted problem and fits any rkhsmtl
estimator on it, or one clone of any scikit-learn estimator per task.
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn import get_config
from sklearn.base import BaseEstimator, MetaEstimatorMixin, MultiOutputMixin, clone
from sklearn.utils import get_tags
from sklearn.utils.metadata_routing import (
    MetadataRouter,
    MethodMapping,
    process_routing,
)
from sklearn.utils.metaestimators import available_if
from sklearn.utils.parallel import Parallel, delayed
from sklearn.utils.validation import check_is_fitted, validate_data

from ._backend import array_device, get_namespace, is_numpy_namespace, to_numpy
from ._base import VersionedStateMixin, fill_task_doc, take_task_columns, task_columns
from ._labels import _as_label_array, missing_mask
from ._validation import (
    as_float_targets,
    output_is_float32,
    task_names,
    to_output_dtype,
    validate_X_fit,
)
from .metrics import accuracy_score, nan_r2_score
from .ridge import MultiTaskKernelRidge
from .weighting import (
    KLIEP,
    ULSIF,
    BaseDensityRatio,
    KernelMeanMatching,
    RuLSIF,
    TaskPosteriorRatio,
    effective_sample_size,
    normalize_weights,
    task_density_ratios,
)
from .weighting._tasks import is_task_ratio_estimator

__all__ = ["DistributionMatchingMTL"]

_WEIGHTINGS = ("logistic", "kernel_logistic", "ulsif", "rulsif", "kliep", "kmm", "none")


def _resolve_weighting(weighting, random_state):
    """The weighting estimator (unfitted) named or given by ``weighting``."""
    if isinstance(weighting, str):
        if weighting not in _WEIGHTINGS:
            raise ValueError(f"weighting must be one of {_WEIGHTINGS} or an estimator, "
                             f"got {weighting!r}.")
        return {
            "logistic": lambda: TaskPosteriorRatio(),
            "kernel_logistic": lambda: TaskPosteriorRatio(kernel="rbf",
                                                          random_state=random_state),
            "ulsif": lambda: ULSIF(random_state=random_state),
            "rulsif": lambda: RuLSIF(random_state=random_state),
            "kliep": lambda: KLIEP(random_state=random_state),
            "kmm": lambda: KernelMeanMatching(),
            "none": lambda: None,
        }[weighting]()
    if is_task_ratio_estimator(weighting) or isinstance(weighting, BaseDensityRatio):
        return weighting
    if hasattr(weighting, "predict_proba") and hasattr(weighting, "fit"):
        return TaskPosteriorRatio(classifier=weighting)
    if hasattr(weighting, "fit") and hasattr(weighting, "ratio"):
        return weighting  # a user's two-sample estimator: fit(X_nu, X_de), ratio(X)
    raise ValueError(
        "weighting must be a name, a task-ratio estimator (TaskPosteriorRatio), a "
        "two-sample ratio estimator (fit(X_numerator, X_denominator), ratio(X)) or a "
        f"classifier with predict_proba, got {weighting!r}.")


def _accepts_wide_targets(estimator):
    """Whether ``estimator.fit`` takes the complete wide problem in one call.

    That is a ``y`` of shape ``(n_samples, n_tasks)`` (NaN for a missing label)
    with a ``sample_weight`` of the same shape. An estimator declares it by the
    class attribute ``_accepts_wide_targets = True`` (the rkhsmtl multi-task
    estimators do; any other estimator may); its value, not the module the class
    comes from, decides.
    """
    return bool(getattr(estimator, "_accepts_wide_targets", False))


def _inner_has(name):
    """``available_if`` check: the fitted (or template) estimator has ``name``."""
    def check(self):
        inner = getattr(self, "estimator_", None)
        if inner is None and getattr(self, "estimators_", None):
            inner = self.estimators_[0]
        if inner is None:
            inner = self._template()
        return hasattr(inner, name)
    return check



def _fit_one_task(template, X, labels, weights, params):
    """A clone of ``template`` fitted on the examples one task weights."""
    used = weights > 0
    return clone(template).fit(X[used], labels[used], sample_weight=weights[used],
                               **params)

class DistributionMatchingMTL(VersionedStateMixin, MetaEstimatorMixin, MultiOutputMixin,
                              BaseEstimator):
    r"""Multi-task learning by distribution matching (Bickel et al. 2008).

    Pools every task's labelled examples. For task ``t``, each pooled example
    ``(x_i, y_i)`` (labelled for task ``s_i``) is weighted by

    .. math::

        r_t(x_i, y_i) = \frac{p(x_i, y_i \mid t)}{p(x_i, y_i)}
        = \frac{q(t \mid x_i, y_i)}{\pi_t},

    so that the weighted pool has task ``t``'s distribution, and task ``t`` is
    trained on the whole pool with these weights: the complete weighted problem
    with ``Y_complete[i, t] = y_i`` (the example's own label, for every task) and
    ``W[i, t] = r_t(x_i, y_i) * sample_weight_i``. The weights are computed
    inside :meth:`fit` (cross-fitted by default), so cross-validation of the
    meta-estimator never leaks them.

    Read more in the :ref:`User Guide <distribution_matching>`.

    Parameters
    ----------
    estimator : estimator or None, default=None
        The learner. A multi-task estimator that takes a wide ``y`` with NaN and
        an ``(n_samples, n_tasks)`` ``sample_weight`` -- it says so by the class
        attribute ``_accepts_wide_targets = True``, as the rkhsmtl estimators
        (:class:`~rkhsmtl.MultiTaskKernelRidge`,
        :class:`~rkhsmtl.MultiTaskKernelClassifier`, with a fixed or learned task
        structure, and those of :mod:`rkhsmtl.linear`) do -- is fitted once on the
        complete weighted problem ``fit(X_pool, Y_complete, sample_weight=W)``;
        any other scikit-learn estimator accepting ``sample_weight`` is cloned and
        fitted per task on the pool (see ``per_task``). ``None`` means
        ``MultiTaskKernelRidge()``.
    weighting : str or estimator, default="logistic"
        How the ratios are estimated:

        - "logistic": :class:`~rkhsmtl.weighting.TaskPosteriorRatio` (multinomial
          logistic task classifier, ``q(t | z) / pi_t``);
        - "kernel_logistic": the same on RBF Nystroem features;
        - "ulsif", "rulsif", "kliep": the two-sample estimators of
          :mod:`rkhsmtl.weighting`, fitted per task with the task's examples as
          numerator and the whole pool as denominator (RuLSIF then gives the
          relative ratio ``p_t / (alpha p_t + (1 - alpha) p)``, a smoothed and
          bounded version of the weights);
        - "kmm": :class:`~rkhsmtl.weighting.KernelMeanMatching`, per task against
          the pool; transductive, so only with ``weighting_cv=None``;
        - "none": unit weights (every task trained on the pooled data);
        - an estimator: a `TaskPosteriorRatio` or two-sample ratio estimator, or a
          classifier with ``predict_proba`` (used as the task classifier).
    features : {"joint", "covariate"}, default="joint"
        "joint": ratios of the pairs ``(x, y)`` (Bickel's setting, also corrects
        differences of ``p(y | x)`` between tasks); "covariate": ratios
        ``p(x | t) / p(x)`` of the inputs only (covariate shift).
    label_scale : float, default=1.0
        Scale of the label feature relative to the standardised inputs in the joint
        features: the standardised label (regression), or ``+-1`` (binary) or a
        one-hot code (several classes) for classification.
    weighting_cv : int or None, default=5
        Cross-fitting: the weights of fold ``k`` (folds stratified by task) come
        from a ratio model fitted without fold ``k``. ``None`` fits one model on the
        whole pool (in-sample weights, which overfit). Needs 2 examples per task.
    tempering : float in [0, 1], default=1.0
        Weights ``r ** tempering`` (0: unit weights).
    clip : float or None, default=None
        Cap of the normalised weights (see
        :func:`~rkhsmtl.weighting.normalize_weights`).
    per_task : {"auto", True, False}, default="auto"
        Fit one clone of ``estimator`` per task (True) or a single multi-task fit
        (False). "auto": single fit for estimators with ``_accepts_wide_targets``
        (the rkhsmtl estimators), per task otherwise.
    random_state : int or None, default=None
        Seeds the folds and the randomised parts of the ratio estimators.
    n_jobs : int or None, default=None
        Number of independent fits run in parallel through joblib: the
        cross-fitting folds of the weights and, with one model per task, the
        per-task fits (None means 1 unless in a :func:`joblib.parallel_config`
        context). The fitted model does not depend on it.

    Attributes
    ----------
    weights_ : array of shape (n_pool, n_tasks)
        Normalised distribution-matching weights (mean 1 per task over the pool),
        before multiplication by ``sample_weight``. ``n_pool`` is the number of
        observed labels, i.e. ``n_samples`` for heterogeneous data. In the
        namespace of ``X``.
    effective_sample_size_ : array of shape (n_tasks,)
        ``(sum_i W[i, t])^2 / sum_i W[i, t]^2`` of the weights actually used.
    ratio_models_ : list
        The fitted ratio model(s), one entry per cross-fitting fold (a task-ratio
        estimator, or a list with one two-sample estimator per task).
    folds_ : ndarray of shape (n_pool,) or None
        Cross-fitting fold of each pooled example.
    pool_index_ : ndarray of shape (n_pool,)
        Row of ``X`` of each pooled example.
    pool_task_ : ndarray of shape (n_pool,)
        Task whose label each pooled example carries.
    estimator_ : estimator
        The fitted multi-task estimator (single fit).
    estimators_ : list of estimators
        The fitted per-task estimators (per-task fit).
    n_tasks_ : int
    tasks_ : ndarray of shape (`n_tasks_`,)
        Task names: the column names of a DataFrame ``y``, else
        ``arange(n_tasks_)``; read by ``task=`` of the prediction methods.
    classes_ : ndarray or list of ndarray
        Classifiers only: the inner estimator's classes.
    n_features_in_ : int
    feature_names_in_ : ndarray

    Notes
    -----
    Array API: with an rkhsmtl learner, ``X`` may come from any array-API
    namespace (e.g. CuPy): the features, the (Ru)LSIF/KLIEP/KMM ratios, the weights
    and the learner's fit stay there; classifier-based ratios are computed on the
    host and moved back. Labels are handled on the host.

    Precision: the predictions of a regressor, and the decision values and
    probabilities of a classifier, come back in float32 when ``X`` is float32
    (the float32 rounding of the learner's float64 result), else as the learner
    returns them.

    Data layout: ``y`` of shape ``(n_samples, n_tasks)`` with NaN (or None,
    ``pandas.NA``) for a missing label. Each observed entry is one pooled
    example: in heterogeneous data (one observed task per row) the pool is the
    rows; a row with labels for several tasks enters the pool once per label (its
    copies share ``x``); a row without any label is an error. Pooling assumes the
    tasks share the label space (same kind of target, same classes).

    A ``sample_weight`` of shape ``(n_samples,)`` multiplies every pooled copy of
    the row; one of shape ``(n_samples, n_tasks)`` gives entry ``(i, s)``'s weight
    to the pooled example ``(i, s)`` in every task's fit. With metadata routing
    enabled, request it with ``set_fit_request(sample_weight=True)``; other fit
    parameters are routed to ``estimator``.

    References
    ----------
    S. Bickel, J. Bogojeska, T. Lengauer and T. Scheffer. Multi-task learning for
    HIV therapy screening. ICML 2008.

    Examples
    --------
    >>> import numpy as np
    >>> from rkhsmtl import DistributionMatchingMTL, MultiTaskKernelRidge
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(60, 2))
    >>> task = np.arange(60) % 3
    >>> Y = np.full((60, 3), np.nan)
    >>> Y[np.arange(60), task] = np.sin(X[:, 0]) + 0.1 * task
    >>> model = DistributionMatchingMTL(MultiTaskKernelRidge(alpha=0.1)).fit(X, Y)
    >>> model.weights_.shape, model.predict(X[:2]).shape
    ((60, 3), (2, 3))
    """

    # It takes a wide y with NaN and (n_samples, n_tasks) weights itself.
    _accepts_wide_targets = True

    def __init__(self, estimator=None, *, weighting="logistic", features="joint",
                 label_scale=1.0, weighting_cv=5, tempering=1.0, clip=None,
                 per_task="auto", random_state=None, n_jobs=None):
        self.estimator = estimator
        self.weighting = weighting
        self.features = features
        self.label_scale = label_scale
        self.weighting_cv = weighting_cv
        self.tempering = tempering
        self.clip = clip
        self.per_task = per_task
        self.random_state = random_state
        self.n_jobs = n_jobs

    # -- scikit-learn plumbing ------------------------------------------------
    def _template(self):
        return MultiTaskKernelRidge() if self.estimator is None else self.estimator

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        inner = get_tags(self._template())
        tags.estimator_type = inner.estimator_type
        tags.classifier_tags = inner.classifier_tags
        tags.regressor_tags = inner.regressor_tags
        tags.target_tags.required = True
        tags.target_tags.single_output = True
        tags.target_tags.multi_output = True
        return tags

    def get_metadata_routing(self):
        """Routing: ``sample_weight`` is consumed here, other fit params go to ``estimator``.

        Returns
        -------
        routing : MetadataRouter
        """
        return (MetadataRouter(owner=self).add_self_request(self)
                .add(estimator=self._template(),
                     method_mapping=MethodMapping().add(caller="fit", callee="fit")))

    def _is_classifier(self):
        return get_tags(self._template()).estimator_type == "classifier"

    def _joint_fit(self):
        if self.per_task == "auto":
            return _accepts_wide_targets(self._template())
        if not isinstance(self.per_task, bool):
            raise ValueError(f"per_task must be 'auto', True or False, got "
                             f"{self.per_task!r}.")
        return not self.per_task

    def _check_params(self):
        if self.features not in ("joint", "covariate"):
            raise ValueError(f"features must be 'joint' or 'covariate', got "
                             f"{self.features!r}.")
        if (isinstance(self.label_scale, bool)
                or not isinstance(self.label_scale, numbers.Real)
                or not self.label_scale > 0):
            raise ValueError(f"label_scale must be a positive number, got "
                             f"{self.label_scale!r}.")

    # -- the pool ---------------------------------------------------------------
    def _pool(self, Y):
        """Observed entries (row, task, label) of the wide label array."""
        missing = missing_mask(Y)
        observed = ~missing
        per_row = observed.sum(axis=1)
        if np.any(per_row == 0):
            rows = np.flatnonzero(per_row == 0)
            raise ValueError(
                f"{rows.size} row(s) of y have no observed label (e.g. row "
                f"{int(rows[0])}); distribution matching needs the task of every "
                "example. Drop those rows.")
        empty = np.flatnonzero(observed.sum(axis=0) == 0)
        if empty.size:
            raise ValueError(f"Task(s) {empty.tolist()} have no observed label.")
        rows, tasks = np.nonzero(observed)  # row-major: copies of a row stay together
        return rows, tasks, Y[rows, tasks]

    def _label_features(self, labels, is_classifier):
        if is_classifier:
            classes = np.unique(labels.astype(object) if labels.dtype == object
                                else labels)
            if classes.size < 2:
                return np.zeros((labels.shape[0], 1))
            codes = np.searchsorted(classes, labels)
            if classes.size == 2:
                return (2.0 * codes - 1.0)[:, None] * self.label_scale
            return np.eye(classes.size)[codes] * self.label_scale
        values = np.asarray(labels, dtype=np.float64)
        scale = values.std()
        return ((values - values.mean()) / (scale if scale > 0 else 1.0))[:, None] \
            * self.label_scale

    def _features(self, X_pool, labels, is_classifier, xp):
        device = array_device(X_pool)
        scale = xp.std(X_pool, axis=0)
        scale = xp.where(scale > 0, scale, xp.ones_like(scale))
        Z = (X_pool - xp.mean(X_pool, axis=0)) / scale
        if self.features == "joint":
            label = xp.asarray(self._label_features(labels, is_classifier), device=device)
            Z = xp.concat([Z, xp.astype(label, Z.dtype)], axis=1)
        return Z

    # -- fit / predict --------------------------------------------------------
    def fit(self, X, y, sample_weight=None, **fit_params):
        """Estimate the distribution-matching weights and fit the learner.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.
        y : array-like of shape (n_samples,) or (n_samples, n_tasks)
            Labels, one column per task, NaN (or None, ``pandas.NA``) for a
            missing label; usually one observed label per row.
        sample_weight : array-like of shape (n_samples,) or (n_samples, n_tasks), \
                default=None
            User weights, multiplied with the distribution-matching weights.
        **fit_params : dict
            Passed to ``estimator.fit`` (through metadata routing when enabled).

        Returns
        -------
        self : object
        """
        self._check_params()
        if get_config()["enable_metadata_routing"]:
            params = process_routing(self, "fit", **fit_params).estimator.fit
        else:
            params = fit_params
        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the "
                             "target y is None.")
        xp = get_namespace(X)
        if is_numpy_namespace(xp):
            X = validate_data(self, X, dtype=np.float64)
        else:
            X, xp = validate_X_fit(self, X)
            if not self._joint_fit():
                raise ValueError(
                    "Per-task fits of scikit-learn estimators need NumPy input; use an "
                    "rkhsmtl estimator (single multi-task fit) for other array "
                    "namespaces.")
        device = array_device(X)
        Y = _as_label_array(y)
        if Y.ndim not in (1, 2) or Y.shape[0] != X.shape[0]:
            raise ValueError(f"y must have shape ({X.shape[0]},) or ({X.shape[0]}, "
                             f"n_tasks), got {Y.shape}.")
        was_1d = Y.ndim == 1
        Y2 = Y[:, None] if was_1d else Y
        if Y2.dtype.kind == "f" and np.any(np.isinf(Y2)):
            raise ValueError("Input y contains infinity; use NaN for a missing label.")
        is_classifier = self._is_classifier()
        if not is_classifier:
            Y2 = as_float_targets(Y2, name="y (a regressor's targets)")
        rows, tasks, labels = self._pool(Y2)
        n_tasks = Y2.shape[1]
        X_pool = xp.take(X, xp.asarray(rows, device=device), axis=0)

        weighting = _resolve_weighting(self.weighting, self.random_state)
        if weighting is None or n_tasks == 1:
            R = xp.ones((rows.size, n_tasks), dtype=xp.float64, device=device)
            self.ratio_models_, self.folds_ = [], None
        else:
            if isinstance(weighting, KernelMeanMatching) and self.weighting_cv is not None:
                raise ValueError(
                    "Kernel mean matching is transductive (weights at the fitted points "
                    "only) and cannot be cross-fitted: use weighting_cv=None.")
            Z = self._features(X_pool, labels, is_classifier, xp)
            R, self.ratio_models_, self.folds_ = task_density_ratios(
                Z, tasks, n_tasks, weighting, cv=self.weighting_cv,
                random_state=self.random_state, groups=rows, n_jobs=self.n_jobs)
        self.weights_ = normalize_weights(R, tempering=self.tempering, clip=self.clip)
        sw_pool = self._pool_sample_weight(to_numpy(sample_weight), rows, tasks, Y2.shape)
        W = self.weights_ * xp.asarray(sw_pool, device=device)[:, None]
        self.effective_sample_size_ = effective_sample_size(W)
        self.pool_index_, self.pool_task_ = rows, tasks
        self.n_tasks_ = int(n_tasks)
        self.tasks_ = task_names(y, n_tasks, xp, device)
        self._y_was_1d = was_1d

        template = self._template()
        if self._joint_fit() and not _accepts_wide_targets(template):
            raise ValueError(
                f"per_task=False fits one multi-task model with (n_samples, n_tasks) "
                f"sample weights, which {type(template).__name__} does not take; use "
                "per_task=True (one fit per task) or an rkhsmtl estimator (or an "
                "estimator declaring `_accepts_wide_targets = True`).")
        if self._joint_fit():
            Y_complete = np.repeat(labels[:, None], n_tasks, axis=1)
            if not is_classifier:
                Y_complete = xp.asarray(Y_complete, device=device)
            if was_1d:
                Y_complete, W = Y_complete[:, 0], W[:, 0]
            self.estimator_ = clone(template).fit(X_pool, Y_complete, sample_weight=W,
                                                  **params)
            self.estimators_ = None
            if hasattr(self.estimator_, "classes_"):
                self.classes_ = self.estimator_.classes_
        else:
            self.estimator_ = None
            if labels.dtype == object:
                # e.g. integers stored as objects next to None: scikit-learn needs a
                # concrete label type.
                labels = np.asarray(labels.tolist())
            # One independent fit per task: joblib runs them in parallel.
            self.estimators_ = Parallel(n_jobs=self.n_jobs)(
                delayed(_fit_one_task)(template, X_pool, labels, W[:, t], params)
                for t in range(n_tasks))
            if hasattr(self.estimators_[0], "classes_"):
                classes = [est.classes_ for est in self.estimators_]
                self.classes_ = classes[0] if was_1d else classes
        return self

    @staticmethod
    def _pool_sample_weight(sample_weight, rows, tasks, shape):
        if sample_weight is None:
            return np.ones(rows.size)
        sw = np.asarray(sample_weight, dtype=np.float64)
        if sw.ndim == 0:
            sw = np.full(shape[0], float(sw))
        if sw.shape == (shape[0],):
            pooled = sw[rows]
        elif sw.shape == shape:
            pooled = sw[rows, tasks]
        else:
            raise ValueError(f"sample_weight.shape == {sw.shape}, expected "
                             f"({shape[0]},) or {shape}.")
        if not np.all(np.isfinite(pooled)) or np.any(pooled < 0):
            raise ValueError("sample_weight must be finite and non-negative.")
        if not np.any(pooled > 0):
            raise ValueError("Sample weights are all zero: there is nothing to fit.")
        return pooled

    def _per_task(self, method, X):
        outputs = [getattr(est, method)(X) for est in self.estimators_]
        if self._y_was_1d:
            return outputs[0]
        if any(o.ndim == 2 for o in outputs):
            if method == "predict_proba" and all(o.shape[1] == 2 for o in outputs):
                return np.column_stack([o[:, 1] for o in outputs])
            return outputs  # several classes: one array per task
        return np.column_stack(outputs)

    def _validate_predict(self, X):
        check_is_fitted(self)
        if is_numpy_namespace(get_namespace(X)):
            return validate_data(self, X, dtype=np.float64, reset=False)
        # Other namespaces: the fitted rkhsmtl estimator checks namespace, device
        # and number of features itself.
        return X

    def _output(self, method, X, task):
        """``method``'s output, of each row's own task with ``task``; float outputs
        in float32 for float32 ``X``."""
        float32 = output_is_float32(X)
        columns = task_columns(self, task)
        X = self._validate_predict(X)
        if self.estimator_ is not None:
            out = getattr(self.estimator_, method)(X)
        else:
            out = self._per_task(method, X)
        if columns is not None:
            out = take_task_columns(out, columns)
        if method == "predict" and self._is_classifier():
            return out  # labels
        return to_output_dtype(out, float32)

    @fill_task_doc
    def predict(self, X, task=None):
        """Predict every task.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.
        %(task)s

        Returns
        -------
        Y_pred : ndarray of shape (n_samples, n_tasks), or (n_samples,) when fitted
            on a 1-D ``y`` or with ``task``. A regressor's predictions are float32
            for float32 ``X``.
        """
        return self._output("predict", X, task)

    @available_if(_inner_has("predict_proba"))
    @fill_task_doc
    def predict_proba(self, X, task=None):
        """Probabilities from the fitted classifier(s).

        Single multi-task fit: the estimator's ``predict_proba``. Per-task fits of
        binary classifiers: the probability of each task's second class
        (``classes_[t][1]``), shape (n_samples, n_tasks); with more classes, a list
        of one ``(n_samples, n_classes_t)`` array per task; fitted on a 1-D ``y``,
        the estimator's own output.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.
        %(task)s
            With ``task``, the probability of the positive class of each row's
            task (binary tasks only).

        Returns
        -------
        proba : ndarray
        """
        return self._output("predict_proba", X, task)

    @available_if(_inner_has("decision_function"))
    @fill_task_doc
    def decision_function(self, X, task=None):
        """Decision scores from the fitted classifier(s), one column per task.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.
        %(task)s

        Returns
        -------
        scores : ndarray
        """
        return self._output("decision_function", X, task)

    def score(self, X, y, sample_weight=None):
        """NaN-aware score: mean over tasks of R^2 (regressors) or accuracy (classifiers).

        Regressors: :func:`rkhsmtl.metrics.nan_r2_score`. Classifiers: the single
        fit's own ``score``; per-task fits: :func:`rkhsmtl.metrics.accuracy_score`
        (macro average) against the fitted ``classes_`` (any number per task).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Test inputs.
        y : array-like of shape (n_samples,) or (n_samples, n_tasks)
            True labels; missing ones are ignored.
        sample_weight : array-like of shape (n_samples,) or (n_samples, n_tasks), \
                default=None
            Weights of the scored entries.

        Returns
        -------
        score : float
        """
        pred = self.predict(X)
        if not self._is_classifier():
            return float(nan_r2_score(y, pred, sample_weight=sample_weight))
        if self.estimator_ is not None:
            return float(self.estimator_.score(X, y, sample_weight=sample_weight))
        # Per-task classifiers: their classes may be several per task, and any
        # label type; the metric checks the labels against them.
        return float(accuracy_score(y, pred, sample_weight=sample_weight,
                                    classes=self.classes_))
