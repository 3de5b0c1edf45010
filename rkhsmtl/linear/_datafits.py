"""Data-fit terms of the linear family, as functions of the prediction matrix ``F``.

Both losses are weighted *sums* over the observed entries of the wide targets::

    squared:  sum_{i,t} w_it (Y_it - F_it)^2
    logistic: sum_{i,t} w_it log(1 + exp(-Y_it F_it)),   Y_it in {-1, +1}

with ``F = X W + 1 b^T``. Missing labels have ``w_it = 0`` (the caller fills ``Y``
with 0 there), so the solver never branches on the mask. Working on ``F`` lets the
solver reuse ``X W`` products: momentum is linear, so ``X S`` at an extrapolated
point is a combination of the two previous products.
"""

from __future__ import annotations

from .._losses import sigmoid, softplus

__all__ = ["SquaredLoss", "LogisticLoss", "DATAFITS"]


class SquaredLoss:
    """Weighted sum of squared errors ``sum w (Y - F)^2`` (no 1/2, no 1/n)."""

    name = "squared"
    # Curvature of the loss in F, per unit weight: the Lipschitz constant of the
    # gradient is curvature * max(w) * ||[X, 1]||_2^2.
    curvature = 2.0

    def value(self, F, Y, omega, xp):
        R = Y - F
        return xp.sum(omega * R * R)

    def value_and_grad(self, F, Y, omega, xp):
        R = omega * (F - Y)
        return xp.sum(R * (F - Y)), 2.0 * R

    def hessian_weights(self, F, Y, omega, xp):
        """Second derivative of the loss in every entry of ``F`` (weights included)."""
        return 2.0 * omega

    def bregman(self, F_new, F_old, Y, omega, xp):
        """``loss(F_new) - loss(F_old) - <grad, F_new - F_old>``, exactly."""
        D = F_new - F_old
        return xp.sum(omega * D * D)

    def intercept_at_zero(self, Y, omega, task_sums, xp):
        """Per-task intercept minimising the loss when ``W = 0`` (``task_sums``
        sums an array of the shape of ``Y`` over each task's entries)."""
        total = task_sums(omega)
        return task_sums(omega * Y) / xp.where(total > 0, total, 1.0)


class LogisticLoss:
    """Weighted sum of logistic losses ``sum w log(1 + exp(-y F))``, y in {-1, +1}."""

    name = "logistic"
    curvature = 0.25

    def value(self, F, Y, omega, xp):
        return xp.sum(omega * softplus(-Y * F, xp))

    def value_and_grad(self, F, Y, omega, xp):
        margin = Y * F
        return (xp.sum(omega * softplus(-margin, xp)),
                -omega * Y * sigmoid(-margin, xp))

    def hessian_weights(self, F, Y, omega, xp):
        """Second derivative of the loss in every entry of ``F`` (weights included)."""
        p = sigmoid(F, xp)
        return omega * p * (1.0 - p)

    def bregman(self, F_new, F_old, Y, omega, xp):
        """``loss(F_new) - loss(F_old) - <grad, F_new - F_old>`` entry by entry.

        The difference of two totals loses everything to rounding once the step is
        small (and the line search would then grow ``L`` for nothing); per entry,
        small margin changes use the fourth-order Taylor expansion instead.
        """
        m0 = Y * F_old
        d = Y * (F_new - F_old)
        p = sigmoid(-m0, xp)  # -loss'(m0)
        q = p * (1.0 - p)
        r = 1.0 - 2.0 * p
        exact = softplus(-(m0 + d), xp) - softplus(-m0, xp) + p * d
        taylor = d * d * (0.5 * q - d * q * r / 6.0
                          + d * d * (q * r * r - 2.0 * q * q) / 24.0)
        return xp.sum(omega * xp.where(xp.abs(d) < 1e-3, taylor, exact))

    def intercept_at_zero(self, Y, omega, task_sums, xp):
        pos = task_sums(omega * xp.astype(Y > 0, omega.dtype))
        neg = task_sums(omega * xp.astype(Y < 0, omega.dtype))
        tiny = 1e-12 * (pos + neg + 1e-300)
        return xp.log(xp.maximum(pos, tiny)) - xp.log(xp.maximum(neg, tiny))


DATAFITS = {"squared": SquaredLoss, "logistic": LogisticLoss}
