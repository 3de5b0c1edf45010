"""Kernel mean matching (Huang, Smola, Gretton, Borgwardt, Schoelkopf 2007).

Weights ``beta`` of the denominator points such that the weighted denominator
sample has the numerator sample's kernel mean embedding:

    min_beta  1/2 beta^T K beta - kappa^T beta
    s.t.      0 <= beta_i <= B,   |sum_i beta_i - n_de| <= n_de * eps,

``K`` the Gaussian Gram matrix of the denominator sample and
``kappa_i = (n_de / n_nu) sum_j k(x_i^de, x_j^nu)``. Solved by accelerated
projected gradient (FISTA with restart), the projection onto the box-and-slab set
being exact (a shift found by bisection): no QP library needed.
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.validation import check_is_fitted

from .._backend import array_device, eigh, get_namespace, to_namespace
from ._base import BaseDensityRatio, _check_2d, _check_int, gaussian_basis, median_distance

__all__ = ["KernelMeanMatching", "kmm_solve", "project_box_slab"]

_BISECTION_STEPS = 80


def project_box_slab(v, upper, lo, hi, xp):
    """Euclidean projection of ``v`` onto ``{0 <= b <= upper, lo <= sum(b) <= hi}``.

    The projection is ``clip(v - mu, 0, upper)`` with ``mu = 0`` when that already
    satisfies the sum constraint, else ``mu`` solving ``sum = lo`` or ``sum = hi``
    (the sum is non-increasing in ``mu``; found by bisection).
    """
    b = xp.clip(v, 0.0, upper)
    total = float(xp.sum(b))
    if lo <= total <= hi:
        return b
    target = hi if total > hi else lo
    mu_lo, mu_hi = float(xp.min(v)) - upper, float(xp.max(v))
    for _ in range(_BISECTION_STEPS):
        mid = 0.5 * (mu_lo + mu_hi)
        if float(xp.sum(xp.clip(v - mid, 0.0, upper))) > target:
            mu_lo = mid
        else:
            mu_hi = mid
    return xp.clip(v - 0.5 * (mu_lo + mu_hi), 0.0, upper)


def kmm_solve(K, kappa, upper, lo, hi, xp, *, max_iter=5000, tol=1e-6):
    """FISTA for ``min 1/2 b^T K b - kappa^T b`` over the box-and-slab set.

    Returns
    -------
    beta : array of shape (n,)
    n_iter : int
    converged : bool
        Whether the projected-gradient residual ``||b - P(b - grad/L)|| * L`` fell
        below ``tol * max(1, ||kappa||)``.
    """
    L = float(eigh(K, xp)[0][-1])
    L = max(L, 1e-12)
    n = K.shape[0]
    beta = project_box_slab(xp.ones((n,), dtype=K.dtype, device=array_device(K)),
                            upper, lo, hi, xp)
    z, t = beta, 1.0
    scale = max(1.0, float(xp.sqrt(xp.sum(kappa * kappa))))
    converged = False
    n_iter = 0
    for n_iter in range(1, max_iter + 1):  # noqa: B007
        new = project_box_slab(z - (K @ z - kappa) / L, upper, lo, hi, xp)
        step = new - beta
        # Residual at the new point: a certificate of stationarity.
        grad_new = K @ new - kappa
        resid = new - project_box_slab(new - grad_new / L, upper, lo, hi, xp)
        if float(xp.sqrt(xp.sum(resid * resid))) * L <= tol * scale:
            beta = new
            converged = True
            break
        t_new = 0.5 * (1.0 + (1.0 + 4.0 * t * t) ** 0.5)
        if float(xp.sum(step * (z - new))) > 0:  # restart when momentum points uphill
            t_new, z = 1.0, new
        else:
            z = new + ((t - 1.0) / t_new) * step
        beta, t = new, t_new
    return beta, n_iter, converged


class KernelMeanMatching(BaseDensityRatio):
    r"""Kernel mean matching (KMM): importance weights of the denominator sample.

    Finds weights :math:`\beta_i \approx p_{nu}(x_i) / p_{de}(x_i)` of the points
    of ``X_denominator`` whose weighted Gaussian kernel mean matches that of
    ``X_numerator`` (a quadratic program with box and sum constraints, solved by
    accelerated projected gradient with an exact projection; no QP library).
    KMM is **transductive**: it gives weights at the denominator points only, so
    ``ratio(X)`` accepts only the ``X_denominator`` passed to ``fit`` (use it with
    ``weighting_cv=None`` in :class:`~rkhsmtl.DistributionMatchingMTL`). There is
    no principled selection of the width: ``sigma=None`` is the median heuristic.

    Read more in the :ref:`User Guide <distribution_matching>`.

    Parameters
    ----------
    sigma : float or None, default=None
        Gaussian width; ``None``: median pairwise distance of the pooled samples.
    B : float, default=1000.0
        Upper bound of the weights.
    eps : float or None, default=None
        Slack of the sum constraint ``|sum beta - n_de| <= n_de eps``;
        ``None``: ``(sqrt(n_de) - 1) / sqrt(n_de)``.
    max_iter : int, default=5000
        Maximum number of accelerated projected-gradient (FISTA) iterations, one
        product with the kernel matrix each; ``n_iter_`` is the number run.
    tol : float, default=1e-6
        Stop at the first iterate ``b`` whose projected-gradient residual
        ``L ||b - P(b - grad(b) / L)||`` (``P`` the projection on the feasible
        set, ``L`` the largest eigenvalue of the kernel matrix) is at most
        ``tol * max(1, ||kappa||)``.

    Attributes
    ----------
    weights_ : array of shape (n_de,)
        The weights of the denominator points.
    sigma_ : float
    n_iter_ : int
    n_features_in_ : int

    References
    ----------
    J. Huang, A. Smola, A. Gretton, K. Borgwardt and B. Schoelkopf. Correcting
    sample selection bias by unlabeled data. NIPS 2006.
    """

    def __init__(self, *, sigma=None, B=1000.0, eps=None, max_iter=5000, tol=1e-6):
        self.sigma = sigma
        self.B = B
        self.eps = eps
        self.max_iter = max_iter
        self.tol = tol

    def fit(self, X_numerator, X_denominator):
        """Weights of ``X_denominator`` matching the kernel mean of ``X_numerator``.

        Parameters
        ----------
        X_numerator : array-like of shape (n_nu, n_features)
            Sample of the numerator density ``p_nu``.
        X_denominator : array-like of shape (n_de, n_features)
            Sample of the denominator density ``p_de``.

        Returns
        -------
        self : object
        """
        max_iter = _check_int(self.max_iter, "max_iter", 1)
        for name in ("B",):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or value <= 0:
                raise ValueError(f"{name} must be a positive number, got {value!r}.")
        Xn, Xd, xp = self._validate_pair(X_numerator, X_denominator)
        n_nu, n_de = Xn.shape[0], Xd.shape[0]
        eps = (np.sqrt(n_de) - 1) / np.sqrt(n_de) if self.eps is None else float(self.eps)
        if not eps >= 0:
            raise ValueError(f"eps must be None or >= 0, got {self.eps!r}.")
        self.sigma_ = (median_distance(xp.concat([Xn, Xd], axis=0), xp)
                       if self.sigma is None else float(self.sigma))
        K = gaussian_basis(Xd, Xd, self.sigma_, xp)
        kappa = xp.sum(gaussian_basis(Xd, Xn, self.sigma_, xp), axis=1) * (n_de / n_nu)
        lo, hi = max(0.0, n_de * (1.0 - eps)), n_de * (1.0 + eps)
        beta, self.n_iter_, converged = kmm_solve(K, kappa, float(self.B), lo, hi, xp,
                                                  max_iter=max_iter, tol=float(self.tol))
        if not converged:
            warnings.warn(f"KernelMeanMatching did not converge in max_iter={max_iter} "
                          "iterations; increase max_iter or tol.", ConvergenceWarning,
                          stacklevel=2)
        self.weights_ = beta
        self._X_denominator = Xd
        return self

    def ratio(self, X):
        """The fitted weights, for ``X`` equal to the fitted ``X_denominator``.

        Parameters
        ----------
        X : array-like of shape (n_de, n_features)
            The fitted ``X_denominator`` (the weights exist only there).

        Returns
        -------
        r : array of shape (n_de,)

        Raises
        ------
        ValueError
            If ``X`` is not the denominator sample seen in ``fit`` (KMM is
            transductive).
        """
        check_is_fitted(self, "weights_")
        xp = get_namespace(self.weights_)
        Xd = self._X_denominator
        X = _check_2d(X if hasattr(X, "shape") else np.asarray(X, dtype=np.float64), "X",
                      get_namespace(X), n_features=self.n_features_in_)
        X = to_namespace(X, xp, array_device(Xd))
        if X.shape != Xd.shape or not bool(xp.all(X == Xd)):
            raise ValueError(
                "KernelMeanMatching is transductive: ratio(X) is only defined at the "
                "X_denominator passed to fit (in DistributionMatchingMTL use "
                "weighting_cv=None).")
        return self.weights_
