"""Kernel ridge with a fixed task structure: run the plan of :mod:`.plan`.

Knows nothing of scikit-learn: takes arrays in a namespace ``xp``, returns the dual
coefficients and a small report of what was done. The choice of the solver is made
by :func:`~.plan.plan_fixed_solver`; this module only executes it.
"""

from __future__ import annotations

import warnings

from sklearn.exceptions import ConvergenceWarning

from .._backend import array_device
from .cg import solve_masked_cg, solve_observed_cg
from .complete import solve_rotated_cholesky, solve_shifted_cg, solve_sylvester_eig
from .observed import ObservedEntries, build_observed_system, solve_observed_cholesky
from .operators import (
    DenseObservedOperator,
    KroneckerOperator,
    StreamingHadamardOperator,
)
from .plan import (
    DEFAULT_SOLVER_OPTIONS,
    SOLVERS,
    describe_problem,
    exact_tol,
    plan_fixed_solver,
)
from .primal import primal_statistics, solve_primal

__all__ = ["DEFAULT_SOLVER_OPTIONS", "SOLVERS", "run_plan", "solve_fixed_structure"]


def solve_fixed_structure(gram, Y, A, alpha, xp, *, sample_weight=None, solver="auto",
                          options=None, initial_coef=None, cache=None):
    """Dual coefficients of multi-task kernel ridge with task structure ``A``.

    Parameters
    ----------
    gram : TrainingGram
        Kernel of the training inputs.
    Y : array of shape (n, T)
        Targets, NaN for missing.
    A : array of shape (T, T)
        PSD task-structure matrix.
    alpha : float
        Regularisation strength (> 0).
    xp : module
        Array namespace of every array argument.
    sample_weight : array of shape (n,) or (n, T) or None
        Non-negative weights.
    solver : {"auto", "eig", "cholesky", "cg", "primal", "factored_cg"}
        See :func:`~.plan.plan_fixed_solver`.
    options : dict or None
        See `DEFAULT_SOLVER_OPTIONS`.
    initial_coef : array of shape (n, T) or None
        Starting point of conjugate gradients (e.g. the solution for a nearby
        ``A``); ignored by the direct solvers.
    cache : dict or None
        Memo of what does not depend on ``A`` or ``alpha`` (today the primal
        solver's per-task statistics), kept between calls on the same ``gram``,
        ``Y`` and weights, as a learned structure's B-steps are; None keeps nothing.

    Returns
    -------
    C : array of shape (n, T)
        Dual coefficients (zero on missing entries).
    info : dict
        ``solver`` (the one used) and solver-specific details.
    """
    shape, sample_w, W = describe_problem(gram, Y, A, xp, sample_weight)
    plan = plan_fixed_solver(shape, solver, options, xp=xp)
    return run_plan(plan, gram, Y, W, sample_w, A, alpha, xp, initial_coef=initial_coef,
                    cache=cache)


def run_plan(plan, gram, Y, W, sample_w, A, alpha, xp, *, initial_coef=None, cache=None):
    """Execute a :class:`~.plan.SolverPlan`.

    Parameters
    ----------
    plan : SolverPlan
    gram, Y, A, alpha, xp, initial_coef, cache
        As in :func:`solve_fixed_structure`.
    W : array of shape (n, T)
        Entry weights, zero on missing labels.
    sample_w : array of shape (n,) or None
        Per-sample weights of a complete problem.

    Returns
    -------
    C : array of shape (n, T)
    info : dict
    """
    if plan.system == "primal":
        Phi = gram.features()
        memo = {} if cache is None else cache
        if "primal_statistics" not in memo:
            memo["primal_statistics"] = primal_statistics(Phi, Y, W, xp)
        C, coef, _ = solve_primal(Phi, Y, W, A, alpha, xp,
                                  statistics=memo["primal_statistics"])
        return C, {"solver": "primal", "primal_coef": coef}
    if plan.system == "complete":
        return _run_complete(plan, gram, Y, sample_w, A, alpha, xp)
    if plan.system == "masked":
        return _run_masked(plan, gram, Y, W, sample_w, A, alpha, xp, initial_coef, cache)
    if len(plan.blocks) == 1:
        return _run_observed(plan.blocks[0][1], gram, Y, W, A, alpha, xp, initial_coef)
    # A block-diagonal A (independent tasks, known clusters) decouples the observed
    # system: one smaller system per connected group of tasks.
    device = array_device(Y)
    blocks, infos = [], []
    for tasks, block_plan in plan.blocks:
        idx = xp.asarray(tasks, device=device)
        C_c, info_c = _run_observed(
            block_plan, gram, xp.take(Y, idx, axis=1), xp.take(W, idx, axis=1),
            xp.take(xp.take(A, idx, axis=0), idx, axis=1), alpha, xp,
            None if initial_coef is None else xp.take(initial_coef, idx, axis=1))
        blocks.append(C_c)
        infos.append(info_c)
    order = [t for tasks, _ in plan.blocks for t in tasks]
    inverse = [0] * len(order)
    for position, t in enumerate(order):
        inverse[t] = position
    C = xp.take(xp.concat(blocks, axis=1), xp.asarray(inverse, device=device), axis=1)
    info = {"solver": infos[0]["solver"], "n_blocks": len(plan.blocks),
            "n_observed": sum(i["n_observed"] for i in infos), "blocks": infos}
    return C, info


def _run_complete(plan, gram, Y, sample_w, A, alpha, xp):
    sqrt_w = None if sample_w is None else xp.sqrt(sample_w)
    K = gram.full()
    if plan.solver == "factored_cg":
        opts = plan.options
        try:
            C, info = solve_shifted_cg(K, Y, A, alpha, xp, sqrt_w=sqrt_w,
                                       n_levels=plan.n_factorizations,
                                       tol=exact_tol(opts), max_iter=opts["max_iter"])
        except Exception as exc:  # LinAlgError of any namespace
            if not _is_linalg_error(exc):
                raise
            if plan.fallback is None:
                raise _not_positive_definite(exc) from exc
            return _fall_back(plan, "a shifted kernel matrix is not positive definite "
                              "(an indefinite kernel such as 'sigmoid'?)", gram, Y, None,
                              sample_w, A, alpha, xp)
        if not info["converged"]:
            reason = _not_converged(info, opts)
            if plan.fallback is not None:
                return _fall_back(plan, reason, gram, Y, None, sample_w, A, alpha, xp)
            warnings.warn(f"{reason} Increase solver_options['max_iter'], or use "
                          "solver='eig' (or 'cholesky': one factorisation per distinct "
                          "eigenvalue of A).", ConvergenceWarning, stacklevel=4)
        return C, dict(info, solver="factored_cg")
    if plan.solver == "eig":
        return solve_sylvester_eig(K, Y, A, alpha, xp, sqrt_w=sqrt_w), {"solver": "eig"}
    try:
        C = solve_rotated_cholesky(K, Y, A, alpha, xp, sqrt_w=sqrt_w)
    except Exception as exc:  # LinAlgError of any namespace
        if not plan.fallback_to_eig or not _is_linalg_error(exc):
            raise _not_positive_definite(exc) from exc
        warnings.warn(
            "The shifted kernel matrix is not positive definite (an indefinite "
            "kernel such as 'sigmoid'?); falling back to solver='eig'.",
            UserWarning, stacklevel=4,
        )
        return solve_sylvester_eig(K, Y, A, alpha, xp, sqrt_w=sqrt_w), {"solver": "eig"}
    return C, {"solver": "cholesky", "n_factorizations": plan.n_factorizations}


def _run_masked(plan, gram, Y, W, sample_w, A, alpha, xp, initial_coef, cache):
    """Missing labels by CG preconditioned by the complete-data closed form."""
    opts = plan.options
    try:
        C, info = solve_masked_cg(gram.full(), Y, W, A, alpha, xp,
                                  method=plan.factorization, tol=exact_tol(opts),
                                  max_iter=opts["max_iter"], warn=plan.fallback is None,
                                  x0=initial_coef)
    except Exception as exc:  # LinAlgError of any namespace
        if not _is_linalg_error(exc):
            raise
        if plan.fallback is None:
            raise _not_positive_definite(exc) from exc
        return _fall_back(plan, "the complete-data kernel system is not positive "
                          "definite (an indefinite kernel such as 'sigmoid'?)", gram, Y,
                          W, sample_w, A, alpha, xp, initial_coef, cache)
    if not info["converged"] and plan.fallback is not None:
        return _fall_back(plan, _not_converged(info, opts), gram, Y, W, sample_w, A,
                          alpha, xp, initial_coef, cache)
    return C, dict(info, solver="factored_cg")


def _not_converged(info, opts):
    return (f"solver='factored_cg' stopped at a relative stationarity residual of "
            f"{info['relative_residual']:.2e} after {info['n_iter']} iterations "
            f"(max_iter={opts['max_iter']}).")


def _fall_back(plan, reason, gram, Y, W, sample_w, A, alpha, xp, initial_coef=None,
               cache=None):
    """Run the direct plan "auto" kept for when solver "factored_cg" does not finish."""
    warnings.warn(f"{reason} 'auto' falls back to solver={plan.fallback.solver!r} "
                  f"(solver_info_['fallback_from'] says so).", UserWarning, stacklevel=5)
    C, info = run_plan(plan.fallback, gram, Y, W, sample_w, A, alpha, xp,
                       initial_coef=initial_coef, cache=cache)
    return C, dict(info, fallback_from="factored_cg")


def _run_observed(plan, gram, Y, W, A, alpha, xp, initial_coef=None):
    """The observed-entries system of one connected group of tasks."""
    dtype = Y.dtype
    obs = ObservedEntries(Y, W, xp)
    if plan.solver == "cholesky":
        try:
            c = solve_observed_cholesky(gram, A, obs, alpha, xp, dtype)
        except Exception as exc:
            if not _is_linalg_error(exc):
                raise
            raise _not_positive_definite(exc) from exc
        return obs.scatter(c), {"solver": "cholesky", "n_observed": obs.size}

    opts = plan.options
    operator = _cg_operator(plan.operator, gram, A, obs, alpha, xp, dtype)
    x0 = None
    if initial_coef is not None:
        # CG iterates on c~ = c_O / sqrt(w_O) (see solve_observed_cg).
        x0 = xp.take(xp.reshape(initial_coef, (-1,)), obs.flat_index) / obs.sqrt_w
    c, info = solve_observed_cg(
        operator, obs, alpha, xp, dtype, tol=opts["tol"], max_iter=opts["max_iter"],
        preconditioner=opts["preconditioner"], rank=opts["preconditioner_rank"],
        gram=gram, A=A, x0=x0,
    )
    info.update(solver="cg", operator=plan.operator, n_observed=obs.size)
    return obs.scatter(c), info


def _cg_operator(form, gram, A, obs, alpha, xp, dtype):
    """The product with ``H`` the plan chose."""
    if form == "dense":
        return DenseObservedOperator(build_observed_system(gram, A, obs, alpha, xp,
                                                           dtype), alpha)
    if form == "kronecker":
        return KroneckerOperator(gram, A, obs, alpha, xp, K=gram.full())
    if form == "streaming_kronecker":
        return KroneckerOperator(gram, A, obs, alpha, xp, K=None)
    return StreamingHadamardOperator(gram, A, obs, alpha, xp)


def _is_linalg_error(exc):
    return type(exc).__name__ == "LinAlgError" or "positive definite" in str(exc)


def _not_positive_definite(exc):
    return ValueError(
        "Cholesky factorisation failed: the regularised kernel system is not positive "
        "definite. This happens with an indefinite kernel (e.g. 'sigmoid') or a tiny "
        "alpha; use solver='eig' (complete data), a positive semidefinite kernel, or "
        f"a larger alpha. ({exc})"
    )
