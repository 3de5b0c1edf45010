r"""Newton-CG on the reduced objective of a learned task structure.

With the A-step in closed form, ``A(B) = argmin_A Q_delta(B, A)``, the joint
problem is the minimisation of the convex ``f(B) = Q_delta(B, A(B))``. By the
envelope theorem ``grad f(B) = grad_B Q(B, A(B))``, and the alternating step at
``A = A(B)`` is ``B - H_A^{-1} grad f(B)`` with ``H_A`` the Hessian of ``Q`` in ``B``
at fixed ``A``: preconditioned gradient descent with step 1. Since ``H_f = H_A -
Q_BA Q_AA^{-1} Q_AB``, the preconditioned Hessian ``H_A^{-1} H_f`` is the identity
minus an operator of rank at most ``T (T + 1) / 2`` with eigenvalues in ``[0, 1)``:
the alternating map crawls along the few directions where they approach 1, and
conjugate gradients preconditioned by ``H_A`` (one factorisation, many
back-substitutions) remove them in a handful of iterations (Nocedal & Wright 2006,
ch. 7: inexact Newton-CG).

The Hessian-vector product needs the derivative of the A-step
(:meth:`~rkhsmtl.structure.LearnedTaskStructure.a_step_derivative`,
Daleckii-Krein): with ``M = B^T K B``,

    H_f V = H_A V - 2 alpha K B A^{-1} dA A^{-1},   dA = DA(M)[V^T K B + B^T K V].

The coefficients are written in coordinates where ``K`` is the identity: ``Z =
Phi^T B`` for a factor ``K = Phi Phi^T`` (the features of the linear kernel, the
scaled eigenvectors of a kernel matrix), so that ``M = Z^T Z`` and the predictions
are ``Phi Z``. A *route* gives the data term in those coordinates and the solve
with ``H_A``:

* :class:`DiagonalRoute`: complete targets, data term ``sum (c - 2 <H, Z> + h o
  Z^2)`` diagonal in a basis (eigenvectors of the kernel matrix or of the
  features' Gram matrix); ``H_A`` is solved in closed form in ``A``'s eigenbasis.
* :class:`FeaturesRoute`: missing labels or per-entry weights, features ``Phi``;
  ``H_A`` is factorised as the primal normal equations (few features) or as the
  observed-entries system of the dual (a kernel matrix).

Knows nothing of scikit-learn; every array in the namespace ``xp``.
"""

from __future__ import annotations

from .._backend import array_device, cho_solve, cholesky
from .complete import task_eigh
from .primal import normal_equations_factor, per_task_times, solve_normal_equations, task_root

__all__ = ["DiagonalRoute", "FeaturesRoute", "StatisticsRoute", "newton_direction"]


def _inner(U, V, xp):
    return float(xp.sum(U * V))


def newton_direction(gradient, hessian, precondition, xp, *, max_iter, forcing):
    """Preconditioned conjugate gradients on ``H V = -gradient`` from ``V = 0``.

    Parameters
    ----------
    gradient : array
        Gradient of the objective at the current point.
    hessian : callable
        ``hessian(V)``: the Hessian-vector product.
    precondition : callable
        ``precondition(R)``: the solve with the preconditioner ``H_A``.
    xp : module
        Array namespace.
    max_iter : int
        Maximum number of Hessian products.
    forcing : callable
        ``forcing(d)`` with ``d = <gradient, H_A^{-1} gradient>`` (twice the
        decrease the alternating step's quadratic model predicts): stop when the
        preconditioned residual norm falls below that fraction of its initial
        value.

    Returns
    -------
    V : array
        The (inexact) Newton direction.
    first : array
        ``-H_A^{-1} gradient``: the alternating step from the current point.
    n_products : int
        Hessian products computed.
    """
    r = -gradient
    z = precondition(r)
    first = z
    p = z
    rz = _inner(r, z, xp)
    V = xp.zeros_like(gradient)
    if not rz > 0.0:
        return V, first, 0
    eta = forcing(rz)
    target = eta * eta * rz
    n_products = 0
    for _ in range(max_iter):
        Hp = hessian(p)
        n_products += 1
        curvature = _inner(p, Hp, xp)
        if not curvature > 0.0:
            # f is convex: only rounding gives a non-positive curvature; the
            # direction so far is a descent direction.
            break
        step = rz / curvature
        V = V + step * p
        r = r - step * Hp
        z = precondition(r)
        rz_new = _inner(r, z, xp)
        if not rz_new > target:
            break
        p = z + (rz_new / rz) * p
        rz = rz_new
    if n_products == 0:
        V = first
    return V, first, n_products


class _DiagonalFactor:
    """``H_A V = 2 h o V + 2 alpha V A^{-1}`` solved in ``A``'s eigenbasis."""

    def __init__(self, h, A, alpha, xp):
        sigma, Va = task_eigh(A, xp)
        self.Va = Va
        self.scale = sigma[None, :] / (2.0 * (h[:, None] * sigma[None, :] + alpha))

    def solve(self, R):
        return ((R @ self.Va) * self.scale) @ self.Va.T


class _QuadraticRoute:
    """A data term ``c - 2 <H, Z> + <Z, G(Z)>`` with ``G`` a PSD map per task.

    Subclasses give ``gram_times(V)`` (``G(V)``) and ``factor``.
    """

    def __init__(self, H, c, xp):
        self.H, self.c, self.xp = H, c, xp

    def data(self, Z):
        """The data term at ``Z``."""
        xp = self.xp
        return float(self.c - 2.0 * xp.sum(Z * self.H) + xp.sum(Z * self.gram_times(Z)))

    def data_gradient(self, Z):
        """Gradient of the data term."""
        return 2.0 * (self.gram_times(Z) - self.H)

    def data_hessian(self, V):
        """Hessian of the data term times ``V``."""
        return 2.0 * self.gram_times(V)

    def dual(self, Z):
        """``(linear, quadratic, S)`` of the dual variable at ``Z``.

        ``Lambda`` is the gradient of the data term at the predictions:
        ``-V*(theta Lambda) = linear theta - quadratic theta^2`` and ``Lambda^T K
        Lambda = S``.
        """
        xp = self.xp
        GZ = self.gram_times(Z)
        E = self.H - GZ
        S = 4.0 * (E.T @ E)
        cross = float(xp.sum(Z * self.H))
        quadratic = float(self.c - 2.0 * cross + xp.sum(Z * GZ))
        return 2.0 * (self.c - cross), quadratic, 0.5 * (S + S.T)


class DiagonalRoute(_QuadraticRoute):
    """Complete targets: the data term ``c - 2 <H, Z> + sum h o Z^2``.

    Parameters
    ----------
    h : array of shape (m,)
        Non-negative curvature of each coordinate.
    H : array of shape (m, T)
        Linear term.
    c : float
        Constant (the weighted sum of squared targets).
    xp : module
        Array namespace.
    """

    def __init__(self, h, H, c, xp):
        super().__init__(H, c, xp)
        self.h = h

    def gram_times(self, V):
        """``h o V`` (the same diagonal for every task)."""
        return self.h[:, None] * V

    def factor(self, A, alpha):
        """The solve with ``H_A`` (its "factorisation": ``A``'s eigenbasis)."""
        return _DiagonalFactor(self.h, A, alpha, self.xp)


class StatisticsRoute(_QuadraticRoute):
    """Per-task statistics: the data term ``c - 2 <H, Z> + sum_t z_t^T G_t z_t``.

    The route of the Nyström / random-feature fits with missing labels or
    per-entry weights, where only the statistics ``G_t = Phi^T D_t Phi`` and
    ``h_t = Phi^T D_t y_t`` are kept (``Z`` are the primal weights); ``H_A`` is
    factorised as the primal normal equations (order ``m T``: for small ``m T``).

    Parameters
    ----------
    G : array of shape (T, m, m)
        Per-task weighted Gram matrices of the features.
    H : array of shape (m, T)
        Linear term.
    c : float
        Constant (the weighted sum of squared targets).
    xp : module
        Array namespace.
    """

    def __init__(self, G, H, c, xp):
        super().__init__(H, c, xp)
        self.G = G

    def gram_times(self, V):
        """``[G_t v_t]_t``."""
        return per_task_times(self.G, V, self.xp)

    def factor(self, A, alpha):
        """The factorised ``H_A`` (the primal normal equations)."""
        return _PrimalFactor(self.G, A, alpha, self.xp)


class _PrimalFactor:
    """The primal normal equations in ``U`` (``V = U A^{1/2}``), one Cholesky."""

    def __init__(self, G, A, alpha, xp):
        self.S, self.xp = task_root(A, xp), xp
        self.L = normal_equations_factor(G, self.S, alpha, xp)

    def solve(self, R):
        # 2 G_t v_t + 2 alpha (V A^{-1})_t = r_t with V = U S reads, times S on
        # the right, as the normal equations of U with right-hand side R S / 2.
        return solve_normal_equations(self.L, 0.5 * (R @ self.S), self.xp) @ self.S


class _DualFactor:
    """``H_A`` solved through the observed-entries system (one Cholesky).

    ``2 Phi^T (W o Phi V) + 2 alpha V A^{-1} = R`` has the solution ``V = (R A - 2
    Phi^T P A) / (2 alpha)`` with ``P`` on the observed entries solving ``(G_OO +
    alpha D^{-1}) p = (Phi R A)_O / 2`` (:mod:`.observed`).
    """

    def __init__(self, route, A, alpha):
        from .observed import build_observed_system

        xp = route.xp
        self.route, self.A, self.alpha = route, A, alpha
        obs = route.obs
        system = build_observed_system(route.gram, A, obs, alpha, xp, A.dtype)
        self.L = cholesky(system, xp, overwrite_a=True)

    def solve(self, R):
        route, xp = self.route, self.route.xp
        RA = R @ self.A
        rhs = 0.5 * route.observed_values(RA)  # (Phi R A)_O in task order
        sqrt_w = route.sqrt_w_task
        p = sqrt_w * route.to_task_order(
            cho_solve(self.L, route.to_obs_order(sqrt_w * rhs)[:, None], xp)[:, 0])
        return (RA - 2.0 * route.transpose_times(p) @ self.A) / (2.0 * self.alpha)


class FeaturesRoute:
    """Observed entries with features ``Phi`` (``K = Phi Phi^T``), ``Z = Phi^T B``.

    Parameters
    ----------
    Phi : array of shape (n, r)
        Features of the training inputs.
    Y : array of shape (n, T)
        Targets, NaN for missing.
    W : array of shape (n, T)
        Entry weights, zero on missing labels.
    xp : module
        Array namespace.
    statistics : tuple (G, h) or None
        Per-task ``Phi^T D_t Phi`` and ``Phi^T D_t y_t``: the primal factorisation
        of ``H_A`` (few features).
    gram, obs : TrainingGram and ObservedEntries, or None
        Without statistics: the dual factorisation through the observed-entries
        system of this kernel.
    """

    def __init__(self, Phi, Y, W, xp, *, statistics=None, gram=None, obs=None):
        self.xp = xp
        self.statistics, self.gram, self.obs = statistics, gram, obs
        T = Y.shape[1]
        Y0 = xp.where(xp.isnan(Y), xp.zeros_like(Y), Y)
        self.Phi_t, self.w_t, self.y_t, self.sizes = [], [], [], []
        if obs is not None:
            positions = [xp.nonzero(obs.tasks == t)[0] for t in range(T)]
            rows = [xp.take(obs.rows, pos) for pos in positions]
            order = xp.concat(positions)
            self._order = order
            self._inverse = xp.argsort(order)
            self.sqrt_w_task = xp.take(obs.sqrt_w, order)
        else:
            rows = [xp.nonzero(W[:, t] > 0)[0] for t in range(T)]
        for t in range(T):
            self.Phi_t.append(xp.take(Phi, rows[t], axis=0))
            self.w_t.append(xp.take(W[:, t], rows[t]))
            self.y_t.append(xp.take(Y0[:, t], rows[t]))
            self.sizes.append(int(rows[t].shape[0]))
        self.c = sum(float(xp.sum(w * y * y)) for w, y in zip(self.w_t, self.y_t,
                                                               strict=True))
        self.H = self._columns([Pt.T @ (w * y) for Pt, w, y in zip(
            self.Phi_t, self.w_t, self.y_t, strict=True)], Phi)

    def _columns(self, columns, like):
        xp = self.xp
        if not columns:
            return xp.zeros((like.shape[1], 0), dtype=like.dtype,
                            device=array_device(like))
        return xp.stack(columns, axis=1)

    # -- observed-entry vectors in task order (task 0's entries, then 1's, ...) --
    def observed_values(self, V):
        """``(Phi V)`` on the observed entries, concatenated task by task."""
        xp = self.xp
        return xp.concat([Pt @ V[:, t] for t, Pt in enumerate(self.Phi_t)])

    def transpose_times(self, p):
        """``Phi^T P`` for ``P`` given on the observed entries in task order."""
        columns, start = [], 0
        for Pt, size in zip(self.Phi_t, self.sizes, strict=True):
            columns.append(Pt.T @ p[start:start + size])
            start += size
        return self._columns(columns, self.H)

    def to_obs_order(self, v):
        """A task-ordered vector in the order of :class:`ObservedEntries`."""
        return self.xp.take(v, self._inverse)

    def to_task_order(self, v):
        """The inverse of :meth:`to_obs_order`."""
        return self.xp.take(v, self._order)

    # -- the data term ---------------------------------------------------------
    def _residuals(self, Z):
        return [w * (y - Pt @ Z[:, t]) for t, (Pt, w, y) in enumerate(
            zip(self.Phi_t, self.w_t, self.y_t, strict=True))]

    def data(self, Z):
        """The data term at ``Z``."""
        xp = self.xp
        total = 0.0
        for t, (Pt, w, y) in enumerate(zip(self.Phi_t, self.w_t, self.y_t,
                                           strict=True)):
            r = y - Pt @ Z[:, t]
            total += float(xp.sum(w * r * r))
        return total

    def _weighted_residual_image(self, Z):
        """``E = Phi^T (W o (Y - Phi Z))`` (minus half the data gradient)."""
        return self._columns([Pt.T @ wr for Pt, wr in zip(
            self.Phi_t, self._residuals(Z), strict=True)], self.H)

    def data_gradient(self, Z):
        """Gradient of the data term."""
        return -2.0 * self._weighted_residual_image(Z)

    def data_hessian(self, V):
        """Hessian of the data term times ``V``."""
        xp = self.xp
        if self.statistics is not None:
            return 2.0 * per_task_times(self.statistics[0], V, xp)
        return 2.0 * self._columns([Pt.T @ (w * (Pt @ V[:, t])) for t, (Pt, w) in
                                    enumerate(zip(self.Phi_t, self.w_t, strict=True))],
                                   self.H)

    def factor(self, A, alpha):
        """The factorised ``H_A`` (primal normal equations or observed system)."""
        if self.statistics is not None:
            return _PrimalFactor(self.statistics[0], A, alpha, self.xp)
        return _DualFactor(self, A, alpha)

    def dual(self, Z):
        """``(linear, quadratic, S)`` of the dual variable at ``Z`` (see
        :meth:`DiagonalRoute.dual`)."""
        xp = self.xp
        residuals = self._residuals(Z)
        E = self._columns([Pt.T @ wr for Pt, wr in zip(self.Phi_t, residuals,
                                                       strict=True)], self.H)
        # With weighted residuals wr = w (y - f): sum w r y and sum w r^2.
        linear = 2.0 * sum(float(xp.sum(wr * y)) for wr, y in zip(residuals, self.y_t,
                                                                   strict=True))
        quadratic = self.data(Z)
        S = 4.0 * (E.T @ E)
        return linear, quadratic, 0.5 * (S + S.T)
