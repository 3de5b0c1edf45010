"""Warm-started regularisation paths, the alpha_max helper and per-task-list input."""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from .._backend import array_device, to_namespace
from .._labels import encode_binary_tasks
from .._validation import validate_sample_weight, validate_targets, validate_X_fit
from ..datasets import long_to_wide
from ._datafits import DATAFITS
from ._estimators import (
    MultiTaskLinearClassifier,
    MultiTaskLinearRegressor,
    check_solver_params,
)
from ._fista import fista, loss_alpha_max, make_problem
from ._penalties import _check_real, resolve_penalty

__all__ = ["alpha_max", "linear_path", "tasks_to_wide"]


def _validate(X, y, sample_weight, loss):
    """(X, Y in the loss's encoding, weights, xp, device) for the functional API."""
    if loss not in DATAFITS:
        raise ValueError(f"loss must be one of {sorted(DATAFITS)}, got {loss!r}.")
    holder = MultiTaskLinearRegressor() if loss == "squared" else \
        MultiTaskLinearClassifier()
    X, xp = validate_X_fit(holder, X)
    device = array_device(X)
    if loss == "squared":
        Y, _ = validate_targets(y, X.shape[0], xp, device)
    else:
        Y_pm, _, _ = encode_binary_tasks(y)
        if Y_pm.shape[0] != X.shape[0]:
            raise ValueError(
                f"X has {X.shape[0]} rows but y has {Y_pm.shape[0]}."
            )
        Y = xp.astype(to_namespace(Y_pm, xp, device), X.dtype)
    sample_weight = validate_sample_weight(sample_weight, Y, xp, device)
    design, Yf, omega = make_problem(X, Y, sample_weight, xp)
    return design, Yf, omega, xp, device, Y.shape[1]


def alpha_max(X, y, *, penalty="l21", loss="squared", sample_weight=None,
              fit_intercept=True):
    """Smallest ``alpha`` for which ``W = 0`` is the solution.

    With intercepts, the loss gradient ``G`` is taken at ``W = 0`` and the optimal
    intercepts; ``alpha_max`` is the dual norm of ``G``: ``max |G_jt|`` (lasso),
    ``max_j ||G_{j,:}||_2`` (l21), the spectral norm of ``G`` (trace), and for the
    decomposition models ``W = P + Q`` the larger of the two components' values
    (the second divided by ``beta``); ``max |G_jt| / l1_weight`` for a
    :class:`GraphPenalty` with a lasso term (the graph term is flat at ``W = 0``).
    The ridge term does not change it.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Inputs.
    y : array-like of shape (n_samples,) or (n_samples, n_tasks)
        Targets (regression) or labels (classification); NaN marks a missing one.
    penalty : str or LinearPenalty, default="l21"
        As in :class:`MultiTaskLinearRegressor`.
    loss : {"squared", "logistic"}, default="squared"
        The data-fit term.
    sample_weight : array-like of shape (n_samples,) or (n_samples, n_tasks), \
            default=None
        Weights of the losses.
    fit_intercept : bool, default=True
        Whether the (unpenalised) intercepts are fitted.

    Returns
    -------
    alpha_max : float

    Raises
    ------
    ValueError
        For penalties under which ``W = 0`` is never optimal (graph with
        ``l1_weight=0``, clustered MTL, "none").
    """
    X, Yf, omega, xp, _, _ = _validate(X, y, sample_weight, loss)
    pen = resolve_penalty(penalty)
    value = loss_alpha_max(X, Yf, omega, DATAFITS[loss](), pen, bool(fit_intercept), xp)
    if value is None:
        raise ValueError(
            f"The penalty {pen!r} has no alpha_max: W = 0 is not the solution for any "
            "finite alpha. Pass the alphas explicitly."
        )
    return value


def linear_path(X, y, *, penalty="l21", loss="squared", alphas=None, n_alphas=20,
                alpha_min_ratio=1e-3, l2=0.0, sample_weight=None, fit_intercept=True,
                max_iter=5000, tol=1e-6, restart="gradient"):
    """Solutions along a decreasing grid of ``alpha``, each warm-started from the last.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Inputs.
    y : array-like of shape (n_samples,) or (n_samples, n_tasks)
        Targets (``loss="squared"``) or per-task binary labels (``"logistic"``);
        NaN marks a missing one.
    penalty : str or LinearPenalty, default="l21"
        As in :class:`MultiTaskLinearRegressor`.
    loss : {"squared", "logistic"}, default="squared"
        The data-fit term.
    alphas : array-like, default=None
        The grid (sorted decreasingly here). By default ``n_alphas`` values
        log-spaced from :func:`alpha_max` down to ``alpha_min_ratio`` times it.
    n_alphas : int, default=20
        Size of the default grid.
    alpha_min_ratio : float, default=1e-3
        Smallest ``alpha`` of the default grid, relative to ``alpha_max``.
    l2 : float, default=0.0
        Ridge weight, fixed along the path.
    sample_weight : array-like of shape (n_samples,) or (n_samples, n_tasks), \
            default=None
        Weights of the losses.
    fit_intercept : bool, default=True
        Whether the (unpenalised) intercepts are fitted.
    max_iter : int, default=5000
        Maximum number of FISTA iterations for each ``alpha`` (as in
        :class:`MultiTaskLinearRegressor`); ``info[k]["n_iter"]`` is the number
        run.
    tol : float, default=1e-6
        Stopping tolerance of each point: the relative KKT residual and the
        relative objective change, as in :class:`MultiTaskLinearRegressor`
        (``info[k]["kkt"]``).
    restart : {"gradient", "function", None}, default="gradient"
        Adaptive momentum restart scheme.

    Returns
    -------
    alphas : ndarray of shape (n_alphas,)
        The grid, decreasing.
    coefs : array of shape (n_alphas, n_tasks, n_features)
        ``coef_`` (``W^T``) at every alpha, in the namespace of ``X``.
    intercepts : array of shape (n_alphas, n_tasks)
    info : list of dict
        Per alpha: ``n_iter``, ``converged``, ``objective``, ``kkt``, and
        ``components`` (``(n_blocks, n_tasks, n_features)``) for ``W = P + Q``.
    """
    X, Yf, omega, xp, device, n_tasks = _validate(X, y, sample_weight, loss)
    check_solver_params(max_iter, tol, restart)
    l2 = _check_real(l2, "l2")
    datafit = DATAFITS[loss]()
    pen = resolve_penalty(penalty)
    # One preparation (graph Laplacian in the data's namespace) for the whole path.
    prepared = pen.prepare(n_tasks, xp, device, X.dtype)
    if alphas is None:
        top = loss_alpha_max(X, Yf, omega, datafit, prepared, bool(fit_intercept), xp)
        if top is None:
            raise ValueError(
                f"The penalty {pen!r} has no alpha_max; pass alphas explicitly."
            )
        alphas = top * np.logspace(0.0, np.log10(_check_real(
            alpha_min_ratio, "alpha_min_ratio", positive=True)), int(n_alphas))
    alphas = np.sort(np.asarray(alphas, dtype=np.float64).ravel())[::-1]
    if alphas.size == 0 or not np.all(np.isfinite(alphas)) or np.any(alphas < 0):
        raise ValueError("alphas must be a non-empty list of finite numbers >= 0.")
    for a in alphas:
        pen.validate(n_tasks, float(a), l2)
    Z = b = lipschitz = scale = None
    coefs, intercepts, info = [], [], []
    for a in alphas:
        Z, b, res = fista(X, Yf, omega, datafit, prepared, float(a), l2, xp,
                          fit_intercept=bool(fit_intercept), Z0=Z, b0=b,
                          max_iter=int(max_iter), tol=float(tol), restart=restart,
                          lipschitz=lipschitz, grad_scale=scale,
                          record_history=False)
        lipschitz, scale = res["lipschitz"], res["grad_scale"]
        coefs.append(xp.sum(Z, axis=0).T)
        intercepts.append(b)
        entry = {k: res[k] for k in ("n_iter", "converged", "objective", "kkt")}
        if prepared.n_blocks > 1:
            entry["components"] = xp.permute_dims(Z, (0, 2, 1))
        info.append(entry)
    failed = [float(a) for a, e in zip(alphas, info, strict=True) if not e["converged"]]
    if failed:
        warnings.warn(
            f"linear_path did not converge for {len(failed)} alpha(s) (e.g. "
            f"{failed[0]:.3g}) within max_iter={max_iter} at tol={tol}. Increase "
            "max_iter or loosen tol.",
            ConvergenceWarning,
            stacklevel=2,
        )
    return alphas, xp.stack(coefs, axis=0), xp.stack(intercepts, axis=0), info


def tasks_to_wide(X_list, y_list):
    """Stack RMTL/MALSAR-style per-task lists into the wide layout.

    Task ``t``'s rows ``X_list[t]`` (``n_t x n_features``) and labels ``y_list[t]``
    become rows of ``X`` whose only observed entry of ``Y`` is column ``t``
    (:func:`rkhsmtl.datasets.long_to_wide` with the task index of each row).

    Parameters
    ----------
    X_list : sequence of array-like of shape (n_t, n_features)
        The rows of each task.
    y_list : sequence of array-like of shape (n_t,)
        Numeric labels (targets, or {-1, +1} / {0, 1} classes).

    Returns
    -------
    X : ndarray of shape (sum n_t, n_features)
    Y : ndarray of shape (sum n_t, n_tasks)
        NaN everywhere except each row's own task.
    """
    if len(X_list) != len(y_list) or len(X_list) == 0:
        raise ValueError(
            f"X_list and y_list must be non-empty and of equal length, got "
            f"{len(X_list)} and {len(y_list)}."
        )
    blocks = [np.asarray(x, dtype=np.float64) for x in X_list]
    labels = [np.asarray(y).reshape(-1) for y in y_list]
    widths = {b.shape[1] if b.ndim == 2 else -1 for b in blocks}
    if len(widths) != 1 or -1 in widths:
        raise ValueError("Every X_list[t] must be 2-D with the same number of columns.")
    for t, (xb, yb) in enumerate(zip(blocks, labels, strict=True)):
        if xb.shape[0] != yb.shape[0]:
            raise ValueError(
                f"Task {t}: X_list[{t}] has {xb.shape[0]} rows, y_list[{t}] "
                f"{yb.shape[0]} labels."
            )
    task = np.concatenate([np.full(b.shape[0], t) for t, b in enumerate(blocks)])
    return long_to_wide(np.vstack(blocks), np.concatenate(labels), task,
                        tasks=range(len(blocks)))
