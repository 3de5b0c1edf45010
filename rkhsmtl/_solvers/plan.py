"""Which solver runs a fixed-structure ridge problem: a pure function of its shape.

:func:`describe_problem` reads what the choice depends on from the arrays once (the
missing-label pattern, the groups of tasks that ``A`` links, the number and spread
of the distinct positive eigenvalues of ``A``, whether the kernel has a small
explicit feature map). :func:`plan_fixed_solver` turns that description, the
requested solver, its options and a memory budget into a :class:`SolverPlan` --
which solver, which CG operator, how many bytes -- without touching an array, so
tests can ask what would run without running it. :mod:`.fixed` executes plans.

Invalid requests (an unknown solver or option, "eig" on missing labels, "primal"
without an explicit feature map) and computations that cannot fit are rejected here,
before anything is allocated.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field

from .._backend import to_numpy
from .._memory import (
    ITEMSIZE,
    check_memory,
    cholesky_bytes,
    dense_bytes,
    eigendecomposition_bytes,
    factored_cg_bytes,
    format_bytes,
    memory_budget,
)
from .._validation import entry_weights
from ..exceptions import MemoryBudgetError
from .complete import count_positive_groups, positive_eigenvalue_ratio

__all__ = [
    "AUTO_CG_MAX_FLOPS",
    "DEFAULT_SOLVER_OPTIONS",
    "SOLVERS",
    "ProblemShape",
    "SolverPlan",
    "describe_problem",
    "plan_fixed_solver",
    "resolve_solver_options",
]

SOLVERS = ("auto", "eig", "cholesky", "cg", "primal", "factored_cg")

PRECONDITIONERS = ("nystrom", "jacobi", None)

DEFAULT_SOLVER_OPTIONS = {
    "tol": 1e-7,  # CG: relative residual
    "max_iter": 1000,  # CG iterations
    "preconditioner": "nystrom",  # CG: "nystrom", "jacobi" or None
    "preconditioner_rank": 100,  # CG: rank of the Nystrom sketch
}

# An eigendecomposition costs about this many Cholesky factorisations of the same
# size (measured: 13-15x with OpenBLAS on 2 cores, n = 3000). "auto" prefers one
# Cholesky per distinct eigenvalue of A while there are fewer than this.
EIG_TO_CHOLESKY_COST = 10

# "auto" falls back to conjugate gradients when no direct solver fits in memory,
# but not when one CG product would cost more than this many floating-point
# operations (about 1 to 10 s at 1e9 to 1e10 flop/s; with a streamed rbf kernel on
# 10 features, n_samples above about 18 000): the default max_iter could then run
# for hours, so it must be asked for with solver="cg".
AUTO_CG_MAX_FLOPS = 1e10

# solver="factored_cg" iterates to this relative stationarity residual (or to a
# smaller solver_options['tol']): what "exact" means for the iterative routes.
EXACT_TOL = 1e-10

# One column's pair of triangular solves (2 n^2 flops, at a lower rate than the
# factorisation's n^3 / 3) costs about this / n Cholesky factorisations of order n
# (measured: 3 to 7 with OpenBLAS on 2 cores, n = 2000 to 4000, 20 columns at once).
COLUMN_SOLVE_COST = 8.0

# Shifted factorisations solver="factored_cg" considers on complete data.
MAX_SHIFT_LEVELS = 4

# "auto" takes solver="factored_cg" only when its estimated cost times this is
# below a direct solver's: the estimate of its iterations is a bound, and a direct
# solver is exact to rounding and bit-reproducible (a mean-regularised A keeps its
# two Cholesky factorisations).
ITERATIVE_MARGIN = 1.5

# Iterations the missing-label route is planned with (measured: 20-35 on rbf
# problems with 30% of the labels missing; the executor falls back when more are
# needed, see SolverPlan.fallback).
MASKED_CG_ITERATIONS = 40

_CG_ADVICE = ("Use solver='cg' (matrix-free conjugate gradients; it streams the "
              "kernel in blocks when needed), or approximation='nystrom' (a "
              "low-rank kernel of n_components centres, whose memory does not grow "
              "with n_samples).")

# What the errors of the exact solvers propose when n_samples is too large.
_APPROXIMATION_ADVICE = ("approximation='nystrom' (a low-rank kernel of n_components "
                         "centres; memory n_components**2, not n_samples**2)")


def resolve_solver_options(options):
    """Defaults updated with the user's ``solver_options``, every value checked.

    Raises
    ------
    TypeError, ValueError
        For a non-dict, an unknown key or an invalid value.
    """
    resolved = dict(DEFAULT_SOLVER_OPTIONS)
    if options is None:
        return resolved
    if not isinstance(options, dict):
        raise TypeError(f"solver_options must be a dict or None, got {type(options)}.")
    unknown = set(options) - set(resolved)
    if unknown:
        raise ValueError(
            f"Unknown solver_options {sorted(unknown)}; valid keys are "
            f"{sorted(resolved)}."
        )
    resolved.update(options)
    if not (isinstance(resolved["tol"], numbers.Real) and resolved["tol"] > 0):
        raise ValueError(f"solver_options['tol'] must be > 0, got {resolved['tol']!r}.")
    if not (isinstance(resolved["max_iter"], numbers.Integral)
            and resolved["max_iter"] >= 1):
        raise ValueError(
            f"solver_options['max_iter'] must be an int >= 1, got {resolved['max_iter']!r}."
        )
    if resolved["preconditioner"] not in PRECONDITIONERS:
        raise ValueError(
            "solver_options['preconditioner'] must be 'nystrom', 'jacobi' or None, "
            f"got {resolved['preconditioner']!r}."
        )
    rank = resolved["preconditioner_rank"]
    if not (isinstance(rank, numbers.Integral) and not isinstance(rank, bool) and rank >= 1):
        raise ValueError(
            f"solver_options['preconditioner_rank'] must be an int >= 1, got {rank!r}."
        )
    return resolved


@dataclass(frozen=True)
class ProblemShape:
    """What the choice of a fixed-structure solver depends on.

    Parameters
    ----------
    n_samples, n_tasks : int
        Shape of ``Y``.
    complete : bool
        ``Y`` has no missing label and the weights are per sample: the closed forms
        apply.
    weighted : bool
        Per-sample weights are given (the closed forms then rescale the kernel).
    components : tuple of tuple of int
        Groups of tasks linked by non-zero entries of ``A`` (each group is a separate
        observed-entries system).
    n_observed : tuple of int
        Number of observed (positive-weight) entries of each group.
    n_factorizations : int
        Distinct positive eigenvalues of ``A``: Cholesky factorisations of the
        rotated closed form.
    n_features : int or None
        Dimension of an explicit feature map of the kernel (the linear kernel), or
        None.
    kernel_cost : float
        Rough flops per kernel entry (for the cost of streaming it).
    task_condition : float or None
        Ratio of the largest to the smallest positive eigenvalue of ``A`` (sets the
        iterations of solver "factored_cg"); None when unknown ("auto" then does not
        consider that solver on complete data).
    """

    n_samples: int
    n_tasks: int
    complete: bool
    weighted: bool
    components: tuple
    n_observed: tuple
    n_factorizations: int
    n_features: int | None = None
    kernel_cost: float = 1.0
    task_condition: float | None = None

    @property
    def n_observed_total(self):
        return int(sum(self.n_observed))


@dataclass(frozen=True)
class SolverPlan:
    """A solver chosen for a :class:`ProblemShape`.

    Attributes
    ----------
    solver : {"primal", "eig", "cholesky", "cg", "factored_cg"}
        What runs (for several groups of tasks: the first group's solver).
    system : {"primal", "complete", "observed", "masked"}
        The system solved: the primal normal equations, the closed form of complete
        data, the observed-entries system (per group of tasks), or the full
        ``(n, T)`` grid with zero weights on missing labels (solver "factored_cg").
    bytes : float
        Planned peak memory of the largest allocation.
    n_factorizations : int
        Cholesky factorisations of the rotated closed form (solver "cholesky" on
        complete data), of the shifted kernel matrix (solver "factored_cg" on
        complete data) or of the complete-data preconditioner (system "masked").
    fallback_to_eig : bool
        "auto" chose the rotated Cholesky: if the kernel turns out indefinite, the
        executor falls back to the eigendecomposition (with a warning).
    operator : str or None
        The CG product: "dense", "kronecker", "streaming_kronecker" or
        "streaming_hadamard".
    blocks : tuple of (tuple of int, SolverPlan)
        The observed-entries system split by groups of tasks: one plan each.
    options : dict
        The resolved ``solver_options``.
    factorization : {"cholesky", "eig"} or None
        System "masked": how the complete-data preconditioner is factorised.
    fallback : SolverPlan or None
        "auto" chose solver "factored_cg": the exact direct plan the executor runs
        instead if the iteration does not reach its tolerance or a factorisation
        fails (None when no direct solver fits).
    """

    solver: str
    system: str
    bytes: float = 0.0
    n_factorizations: int = 0
    fallback_to_eig: bool = False
    operator: str | None = None
    blocks: tuple = ()
    options: dict = field(default_factory=lambda: dict(DEFAULT_SOLVER_OPTIONS))
    factorization: str | None = None
    fallback: SolverPlan | None = None


def complete_sample_weights(Y, sample_weight, xp):
    """``(per-sample weights or None, complete)``: complete when ``Y`` has no NaN and
    the weights do not vary across tasks."""
    if bool(xp.any(xp.isnan(Y))):
        return None, False
    if sample_weight is None:
        return None, True
    if sample_weight.ndim == 1:
        return sample_weight, True
    first = sample_weight[:, :1]
    if bool(xp.all(sample_weight == first)):
        return sample_weight[:, 0], True
    return None, False


def task_components(A):
    """Groups of tasks linked by non-zero entries of ``A`` (connected components)."""
    import numpy as np
    from scipy.sparse.csgraph import connected_components

    linked = to_numpy(A) != 0
    n_comp, labels = connected_components(linked, directed=False)
    return tuple(tuple(np.flatnonzero(labels == c).tolist()) for c in range(n_comp))


def describe_problem(gram, Y, A, xp, sample_weight=None):
    """The :class:`ProblemShape` of a fixed-structure problem, read from its arrays.

    Returns
    -------
    shape : ProblemShape
    sample_w : array of shape (n,) or None
        Per-sample weights of a complete problem.
    W : array of shape (n, T)
        Entry weights, zero on missing labels.
    """
    import numpy as np

    n, T = Y.shape
    sample_w, complete = complete_sample_weights(Y, sample_weight, xp)
    W = entry_weights(Y, sample_weight, xp)
    components = task_components(A)
    observed = to_numpy(W > 0)
    counts = tuple(int(np.count_nonzero(observed[:, list(c)])) for c in components)
    features = gram.features()
    shape = ProblemShape(
        n_samples=int(n), n_tasks=int(T), complete=bool(complete),
        weighted=sample_w is not None, components=components, n_observed=counts,
        n_factorizations=int(count_positive_groups(A, xp)),
        n_features=None if features is None else int(features.shape[1]),
        kernel_cost=float(gram.cost_per_entry()),
        task_condition=float(positive_eigenvalue_ratio(A, xp)),
    )
    return shape, sample_w, W


def primal_system_size(n_features, n_tasks):
    """Order of the primal system."""
    return int(n_features) * int(n_tasks)


def _primal_bytes(shape):
    # The system and its in-place factor, plus the stacked per-task statistics.
    return 2.0 * dense_bytes(primal_system_size(shape.n_features, shape.n_tasks))


def _primal_is_cheaper(shape, budget):
    """Whether "auto" should solve in the primal (a small explicit feature map)."""
    if shape.n_features is None or _primal_bytes(shape) > budget:
        return False
    if shape.complete:
        dual_cost = float(shape.n_samples) ** 3 * shape.n_factorizations
    else:
        dual_cost = float(shape.n_observed_total) ** 3
    size = primal_system_size(shape.n_features, shape.n_tasks)
    # Cholesky flops of the rT x rT system, plus assembling it (T^3 r^2).
    primal_cost = float(size) ** 3 + 3.0 * shape.n_tasks**3 * shape.n_features**2
    return primal_cost < 0.5 * dual_cost


def plan_fixed_solver(shape, solver="auto", options=None, budget=None, xp=None):
    """Choose the solver of a fixed-structure problem.

    Parameters
    ----------
    shape : ProblemShape
        What the problem looks like (:func:`describe_problem`).
    solver : {"auto", "eig", "cholesky", "cg", "primal"}
        The requested solver; "auto" picks the cheapest exact solver that fits.
    options : dict or None
        ``solver_options`` (validated here).
    budget : float or None
        Bytes the solver may use; by default the memory budget of ``xp``
        (:func:`rkhsmtl._memory.memory_budget`).
    xp : module or None
        Namespace of the computation (for the default budget: GPU or host memory).

    Returns
    -------
    plan : SolverPlan

    Raises
    ------
    ValueError
        For an invalid solver or option, or a solver that does not apply.
    MemoryBudgetError
        When the requested solver, or every solver, needs more than ``budget``.
    """
    if solver not in SOLVERS:
        raise ValueError(f"solver must be one of {SOLVERS}, got {solver!r}.")
    opts = resolve_solver_options(options)
    budget = memory_budget(xp) if budget is None else float(budget)
    n, T = shape.n_samples, shape.n_tasks

    if solver == "primal" and shape.n_features is None:
        raise ValueError(
            "solver='primal' needs an explicit feature map: kernel='linear'. Use "
            "'auto', 'eig', 'cholesky' or 'cg' with other kernels."
        )
    if solver == "primal" or (solver == "auto" and _primal_is_cheaper(shape, budget)):
        need = _primal_bytes(shape)
        check_memory(need, f"solver='primal' ({shape.n_features} features x {T} tasks)",
                     "Use solver='cholesky' or 'cg'.", budget=budget)
        return SolverPlan("primal", "primal", bytes=need, options=opts)

    if solver == "eig" and not shape.complete:
        raise ValueError(
            "solver='eig' needs a complete Y (no NaN) and per-sample weights of shape "
            "(n_samples,); with missing labels or (n_samples, n_tasks) weights use "
            "solver='cholesky' or solver='cg' (or 'auto')."
        )

    if shape.complete and solver in ("auto", "eig", "cholesky", "factored_cg"):
        levels, level_cost = shift_levels_plan(shape, opts)
        need = {"eig": eigendecomposition_bytes(n, shape.weighted),
                "cholesky": cholesky_bytes(n, shape.weighted),
                "factored_cg": factored_cg_bytes(n, levels, shape.weighted)}
        chosen = solver
        if solver == "auto":
            # The cheapest that fits, in Cholesky factorisations of order n; a tie
            # goes to the direct solvers (first in this order).
            cost = {"cholesky": shape.n_factorizations, "eig": EIG_TO_CHOLESKY_COST}
            if shape.task_condition is not None and levels < shape.n_factorizations:
                cost["factored_cg"] = ITERATIVE_MARGIN * level_cost
            fits = [name for name in cost if need[name] <= budget]
            chosen = min(fits, key=cost.get) if fits else "cg"
        if chosen != "cg":
            check_memory(
                need[chosen],
                f"solver={chosen!r} on {n} samples (an {n}x{n} kernel matrix and its "
                "factorisation)",
                "Use solver='cg', which streams the kernel matrix in blocks when it does "
                f"not fit, or {_APPROXIMATION_ADVICE}.", budget=budget)
            fallback = None
            if solver == "auto" and chosen == "factored_cg" and need["eig"] <= budget:
                fallback = SolverPlan("eig", "complete", bytes=need["eig"], options=opts)
            return SolverPlan(
                chosen, "complete", bytes=need[chosen],
                n_factorizations={"cholesky": shape.n_factorizations,
                                  "factored_cg": levels}.get(chosen, 0),
                fallback_to_eig=solver == "auto" and chosen == "cholesky", options=opts,
                fallback=fallback)

    if not shape.complete and solver in ("auto", "factored_cg"):
        masked = _plan_masked(shape, solver, opts, budget)
        if masked is not None:
            return masked
    return _plan_observed_blocks(shape, solver, opts, budget)


def _plan_observed_blocks(shape, solver, opts, budget):
    """The observed-entries system, one plan per group of tasks."""
    n = shape.n_samples
    blocks = tuple(
        (tasks, _plan_observed(n, len(tasks), n_obs, shape.kernel_cost, solver, opts,
                               budget))
        for tasks, n_obs in zip(shape.components, shape.n_observed, strict=True))
    first = blocks[0][1]
    return SolverPlan(first.solver, "observed", bytes=max(p.bytes for _, p in blocks),
                      operator=first.operator, blocks=blocks, options=opts)


def exact_tol(opts):
    """The stopping tolerance of solver "factored_cg": ``min(tol, EXACT_TOL)``."""
    return min(float(opts["tol"]), EXACT_TOL)


def cg_iterations(condition, tol):
    """Conjugate-gradient iterations that reach ``tol`` at this condition number.

    The classical bound: the error falls by ``(sqrt(k) - 1) / (sqrt(k) + 1)`` per
    iteration, below ``2 exp(-2 m / sqrt(k))``; measured counts on kernel systems
    are close to it (the spectrum between the shifts is not clustered).
    """
    return int(math.ceil(0.5 * math.sqrt(max(condition, 1.0)) * math.log(2.0 / tol))) + 1


def shift_levels_plan(shape, opts):
    """Factorisations of solver "factored_cg" on complete data, and its cost.

    With ``k`` factorisations no column's shift is further than
    ``condition^(1 / (2k))`` from its factor's, which bounds that column's
    condition number (:func:`~.complete.shift_levels`). The cost, in Cholesky
    factorisations of order ``n``, is ``k`` plus the triangular solves of the
    iterations of all ``T`` columns; the ``k`` of least cost is chosen.

    Returns
    -------
    levels : int
    cost : float
    """
    n, T = shape.n_samples, shape.n_tasks
    if shape.task_condition is None:
        return 1, math.inf
    tol = exact_tol(opts)
    most = max(1, min(MAX_SHIFT_LEVELS, shape.n_factorizations))
    costs = []
    for k in range(1, most + 1):
        if k >= shape.n_factorizations:
            iters = 1  # every distinct eigenvalue has its own factor: exact
        else:
            iters = cg_iterations(shape.task_condition ** (0.5 / k), tol)
        costs.append((k + iters * T * COLUMN_SOLVE_COST / max(n, 1), k))
    cost, levels = min(costs)
    return levels, cost


def _plan_masked(shape, solver, opts, budget):
    """Missing labels by CG preconditioned by the complete-data solve, or None.

    "auto" takes it when it fits and costs less than the observed-entries
    factorisations (or when those do not fit at all); the plan then carries the
    observed-entries plan as its fallback.
    """
    n, T = shape.n_samples, shape.n_tasks
    d = shape.n_factorizations
    method = "cholesky" if d < EIG_TO_CHOLESKY_COST else "eig"
    need = factored_cg_bytes(n, d if method == "cholesky" else 2, True, n_tasks=T)
    held = "Cholesky factors" if method == "cholesky" else "eigenvectors"
    what = (f"solver='factored_cg' on {n} samples x {T} tasks (an {n}x{n} kernel "
            f"matrix and its {held})")
    if solver == "factored_cg":
        check_memory(need, what, "Use solver='cg', which streams the kernel matrix in "
                     f"blocks when it does not fit, or {_APPROXIMATION_ADVICE}.",
                     budget=budget)
        return SolverPlan("factored_cg", "masked", bytes=need,
                          n_factorizations=d if method == "cholesky" else 0,
                          factorization=method, options=opts)
    if need > budget:
        return None
    setup = d if method == "cholesky" else EIG_TO_CHOLESKY_COST
    cost = ITERATIVE_MARGIN * (setup + MASKED_CG_ITERATIONS * T * COLUMN_SOLVE_COST
                               / max(n, 1))
    observed_fits = all(dense_bytes(N) <= budget for N in shape.n_observed)
    observed_cost = sum((float(N) / max(n, 1)) ** 3 for N in shape.n_observed)
    if observed_fits and observed_cost <= cost:
        return None
    try:
        fallback = _plan_observed_blocks(shape, "auto", opts, budget)
    except MemoryBudgetError:
        fallback = None
    return SolverPlan("factored_cg", "masked", bytes=need,
                      n_factorizations=d if method == "cholesky" else 0,
                      factorization=method, options=opts, fallback=fallback)


def cg_workspace_bytes(n_observed, n_samples, n_tasks, rank):
    """CG's vectors and the Nystrom sketch (a few ``(N, rank)`` arrays)."""
    return float(ITEMSIZE) * (n_observed * (3 * rank + 10) + 4 * n_samples * n_tasks)


def _plan_observed(n, T, N, kernel_cost, solver, opts, budget):
    """The observed-entries system of one group of tasks (``N`` entries)."""
    need = dense_bytes(N)
    if solver == "cholesky" or (solver == "auto" and need <= budget):
        check_memory(need,
                     f"solver='cholesky' on {N} observed entries (an {N}x{N} system)",
                     _CG_ADVICE, budget=budget)
        return SolverPlan("cholesky", "observed", bytes=need, options=opts)
    work = cg_workspace_bytes(N, n, T, opts["preconditioner_rank"])
    check_memory(work, "solver='cg' (its vectors and preconditioner)",
                 "Lower solver_options['preconditioner_rank'] or fit on a subsample.",
                 budget=budget)
    # (flops per product, operator, bytes): the cheapest product whose storage fits.
    candidates = []
    if dense_bytes(N) + work <= budget:
        candidates.append((float(N) * N, "dense", dense_bytes(N) + work))
    if dense_bytes(n) + work <= budget:
        candidates.append((float(n) * n * T + float(n) * T * T, "kronecker",
                           dense_bytes(n) + work))
    candidates.append((float(N) * N * (kernel_cost + 2), "streaming_hadamard", work))
    candidates.append((float(n) * n * (kernel_cost + T), "streaming_kronecker", work))
    flops, operator, nbytes = min(candidates)
    if solver == "auto" and flops > AUTO_CG_MAX_FLOPS:
        _refuse_large_auto(n, T, N, flops, nbytes, need, budget, opts)
    return SolverPlan("cg", "observed", bytes=nbytes, operator=operator, options=opts)


def _refuse_large_auto(n, T, N, flops, nbytes, need, budget, opts):
    """"auto" does not start hours of conjugate gradients unasked."""
    raise MemoryBudgetError(
        f"solver='auto' found no direct solver within the memory budget for {N} "
        f"observed entries ({n} samples x {T} tasks): the dense system needs "
        f"{format_bytes(need)} but the budget is {format_bytes(budget)} (90% of the "
        "available memory, capped by rkhsmtl.set_config(memory_limit=...)). The "
        "remaining route, conjugate gradients, would cost about "
        f"{flops:.2g} floating-point operations per iteration (seconds to minutes "
        f"each) for up to solver_options['max_iter']={opts['max_iter']} iterations, "
        f"with {format_bytes(nbytes)} of memory; 'auto' does not start it above "
        f"{AUTO_CG_MAX_FLOPS:.0e} operations per iteration (and never approximates "
        f"the kernel unasked). Pass solver='cg' to insist, or use "
        f"{_APPROXIMATION_ADVICE}."
    )

