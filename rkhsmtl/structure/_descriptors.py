r"""Task structures built from task descriptors, and their extension to new tasks.

When every task comes with a descriptor vector ``z_t`` (a school's intake
statistics, a patient's covariates, a compound's fingerprint), a kernel on the
descriptors is a task structure: ``A[s, t] = k_T(z_s, z_t)``. The separable kernel
on (input, task) pairs is then ``k(x, x') k_T(z, z')``, a kernel on (input,
descriptor) pairs, and it is defined for any descriptor, not only the training
tasks': the cross kernel ``k_T(z_*, Z)`` carries the model to tasks never seen in
training (see :doc:`/user_guide/new_tasks`).

:func:`new_task_relation` gives, for a fitted structure, the rows of the extended
``(T + m) x (T + m)`` task-structure matrix that new tasks add; the estimators'
``predict_new_task`` and ``fold_in_task`` are built on it.
"""

from __future__ import annotations

import numbers

import numpy as np

from ._fixed import PSD_TOL, TaskStructure, _check_strength

__all__ = ["TaskDescriptorKernel", "descriptor_kernel_of", "new_task_relation"]


def _as_descriptor_matrix(descriptors, name="descriptors"):
    """Descriptors as a float64 2-D NumPy array (a 1-D array is one feature per task)."""
    Z = np.asarray(descriptors)
    if Z.dtype == object or not np.issubdtype(Z.dtype, np.number):
        raise ValueError(
            f"{name} must be numeric (one row of numbers per task), got dtype {Z.dtype}."
        )
    Z = Z.astype(np.float64)
    if Z.ndim == 1:
        Z = Z[:, None]
    if Z.ndim != 2 or Z.shape[0] < 1 or Z.shape[1] < 1:
        raise ValueError(
            f"{name} must be a 2-D array (n_tasks, n_descriptor_features), got shape "
            f"{Z.shape}."
        )
    if not np.all(np.isfinite(Z)):
        raise ValueError(
            f"{name} contains NaN or infinite values; impute or drop the missing "
            "descriptor features first."
        )
    return Z


class TaskDescriptorKernel(TaskStructure):
    r"""Task structure from a kernel on task descriptors: ``A = k_T(Z, Z)``.

    Row ``t`` of ``descriptors`` describes task ``t`` (column ``t`` of ``Y``). The
    task-structure matrix is

    .. math::

        A = \mathrm{shared}\ \mathbf{1}\mathbf{1}^\top + k_T(Z, Z)
            + \mathrm{identity}\ I,

    where ``k_T`` is a scikit-learn pairwise kernel on the descriptors. Tasks with
    close descriptors get similar functions; the ``identity`` part gives every task
    a component of its own, unrelated to the others (a nugget), and the ``shared``
    part one function common to all tasks. The model on (input, task) pairs is the
    kernel ``k(x, x') (shared + k_T(z, z') + identity [same task])``, defined for
    any descriptor ``z``: :meth:`cross_matrix` gives ``A[*, t]`` between new tasks
    and the training tasks (the identity part is 0 there: a new task is never one
    of the training tasks), and the fitted estimators predict a new task from its
    descriptor alone (:meth:`~rkhsmtl.MultiTaskKernelRidge.predict_new_task`) or
    add it with a handful of labels
    (:meth:`~rkhsmtl.MultiTaskKernelRidge.fold_in_task`).

    Use it as a fixed structure, or as the ``prior`` of a learned structure (e.g.
    :class:`PriorShrinkage`), which is then learned near it.

    Parameters
    ----------
    descriptors : array-like of shape (n_tasks, n_descriptor_features)
        One row per task, in the order of the columns of ``Y`` (a 1-D array is
        one descriptor feature per task). The kernel sees them as given: put the
        features on comparable scales first (e.g.
        :class:`sklearn.preprocessing.StandardScaler` fitted on the training
        tasks' descriptors, and the same scaler applied to new tasks').
    kernel : str or callable, default="rbf"
        Kernel on descriptors, with the meaning of
        :func:`sklearn.metrics.pairwise.pairwise_kernels` ("rbf", "laplacian",
        "linear", "poly", "cosine", ... or a callable ``k(z, z', **kernel_params)``).
        It must be positive semidefinite (not "sigmoid").
    gamma : float, default=None
        Parameter of the rbf, laplacian, poly and sigmoid kernels; None means
        ``1 / n_descriptor_features``.
    degree : float, default=3
        Degree of the polynomial kernel.
    coef0 : float, default=1
        Zero coefficient of the polynomial kernel.
    kernel_params : dict, default=None
        Additional parameters of a callable kernel.
    identity : float, default=0.0
        Weight (``>= 0``) of the identity part: how much of each task is its own.
    shared : float, default=0.0
        Weight (``>= 0``) of the all-ones part: a function common to every task,
        which a new task receives however far its descriptor is from the others.
    normalize : bool, default=False
        Divide the descriptor kernel by ``sqrt(k_T(z, z) k_T(z', z'))`` (unit
        diagonal: e.g. the linear kernel becomes the cosine similarity). The rbf
        and laplacian kernels already have a unit diagonal.

    See Also
    --------
    FixedMatrix : A given matrix, without a kernel to extend it to new tasks.
    PriorShrinkage : Learn ``A`` near a prior such as this one.

    Notes
    -----
    This is the intrinsic coregionalization model with a parametric task
    covariance (Bonilla, Chai & Williams 2008, who use task descriptors in the
    same way); the zero-shot prediction of a task is the kernel (or Gaussian
    process posterior-mean) prediction at its (input, descriptor) pairs.

    References
    ----------
    E. V. Bonilla, K. M. A. Chai and C. K. I. Williams. Multi-task Gaussian process
    prediction. NIPS 2008.

    M. A. Álvarez, L. Rosasco and N. D. Lawrence. Kernels for vector-valued
    functions: a review. Foundations and Trends in Machine Learning 4(3), 2012.

    Examples
    --------
    >>> import numpy as np
    >>> from rkhsmtl.structure import TaskDescriptorKernel
    >>> Z = np.array([[0.0], [0.5], [3.0]])  # one descriptor feature per task
    >>> structure = TaskDescriptorKernel(Z, gamma=1.0, identity=0.1)
    >>> structure.task_matrix(3).round(3)
    array([[1.1  , 0.779, 0.   ],
           [0.779, 1.1  , 0.002],
           [0.   , 0.002, 1.1  ]])
    >>> structure.cross_matrix([[0.25]]).round(3)  # a new task between the first two
    array([[0.939, 0.939, 0.001]])
    """

    def __init__(self, descriptors, *, kernel="rbf", gamma=None, degree=3, coef0=1,
                 kernel_params=None, identity=0.0, shared=0.0, normalize=False):
        self.descriptors = descriptors
        self.kernel = kernel
        self.gamma = gamma
        self.degree = degree
        self.coef0 = coef0
        self.kernel_params = kernel_params
        self.identity = identity
        self.shared = shared
        self.normalize = normalize

    # -- descriptors -----------------------------------------------------------
    def descriptor_matrix(self):
        """The training tasks' descriptors, validated.

        Returns
        -------
        Z : ndarray of shape (n_tasks, n_descriptor_features)
            Float64.
        """
        return _as_descriptor_matrix(self.descriptors)

    def check_new_descriptors(self, descriptors):
        """New tasks' descriptors as a 2-D array, checked against the training ones.

        Parameters
        ----------
        descriptors : array-like of shape (n_descriptor_features,) or \
                (n_new_tasks, n_descriptor_features)
            One task's descriptor (1-D) or one row per new task.

        Returns
        -------
        Z_new : ndarray of shape (n_new_tasks, n_descriptor_features)
        one_task : bool
            Whether a single 1-D descriptor was given.
        """
        p = self.descriptor_matrix().shape[1]
        Z = np.asarray(descriptors)
        one_task = Z.ndim == 1
        if one_task:
            if Z.shape[0] != p:
                raise ValueError(
                    f"The new task's descriptor has {Z.shape[0]} entries but the tasks "
                    f"are described by {p} feature(s). Give several new tasks as a 2-D "
                    f"array of shape (n_new_tasks, {p})."
                )
            Z = Z[None, :]
        Z = _as_descriptor_matrix(Z, name="the new tasks' descriptors")
        if Z.shape[1] != p:
            raise ValueError(
                f"The new tasks' descriptors have {Z.shape[1]} feature(s) but the "
                f"training tasks' have {p}; give one row of {p} per new task."
            )
        return Z, one_task

    # -- kernels -------------------------------------------------------------
    def _check_params(self):
        if not isinstance(self.normalize, (bool, np.bool_)):
            raise ValueError(f"normalize must be a bool, got {self.normalize!r}.")
        if self.kernel == "precomputed":
            raise ValueError(
                "TaskDescriptorKernel needs descriptor vectors to extend the kernel "
                "to new tasks; kernel='precomputed' is not supported (use "
                "FixedMatrix for a given task matrix)."
            )
        if self.gamma is not None and (
                not isinstance(self.gamma, numbers.Real) or isinstance(self.gamma, bool)
                or not 0 <= self.gamma < np.inf):
            raise ValueError(f"gamma must be None or a finite number >= 0, got "
                             f"{self.gamma!r}.")
        return (_check_strength(self.identity, "identity"),
                _check_strength(self.shared, "shared"))

    def _raw_kernel(self, Z1, Z2):
        from sklearn.metrics.pairwise import pairwise_kernels

        if callable(self.kernel):
            params = dict(self.kernel_params or {})
        else:
            params = {"gamma": self.gamma, "degree": self.degree, "coef0": self.coef0}
        return pairwise_kernels(Z1, Z2, metric=self.kernel, filter_params=True,
                                **params)

    def _self_similarity(self, Z):
        return np.array([float(self._raw_kernel(z[None, :], z[None, :])[0, 0])
                         for z in Z])

    def descriptor_kernel(self, Z1, Z2):
        """``k_T(Z1, Z2)`` (normalised when ``normalize=True``), without the
        identity and shared parts.

        Parameters
        ----------
        Z1 : array-like of shape (n1, n_descriptor_features)
            Descriptors.
        Z2 : array-like of shape (n2, n_descriptor_features)
            Descriptors.

        Returns
        -------
        K : ndarray of shape (n1, n2)
        """
        self._check_params()
        Z1 = _as_descriptor_matrix(Z1)
        Z2 = _as_descriptor_matrix(Z2)
        K = np.asarray(self._raw_kernel(Z1, Z2), dtype=np.float64)
        if self.normalize:
            d1, d2 = self._self_similarity(Z1), self._self_similarity(Z2)
            if np.any(d1 <= 0) or np.any(d2 <= 0):
                raise ValueError(
                    "normalize=True needs k_T(z, z) > 0 for every descriptor; a "
                    "descriptor has k_T(z, z) <= 0 (e.g. an all-zero row with the "
                    "linear kernel)."
                )
            K = K / np.sqrt(np.outer(d1, d2))
        return K

    def _matrix(self, n_tasks):
        identity, shared = self._check_params()
        Z = self.descriptor_matrix()
        if Z.shape[0] != n_tasks:
            raise ValueError(
                f"descriptors has {Z.shape[0]} rows (tasks) but Y has {n_tasks} tasks "
                "(columns); give one descriptor row per column of Y, in the same "
                "order."
            )
        return shared + self.descriptor_kernel(Z, Z) + identity * np.eye(n_tasks)

    def cross_matrix(self, descriptors):
        """``A[*, t]`` between new tasks and the training tasks.

        ``shared + k_T(z_*, z_t)``: the identity part links a task to itself only.

        Parameters
        ----------
        descriptors : array-like of shape (n_descriptor_features,) or \
                (n_new_tasks, n_descriptor_features)
            The new tasks' descriptors.

        Returns
        -------
        A_cross : ndarray of shape (n_new_tasks, n_tasks)
        """
        _, shared = self._check_params()
        Z_new, _ = self.check_new_descriptors(descriptors)
        return shared + self.descriptor_kernel(Z_new, self.descriptor_matrix())

    def new_task_matrix(self, descriptors):
        """The block of ``A`` among new tasks: ``shared + k_T(Z_*, Z_*) + identity I``.

        Parameters
        ----------
        descriptors : array-like of shape (n_descriptor_features,) or \
                (n_new_tasks, n_descriptor_features)
            The new tasks' descriptors.

        Returns
        -------
        A_new : ndarray of shape (n_new_tasks, n_new_tasks)
        """
        identity, shared = self._check_params()
        Z_new, _ = self.check_new_descriptors(descriptors)
        return (shared + self.descriptor_kernel(Z_new, Z_new)
                + identity * np.eye(Z_new.shape[0]))

    def with_new_tasks(self, descriptors):
        """This structure for the training tasks followed by new ones.

        Parameters
        ----------
        descriptors : array-like of shape (n_descriptor_features,) or \
                (n_new_tasks, n_descriptor_features)
            The new tasks' descriptors (appended after the training tasks').

        Returns
        -------
        structure : TaskDescriptorKernel
            A copy with ``descriptors`` stacked; its :meth:`task_matrix` is the
            extended matrix of the ``T + n_new_tasks`` tasks.
        """
        from sklearn.base import clone

        Z_new, _ = self.check_new_descriptors(descriptors)
        stacked = np.vstack([self.descriptor_matrix(), Z_new])
        return clone(self).set_params(descriptors=stacked)


def descriptor_kernel_of(structure):
    """The descriptor kernel of a task structure, for predictions on new tasks.

    Parameters
    ----------
    structure : TaskStructure
        A resolved task structure.

    Returns
    -------
    kernel : TaskDescriptorKernel
        ``structure`` itself, or the ``prior`` of a learned structure.
    learned : bool
        Whether ``structure`` is learned (``A`` was fitted near the prior).

    Raises
    ------
    ValueError
        If the structure has no descriptors.
    """
    if isinstance(structure, TaskDescriptorKernel):
        return structure, False
    if structure.is_learned and getattr(structure, "prior", None) is not None:
        from . import resolve_task_structure

        prior = resolve_task_structure(structure.prior)
        if isinstance(prior, TaskDescriptorKernel):
            return prior, True
    raise ValueError(
        "Predicting a new task needs task descriptors, but this model's "
        f"task_structure is {type(structure).__name__}, which has none. Fit with "
        "task_structure=rkhsmtl.structure.TaskDescriptorKernel(descriptors) (or a "
        "learned structure with prior=TaskDescriptorKernel(descriptors))."
    )


def _pinv_solve(A, B):
    """``A^+ B`` for a symmetric positive semidefinite ``A`` (eigenvalues below
    ``T * eps * max`` are treated as 0, the range of ``A`` being what matters)."""
    values, vectors = np.linalg.eigh(A)
    cutoff = A.shape[0] * np.finfo(np.float64).eps * max(float(values[-1]), 0.0)
    inv = np.where(values > cutoff, 1.0 / np.where(values > cutoff, values, 1.0), 0.0)
    return vectors @ (inv[:, None] * (vectors.T @ B))


def new_task_relation(structure, fitted_matrix, descriptors):
    r"""How new tasks relate to a fitted model's tasks: the extended ``A``.

    For a fixed :class:`TaskDescriptorKernel` the extended matrix is the kernel
    on all descriptors: ``cross = k_T(Z, Z_*) + shared``, ``block = A_**``. For a
    learned structure with a descriptor prior ``A0``, the new tasks are placed by
    the prior's conditional (Gaussian-process) regression on the training tasks:
    ``beta = A0^{-1} A0_{·*}``, ``cross = A beta``, ``block = A0_** + beta^T (A -
    A0) beta``; with ``A = A0`` this is the fixed case.

    Parameters
    ----------
    structure : TaskStructure
        The model's (resolved) task structure.
    fitted_matrix : ndarray of shape (n_tasks, n_tasks)
        The fitted ``A`` (``task_structure_``), NumPy.
    descriptors : array-like of shape (n_descriptor_features,) or \
            (n_new_tasks, n_descriptor_features)
        The new tasks' descriptors.

    Returns
    -------
    relation : dict
        ``cross`` (T, m): ``A_ext[old, new]``; ``beta`` (T, m): ``A^+ cross``,
        the weights of the training tasks' functions in the new tasks' mean;
        ``block`` (m, m): ``A_ext[new, new]``; ``schur`` (m, m): ``block -
        cross^T beta``, the part of the new tasks the training tasks do not
        explain; ``one_task`` (bool): a single 1-D descriptor was given.
    """
    kernel, learned = descriptor_kernel_of(structure)
    T = fitted_matrix.shape[0]
    n_described = kernel.descriptor_matrix().shape[0]
    if n_described != T:
        raise ValueError(
            f"The task structure describes {n_described} tasks but the model was "
            f"fitted on {T}; was task_structure changed after fit? Refit the model."
        )
    _, one_task = kernel.check_new_descriptors(descriptors)
    prior_cross = kernel.cross_matrix(descriptors).T
    prior_block = kernel.new_task_matrix(descriptors)
    A = np.asarray(fitted_matrix, dtype=np.float64)
    if not learned:
        A0 = kernel.task_matrix(T)
        scale = max(1.0, float(np.max(np.abs(A0))))
        if np.max(np.abs(A0 - A)) > 1e3 * PSD_TOL * scale:
            raise ValueError(
                "The task structure's matrix differs from the fitted task_structure_: "
                "was task_structure changed after fit? Refit the model."
            )
        cross, block = prior_cross, prior_block
        beta = _pinv_solve(A, cross)
    else:
        A0 = kernel.task_matrix(T)
        beta = np.linalg.solve(A0, prior_cross)
        cross = A @ beta
        block = prior_block + beta.T @ (A - A0) @ beta
    schur = block - cross.T @ beta
    return {"cross": cross, "beta": beta, "block": 0.5 * (block + block.T),
            "schur": 0.5 * (schur + schur.T), "one_task": one_task}
