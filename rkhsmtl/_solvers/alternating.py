r"""Alternating minimisation over the coefficients and a learned task structure.

Ciliberto, Mroueh, Poggio & Rosasco (2015); the user guide's "Learned task
structures" states the objectives. With ``B = C A`` (predictions ``K B``) and the
weighted squared loss on the observed entries (:mod:`.observed`),

    Q_delta(B, A) = sum_{(i,t) observed} w_it (Y_it - (K B)_it)^2
                    + alpha tr(A^{-1} (B^T K B + delta^2 I)) + F(A),

alternate

* B-step (A fixed): the fixed-structure ridge problem; ``B = C A`` with ``C`` its
  dual coefficients.
* A-step (B fixed): ``structure.a_step(B^T K B, alpha, delta^2)``, exact for every
  learned structure.

Each step minimises ``Q_delta`` in its block, so the recorded objective never
increases; lowering ``delta`` (continuation, ``delta <- delta / 10``) only lowers it
too. A stage stops on a Fenchel duality gap (:func:`duality_gap`, a certified bound
of the distance to the optimum). Where the structure's A-step has a derivative
and the B-step's system is factorised, each iteration is a Newton-CG step on
``f(B) = Q_delta(B, A(B))`` preconditioned by that system (:mod:`.newton`), kept
only when it does better than the alternating step; otherwise the iterations are
Anderson-extrapolated, an extrapolated structure kept only when it lowers
``Q_delta``. With an explicit
feature map smaller than the sample (the linear kernel) on complete ``Y``, the
iterations run on the ``d x d`` statistics of :mod:`.statistics`. Otherwise
complete ``Y`` with per-sample weights stays in the eigenbasis of the (weighted)
kernel matrix: ``K~ = U diag(s) U^T`` is factorised once, ``U^T Y~`` is cached,
and an iteration costs ``O(n T^2 + T^3)``. Otherwise the B-step is the
observed-entries solver of :mod:`.fixed` (conjugate gradients warm-started from
the previous coefficients).

Knows nothing of scikit-learn.
"""

from __future__ import annotations

import math
import warnings

from sklearn.exceptions import ConvergenceWarning

from .._backend import array_device, eigh
from .._memory import (
    check_memory,
    dense_bytes,
    eigendecomposition_bytes,
    memory_budget,
    row_block,
)
from .._validation import entry_weights
from ..kernels import PairwiseKernel, TrainingGram
from .complete import task_eigh
from .fixed import solve_fixed_structure
from .plan import complete_sample_weights

__all__ = ["solve_learned_structure"]


def _relative_change(new, old, xp):
    num = float(xp.linalg.vector_norm(new - old))
    den = float(xp.linalg.vector_norm(new))
    return num / den if den > 0 else num


class _Progress:
    """Objective history, stopping rule and verbose printing of the iterations."""

    def __init__(self, tol, max_iter, verbose):
        self.tol, self.max_iter, self.verbose = tol, max_iter, verbose
        self.history, self.deltas, self.gaps = [], [], []
        self.n_iter = 0
        self.n_b_steps = 0
        self.n_accelerated = 0
        self.n_newton = 0
        self.n_hessian_products = 0
        # strength="auto" is set at the structure the penalty is measured from
        # (the prior, or I), also when the iterations start elsewhere (a warm
        # start): then ``auto_start`` holds that structure.
        self.auto_start = None
        self.structure = None

    def record(self, objective, delta, A, A_prev, xp, stage_iter, gap=None,
               stage_tol=None):
        """Store one iteration; True when the current stage has converged.

        With a duality ``gap`` (an upper bound of ``objective - min Q_delta``)
        the stage has converged when ``gap <= stage_tol * objective``; without
        one (a B-step that reports no dual variable) on the relative decrease of
        the objective and the relative change of ``A``.
        """
        previous = self.history[-1] if self.history else math.inf
        self.history.append(objective)
        self.deltas.append(delta)
        self.n_iter += 1
        scale = max(abs(objective), 1e-300)
        decrease = (previous - objective) / scale
        change = _relative_change(A, A_prev, xp)
        if gap is not None:
            self.gaps.append(gap)
        if self.verbose:
            shown = "" if gap is None else f"  rel. gap {gap / scale:.2e}"
            print(f"[rkhsmtl] iter {self.n_iter:4d}  delta {delta:.1e}  "
                  f"objective {objective:.10g}  rel. decrease {decrease:.2e}  "
                  f"|dA|/|A| {change:.2e}{shown}")
        if gap is not None:
            tol = self.tol if stage_tol is None else stage_tol
            return gap <= tol * scale
        # Stationarity: the objective has stopped decreasing and A has stopped
        # moving (the relative change of A scales like the square root of the
        # objective's near a minimum).
        return stage_iter >= 2 and decrease <= self.tol and change <= math.sqrt(self.tol)

    @property
    def exhausted(self):
        return self.n_iter >= self.max_iter

    @property
    def relative_gap(self):
        """The last duality gap relative to the objective (None without gaps)."""
        if not self.gaps:
            return None
        return self.gaps[-1] / max(abs(self.history[-1]), 1e-300)


def solve_learned_structure(gram, Y, structure, alpha, xp, *, sample_weight=None,
                            solver="auto", options=None, max_iter=100, tol=1e-6,
                            verbose=0, initial_structure=None):
    """Dual coefficients and task structure minimising ``Q_delta``.

    Parameters
    ----------
    gram : TrainingGram
        Kernel of the training inputs (must be positive semidefinite).
    Y : array of shape (n, T)
        Targets, NaN for missing.
    structure : LearnedTaskStructure
        The penalty ``F`` and its A-step.
    alpha : float
        Regularisation strength (> 0).
    xp : module
        Array namespace of every array argument.
    sample_weight : array of shape (n,) or (n, T) or None
        Non-negative weights.
    solver : {"auto", "eig", "cholesky", "cg"}
        "auto" and "eig" iterate in the eigenbasis of the kernel matrix when ``Y``
        is complete and the weights are per sample; otherwise (or with "cholesky" /
        "cg") every B-step calls the fixed-structure solver of that name.
    options : dict or None
        Options of the fixed-structure solver (CG tolerance, ...).
    max_iter : int
        Maximum number of alternating iterations over all continuation stages.
    tol : float
        Stop the last stage when the duality gap (an upper bound of the objective
        minus ``min Q_delta``) is below ``tol`` times the objective; earlier stages
        stop at ``max(tol, 1e-4)``.
    verbose : int
        Print one line per iteration when positive.
    initial_structure : array of shape (n_tasks, n_tasks) or None
        Where the iterations start (positive definite, in the namespace of ``Y``):
        e.g. the structure learned at a nearby ``alpha``, as along a path of
        ``alpha`` values. None starts from ``structure.task_matrix`` (the prior,
        or ``I``). The penalty and its prior are unchanged; only the starting
        point moves.

    Returns
    -------
    C : array of shape (n, T)
        Dual coefficients: the exact fixed-structure solution for the returned
        ``A`` (predictions ``K C A``).
    A : array of shape (n_tasks, n_tasks)
        The learned task structure.
    info : dict
        ``objective_history`` (``Q_delta`` after each iteration), ``deltas`` (the
        absolute ``delta`` of each iteration), ``duality_gaps`` (the gap of each
        iteration), ``relative_gap`` (the last gap over the last objective),
        ``n_iter``, ``n_b_steps`` (B-steps, rejected extrapolations included;
        with Newton steps, the factorisations of the B-step's system),
        ``n_accelerated`` (accepted extrapolated steps), ``n_newton_steps``
        (iterations that took the Newton step rather than the alternating one),
        ``n_hessian_products`` (Hessian-vector products, i.e. preconditioned CG
        iterations, of the Newton steps), ``converged``, ``solver`` and
        ``b_step_solver``.
    """
    T = Y.shape[1]
    A0 = _to_like(structure.task_matrix(T), Y, xp)
    if initial_structure is not None:
        if tuple(initial_structure.shape) != (T, T):
            raise ValueError(
                f"initial_structure must be of shape {(T, T)} (n_tasks, n_tasks), got "
                f"{tuple(initial_structure.shape)}.")
        A_start, A0 = A0, xp.astype(initial_structure, Y.dtype)
    sample_w, complete = complete_sample_weights(Y, sample_weight, xp)
    progress = _Progress(tol, max_iter, verbose)
    if initial_structure is not None:
        progress.auto_start = A_start
    features = gram.features() if solver == "auto" else None
    primal_coef = None
    if complete and features is not None and features.shape[1] < Y.shape[0]:
        # An explicit feature map smaller than the sample (the linear kernel):
        # the d x d statistics instead of the n x n kernel matrix.
        C, primal_coef, A, converged = _statistics_iterations(
            features, Y, sample_w, structure, A0, alpha, xp, progress)
        b_solver = "primal"
    elif complete and solver in ("auto", "eig"):
        C, A, converged = _eigenbasis_iterations(gram, Y, sample_w, structure, A0,
                                                 alpha, xp, progress)
        b_solver = "eig"
    else:
        if solver == "eig":
            raise ValueError(
                "solver='eig' needs a complete Y (no NaN) and per-sample weights; with "
                "missing labels or (n_samples, n_tasks) weights use 'auto', "
                "'cholesky' or 'cg'."
            )
        C, A, converged, b_solver = _masked_iterations(
            gram, Y, sample_weight, structure, A0, alpha, xp, progress, solver,
            options)
    if not converged:
        warn_not_converged(max_iter, tol)
    info = {"solver": "alternating", "b_step_solver": b_solver,
            "objective_history": progress.history, "deltas": progress.deltas,
            "n_iter": progress.n_iter, "converged": converged,
            "duality_gaps": progress.gaps, "relative_gap": progress.relative_gap,
            "n_b_steps": progress.n_b_steps, "n_accelerated": progress.n_accelerated,
            "n_newton_steps": progress.n_newton,
            "n_hessian_products": progress.n_hessian_products,
            "strength": _strength_used(progress)}
    if primal_coef is not None:
        info["primal_coef"] = primal_coef
    return C, A, info


def _strength_used(progress):
    """The numeric strength of the penalty (``"auto"`` resolved), or None."""
    strength = getattr(progress.structure, "strength", None)
    return float(strength) if isinstance(strength, (int, float)) else None


def warn_not_converged(max_iter, tol):
    """The ConvergenceWarning of an alternating minimisation that hit max_iter."""
    warnings.warn(
        f"The alternating minimisation did not converge in {max_iter} iterations "
        f"(its stopping measure stayed above tol={tol:g}; with a duality gap, "
        "solver_info_['relative_gap'] holds the last one). Increase max_iter or "
        "loosen tol.",
        ConvergenceWarning,
        stacklevel=4,
    )


def _to_like(matrix, like, xp):
    from .._backend import to_namespace

    return xp.astype(to_namespace(matrix, xp, array_device(like)), like.dtype)


def _delta_scale(M, T, xp):
    """Mean eigenvalue of ``M = B^T K B`` (1 when ``B = 0``): the unit of delta^2."""
    scale = float(xp.sum(xp.linalg.diagonal(M))) / T
    return scale if scale > 0 and math.isfinite(scale) else 1.0


def _check_not_diverged(values, what, structure, xp):
    """A learned structure must not run into inf or NaN silently."""
    if not bool(xp.all(xp.isfinite(values))):
        raise ValueError(
            f"{what} holds NaN or infinity: the alternating minimisation of the "
            f"learned {type(structure).__name__} diverged. This happens with kernel "
            "values far from 1 (unscaled inputs with a linear or polynomial kernel): "
            "scale the inputs (sklearn.preprocessing.StandardScaler), lower the "
            "kernel's degree or gamma, or increase alpha or the structure's strength."
        )


def warn_indefinite_kernel(s, xp, stacklevel=4):
    """Warn when the eigenvalues ``s`` (ascending) of a kernel matrix are not PSD.

    Learned structures clip the negative eigenvalues (they need a PSD kernel):
    the model then uses the nearest positive semidefinite kernel matrix. Round-off
    negatives (above ``-1e-8`` times the largest eigenvalue) are not reported.
    """
    largest = max(float(s[-1]), 0.0)
    smallest = float(s[0])
    if smallest < -_INDEFINITE_RTOL * largest:
        warnings.warn(
            f"The training kernel matrix is not positive semidefinite (eigenvalue "
            f"{smallest:.3g} against a largest of {largest:.3g}): an indefinite kernel "
            "such as 'sigmoid', or a precomputed matrix that is not a kernel? A "
            "learned task structure clips its negative eigenvalues, i.e. the model "
            "uses the nearest positive semidefinite kernel matrix.",
            UserWarning, stacklevel=stacklevel)


# A most negative eigenvalue beyond this fraction of the largest is an indefinite
# kernel, not round-off (the threshold of the logistic solver's kernel factor).
_INDEFINITE_RTOL = 1e-8


# Earlier continuation stages only prepare the last one (its warm start): they
# stop at this relative gap, or at ``tol`` when that is looser.
_STAGE_TOL = 1e-4

# Anderson acceleration: number of previous iterates combined, and the Tikhonov
# weight (relative to the trace of the normal matrix) of its least-squares problem.
_ANDERSON_MEMORY = 5
_ANDERSON_REG = 1e-10


class _Anderson:
    """Type-II Anderson extrapolation of the map ``A -> A-step(B-step(A))``.

    The solver evaluates a proposal like any other structure and keeps it only when
    it lowers ``Q_delta`` (otherwise it takes the plain step, keeping the
    history), so the recorded objective still never increases.
    """

    def __init__(self, xp, memory=_ANDERSON_MEMORY):
        self.xp, self.memory = xp, memory
        self.reset()

    def reset(self):
        self.inputs, self.outputs = [], []

    def propose(self, A_in, A_out):
        """The extrapolated next input after ``A_out = map(A_in)``, or None."""
        xp = self.xp
        self.inputs.append(xp.reshape(A_in, (-1,)))
        self.outputs.append(xp.reshape(A_out, (-1,)))
        if len(self.inputs) > self.memory + 1:
            self.inputs.pop(0)
            self.outputs.pop(0)
        if len(self.inputs) < 2:
            return None
        residuals = [g - x for x, g in zip(self.inputs, self.outputs, strict=True)]
        dF = xp.stack([b - a for a, b in zip(residuals[:-1], residuals[1:], strict=True)],
                      axis=1)
        dG = xp.stack([b - a for a, b in zip(self.outputs[:-1], self.outputs[1:],
                                             strict=True)], axis=1)
        normal = dF.T @ dF
        k = normal.shape[0]
        reg = _ANDERSON_REG * float(xp.sum(xp.linalg.diagonal(normal))) + 1e-300
        normal = normal + reg * xp.eye(k, dtype=normal.dtype, device=array_device(normal))
        gamma = xp.linalg.solve(normal, (dF.T @ residuals[-1])[:, None])[:, 0]
        T = A_out.shape[0]
        A = xp.reshape(self.outputs[-1] - dG @ gamma, (T, T))
        A = 0.5 * (A + A.T)
        if not bool(xp.all(xp.isfinite(A))):
            return None
        # The B-step needs a positive definite structure.
        values = eigh(A, xp)[0]
        if not float(values[0]) > 1e-12 * max(float(values[-1]), 0.0):
            return None
        return A


def _golden_max(fun, lo, hi, n_iter=60):
    """Maximiser of a unimodal function on ``[lo, hi]`` (golden-section search)."""
    ratio = (math.sqrt(5.0) - 1.0) / 2.0
    a, b = lo, hi
    x1, x2 = b - ratio * (b - a), a + ratio * (b - a)
    f1, f2 = fun(x1), fun(x2)
    for _ in range(n_iter):
        if f1 >= f2:
            b, x2, f2 = x2, x1, f1
            x1 = b - ratio * (b - a)
            f1 = fun(x1)
        else:
            a, x1, f1 = x1, x2, f2
            x2 = a + ratio * (b - a)
            f2 = fun(x2)
    return max(f1, f2, fun(lo), fun(hi))


def duality_gap(structure, objective, dual, alpha, delta2, xp, whitening):
    """An upper bound of ``objective - min Q_delta`` (a Fenchel duality gap).

    ``dual = (neg_conjugate, S)`` describes a dual variable ``Lambda`` of the data
    term: ``neg_conjugate(theta) = -V*(theta Lambda)`` and ``S = Lambda^T K
    Lambda``. By weak duality, ``min Q_delta >= -V*(theta Lambda) -
    sup_A [theta^2 tr(A S) / (4 alpha) - alpha delta^2 tr(A^{-1}) - F(A)]`` for
    every ``theta >= 0`` (:meth:`LearnedTaskStructure.dual_bound`). ``Lambda`` is
    the gradient of the data term at the current predictions, exact at the
    optimum, where the gap is zero; ``theta = 1`` unless the penalty's conjugate
    is finite only for smaller ``theta`` (trace-like penalties), then the best
    ``theta`` below that limit.
    """
    neg_conjugate, S = dual
    value, limit = structure.dual_bound(S, alpha, delta2, xp, whitening=whitening)

    def lower(theta):
        penalty = value(theta * theta)
        return neg_conjugate(theta) - penalty if math.isfinite(penalty) else -math.inf

    if limit >= 1.0:
        bound = lower(1.0)
    else:
        bound = _golden_max(lower, 0.0, math.sqrt(limit))
    return max(objective - bound, 0.0)


def _run_stages(structure, b_step, data_term, A0, alpha, xp, progress,
                dual_term=None, accelerate=True):
    """The alternating loop shared by every B-step implementation.

    ``b_step(A)`` returns the state of the coefficients and ``M = B^T K B``;
    ``data_term(state)`` the weighted loss of its predictions; ``dual_term(state)``
    (optional) the dual variable of :func:`duality_gap` at those predictions.
    With it a stage stops on the duality gap (a bound of the distance to the
    optimum of ``Q_delta`` in objective), and the iterations are accelerated
    (:class:`_Anderson`, safeguarded); without it on the old decrease rule.
    """
    T = A0.shape[0]
    # The prior's square roots are the same at every A-step: computed once.
    whitening = structure.whitening(T, xp, A0)
    M_auto = None
    if progress.auto_start is not None and structure._strength_is_auto():
        M_auto = b_step(progress.auto_start)[1]
        progress.n_b_steps += 1
    state, M = b_step(A0)
    progress.n_b_steps += 1
    structure = structure.with_data_scale(M if M_auto is None else M_auto, alpha, xp,
                                          whitening=whitening)
    progress.structure = structure
    unit = _delta_scale(M, T, xp)
    accelerate = accelerate and dual_term is not None

    def evaluate(state, M, delta2):
        _check_not_diverged(M, "B^T K B (the Gram matrix of the task functions)",
                            structure, xp)
        A_new = structure.a_step(M, alpha, delta2, xp, whitening=whitening)
        _check_not_diverged(A_new, "The learned task structure A", structure, xp)
        objective = data_term(state) + structure.regularizer(
            A_new, M, alpha, delta2, xp, whitening=whitening)
        if math.isnan(objective):
            _check_not_diverged(xp.asarray(objective), "The objective Q_delta",
                                structure, xp)
        return A_new, objective

    A = A0  # the last recorded structure
    fresh = True  # ``state`` is the B-step at ``A``
    converged = False
    schedule = structure.delta_schedule()
    for index, delta_rel in enumerate(schedule):
        delta2 = delta_rel**2 * unit
        stage_tol = progress.tol if index == len(schedule) - 1 else max(progress.tol,
                                                                           _STAGE_TOL)
        anderson = _Anderson(xp) if accelerate else None
        A_in, extrapolated = A, False
        last_objective = None
        stage_iter = 0
        stage_converged = False
        while not progress.exhausted:
            if not fresh:
                state, M = b_step(A_in)
                progress.n_b_steps += 1
            fresh = False
            A_new, objective = evaluate(state, M, delta2)
            if extrapolated:
                if objective <= last_objective:
                    progress.n_accelerated += 1
                else:
                    # Rejected: the plain step from the last recorded structure.
                    # The history is kept: its pairs are exact evaluations of the
                    # map, and forgetting them cost more iterations on School
                    # (TaskRelation 198 -> 175, LowRank 300+ -> 259 at tol=1e-6).
                    A_in = A
                    state, M = b_step(A)
                    progress.n_b_steps += 1
                    A_new, objective = evaluate(state, M, delta2)
            gap = None
            if dual_term is not None:
                gap = duality_gap(structure, objective, dual_term(state), alpha,
                                  delta2, xp, whitening)
            stage_iter += 1
            stage_converged = progress.record(objective, math.sqrt(delta2), A_new, A,
                                              xp, stage_iter, gap, stage_tol)
            previous_in, A = A_in, A_new
            last_objective = objective
            if stage_converged:
                break
            A_in, extrapolated = A, False
            if anderson is not None:
                proposal = anderson.propose(previous_in, A_new)
                if proposal is not None:
                    A_in, extrapolated = proposal, True
        converged = stage_converged
        if progress.exhausted and not stage_converged:
            break
    return A, converged


# Newton steps (:mod:`.newton`) on the reduced objective f(B) = Q_delta(B, A(B))
# replace the alternating ones where a structure has the derivative of its
# A-step and the B-step's system is factorised (False: the alternating map with
# Anderson acceleration everywhere, as measured in the benchmarks).
_USE_NEWTON = True

# Preconditioned CG iterations of one Newton step at most, and the step lengths
# tried (1, 1/2, ...) before the alternating step is taken instead.
_NEWTON_MAX_CG = 50
_NEWTON_BACKTRACKS = 8
# Observed entries up to which the Newton steps factorise the observed-entries
# system even where "auto" would run the B-steps by conjugate gradients.
_NEWTON_MAX_DUAL = 4000


def _gram_of(Z):
    M = Z.T @ Z
    return 0.5 * (M + M.T)


def _run_newton_stages(structure, route, A0, alpha, xp, progress):
    """The continuation stages of :func:`_run_stages`, each iteration a Newton step.

    ``route`` (:mod:`.newton`) gives the data term in coordinates ``Z`` where
    ``M = Z^T Z`` and the factorised Hessian ``H_A`` of the B-step. An iteration
    factorises ``H_A`` at ``A = A(Z)`` (what the alternating B-step would), takes
    the Newton direction of ``f`` by conjugate gradients preconditioned by
    ``H_A`` (whose first iterate is the alternating step), and keeps the Newton
    step (halved until it does) if it lowers ``f`` below the alternating step's
    value, the alternating step otherwise: the recorded objective never
    increases and no iteration does worse than the alternating one. Stages stop
    on the duality gap at the recorded point.
    """
    from .newton import newton_direction

    T = A0.shape[0]
    whitening = structure.whitening(T, xp, A0)
    two_H = 2.0 * route.H
    M_auto = None
    if progress.auto_start is not None and structure._strength_is_auto():
        M_auto = _gram_of(route.factor(progress.auto_start, alpha).solve(two_H))
        progress.n_b_steps += 1
    Z = route.factor(A0, alpha).solve(two_H)  # the B-step at A0
    progress.n_b_steps += 1
    M = _gram_of(Z)
    structure = structure.with_data_scale(M if M_auto is None else M_auto, alpha, xp,
                                          whitening=whitening)
    progress.structure = structure
    unit = _delta_scale(M, T, xp)

    def evaluate(Z, delta2, strict=True):
        M = _gram_of(Z)
        if not strict and not bool(xp.all(xp.isfinite(M))):
            return None, math.inf, M
        _check_not_diverged(M, "B^T K B (the Gram matrix of the task functions)",
                            structure, xp)
        A = structure.a_step(M, alpha, delta2, xp, whitening=whitening)
        _check_not_diverged(A, "The learned task structure A", structure, xp)
        objective = route.data(Z) + structure.regularizer(A, M, alpha, delta2, xp,
                                                          whitening=whitening)
        if math.isnan(objective):
            _check_not_diverged(xp.asarray(objective), "The objective Q_delta",
                                structure, xp)
        return A, objective, M

    def gap_at(Z, objective, delta2):
        linear, quadratic, S = route.dual(Z)
        return duality_gap(structure, objective, (_quadratic_dual(linear, quadratic), S),
                           alpha, delta2, xp, whitening)

    def newton_step(Z, A, objective, M, delta2):
        factor = route.factor(A, alpha)
        progress.n_b_steps += 1
        gradient, hessian = reduced_derivatives(structure, route, Z, A, M, alpha,
                                                delta2, xp, whitening)

        def forcing(model_decrease):
            # Inexact Newton (Dembo, Eisenstat & Steihaug 1982): the residual
            # shrinks with the gradient, for a fast local rate.
            return min(0.1, math.sqrt(max(model_decrease, 0.0) / max(objective, 1e-300)))

        V, first, n_products = newton_direction(
            gradient, hessian, factor.solve, xp, max_iter=_NEWTON_MAX_CG,
            forcing=forcing)
        progress.n_hessian_products += n_products
        Z_best = Z + first  # the alternating step
        A_best, best, M_best = evaluate(Z_best, delta2)
        candidates = [Z_best]
        if n_products > 0:
            step = 1.0
            for _ in range(_NEWTON_BACKTRACKS):
                Z_try = Z + step * V
                A_try, value, M_try = evaluate(Z_try, delta2, strict=False)
                if value < best:
                    Z_best, A_best, best, M_best = Z_try, A_try, value, M_try
                    candidates.append(Z_try)
                    progress.n_newton += 1
                    break
                step *= 0.5
        return Z_best, A_best, best, M_best, candidates

    A = A0  # the last recorded structure
    converged = False
    first = True
    schedule = structure.delta_schedule()
    for index, delta_rel in enumerate(schedule):
        delta2 = delta_rel**2 * unit
        stage_tol = progress.tol if index == len(schedule) - 1 else max(progress.tol,
                                                                           _STAGE_TOL)
        A_cur, objective, M = evaluate(Z, delta2)
        stage_iter = 0
        stage_converged = False
        if first:
            # The first B-step's point is the first iteration, as in _run_stages.
            first = False
            stage_iter = 1
            stage_converged = progress.record(
                objective, math.sqrt(delta2), A_cur, A, xp, stage_iter,
                gap_at(Z, objective, delta2), stage_tol)
            A = A_cur
        while not stage_converged and not progress.exhausted:
            Z, A_cur, objective, M, candidates = newton_step(Z, A_cur, objective, M,
                                                             delta2)
            stage_iter += 1
            # Weak duality holds for any dual variable: the least gap over the
            # points evaluated (the alternating step's is often the better one).
            gap = min(gap_at(C, objective, delta2) for C in candidates)
            stage_converged = progress.record(
                objective, math.sqrt(delta2), A_cur, A, xp, stage_iter, gap,
                stage_tol)
            A = A_cur
        converged = stage_converged
        if progress.exhausted and not stage_converged:
            break
    return A, converged


def reduced_derivatives(structure, route, Z, A, M, alpha, delta2, xp, whitening):
    """Gradient and Hessian-vector product of ``f(Z) = Q_delta(Z, A(Z))``.

    Parameters
    ----------
    structure : LearnedTaskStructure
        The penalty (its strength resolved), with an A-step derivative.
    route : DiagonalRoute or FeaturesRoute
        The data term in the coordinates ``Z`` (:mod:`.newton`).
    Z : array of shape (m, T)
        The point.
    A : array of shape (T, T)
        ``A(Z)``, the A-step at ``M``.
    M : array of shape (T, T)
        ``Z^T Z``.
    alpha : float
        Regularisation strength.
    delta2 : float
        Absolute perturbation.
    xp : module
        Array namespace.
    whitening : tuple or None
        The structure's :meth:`whitening`.

    Returns
    -------
    gradient : array of shape (m, T)
        ``grad_Z Q(Z, A)`` (envelope theorem: the A-step is a minimiser).
    hessian : callable
        ``hessian(V, coupling=1) = H_A V - coupling * 2 alpha Z A^{-1} dA A^{-1}``
        with ``dA`` the A-step's derivative along ``dM = V^T Z + Z^T V``: the
        Hessian of ``f`` at ``coupling = 1``, ``H_A`` at 0.
    """
    A_inv = xp.linalg.inv(A)
    A_inv = 0.5 * (A_inv + A_inv.T)
    ZA_inv = Z @ A_inv
    gradient = route.data_gradient(Z) + (2.0 * alpha) * ZA_inv
    derivative = structure.a_step_derivative(M, alpha, delta2, xp, whitening=whitening)

    def hessian(V, coupling=1.0):
        dA = derivative(V.T @ Z + Z.T @ V)
        return (route.data_hessian(V) + (2.0 * alpha) * (V @ A_inv)
                - (2.0 * alpha * coupling) * (ZA_inv @ dA @ A_inv))

    return gradient, hessian


def _newton_ready(structure):
    return _USE_NEWTON and structure.has_a_step_derivative()


def _eigenbasis_iterations(gram, Y, sample_w, structure, A0, alpha, xp, progress):
    """Complete Y, per-sample weights: every iteration in the eigenbasis of K~."""
    n, T = Y.shape
    check_memory(
        eigendecomposition_bytes(n, sample_w is not None),
        f"A learned task structure on {n} samples (an {n}x{n} kernel matrix and its "
        "eigendecomposition)",
        "Use solver='cg' (matrix-free B-steps), or fit on a subsample.",
        xp,
    )
    K = gram.full()
    sqrt_w = None if sample_w is None else xp.sqrt(sample_w)
    if sqrt_w is not None:
        K = sqrt_w[:, None] * K * sqrt_w[None, :]
        Y = sqrt_w[:, None] * Y
    s, U = eigh(K, xp)
    del K
    # A learned structure needs a PSD kernel: negatives are clipped, and reported
    # unless they are round-off (as the fixed structures' solvers do).
    warn_indefinite_kernel(s, xp, stacklevel=5)
    s = xp.clip(s, 0.0, None)
    Y_U = U.T @ Y  # cached for every B-step

    def b_step(A):
        sigma, V = task_eigh(A, xp)
        # Coefficients C~ = U D V^T of the fixed-A problem, kept in the eigenbases.
        D = (Y_U @ V) / (s[:, None] * sigma[None, :] + alpha)
        B_U = (D * sigma[None, :]) @ V.T  # U^T W^{1/2} B~ (B = C A)
        M = B_U.T @ (s[:, None] * B_U)
        return (D, V, B_U), 0.5 * (M + M.T)

    def data_term(state):
        _, _, B_U = state
        residual = Y_U - s[:, None] * B_U
        return float(xp.sum(residual * residual))

    def dual_term(state):
        # In the eigenbasis the data term is |Y_U - diag(s) B_U|^2: its dual
        # variable is Lambda = -2 R_U, and -V*(theta Lambda) = 2 theta <R_U, Y_U>
        # - theta^2 |R_U|^2.
        _, _, B_U = state
        R = Y_U - s[:, None] * B_U
        linear, quadratic = 2.0 * float(xp.sum(R * Y_U)), float(xp.sum(R * R))
        S = 4.0 * (R.T @ (s[:, None] * R))
        return _quadratic_dual(linear, quadratic), 0.5 * (S + S.T)

    if _newton_ready(structure):
        from .newton import DiagonalRoute

        # Z = diag(s)^{1/2} U^T B: the data term |Y_U - s^{1/2} o Z|^2.
        root = xp.sqrt(s)
        route = DiagonalRoute(s, root[:, None] * Y_U, float(xp.sum(Y_U * Y_U)), xp)
        A, converged = _run_newton_stages(structure, route, A0, alpha, xp, progress)
    else:
        A, converged = _run_stages(structure, b_step, data_term, A0, alpha, xp,
                                   progress, dual_term)
    D, V, _ = b_step(A)[0]
    C = U @ (D @ V.T)
    if sqrt_w is not None:
        C = sqrt_w[:, None] * C
    return C, A, converged


def _quadratic_dual(linear, quadratic):
    """``theta -> linear * theta - quadratic * theta^2``: ``-V*(theta Lambda)`` of a
    weighted squared loss."""
    return lambda theta: linear * theta - quadratic * theta * theta


def _statistics_iterations(features, Y, sample_w, structure, A0, alpha, xp,
                           progress):
    """Complete Y, per-sample weights, explicit features ``Phi`` (``n x d``, d < n).

    The data enter through ``G = Phi^T W Phi``, ``H = Phi^T W Y`` and ``sum w
    Y^2`` (:mod:`.statistics`), computed once; with ``G = Q diag(g) Q^T`` every
    B-step is the closed form of ``.statistics`` in ``G``'s eigenbasis, so an
    iteration costs ``O(d^2 T + d T^2 + T^3)`` after one ``d x d``
    eigendecomposition (instead of one of the ``n x n`` kernel matrix).
    """
    from .statistics import _SharedSolver, chunk_statistics

    stats = chunk_statistics(features, Y, sample_w, xp, per_task=False)
    shared = _SharedSolver(stats, xp)

    def b_step(A):
        Z, R, V = shared.rotated(A, alpha)
        ZV = Z @ V.T  # Q^T W, the primal weights in G's eigenbasis
        M = ZV.T @ ZV
        return ZV, 0.5 * (M + M.T)

    def data_term(ZV):
        return float(shared.sq - 2.0 * xp.sum(ZV * shared.QtH)
                     + xp.sum(shared.g[:, None] * ZV * ZV))

    def dual_term(ZV):
        # Lambda = -2 W (Y - Phi W): Phi^T Lambda = -2 (H - G W), and -V*(theta
        # Lambda) = 2 theta (sum w Y^2 - <W, H>) - theta^2 (the data term).
        E = shared.QtH - shared.g[:, None] * ZV  # Q^T (H - G W)
        S = 4.0 * (E.T @ E)
        linear = 2.0 * (shared.sq - float(xp.sum(ZV * shared.QtH)))
        return _quadratic_dual(linear, data_term(ZV)), 0.5 * (S + S.T)

    if _newton_ready(structure):
        from .newton import DiagonalRoute

        route = DiagonalRoute(shared.g, shared.QtH, shared.sq, xp)
        A, converged = _run_newton_stages(structure, route, A0, alpha, xp, progress)
    else:
        A, converged = _run_stages(structure, b_step, data_term, A0, alpha, xp,
                                   progress, dual_term)
    coef = shared.Q @ b_step(A)[0]
    residual = Y - features @ coef
    C = residual / alpha if sample_w is None else sample_w[:, None] * residual / alpha
    return C, coef, A, converged


def _cached_gram(gram, xp):
    """The kernel matrix computed once, when it fits next to the solver's system."""
    n = gram.n
    if gram.kernel.is_precomputed or gram.features() is not None:
        return gram
    if eigendecomposition_bytes(n) > memory_budget(xp):
        return gram
    return TrainingGram(PairwiseKernel("precomputed"), gram.full(), xp)


def _kernel_times(gram, C, xp):
    """``K @ C`` by blocks of rows of K."""
    n = gram.n
    if gram.kernel.is_precomputed:
        return gram.X @ C
    block = row_block(n)
    out = xp.empty(C.shape, dtype=C.dtype, device=array_device(C))
    for start in range(0, n, block):
        stop = min(start + block, n)
        out[start:stop, :] = gram.rows(start, stop) @ C
    return out


def _masked_iterations(gram, Y, sample_weight, structure, A0, alpha, xp, progress,
                       solver, options):
    """Missing labels or per-entry weights: B-steps by the observed-entries solver."""
    gram = _cached_gram(gram, xp)
    W = entry_weights(Y, sample_weight, xp)
    Y0 = xp.where(xp.isnan(Y), xp.zeros_like(Y), Y)
    # The previous B-step's coefficients warm-start the next one (CG); what does
    # not depend on A (the primal statistics) is computed at the first B-step only.
    last = {"C": None, "solver": None}
    memo = {}

    def b_step(A):
        C, info = solve_fixed_structure(gram, Y, A, alpha, xp,
                                        sample_weight=sample_weight, solver=solver,
                                        options=options, initial_coef=last["C"],
                                        cache=memo)
        last["C"], last["solver"] = C, info["solver"]
        if info["solver"] == "primal":
            coef = info["primal_coef"]  # W = Phi^T C A, so B^T K B = W^T W
            features = gram.features()
            F = features @ coef
            M = coef.T @ coef
            PhiC = features.T @ C
            CKC = PhiC.T @ PhiC
        else:
            KC = _kernel_times(gram, C, xp)
            F = KC @ A
            CKC = C.T @ KC
            M = A @ CKC @ A
        return (C, F, CKC), 0.5 * (M + M.T)

    def data_term(state):
        F = state[1]
        residual = Y0 - F
        return float(xp.sum(W * residual * residual))

    observed = W > 0
    W_safe = xp.where(observed, W, xp.ones_like(W))

    def dual_term(state):
        # Lambda = -2 alpha C (= -2 W (Y - F) at an exact B-step; C is zero where
        # the weight is): -V*(theta Lambda) = 2 alpha theta <C, Y> - (alpha
        # theta)^2 sum C^2 / w, and Lambda^T K Lambda = 4 alpha^2 C^T K C.
        C, _, CKC = state
        ratio = xp.where(observed, C * C / W_safe, xp.zeros_like(C))
        linear = 2.0 * alpha * float(xp.sum(C * Y0))
        quadratic = alpha * alpha * float(xp.sum(ratio))
        S = (4.0 * alpha * alpha) * CKC
        return _quadratic_dual(linear, quadratic), 0.5 * (S + S.T)

    route = None
    if _newton_ready(structure):
        route = _masked_newton_route(gram, Y, W, sample_weight, A0, xp, solver, options,
                                     memo)
    if route is not None:
        A, converged = _run_newton_stages(structure, route, A0, alpha, xp, progress)
    else:
        A, converged = _run_stages(structure, b_step, data_term, A0, alpha, xp,
                                   progress, dual_term)
    C = b_step(A)[0][0]
    return C, A, converged, last["solver"]


def _masked_newton_route(gram, Y, W, sample_weight, A0, xp, solver, options, memo):
    """The Newton route of a masked problem, or None where the B-step is iterative.

    The B-step's plan for a dense structure (what the learned ``A`` becomes):
    the primal normal equations factorise ``H_A`` in the features of the kernel;
    the observed-entries Cholesky factorises it in the dual, with the kernel
    matrix's scaled eigenvectors as features (one extra ``n x n``
    eigendecomposition per fit).
    """
    from .newton import FeaturesRoute
    from .observed import ObservedEntries
    from .plan import describe_problem, plan_fixed_solver
    from .primal import primal_statistics

    T = A0.shape[0]
    dense = 0.5 * (xp.eye(T, dtype=A0.dtype, device=array_device(A0))
                   + xp.ones((T, T), dtype=A0.dtype, device=array_device(A0)))
    shape = describe_problem(gram, Y, dense, xp, sample_weight)[0]
    plan = plan_fixed_solver(shape, solver, options, xp=xp)
    if plan.system == "primal":
        Phi = gram.features()
        if "primal_statistics" not in memo:
            memo["primal_statistics"] = primal_statistics(Phi, Y, W, xp)
        return FeaturesRoute(Phi, Y, W, xp, statistics=memo["primal_statistics"])
    cholesky_plan = (plan.system == "observed" and len(plan.blocks) == 1
                     and plan.blocks[0][1].solver == "cholesky")
    n = Y.shape[0]
    obs = ObservedEntries(Y, W, xp)
    # "auto" may prefer an iterative B-step (one solve per iteration); Newton's
    # many solves with one H_A want the factorisation while it is small.
    small = solver in ("auto", "cholesky") and obs.size <= _NEWTON_MAX_DUAL
    if not (cholesky_plan or small):
        return None
    if eigendecomposition_bytes(n) + dense_bytes(obs.size) > memory_budget(xp):
        return None
    s, U = eigh(gram.full(), xp)
    Phi = U * xp.sqrt(xp.clip(s, 0.0, None))[None, :]
    del U
    return FeaturesRoute(Phi, Y, W, xp, gram=gram, obs=obs)
