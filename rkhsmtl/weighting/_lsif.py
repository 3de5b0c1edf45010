"""Least-squares density-ratio fitting: uLSIF and relative uLSIF (RuLSIF).

Both model the ratio as ``r(x) = sum_l theta_l exp(-||x - c_l||^2 / (2 sigma^2))``
with centres ``c_l`` drawn from the numerator sample and fit it by least squares
under the denominator (uLSIF, Kanamori et al. 2009) or under the mixture
``alpha p_nu + (1 - alpha) p_de`` (RuLSIF, Yamada et al. 2011):

    theta = max(0, (H + lambda I)^{-1} h),
    H = alpha mean_nu phi phi^T + (1 - alpha) mean_de phi phi^T,   h = mean_nu phi.

The kernel width and the ridge are chosen by the closed-form leave-one-out score of
the squared loss (one Woodbury update of rank two per left-out pair).
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.utils import check_random_state

from .._backend import array_device, cho_solve, cholesky
from ._base import (
    BaseDensityRatio,
    _check_int,
    _positive_grid,
    gaussian_basis,
    median_distance,
)

__all__ = ["RuLSIF", "ULSIF", "lsif_loo_scores"]

# Kernel widths tried by default, as multiples of the median pairwise distance.
_SIGMA_FACTORS = (0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 1.5, 2.5)
_DEFAULT_LAMBDAS = (1e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1.0, 3.0, 10.0)


def _gram(Phi, xp):
    return (Phi.T @ Phi) / Phi.shape[0]


def lsif_loo_scores(Phi_nu, Phi_de, lambdas, alpha, xp, *, loo_nu, loo_de):
    """Leave-one-out squared-loss scores of (R)uLSIF for one basis, several ridges.

    Pair ``k`` leaves out numerator row ``loo_nu[k]`` and denominator row
    ``loo_de[k]`` together; the refit without them is a rank-two update of the
    normal equations (Woodbury), so no refit is ever computed.

    Parameters
    ----------
    Phi_nu, Phi_de : arrays of shape (n_nu, b) and (n_de, b)
        Basis functions at the numerator and denominator samples.
    lambdas : sequence of float
        Ridge values.
    alpha : float in [0, 1)
        Relative parameter (0 for uLSIF).
    loo_nu, loo_de : integer arrays of shape (m,)
        Rows left out together.

    Returns
    -------
    scores : list of float
        ``mean_k [alpha/2 r_nu_k^2 + (1 - alpha)/2 r_de_k^2 - r_nu_k]`` per ridge,
        where ``r_*_k`` is the left-out refit evaluated at the left-out points
        (smaller is better).
    """
    n_nu, b = Phi_nu.shape
    n_de = Phi_de.shape[0]
    H_nu, H_de = _gram(Phi_nu, xp), _gram(Phi_de, xp)
    h = xp.mean(Phi_nu, axis=0)
    Psi = xp.take(Phi_nu, loo_nu, axis=0).T  # (b, m)
    Phi = xp.take(Phi_de, loo_de, axis=0).T
    s1 = (alpha / (n_nu - 1)) ** 0.5
    s2 = ((1.0 - alpha) / (n_de - 1)) ** 0.5
    base = (alpha * n_nu / (n_nu - 1)) * H_nu + ((1.0 - alpha) * n_de / (n_de - 1)) * H_de
    eye = xp.eye(b, dtype=Phi_nu.dtype, device=array_device(Phi_nu))
    scores = []
    for lam in lambdas:
        L = cholesky(base + float(lam) * eye, xp)
        g = cho_solve(L, h[:, None], xp)
        Q_psi = cho_solve(L, Psi, xp)
        Q_phi = cho_solve(L, Phi, xp)
        # Refit without pair k, before the rank-two correction: M^{-1} h_{-k}.
        v = (n_nu * g - Q_psi) / (n_nu - 1)
        S11 = 1.0 - s1 * s1 * xp.sum(Psi * Q_psi, axis=0)
        S12 = -s1 * s2 * xp.sum(Psi * Q_phi, axis=0)
        S22 = 1.0 - s2 * s2 * xp.sum(Phi * Q_phi, axis=0)
        w1 = s1 * xp.sum(Psi * v, axis=0)
        w2 = s2 * xp.sum(Phi * v, axis=0)
        det = S11 * S22 - S12 * S12
        z1 = (S22 * w1 - S12 * w2) / det
        z2 = (S11 * w2 - S12 * w1) / det
        theta = xp.clip(v + s1 * Q_psi * z1 + s2 * Q_phi * z2, 0.0, None)
        r_nu = xp.sum(Psi * theta, axis=0)
        r_de = xp.sum(Phi * theta, axis=0)
        loss = 0.5 * alpha * r_nu**2 + 0.5 * (1.0 - alpha) * r_de**2 - r_nu
        scores.append(float(xp.mean(loss)))
    return scores


class RuLSIF(BaseDensityRatio):
    r"""Relative unconstrained least-squares importance fitting (RuLSIF).

    Estimates the relative density ratio

    .. math::

        r_\alpha(x) = \frac{p_{nu}(x)}{\alpha\, p_{nu}(x) + (1 - \alpha)\, p_{de}(x)}
        \le \frac{1}{\alpha}

    from ``X_numerator`` (sample of :math:`p_{nu}`) and ``X_denominator`` (sample of
    :math:`p_{de}`) as a non-negative combination of Gaussian basis functions centred
    on numerator points. ``alpha=0`` is uLSIF, the plain ratio
    :math:`p_{nu}/p_{de}`. The kernel width ``sigma`` and the ridge ``lambda`` are
    chosen on a grid by the closed-form leave-one-out squared-loss score.

    With :math:`p_{nu}` the density of task ``t`` and :math:`p_{de}` that of the
    other tasks, ``alpha = n_t / n`` makes :math:`r_\alpha` exactly Bickel et al.'s
    multi-task weight :math:`p(x|t)/p(x)`.

    Read more in the :ref:`User Guide <distribution_matching>`.

    Parameters
    ----------
    alpha : float in [0, 1), default=0.1
        Relative parameter.
    sigmas : float, list of float or None, default=None
        Candidate Gaussian widths; ``None`` means the median pairwise distance of
        the pooled sample times (0.1, 0.2, 0.35, 0.5, 0.75, 1, 1.5, 2.5).
    lambdas : float, list of float or None, default=None
        Candidate ridge values; ``None`` means ``(1e-3, 1e-2, 3e-2, ..., 10)``.
    n_centers : int, default=100
        Number of basis centres (random numerator points; all of them if fewer).
    random_state : int, RandomState instance or None, default=None
        Seeds the choice of centres and the pairing of left-out points (both
        samples are permuted before pairing).

    Attributes
    ----------
    centers_ : array of shape (n_centers, n_features)
    theta_ : array of shape (n_centers,)
        Non-negative coefficients.
    sigma_, lambda_ : float
        Selected width and ridge.
    loo_scores_ : ndarray of shape (n_sigmas, n_lambdas)
        Leave-one-out scores (``nan`` when a single pair was given and no
        selection was needed).
    n_features_in_ : int

    References
    ----------
    M. Yamada, T. Suzuki, T. Kanamori, H. Hachiya and M. Sugiyama. Relative
    density-ratio estimation for robust distribution comparison. NIPS 2011.

    T. Kanamori, S. Hido and M. Sugiyama. A least-squares approach to direct
    importance estimation. JMLR 10:1391-1445, 2009.
    """

    def __init__(self, alpha=0.1, *, sigmas=None, lambdas=None, n_centers=100,
                 random_state=None):
        self.alpha = alpha
        self.sigmas = sigmas
        self.lambdas = lambdas
        self.n_centers = n_centers
        self.random_state = random_state

    def _alpha(self):
        a = self.alpha
        if isinstance(a, bool) or not isinstance(a, numbers.Real) or not 0 <= a < 1:
            raise ValueError(f"alpha must be a number in [0, 1), got {a!r}.")
        return float(a)

    def fit(self, X_numerator, X_denominator):
        """Fit the ratio ``p_nu / (alpha p_nu + (1 - alpha) p_de)``.

        Parameters
        ----------
        X_numerator : array-like of shape (n_nu, n_features)
            Sample of the numerator density.
        X_denominator : array-like of shape (n_de, n_features)
            Sample of the denominator density.

        Returns
        -------
        self : object
        """
        alpha = self._alpha()
        n_centers = _check_int(self.n_centers, "n_centers", 1)
        Xn, Xd, xp = self._validate_pair(X_numerator, X_denominator)
        device = array_device(Xn)
        rng = check_random_state(self.random_state)
        n_nu, n_de = Xn.shape[0], Xd.shape[0]
        b = min(n_centers, n_nu)
        idx = np.sort(rng.choice(n_nu, b, replace=False))
        centers = xp.take(Xn, xp.asarray(idx, device=device), axis=0)
        if self.sigmas is None:
            pooled = xp.concat([Xn, Xd], axis=0)
            scale = median_distance(pooled, xp, seed=int(rng.randint(2**31 - 1)))
            sigmas = scale * np.asarray(_SIGMA_FACTORS)
        else:
            sigmas = _positive_grid(self.sigmas, "sigmas")
        lambdas = (np.asarray(_DEFAULT_LAMBDAS) if self.lambdas is None
                   else _positive_grid(self.lambdas, "lambdas"))
        scores = np.full((sigmas.size, lambdas.size), np.nan)
        if sigmas.size * lambdas.size > 1:
            if n_nu < 2 or n_de < 2:
                raise ValueError(
                    "Leave-one-out selection of sigma and lambda needs at least 2 "
                    "numerator and 2 denominator samples; pass a single sigma and "
                    "lambda instead.")
            m = min(n_nu, n_de)
            loo_nu = xp.asarray(rng.permutation(n_nu)[:m], device=device)
            loo_de = xp.asarray(rng.permutation(n_de)[:m], device=device)
            for i, sigma in enumerate(sigmas):
                Phi_nu = gaussian_basis(Xn, centers, float(sigma), xp)
                Phi_de = gaussian_basis(Xd, centers, float(sigma), xp)
                scores[i] = lsif_loo_scores(Phi_nu, Phi_de, lambdas, alpha, xp,
                                            loo_nu=loo_nu, loo_de=loo_de)
            if not np.any(np.isfinite(scores)):
                raise ValueError("Every leave-one-out score is NaN; check the inputs.")
            i, j = np.unravel_index(np.nanargmin(scores), scores.shape)
        else:
            i, j = 0, 0
        self.sigma_ = float(sigmas[i])
        self.lambda_ = float(lambdas[j])
        self.loo_scores_ = scores
        self.centers_ = centers
        self.theta_ = _solve_theta(Xn, Xd, centers, self.sigma_, self.lambda_, alpha, xp)
        return self


def _solve_theta(Xn, Xd, centers, sigma, lam, alpha, xp):
    Phi_nu = gaussian_basis(Xn, centers, sigma, xp)
    Phi_de = gaussian_basis(Xd, centers, sigma, xp)
    H = alpha * _gram(Phi_nu, xp) + (1.0 - alpha) * _gram(Phi_de, xp)
    b = H.shape[0]
    H = H + lam * xp.eye(b, dtype=H.dtype, device=array_device(H))
    h = xp.mean(Phi_nu, axis=0)
    theta = cho_solve(cholesky(H, xp), h[:, None], xp)[:, 0]
    return xp.clip(theta, 0.0, None)


class ULSIF(RuLSIF):
    r"""Unconstrained least-squares importance fitting (uLSIF).

    Estimates :math:`r(x) = p_{nu}(x) / p_{de}(x)`; `RuLSIF` with ``alpha=0``.
    Kernel width and ridge are chosen by closed-form leave-one-out. The estimate is
    not normalised: divide by its mean over the denominator sample (see
    :func:`rkhsmtl.weighting.normalize_weights`).

    Read more in the :ref:`User Guide <distribution_matching>`.

    Parameters
    ----------
    sigmas : float, list of float or None, default=None
        Candidate Gaussian widths (``None``: multiples of the median distance).
    lambdas : float, list of float or None, default=None
        Candidate ridge values.
    n_centers : int, default=100
        Number of basis centres (random numerator points).
    random_state : int or None, default=None
        Seeds the centres and the left-out pairs.

    Attributes
    ----------
    centers_, theta_, sigma_, lambda_, loo_scores_, n_features_in_
        As in `RuLSIF`.

    References
    ----------
    T. Kanamori, S. Hido and M. Sugiyama. A least-squares approach to direct
    importance estimation. JMLR 10:1391-1445, 2009.
    """

    def __init__(self, *, sigmas=None, lambdas=None, n_centers=100, random_state=None):
        self.sigmas = sigmas
        self.lambdas = lambdas
        self.n_centers = n_centers
        self.random_state = random_state

    def _alpha(self):
        return 0.0

