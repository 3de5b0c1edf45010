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
from ._validation import reset_fitted_attributes, validate_X_fit, validate_X_predict
from .kernels import KERNELS, PairwiseKernel, TrainingGram

__all__ = ["BinaryTasksClassifierMixin", "Placement", "SeparableKernelMixin",
           "ShortcutParamsMixin"]


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

class SeparableKernelMixin(ShortcutParamsMixin):
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
        X, _ = validate_X_fit(self, X)
        if self.kernel == "precomputed" and X.shape[0] != X.shape[1]:
            raise ValueError(
                f"With kernel='precomputed', X must be the square training kernel "
                f"matrix, got shape {tuple(X.shape)}."
            )
        return X, Placement(X, self.device)

    def _training_gram(self, X, placement):
        """The training kernel, in the compute namespace."""
        return TrainingGram(self._pairwise_kernel(), placement.to_compute(X), placement.xp)

    def _store_fit(self, X, placement, dual_coef, task_structure, info, *, n_iter,
                   n_tasks, y_was_1d):
        """Fitted attributes common to both estimators, in the input's namespace."""
        if "objective_history" in info:
            self.objective_history_ = placement.xp_in.asarray(
                info["objective_history"], dtype=placement.xp_in.float64,
                device=placement.device_in)
        self.n_iter_ = int(n_iter)
        self.dual_coef_ = placement.to_input(dual_coef)
        self.task_structure_ = placement.to_input(task_structure)
        # A copy: the user may modify X after fit.
        self.X_fit_ = placement.xp_in.asarray(X, copy=True)
        self.n_tasks_ = int(n_tasks)
        self.solver_ = info["solver"]
        self.solver_info_ = info
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
                or not self.tol >= 0):
            raise ValueError(f"tol must be a number >= 0, got {self.tol!r}.")
        if self.gamma is not None and not (isinstance(self.gamma, numbers.Real)
                                           and self.gamma >= 0):
            raise ValueError(f"gamma must be None or a number >= 0, got {self.gamma!r}.")

    def _pairwise_kernel(self):
        return PairwiseKernel(self.kernel, gamma=self.gamma, degree=self.degree,
                              coef0=self.coef0, kernel_params=self.kernel_params,
                              n_features=self.n_features_in_)

    def _kernel_expansion(self, X, method):
        """``K(X, X_fit) C A`` in the namespace of ``X`` (validated here).

        Returns
        -------
        values : array of shape (n_samples, n_tasks)
        xp_in, device_in : the namespace and device of ``X``
        """
        X, _ = validate_X_predict(self, X, method=method)
        placement = Placement(X, self.device)
        xp = placement.xp
        Xc = placement.to_compute(X)
        coef = placement.to_compute(self.dual_coef_) @ placement.to_compute(
            self.task_structure_)
        kernel = self._pairwise_kernel()
        if kernel.is_precomputed:
            if Xc.shape[1] != coef.shape[0]:
                raise ValueError(
                    f"With kernel='precomputed', X must have {coef.shape[0]} columns "
                    f"(one per training sample), got {Xc.shape[1]}."
                )
            values = Xc @ coef
        else:
            X_fit = placement.to_compute(self.X_fit_)
            n_fit = X_fit.shape[0]
            block = row_block(n_fit)
            n = Xc.shape[0]
            if n <= block:
                values = kernel(Xc, X_fit, xp=xp) @ coef
            else:
                values = xp.empty((n, coef.shape[1]), dtype=coef.dtype,
                                  device=array_device(coef))
                for start, stop, K_b in kernel.row_blocks(Xc, X_fit, xp, block):
                    values[start:stop, :] = K_b @ coef
        return placement.to_input(values), placement.xp_in, placement.device_in


class BinaryTasksClassifierMixin:
    """Outputs of a classifier with one binary problem per task, from its scores.

    Subclasses implement ``_scores(X, method)`` (decision values of shape
    ``(n, T)``, or ``(n,)`` after a 1-D fit, in the namespace of ``X``) and set,
    in ``fit``, ``_classes_host`` (list of per-task 2-arrays, NumPy),
    ``_numeric_classes`` and ``_y_was_1d``.
    """

    def decision_function(self, X):
        """Scores of every task (positive means the task's positive class).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        scores : array of shape (n_samples, n_tasks)
            Decision values, in the namespace of ``X`` (shape ``(n_samples,)`` when
            fitted on a 1-D ``y``).
        """
        return self._scores(X, "decision_function")

    def predict_proba(self, X):
        """Probability of each task's positive class.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        proba : array of shape (n_samples, n_tasks)
            ``P(y_t = classes_[t][1] | x)``. When fitted on a 1-D ``y`` (one task),
            the scikit-learn binary layout ``(n_samples, 2)`` with the
            probabilities of ``classes_[0]`` and ``classes_[1]``.
        """
        scores = self._scores(X, "predict_proba")
        xp = get_namespace(scores)
        proba = sigmoid(scores, xp)
        if self._y_was_1d:
            return xp.stack([1.0 - proba, proba], axis=1)
        return proba

    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba`, computed without underflow.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        log_proba : array of the shape of :meth:`predict_proba`
        """
        scores = self._scores(X, "predict_log_proba")
        xp = get_namespace(scores)
        log_pos = -softplus(-scores, xp)  # log sigmoid(s)
        if self._y_was_1d:
            return xp.stack([log_pos - scores, log_pos], axis=1)
        return log_pos

    def predict(self, X):
        """Predicted label of every task.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        labels : array of shape (n_samples, n_tasks)
            ``classes_[t][1]`` where the score is positive, else ``classes_[t][0]``
            (shape ``(n_samples,)`` when fitted on a 1-D ``y``). In the namespace of
            ``X`` when the classes are numbers, a NumPy array otherwise.
        """
        scores = self._scores(X, "predict")
        xp = get_namespace(scores)
        device = array_device(scores)
        positive = to_numpy(scores > 0).reshape(scores.shape[0], -1)
        labels = decode_binary_tasks(positive, self._classes_host)
        if self._y_was_1d:
            labels = labels.ravel()
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
