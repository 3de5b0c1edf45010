"""Shared pieces of the density-ratio estimators: Gaussian basis, widths, checks."""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from .._backend import array_device, get_namespace, is_numpy_namespace, to_namespace
from .._base import VersionedStateMixin
from .._validation import check_input_scale

__all__ = ["BaseDensityRatio", "gaussian_basis", "median_distance"]


def _sq_distances(X, C, xp):
    """Squared Euclidean distances between rows of X and rows of C (clipped at 0)."""
    xx = xp.sum(X * X, axis=1)
    cc = xp.sum(C * C, axis=1)
    d2 = xx[:, None] + cc[None, :] - 2.0 * (X @ C.T)
    return xp.clip(d2, 0.0, None)


def gaussian_basis(X, centers, sigma, xp):
    """Design matrix ``Phi[i, l] = exp(-||x_i - c_l||^2 / (2 sigma^2))``."""
    return xp.exp(-_sq_distances(X, centers, xp) / (2.0 * sigma * sigma))


def median_distance(X, xp, *, max_rows=500, seed=0):
    """Median pairwise distance of (at most ``max_rows`` random) rows of ``X``.

    The usual reference scale for a Gaussian kernel width (median heuristic); a
    scalar, so the median itself is taken on the host.
    """
    n = X.shape[0]
    if n > max_rows:
        idx = np.sort(np.random.default_rng(seed).choice(n, max_rows, replace=False))
        X = xp.take(X, xp.asarray(idx, device=array_device(X)), axis=0)
    m = X.shape[0]
    if m < 2:
        return 1.0
    d = _host(xp.sqrt(_sq_distances(X, X, xp)))
    med = float(np.median(d[np.triu_indices(m, 1)]))
    return med if med > 0 else 1.0


def _host(a):
    from .._backend import to_numpy

    return to_numpy(a)


def _check_2d(X, name, xp, n_features=None):
    if not hasattr(X, "shape"):
        X = np.asarray(X, dtype=np.float64)
        xp = get_namespace(X)
    if is_numpy_namespace(xp):
        X = np.asarray(X, dtype=np.float64)
        X = xp.asarray(X)
    else:
        X = xp.astype(X, xp.float64)
    if X.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_samples, n_features), got shape "
                         f"{tuple(X.shape)}.")
    if X.shape[0] < 1:
        raise ValueError(f"{name} has no row.")
    if n_features is not None and X.shape[1] != n_features:
        raise ValueError(f"{name} has {X.shape[1]} features, expected {n_features}.")
    if not bool(xp.all(xp.isfinite(X))):
        raise ValueError(f"{name} contains NaN or infinity.")
    # Widths follow the data's scale (median heuristic): only overflow is refused.
    check_input_scale(X, xp, name, warn=False)
    return X


def _positive_grid(values, name):
    grid = np.atleast_1d(np.asarray(values, dtype=np.float64))
    if grid.ndim != 1 or grid.size == 0 or not np.all(np.isfinite(grid)) or np.any(
            grid <= 0):
        raise ValueError(f"{name} must be a positive number or a non-empty list of "
                         f"positive numbers, got {values!r}.")
    return grid


def _check_int(value, name, minimum):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}.")
    return int(value)


class BaseDensityRatio(VersionedStateMixin, BaseEstimator):
    """Base class of the two-sample density-ratio estimators.

    Every subclass estimates ``r(x) = p_nu(x) / p_de(x)`` (or a relative version of
    it, see `RuLSIF`) from a sample of the numerator density ``p_nu`` and a sample
    of the denominator density ``p_de``: ``fit(X_numerator, X_denominator)`` then
    ``ratio(X)``. Numerics follow the namespace of ``X_numerator``.
    """

    def _validate_pair(self, X_numerator, X_denominator):
        xp = get_namespace(X_numerator, X_denominator)
        Xn = _check_2d(X_numerator, "X_numerator", xp)
        xp = get_namespace(Xn)
        device = array_device(Xn)
        Xd = _check_2d(to_namespace(X_denominator, xp, device) if hasattr(
            X_denominator, "shape") else X_denominator, "X_denominator", xp,
            n_features=Xn.shape[1])
        Xd = to_namespace(Xd, xp, device)
        self.n_features_in_ = int(Xn.shape[1])
        return Xn, Xd, xp

    def _validate_ratio_input(self, X):
        check_is_fitted(self)
        xp = get_namespace(self.centers_)
        X = _check_2d(X if hasattr(X, "shape") else np.asarray(X, dtype=np.float64),
                      "X", get_namespace(X), n_features=self.n_features_in_)
        return to_namespace(X, xp, array_device(self.centers_)), xp

    def ratio(self, X):
        """Estimated density ratio at ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Points at which to evaluate the ratio.

        Returns
        -------
        r : array of shape (n_samples,)
            Non-negative estimated ratios, in the namespace of the fitted model.
        """
        X, xp = self._validate_ratio_input(X)
        Phi = gaussian_basis(X, self.centers_, self.sigma_, xp)
        return xp.clip(Phi @ self.theta_, 0.0, None)
