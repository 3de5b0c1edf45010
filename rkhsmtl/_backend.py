"""Array namespaces, devices and the few linear-algebra routines the array API lacks.

Every numerical core in rkhsmtl takes arrays and the namespace ``xp`` they live in
and calls only standard array-API functions. The handful of operations the standard
does not have (triangular solves, a Cholesky that is safe for very large matrices)
are dispatched here, once: NumPy to SciPy, CuPy to ``cupyx.scipy``, PyTorch to
``torch.linalg``, anything else (e.g. ``array_api_strict``) to the generic
``xp.linalg`` fallback.

SciPy is never handed a non-NumPy array: it would silently return NumPy arrays (or
fail for arrays on another device).
"""

from __future__ import annotations

import array_api_compat
from array_api_compat import (
    array_namespace,
    is_cupy_namespace,
    is_numpy_namespace,
    is_torch_namespace,
)
from array_api_compat import device as array_device

from .exceptions import MemoryBudgetError  # noqa: F401 - its former home

__all__ = [
    "array_device",
    "cholesky",
    "cho_solve",
    "get_namespace",
    "is_array",
    "is_cupy_namespace",
    "is_numpy_namespace",
    "is_torch_namespace",
    "resolve_compute_namespace",
    "solve_triangular",
    "to_namespace",
    "to_numpy",
]

# Size from which a dense Cholesky is factorised block by block (see `cholesky`).
_BLOCKED_CHOLESKY_MIN_SIZE = 8192
_CHOLESKY_BLOCK = 2048


def get_namespace(*arrays):
    """Namespace of the given arrays (``array_api_compat`` wrapped), ignoring None.

    Anything that is not an array-API array (lists, pandas objects) counts as NumPy.
    """
    candidates = [a for a in arrays if a is not None and array_api_compat.is_array_api_obj(a)]
    if not candidates:
        import array_api_compat.numpy as np_compat

        return np_compat
    return array_namespace(*candidates)


def is_array(x):
    """Whether ``x`` is an array of an array-API library (NumPy, CuPy, torch, ...).

    Test this, not ``hasattr(x, "__array_namespace__")``: torch tensors have no
    such attribute, and ``numpy.asarray`` on one that lives on a GPU fails.
    """
    return array_api_compat.is_array_api_obj(x)


def to_numpy(x):
    """Copy ``x`` to a NumPy array (host memory), whatever its namespace."""
    import numpy

    if x is None:
        return None
    xp = get_namespace(x)
    if is_numpy_namespace(xp):
        return numpy.asarray(x)
    if is_cupy_namespace(xp):
        return x.get()
    if is_torch_namespace(xp):
        # Explicitly to the host: torch's default device may be a GPU.
        return x.detach().cpu().numpy()
    # Other namespaces (array_api_strict, ...): through the buffer protocol, after a
    # copy to the namespace's default device (the host for CPU libraries) when the
    # array lives on another one. The inspection API says which device that is, so
    # no particular library is imported here.
    try:
        return numpy.asarray(x)
    except (RuntimeError, TypeError, ValueError):
        info = getattr(xp, "__array_namespace_info__", None)
        if info is None:
            raise
        x_default = xp.asarray(x, device=info().default_device(), copy=True)
        return numpy.asarray(x_default)


def to_namespace(x, xp, device=None):
    """Move ``x`` into namespace ``xp`` (on ``device``); no copy when already there."""
    if x is None:
        return None
    src = get_namespace(x)
    if src is xp or getattr(src, "__name__", None) == getattr(xp, "__name__", None):
        if device is None or array_device(x) == device:
            return x
        return array_api_compat.to_device(x, device)
    if is_cupy_namespace(xp):
        import cupy

        return cupy.asarray(to_numpy(x))
    host = to_numpy(x)
    if device is None:
        return xp.asarray(host)
    return xp.asarray(host, device=device)


def _cupy_gpu_visible():
    try:
        import cupy

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # noqa: BLE001 - any failure means "no usable GPU"
        return False


def resolve_compute_namespace(device, xp_input):
    """Namespace in which a fit runs, from the ``device`` parameter and the input.

    Parameters
    ----------
    device : {"auto", "cpu", "gpu"}
        ``"auto"`` computes where the input lives, except that NumPy input goes to
        CuPy when CuPy is installed and sees a GPU. ``"cpu"`` keeps NumPy input on
        NumPy (other namespaces are left where they are). ``"gpu"`` requires CuPy.
    xp_input : module
        Namespace of the user's input.

    Returns
    -------
    xp : module
        The namespace to compute in.
    """
    if device not in ("auto", "cpu", "gpu"):
        raise ValueError(f"device must be 'auto', 'cpu' or 'gpu', got {device!r}.")
    if not is_numpy_namespace(xp_input):
        if device == "gpu" and not is_cupy_namespace(xp_input):
            raise ValueError(
                "device='gpu' with non-NumPy input: pass CuPy arrays, or NumPy arrays "
                "to let rkhsmtl move them to the GPU."
            )
        return xp_input
    if device == "cpu":
        return xp_input
    try:
        import cupy  # noqa: F401
    except ImportError:
        if device == "gpu":
            raise ImportError(
                "device='gpu' needs CuPy, which is not installed. Install the CuPy "
                "wheel that matches your CUDA version (e.g. `pip install "
                "cupy-cuda12x`; from a clone of rkhsmtl, `pip install \".[gpu]\"` "
                "builds CuPy from source), or use device='cpu'."
            ) from None
        return xp_input
    if not _cupy_gpu_visible():
        if device == "gpu":
            raise RuntimeError("device='gpu': CuPy is installed but sees no GPU.")
        return xp_input
    import array_api_compat.cupy as cp_compat

    return cp_compat


# ---------------------------------------------------------------------------
# Linear algebra the standard lacks
# ---------------------------------------------------------------------------
def _lapack_cholesky_numpy(a):
    import scipy.linalg

    return scipy.linalg.cholesky(a, lower=True, overwrite_a=True, check_finite=False)


def _blocked_cholesky_numpy(a, block=_CHOLESKY_BLOCK):
    """Left-looking blocked Cholesky, in place in the lower triangle of ``a``.

    Why: OpenBLAS's threaded ``potrf`` (SkylakeX kernels, 2 threads) has been seen to
    crash the process on matrices of n >= ~16000. Factorising diagonal blocks of at
    most ``block`` rows keeps every LAPACK call far below that size, while the bulk
    of the work (``n^3/3`` flops) is done by large threaded GEMMs at full speed.
    """
    import numpy
    import scipy.linalg

    n = a.shape[0]
    for k in range(0, n, block):
        e = min(k + block, n)
        if k > 0:
            # Update the block column with the already factorised columns [0, k).
            a[k:, k:e] -= a[k:, :k] @ a[k:e, :k].T
        try:
            l11 = scipy.linalg.cholesky(a[k:e, k:e], lower=True, check_finite=False)
        except numpy.linalg.LinAlgError as exc:
            raise numpy.linalg.LinAlgError(
                f"Matrix is not positive definite (failed at block rows {k}:{e})."
            ) from exc
        a[k:e, k:e] = l11
        if e < n:
            # L21 = A21 L11^{-T}, computed as (L11^{-1} A21^T)^T.
            a[e:, k:e] = scipy.linalg.solve_triangular(
                l11, a[e:, k:e].T, lower=True, check_finite=False
            ).T
    # Zero the strict upper triangle so the result is the factor itself: block by
    # block (the diagonal blocks came back from LAPACK with zeros above the
    # diagonal), as index arrays of the triangle would be as large as ``a``.
    for k in range(0, n, block):
        e = min(k + block, n)
        a[k:e, e:] = 0.0
    return a


def cholesky(a, xp, *, overwrite_a=False):
    """Lower Cholesky factor ``L`` of the symmetric positive definite ``a``.

    NumPy arrays of size >= 8192 are factorised block-wise (see
    `_blocked_cholesky_numpy`); with ``overwrite_a=True`` the factorisation is done
    in place, so a matrix that barely fits in memory can still be factorised.

    Raises
    ------
    numpy.linalg.LinAlgError (or the namespace's equivalent)
        If ``a`` is not positive definite.
    """
    if is_numpy_namespace(xp):
        import numpy

        a_np = numpy.asarray(a)
        if not overwrite_a or not a_np.flags.writeable:
            a_np = a_np.copy()
        if a_np.shape[0] >= _BLOCKED_CHOLESKY_MIN_SIZE:
            return _blocked_cholesky_numpy(a_np)
        return _lapack_cholesky_numpy(a_np)
    if is_torch_namespace(xp):
        return _torch_cholesky(a)
    return xp.linalg.cholesky(a)


def _torch_cholesky(a):
    import numpy
    import torch

    try:
        return torch.linalg.cholesky(a)
    except torch.linalg.LinAlgError as exc:
        # torch's error is neither named LinAlgError nor says "positive definite"
        # (it writes "positive-definite"): the solvers recognise a failed
        # factorisation (to fall back to 'eig' or explain) by NumPy's error.
        raise numpy.linalg.LinAlgError(
            f"Matrix is not positive definite ({exc})"
        ) from exc


def solve_triangular(l, b, xp, *, lower=True, trans=False):
    """Solve ``L x = b`` (or ``L^T x = b`` with ``trans=True``) for triangular ``L``."""
    if is_numpy_namespace(xp):
        import scipy.linalg

        return scipy.linalg.solve_triangular(
            l, b, lower=lower, trans=1 if trans else 0, check_finite=False
        )
    if is_cupy_namespace(xp):
        import cupyx.scipy.linalg as cxl

        return cxl.solve_triangular(l, b, lower=lower, trans=1 if trans else 0)
    if is_torch_namespace(xp):
        import torch

        # torch wants a matrix right-hand side; L^T is upper when L is lower.
        rhs = b[:, None] if b.ndim == 1 else b
        mat, upper = (l.mT, lower) if trans else (l, not lower)
        x = torch.linalg.solve_triangular(mat, rhs, upper=upper)
        return x[:, 0] if b.ndim == 1 else x
    mat = l.T if trans else l
    return xp.linalg.solve(mat, b)


def cho_solve(l, b, xp):
    """Solve ``(L L^T) x = b`` given the lower Cholesky factor ``L``."""
    z = solve_triangular(l, b, xp, lower=True)
    return solve_triangular(l, z, xp, lower=True, trans=True)


def eigh(a, xp):
    """Eigenvalues (ascending) and eigenvectors of the symmetric matrix ``a``.

    NumPy goes to SciPy's divide-and-conquer driver (``syevd``), the fastest LAPACK
    driver for full spectra on this kind of machine.
    """
    if is_numpy_namespace(xp):
        import scipy.linalg

        return scipy.linalg.eigh(a, driver="evd", check_finite=False)
    if is_torch_namespace(xp):
        import torch

        return torch.linalg.eigh(a)
    return xp.linalg.eigh(a)


def add_to_diagonal(a, value, xp):
    """``a + value * I``; in place (and returned) for NumPy, CuPy and torch arrays."""
    n = a.shape[0]
    if (is_numpy_namespace(xp) or is_cupy_namespace(xp)) and a.flags.c_contiguous:
        a.reshape(-1)[:: n + 1] += value  # a flat view: the diagonal, in place
        return a
    if is_torch_namespace(xp):
        # In place: the generic form below would allocate two more n x n arrays,
        # which at GPU sizes is what decides whether a fit fits in memory.
        a.diagonal().add_(value)
        return a
    return a + value * xp.eye(n, dtype=a.dtype, device=array_device(a))


def random_normal(shape, xp, device=None, seed=0, dtype=None):
    """Standard normal draws in namespace ``xp`` (generated on the host, seeded).

    The array API has no random numbers; solvers that need a sketch (randomised
    preconditioners) get reproducible draws from here.
    """
    import numpy

    draws = numpy.random.default_rng(seed).standard_normal(shape)
    out = to_namespace(draws, xp, device)
    return out if dtype is None else xp.astype(out, dtype)
