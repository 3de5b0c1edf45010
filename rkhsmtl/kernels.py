"""Scalar kernels on inputs, written once against the array API.

The names and parameters mean what they mean in
:func:`sklearn.metrics.pairwise.pairwise_kernels`: ``gamma=None`` is
``1 / n_features`` for "rbf", "laplacian", "poly" and "sigmoid"; ``degree`` and
``coef0`` are used by "poly" and "sigmoid". Kernel matrices are computed in row
blocks, so that temporaries stay small and a matrix can be streamed when it does not
fit in memory.
"""

from __future__ import annotations

from ._backend import array_device, get_namespace, is_numpy_namespace
from ._memory import row_block
from ._validation import SCALE_ADVICE, check_finite_values

__all__ = ["KERNELS", "PairwiseKernel"]

KERNELS = ("linear", "poly", "polynomial", "rbf", "laplacian", "sigmoid", "cosine",
           "precomputed")

class PairwiseKernel:
    """A scalar kernel ``k(x, x')`` with resolved parameters.

    Parameters
    ----------
    kernel : str or callable
        One of `KERNELS`, or a callable ``k(x, y, **kernel_params) -> float`` applied
        to pairs of rows (NumPy only, as in scikit-learn).
    gamma, degree, coef0 : float or None
        Kernel parameters; ``gamma=None`` means ``1 / n_features``.
    kernel_params : dict or None
        Extra keyword arguments for a callable kernel.
    n_features : int
        Number of input features (to resolve ``gamma=None``).
    """

    def __init__(self, kernel, *, gamma=None, degree=3, coef0=1.0, kernel_params=None,
                 n_features=1):
        if not callable(kernel) and kernel not in KERNELS:
            raise ValueError(
                f"kernel must be one of {KERNELS} or a callable, got {kernel!r}."
            )
        self.kernel = "poly" if kernel == "polynomial" else kernel
        self.gamma = 1.0 / n_features if gamma is None else float(gamma)
        self.degree = degree
        self.coef0 = float(coef0)
        self.kernel_params = {} if kernel_params is None else dict(kernel_params)

    @property
    def is_precomputed(self):
        return self.kernel == "precomputed"

    # -- full matrices -----------------------------------------------------
    def __call__(self, X, Y=None, xp=None):
        """Kernel matrix ``K[i, j] = k(X[i], Y[j])`` (``Y = X`` when omitted)."""
        if self.is_precomputed:
            return X
        xp = get_namespace(X) if xp is None else xp
        Y_ = X if Y is None else Y
        n = X.shape[0]
        block = self._block_rows(Y_.shape[0], X.shape[1])
        if block >= n:
            return self._block(X, Y_, xp)
        out = xp.empty((n, Y_.shape[0]), dtype=X.dtype, device=array_device(X))
        for start in range(0, n, block):
            stop = min(start + block, n)
            out[start:stop, :] = self._block(X[start:stop, :], Y_, xp)
        return out

    def row_blocks(self, X, Y, xp, block_rows):
        """Yield ``(start, stop, K[start:stop, :])`` for blocks of rows of X.

        Parameters
        ----------
        X : array of shape (n, d)
            Inputs of the rows (with "precomputed", the kernel matrix itself).
        Y : array of shape (m, d)
            Inputs of the columns.
        xp : module
            Array namespace of ``X`` and ``Y``.
        block_rows : int
            Rows per block (e.g. :func:`rkhsmtl._memory.row_block`).

        Yields
        ------
        start, stop : int
            The rows of the block.
        block : array of shape (stop - start, m)
        """
        n = X.shape[0]
        for start in range(0, n, block_rows):
            stop = min(start + block_rows, n)
            if self.is_precomputed:
                yield start, stop, X[start:stop, :]
            else:
                yield start, stop, self._block(X[start:stop, :], Y, xp)

    def diag(self, X, xp=None):
        """``k(x_i, x_i)`` for every row of X.

        Parameters
        ----------
        X : array of shape (n, d)
            Inputs (with "precomputed", the kernel matrix).
        xp : module, default=None
            Array namespace of ``X`` (inferred when None).

        Returns
        -------
        diagonal : array of shape (n,)
        """
        xp = get_namespace(X) if xp is None else xp
        if self.is_precomputed:
            return xp.linalg.diagonal(X)
        if self.kernel in ("rbf", "laplacian", "cosine"):
            ones = xp.ones((X.shape[0],), dtype=X.dtype, device=array_device(X))
            if self.kernel == "cosine":
                # A zero row has k(x, x) = 0, as in scikit-learn's cosine_similarity.
                nz = xp.sum(X * X, axis=1) > 0
                return xp.where(nz, ones, xp.zeros_like(ones))
            return ones
        if callable(self.kernel):
            return xp.asarray(
                [float(self._block(X[i:i + 1, :], X[i:i + 1, :], xp)[0, 0])
                 for i in range(X.shape[0])],
                dtype=X.dtype,
            )
        sq = xp.sum(X * X, axis=1)
        if self.kernel == "linear":
            return sq
        if self.kernel == "poly":
            return (self.gamma * sq + self.coef0) ** self.degree
        return xp.tanh(self.gamma * sq + self.coef0)  # sigmoid

    # -- one block -----------------------------------------------------------
    def _block_rows(self, m, d):
        # The laplacian kernel broadcasts a (rows, m, d) array of differences; the
        # others hold the product and one temporary.
        return row_block(m, d if self.kernel == "laplacian" else 2)

    def _block(self, X, Y, xp):
        block = self._raw_block(X, Y, xp)
        # Overflow (unscaled inputs, a large degree) or a NaN parameter would
        # otherwise only show up as NaN predictions.
        check_finite_values(block, xp, f"The kernel matrix of {self._describe()}",
                            self._advice())
        return block

    def _describe(self):
        if callable(self.kernel):
            name = getattr(self.kernel, "__name__", type(self.kernel).__name__)
            return f"the callable kernel {name}"
        params = {"linear": "", "cosine": "", "rbf": f"gamma={self.gamma:g}",
                  "laplacian": f"gamma={self.gamma:g}",
                  "sigmoid": f"gamma={self.gamma:g}, coef0={self.coef0:g}",
                  "poly": f"gamma={self.gamma:g}, degree={self.degree}, "
                          f"coef0={self.coef0:g}"}[self.kernel]
        return f"kernel={self.kernel!r}" + (f" ({params})" if params else "")

    def _advice(self):
        if callable(self.kernel):
            return ("The callable must return a finite number for every pair of "
                    "rows of X.")
        if self.kernel == "poly":
            return f"Lower degree or gamma, or scale the inputs: {SCALE_ADVICE}"
        return SCALE_ADVICE

    def _raw_block(self, X, Y, xp):
        kernel = self.kernel
        if callable(kernel):
            if not is_numpy_namespace(xp):
                raise TypeError(
                    "A callable kernel is evaluated by scikit-learn on NumPy arrays; "
                    "use a named kernel for other array namespaces."
                )
            from sklearn.metrics.pairwise import pairwise_kernels

            return pairwise_kernels(X, Y, metric=kernel, filter_params=False,
                                    **self.kernel_params)
        if kernel == "laplacian":
            # Broadcasted L1 distances; blocks are sized so this stays small.
            diff = xp.abs(X[:, None, :] - Y[None, :, :])
            return xp.exp(-self.gamma * xp.sum(diff, axis=2))
        dot = X @ Y.T
        if kernel == "linear":
            return dot
        if kernel == "poly":
            return (self.gamma * dot + self.coef0) ** self.degree
        if kernel == "sigmoid":
            return xp.tanh(self.gamma * dot + self.coef0)
        if kernel == "rbf":
            x2 = xp.sum(X * X, axis=1)
            y2 = xp.sum(Y * Y, axis=1)
            sq = xp.clip(x2[:, None] + y2[None, :] - 2.0 * dot, 0.0, None)
            return xp.exp(-self.gamma * sq)
        if kernel == "cosine":
            xn = xp.sqrt(xp.sum(X * X, axis=1))
            yn = xp.sqrt(xp.sum(Y * Y, axis=1))
            # Zero rows stay zero, as in sklearn.preprocessing.normalize.
            xn = xp.where(xn == 0, xp.ones_like(xn), xn)
            yn = xp.where(yn == 0, xp.ones_like(yn), yn)
            return dot / (xn[:, None] * yn[None, :])
        raise ValueError(f"Unknown kernel {kernel!r}.")  # pragma: no cover


class TrainingGram:
    """Access to the kernel matrix of a training set, whole or by blocks.

    Solvers ask for what they need (the full ``n x n`` matrix, a block of rows, the
    sub-matrix on given rows and columns, the diagonal) without knowing whether the
    kernel is evaluated on inputs or was precomputed by the user.

    Parameters
    ----------
    kernel : PairwiseKernel
        The scalar kernel.
    X : array of shape (n_samples, n_features) or (n_samples, n_samples)
        Training inputs, or the precomputed Gram matrix for ``kernel="precomputed"``.
    xp : module
        Array namespace of ``X``.
    """

    def __init__(self, kernel, X, xp):
        self.kernel = kernel
        self.X = X
        self.xp = xp
        self.n = X.shape[0]
        self.n_features = None if kernel.is_precomputed else X.shape[1]

    def full(self):
        """The ``n x n`` kernel matrix."""
        return self.kernel(self.X, xp=self.xp)

    def rows(self, start, stop):
        """``K[start:stop, :]``."""
        if self.kernel.is_precomputed:
            return self.X[start:stop, :]
        return self.kernel._block(self.X[start:stop, :], self.X, self.xp)

    def take(self, idx_rows, idx_cols):
        """``K[idx_rows][:, idx_cols]`` for integer index arrays."""
        xp = self.xp
        if self.kernel.is_precomputed:
            return xp.take(xp.take(self.X, idx_rows, axis=0), idx_cols, axis=1)
        Xa = xp.take(self.X, idx_rows, axis=0)
        Xb = xp.take(self.X, idx_cols, axis=0)
        return self.kernel._block(Xa, Xb, xp)

    def features(self):
        """An explicit feature map ``Phi`` with ``K = Phi Phi^T``, or None.

        Known for the linear kernel (``Phi = X``), where it lets solvers work in
        the primal when the number of features is small.
        """
        if not callable(self.kernel.kernel) and self.kernel.kernel == "linear":
            return self.X
        return None

    def diag(self):
        """``K[i, i]`` for every training point."""
        return self.kernel.diag(self.X, self.xp)

    def cost_per_entry(self):
        """Rough flops to evaluate one kernel entry (for streaming cost models)."""
        return 1 if self.kernel.is_precomputed else 2 * self.n_features + 10
