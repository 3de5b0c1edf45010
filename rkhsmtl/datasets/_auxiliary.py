"""A primary task with helpful and unrelated auxiliary tasks (planted)."""

import numpy as np

from ._synthetic import _N_FOURIER, _check_int, _check_real

__all__ = ["make_auxiliary_tasks"]

_KINDS = ("classification", "regression")


def _exceedances(Z, positive_rate):
    """1.0 where a column exceeds its ``1 - positive_rate`` quantile, else 0.0."""
    return (Z > np.quantile(Z, 1.0 - positive_rate, axis=0)).astype(float)


def _labelled_rows(y, fraction, classification, rng):
    """Rows whose primary label is kept: ``fraction`` of them, stratified by class
    (at least two rows of each class, or two rows for regression)."""
    n = y.shape[0]
    groups = [np.flatnonzero(y == c) for c in np.unique(y)] if classification \
        else [np.arange(n)]
    keep = [rng.choice(g, size=min(g.size, max(2, round(fraction * g.size))),
                       replace=False) for g in groups]
    return np.sort(np.concatenate(keep))


def make_auxiliary_tasks(n_samples=300, n_features=4, *, n_helpful=2, n_unrelated=2,
                         primary="classification", auxiliary="regression",
                         relatedness=0.9, noise=0.3, positive_rate=0.3,
                         primary_fraction=0.3, gamma=None, shuffle=True,
                         random_state=None):
    """Generate a primary task with planted helpful and unrelated auxiliary tasks.

    The story of an engine: a latent health function ``g(x)`` of the operating
    conditions ``x`` drives the primary task (a failure, or a wear measurement),
    some sensors measure quantities that follow ``g`` closely (helpful auxiliary
    tasks: temperature, vibration), others measure something else (unrelated
    tasks). Failures are rare and costly to label, sensor readings cheap: the
    primary task is labelled on ``primary_fraction`` of the samples, the
    auxiliary tasks on all of them.

    1. ``X`` has iid standard normal entries.
    2. Smooth functions from ``m = 300`` random Fourier features of the RBF
       kernel ``exp(-gamma ||x - x'||²)`` (as
       :func:`make_multitask_regression`), each standardised to mean 0 and
       standard deviation 1 over the samples: ``g``, one ``u_k`` per helpful and
       one ``v_k`` per unrelated task, drawn independently and then made
       uncorrelated over the samples (Gram-Schmidt, in this order).
    3. Signals: the primary ``g``; helpful task ``k``
       ``relatedness * g + sqrt(1 - relatedness²) * u_k`` (correlation
       ``relatedness`` with ``g``); unrelated task ``k`` ``v_k``. Each is
       observed with independent Gaussian noise of standard deviation ``noise``.
    4. A classification task is the *exceedance* of its noisy signal: 1.0 above
       the signal's ``1 - positive_rate`` quantile, else 0.0 (so about
       ``positive_rate`` of the labels are 1). A regression task is the noisy
       signal itself.
    5. The primary labels are kept on a random ``primary_fraction`` of the
       samples (stratified by class for classification, at least two labels per
       class), NaN elsewhere.

    Parameters
    ----------
    n_samples : int, default=300
        Number of samples, at least 8 and above ``1 + n_helpful + n_unrelated``.
    n_features : int, default=4
        Number of input features, at least 1.
    n_helpful : int, default=2
        Number of helpful auxiliary tasks (sharing the primary's function up to
        ``relatedness`` and noise), at least 0.
    n_unrelated : int, default=2
        Number of unrelated auxiliary tasks (independent functions), at least 0.
    primary : {"classification", "regression"}, default="classification"
        Kind of the primary task.
    auxiliary : {"classification", "regression"}, default="regression"
        Kind of every auxiliary task (exceedances or measurements).
    relatedness : float, default=0.9
        Correlation of a helpful task's signal with the primary's, in [0, 1].
    noise : float, default=0.3
        Standard deviation of the noise of every signal (of unit standard
        deviation), >= 0.
    positive_rate : float, default=0.3
        Fraction of exceedances (labels 1) of a classification task, in (0, 1).
    primary_fraction : float, default=0.3
        Fraction of the samples with a primary label, in (0, 1].
    gamma : float, default=None
        RBF bandwidth parameter of the functions, > 0; ``1 / n_features`` by
        default.
    shuffle : bool, default=True
        Put the auxiliary tasks in a random order (else the helpful ones first).
    random_state : int, RandomState instance or None, default=None
        Seeds a :class:`numpy.random.RandomState` through
        :func:`sklearn.utils.check_random_state`; the output is fully determined
        by it.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
        Inputs.
    Y : ndarray of shape (n_samples, 1 + n_helpful + n_unrelated)
        The primary task in column 0 (NaN where unlabelled), then the auxiliary
        tasks; labels 0.0/1.0 for classification tasks.
    tasks : ndarray of str, shape (1 + n_helpful + n_unrelated,)
        The name of every column: ``"primary"``, ``"helpful_<k>"``,
        ``"unrelated_<k>"`` -- the planted truth (e.g. for
        ``pandas.DataFrame(Y, columns=tasks)``).

    Raises
    ------
    ValueError
        If an argument is out of range.

    See Also
    --------
    rkhsmtl.auxiliary.select_auxiliary_tasks : Finds the helpful tasks.

    Examples
    --------
    >>> from rkhsmtl.datasets import make_auxiliary_tasks
    >>> X, Y, tasks = make_auxiliary_tasks(n_samples=100, random_state=0)
    >>> X.shape, Y.shape
    ((100, 4), (100, 5))
    >>> tasks.tolist()
    ['primary', 'unrelated_0', 'helpful_1', 'unrelated_1', 'helpful_0']
    """
    n_samples = _check_int(n_samples, "n_samples", 8)
    n_features = _check_int(n_features, "n_features", 1)
    n_helpful = _check_int(n_helpful, "n_helpful", 0)
    n_unrelated = _check_int(n_unrelated, "n_unrelated", 0)
    if 2 + n_helpful + n_unrelated > n_samples:
        raise ValueError(
            f"n_samples={n_samples} is too small for {1 + n_helpful + n_unrelated} "
            "uncorrelated task functions: it must exceed their number by one.")
    for name, kind in (("primary", primary), ("auxiliary", auxiliary)):
        if kind not in _KINDS:
            raise ValueError(f"{name} must be one of {_KINDS}, got {kind!r}.")
    relatedness = _check_real(relatedness, "relatedness", 0.0, 1.0)
    noise = _check_real(noise, "noise", 0.0, None)
    positive_rate = _check_real(positive_rate, "positive_rate", 0.0, 1.0,
                                low_open=True, high_open=True)
    primary_fraction = _check_real(primary_fraction, "primary_fraction", 0.0, 1.0,
                                   low_open=True)
    gamma = 1.0 / n_features if gamma is None else _check_real(
        gamma, "gamma", 0.0, None, low_open=True)
    if not isinstance(shuffle, (bool, np.bool_)):
        raise ValueError(f"shuffle must be a bool, got {shuffle!r}.")

    from sklearn.utils import check_random_state  # keep module import light

    rng = check_random_state(random_state)
    n_aux = n_helpful + n_unrelated
    X = rng.standard_normal((n_samples, n_features))
    omega = rng.normal(scale=np.sqrt(2.0 * gamma), size=(n_features, _N_FOURIER))
    offset = rng.uniform(0.0, 2.0 * np.pi, size=_N_FOURIER)
    Phi = np.sqrt(2.0 / _N_FOURIER) * np.cos(X @ omega + offset)
    F = Phi @ rng.standard_normal((_N_FOURIER, 1 + n_aux))
    # Orthonormal over the samples: an unrelated task is uncorrelated with the
    # primary on these samples, not only in expectation.
    F = np.linalg.qr(F - F.mean(axis=0))[0] * np.sqrt(n_samples)
    g = F[:, :1]
    S = np.column_stack([
        g,
        relatedness * g + np.sqrt(1.0 - relatedness ** 2) * F[:, 1:1 + n_helpful],
        F[:, 1 + n_helpful:],
    ])
    Z = S + noise * rng.standard_normal(S.shape)
    Y = Z.copy()
    if primary == "classification":
        Y[:, :1] = _exceedances(Z[:, :1], positive_rate)
    if auxiliary == "classification" and n_aux:
        Y[:, 1:] = _exceedances(Z[:, 1:], positive_rate)
    keep = _labelled_rows(Y[:, 0], primary_fraction, primary == "classification", rng)
    unlabelled = np.ones(n_samples, dtype=bool)
    unlabelled[keep] = False
    Y[unlabelled, 0] = np.nan
    tasks = np.asarray(["primary"] + [f"helpful_{k}" for k in range(n_helpful)]
                       + [f"unrelated_{k}" for k in range(n_unrelated)], dtype=object)
    order = np.concatenate([[0], 1 + (rng.permutation(n_aux) if shuffle
                                      else np.arange(n_aux))]).astype(int)
    return X, Y[:, order], tasks[order]
