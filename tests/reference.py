"""Brute-force references for the solvers: the stacked Kronecker system and the
objective itself, written as plainly as possible (NumPy, dense, small problems)."""

import numpy as np


def objective(C, K, Y, A, alpha, W=None):
    """J(C) = sum_{observed} w (Y - K C A)^2 + alpha tr(C^T K C A)."""
    F = K @ C @ A
    W = np.ones_like(Y) if W is None else np.broadcast_to(
        W if W.ndim == 2 else W[:, None], Y.shape)
    observed = ~np.isnan(Y)
    resid = np.where(observed, Y - F, 0.0)
    return float(np.sum(W * resid**2) + alpha * np.trace(C.T @ K @ C @ A))


def stacked_kronecker_solve(K, Y, A, alpha, W=None):
    """Solve (G_OO + alpha D_O^{-1}) c_O = y_O with G = A kron K (task-major vec)."""
    n, T = Y.shape
    if W is None:
        W = np.ones((n, T))
    elif W.ndim == 1:
        W = np.repeat(W[:, None], T, axis=1)
    G = np.kron(A, K)
    y = Y.T.reshape(-1)
    w = W.T.reshape(-1)
    obs = ~np.isnan(y) & (w > 0)
    c = np.zeros(n * T)
    system = G[np.ix_(obs, obs)] + alpha * np.diag(1.0 / w[obs])
    c[obs] = np.linalg.solve(system, y[obs])
    return c.reshape(T, n).T


def random_psd(T, rng, rank=None):
    B = rng.standard_normal((T, rank or T))
    return B @ B.T / (rank or T)


def rel_err(a, b):
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))
