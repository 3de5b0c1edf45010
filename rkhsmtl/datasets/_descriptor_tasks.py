"""Synthetic tasks whose functions vary smoothly with a task descriptor."""

import numpy as np

from ._synthetic import _check_int, _check_real, keep_one_task_per_row, separable_targets

__all__ = ["make_descriptor_tasks"]


def make_descriptor_tasks(
    n_samples=200,
    n_features=3,
    n_tasks=30,
    *,
    n_descriptors=2,
    descriptor_gamma=None,
    shared=0.0,
    noise=0.1,
    heterogeneous=False,
    gamma=None,
    random_state=None,
):
    """Generate tasks whose functions vary smoothly with their descriptors.

    Every task ``t`` has a descriptor ``z_t`` (a row of ``descriptors``) and its
    function depends on it smoothly: tasks with close descriptors have similar
    functions, so a task never seen in training can be predicted from its
    descriptor (see :doc:`/user_guide/new_tasks`). The construction is the one of
    :func:`make_multitask_regression` with a task-structure matrix given by a
    kernel on the descriptors:

    1. ``X`` has iid standard normal entries; the descriptors ``Z`` (n_tasks,
       n_descriptors) too.
    2. ``A = shared * 1 1ᵀ + (1 - shared) * exp(-descriptor_gamma ||z_s -
       z_t||²)``: unit diagonal, the correlation of two tasks decays with the
       distance of their descriptors.
    3. Task functions from ``m = 300`` random Fourier features of the RBF kernel
       ``exp(-gamma ||x - x'||²)`` on inputs: ``F = Φ G Lᵀ`` with ``G`` (m,
       n_tasks) iid N(0, 1) and ``A = L Lᵀ``, so that ``Cov(f_s(x), f_t(x')) =
       φ(x)ᵀφ(x') A[s, t]``: the tasks are a draw of the Gaussian process with
       the separable kernel ``k(x, x') k_T(z, z')``.
    4. ``Y = F + E`` with ``E[:, t] ~ N(0, (noise * std(F[:, t]))²)``.
    5. With ``heterogeneous=True`` every row observes one task (round-robin,
       shuffled), the others are NaN.

    Parameters
    ----------
    n_samples : int, default=200
        Number of rows, at least 2 (at least ``2 * n_tasks`` when
        ``heterogeneous=True``).
    n_features : int, default=3
        Number of input features, at least 1.
    n_tasks : int, default=30
        Number of tasks (columns of ``Y``), at least 1. Hold some out to play
        the new tasks.
    n_descriptors : int, default=2
        Number of descriptor features, at least 1.
    descriptor_gamma : float, default=None
        How fast the functions change with the descriptor, > 0 (the RBF
        parameter of the task kernel). Defaults to ``1 / n_descriptors``.
    shared : float, default=0.0
        Weight of a function common to all tasks, in [0, 1].
    noise : float, default=0.1
        Noise standard deviation relative to each task's signal standard
        deviation, >= 0.
    heterogeneous : bool, default=False
        If True every row observes exactly one task.
    gamma : float, default=None
        RBF parameter of the input kernel, > 0. Defaults to ``1 / n_features``.
    random_state : int, RandomState instance or None, default=None
        Seeds a :class:`numpy.random.RandomState` through
        :func:`sklearn.utils.check_random_state` (draw order: X, Z, Ω, b, G,
        noise, task assignment).

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
        Inputs.
    Y : ndarray of shape (n_samples, n_tasks)
        Noisy targets, NaN where a label is missing.
    descriptors : ndarray of shape (n_tasks, n_descriptors)
        The task descriptors ``Z``.
    task_structure : ndarray of shape (n_tasks, n_tasks)
        The true task structure ``A`` (unit diagonal): the
        :class:`~rkhsmtl.structure.TaskDescriptorKernel` with ``gamma =
        descriptor_gamma`` scaled by ``1 - shared``, plus ``shared``.

    Raises
    ------
    ValueError
        If an argument is out of range.

    Examples
    --------
    >>> from rkhsmtl.datasets import make_descriptor_tasks
    >>> X, Y, Z, A = make_descriptor_tasks(n_samples=60, n_tasks=8, random_state=0)
    >>> X.shape, Y.shape, Z.shape, A.shape
    ((60, 3), (60, 8), (8, 2), (8, 8))
    """
    n_samples = _check_int(n_samples, "n_samples", 2)
    n_features = _check_int(n_features, "n_features", 1)
    n_tasks = _check_int(n_tasks, "n_tasks", 1)
    n_descriptors = _check_int(n_descriptors, "n_descriptors", 1)
    shared = _check_real(shared, "shared", 0.0, 1.0)
    noise = _check_real(noise, "noise", 0.0, None)
    if not isinstance(heterogeneous, (bool, np.bool_)):
        raise ValueError(f"heterogeneous must be a bool, got {heterogeneous!r}.")
    if heterogeneous and n_samples < 2 * n_tasks:
        raise ValueError(
            "heterogeneous=True needs n_samples >= 2 * n_tasks so that every task "
            f"has at least 2 rows, got n_samples={n_samples}, n_tasks={n_tasks}."
        )
    gamma = (1.0 / n_features if gamma is None
             else _check_real(gamma, "gamma", 0.0, None, low_open=True))
    descriptor_gamma = (
        1.0 / n_descriptors if descriptor_gamma is None
        else _check_real(descriptor_gamma, "descriptor_gamma", 0.0, None, low_open=True))

    from sklearn.utils import check_random_state  # keep module import light

    rng = check_random_state(random_state)
    X = rng.standard_normal((n_samples, n_features))
    Z = rng.standard_normal((n_tasks, n_descriptors))
    sq = np.sum((Z[:, None, :] - Z[None, :, :]) ** 2, axis=-1)
    A = shared + (1.0 - shared) * np.exp(-descriptor_gamma * sq)

    Y = separable_targets(X, A, gamma, noise, rng)
    if heterogeneous:
        keep_one_task_per_row(Y, rng)
    return X, Y, Z, A
