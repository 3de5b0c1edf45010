"""What the separable-kernel estimators share: parameter checks and kernel expansions.

Both the regressor and the classifier predict ``K(X, X_fit) C A`` (plus an
intercept for the classifier); the test kernel is computed by blocks of rows so
that prediction memory stays bounded.
"""

from __future__ import annotations

import numbers

from ._backend import array_device, resolve_compute_namespace, to_namespace
from ._validation import validate_X_predict
from .kernels import KERNELS, PairwiseKernel

__all__ = ["SeparableKernelMixin"]

# Rows of the test kernel matrix computed at a time in predict.
_PREDICT_BLOCK_BYTES = 128 * 2**20


class SeparableKernelMixin:
    """Parameter checks and prediction of ``k(x, x') A`` models.

    Expects the parameters ``alpha``, ``kernel``, ``gamma``, ``degree``, ``coef0``,
    ``kernel_params``, ``max_iter``, ``tol``, ``device`` and, once fitted,
    ``dual_coef_``, ``task_structure_`` and ``X_fit_``.
    """

    def _check_common_params(self, solvers):
        if (not isinstance(self.alpha, numbers.Real) or isinstance(self.alpha, bool)
                or not self.alpha > 0 or self.alpha == float("inf")):
            raise ValueError(f"alpha must be a positive finite number, got {self.alpha!r}.")
        if not callable(self.kernel) and self.kernel not in KERNELS:
            raise ValueError(
                f"kernel must be one of {KERNELS} or a callable, got {self.kernel!r}."
            )
        if self.solver not in solvers:
            raise ValueError(f"solver must be one of {solvers}, got {self.solver!r}.")
        if (isinstance(self.max_iter, bool) or not isinstance(self.max_iter, numbers.Integral)
                or self.max_iter < 1):
            raise ValueError(f"max_iter must be an integer >= 1, got {self.max_iter!r}.")
        if (not isinstance(self.tol, numbers.Real) or isinstance(self.tol, bool)
                or not self.tol >= 0):
            raise ValueError(f"tol must be a number >= 0, got {self.tol!r}.")
        if self.gamma is not None and not (isinstance(self.gamma, numbers.Real)
                                           and self.gamma >= 0):
            raise ValueError(f"gamma must be None or a number >= 0, got {self.gamma!r}.")

    def _pairwise_kernel(self):
        return PairwiseKernel(self.kernel, gamma=self.gamma, degree=self.degree,
                              coef0=self.coef0, kernel_params=self.kernel_params,
                              n_features=self.n_features_in_)

    def _kernel_expansion(self, X, method):
        """``K(X, X_fit) C A`` in the namespace of ``X`` (validated here).

        Returns
        -------
        values : array of shape (n_samples, n_tasks)
        xp_in, device_in : the namespace and device of ``X``
        """
        X, xp_in = validate_X_predict(self, X, method=method)
        device_in = array_device(X)
        xp = resolve_compute_namespace(self.device, xp_in)
        device = device_in if xp is xp_in else None
        Xc = to_namespace(X, xp, device)
        coef = to_namespace(self.dual_coef_, xp, device) @ to_namespace(
            self.task_structure_, xp, device)
        kernel = self._pairwise_kernel()
        if kernel.is_precomputed:
            if Xc.shape[1] != coef.shape[0]:
                raise ValueError(
                    f"With kernel='precomputed', X must have {coef.shape[0]} columns "
                    f"(one per training sample), got {Xc.shape[1]}."
                )
            values = Xc @ coef
        else:
            X_fit = to_namespace(self.X_fit_, xp, device)
            n_fit = X_fit.shape[0]
            block = max(1, int(_PREDICT_BLOCK_BYTES // (8 * max(n_fit, 1))))
            n = Xc.shape[0]
            if n <= block:
                values = kernel(Xc, X_fit, xp=xp) @ coef
            else:
                values = xp.empty((n, coef.shape[1]), dtype=coef.dtype,
                                  device=array_device(coef))
                for start, stop, K_b in kernel.row_blocks(Xc, X_fit, xp, block):
                    values[start:stop, :] = K_b @ coef
        return to_namespace(values, xp_in, device_in), xp_in, device_in
