"""Input validation shared by the estimators (wide Y with NaN, weights, namespaces).

NumPy-like input (arrays, lists, DataFrames) goes through scikit-learn's
``validate_data`` so that ``n_features_in_`` / ``feature_names_in_`` and the error
messages are the usual ones. Other array-API namespaces are validated here without
leaving their namespace or device (scikit-learn would convert them to NumPy unless
its array-API dispatch is switched on).
"""

from __future__ import annotations

import math
import numbers
import warnings

import numpy as np
from sklearn.utils._param_validation import (
    Interval,
    InvalidParameterError,
    validate_parameter_constraints,
)
from sklearn.utils.validation import check_is_fitted, validate_data

from ._backend import array_device, get_namespace, is_numpy_namespace, to_namespace

__all__ = [
    "KERNEL_ESTIMATOR_CONSTRAINTS",
    "SCALE_ADVICE",
    "as_float_targets",
    "check_consistent_rows",
    "check_finite_values",
    "check_input_scale",
    "check_parameters",
    "check_positive_weights",
    "check_same_namespace",
    "check_symmetric_kernel",
    "entry_weights",
    "output_is_float32",
    "reset_fitted_attributes",
    "task_names",
    "to_output_dtype",
    "validate_X_fit",
    "validate_X_predict",
    "validate_sample_weight",
    "validate_targets",
]


# --------------------------------------------------------------------- parameters
# Declarative constraints in scikit-learn's vocabulary (what ``_parameter_constraints``
# holds); the intervals exclude NaN and infinity. The kernel estimators check the
# parameters they share here, after their own checks of alpha, kernel and solver.
KERNEL_ESTIMATOR_CONSTRAINTS = {
    "gamma": [None, Interval(numbers.Real, 0, None, closed="left")],
    "degree": [Interval(numbers.Real, 0, None, closed="left")],
    "coef0": [Interval(numbers.Real, None, None, closed="neither")],
    "kernel_params": [dict, None],
    "verbose": ["verbose"],
}


def check_parameters(estimator, constraints, *, advice=""):
    """Validate the parameters of ``estimator`` named in ``constraints``.

    Uses scikit-learn's parameter-constraint machinery (the vocabulary of
    ``_parameter_constraints``: :class:`~sklearn.utils._param_validation.Interval`,
    ``StrOptions``, types, None), so the message is scikit-learn's ("The 'gamma'
    parameter of MultiTaskKernelRidge must be ...; got inf instead.").

    Parameters
    ----------
    estimator : object
        Holds the parameters as attributes (``get_params`` is not needed).
    constraints : dict
        Parameter name to a list of accepted constraints.
    advice : str, default=""
        Appended to the message (what to do instead).

    Raises
    ------
    InvalidParameterError
        A subclass of both ValueError and TypeError.
    """
    params = {name: getattr(estimator, name) for name in constraints
              if hasattr(estimator, name)}
    try:
        validate_parameter_constraints(constraints, params,
                                       caller_name=type(estimator).__name__)
    except InvalidParameterError as exc:
        raise InvalidParameterError(f"{exc} {advice}".strip()) from None


# ----------------------------------------------------------------- input scales
SCALE_ADVICE = ("Scale the features first, e.g. with sklearn.preprocessing."
                "StandardScaler in a Pipeline.")

# Beyond this magnitude, products of two entries (kernel values, normal equations)
# lose the O(1) terms next to them, and iterative solvers meet condition numbers
# past 1e16: a warning. Squares overflowing float64 are an error.
POOR_SCALE = 1e8
# A column whose mean exceeds its spread this many times loses that many digits
# squared in distances computed as |x|^2 + |y|^2 - 2 x.y (rbf kernels).
POOR_OFFSET = 1e6


def check_input_scale(X, xp, name="X", *, warn=True):
    """Refuse inputs whose squares overflow; warn where cancellation is likely.

    Parameters
    ----------
    X : array of shape (n_samples, n_features)
        Validated (finite, float64) inputs.
    xp : module
        Namespace of ``X``.
    name : str, default="X"
        How the message calls the inputs.
    warn : bool, default=True
        Whether to warn about poorly scaled inputs (off where the computation
        adapts to the scale, e.g. Gaussian widths from the median distance).

    Raises
    ------
    ValueError
        If the sum of squares of a row could overflow float64 (every kernel but
        "precomputed" and every normal equation would hold inf or NaN).

    Warns
    -----
    UserWarning
        If entries exceed ``1e8`` in magnitude, or a column's mean exceeds its
        spread ``1e6`` times: overflow or cancellation is likely, solvers may
        stall or return inaccurate models.
    """
    if X.shape[0] == 0 or X.shape[1] == 0:
        return
    largest = float(xp.max(xp.abs(X)))
    limit = math.sqrt(np.finfo(np.float64).max / max(int(X.shape[1]), 1)) / 16
    if largest > limit:
        raise ValueError(
            f"{name} has entries up to {largest:.3g}: their squares overflow float64, "
            f"so kernel values and normal equations would be inf or NaN. "
            f"{SCALE_ADVICE}"
        )
    if not warn:
        return
    reason = None
    if largest > POOR_SCALE:
        reason = f"entries up to {largest:.3g}"
    elif X.shape[0] > 1:
        mean = xp.mean(X, axis=0)
        spread = xp.max(X, axis=0) - xp.min(X, axis=0)
        offset = xp.abs(mean) > POOR_OFFSET * spread
        # Constant columns (spread 0) are only offsets, not a cancellation risk.
        offset = offset & (spread > 0)
        if bool(xp.any(offset)):
            reason = (f"columns whose mean exceeds their range more than "
                      f"{POOR_OFFSET:.0e} times (distances between rows cancel)")
    if reason is not None:
        warnings.warn(
            f"{name} is poorly scaled ({reason}): overflow or cancellation is likely "
            f"and the solvers may stall or return an inaccurate model. {SCALE_ADVICE}",
            UserWarning, stacklevel=4)


def check_finite_values(values, xp, what, advice):
    """Raise a ValueError naming ``what`` when ``values`` hold NaN or infinity.

    Parameters
    ----------
    values : array
        Computed values (a kernel block, a learned matrix, ...).
    xp : module
        Namespace of ``values``.
    what : str
        What the values are, for the message.
    advice : str
        What the user can do (the setting to change).
    """
    if not bool(xp.all(xp.isfinite(values))):
        raise ValueError(f"{what} contains NaN or infinity. {advice}")


def check_symmetric_kernel(K, xp, *, rtol=1e-8):
    """Refuse a precomputed training kernel matrix that is not symmetric.

    Parameters
    ----------
    K : array of shape (n_samples, n_samples)
        The training kernel (finite, square).
    xp : module
        Namespace of ``K``.
    rtol : float, default=1e-8
        Asymmetry accepted, relative to ``max |K|`` (round-off of a computed
        kernel).
    """
    scale = float(xp.max(xp.abs(K))) if K.shape[0] else 0.0
    asym = float(xp.max(xp.abs(K - K.T))) if K.shape[0] else 0.0
    if asym > rtol * max(scale, np.finfo(np.float64).tiny):
        raise ValueError(
            "With kernel='precomputed', X must be the symmetric training kernel "
            f"matrix K[i, j] = k(x_i, x_j); max |K - K.T| = {asym:.3g} (relative "
            f"{asym / max(scale, np.finfo(np.float64).tiny):.3g}). Pass (K + K.T) / 2 "
            "if the asymmetry is round-off, or check how K was computed."
        )


def check_positive_weights(W, Y, what):
    """Refuse entry weights that are zero on every observed label.

    Parameters
    ----------
    W : ndarray of shape (n_samples, n_tasks)
        Entry weights on the host (e.g. sample weight times class weight).
    Y : ndarray of shape (n_samples, n_tasks)
        Targets, NaN where missing.
    what : str
        Which setting produced the weights, for the message.
    """
    W = np.asarray(W, dtype=np.float64)
    observed = ~np.isnan(np.asarray(Y, dtype=np.float64))
    if not np.any(W[observed] > 0):
        raise ValueError(
            f"{what} gives every observed label a zero weight: there is nothing to "
            "fit. Give some classes a positive weight."
        )


def reset_fitted_attributes(estimator, keep=()):
    """Delete what a previous ``fit`` stored, so that a refit leaves no stale state.

    Fitted attributes (public names ending in ``_``, e.g. ``objective_history_``,
    which only some configurations set) are removed; parameters are kept. Call it
    at the start of ``fit``.

    Parameters
    ----------
    estimator : object
    keep : iterable of str
        Fitted attributes the new fit reads (e.g. a warm start's coefficients).
    """
    keep = set(keep)
    for name in list(vars(estimator)):
        if name.endswith("_") and not name.startswith("_") and name not in keep:
            delattr(estimator, name)


def _float_dtype(xp):
    return xp.float64


def output_is_float32(X):
    """Whether outputs computed at ``X`` are returned as float32.

    Fits and predictions compute in float64 (the solvers' tolerances need it);
    outputs come back in float32 when ``X`` holds float32 values, as in
    scikit-learn: a NumPy or other array-API array of dtype float32, or a data
    frame whose columns are all float32 (nullable ``Float32`` included). Call it
    on the user's ``X``, before validation converts it.
    """
    dtypes = getattr(X, "dtypes", None)
    if dtypes is not None and getattr(X, "ndim", 0) == 2:  # a data frame
        dtypes = list(dtypes)
        return bool(dtypes) and all(
            getattr(d, "numpy_dtype", d) == np.float32 for d in dtypes)
    dtype = getattr(X, "dtype", None)
    if dtype is None:
        return False
    if isinstance(X, np.ndarray):
        return dtype == np.float32
    xp = get_namespace(X)
    return dtype == xp.float32


def to_output_dtype(values, float32):
    """``values`` (float64) cast to float32 when ``float32`` (see `output_is_float32`).

    Arrays that do not hold real floating values (labels) are returned as they are.
    """
    if not float32 or not hasattr(values, "dtype"):
        return values
    xp = get_namespace(values)
    if isinstance(values, np.ndarray) and values.dtype.kind != "f":
        return values
    if not xp.isdtype(values.dtype, "real floating"):
        return values
    return xp.astype(values, xp.float32)


def task_names(y, n_tasks, xp=None, device=None):
    """The ``tasks_`` attribute: what the columns of ``y`` are called.

    Parameters
    ----------
    y : array-like
        The targets as the user passed them to ``fit``.
    n_tasks : int
        Number of tasks of the fit.
    xp : module, default=None
        Namespace of the fit's input (None: NumPy).
    device : object, default=None
        Device of the fit's input.

    Returns
    -------
    tasks : array of shape (n_tasks,)
        The column names of a DataFrame ``y`` (object dtype for strings, as
        ``feature_names_in_``), else ``arange(n_tasks)``, in the namespace and on
        the device of the input (scikit-learn expects every fitted array there).
    """
    columns = getattr(y, "columns", None)
    if columns is not None and getattr(y, "ndim", 2) == 2 and len(columns) == n_tasks:
        names = np.asarray(columns)
        return names.astype(object) if names.dtype.kind in "OUST" else names
    if xp is None or is_numpy_namespace(xp):
        return np.arange(n_tasks)
    return xp.arange(n_tasks, device=device)


def validate_X_fit(estimator, X, *, check_scale=True):
    """Validate training inputs; set ``n_features_in_`` (and feature names).

    Parameters
    ----------
    estimator : estimator
        Receives ``n_features_in_`` (and ``feature_names_in_``).
    X : array-like of shape (n_samples, n_features)
        Training inputs.
    check_scale : bool, default=True
        Refuse inputs whose squares overflow and warn about poorly scaled ones
        (`check_input_scale`); off for a precomputed kernel matrix.

    Returns
    -------
    X : array of shape (n_samples, n_features), float64
    xp : module
        The namespace of the input (NumPy for lists and DataFrames).
    """
    xp = get_namespace(X)
    if is_numpy_namespace(xp):
        X = validate_data(estimator, X, reset=True, dtype=np.float64,
                          ensure_all_finite=True)
    else:
        X = _validate_xp_array(X, xp, "X")
        estimator.n_features_in_ = int(X.shape[1])
        if hasattr(estimator, "feature_names_in_"):
            del estimator.feature_names_in_
    if check_scale:
        check_input_scale(X, xp)
    return X, xp


def validate_X_predict(estimator, X, method="predict", *, attribute):
    """Validate inputs at predict time against what ``fit`` saw.

    ``attribute`` names a fitted array, present after every fit, whose namespace
    and device ``X`` must share.
    """
    check_is_fitted(estimator)
    check_same_namespace(X, estimator, attribute=attribute, method=method)
    xp = get_namespace(X)
    if is_numpy_namespace(xp):
        return validate_data(estimator, X, reset=False, dtype=np.float64,
                             ensure_all_finite=True), xp
    X = _validate_xp_array(X, xp, "X")
    if X.shape[1] != estimator.n_features_in_:
        raise ValueError(
            f"X has {X.shape[1]} features, but {type(estimator).__name__} is "
            f"expecting {estimator.n_features_in_} features as input."
        )
    return X, xp


def _validate_xp_array(X, xp, name):
    if X.ndim != 2:
        raise ValueError(
            f"Expected a 2-D array for {name}, got {X.ndim}-D with shape {X.shape}."
        )
    if X.shape[0] < 1:
        raise ValueError(f"Found array with 0 sample(s) (shape={X.shape}) in {name}.")
    if X.shape[1] < 1:
        raise ValueError(f"Found array with 0 feature(s) (shape={X.shape}) in {name}.")
    if not xp.isdtype(X.dtype, ("real floating", "integral", "bool")):
        raise ValueError(f"{name} must be real numeric, got dtype {X.dtype}.")
    X = xp.astype(X, _float_dtype(xp))
    if not bool(xp.all(xp.isfinite(X))):
        raise ValueError(f"Input {name} contains NaN or infinity.")
    return X


def check_same_namespace(X, estimator, *, attribute, method):
    """Raise if ``X`` is not in the namespace and on the device used in ``fit``.

    The message follows scikit-learn's, so its common checks recognise it.
    """
    attr = getattr(estimator, attribute)
    a_xp = get_namespace(attr)
    X_xp = get_namespace(X)
    if is_numpy_namespace(a_xp) and is_numpy_namespace(X_xp):
        return
    if a_xp.__name__ != X_xp.__name__:
        detail = (f"Array namespaces used during fit ({a_xp.__name__}) and {method} "
                  f"({X_xp.__name__}) differ.")
    elif array_device(attr) != array_device(X):
        detail = (f"Devices used during fit ({array_device(attr)}) and {method} "
                  f"({array_device(X)}) differ.")
    else:
        return
    raise ValueError(
        f"Inputs passed to {type(estimator).__name__}.{method}() must use the same "
        f"namespace and the same device as those passed to fit(). {detail}"
    )


# Inside cross-validation, a task without labels in a training fold usually comes
# from an integer cv (KFold) on data sorted by task: say what to use instead.
SPLITTER_ADVICE = (
    "In cross-validation (GridSearchCV(cv=5), cross_val_score, ...) this means the "
    "folds left those tasks without training labels (or with one class), as KFold "
    "does on data sorted by task: pass "
    "cv=rkhsmtl.model_selection.MultiTaskStratifiedKFold(...), which keeps every "
    "task in every fold, or search with rkhsmtl.model_selection.MultiTaskGridSearchCV, "
    "which uses it for an integer cv."
)


def entry_weights(Y, sample_weight, xp):
    """Weights of the entries of ``Y`` (n, T): the sample weights, zero where missing.

    Parameters
    ----------
    Y : array of shape (n, T)
        Targets, NaN for a missing label.
    sample_weight : array of shape (n,) or (n, T) or None
        Validated weights (None: all ones).
    xp : module
        Namespace of ``Y``.

    Returns
    -------
    W : array of shape (n, T)
    """
    n, T = Y.shape
    if sample_weight is None:
        W = xp.ones((n, T), dtype=Y.dtype, device=array_device(Y))
    elif sample_weight.ndim == 1:
        W = xp.broadcast_to(sample_weight[:, None], (n, T))
    else:
        W = sample_weight
    return xp.where(xp.isnan(Y), xp.zeros_like(W), W)


def check_consistent_rows(X, Y):
    """Raise the usual scikit-learn error when ``X`` and ``Y`` differ in rows.

    ``X`` may be an array or its number of rows.
    """
    n_x = X if isinstance(X, numbers.Integral) else X.shape[0]
    if Y.shape[0] != n_x:
        raise ValueError(
            "Found input variables with inconsistent numbers of samples: "
            f"[{n_x}, {Y.shape[0]}] (X has {n_x} rows, Y {Y.shape[0]})."
        )


def as_float_targets(Y, name="Y"):
    """Host targets as a float64 NumPy array, NaN for a missing label.

    Lists, NumPy arrays and pandas objects (nullable ``Float64`` / ``Int64``
    included) in which NaN, None or ``pandas.NA`` mark a missing label -- the
    missing values the classifier and the metrics accept
    (:func:`rkhsmtl._labels.missing_mask`).

    Parameters
    ----------
    Y : array-like
        Targets.
    name : str, default="Y"
        How error messages call the targets.

    Returns
    -------
    Y : ndarray of float64
    """
    from ._labels import missing_mask  # _labels imports this module

    if hasattr(Y, "to_numpy"):  # pandas: nullable columns give objects with pd.NA
        Y = Y.to_numpy()
    Y = np.asarray(Y)
    try:
        if Y.dtype.kind != "O":
            return Y.astype(np.float64)
        missing = missing_mask(Y)
        out = np.full(Y.shape, np.nan)
        out[~missing] = Y[~missing].astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"{name} must be numeric with NaN (or None, pandas.NA) for missing "
            f"labels: {exc}"
        ) from exc
    return out


# Entries of Y per block of the checks below: their temporaries (a few arrays the
# size of the block) stay at tens of MB where Y itself may be GBs.
_TARGET_CHECK_ENTRIES = 2**22


def _target_summary(Y, xp):
    """``(any infinity, largest |observed label|, observed labels per task)`` of a
    2-D ``Y``, by blocks of rows."""
    n, T = Y.shape
    rows = max(1, _TARGET_CHECK_ENTRIES // max(T, 1))
    any_inf, largest, counts = False, 0.0, None
    for start in range(0, n, rows):
        block = Y[start:min(start + rows, n), :]  # strict libraries refuse overshoot
        any_inf = any_inf or bool(xp.any(xp.isinf(block)))
        observed = ~xp.isnan(block)
        if bool(xp.any(observed)):
            largest = max(largest, float(xp.max(xp.abs(
                xp.where(observed, block, xp.zeros_like(block))))))
        part = xp.sum(xp.astype(observed, xp.int64), axis=0)
        counts = part if counts is None else counts + part
    if counts is None:  # no rows
        return any_inf, largest, [0] * T
    return any_inf, largest, [int(counts[t]) for t in range(T)]


def validate_targets(Y, n_samples, xp, device, *, allow_missing_tasks=False):
    """Wide targets: (n,) or (n, T) float, NaN for missing, no infinity.

    Host targets may mark a missing label by NaN, None or ``pandas.NA``
    (`as_float_targets`).

    Returns
    -------
    Y : array of shape (n_samples, n_tasks), float64
    was_1d : bool
    """
    if Y is None:
        raise ValueError(
            "This estimator requires y to be passed, but the target y is None."
        )
    if is_numpy_namespace(xp):
        Y = xp.asarray(as_float_targets(Y))
    else:
        Y = to_namespace(Y, xp, device)
        if not xp.isdtype(Y.dtype, ("real floating", "integral", "bool")):
            raise ValueError(f"Y must be real numeric, got dtype {Y.dtype}.")
        Y = xp.astype(Y, _float_dtype(xp))
    if Y.ndim not in (1, 2):
        raise ValueError(f"Y must be 1-D or 2-D (n_samples, n_tasks), got shape "
                         f"{tuple(Y.shape)}.")
    check_consistent_rows(n_samples, Y)
    was_1d = Y.ndim == 1
    if was_1d:
        Y = xp.reshape(Y, (-1, 1))
    if Y.shape[1] < 1:
        raise ValueError("Y has no column: at least one task is needed.")
    any_inf, largest, per_task = _target_summary(Y, xp)
    if any_inf:
        raise ValueError("Input Y contains infinity; use NaN to mark a missing label.")
    if largest > math.sqrt(np.finfo(np.float64).max / max(int(Y.shape[0]), 1)) / 16:
        raise ValueError(
            f"Y has values up to {largest:.3g}: sums of squared errors overflow "
            "float64. Scale the targets (e.g. sklearn.compose.TransformedTargetRegressor "
            "with a StandardScaler)."
        )
    if sum(per_task) == 0:
        raise ValueError("Input Y contains NaN only: there is no observed label.")
    if not allow_missing_tasks:
        empty = [t for t, count in enumerate(per_task) if count == 0]
        if empty:
            raise ValueError(
                f"Task(s) {empty} have no observed label (all-NaN column(s) of Y). "
                "Drop those columns or provide labels for them. "
                f"{SPLITTER_ADVICE}"
            )
    return Y, was_1d


def validate_sample_weight(sample_weight, Y, xp, device):
    """Weights of shape (n,) or (n, T), finite and non-negative, not all zero.

    Also rejects a task whose every observed label has zero weight.

    Returns
    -------
    sample_weight : array of shape (n,) or (n, T), float64, or None
    """
    if sample_weight is None:
        return None
    n, T = Y.shape
    if isinstance(sample_weight, numbers.Number):
        sample_weight = xp.full((n,), float(sample_weight), dtype=_float_dtype(xp),
                                device=device)
    elif is_numpy_namespace(xp):
        sample_weight = xp.asarray(np.asarray(sample_weight, dtype=np.float64))
    else:
        sample_weight = xp.astype(to_namespace(sample_weight, xp, device),
                                  _float_dtype(xp))
    shape = tuple(sample_weight.shape)
    if shape not in ((n,), (n, T)):
        raise ValueError(
            f"sample_weight.shape == {shape}, expected {(n,)} or {(n, T)} "
            "(n_samples,) or (n_samples, n_tasks)."
        )
    if not bool(xp.all(xp.isfinite(sample_weight))):
        raise ValueError("sample_weight contains NaN or infinity.")
    if bool(xp.any(sample_weight < 0)):
        raise ValueError("Negative values in sample_weight are not allowed.")
    if not bool(xp.any(sample_weight > 0)):
        raise ValueError("Sample weights are all zero: there is nothing to fit.")
    W = sample_weight if sample_weight.ndim == 2 else sample_weight[:, None]
    used = (W > 0) & ~xp.isnan(Y)
    per_task = xp.sum(xp.astype(used, xp.int64), axis=0)
    empty = [int(t) for t in range(T) if int(per_task[t]) == 0]
    if empty:
        raise ValueError(
            f"Task(s) {empty} have no observed label with a positive sample weight "
            "(the weights are zero wherever those tasks are observed)."
        )
    return sample_weight
