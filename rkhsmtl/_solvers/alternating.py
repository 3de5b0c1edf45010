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
too. Complete ``Y`` with per-sample weights stays in the eigenbasis of the
(weighted) kernel matrix: ``K~ = U diag(s) U^T`` is factorised once, ``U^T Y~`` is
cached, and an iteration costs ``O(n T^2 + T^3)``. Otherwise the B-step is the
observed-entries solver of :mod:`.fixed` (conjugate gradients warm-started from
the previous coefficients).

Knows nothing of scikit-learn.
"""

from __future__ import annotations

import math
import warnings

from sklearn.exceptions import ConvergenceWarning

from .._backend import array_device, eigh
from .._memory import check_memory, eigendecomposition_bytes, memory_budget, row_block
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
        self.history, self.deltas = [], []
        self.n_iter = 0
        # strength="auto" is set at the structure the penalty is measured from
        # (the prior, or I), also when the iterations start elsewhere (a warm
        # start): then ``auto_start`` holds that structure.
        self.auto_start = None
        self.structure = None

    def record(self, objective, delta, A, A_prev, xp, stage_iter):
        """Store one iteration; True when the current stage has converged."""
        previous = self.history[-1] if self.history else math.inf
        self.history.append(objective)
        self.deltas.append(delta)
        self.n_iter += 1
        decrease = (previous - objective) / max(abs(objective), 1e-300)
        change = _relative_change(A, A_prev, xp)
        if self.verbose:
            print(f"[rkhsmtl] iter {self.n_iter:4d}  delta {delta:.1e}  "
                  f"objective {objective:.10g}  rel. decrease {decrease:.2e}  "
                  f"|dA|/|A| {change:.2e}")
        # Stationarity: the objective has stopped decreasing and A has stopped
        # moving (the relative change of A scales like the square root of the
        # objective's near a minimum).
        return stage_iter >= 2 and decrease <= self.tol and change <= math.sqrt(self.tol)

    @property
    def exhausted(self):
        return self.n_iter >= self.max_iter


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
        Stop a stage when the relative decrease of the objective is below ``tol``
        and the relative change of ``A`` below ``sqrt(tol)``.
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
        absolute ``delta`` of each iteration), ``n_iter``, ``converged``,
        ``solver`` and ``b_step_solver``.
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
    if complete and solver in ("auto", "eig"):
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
            "strength": _strength_used(progress)}
    return C, A, info


def _strength_used(progress):
    """The numeric strength of the penalty (``"auto"`` resolved), or None."""
    strength = getattr(progress.structure, "strength", None)
    return float(strength) if isinstance(strength, (int, float)) else None


def warn_not_converged(max_iter, tol):
    """The ConvergenceWarning of an alternating minimisation that hit max_iter."""
    warnings.warn(
        f"The alternating minimisation did not converge in {max_iter} iterations "
        f"(last relative decrease of the objective above tol={tol:g}). Increase "
        "max_iter or loosen tol.",
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


def _run_stages(structure, b_step, data_term, A0, alpha, xp, progress):
    """The alternating loop shared by both B-step implementations.

    ``b_step(A)`` returns the state of the coefficients and ``M = B^T K B``;
    ``data_term(state)`` the weighted squared error of its predictions.
    """
    T = A0.shape[0]
    A = A0
    # The prior's square roots are the same at every A-step: computed once.
    whitening = structure.whitening(T, xp, A0)
    M_auto = None
    if progress.auto_start is not None and structure._strength_is_auto():
        M_auto = b_step(progress.auto_start)[1]
    state, M = b_step(A)
    structure = structure.with_data_scale(M if M_auto is None else M_auto, alpha, xp,
                                          whitening=whitening)
    progress.structure = structure
    unit = _delta_scale(M, T, xp)
    converged = False
    for delta_rel in structure.delta_schedule():
        delta2 = delta_rel**2 * unit
        stage_iter = 0
        stage_converged = False
        while not progress.exhausted:
            if stage_iter > 0 or progress.n_iter > 0:
                state, M = b_step(A)
            _check_not_diverged(M, "B^T K B (the Gram matrix of the task functions)",
                                structure, xp)
            A_new = structure.a_step(M, alpha, delta2, xp, whitening=whitening)
            _check_not_diverged(A_new, "The learned task structure A", structure, xp)
            objective = data_term(state) + structure.regularizer(
                A_new, M, alpha, delta2, xp, whitening=whitening)
            if math.isnan(objective):
                _check_not_diverged(xp.asarray(objective), "The objective Q_delta",
                                    structure, xp)
            stage_iter += 1
            stage_converged = progress.record(objective, math.sqrt(delta2), A_new, A,
                                              xp, stage_iter)
            A = A_new
            if stage_converged:
                break
        converged = stage_converged
        if progress.exhausted and not stage_converged:
            break
    return A, converged


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

    A, converged = _run_stages(structure, b_step, data_term, A0, alpha, xp, progress)
    D, V, _ = b_step(A)[0]
    C = U @ (D @ V.T)
    if sqrt_w is not None:
        C = sqrt_w[:, None] * C
    return C, A, converged


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
            F = gram.features() @ coef
            M = coef.T @ coef
        else:
            KC = _kernel_times(gram, C, xp)
            F = KC @ A
            M = A @ (C.T @ KC) @ A
        return (C, F), 0.5 * (M + M.T)

    def data_term(state):
        _, F = state
        residual = Y0 - F
        return float(xp.sum(W * residual * residual))

    A, converged = _run_stages(structure, b_step, data_term, A0, alpha, xp, progress)
    (C, _), _ = b_step(A)
    return C, A, converged, last["solver"]
