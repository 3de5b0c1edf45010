r"""Multi-task kernel logistic regression, fixed or learned task structure.

Objective, with labels ``y_it`` in {-1, +1} on the observed entries ``O``::

    J(C, b) = sum_{(i,t) in O} w_it log(1 + exp(-y_it (F_it + b_t)))
              + alpha tr(C^T K C A),                       F = K C A.

Newton-CG in whitened coordinates. With feature maps ``K = Phi Phi^T`` (the
eigenbasis of ``K``, ``Phi = U diag(s)^{1/2}``, or ``Phi = X`` for the linear kernel)
and ``A = Psi Psi^T`` (``Psi = V diag(sigma)^{1/2}``), every ``F = K C A`` is
``Phi Z Psi^T`` with ``||f||^2 = ||Z||_F^2``, so

    J(Z, b) = L(Phi Z Psi^T + 1 b^T) + alpha ||Z||_F^2,

a plain L2-penalised logistic regression in ``Z`` that allows a singular ``K`` or
``A`` (zero eigenvalues are dropped). ``Phi`` may also be explicit features of a
low-rank kernel approximation (Nyström or random Fourier features), held in memory
(:class:`DenseFeatures`) or recomputed by chunks of rows at every product
(:class:`StreamedFeatures`: one pass over the rows per Hessian product, memory
``O(b m)`` for a chunk of ``b`` rows instead of ``O(n m)``). The Newton system
``H p = -grad J`` is solved by the package's conjugate gradients
(:func:`.krylov.pcg`, on pairs ``(Z, b)``, to the Eisenstat-Walker relative
residual ``min(0.5, sqrt(||grad J|| / scale))``),
preconditioned by the exact diagonal of the Hessian, which is cheap in these
coordinates: ``(Phi o Phi)^T D (Psi o Psi) + 2 alpha``. The step is safeguarded by
an Armijo backtracking line search.

At the optimum the representer theorem gives the dual coefficients directly:
``C = -G / (2 alpha)`` with ``G = dL/dF`` (zero on missing entries); they are what
the solver returns, so predictions are ``K(x, X) C A + b``.

Knows nothing of scikit-learn.
"""

from __future__ import annotations

import math
import warnings

from sklearn.exceptions import ConvergenceWarning

from .._backend import array_device, eigh
from .._losses import logistic_terms
from .._memory import check_memory, eigendecomposition_bytes
from .complete import task_eigh
from .krylov import axpy, inner, norm, pcg

__all__ = ["DenseFeatures", "LogisticProblem", "StreamedFeatures", "as_features",
           "fit_logistic_fixed", "fit_logistic_learned", "kernel_factor",
           "solve_logistic", "task_factor"]

# Eigenvalues below this fraction of the largest (times the order) are dropped from
# the factors: they carry no information at double precision.
_RANK_RTOL = 1e-13

# A most negative eigenvalue of K beyond this fraction of the largest is reported:
# the kernel is indefinite, not merely PSD up to round-off.
_INDEFINITE_RTOL = 1e-8

# Newton-CG stops, converged, when the Newton decrement (twice the predicted
# decrease of J) falls below this fraction of |J|: a step then changes J by less
# than its round-off, whatever tol asks (the attainable floor; see solve_logistic).
_ROUNDOFF_FLOOR = 1e-15
_TINY = 1e-300

# Armijo sufficient-decrease constant and the number of halvings tried.
_ARMIJO = 1e-4
_MAX_HALVINGS = 40


def kernel_factor(gram, xp, *, prefer_features=True):
    """``Phi`` with ``Phi Phi^T = K``: the features of a linear kernel, else ``U s^{1/2}``.

    Raises `MemoryBudgetError` when the eigendecomposition does not fit.
    """
    features = gram.features() if prefer_features else None
    if features is not None and features.shape[1] < gram.n:
        return features, "primal"
    n = gram.n
    check_memory(
        eigendecomposition_bytes(n),
        f"The kernel logistic solver on {n} samples (an {n}x{n} kernel matrix and "
        "its eigendecomposition)",
        "Map the inputs to explicit features (e.g. sklearn.kernel_approximation."
        "Nystroem in a Pipeline) and use kernel='linear', which solves in the primal "
        "with memory linear in n_samples.",
        xp,
    )
    s, U = eigh(gram.full(), xp)
    largest = max(float(s[-1]), 0.0)
    if float(s[0]) < -_INDEFINITE_RTOL * largest:
        warnings.warn(
            f"The training kernel matrix is not positive semidefinite (eigenvalue "
            f"{float(s[0]):.3g} against a largest of {largest:.3g}): an indefinite "
            "kernel such as 'sigmoid'? Its negative part is dropped, i.e. the model "
            "uses the nearest positive semidefinite kernel matrix.",
            UserWarning, stacklevel=3)
    keep = s > _RANK_RTOL * n * largest
    idx = xp.nonzero(keep)[0]
    if idx.shape[0] == 0:
        raise ValueError("The training kernel matrix is zero: nothing can be learned.")
    s = xp.take(s, idx)
    U = xp.take(U, idx, axis=1)
    return U * xp.sqrt(s)[None, :], "eig"


def task_factor(A, xp):
    """``Psi`` with ``Psi Psi^T = A``, zero eigenvalues dropped."""
    sigma, V = task_eigh(A, xp)
    T = A.shape[0]
    keep = sigma > _RANK_RTOL * T * max(float(sigma[-1]), 0.0)
    idx = xp.nonzero(keep)[0]
    sigma = xp.take(sigma, idx)
    V = xp.take(V, idx, axis=1)
    return V * xp.sqrt(sigma)[None, :]


class DenseFeatures:
    """Products with a feature matrix ``Phi`` (n x r) held in memory.

    The logistic solver touches ``Phi`` only through these products, so that
    :class:`StreamedFeatures` can recompute it by chunks of rows instead.

    Parameters
    ----------
    Phi : array of shape (n, r)
    xp : module
    block_rows : int or None
        Rows per chunk of the squared features of the Hessian diagonal (None: all).
    """

    streamed = False

    def __init__(self, Phi, xp, block_rows=None):
        self.Phi, self.xp = Phi, xp
        self.shape = tuple(Phi.shape)
        self.block_rows = self.shape[0] if block_rows is None else max(int(block_rows), 1)

    def chunks(self):
        """``(start, stop, Phi[start:stop])`` over the rows, in order."""
        n = self.shape[0]
        for start in range(0, n, self.block_rows):
            stop = min(start + self.block_rows, n)
            yield start, stop, self.Phi[start:stop, :]

    def dot(self, M):
        """``Phi @ M``."""
        return self.Phi @ M

    def tdot(self, G):
        """``Phi^T @ G``."""
        return self.Phi.T @ G

    def sq_tdot(self, D):
        """``(Phi o Phi)^T @ D``, by chunks of rows (no second ``n x r`` array)."""
        out = None
        for start, stop, Phi in self.chunks():
            part = (Phi * Phi).T @ D[start:stop, :]
            out = part if out is None else out + part
        return out

    def sandwich(self, M, rows, right):
        """``Phi^T (rows(Phi M) @ right)`` and ``rows(Phi M)``.

        ``rows(F, start, stop)`` maps the chunk ``F = (Phi M)[start:stop]`` of the
        scores to the chunk of an ``(n, T)`` array (e.g. ``D o (F + c)``).
        """
        R = rows(self.dot(M), 0, self.shape[0])
        return self.tdot(R @ right), R


class StreamedFeatures(DenseFeatures):
    """Products with ``Phi = transform(X)`` recomputed by chunks of rows.

    Nothing of size ``n x r`` is held: each product is one pass over the rows
    (:meth:`sandwich` is a whole Hessian product in one pass), at the price of
    evaluating the features again.

    Parameters
    ----------
    transform : callable
        ``transform(X_chunk) -> Phi_chunk`` of shape ``(rows, r)``.
    X : array of shape (n, d)
        Inputs.
    n_components : int
        ``r``, the number of features.
    xp : module
    block_rows : int
        Rows per chunk.
    """

    streamed = True

    def __init__(self, transform, X, n_components, xp, block_rows):
        self.transform, self.X, self.xp = transform, X, xp
        self.shape = (int(X.shape[0]), int(n_components))
        self.block_rows = max(int(block_rows), 1)
        self.n_passes = 0

    def chunks(self):
        """``(start, stop, Phi[start:stop])``, each chunk computed from ``X``."""
        self.n_passes += 1
        n = self.shape[0]
        for start in range(0, n, self.block_rows):
            stop = min(start + self.block_rows, n)
            yield start, stop, self.transform(self.X[start:stop, :])

    def dot(self, M):
        xp = self.xp
        out = xp.empty((self.shape[0], M.shape[1]), dtype=M.dtype,
                       device=array_device(M))
        for start, stop, Phi in self.chunks():
            out[start:stop, :] = Phi @ M
        return out

    def tdot(self, G):
        out = None
        for start, stop, Phi in self.chunks():
            part = Phi.T @ G[start:stop, :]
            out = part if out is None else out + part
        return out

    def sandwich(self, M, rows, right):
        xp = self.xp
        R = xp.empty((self.shape[0], M.shape[1]), dtype=M.dtype,
                     device=array_device(M))
        out = None
        for start, stop, Phi in self.chunks():
            R_part = rows(Phi @ M, start, stop)
            R[start:stop, :] = R_part
            part = Phi.T @ (R_part @ right)
            out = part if out is None else out + part
        return out, R


def as_features(Phi, xp):
    """``Phi`` as a features object (:class:`DenseFeatures` for an array)."""
    if isinstance(Phi, DenseFeatures):
        return Phi
    return DenseFeatures(Phi, xp)


class LogisticProblem:
    """``J(Z, b)`` of the module docstring with its gradient and Hessian products.

    Parameters
    ----------
    Phi : array of shape (n, r), DenseFeatures or StreamedFeatures
        Kernel factor or explicit features.
    Psi : array of shape (T, q)
    Y_pm : array of shape (n, T)
        Labels in {-1, +1}, NaN where missing.
    W : array of shape (n, T)
        Entry weights (class and sample weights), any value where missing.
    alpha : float
    fit_intercept : bool
    xp : module
    """

    def __init__(self, Phi, Psi, Y_pm, W, alpha, fit_intercept, xp):
        self.features = as_features(Phi, xp)
        self.Psi, self.alpha, self.xp = Psi, float(alpha), xp
        self.fit_intercept = bool(fit_intercept)
        observed = ~xp.isnan(Y_pm)
        zeros = xp.zeros_like(Y_pm)
        self.Y = xp.where(observed, Y_pm, zeros)
        self.W = xp.where(observed, W, zeros)
        self.n, self.T = Y_pm.shape
        self.Psi_sq = Psi * Psi

    # -- parameters are pairs (Z, b) ------------------------------------------
    def zero(self):
        xp = self.xp
        device = array_device(self.Y)
        return (xp.zeros((self.features.shape[1], self.Psi.shape[1]),
                         dtype=self.Y.dtype, device=device),
                xp.zeros((self.T,), dtype=self.Y.dtype, device=device))

    def scores(self, params):
        Z, b = params
        return self.features.dot(Z @ self.Psi.T) + b[None, :]

    def evaluate(self, params, *, derivatives=True):
        """Objective, gradient pair, Hessian diagonal weights ``D`` and ``G``."""
        Z, _ = params
        F = self.scores(params)
        loss, G, D = logistic_terms(F, self.Y, self.W, self.xp, derivatives=derivatives)
        objective = loss + self.alpha * float(self.xp.sum(Z * Z))
        if not derivatives:
            return objective, None, None, None
        return objective, self._gradient(G, Z), D, G

    def _gradient(self, G, Z, PhiT_G_Psi=None):
        if PhiT_G_Psi is None:
            PhiT_G_Psi = self.features.tdot(G @ self.Psi)
        grad_Z = PhiT_G_Psi + 2.0 * self.alpha * Z
        grad_b = self.xp.sum(G, axis=0) if self.fit_intercept else self.xp.zeros_like(
            G[0, :])
        return grad_Z, grad_b

    def hessian_product(self, D, direction):
        P, c = direction

        def curvature(F, start, stop):
            return D[start:stop, :] * (F + c[None, :])

        # One pass over the rows of Phi, whether it is held or streamed.
        PhiT_dF_Psi, dF = self.features.sandwich(P @ self.Psi.T, curvature, self.Psi)
        return self._gradient(dF, P, PhiT_dF_Psi)

    def hessian_diagonal(self, D):
        diag_Z = self.features.sq_tdot(D @ self.Psi_sq) + 2.0 * self.alpha
        diag_b = self.xp.sum(D, axis=0) if self.fit_intercept else self.xp.ones_like(
            D[0, :])
        # A task whose observed entries all have D ~ 0 (saturated) keeps a usable
        # preconditioner.
        diag_b = self.xp.where(diag_b > 0, diag_b, self.xp.ones_like(diag_b))
        return diag_Z, diag_b


def _max_abs(u, xp):
    return max(float(xp.max(xp.abs(u[0]))) if u[0].size else 0.0,
               float(xp.max(xp.abs(u[1]))) if u[1].shape[0] else 0.0)


def _step_is_small(problem, direction, params, rtol):
    """Whether the Newton step moves the scores by at most ``rtol`` of their size.

    A separable task next to a non-separable one is nearly flat in J (its part of
    the objective is ~1e-20 of the other's), so J and its decrement cannot tell
    that its scores are still far (1e22 against 2.5e3 at the optimum, inputs
    ~1e15); the step in the scores can.
    """
    xp = problem.xp
    P, c = direction
    moved = problem.features.dot(P @ problem.Psi.T) + c[None, :]
    scores = problem.scores(params)
    size = max(1.0, float(xp.max(xp.abs(scores))))
    return float(xp.max(xp.abs(moved))) <= rtol * size


def _newton_system(problem, D):
    """The Hessian product and its Jacobi preconditioner at the weights ``D``."""
    diag = problem.hessian_diagonal(D)

    def hessian(direction):
        return problem.hessian_product(D, direction)

    def precondition(r):
        return (r[0] / diag[0], r[1] / diag[1])

    return hessian, precondition


def solve_logistic(problem, *, initial=None, tol=1e-6, max_iter=100, max_cg=200,
                   scale=None, warn=True, verbose=0):
    """Newton-CG on a :class:`LogisticProblem`.

    Parameters
    ----------
    problem : LogisticProblem
    initial : pair (Z, b) or None
        Starting point (zero when None).
    tol : float
        Stop when ``max|grad J| <= tol * scale`` and the Newton decrement
        ``g^T H^{-1} g`` is at most ``tol * |J|``, after one more Newton step.
        Whatever ``tol``, the iteration also stops (converged, with
        ``at_roundoff_floor``) once the decrement is below ``1e-15 |J|``: no step
        can then change ``J`` beyond round-off, which happens for ``tol`` below
        about ``1e-9`` (the gradient's round-off floor).
    max_iter : int
        Maximum number of Newton iterations.
    max_cg : int
        Maximum number of CG iterations per Newton step.
    scale : float or None
        Gradient scale of the stopping rule; by default ``max|grad J(0)|`` (the
        gradient of the zero model, which sets the units of the problem).
    warn : bool
        Emit a `ConvergenceWarning` when ``max_iter`` is reached.
    verbose : int
        Print the objective, gradient and CG iterations of every Newton step.

    Returns
    -------
    params : pair (Z, b)
    info : dict
        ``objective``, ``loss`` and ``penalty`` (its two terms), ``gradient_max``
        (final ``max|grad J|``), ``scale``, ``n_iter``, ``n_cg`` (total CG
        iterations), ``converged``, ``G`` (the loss gradient at the scores,
        ``dL/dF``), ``scores``.
    """
    xp = problem.xp
    if scale is None:
        _, grad0, _, _ = problem.evaluate(problem.zero())
        scale = _max_abs(grad0, xp)
    scale = scale if scale > 0 else 1.0
    params = problem.zero() if initial is None else initial
    objective, grad, D, G = problem.evaluate(params)
    n_cg_total = 0
    converged = False
    n_iter = 0
    polished = False
    at_floor = False
    for n_iter in range(1, max_iter + 1):  # noqa: B007
        g_max = _max_abs(grad, xp)
        small_gradient = g_max <= tol * scale
        if (small_gradient or at_floor) and (polished or g_max == 0.0):
            converged = True
            n_iter -= 1
            break
        g_norm = norm(grad, xp)
        # Eisenstat-Walker style forcing: loose far away, tight near the optimum.
        forcing = min(0.5, math.sqrt(g_norm / scale))
        hessian, precondition = _newton_system(problem, D)
        # The curvature guard keeps the iterate when round-off makes the Hessian
        # look singular along a direction (impossible for alpha > 0 in exact
        # arithmetic).
        direction, n_cg, _, _ = pcg(hessian, (-grad[0], -grad[1]), precondition,
                                    tol=forcing, max_iter=max_cg, xp=xp,
                                    curvature_guard=True)
        n_cg_total += n_cg
        slope = inner(grad, direction, xp)
        # -slope is the Newton decrement lambda^2 (~ g^T H^-1 g): twice the
        # predicted decrease of J, invariant to the scale of the inputs.
        decrement = -slope
        if small_gradient:
            # The gradient rule is relative to the zero model's gradient, which
            # grows with the inputs' scale: on unscaled, separable data it is met
            # far from the optimum (decision values ~1e294 for inputs ~1e150,
            # where J is tiny and flat). The decrement relative to J vetoes that.
            if decrement <= tol * max(abs(objective), _TINY) and _step_is_small(
                    problem, direction, params, math.sqrt(tol)):
                # One more step once the tolerance is met: near the optimum
                # Newton's error (nearly) squares, so for one iteration the
                # solution becomes accurate far beyond tol (e.g. probabilities to
                # ~1e-10 at tol=1e-6).
                converged = polished = True
            else:
                converged = False
        if not small_gradient and n_cg > 0 and 0.0 < decrement <= (
                _ROUNDOFF_FLOOR * max(abs(objective), _TINY)):
            # The round-off floor: the predicted decrease is below what double
            # precision resolves in J, so the gradient cannot reach a smaller tol
            # (at tol <= 1e-9 it stalls near 3e-9 relative) and the line search
            # would compare values equal up to round-off: this Newton step is the
            # last one.
            converged = polished = at_floor = True
        if not slope < 0:  # not a descent direction (round-off): steepest descent
            direction = (-grad[0], -grad[1])
            slope = -inner(grad, grad, xp)
        step = 1.0
        for _ in range(_MAX_HALVINGS):
            candidate = axpy(step, direction, params)
            value, _, _, _ = problem.evaluate(candidate, derivatives=False)
            if value <= objective + _ARMIJO * step * slope:
                break
            step *= 0.5
        else:
            # No decrease is possible at double precision: we are at the optimum
            # up to round-off, if the predicted decrease is small too.
            converged = converged or (
                _max_abs(grad, xp) <= math.sqrt(tol) * scale
                and decrement <= math.sqrt(tol) * max(abs(objective), _TINY))
            break
        params = candidate
        objective, grad, D, G = problem.evaluate(params)
        if verbose:
            print(f"[rkhsmtl] Newton {n_iter:3d}  objective {objective:.10g}  "
                  f"max|grad| {_max_abs(grad, xp):.2e}  CG {n_cg:3d}  step {step:g}",
                  flush=True)
    else:
        converged = _max_abs(grad, xp) <= tol * scale
    if not converged and warn:
        warnings.warn(
            f"Newton-CG did not reach max|gradient| <= tol * {scale:.3g} (tol={tol:g}) "
            f"in max_iter={max_iter} iterations (final max|gradient| "
            f"{_max_abs(grad, xp):.3g}). Increase max_iter or loosen tol.",
            ConvergenceWarning,
            stacklevel=3,
        )
    penalty = problem.alpha * float(xp.sum(params[0] * params[0]))
    info = {"objective": objective, "loss": objective - penalty, "penalty": penalty,
            "gradient_max": _max_abs(grad, xp),
            "scale": scale, "n_iter": n_iter, "n_cg": n_cg_total,
            "converged": converged, "at_roundoff_floor": at_floor, "G": G,
            "scores": problem.scores(params)}
    return params, info


def _representer_coef(G, alpha):
    """Dual coefficients ``C = -G / (2 alpha)`` (stationarity in function space)."""
    return G * (-0.5 / alpha)


def _warm_params(problem, initial):
    """The starting pair ``(Z, b)`` of the function ``K C A + b`` given by
    ``initial = (C, b)``, or None (start from zero)."""
    if initial is None:
        return None
    C, b = initial
    if tuple(C.shape) != (problem.n, problem.T) or tuple(b.shape) != (problem.T,):
        raise ValueError(
            f"initial must be a pair (C, b) of shapes {(problem.n, problem.T)} and "
            f"{(problem.T,)} (dual coefficients and intercepts of the same samples "
            f"and tasks), got {tuple(C.shape)} and {tuple(b.shape)}.")
    # Z = Phi^T C Psi gives Phi Z Psi^T = K C A: the same function in this
    # problem's coordinates (the only such Z when Phi has full column rank).
    Z = problem.features.tdot(C @ problem.Psi)
    if not problem.fit_intercept:
        b = problem.xp.zeros_like(b)  # the intercepts are then fixed at zero
    return Z, b


def fit_logistic_fixed(Phi, Y_pm, W, A, alpha, xp, *, fit_intercept=True, tol=1e-6,
                       max_iter=100, max_cg=200, initial=None, verbose=0):
    """Fixed task structure: dual coefficients, intercepts and a report.

    Parameters
    ----------
    Phi : array of shape (n, r), DenseFeatures or StreamedFeatures
        Kernel factor (:func:`kernel_factor`) or explicit features.
    Y_pm, W : arrays of shape (n, T)
        Labels in {-1, +1} (NaN where missing) and entry weights.
    A : array of shape (T, T)
        Task structure (positive semidefinite).
    initial : pair (C, b) or None, default=None
        Warm start: the dual coefficients ``C`` (n, T) and intercepts ``b`` (T,)
        of a fit on the same ``Phi`` (e.g. at a nearby ``alpha`` along a path);
        Newton-CG starts from their function ``K C A + b``. None starts from the
        zero model. The stopping rule is the same either way (its scale is the
        zero model's gradient), so both reach the optimum within ``tol``.
    verbose : int, default=0
        Print one line per Newton iteration.

    Returns
    -------
    C : array of shape (n, T)
    b : array of shape (T,)
    info : dict
        See :func:`solve_logistic`.
    """
    Psi = task_factor(A, xp)
    problem = LogisticProblem(Phi, Psi, Y_pm, W, alpha, fit_intercept, xp)
    (Z, b), info = solve_logistic(problem, initial=_warm_params(problem, initial),
                                  tol=tol, max_iter=max_iter, max_cg=max_cg,
                                  verbose=verbose)
    # Phi^T C A, exactly: recovering it from C = -G / (2 alpha) cancels badly on
    # unscaled inputs (Phi^T G is ~1e-30 of its terms at the optimum).
    info["coef"] = Z @ Psi.T
    return _representer_coef(info["G"], alpha), b, info


def fit_logistic_learned(Phi, Y_pm, W, structure, alpha, xp, *, fit_intercept=True,
                         tol=1e-6, max_iter=100, newton_max_iter=100, max_cg=200,
                         verbose=0, initial=None, initial_structure=None):
    """Learned task structure by alternating minimisation of ``Q_delta``.

    The B-steps are Newton-CG solves of the fixed-structure problem (warm-started
    from the previous coefficients), the A-steps those of the structure; the loop
    and its stopping rule are the ones of the regression solver
    (:func:`rkhsmtl._solvers.alternating._run_stages`).

    ``initial`` (a pair ``(C, b)``, as in :func:`fit_logistic_fixed`) and
    ``initial_structure`` (a ``T x T`` positive definite matrix) start the
    iterations from a previous fit, e.g. the one at the previous ``alpha`` of a
    path; the penalty and its prior are unchanged, only the starting point moves.
    None starts from the zero model and ``structure.task_matrix``.

    Returns
    -------
    C : array of shape (n, T)
    b : array of shape (T,)
    A : array of shape (T, T)
    info : dict
        ``objective_history``, ``deltas``, ``n_iter``, ``converged``, the report
        of the last Newton solve (``newton``) and the Newton iterations of all the
        B-steps (``newton_iterations``).
    """
    from .alternating import (
        _Progress,
        _run_stages,
        _strength_used,
        _to_like,
        warn_not_converged,
    )

    T = Y_pm.shape[1]
    features = as_features(Phi, xp)
    if initial_structure is None:
        A0 = _to_like(structure.task_matrix(T), Y_pm, xp)
    elif tuple(initial_structure.shape) != (T, T):
        raise ValueError(
            f"initial_structure must be of shape {(T, T)} (n_tasks, n_tasks), got "
            f"{tuple(initial_structure.shape)}.")
    else:
        A0 = xp.astype(initial_structure, Y_pm.dtype)
    # Exact B-steps keep the recorded objective monotone.
    newton_tol = min(tol, 1e-8)
    last = {"C": None, "b": None, "info": None, "newton_iterations": 0}
    if initial is not None:
        last["C"], last["b"] = initial
        if tuple(last["C"].shape) != tuple(Y_pm.shape) or tuple(
                last["b"].shape) != (T,):
            raise ValueError(
                f"initial must be a pair (C, b) of shapes {tuple(Y_pm.shape)} and "
                f"{(T,)}, got {tuple(last['C'].shape)} and {tuple(last['b'].shape)}.")
        if not fit_intercept:
            last["b"] = xp.zeros_like(last["b"])  # the intercepts are fixed at zero

    def b_step(A):
        Psi = task_factor(A, xp)
        problem = LogisticProblem(features, Psi, Y_pm, W, alpha, fit_intercept, xp)
        initial = None
        if last["C"] is not None:
            # The previous function expressed in the new coordinates: Z = Phi^T C Psi
            # gives Phi Z Psi^T = K C A for the new A.
            initial = (features.tdot(last["C"] @ Psi), last["b"])
        (Z, b), info = solve_logistic(problem, initial=initial, tol=newton_tol,
                                      max_iter=newton_max_iter, max_cg=max_cg,
                                      warn=False)
        last["C"], last["b"], last["info"] = _representer_coef(info["G"], alpha), b, info
        last["newton_iterations"] += info["n_iter"]
        ZPsi = Z @ Psi.T  # Phi^T B for B = C A
        info["coef"] = ZPsi
        M = ZPsi.T @ ZPsi
        return info, 0.5 * (M + M.T)

    def data_term(info):
        return info["loss"]

    progress = _Progress(tol, max_iter, verbose)
    if initial_structure is not None:
        progress.auto_start = _to_like(structure.task_matrix(T), Y_pm, xp)
    A, converged = _run_stages(structure, b_step, data_term, A0, alpha, xp, progress)
    info, _ = b_step(A)
    if not info["converged"]:
        warnings.warn(
            f"The last Newton-CG B-step did not converge in {newton_max_iter} "
            "iterations; the coefficients may be inexact.",
            ConvergenceWarning, stacklevel=3)
    if not converged:
        warn_not_converged(max_iter, tol)
    report = {"solver": "alternating", "objective_history": progress.history,
              "deltas": progress.deltas, "n_iter": progress.n_iter,
              "converged": converged, "newton": info,
              "newton_iterations": last["newton_iterations"],
              "strength": _strength_used(progress)}
    return last["C"], last["b"], A, report
