r"""Learned task structures: penalties ``F(A)`` and their exact A-steps.

See :doc:`/user_guide/learned_structures` for the model and every penalty.

With ``B = C A`` the joint problem over the coefficients and the structure is
(Ciliberto, Mroueh, Poggio & Rosasco 2015)

    Q_delta(B, A) = V(Y, K B) + alpha tr(A^{-1} (B^T K B + delta^2 I)) + F(A),   A > 0,

jointly convex for convex ``V`` and ``F``. A learned structure is the ``F`` part: it
knows its A-step ``argmin_{A > 0} alpha tr(A^{-1} M) + F(A)`` (``M = B^T K B +
delta^2 I``) and how to evaluate that part of the objective. The alternating solver
(:mod:`rkhsmtl._solvers.alternating`) knows nothing of the individual penalties.

Every structure may be given a ``prior`` ``A0`` (positive definite). The problem is
then posed in the task coordinates whitened by ``A0``: with
``A~ = A0^{-1/2} A A0^{-1/2}`` the penalty is ``F(A~)``, the perturbation is
``delta^2 tr(A~^{-1})``, and the iterations start from ``A = A0``. Without
evidence in the data (``B = 0``) the A-step of a spectral penalty (every structure
here but :class:`ClusteredNorm`) returns a multiple of ``A0``.

All computations use the array namespace of ``M`` (they are ``T x T``); the 1-D
searches run on Python floats.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from .._backend import array_device, eigh, to_namespace
from ._fixed import PSD_TOL, TaskStructure, check_n_tasks, check_task_matrix

__all__ = [
    "ClusteredNorm",
    "LearnedTaskStructure",
    "LowRank",
    "OutputKernel",
    "PriorShrinkage",
    "TaskRelation",
]

# Default of the ``whitening`` arguments: compute the prior's factors in the call.
_COMPUTE = object()

# Relative tolerance of the feasibility checks of constrained penalties.
_FEASIBILITY_RTOL = 1e-7


def _check_positive(value, name, *, allow_zero=False):
    if (not isinstance(value, numbers.Real) or isinstance(value, bool)
            or not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero)):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be a finite number {bound}, got {value!r}.")
    return float(value)


def _symmetric_eigh(M, xp):
    return eigh(0.5 * (M + M.T), xp)


def _from_eigen(values, vectors):
    return (vectors * values[None, :]) @ vectors.T


class LearnedTaskStructure(TaskStructure):
    """Base class of task structures learned together with the kernel coefficients.

    Subclasses implement :meth:`_whitened_a_step` and :meth:`_whitened_penalty`
    (spectral penalties implement the scalar :meth:`_eigen_step` and
    :meth:`_eigen_penalty` instead).

    Notes
    -----
    Parameters shared by every learned structure:

    prior : None, str, TaskStructure or array-like of shape (n_tasks, n_tasks)
        Positive definite structure to start from and to measure the penalty
        against (see the module docstring); None means ``I``.
    delta : float
        Initial perturbation, relative: ``delta^2`` is in units of the mean
        eigenvalue of ``B^T K B`` at the first iteration.
    delta_min : float
        Final perturbation; ``delta`` is divided by 10 (continuation, warm-started)
        until it reaches ``delta_min``.
    """

    is_learned = True

    # -- parameters ------------------------------------------------------------
    def _check_common(self):
        delta = _check_positive(self.delta, "delta")
        delta_min = _check_positive(self.delta_min, "delta_min")
        if delta_min > delta:
            raise ValueError(
                f"delta_min ({delta_min!r}) must not exceed delta ({delta!r})."
            )
        return delta, delta_min

    def delta_schedule(self):
        """Relative perturbations of the continuation stages, largest first."""
        delta, delta_min = self._check_common()
        stages = [delta]
        while stages[-1] > delta_min * (1 + 1e-12):
            stages.append(max(stages[-1] / 10.0, delta_min))
        return stages

    def _prior_matrix(self, n_tasks):
        if self.prior is None:
            return np.eye(n_tasks)
        from . import resolve_task_structure

        prior = resolve_task_structure(self.prior)
        if prior.is_learned:
            raise ValueError("prior must be a fixed task structure, not a learned one.")
        A0 = prior.task_matrix(n_tasks)
        eigvals = np.linalg.eigvalsh(A0)
        if eigvals[0] <= PSD_TOL * max(1.0, eigvals[-1]):
            raise ValueError(
                "The prior task structure must be positive definite (it whitens the "
                f"task coordinates); its smallest eigenvalue is {eigvals[0]:.3g}. "
                "'pooled' is singular: use e.g. MeanRegularized(strength=...) instead."
            )
        return A0

    def task_matrix(self, n_tasks):
        """The structure the iterations start from: the prior, or ``I``.

        Parameters
        ----------
        n_tasks : int
            Number of tasks.

        Returns
        -------
        A0 : ndarray of shape (n_tasks, n_tasks)
        """
        n_tasks = check_n_tasks(n_tasks)
        self._check_params(n_tasks)
        return check_task_matrix(self._prior_matrix(n_tasks), n_tasks,
                                 name=f"prior of {type(self).__name__}")

    # -- whitening by the prior ---------------------------------------------
    def whitening(self, n_tasks, xp, like):
        """``(A0^{1/2}, A0^{-1/2})`` in the namespace of ``like``, or None without prior.

        The alternating solver computes it once per fit and hands it to
        :meth:`a_step` and :meth:`regularizer`; otherwise they compute it at every
        call (three ``T x T`` eigendecompositions on the host).

        Parameters
        ----------
        n_tasks : int
            Number of tasks.
        xp : module
            Array namespace of the result.
        like : array
            An array whose device and dtype the factors take.

        Returns
        -------
        factors : tuple of two arrays of shape (n_tasks, n_tasks) or None
            ``A0^{1/2}`` and ``A0^{-1/2}``; None when there is no prior.
        """
        if self.prior is None:
            return None
        values, vectors = np.linalg.eigh(self._prior_matrix(n_tasks))
        root = _from_eigen(np.sqrt(values), vectors)
        inv_root = _from_eigen(1.0 / np.sqrt(values), vectors)
        device = array_device(like)
        return (xp.astype(to_namespace(root, xp, device), like.dtype),
                xp.astype(to_namespace(inv_root, xp, device), like.dtype))

    def _whiten(self, M, delta2, xp, factors):
        T = M.shape[0]
        if factors is _COMPUTE:
            factors = self.whitening(T, xp, M)
        Mw = M if factors is None else factors[1] @ M @ factors[1]
        eye = xp.eye(T, dtype=M.dtype, device=array_device(M))
        return 0.5 * (Mw + Mw.T) + delta2 * eye, factors

    # -- what the alternating solver calls ---------------------------------
    def a_step(self, M, alpha, delta2, xp, *, whitening=_COMPUTE):
        """Minimiser over ``A > 0`` of :meth:`regularizer` for fixed ``M``.

        Parameters
        ----------
        M : array of shape (n_tasks, n_tasks)
            ``B^T K B`` (symmetric positive semidefinite, without perturbation).
        alpha : float
            Regularisation strength of the estimator.
        delta2 : float
            Absolute perturbation ``delta^2``.
        xp : module
            Array namespace of ``M``.
        whitening : tuple or None, optional
            :meth:`whitening` of this structure, when already computed.

        Returns
        -------
        A : array of shape (n_tasks, n_tasks)
            Symmetric positive definite.
        """
        self._check_params(M.shape[0])
        self._check_resolved()
        Mw, factors = self._whiten(M, delta2, xp, whitening)
        A = self._whitened_a_step(Mw, float(alpha), xp)
        if factors is not None:
            A = factors[0] @ A @ factors[0]
        return 0.5 * (A + A.T)

    def regularizer(self, A, M, alpha, delta2, xp, *, whitening=_COMPUTE):
        """``alpha tr(A~^{-1} (M~ + delta^2 I)) + F(A~)``, the part of Q_delta in A.

        ``A~`` and ``M~`` are whitened by the prior (they are ``A`` and ``M``
        without one).

        Parameters
        ----------
        A : array of shape (n_tasks, n_tasks)
            The task structure.
        M : array of shape (n_tasks, n_tasks)
            ``B^T K B`` (without perturbation).
        alpha : float
            Regularisation strength of the estimator.
        delta2 : float
            Absolute perturbation ``delta^2``.
        xp : module
            Array namespace of ``M``.
        whitening : tuple or None, optional
            :meth:`whitening` of this structure, when already computed.

        Returns
        -------
        value : float
            ``inf`` if ``A`` is not positive definite or outside the feasible set
            of a constrained penalty.
        """
        self._check_params(M.shape[0])
        self._check_resolved()
        Mw, factors = self._whiten(M, delta2, xp, whitening)
        Aw = A if factors is None else factors[1] @ A @ factors[1]
        values, vectors = _symmetric_eigh(Aw, xp)
        if float(xp.min(values)) <= 0.0:
            return math.inf
        coupling = xp.sum(xp.sum(vectors * (Mw @ vectors), axis=0) / values)
        penalty = self._whitened_penalty(values, vectors, xp)
        return float(alpha) * float(coupling) + penalty

    def dual_bound(self, S, alpha, delta2, xp, *, whitening=_COMPUTE):
        """The penalty's part of the dual of ``Q_delta``, as a function of a scale.

        For a dual variable ``Lambda`` of the data term with ``S = Lambda^T K
        Lambda``, weak duality bounds the optimum of ``Q_delta`` from below by
        ``-V*(theta Lambda) - value(theta^2)`` for every ``theta >= 0``, where

            value(t) = sup_{A feasible} t tr(A~ S~) / (4 alpha)
                       - alpha delta^2 tr(A~^{-1}) - F(A~),

        ``A~`` and ``S~ = A0^{1/2} S A0^{1/2}`` whitened by the prior. The
        alternating solver's duality gap is built on it.

        Parameters
        ----------
        S : array of shape (n_tasks, n_tasks)
            ``Lambda^T K Lambda`` (symmetric positive semidefinite).
        alpha : float
            Regularisation strength of the estimator.
        delta2 : float
            Absolute perturbation ``delta^2`` (> 0).
        xp : module
            Array namespace of ``S``.
        whitening : tuple or None, optional
            :meth:`whitening` of this structure, when already computed.

        Returns
        -------
        value : callable
            ``value(t)`` for ``t >= 0``, a float (``inf`` where the supremum is
            infinite).
        limit : float
            The largest ``t`` at which ``value`` may be finite (``inf``: all).
        """
        T = S.shape[0]
        self._check_params(T)
        self._check_resolved()
        if whitening is _COMPUTE:
            whitening = self.whitening(T, xp, S)
        Sw = S if whitening is None else whitening[0] @ S @ whitening[0]
        return self._whitened_dual(0.5 * (Sw + Sw.T), float(alpha),
                                   float(alpha) * float(delta2), xp)

    def _whitened_dual(self, S, alpha, eps, xp):
        # Spectral penalties: the supremum shares the eigenvectors of S (von
        # Neumann's trace inequality), one scalar problem per eigenvalue.
        c = xp.clip(_symmetric_eigh(S, xp)[0], 0.0, None) / (4.0 * alpha)
        limit = self._eigen_dual_limit(c, xp)
        return (lambda t: self._eigen_dual(t * c, eps, xp)), limit

    def _eigen_dual_limit(self, c, xp):
        return math.inf

    def _eigen_dual(self, c, eps, xp):  # pragma: no cover - abstract
        """``sum_i sup_{a > 0} a c_i - eps / a - phi(a)``."""
        raise NotImplementedError

    # -- for subclasses ------------------------------------------------------
    # Whether ``strength = 0`` is a valid (degenerate) setting of the penalty.
    _strength_may_be_zero = False

    def _check_params(self, n_tasks):
        self._check_common()
        if self._strength_is_auto():
            return
        _check_positive(self.strength, "strength", allow_zero=self._strength_may_be_zero)

    # -- strength="auto" -------------------------------------------------------
    def _auto_strength(self, m, alpha, n_tasks, xp):
        """The strength for the data: ``m`` are the eigenvalues (clipped at 0) of
        the whitened ``B^T K B`` at the starting structure. None: the penalty has
        no "auto" (its strength is already free of the data's scale)."""
        return None

    def _strength_is_auto(self):
        strength = getattr(self, "strength", None)
        if not (isinstance(strength, str) and strength == "auto"):
            return False
        if type(self)._auto_strength is LearnedTaskStructure._auto_strength:
            raise ValueError(
                f"{type(self).__name__} has no strength='auto' (its penalty does not "
                "depend on the scale of the targets): give a number.")
        return True

    def _check_resolved(self):
        if self._strength_is_auto():
            raise ValueError(
                "strength='auto' is set from the data when the model is fitted; call "
                "with_data_scale(M, alpha, xp) first.")

    def with_data_scale(self, M, alpha, xp, *, whitening=_COMPUTE):
        """This structure with ``strength="auto"`` replaced by its value for the data.

        The value makes the first A-step keep the scale of the starting structure
        (see each structure's ``strength``), so that ``alpha`` means the same as for
        a fixed structure and the fit does not change when the targets are
        multiplied by a constant. Structures with a numeric strength are returned
        unchanged.

        Parameters
        ----------
        M : array of shape (n_tasks, n_tasks)
            ``B^T K B`` of the first B-step (at the starting structure).
        alpha : float
            Regularisation strength of the estimator.
        xp : module
            Array namespace of ``M``.
        whitening : tuple or None, optional
            :meth:`whitening` of this structure, when already computed.

        Returns
        -------
        structure : LearnedTaskStructure
            ``self``, or a copy with a numeric ``strength``.
        """
        if not self._strength_is_auto():
            return self
        from sklearn.base import clone

        Mw, _ = self._whiten(M, 0.0, xp, whitening)
        m = xp.clip(_symmetric_eigh(Mw, xp)[0], 0.0, None)
        value = self._auto_strength(m, float(alpha), M.shape[0], xp)
        if not (math.isfinite(value) and value > 0):
            # B = 0 (e.g. all-zero targets): no scale to match; any strength
            # gives the same fit.
            value = 1.0
        return clone(self).set_params(strength=float(value))

    def _whitened_a_step(self, M, alpha, xp):
        m, vectors = _symmetric_eigh(M, xp)
        m = xp.clip(m, 0.0, None)
        return _from_eigen(self._eigen_step(m, alpha, xp), vectors)

    # -- derivative of the A-step (Newton steps of the alternating solver) -----
    def has_a_step_derivative(self):
        """Whether :meth:`a_step_derivative` is available for this structure.

        Returns
        -------
        available : bool
        """
        return type(self)._eigen_divided_differences is not (
            LearnedTaskStructure._eigen_divided_differences)

    def a_step_derivative(self, M, alpha, delta2, xp, *, whitening=_COMPUTE):
        """The derivative of :meth:`a_step` at ``M``, as a linear map.

        For a spectral A-step ``A~ = g(M~)`` (``M~`` whitened by the prior,
        ``delta^2 I`` added) the Daleckii-Krein formula gives ``Dg(M~)[E] = U (G o
        (U^T E U)) U^T`` in the eigenbasis ``U`` of ``M~``, with the divided
        differences ``G_ij = (g(m_i) - g(m_j)) / (m_i - m_j)`` (``g'(m_i)`` on the
        diagonal), written in closed forms free of cancellation. A normalised
        A-step (:class:`TaskRelation`) adds the derivative of its normaliser.

        Parameters
        ----------
        M : array of shape (n_tasks, n_tasks)
            ``B^T K B`` (without perturbation).
        alpha : float
            Regularisation strength of the estimator.
        delta2 : float
            Absolute perturbation ``delta^2`` (> 0).
        xp : module
            Array namespace of ``M``.
        whitening : tuple or None, optional
            :meth:`whitening` of this structure, when already computed.

        Returns
        -------
        derivative : callable or None
            ``derivative(dM)``: the change of ``A`` for a (symmetric) change
            ``dM`` of ``M``; None when the structure has no derivative
            (:meth:`has_a_step_derivative`).
        """
        if not self.has_a_step_derivative():
            return None
        self._check_params(M.shape[0])
        self._check_resolved()
        Mw, factors = self._whiten(M, delta2, xp, whitening)
        m, U = _symmetric_eigh(Mw, xp)
        m = xp.clip(m, 0.0, None)
        G, normaliser = self._eigen_divided_differences(m, float(alpha), xp)

        def derivative(dM):
            dM = 0.5 * (dM + dM.T)
            if factors is not None:
                dM = factors[1] @ dM @ factors[1]
            E = U.T @ dM @ U
            D = G * E
            if normaliser is not None:
                weights, column = normaliser
                D = D + xp.linalg.diagonal(E) @ weights * xp.eye(
                    m.shape[0], dtype=m.dtype, device=array_device(m)) * column[None, :]
            dA = U @ D @ U.T
            if factors is not None:
                dA = factors[0] @ dA @ factors[0]
            return 0.5 * (dA + dA.T)

        return derivative

    def _eigen_divided_differences(self, m, alpha, xp):
        """``(G, normaliser)`` of :meth:`a_step_derivative` at the eigenvalues ``m``.

        ``normaliser`` is None for a separable ``g``, else ``(weights, column)``:
        the eigenvalue ``i`` of the derivative gets ``column_i * sum_j weights_j
        E_jj`` more (the derivative of a normaliser ``s(m)``).
        """
        raise NotImplementedError  # pragma: no cover - overridden where available

    def _whitened_penalty(self, values, vectors, xp):
        return self._eigen_penalty(values, xp)

    def _eigen_step(self, m, alpha, xp):  # pragma: no cover - abstract
        raise NotImplementedError

    def _eigen_penalty(self, a, xp):  # pragma: no cover - abstract
        raise NotImplementedError


class LowRank(LearnedTaskStructure):
    r"""Shared low-dimensional subspace of tasks: ``F(A) = strength * tr(A)``.

    The trace penalty favours a low-rank ``A``: the task functions live in a few
    shared directions (multi-task feature learning, Argyriou, Evgeniou & Pontil
    2008, in its task-side form). The A-step is ``A = sqrt(alpha / strength)
    M^{1/2}``; at the optimum the regulariser is ``2 sqrt(alpha * strength)
    tr(M^{1/2})``, a trace norm of ``K^{1/2} B``.

    Parameters
    ----------
    strength : float or "auto", default="auto"
        Weight ``mu > 0`` of ``tr(A)``: larger values give a smaller ``A``, i.e.
        more regularisation, in every direction. ``"auto"``: the value for which
        the first A-step has the trace of the starting structure (``T`` without a
        prior), ``mu = alpha (tr(M^{1/2}) / T)^2`` with ``M`` the (whitened)
        ``B^T K B`` of the first B-step: ``alpha`` then means what it means for a
        fixed structure, and the fit is the same whatever the scale of the
        targets (a fixed number's effect changes with it). The value used is in
        the fitted estimator's ``solver_info_["strength"]``.
    prior : None, str, TaskStructure or array-like, default=None
        Positive definite structure to start from and whiten by (None: ``I``).
    delta : float, default=1e-2
        Initial relative perturbation (see :class:`LearnedTaskStructure`).
    delta_min : float, default=1e-4
        Final relative perturbation of the continuation.
    """

    def __init__(self, strength="auto", *, prior=None, delta=1e-2, delta_min=1e-4):
        self.strength = strength
        self.prior = prior
        self.delta = delta
        self.delta_min = delta_min

    def _auto_strength(self, m, alpha, n_tasks, xp):
        return alpha * (float(xp.sum(xp.sqrt(m))) / n_tasks) ** 2

    def _eigen_step(self, m, alpha, xp):
        return xp.sqrt(alpha * m / float(self.strength))

    def _eigen_divided_differences(self, m, alpha, xp):
        # g(m) = c sqrt(m): (g(a) - g(b)) / (a - b) = c / (sqrt(a) + sqrt(b)).
        q = xp.sqrt(m)
        return math.sqrt(alpha / float(self.strength)) / (q[:, None] + q[None, :]), None

    def _eigen_penalty(self, a, xp):
        return float(self.strength) * float(xp.sum(a))

    def _eigen_dual_limit(self, c, xp):
        top = float(xp.max(c))
        return float(self.strength) / top if top > 0 else math.inf

    def _eigen_dual(self, c, eps, xp):
        # sup_a a (c - mu) - eps / a: -2 sqrt(eps (mu - c)), infinite for c > mu.
        mu = float(self.strength)
        if float(xp.max(c)) > mu * (1.0 + 1e-12):
            return math.inf
        return -2.0 * float(xp.sum(xp.sqrt(eps * xp.clip(mu - c, 0.0, None))))


class OutputKernel(LearnedTaskStructure):
    r"""Output kernel learning: ``F(A) = strength * ||A||_F^2``.

    The squared Frobenius norm of Dinuzzo, Ong, Gehler & Pillonetto (2011). The
    A-step is ``A = (alpha M / (2 strength))^{1/3}``: it keeps every direction of
    ``M`` (no rank reduction) and reads as a smoothed task covariance.

    Parameters
    ----------
    strength : float or "auto", default="auto"
        Weight ``gamma > 0`` of ``||A||_F^2``. ``"auto"``: the value for which the
        first A-step has the trace of the starting structure, ``gamma = (alpha /
        2) (tr(M^{1/3}) / T)^3`` (see :class:`LowRank`: the fit no longer depends
        on the scale of the targets); the value used is in
        ``solver_info_["strength"]``.
    prior : None, str, TaskStructure or array-like, default=None
        Positive definite structure to start from and whiten by (None: ``I``).
    delta : float, default=1e-2
        Initial relative perturbation (see :class:`LearnedTaskStructure`).
    delta_min : float, default=1e-4
        Final relative perturbation of the continuation.
    """

    def __init__(self, strength="auto", *, prior=None, delta=1e-2, delta_min=1e-4):
        self.strength = strength
        self.prior = prior
        self.delta = delta
        self.delta_min = delta_min

    def _auto_strength(self, m, alpha, n_tasks, xp):
        return 0.5 * alpha * (float(xp.sum(m ** (1.0 / 3.0))) / n_tasks) ** 3

    def _eigen_step(self, m, alpha, xp):
        return (alpha * m / (2.0 * float(self.strength))) ** (1.0 / 3.0)

    def _eigen_divided_differences(self, m, alpha, xp):
        # g(m) = c m^{1/3}: (g(a) - g(b)) / (a - b) = c / (p_a^2 + p_a p_b + p_b^2)
        # with p = m^{1/3}.
        p = m ** (1.0 / 3.0)
        c = (alpha / (2.0 * float(self.strength))) ** (1.0 / 3.0)
        return c / (p[:, None] ** 2 + p[:, None] * p[None, :] + p[None, :] ** 2), None

    def _eigen_penalty(self, a, xp):
        return float(self.strength) * float(xp.sum(a * a))

    def _eigen_dual(self, c, eps, xp):
        # The maximiser is the positive root of p(a) = 2 gamma a^3 - c a^2 - eps;
        # Newton from this upper bound of the root decreases monotonically to it (p
        # is convex and increasing right of the root).
        gamma = float(self.strength)
        a = c / (2.0 * gamma) + (eps / (2.0 * gamma)) ** (1.0 / 3.0)
        for _ in range(100):
            step = (2.0 * gamma * a**3 - c * a**2 - eps) / (6.0 * gamma * a**2 - 2.0 * c * a)
            a = a - step
            if not float(xp.max(xp.abs(step) / a)) > 1e-15:
                break
        return float(xp.sum(a * c - eps / a - gamma * a * a))


class TaskRelation(LearnedTaskStructure):
    r"""Task-relation learning (Zhang & Yeung 2010): a learned task covariance.

    The penalty on the task functions is ``(sum_t ||f_t||^2 + strength
    tr(F Omega^{-1} F^T)) / (1 + strength)`` over a task covariance ``Omega``
    constrained by ``Omega > 0`` and ``tr(Omega) = T`` (Zhang & Yeung's
    ``tr(Omega) = 1``, rescaled so that ``Omega = I`` for unrelated tasks whatever
    ``T``). In the separable-kernel form this is

        A = (1 + strength) (I + strength * Omega^{-1})^{-1},    tr(Omega) = T,

    ``F(A) = 0`` on that set (the trace constraint is the whole penalty). The
    factor ``1 + strength`` makes unrelated tasks (``Omega = I``) give ``A = I``
    exactly, so ``alpha`` means what it means for independent tasks: the learned
    structure regularises the directions the tasks share less than independent
    tasks and the others more (without it, ``A <= I`` and every ``strength > 0``
    would add regularisation at the same ``alpha``). The A-step is ``Omega = T
    M^{1/2} / tr(M^{1/2})``, so ``A`` shares the eigenvectors of ``M`` with
    eigenvalues ``(1 + strength) omega / (omega + strength)``. ``strength = 0``
    gives independent tasks and ``strength -> inf`` gives ``A = Omega``; the
    larger ``strength``, the more the tasks' correlations shape the fit. The
    learned ``Omega`` is available as ``Omega = strength ((1 + strength) A^{-1} -
    I)^{-1}``.

    Parameters
    ----------
    strength : float, default=1.0
        Weight ``rho >= 0`` of the task-covariance term. It is free of the
        targets' scale (the A-step depends on ``M`` only up to a factor), so it
        has no ``"auto"``: 1 weighs the tasks' own norms and their correlations
        equally.
    prior : None, str, TaskStructure or array-like, default=None
        Positive definite structure to start from and whiten by (None: ``I``).
    delta : float, default=1e-2
        Initial relative perturbation (see :class:`LearnedTaskStructure`).
    delta_min : float, default=1e-4
        Final relative perturbation of the continuation.
    """

    def __init__(self, strength=1.0, *, prior=None, delta=1e-2, delta_min=1e-4):
        self.strength = strength
        self.prior = prior
        self.delta = delta
        self.delta_min = delta_min

    _strength_may_be_zero = True

    def _eigen_step(self, m, alpha, xp):
        root = xp.sqrt(m)
        omega = m.shape[0] * root / xp.sum(root)
        rho = float(self.strength)
        return (1.0 + rho) * omega / (omega + rho)

    def _eigen_divided_differences(self, m, alpha, xp):
        # g(m) = (1 + rho) q / (q + k) with q = sqrt(m), k = rho s / T and the
        # normaliser s = sum_j q_j. At fixed s the divided differences are
        # (1 + rho) k / ((q_a + k) (q_b + k) (q_a + q_b)); s moves by sum_j
        # dm_j / (2 q_j), and g_i by -(1 + rho) q_i (rho / T) / (q_i + k)^2 per unit.
        rho = float(self.strength)
        T = m.shape[0]
        q = xp.sqrt(m)
        k = rho * float(xp.sum(q)) / T
        G = (1.0 + rho) * k / ((q[:, None] + k) * (q[None, :] + k)
                               * (q[:, None] + q[None, :]))
        column = -(1.0 + rho) * rho * q / (T * (q + k) ** 2)
        return G, (1.0 / (2.0 * q), column)

    def _eigen_penalty(self, a, xp):
        rho = float(self.strength)
        T = a.shape[0]
        a = a / (1.0 + rho)  # the eigenvalues of (I + rho Omega^{-1})^{-1}
        if float(xp.max(a)) >= 1.0:
            return 0.0 if rho == 0.0 and float(xp.min(a)) >= 1.0 - _FEASIBILITY_RTOL \
                and float(xp.max(a)) <= 1.0 + _FEASIBILITY_RTOL else math.inf
        gap = 1.0 - a
        total = float(xp.sum(rho * a / gap))
        # omega = rho a / (1 - a) amplifies the rounding of a near 1 (small rho).
        slack = _FEASIBILITY_RTOL * T + 1e-12 * float(xp.sum(rho / (gap * gap)))
        return 0.0 if abs(total - T) <= slack else math.inf

    def _whitened_dual(self, S, alpha, eps, xp):
        # sup over a_i = (1 + rho) omega_i / (omega_i + rho), sum omega_i = T, of
        # sum_i c_i a_i - eps / a_i: bounded by its Lagrangian at a multiplier nu
        # (any nu gives an upper bound; the root of sum omega_i(nu) = T the least).
        c = xp.clip(_symmetric_eigh(S, xp)[0], 0.0, None) / (4.0 * alpha)
        rho = float(self.strength)
        T = c.shape[0]
        if rho == 0.0:  # A = I
            return (lambda t: float(xp.sum(t * c)) - eps * T), math.inf
        # With a_i = (1 + rho) b_i: c_i a_i - eps / a_i = c'_i b_i - eps' / b_i,
        # c' = (1 + rho) c and eps' = eps / (1 + rho), over the unscaled set.
        scale = 1.0 + rho

        def value(t):
            return _relation_dual(t * scale * c, rho, eps / scale, xp)

        return value, math.inf


class PriorShrinkage(LearnedTaskStructure):
    r"""Learn ``A`` near a given structure: a log-det divergence to the prior.

    ``F(A) = strength * (tr(A~) - log det(A~) - T)`` with ``A~ = A0^{-1/2} A
    A0^{-1/2}``: the Stein (log-det) divergence between ``A`` and the prior
    ``A0``, zero at ``A = A0`` and convex. Each eigenvalue of the whitened A-step
    is the positive root of ``strength * a^2 - strength * a - alpha m = 0``, i.e.
    ``a = (1 + sqrt(1 + 4 alpha m / strength)) / 2``: a large ``strength`` keeps
    ``A`` at the prior (a known graph, known clusters, ...), a small one lets the
    data reshape it.

    Parameters
    ----------
    prior : str, TaskStructure or array-like, default="independent"
        The positive definite structure ``A0`` to shrink towards.
    strength : float or "auto", default="auto"
        Weight ``eta > 0`` of the divergence. ``"auto"``: ``eta = alpha tr(M~) /
        T``, the mean eigenvalue of the whitened ``B^T K B`` of the first B-step
        times ``alpha``, so that an eigenvalue at the mean becomes ``a = (1 +
        sqrt 5) / 2`` times the prior's and the fit does not depend on the scale
        of the targets (a fixed number's effect changes with it); the value used
        is in ``solver_info_["strength"]``.
    delta : float, default=1e-2
        Initial relative perturbation (see :class:`LearnedTaskStructure`).
    delta_min : float, default=1e-4
        Final relative perturbation of the continuation.
    """

    def __init__(self, prior="independent", strength="auto", *, delta=1e-2,
                 delta_min=1e-4):
        self.prior = prior
        self.strength = strength
        self.delta = delta
        self.delta_min = delta_min

    def _auto_strength(self, m, alpha, n_tasks, xp):
        return alpha * float(xp.sum(m)) / n_tasks

    def _eigen_step(self, m, alpha, xp):
        return 0.5 * (1.0 + xp.sqrt(1.0 + 4.0 * alpha * m / float(self.strength)))

    def _eigen_divided_differences(self, m, alpha, xp):
        # g(m) = (1 + r(m)) / 2, r = sqrt(1 + beta m): the divided differences are
        # beta / (2 (r_a + r_b)).
        beta = 4.0 * alpha / float(self.strength)
        r = xp.sqrt(1.0 + beta * m)
        return beta / (2.0 * (r[:, None] + r[None, :])), None

    def _eigen_penalty(self, a, xp):
        return float(self.strength) * float(xp.sum(a - xp.log(a) - 1.0))

    def _eigen_dual_limit(self, c, xp):
        top = float(xp.max(c))
        return float(self.strength) / top if top > 0 else math.inf

    def _eigen_dual(self, c, eps, xp):
        # sup_a a (c - eta) - eps / a + eta log a + eta: the positive root of
        # (eta - c) a^2 - eta a - eps = 0; infinite for c >= eta.
        eta = float(self.strength)
        if float(xp.max(c)) >= eta:
            return math.inf
        d = eta - c
        a = (eta + xp.sqrt(eta * eta + 4.0 * d * eps)) / (2.0 * d)
        return float(xp.sum(-a * d - eps / a + eta * xp.log(a) + eta))


def _relation_omega(c, rho, eps, nu, xp):
    """Maximisers ``omega_i`` of ``c_i omega / (omega + rho) - eps rho / omega - nu omega``.

    The root of the decreasing convex derivative ``c rho / (omega + rho)^2 + eps rho
    / omega^2 - nu``; both start values lie left of it, so Newton increases
    monotonically to the root.
    """
    w = xp.maximum(xp.sqrt(xp.full_like(c, eps * rho / nu)), xp.sqrt(c * rho / nu) - rho)
    for _ in range(100):
        f = c * rho / (w + rho) ** 2 + eps * rho / w**2 - nu
        df = -2.0 * c * rho / (w + rho) ** 3 - 2.0 * eps * rho / w**3
        step = f / df
        w = w - step
        if not float(xp.max(xp.abs(step) / w)) > 1e-15:
            break
    return w


def _relation_dual(c, rho, eps, xp):
    """``sup sum_i c_i a_i - eps / a_i`` over the :class:`TaskRelation` set."""
    T = c.shape[0]

    def grad(omega):  # derivative of the concave terms at omega
        return c * rho / (omega + rho) ** 2 + eps * rho / omega**2

    one = xp.ones_like(c)
    # Every omega_i >= 1 at the smallest derivative at 1, every omega_i <= 1 at the
    # largest: the root of sum omega_i(nu) = T lies between (regula falsi on log nu).
    lo, hi = float(xp.min(grad(one))), float(xp.max(grad(one)))
    nu = lo
    if hi > lo * (1.0 + 1e-15):
        x_lo, x_hi = math.log(lo), math.log(hi)
        h_lo = math.log(float(xp.sum(_relation_omega(c, rho, eps, lo, xp))) / T)
        h_hi = math.log(float(xp.sum(_relation_omega(c, rho, eps, hi, xp))) / T)
        side = 0
        for _ in range(100):
            if h_lo <= 0.0 or h_hi >= 0.0 or x_hi - x_lo < 1e-15 * abs(x_hi):
                break
            x = (x_lo * h_hi - x_hi * h_lo) / (h_hi - h_lo)
            h = math.log(float(xp.sum(_relation_omega(c, rho, eps, math.exp(x), xp)))
                         / T)
            if abs(h) < 1e-15:
                x_lo = x_hi = x
                break
            if h > 0:
                x_lo, h_lo = x, h
                if side == 1:
                    h_hi /= 2.0  # Illinois: no endpoint stays fixed for long
                side = 1
            else:
                x_hi, h_hi = x, h
                if side == -1:
                    h_lo /= 2.0
                side = -1
        nu = math.exp(0.5 * (x_lo + x_hi))
    w = _relation_omega(c, rho, eps, nu, xp)
    inner = c * w / (w + rho) - eps * rho / w - nu * w
    return nu * T - eps * T + float(xp.sum(inner))


def _bounded_dual(c, eps, low, high, total):
    """``sup sum_i c_i s_i - eps / s_i`` over ``low <= s_i <= high``, ``sum s_i = total``.

    The Lagrangian bound at the multiplier ``nu`` found by bisection (any ``nu``
    bounds the supremum from above; the root of ``sum s_i(nu) = total`` attains
    it). Python floats.
    """
    if high - low <= 1e-15 * high:
        return sum(ci * low - eps / low for ci in c)

    def spread(nu):
        return [high if nu <= ci else min(max(math.sqrt(eps / (nu - ci)), low), high)
                for ci in c]

    lo, hi = min(c) - 1.0, max(c) + eps / low**2 + 1.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if mid in (lo, hi):
            break
        if sum(spread(mid)) > total:
            lo = mid
        else:
            hi = mid
    nu = 0.5 * (lo + hi)
    return nu * total + sum((ci - nu) * si - eps / si
                            for ci, si in zip(c, spread(nu), strict=True))


def _complement_basis(T, xp, like):
    """Orthonormal basis (T, T - 1) of the vectors orthogonal to ``1``."""
    device = array_device(like)
    ones = xp.ones((T, T), dtype=like.dtype, device=device) / T
    centering = xp.eye(T, dtype=like.dtype, device=device) - ones
    values, vectors = eigh(centering, xp)
    return vectors[:, 1:]  # eigenvalue 0 (the constant vector) comes first


def water_fill(m, low, high, total):
    """``s_i = clip(sqrt(m_i / nu), low, high)`` with ``sum s_i = total``.

    Minimises ``sum m_i / s_i`` over ``low <= s_i <= high``, ``sum s_i = total``
    (requires ``len(m) * low <= total <= len(m) * high``). Python floats in and out.
    """
    m = [max(float(v), 0.0) for v in m]
    k = len(m)
    if k == 0:
        return []
    if not all(math.isfinite(v) for v in m):
        raise ValueError(
            "The cluster-norm A-step received a non-finite B^T K B: the coefficients "
            "diverged. Increase alpha or scale the inputs "
            "(sklearn.preprocessing.StandardScaler)."
        )
    # The solution depends on m only up to a common factor (nu absorbs it): in
    # units of the largest value the bisection bounds neither overflow nor
    # underflow to zero; values below 1e-30 of it weigh nothing at double precision.
    top = max(m)
    if top > 0:
        m = [v / top if v > 1e-30 * top else 0.0 for v in m]
    if high - low <= 1e-15 * high:
        return [low] * k

    def spread(nu):
        return [min(max(math.sqrt(v / nu), low), high) for v in m]

    positive = [v for v in m if v > 0]
    n_zero = k - len(positive)
    if n_zero and len(positive) * high + n_zero * low < total:
        # Directions with m_i = 0 cost nothing whatever their s_i: the positive ones
        # take ``high`` and the zero ones share what is left of the budget.
        rest = (total - len(positive) * high) / n_zero
        return [high if v > 0 else min(max(rest, low), high) for v in m]
    if not positive:
        # No direction is preferred: share the budget evenly.
        return [total / k] * k
    lo_nu = min(positive) / high**2 * 1e-3  # every positive m_i at ``high``
    hi_nu = max(positive) / low**2 * 1e3  # every m_i at ``low``
    for _ in range(200):
        mid = math.sqrt(lo_nu * hi_nu)
        if sum(spread(mid)) > total:
            lo_nu = mid
        else:
            hi_nu = mid
        if hi_nu / lo_nu < 1 + 1e-15:
            break
    # Exact root for the active set found by bisection.
    s = spread(math.sqrt(lo_nu * hi_nu))
    free = [i for i in range(k) if low < s[i] < high]
    if free:
        free_set = set(free)
        fixed = sum(s[i] for i in range(k) if i not in free_set)
        root_sum = sum(math.sqrt(m[i]) for i in free)
        if total - fixed > 0 and root_sum > 0:
            scale = (total - fixed) / root_sum
            exact = [min(max(math.sqrt(m[i]) * scale, low), high) for i in free]
            for i, v in zip(free, exact, strict=True):
                s[i] = v
    return s


class ClusteredNorm(LearnedTaskStructure):
    r"""Clustered tasks with unknown clusters: the cluster norm (Jacob, Bach & Vert 2008).

    The convex relaxation of "tasks form ``n_clusters`` groups": with ``Pi = I - 1
    1^T / T`` and ``Sigma`` a task covariance,

        A^{-1} = (1 1^T / T + Pi Sigma^{-1} Pi) / scale,
        Sigma in {low I <= Sigma <= high I,  tr Sigma = (T - r + 1) low + (r - 1) high},

    with ``low = 1 / (1 + strength)``, ``high = 1``, ``r = n_clusters`` and ``F(A)
    = 0`` on that set. Every ``A`` of the set has the same trace, ``scale (1 + (T
    - r) low + (r - 1) high)``, and ``scale = T / (1 + (T - r) low + (r - 1)
    high)`` makes it ``T``, the trace of independent tasks: the mean task and
    the deviations of cluster centres from the mean are penalised ``1 / scale <=
    1`` times as much as an independent task (``epsilon_M = epsilon_B``), the
    deviations within a cluster ``(1 + strength) / scale`` times (``epsilon_W``),
    so that a positive ``strength`` redistributes the regularisation of
    independent tasks instead of only adding to it (without ``scale``, ``A <=
    I``). ``scale`` depends only on ``T``, ``r`` and ``strength``: the model
    family is the one of ``scale = 1``, ``alpha`` divided by ``scale``. The
    known-clusters structure :class:`Clusters` with the same ``strength`` and
    ``r`` clusters, times ``scale``, lies in this set; ``n_clusters=1`` is
    :class:`MeanRegularized` times ``scale``, ``n_clusters = T`` (or
    ``strength=0``) is independent tasks (``scale = 1``).

    A-step: ``A 1 = scale 1`` and on the complement of ``1``, ``Sigma`` shares the
    eigenvectors of ``Pi M Pi`` and its eigenvalues are ``clip(sqrt(m_i / nu),
    low, high)`` with the multiplier ``nu`` found by a 1-D search so the trace
    constraint holds (the ``1`` direction of ``Sigma`` takes ``low``).

    Parameters
    ----------
    n_clusters : int, default=2
        Number of clusters ``r`` (between 1 and the number of tasks).
    strength : float, default=1.0
        How much more within-cluster deviations are penalised than the cluster
        centres (``>= 0``). It is free of the targets' scale (the A-step depends
        on ``M`` only up to a factor), so it has no ``"auto"``.
    prior : None, str, TaskStructure or array-like, default=None
        Positive definite structure to start from and whiten by (None: ``I``).
    delta : float, default=1e-2
        Initial relative perturbation (see :class:`LearnedTaskStructure`).
    delta_min : float, default=1e-4
        Final relative perturbation of the continuation.
    """

    def __init__(self, n_clusters=2, strength=1.0, *, prior=None, delta=1e-2,
                 delta_min=1e-4):
        self.n_clusters = n_clusters
        self.strength = strength
        self.prior = prior
        self.delta = delta
        self.delta_min = delta_min

    _strength_may_be_zero = True

    def _check_params(self, n_tasks):
        super()._check_params(n_tasks)
        r = self.n_clusters
        if isinstance(r, bool) or not isinstance(r, numbers.Integral) or not (
                1 <= r <= n_tasks):
            raise ValueError(
                f"n_clusters must be an integer between 1 and the number of tasks "
                f"({n_tasks}), got {r!r}."
            )

    def _bounds(self, T):
        """``(scale, low, high, total)`` of the set, all times ``scale``."""
        low, high = 1.0 / (1.0 + float(self.strength)), 1.0
        r = int(self.n_clusters)
        # Budget of the T - 1 directions orthogonal to 1 (the 1 direction takes low).
        total = (T - r) * low + (r - 1) * high
        scale = T / (1.0 + total)
        return scale, scale * low, scale * high, scale * total

    def _whitened_a_step(self, M, alpha, xp):
        T = M.shape[0]
        device = array_device(M)
        scale, low, high, total = self._bounds(T)
        mean = xp.ones((T, T), dtype=M.dtype, device=device) * (scale / T)
        if T == 1:
            return mean
        Q = _complement_basis(T, xp, M)
        m, W = _symmetric_eigh(Q.T @ M @ Q, xp)
        sigma = water_fill([float(v) for v in m], low, high, total)
        sigma = xp.asarray(sigma, dtype=M.dtype, device=device)
        QW = Q @ W
        return mean + _from_eigen(sigma, QW)

    def _whitened_dual(self, S, alpha, eps, xp):
        # A = scale 1 1^T / T + Q Sigma Q^T: tr(A S) splits into the mean direction
        # and the complement, tr(A^{-1}) = 1 / scale + tr(Sigma^{-1}).
        T = S.shape[0]
        ones = xp.ones((T,), dtype=S.dtype, device=array_device(S))
        scale, low, high, total = self._bounds(T)
        mean = scale * float(ones @ S @ ones) / (T * 4.0 * alpha)
        if T == 1:
            return (lambda t: t * mean - eps / scale), math.inf
        Q = _complement_basis(T, xp, S)
        c = [max(float(v), 0.0) / (4.0 * alpha)
             for v in _symmetric_eigh(Q.T @ S @ Q, xp)[0]]

        def value(t):
            return t * mean - eps / scale + _bounded_dual([t * v for v in c], eps, low,
                                                          high, total)

        return value, math.inf

    def _whitened_penalty(self, values, vectors, xp):
        T = values.shape[0]
        A = _from_eigen(values, vectors)
        device = array_device(A)
        ones = xp.ones((T,), dtype=A.dtype, device=device)
        tol = _FEASIBILITY_RTOL * max(1.0, float(xp.max(values)))
        scale, low, high, total = self._bounds(T)
        # A 1 = scale 1: the mean direction is fixed.
        if float(xp.max(xp.abs(A @ ones - scale * ones))) > tol * T:
            return math.inf
        if T == 1:
            return 0.0
        Q = _complement_basis(T, xp, A)
        sigma, _ = _symmetric_eigh(Q.T @ A @ Q, xp)
        if (float(xp.min(sigma)) < low - tol or float(xp.max(sigma)) > high + tol
                or abs(float(xp.sum(sigma)) - total) > tol * T):
            return math.inf
        return 0.0
