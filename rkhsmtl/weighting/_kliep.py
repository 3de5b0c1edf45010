"""KLIEP: Kullback-Leibler importance estimation (Sugiyama et al. 2008).

Model ``r(x) = sum_l theta_l phi_l(x)`` with Gaussian ``phi_l`` centred on numerator
points; maximise the numerator log-likelihood ``mean_nu log r(x)`` subject to
``theta >= 0`` and ``mean_de r(x) = 1``. With ``beta_l = theta_l mean_de phi_l``
the constraints are a probability simplex and the problem is the maximum-likelihood
estimation of mixture proportions, solved by the EM fixed point
``beta_l <- beta_l mean_nu[a_l(x) / sum_m beta_m a_m(x)]`` (monotone, stays feasible),
stopped on a certified bound of the optimality gap. EM is slow near the optimum but
the log-likelihood is within a few 1e-3 of it after tens of iterations, which is far
below what the width selection can resolve.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state

from .._backend import array_device
from ._base import (
    BaseDensityRatio,
    _check_int,
    _positive_grid,
    gaussian_basis,
    median_distance,
)
from ._lsif import _SIGMA_FACTORS

__all__ = ["KLIEP", "kliep_solve"]

_TINY = 1e-300


def kliep_solve(Phi_nu, phi_de_mean, xp, *, max_iter=1000, tol=1e-3):
    """Maximise ``mean log(Phi_nu theta)`` s.t. ``theta >= 0``, ``phi_de_mean @ theta = 1``.

    Parameters
    ----------
    Phi_nu : array of shape (n_nu, b)
        Basis functions at the numerator sample.
    phi_de_mean : array of shape (b,)
        Mean of the basis functions over the denominator sample (positive).
    max_iter : int
        Maximum number of EM iterations.
    tol : float
        Stop when the optimality gap of the mean log-likelihood, bounded by
        ``max_l grad_l - 1``, is below ``tol``.

    Returns
    -------
    theta : array of shape (b,)
    n_iter : int
    converged : bool
    """
    b = Phi_nu.shape[1]
    A = Phi_nu / phi_de_mean[None, :]  # basis normalised to mean 1 under p_de
    beta = xp.full((b,), 1.0 / b, dtype=Phi_nu.dtype, device=array_device(Phi_nu))

    def em(beta):
        fitted = xp.clip(A @ beta, _TINY, None)
        grad = xp.mean(A / fitted[:, None], axis=0)
        new = beta * grad
        return new / xp.sum(new), grad

    converged = False
    n_iter = 0
    for n_iter in range(1, max_iter + 1):  # noqa: B007
        beta1, grad = em(beta)
        # Concavity gives loglik(opt) - loglik(beta) <= max(grad) - 1 (as
        # sum(beta * grad) = 1): a certified optimality gap.
        if float(xp.max(grad)) - 1.0 <= tol:
            converged = True
            break
        beta = beta1
    return beta / phi_de_mean, n_iter, converged


class KLIEP(BaseDensityRatio):
    r"""Kullback-Leibler importance estimation procedure (KLIEP).

    Estimates :math:`r(x) = p_{nu}(x) / p_{de}(x)` as a non-negative combination
    of Gaussian basis functions centred on numerator points, by maximising the
    numerator log-likelihood under the constraint that the mean of the estimate over
    ``X_denominator`` is 1 (so the estimate is normalised on the denominator sample
    by construction). The kernel width is chosen by ``cv``-fold likelihood
    cross-validation on the numerator sample.

    Read more in the :ref:`User Guide <distribution_matching>`.

    Parameters
    ----------
    sigmas : float, list of float or None, default=None
        Candidate widths; ``None`` means the median pairwise distance times
        (0.1, 0.2, 0.35, 0.5, 0.75, 1, 1.5, 2.5).
    n_centers : int, default=100
        Number of basis centres (random numerator points).
    cv : int, default=5
        Folds of the likelihood cross-validation (fewer if there are fewer
        numerator points).
    max_iter : int, default=1000
        Maximum number of EM (multiplicative) updates of the basis weights per
        fit, one product with the numerator's basis matrix each.
    tol : float, default=1e-3
        Stop when the certified optimality gap of the mean log-likelihood of the
        numerator sample, ``max_l grad_l - 1`` (an upper bound of the distance to
        the optimum, by concavity), is at most ``tol``.
    random_state : int, RandomState instance or None, default=None
        Seeds the centres and the folds.

    Attributes
    ----------
    centers_ : array of shape (n_centers, n_features)
    theta_ : array of shape (n_centers,)
    sigma_ : float
    cv_scores_ : ndarray of shape (n_sigmas,)
        Mean held-out log-ratio per width (``nan`` without selection).
    n_iter_ : int
    n_features_in_ : int

    References
    ----------
    M. Sugiyama, S. Nakajima, H. Kashima, P. von Buenau and M. Kawanabe. Direct
    importance estimation with model selection and its application to covariate
    shift adaptation. NIPS 2007.
    """

    def __init__(self, *, sigmas=None, n_centers=100, cv=5, max_iter=1000, tol=1e-3,
                 random_state=None):
        self.sigmas = sigmas
        self.n_centers = n_centers
        self.cv = cv
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state

    def _fit_one(self, Xn, Xd, centers, sigma, xp, max_iter):
        Phi_nu = gaussian_basis(Xn, centers, sigma, xp)
        b_de = xp.mean(gaussian_basis(Xd, centers, sigma, xp), axis=0)
        b_de = xp.clip(b_de, _TINY, None)
        return kliep_solve(Phi_nu, b_de, xp, max_iter=max_iter, tol=float(self.tol))

    def fit(self, X_numerator, X_denominator):
        """Fit the ratio ``p_nu / p_de``.

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
        n_centers = _check_int(self.n_centers, "n_centers", 1)
        max_iter = _check_int(self.max_iter, "max_iter", 1)
        folds = _check_int(self.cv, "cv", 2)
        Xn, Xd, xp = self._validate_pair(X_numerator, X_denominator)
        device = array_device(Xn)
        rng = check_random_state(self.random_state)
        n_nu = Xn.shape[0]
        if self.sigmas is None:
            scale = median_distance(xp.concat([Xn, Xd], axis=0), xp,
                                    seed=int(rng.randint(2**31 - 1)))
            sigmas = scale * np.asarray(_SIGMA_FACTORS)
        else:
            sigmas = _positive_grid(self.sigmas, "sigmas")

        def take(idx):
            return xp.take(Xn, xp.asarray(np.sort(idx), device=device), axis=0)

        scores = np.full(sigmas.size, np.nan)
        if sigmas.size > 1:
            folds = min(folds, n_nu)
            if folds < 2:
                raise ValueError("Likelihood cross-validation needs at least 2 "
                                 "numerator samples; pass a single sigma.")
            fold_of = rng.permutation(n_nu) % folds
            for i, sigma in enumerate(sigmas):
                held = []
                for k in range(folds):
                    train = np.flatnonzero(fold_of != k)
                    Xtr = take(train)
                    cidx = rng.choice(train.size, min(n_centers, train.size), replace=False)
                    centers = xp.take(Xtr, xp.asarray(np.sort(cidx), device=device), axis=0)
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", ConvergenceWarning)
                        theta, _, _ = self._fit_one(Xtr, Xd, centers, float(sigma), xp,
                                                    max_iter)
                    r = gaussian_basis(take(np.flatnonzero(fold_of == k)), centers,
                                       float(sigma), xp) @ theta
                    held.append(float(xp.mean(xp.log(xp.clip(r, _TINY, None)))))
                scores[i] = np.mean(held)
            best = int(np.nanargmax(scores))
        else:
            best = 0
        self.sigma_ = float(sigmas[best])
        self.cv_scores_ = scores
        cidx = rng.choice(n_nu, min(n_centers, n_nu), replace=False)
        self.centers_ = take(cidx)
        self.theta_, self.n_iter_, converged = self._fit_one(
            Xn, Xd, self.centers_, self.sigma_, xp, max_iter)
        if not converged:
            warnings.warn(
                f"KLIEP did not converge in max_iter={max_iter} EM iterations; "
                "increase max_iter or tol.", ConvergenceWarning, stacklevel=2)
        return self
