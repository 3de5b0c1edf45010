"""What the separable-kernel estimators share: parameters, fit plumbing, predictions.

Both the regressor and the classifier check the same parameters, prepare ``fit``
the same way (clear the previous fit, validate ``X``, decide where to compute,
build the training kernel), store the same fitted attributes, and predict
``K(X, X_fit) C A`` (plus an intercept for the classifier); the test kernel is
computed by blocks of rows so that prediction memory stays bounded. Each estimator's
``fit`` then only handles its targets and calls its solver.
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ._backend import (
    array_device,
    get_namespace,
    resolve_compute_namespace,
    to_namespace,
    to_numpy,
)
from ._labels import decode_binary_tasks
from ._losses import sigmoid, softplus
from ._memory import row_block
from ._validation import (
    KERNEL_ESTIMATOR_CONSTRAINTS,
    check_parameters,
    check_symmetric_kernel,
    output_is_float32,
    reset_fitted_attributes,
    task_names,
    to_output_dtype,
    validate_X_fit,
    validate_X_predict,
)
from .kernels import KERNELS, PairwiseKernel, TrainingGram

__all__ = ["APPROXIMATION_PARAMS_DOC", "BinaryTasksClassifierMixin", "Placement",
           "SeparableKernelMixin", "ShortcutParamsMixin", "VersionedStateMixin",
           "fill_doc", "fill_task_doc", "row_index",
           "take_task_columns", "task_columns"]

# How the ``task`` argument of predict and its kin is documented, once.
TASK_PARAM_DOC = """task : array-like of shape (n_samples,), default=None
            Long layout: the task of every row of ``X``, as task names (values of
            ``tasks_``) or, when they are not all names, integer positions in
            ``range(n_tasks_)``. The output is then one value per row, that of
            the row's own task, of shape ``(n_samples,)``. None: every task."""


# The kernel estimators' parameters of the low-rank approximation (their
# ``approximation`` parameter says what each estimator solves on it).
APPROXIMATION_PARAMS_DOC = """n_components : int, default=100
        Number of Nyström centres or random features (``approximation`` only).
        Nyström centres above the number of training rows are lowered to it,
        with a warning (every row a centre: the exact kernel).
    nystrom_sampling : {"uniform", "leverage"}, default="uniform"
        How the Nyström centres are drawn: uniformly without replacement, or in
        proportion to approximate ridge leverage scores (from a uniform pilot of
        ``n_components`` centres; two more passes over the data), which favours
        inputs in sparsely sampled regions.
    random_state : int, RandomState instance or None, default=None
        Seed of the Nyström centres or of the random features."""

def fill_doc(**texts):
    """Decorator: put each of ``texts`` in place of ``%(name)s`` in a docstring.

    For the documentation that several functions or classes share, written once.
    By ``replace``, not ``%``: docstrings hold LaTeX braces and percent signs.
    """
    def fill(obj):
        for name, text in texts.items():
            obj.__doc__ = obj.__doc__.replace(f"%({name})s", text)
        return obj
    return fill


def fill_task_doc(function):
    """Decorator: put the description of ``task`` in place of ``%(task)s``."""
    return fill_doc(task=TASK_PARAM_DOC)(function)


def task_columns(estimator, task):
    """Column (task position) of every row for the long layout of the outputs.

    Parameters
    ----------
    estimator : fitted estimator
        An estimator with ``tasks_``.
    task : array-like of shape (n_samples,) or None
        Task names (values of ``tasks_``), or integer positions in
        ``range(n_tasks)`` when they are not all names.

    Returns
    -------
    columns : ndarray of shape (n_samples,), dtype intp, or None
        None when ``task`` is None.
    """
    if task is None:
        return None
    check_is_fitted(estimator)
    names = to_numpy(estimator.tasks_)
    task = np.asarray(to_numpy(task))
    if task.ndim == 2 and task.shape[1] == 1:
        task = task[:, 0]
    if task.ndim != 1:
        raise ValueError(
            f"task must be a 1-D array with the task of every row of X, got shape "
            f"{task.shape}."
        )
    n_tasks = names.shape[0]
    position = {name: j for j, name in enumerate(names.tolist())}
    try:
        uniques, inverse = np.unique(task, return_inverse=True)
        uniques = uniques.tolist()
    except TypeError:  # values of several types that cannot be sorted
        first = {}
        inverse = np.fromiter((first.setdefault(v, len(first)) for v in task.tolist()),
                              dtype=np.intp, count=task.shape[0])
        uniques = list(first)
    inverse = inverse.reshape(-1)
    unknown = [u for u in uniques if u not in position]
    if not unknown:
        lookup = np.asarray([position[u] for u in uniques], dtype=np.intp)
        return lookup[inverse]
    if task.dtype.kind in "iu" and task.size and task.min() >= 0 \
            and task.max() < n_tasks:
        return task.astype(np.intp)
    shown = ", ".join(repr(u) for u in unknown[:5])
    more = f" (and {len(unknown) - 5} more)" if len(unknown) > 5 else ""
    known = ", ".join(repr(n) for n in names.tolist()[:10])
    known += ", ..." if n_tasks > 10 else ""
    raise ValueError(
        f"Unknown task(s) in task: {shown}{more}. The tasks of this "
        f"{type(estimator).__name__} are tasks_ = [{known}] (the column names of "
        f"the DataFrame y given to fit, else 0..n_tasks-1); pass those names or "
        f"integer positions 0..{n_tasks - 1}."
    )


def _check_task_length(columns, n_samples):
    if columns.shape[0] != n_samples:
        raise ValueError(
            f"task has {columns.shape[0]} entries but X has {n_samples} rows: give "
            "the task of every row."
        )


def row_index(columns, n_samples, xp, device):
    """``columns`` (host) checked against the rows of ``X``, in ``xp`` on ``device``."""
    _check_task_length(columns, n_samples)
    return to_namespace(columns, xp, device)


def take_task_columns(values, columns):
    """``values[i, columns[i]]`` for every row, in the namespace of ``values``.

    Parameters
    ----------
    values : array of shape (n_samples, n_tasks) or (n_samples,)
        Outputs of every task (one task when 1-D).
    columns : ndarray of shape (n_samples,)
        Task position of every row (`task_columns`).

    Returns
    -------
    selected : array of shape (n_samples,)
    """
    if isinstance(values, list):
        raise ValueError(
            "task= needs one output column per task; these outputs are one array "
            "per task (several classes per task): call the method without task and "
            "index the list instead."
        )
    xp = get_namespace(values)
    if values.ndim == 1:
        values = xp.reshape(values, (-1, 1))
    n, T = values.shape
    _check_task_length(columns, n)
    if isinstance(values, np.ndarray):
        return values[np.arange(n), columns]
    flat = np.arange(n, dtype=np.intp) * T + columns
    return xp.take(xp.reshape(values, (-1,)),
                   to_namespace(flat, xp, array_device(values)))


class VersionedStateMixin:
    """Saved state stamped with the rkhsmtl version; loading another version warns.

    scikit-learn stamps ``_sklearn_version`` only into its own classes, so a
    model of this package saved by one rkhsmtl and loaded by another would load
    silently. The state written by :mod:`pickle`, :mod:`joblib` and
    :mod:`skops.io` (all go through ``__getstate__``/``__setstate__``) carries
    ``_rkhsmtl_version``; a different version on load emits
    :class:`~rkhsmtl.exceptions.InconsistentVersionWarning`. Put it before
    ``BaseEstimator`` in the bases, whose own methods it extends.
    """

    def __getstate__(self):
        from . import __version__  # lazy: the package is not built at import time

        state = super().__getstate__()
        if state is None:  # Python >= 3.11 with an empty __dict__
            state = {}
        return dict(state, _rkhsmtl_version=__version__)

    def __setstate__(self, state):
        from . import __version__
        from .exceptions import InconsistentVersionWarning

        if isinstance(state, dict):
            state = dict(state)
            saved = state.pop("_rkhsmtl_version", None)
            if saved != __version__:
                warnings.warn(InconsistentVersionWarning(
                    type(self).__name__, __version__, saved), stacklevel=2)
        try:
            super().__setstate__(state)
        except AttributeError:  # no base defines __setstate__ (Python < 3.11)
            self.__dict__.update(state)


class ShortcutParamsMixin:
    """``set_params`` that tunes the parameters of an object given by its name.

    ``task_structure="mean_regularized"`` and ``penalty="dirty"`` name objects
    (``MeanRegularized()``, ``Dirty()``); scikit-learn's ``set_params`` cannot reach
    ``task_structure__strength`` through a string. When such a nested parameter is
    set, the name is first replaced by the object it names, so a grid over
    ``task_structure__strength`` works whether the structure was given by name or
    as an object. Subclasses map parameter names to their resolvers in
    ``_shortcut_params`` (a method returning a dict, to import lazily).
    """

    def _shortcut_params(self):
        return {}

    def set_params(self, **params):
        for name, resolve in self._shortcut_params().items():
            if not any(key.startswith(name + "__") for key in params):
                continue
            value = params.get(name, getattr(self, name))
            if isinstance(value, str):
                params[name] = resolve(value)
        return super().set_params(**params)


class Placement:
    """Where the user's arrays live and where a computation on them runs.

    Parameters
    ----------
    X : array
        The user's (validated) input; its namespace and device are the input's.
    device : {"auto", "cpu", "gpu"}
        The estimator's ``device`` parameter
        (:func:`~rkhsmtl._backend.resolve_compute_namespace`).
    """

    def __init__(self, X, device):
        self.xp_in = get_namespace(X)
        self.device_in = array_device(X)
        self.xp = resolve_compute_namespace(device, self.xp_in)
        # A different namespace (NumPy input computed on CuPy) uses its default device.
        self.device = self.device_in if self.xp is self.xp_in else None

    def to_compute(self, x):
        """``x`` in the compute namespace and device (None stays None)."""
        return to_namespace(x, self.xp, self.device)

    def to_input(self, x):
        """``x`` back in the input's namespace and device."""
        return to_namespace(x, self.xp_in, self.device_in)

class SeparableKernelMixin(VersionedStateMixin, ShortcutParamsMixin):
    """Parameter checks and prediction of ``k(x, x') A`` models.

    Expects the parameters ``alpha``, ``kernel``, ``gamma``, ``degree``, ``coef0``,
    ``kernel_params``, ``solver``, ``max_iter``, ``tol``, ``device``, a class
    attribute ``_solvers`` (the accepted values of ``solver``) and a method
    ``_check_params``.
    """

    def _shortcut_params(self):
        from .structure import resolve_task_structure

        return {"task_structure": resolve_task_structure}

    # fit takes the whole wide problem: Y (n, T) with NaN, sample_weight (n, T)
    # (read by DistributionMatchingMTL to fit all tasks in one call).
    _accepts_wide_targets = True

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.single_output = True
        tags.input_tags.pairwise = self.kernel == "precomputed"
        tags.array_api_support = True
        return tags

    def _check_params(self):
        self._check_common_params(self._solvers)

    def _prepare_fit(self, X):
        """Check parameters, clear the previous fit, validate ``X``, place the fit.

        Returns
        -------
        X : array of shape (n_samples, n_features)
            Validated input, in its own namespace.
        placement : Placement
        """
        self._check_params()
        reset_fitted_attributes(self)
        precomputed = isinstance(self.kernel, str) and self.kernel == "precomputed"
        X, xp = validate_X_fit(self, X, check_scale=not precomputed)
        if precomputed and X.shape[0] != X.shape[1]:
            raise ValueError(
                f"With kernel='precomputed', X must be the square training kernel "
                f"matrix, got shape {tuple(X.shape)}."
            )
        if precomputed:
            check_symmetric_kernel(X, xp)
        return X, Placement(X, self.device)

    def _training_gram(self, X, placement):
        """The training kernel, in the compute namespace."""
        return TrainingGram(self._pairwise_kernel(), placement.to_compute(X), placement.xp)

    def _store_fit(self, X, placement, dual_coef, task_structure, info, *, n_iter,
                   n_tasks, y_was_1d, y=None):
        """Fitted attributes common to both estimators, in the input's namespace.

        ``y`` is the target as the user gave it (its column names become
        ``tasks_``). After a primal solve (``K = X X^T``) the model is stored as
        the weights ``coef_ = (X^T C A)^T``: predictions need nothing of size
        ``n_samples``, so neither ``X_fit_`` nor ``dual_coef_`` is kept.
        """
        if "objective_history" in info:
            self.objective_history_ = placement.xp_in.asarray(
                info["objective_history"], dtype=placement.xp_in.float64,
                device=placement.device_in)
        self.n_iter_ = int(n_iter)
        self.task_structure_ = placement.to_input(task_structure)
        if info.get("primal_coef") is not None:
            # The primal solver's own weights: (C A)^T X would recover them from
            # C = w (Y - F) / alpha, whose cancellation grows as 1 / alpha (5e-2
            # relative error in the predictions at alpha = 1e-12).
            self.coef_ = placement.to_input(info["primal_coef"].T)
        elif "primal" in (info.get("solver"), info.get("b_step_solver")):
            # (C A)^T X: the predictions are those of the kernel expansion
            # K(x, X) C A, up to rounding.
            self.coef_ = placement.to_input(
                (dual_coef @ task_structure).T @ placement.to_compute(X))
        else:
            self.dual_coef_ = placement.to_input(dual_coef)
            # A copy: the user may modify X after fit.
            self.X_fit_ = placement.xp_in.asarray(X, copy=True)
        self.n_tasks_ = int(n_tasks)
        self.tasks_ = task_names(y, n_tasks, placement.xp_in, placement.device_in)
        self.solver_ = info["solver"]
        # The primal weights are coef_ now; the solver's copy would be a second one
        # (in the compute namespace).
        self.solver_info_ = {k: v for k, v in info.items() if k != "primal_coef"}
        self._y_was_1d = y_was_1d

    def _check_common_params(self, solvers):
        if (not isinstance(self.alpha, numbers.Real) or isinstance(self.alpha, bool)
                or not self.alpha > 0 or self.alpha == float("inf")):
            raise ValueError(f"alpha must be a positive finite number, got {self.alpha!r}.")
        if not callable(self.kernel) and self.kernel not in KERNELS:
            raise ValueError(
                f"kernel must be one of {KERNELS} or a callable, got {self.kernel!r}."
            )
        if self.solver not in solvers:
            raise ValueError(f"solver must be one of {solvers}, got {self.solver!r}.")
        if (isinstance(self.max_iter, bool) or not isinstance(self.max_iter, numbers.Integral)
                or self.max_iter < 1):
            raise ValueError(f"max_iter must be an integer >= 1, got {self.max_iter!r}.")
        if (not isinstance(self.tol, numbers.Real) or isinstance(self.tol, bool)
                or not 0 <= self.tol < float("inf")):
            raise ValueError(f"tol must be a finite number >= 0, got {self.tol!r}.")
        if self.gamma is not None and not (isinstance(self.gamma, numbers.Real)
                                           and 0 <= self.gamma < float("inf")):
            raise ValueError(
                f"gamma must be None or a finite number >= 0, got {self.gamma!r}.")
        # The remaining shared parameters (degree, coef0, kernel_params, verbose):
        # NaN or infinity would only show up as NaN predictions.
        check_parameters(self, KERNEL_ESTIMATOR_CONSTRAINTS)

    def _pairwise_kernel(self):
        return PairwiseKernel(self.kernel, gamma=self.gamma, degree=self.degree,
                              coef0=self.coef0, kernel_params=self.kernel_params,
                              n_features=self.n_features_in_)

    def _kernel_expansion(self, X, method, columns=None):
        """``K(X, X_fit) C A`` in the namespace of ``X`` (validated here), float64.

        ``columns`` (`task_columns`, or None) asks for each row's own task only:
        row ``i`` then costs one kernel row times one column of ``C A`` instead of
        all ``n_tasks`` of them.

        Returns
        -------
        values : array of shape (n_samples, n_tasks), or (n_samples,) with columns
        xp_in, device_in : the namespace and device of ``X``
        """
        X, _ = validate_X_predict(self, X, method=method, attribute="task_structure_")
        placement = Placement(X, self.device)
        xp = placement.xp
        Xc = placement.to_compute(X)
        rows = (None if columns is None
                else row_index(columns, Xc.shape[0], xp, placement.device))

        def expand(K, coef, coef_t, rows):
            if rows is None:
                return K @ coef
            return xp.sum(K * xp.take(coef_t, rows, axis=0), axis=1)

        feature_map = getattr(self, "feature_map_", None)
        if feature_map is not None:  # low-rank approximation: phi(X) W by row chunks
            from .kernel_approximation import predict_features

            values = predict_features(feature_map.to(xp, placement.device),
                                      placement.to_compute(self.coef_), Xc, xp, rows)
            return placement.to_input(values), placement.xp_in, placement.device_in
        if getattr(self, "coef_", None) is not None:  # primal model, K = X X^T
            W_t = placement.to_compute(self.coef_)
            values = expand(Xc, W_t.T, W_t, rows)
            return placement.to_input(values), placement.xp_in, placement.device_in
        coef = placement.to_compute(self.dual_coef_) @ placement.to_compute(
            self.task_structure_)
        coef_t = coef.T
        kernel = self._pairwise_kernel()
        if kernel.is_precomputed:
            if Xc.shape[1] != coef.shape[0]:
                raise ValueError(
                    f"With kernel='precomputed', X must have {coef.shape[0]} columns "
                    f"(one per training sample), got {Xc.shape[1]}."
                )
            values = expand(Xc, coef, coef_t, rows)
        else:
            X_fit = placement.to_compute(self.X_fit_)
            n_fit = X_fit.shape[0]
            # With columns, the rows of C A gathered per block double the temporaries.
            block = row_block(n_fit, arrays=1 if rows is None else 2)
            n = Xc.shape[0]
            if n <= block:
                values = expand(kernel(Xc, X_fit, xp=xp), coef, coef_t, rows)
            else:
                shape = (n,) if rows is not None else (n, coef.shape[1])
                values = xp.empty(shape, dtype=coef.dtype, device=array_device(coef))
                for start, stop, K_b in kernel.row_blocks(Xc, X_fit, xp, block):
                    values[start:stop, ...] = expand(
                        K_b, coef, coef_t, None if rows is None else rows[start:stop])
        return placement.to_input(values), placement.xp_in, placement.device_in


class BinaryTasksClassifierMixin:
    """Outputs of a classifier with one binary problem per task, from its scores.

    Subclasses implement ``_scores(X, method, columns=None)`` (float64 decision
    values of shape ``(n, T)``, or ``(n,)`` after a 1-D fit or with ``columns``,
    in the namespace of ``X``) and set, in ``fit``, ``_classes_host`` (list of
    per-task 2-arrays, NumPy), ``_numeric_classes``, ``_y_was_1d`` and
    ``tasks_``. Scores and probabilities come back in float32 for float32 ``X``;
    labels are computed from the float64 scores.
    """

    @fill_task_doc
    def decision_function(self, X, task=None):
        """Scores of every task (positive means the task's positive class).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.
        %(task)s

        Returns
        -------
        scores : array of shape (n_samples, n_tasks)
            Decision values, in the namespace of ``X`` (shape ``(n_samples,)`` when
            fitted on a 1-D ``y`` or with ``task``), float32 for float32 ``X``.
        """
        float32 = output_is_float32(X)
        scores = self._scores(X, "decision_function", task_columns(self, task))
        return to_output_dtype(scores, float32)

    @fill_task_doc
    def predict_proba(self, X, task=None):
        """Probability of each task's positive class.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.
        %(task)s

        Returns
        -------
        proba : array of shape (n_samples, n_tasks)
            ``P(y_t = classes_[t][-1] | x)``. When fitted on a 1-D ``y`` (one task),
            the scikit-learn binary layout ``(n_samples, 2)`` with the
            probabilities of ``classes_[0]`` and ``classes_[1]``. With ``task``,
            shape ``(n_samples,)``: the probability of the positive class of each
            row's task, ``classes_[task_i][-1]``. Float32 for float32 ``X``.
        """
        float32 = output_is_float32(X)
        columns = task_columns(self, task)
        scores = self._scores(X, "predict_proba", columns)
        xp = get_namespace(scores)
        proba = sigmoid(scores, xp)
        if self._y_was_1d and columns is None:
            proba = xp.stack([1.0 - proba, proba], axis=1)
        return to_output_dtype(proba, float32)

    @fill_task_doc
    def predict_log_proba(self, X, task=None):
        """Logarithm of :meth:`predict_proba`, computed without underflow.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.
        %(task)s

        Returns
        -------
        log_proba : array of the shape of :meth:`predict_proba`
            Float32 for float32 ``X``, 0 where the float32 probability is 1.
        """
        float32 = output_is_float32(X)
        columns = task_columns(self, task)
        scores = self._scores(X, "predict_log_proba", columns)
        xp = get_namespace(scores)
        log_pos = -softplus(-scores, xp)  # log sigmoid(s)
        if self._y_was_1d and columns is None:
            log_pos = xp.stack([log_pos - scores, log_pos], axis=1)
        if float32:
            # Where the float32 probability rounds to 1, its logarithm is 0: the
            # output stays the log of predict_proba's (as scikit-learn checks).
            rounds_to_one = to_output_dtype(xp.exp(log_pos), True) == 1
            log_pos = xp.where(rounds_to_one, xp.zeros_like(log_pos), log_pos)
        return to_output_dtype(log_pos, float32)

    @fill_task_doc
    def predict(self, X, task=None):
        """Predicted label of every task.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.
        %(task)s

        Returns
        -------
        labels : array of shape (n_samples, n_tasks)
            ``classes_[t][-1]`` where the score is positive, else ``classes_[t][0]``
            (shape ``(n_samples,)`` when fitted on a 1-D ``y`` or with ``task``).
            In the namespace of ``X`` when the classes are numbers, a NumPy array
            otherwise.
        """
        columns = task_columns(self, task)
        scores = self._scores(X, "predict", columns)
        xp = get_namespace(scores)
        device = array_device(scores)
        positive = to_numpy(scores > 0)
        if columns is None:
            labels = decode_binary_tasks(positive.reshape(scores.shape[0], -1),
                                         self._classes_host)
            if self._y_was_1d:
                labels = labels.ravel()
        else:
            labels = _decode_rows(positive, columns, self._classes_host)
        if self._numeric_classes:
            return to_namespace(labels, xp, device)
        return labels

    def score(self, X, y, sample_weight=None):
        """Mean over tasks of the accuracy on each task's observed labels.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Test inputs.
        y : array-like of shape (n_samples,) or (n_samples, n_tasks)
            True labels; missing ones (NaN, None, ``pandas.NA``) are ignored.
        sample_weight : array-like of shape (n_samples,) or (n_samples, n_tasks), \
                default=None
            Weights.

        Returns
        -------
        score : float
            :func:`rkhsmtl.metrics.accuracy_score` with ``average="macro"``
            (tasks without an observed label are left out).
        """
        from .metrics import accuracy_score

        return float(accuracy_score(y, self.predict(X), sample_weight=sample_weight,
                                    average="macro", classes=self._classes_host))


def _decode_rows(positive, columns, classes):
    """Label of each row's own task from "is positive", as `decode_binary_tasks`."""
    used = np.unique(columns)
    dtypes = {classes[t].dtype for t in used.tolist()}
    out = np.empty(positive.shape[0], dtype=dtypes.pop() if len(dtypes) == 1 else object)
    for t in used.tolist():
        rows = columns == t
        # [-1]: a task seen with one class has a single label.
        out[rows] = np.where(positive[rows], classes[t][-1], classes[t][0])
    return out
