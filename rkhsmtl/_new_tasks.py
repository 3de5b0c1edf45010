r"""Predictions for tasks never seen in training, and the fold-in of a new task.

A fitted separable-kernel model with task descriptors (a
:class:`~rkhsmtl.structure.TaskDescriptorKernel`, or a learned structure with such
a prior) extends to new tasks through the extended task-structure matrix
(:func:`~rkhsmtl.structure._descriptors.new_task_relation`)

.. math::

    A_{ext} = \begin{pmatrix} A & a \\ a^\top & c \end{pmatrix},
    \qquad \beta = A^{+} a,\qquad s = c - a^\top \beta .

*Zero-shot*: a task without labels has zero dual coefficients in the extended
problem, so its function is ``f_*(x) = K(x, X) C a``, and the training tasks'
coefficients are those of the original fit.

*Fold-in*: writing ``f_* = sum_t beta_t f_t + g`` (the regression of the new task
on the training tasks' functions plus a part ``g`` of its own), the RKHS norm of
the extended model is ``||f_old||^2 + ||g||_k^2 / s``. With the training tasks'
functions kept as fitted, minimising the extended objective over ``g`` is kernel
ridge regression of the zero-shot residuals ``y - f_zero-shot(X_new)`` with the
kernel ``s k``: an ``n_new``-dimensional system. The result is stored as an
ordinary fitted model with ``T + 1`` tasks (the new rows' dual coefficients on the
old tasks, ``-c_g beta^T``, cancel the new task's influence on them).
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.base import clone
from sklearn.utils.validation import check_is_fitted

from ._backend import array_device, get_namespace, to_namespace, to_numpy
from ._validation import (
    to_output_dtype,
    validate_sample_weight,
    validate_targets,
    validate_X_predict,
)

__all__ = ["fold_in_task", "predict_new_task"]

# A new task whose cross kernel to every training task is below this fraction of
# its own variance is unrelated to them: its zero-shot prediction is 0.
_UNRELATED_RTOL = 1e-8


def _relation(model, descriptors):
    from .structure import resolve_task_structure
    from .structure._descriptors import new_task_relation

    check_is_fitted(model)
    structure = resolve_task_structure(model.task_structure)
    relation = new_task_relation(structure, to_numpy(model.task_structure_), descriptors)
    return structure, relation


def _warn_unrelated(relation):
    cross, block = relation["cross"], relation["block"]
    scale = np.maximum(np.abs(np.diag(block)), np.finfo(np.float64).tiny)
    unrelated = np.flatnonzero(np.max(np.abs(cross), axis=0) <= _UNRELATED_RTOL * scale)
    if unrelated.size:
        warnings.warn(
            f"New task(s) {unrelated.tolist()[:10]} are unrelated to every training "
            "task under the descriptor kernel (k_T(z_new, z_t) ~ 0 for all t): their "
            "zero-shot prediction is 0. Put the descriptors on comparable scales (e.g. "
            "a StandardScaler fitted on the training tasks' descriptors), lower the "
            "descriptor kernel's gamma, or add a shared part (shared > 0).",
            UserWarning, stacklevel=3)


def _like(x, reference):
    """``x`` (NumPy) in the namespace, device and dtype of ``reference``."""
    xp = get_namespace(reference)
    return xp.astype(to_namespace(x, xp, array_device(reference)), reference.dtype)


def _zero_shot_values(model, X, relation, method):
    """``K(X, X_fit) C a`` (or ``X W beta`` for a primal model): (n, m), float64."""
    # A view of the model whose "tasks" are the new ones: its kernel expansion
    # (blocks of rows, namespaces, precomputed kernels) is the model's own.
    view = object.__new__(type(model))
    view.__dict__.update(model.__dict__)
    if getattr(model, "coef_", None) is not None:
        view.coef_ = (model.coef_.T @ _like(relation["beta"], model.coef_)).T
    else:
        C = model.dual_coef_
        view.dual_coef_ = C @ _like(relation["cross"], C)
        m = relation["cross"].shape[1]
        xp = get_namespace(C)
        view.task_structure_ = xp.eye(m, dtype=C.dtype, device=array_device(C))
    values, _, _ = view._kernel_expansion(X, method)
    return values


def predict_new_task(model, X, descriptors):
    """Zero-shot predictions of new tasks; see ``MultiTaskKernelRidge.predict_new_task``.

    Parameters
    ----------
    model : MultiTaskKernelRidge
        A fitted model with task descriptors.
    X : array-like of shape (n_samples, n_features)
        Inputs.
    descriptors : array-like of shape (n_descriptor_features,) or \
            (n_new_tasks, n_descriptor_features)
        The new tasks' descriptors.

    Returns
    -------
    Y_pred : array of shape (n_samples,) or (n_samples, n_new_tasks)
    """
    from ._validation import output_is_float32

    float32 = output_is_float32(X)
    _, relation = _relation(model, descriptors)
    _warn_unrelated(relation)
    values = _zero_shot_values(model, X, relation, "predict_new_task")
    if relation["one_task"]:
        values = get_namespace(values).reshape(values, (-1,))
    return to_output_dtype(values, float32)


def _task_name(model, task_name):
    names = to_numpy(model.tasks_)
    if task_name is None:
        if names.dtype.kind in "iu":
            task_name = int(names.max()) + 1
        else:
            task_name = f"task_{names.shape[0]}"
    if task_name in names.tolist():
        raise ValueError(
            f"task_name {task_name!r} is already a task of the model (tasks_); give "
            "the new task another name."
        )
    if names.dtype.kind in "iu" and isinstance(task_name, (int, np.integer)):
        extended = np.append(names, task_name)
        if isinstance(model.tasks_, np.ndarray):
            return extended
        return to_namespace(extended, get_namespace(model.tasks_),
                            array_device(model.tasks_))
    return np.append(names.astype(object), np.array([task_name], dtype=object))


def fold_in_task(model, X, y, descriptor, *, sample_weight=None, task_name=None):
    """Add one task with a few labels; see ``MultiTaskKernelRidge.fold_in_task``.

    Parameters
    ----------
    model : MultiTaskKernelRidge
        A fitted model with task descriptors.
    X : array-like of shape (n_new, n_features)
        The new task's inputs.
    y : array-like of shape (n_new,)
        Its labels (NaN: missing).
    descriptor : array-like of shape (n_descriptor_features,)
        Its descriptor.
    sample_weight : float or array-like of shape (n_new,), default=None
        Weights of its squared errors.
    task_name : object, default=None
        Its name in ``tasks_``.

    Returns
    -------
    model : MultiTaskKernelRidge
        A new fitted model with ``n_tasks_ + 1`` tasks.
    """
    from .structure._descriptors import descriptor_kernel_of

    structure, relation = _relation(model, descriptor)
    if relation["cross"].shape[1] != 1:
        raise ValueError(
            "fold_in_task adds one task at a time: give one descriptor (a 1-D array); "
            "call it again on the returned model for the next task."
        )
    if model._pairwise_kernel().is_precomputed:
        raise ValueError(
            "fold_in_task needs the kernel between the new task's inputs and the "
            "training inputs, which kernel='precomputed' does not provide; refit on "
            "the extended kernel matrix instead."
        )
    if getattr(model, "feature_map_", None) is not None:
        raise ValueError(
            "fold_in_task is not available for a model fitted with a kernel "
            "approximation (approximation=...); refit on the extended data with the "
            "returned structure instead, or predict the task zero-shot with "
            "predict_new_task."
        )
    X_new, _ = validate_X_predict(model, X, method="fold_in_task",
                                  attribute="task_structure_")
    xp, device = get_namespace(X_new), array_device(X_new)
    Y_new, _ = validate_targets(y, X_new.shape[0], xp, device)
    if Y_new.shape[1] != 1:
        raise ValueError(
            f"y must hold the labels of the one new task, shape ({X_new.shape[0]},); "
            f"got {Y_new.shape[1]} columns."
        )
    weights = validate_sample_weight(sample_weight, Y_new, xp, device)
    y_host = to_numpy(Y_new)[:, 0]
    w = (np.ones_like(y_host) if weights is None
         else np.asarray(to_numpy(weights), dtype=np.float64).reshape(-1))
    observed = ~np.isnan(y_host)
    w = np.where(observed, w, 0.0)

    zero_shot = to_numpy(_zero_shot_values(model, X_new, relation, "fold_in_task"))
    residual = np.where(observed, y_host - zero_shot[:, 0], 0.0)
    X_host = np.asarray(to_numpy(X_new), dtype=np.float64)
    K_new = np.asarray(model._pairwise_kernel()(X_host), dtype=np.float64)
    s = float(relation["schur"][0, 0])
    alpha = float(model.alpha)
    if s > 0.0:
        # (alpha I + s D^1/2 K D^1/2) u = D^1/2 r, c_g = D^1/2 u: symmetric positive
        # definite, and rows of zero weight drop out.
        from scipy.linalg import solve

        root = np.sqrt(w)
        system = alpha * np.eye(w.shape[0]) + s * (root[:, None] * K_new * root[None, :])
        coef_own = root * solve(system, root * residual, assume_a="pos")
    else:
        # The training tasks explain the new task completely (s = 0): it has no part
        # of its own, and its function is the zero-shot one.
        coef_own = np.zeros_like(residual)

    beta = relation["beta"][:, 0]
    cross = relation["cross"]
    A = to_numpy(model.task_structure_)
    A_ext = np.block([[A, cross], [cross.T, relation["block"]]])

    new = clone(model)
    for key, value in vars(model).items():
        if key.endswith("_") or key == "_y_was_1d":
            setattr(new, key, value)
    kernel, learned = descriptor_kernel_of(structure)
    extended = kernel.with_new_tasks(descriptor)
    if learned:
        extended = clone(structure).set_params(prior=extended)
    new.set_params(task_structure=extended)
    if getattr(model, "coef_", None) is not None:
        W = np.asarray(to_numpy(model.coef_), dtype=np.float64)
        w_new = W.T @ beta + s * (X_host.T @ coef_own)
        new.coef_ = _like(np.vstack([W, w_new[None, :]]), model.coef_)
    else:
        C = np.asarray(to_numpy(model.dual_coef_), dtype=np.float64)
        rows = np.hstack([-np.outer(coef_own, beta), coef_own[:, None]])
        C_ext = np.vstack([np.hstack([C, np.zeros((C.shape[0], 1))]), rows])
        new.dual_coef_ = _like(C_ext, model.dual_coef_)
        X_fit = model.X_fit_
        xp_fit = get_namespace(X_fit)
        new.X_fit_ = xp_fit.concat(
            [X_fit, xp_fit.astype(to_namespace(X_new, xp_fit, array_device(X_fit)),
                                  X_fit.dtype)], axis=0)
    new.task_structure_ = _like(A_ext, model.task_structure_)
    new.n_tasks_ = model.n_tasks_ + 1
    new.tasks_ = _task_name(model, task_name)
    new._y_was_1d = False
    new.solver_info_ = dict(model.solver_info_)
    new.solver_info_["folded_in"] = [*model.solver_info_.get("folded_in", []),
                                     {"task": to_numpy(new.tasks_).tolist()[-1],
                                      "schur": s, "n_labels": int(observed.sum())}]
    return new
