"""Which solver runs a fixed-structure ridge problem: a pure function of its shape.

:func:`describe_problem` reads what the choice depends on from the arrays once (the
missing-label pattern, the groups of tasks that ``A`` links, the number of distinct
positive eigenvalues of ``A``, whether the kernel has a small explicit feature
map). :func:`plan_fixed_solver` turns that description, the requested solver, its
options and a memory budget into a :class:`SolverPlan` -- which solver, which CG
operator, how many bytes -- without touching an array, so tests can ask what would
run without running it. :mod:`.fixed` executes plans.

Invalid requests (an unknown solver or option, "eig" on missing labels, "primal"
without an explicit feature map) and computations that cannot fit are rejected here,
before anything is allocated.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field

from .._backend import to_numpy
from .._memory import (
    ITEMSIZE,
    check_memory,
    cholesky_bytes,
    dense_bytes,
    eigendecomposition_bytes,
    format_bytes,
    memory_budget,
)
from .._validation import entry_weights
from ..exceptions import MemoryBudgetError
from .complete import count_positive_groups

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

SOLVERS = ("auto", "eig", "cholesky", "cg", "primal")

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

    @property
    def n_observed_total(self):
        return int(sum(self.n_observed))


@dataclass(frozen=True)
class SolverPlan:
    """A solver chosen for a :class:`ProblemShape`.

    Attributes
    ----------
    solver : {"primal", "eig", "cholesky", "cg"}
        What runs (for several groups of tasks: the first group's solver).
    system : {"primal", "complete", "observed"}
        The system solved: the primal normal equations, the closed form of complete
        data, or the observed-entries system (per group of tasks).
    bytes : float
        Planned peak memory of the largest allocation.
    n_factorizations : int
        Cholesky factorisations of the rotated closed form (solver "cholesky" on
        complete data).
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
    """

    solver: str
    system: str
    bytes: float = 0.0
    n_factorizations: int = 0
    fallback_to_eig: bool = False
    operator: str | None = None
    blocks: tuple = ()
    options: dict = field(default_factory=lambda: dict(DEFAULT_SOLVER_OPTIONS))


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

    if shape.complete and solver in ("auto", "eig", "cholesky"):
        need = {"eig": eigendecomposition_bytes(n, shape.weighted),
                "cholesky": cholesky_bytes(n, shape.weighted)}
        chosen = solver
        if solver == "auto":
            cheap_cholesky = shape.n_factorizations < EIG_TO_CHOLESKY_COST
            if need["cholesky"] <= budget and (cheap_cholesky or need["eig"] > budget):
                chosen = "cholesky"
            elif need["eig"] <= budget:
                chosen = "eig"
            else:
                chosen = "cg"
        if chosen != "cg":
            check_memory(
                need[chosen],
                f"solver={chosen!r} on {n} samples (an {n}x{n} kernel matrix and its "
                "factorisation)",
                "Use solver='cg', which streams the kernel matrix in blocks when it does "
                f"not fit, or {_APPROXIMATION_ADVICE}.", budget=budget)
            return SolverPlan(
                chosen, "complete", bytes=need[chosen],
                n_factorizations=shape.n_factorizations if chosen == "cholesky" else 0,
                fallback_to_eig=solver == "auto" and chosen == "cholesky", options=opts)

    blocks = tuple(
        (tasks, _plan_observed(n, len(tasks), n_obs, shape.kernel_cost, solver, opts,
                               budget))
        for tasks, n_obs in zip(shape.components, shape.n_observed, strict=True))
    first = blocks[0][1]
    return SolverPlan(first.solver, "observed", bytes=max(p.bytes for _, p in blocks),
                      operator=first.operator, blocks=blocks, options=opts)


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

