r"""The logistic loss and its link, stable for any margin, in any array namespace.

Shared by the kernel (:mod:`rkhsmtl._solvers.logistic`, the classifier mixin of
:mod:`rkhsmtl._base`) and the linear (:mod:`rkhsmtl.linear`) families, so that
probabilities and losses are computed by one formula everywhere. With labels
``y`` in {-1, +1} and scores ``f``, the loss of one entry is

    l(y, f) = log(1 + exp(-y f)) = softplus(-y f),

with ``dl/df = -y sigmoid(-y f)`` and ``d2l/df2 = sigmoid(-y f) sigmoid(y f)``.
Every function takes arrays of a namespace ``xp`` and uses only the array API.
"""

from __future__ import annotations

__all__ = ["logistic_terms", "sigmoid", "softplus"]


def sigmoid(m, xp):
    """``1 / (1 + exp(-m))`` without overflow.

    Parameters
    ----------
    m : array
        Any real values.
    xp : module
        Namespace of ``m``.

    Returns
    -------
    array
        Same shape as ``m``, in ``[0, 1]``.
    """
    e = xp.exp(-xp.abs(m))
    return xp.where(m >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def softplus(m, xp):
    """``log(1 + exp(m)) = max(m, 0) + log(1 + exp(-|m|))``, stable for any ``m``.

    Parameters
    ----------
    m, xp
        As in :func:`sigmoid`.

    Returns
    -------
    array
        Same shape as ``m``, non-negative.
    """
    return xp.clip(m, 0.0, None) + xp.log1p(xp.exp(-xp.abs(m)))


def logistic_terms(F, Y_pm, W, xp, *, derivatives=True):
    """Weighted logistic loss of the scores ``F`` and its first two derivatives.

    Parameters
    ----------
    F : array of shape (n, T)
        Scores (decision values), intercept included.
    Y_pm : array of shape (n, T)
        Labels in {-1, +1}; anything at unobserved entries (their weight is 0).
    W : array of shape (n, T)
        Entry weights, zero on missing labels.
    xp : module
        Namespace of the arrays.
    derivatives : bool
        Compute ``G`` and ``D`` too.

    Returns
    -------
    loss : float
        ``sum w log(1 + exp(-y F))``.
    G : array of shape (n, T) or None
        ``dloss/dF``.
    D : array of shape (n, T) or None
        ``d2loss/dF2`` (diagonal).
    """
    margin = Y_pm * F
    loss = float(xp.sum(W * softplus(-margin, xp)))
    if not derivatives:
        return loss, None, None
    p_wrong = sigmoid(-margin, xp)  # probability given to the other class
    G = -W * Y_pm * p_wrong
    D = W * p_wrong * (1.0 - p_wrong)
    return loss, G, D
