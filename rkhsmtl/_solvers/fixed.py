"""Choosing and running a solver for kernel ridge with a fixed task structure.

Knows nothing of scikit-learn: takes arrays in a namespace ``xp``, returns the dual
coefficients and a small report of what was done.
"""

from __future__ import annotations

import warnings

from .._backend import MemoryBudgetError, available_memory_bytes, check_memory
from .cg import (
    DenseObservedOperator,
    KroneckerOperator,
    StreamingHadamardOperator,
    solve_observed_cg,
)
from .complete import count_positive_groups, solve_rotated_cholesky, solve_sylvester_eig
from .observed import ObservedEntries, build_observed_system, solve_observed_cholesky
from .primal import primal_system_size, solve_primal

__all__ = ["DEFAULT_SOLVER_OPTIONS", "SOLVERS", "solve_fixed_structure"]

SOLVERS = ("auto", "eig", "cholesky", "cg", "primal")

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

# Fraction of the available memory a solver may plan to use.
MEMORY_FRACTION = 0.9

_ITEMSIZE = 8


def resolve_solver_options(options):
    """Defaults updated with the user's ``solver_options`` (unknown keys rejected)."""
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
    if not (isinstance(resolved["tol"], (int, float)) and resolved["tol"] > 0):
        raise ValueError(f"solver_options['tol'] must be > 0, got {resolved['tol']!r}.")
    if not (isinstance(resolved["max_iter"], int) and resolved["max_iter"] >= 1):
        raise ValueError(
            f"solver_options['max_iter'] must be an int >= 1, got {resolved['max_iter']!r}."
        )
    return resolved


def _fmt_gib(nbytes):
    return f"{nbytes / 2**30:.2f} GiB"


def memory_estimates(n, weighted):
    """Bytes the complete-data solvers allocate (float64): kernel, copies, factor."""
    n2 = float(n) * n * _ITEMSIZE
    extra = n2 if weighted else 0.0
    return {
        "eig": 3 * n2 + extra,  # K, eigenvectors, LAPACK workspace
        "cholesky_complete": 2 * n2 + extra,  # K and one shifted copy / factor
        "kernel": n2,
    }


def _complete_sample_weights(Y, sample_weight, xp):
    """Per-sample weights if the problem is 'complete', else None and False."""
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


def _entry_weights(Y, sample_weight, xp, dtype):
    """(n, T) weights, zero where Y is missing."""
    n, T = Y.shape
    if sample_weight is None:
        W = xp.ones((n, T), dtype=dtype, device=_device(Y))
    elif sample_weight.ndim == 1:
        W = xp.broadcast_to(sample_weight[:, None], (n, T))
    else:
        W = sample_weight
    return xp.where(xp.isnan(Y), xp.zeros_like(W), W)


def _device(x):
    from .._backend import array_device

    return array_device(x)


def solve_fixed_structure(gram, Y, A, alpha, xp, *, sample_weight=None, solver="auto",
                          options=None, initial_coef=None):
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
    solver : {"auto", "eig", "cholesky", "cg"}
        See the user guide; "auto" picks the cheapest exact solver that fits.
    options : dict or None
        See `DEFAULT_SOLVER_OPTIONS`.
    initial_coef : array of shape (n, T) or None
        Starting point of conjugate gradients (e.g. the solution for a nearby
        ``A``); ignored by the direct solvers.

    Returns
    -------
    C : array of shape (n, T)
        Dual coefficients (zero on missing entries).
    info : dict
        ``solver`` (the one used) and solver-specific details.
    """
    if solver not in SOLVERS:
        raise ValueError(f"solver must be one of {SOLVERS}, got {solver!r}.")
    opts = resolve_solver_options(options)
    n, T = Y.shape
    dtype = Y.dtype
    budget = MEMORY_FRACTION * available_memory_bytes(xp)
    sample_w, complete = _complete_sample_weights(Y, sample_weight, xp)
    W = _entry_weights(Y, sample_weight, xp, dtype)
    est = memory_estimates(n, sample_w is not None)

    if _use_primal(gram, Y, W, A, solver, complete, budget, xp):
        Phi = gram.features()
        check_memory(
            2.0 * primal_system_size(Phi.shape[1], T) ** 2 * _ITEMSIZE / MEMORY_FRACTION,
            f"solver='primal' ({Phi.shape[1]} features x {T} tasks)",
            "Use solver='cholesky' or 'cg'.", xp,
        )
        C, coef, _ = solve_primal(Phi, Y, W, A, alpha, xp)
        return C, {"solver": "primal", "primal_coef": coef}

    if solver == "eig" and not complete:
        raise ValueError(
            "solver='eig' needs a complete Y (no NaN) and per-sample weights of shape "
            "(n_samples,); with missing labels or (n_samples, n_tasks) weights use "
            "solver='cholesky' or solver='cg' (or 'auto')."
        )

    if complete and solver in ("auto", "eig", "cholesky"):
        chosen = solver
        if solver == "auto":
            n_fact = count_positive_groups(A, xp)
            cheap_chol = n_fact < EIG_TO_CHOLESKY_COST
            fits_chol = est["cholesky_complete"] <= budget
            fits_eig = est["eig"] <= budget
            if fits_chol and (cheap_chol or not fits_eig):
                chosen = "cholesky"
            elif fits_eig:
                chosen = "eig"
            else:
                chosen = "cg"
        if chosen in ("eig", "cholesky"):
            need = est["eig" if chosen == "eig" else "cholesky_complete"]
            check_memory(
                need / MEMORY_FRACTION,
                f"solver={chosen!r} on {n} samples (an {n}x{n} kernel matrix and its "
                "factorisation)",
                "Use solver='cg', which streams the kernel matrix in blocks when it "
                "does not fit, or fit on a subsample.",
                xp,
            )
            sqrt_w = None if sample_w is None else xp.sqrt(sample_w)
            K = gram.full()
            if chosen == "eig":
                C = solve_sylvester_eig(K, Y, A, alpha, xp, sqrt_w=sqrt_w)
                return C, {"solver": "eig"}
            try:
                C = solve_rotated_cholesky(K, Y, A, alpha, xp, sqrt_w=sqrt_w)
            except Exception as exc:  # LinAlgError of any namespace
                if solver == "cholesky" or not _is_linalg_error(exc):
                    raise _not_positive_definite(exc) from exc
                warnings.warn(
                    "The shifted kernel matrix is not positive definite (an indefinite "
                    "kernel such as 'sigmoid'?); falling back to solver='eig'.",
                    UserWarning, stacklevel=3,
                )
                C = solve_sylvester_eig(K, Y, A, alpha, xp, sqrt_w=sqrt_w)
                return C, {"solver": "eig"}
            return C, {"solver": "cholesky",
                       "n_factorizations": count_positive_groups(A, xp)}

    components = task_components(A, xp)
    if len(components) == 1:
        return _solve_observed(gram, Y, W, A, alpha, xp, solver, opts, budget,
                               initial_coef)
    # A block-diagonal A (independent tasks, known clusters) decouples the observed
    # system: solve one smaller system per connected group of tasks.
    blocks, infos = [], []
    for comp in components:
        idx = xp.asarray(comp, device=_device(Y))
        C_c, info_c = _solve_observed(
            gram, xp.take(Y, idx, axis=1), xp.take(W, idx, axis=1),
            xp.take(xp.take(A, idx, axis=0), idx, axis=1), alpha, xp, solver, opts,
            budget, None if initial_coef is None else xp.take(initial_coef, idx, axis=1),
        )
        blocks.append(C_c)
        infos.append(info_c)
    order = [t for comp in components for t in comp]
    inverse = [0] * T
    for position, t in enumerate(order):
        inverse[t] = position
    C = xp.take(xp.concat(blocks, axis=1), xp.asarray(inverse, device=_device(Y)), axis=1)
    info = {"solver": infos[0]["solver"], "n_blocks": len(components),
            "n_observed": sum(i["n_observed"] for i in infos), "blocks": infos}
    return C, info


def _use_primal(gram, Y, W, A, solver, complete, budget, xp):
    """Whether the primal solver applies and (for "auto") is the cheapest."""
    Phi = gram.features()
    if solver == "primal":
        if Phi is None:
            raise ValueError(
                "solver='primal' needs an explicit feature map: kernel='linear'. Use "
                "'auto', 'eig', 'cholesky' or 'cg' with other kernels."
            )
        return True
    if solver != "auto" or Phi is None:
        return False
    n, T = Y.shape
    size = primal_system_size(Phi.shape[1], T)
    if 2.0 * size * size * _ITEMSIZE > budget:
        return False
    if complete:
        dual_cost = float(n) ** 3 * count_positive_groups(A, xp)
    else:
        dual_cost = float(xp.sum(xp.astype(W > 0, xp.float64))) ** 3
    # Cholesky flops of the rT x rT system, plus assembling it (T^3 r^2).
    primal_cost = float(size) ** 3 + 3.0 * T**3 * Phi.shape[1] ** 2
    return primal_cost < 0.5 * dual_cost


def task_components(A, xp):
    """Groups of tasks linked by non-zero entries of A (connected components)."""
    import numpy as np
    from scipy.sparse.csgraph import connected_components

    from .._backend import to_numpy

    linked = to_numpy(A) != 0
    n_comp, labels = connected_components(linked, directed=False)
    return [np.flatnonzero(labels == c).tolist() for c in range(n_comp)]


def _solve_observed(gram, Y, W, A, alpha, xp, solver, opts, budget, initial_coef=None):
    """The observed-entries system for one connected group of tasks."""
    dtype = Y.dtype
    T = Y.shape[1]
    obs = ObservedEntries(Y, W, xp)
    need = float(obs.size) ** 2 * _ITEMSIZE
    if solver in ("auto", "cholesky") and (solver == "cholesky" or need <= budget):
        check_memory(
            need / MEMORY_FRACTION,
            f"solver='cholesky' on {obs.size} observed entries (an "
            f"{obs.size}x{obs.size} system, {_fmt_gib(need)})",
            "Use solver='cg' (matrix-free conjugate gradients; it streams the "
            "kernel in blocks when needed), or fit on a subsample.",
            xp,
        )
        try:
            c = solve_observed_cholesky(gram, A, obs, alpha, xp, dtype)
        except Exception as exc:
            if not _is_linalg_error(exc):
                raise
            raise _not_positive_definite(exc) from exc
        return obs.scatter(c), {"solver": "cholesky", "n_observed": obs.size}

    operator, form = _cg_operator(gram, A, obs, alpha, xp, dtype, budget, T,
                                  opts["preconditioner_rank"])
    x0 = None
    if initial_coef is not None:
        # CG iterates on c~ = c_O / sqrt(w_O) (see solve_observed_cg).
        x0 = xp.take(xp.reshape(initial_coef, (-1,)), obs.flat_index) / obs.sqrt_w
    c, info = solve_observed_cg(
        operator, obs, alpha, xp, dtype, tol=opts["tol"], max_iter=opts["max_iter"],
        preconditioner=opts["preconditioner"], rank=opts["preconditioner_rank"],
        gram=gram, A=A, x0=x0,
    )
    info.update(solver="cg", operator=form, n_observed=obs.size)
    return obs.scatter(c), info


def _is_linalg_error(exc):
    return type(exc).__name__ == "LinAlgError" or "positive definite" in str(exc)


def _not_positive_definite(exc):
    return ValueError(
        "Cholesky factorisation failed: the regularised kernel system is not positive "
        "definite. This happens with an indefinite kernel (e.g. 'sigmoid') or a tiny "
        "alpha; use solver='eig' (complete data), a positive semidefinite kernel, or "
        f"a larger alpha. ({exc})"
    )


def _cg_operator(gram, A, obs, alpha, xp, dtype, budget, T, rank):
    """The cheapest product with ``H`` whose storage fits in ``budget`` bytes."""
    n, N = gram.n, obs.size
    c_k = gram.cost_per_entry()
    # The Nystrom sketch (a few (N, rank) arrays) and the CG vectors.
    work = 8.0 * (N * (3 * rank + 10) + 4 * n * T)
    options = []
    if float(N) * N * _ITEMSIZE + work <= budget:
        options.append((float(N) * N, "dense"))
    if float(n) * n * _ITEMSIZE + work <= budget:
        options.append((float(n) * n * T + float(n) * T * T, "kronecker"))
    options.append((float(N) * N * (c_k + 2), "streaming_hadamard"))
    options.append((float(n) * n * (c_k + T), "streaming_kronecker"))
    if work > budget:
        raise MemoryBudgetError(
            f"solver='cg' needs about {_fmt_gib(work)} for its vectors and "
            f"preconditioner, more than the {_fmt_gib(budget)} available. Lower "
            "solver_options['preconditioner_rank'] or fit on a subsample."
        )
    _, form = min(options)
    if form == "dense":
        return DenseObservedOperator(build_observed_system(gram, A, obs, alpha, xp,
                                                           dtype), alpha), form
    if form == "kronecker":
        return KroneckerOperator(gram, A, obs, alpha, xp, K=gram.full()), form
    if form == "streaming_kronecker":
        return KroneckerOperator(gram, A, obs, alpha, xp, K=None), form
    return StreamingHadamardOperator(gram, A, obs, alpha, xp), form
