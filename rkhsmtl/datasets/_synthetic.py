"""Synthetic multi-task regression problems with a known task structure."""

import numbers

import numpy as np

__all__ = ["make_disease_progression", "make_multitask_regression"]

#: Number of random Fourier features used to draw the task functions.
_N_FOURIER = 300
#: Weight ``s`` of the shared low-rank component when ``rank > 0``.
_LOW_RANK_WEIGHT = 0.5


def _check_int(value, name, low, high=None):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer, got {value!r}.")
    if value < low or (high is not None and value > high):
        bounds = f">= {low}" if high is None else f"between {low} and {high}"
        raise ValueError(f"{name} must be {bounds}, got {value}.")
    return int(value)


def _check_real(value, name, low, high, *, low_open=False, high_open=False):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a real number, got {value!r}.")
    value = float(value)
    too_low = value <= low if low_open else value < low
    too_high = high is not None and (value >= high if high_open else value > high)
    if not np.isfinite(value) or too_low or too_high:
        left = "(" if low_open else "["
        right = ")" if high_open or high is None else "]"
        upper = "inf" if high is None else f"{high:g}"
        raise ValueError(
            f"{name} must be in {left}{low:g}, {upper}{right}, got {value!r}."
        )
    return value


def _cluster_structure(n_tasks, n_clusters, cluster_strength):
    """Unit-diagonal block matrix: ``cluster_strength`` within, 0 between clusters."""
    cluster = (np.arange(n_tasks) * n_clusters) // n_tasks
    same = cluster[:, None] == cluster[None, :]
    A = np.where(same, cluster_strength, 0.0)
    np.fill_diagonal(A, 1.0)
    return A


def _task_structure(n_tasks, n_clusters, rank, cluster_strength, rng):
    A = _cluster_structure(n_tasks, n_clusters, cluster_strength)
    if rank > 0:
        U = rng.standard_normal((n_tasks, rank))
        U /= np.linalg.norm(U, axis=1, keepdims=True)
        A = (1.0 - _LOW_RANK_WEIGHT) * A + _LOW_RANK_WEIGHT * (U @ U.T)
    scale = 1.0 / np.sqrt(np.diag(A))
    A = scale[:, None] * A * scale[None, :]
    A = 0.5 * (A + A.T)
    np.fill_diagonal(A, 1.0)
    return A


def _psd_sqrt_factor(A):
    """``L`` with ``L @ L.T == A`` (eigen-decomposition; works for singular A)."""
    eigval, eigvec = np.linalg.eigh(A)
    return eigvec * np.sqrt(np.clip(eigval, 0.0, None))


def _missing_mask(n_samples, n_tasks, missing_fraction, rng):
    """Boolean mask of NaN entries; rows keep >= 1, tasks keep >= 2 observed."""
    protected = np.zeros((n_samples, n_tasks), dtype=bool)
    protected[np.arange(n_samples), rng.randint(n_tasks, size=n_samples)] = True
    for t in range(n_tasks):
        protected[rng.choice(n_samples, size=2, replace=False), t] = True
    candidates = np.flatnonzero(~protected.ravel())
    n_missing = min(int(round(missing_fraction * n_samples * n_tasks)), candidates.size)
    mask = np.zeros(n_samples * n_tasks, dtype=bool)
    mask[rng.choice(candidates, size=n_missing, replace=False)] = True
    return mask.reshape(n_samples, n_tasks)


def separable_targets(X, A, gamma, noise, rng):
    """Noisy draws of ``T`` functions with the separable covariance ``k_rbf A``.

    Random Fourier features of the rbf kernel (scale ``gamma``) with Gaussian
    weights coupled by ``A^{1/2}``; the noise is ``noise`` times each task's
    standard deviation.
    """
    n_samples, n_features = X.shape
    n_tasks = A.shape[0]
    omega = rng.normal(scale=np.sqrt(2.0 * gamma), size=(n_features, _N_FOURIER))
    offset = rng.uniform(0.0, 2.0 * np.pi, size=_N_FOURIER)
    Phi = np.sqrt(2.0 / _N_FOURIER) * np.cos(X @ omega + offset)
    G = rng.standard_normal((_N_FOURIER, n_tasks))
    F = Phi @ (G @ _psd_sqrt_factor(A).T)
    return F + noise * F.std(axis=0) * rng.standard_normal((n_samples, n_tasks))


def keep_one_task_per_row(Y, rng):
    """Set all labels but one per row to NaN (in place), each task on as many rows."""
    n_samples, n_tasks = Y.shape
    task = rng.permutation(np.arange(n_samples) % n_tasks)
    observed = np.zeros((n_samples, n_tasks), dtype=bool)
    observed[np.arange(n_samples), task] = True
    Y[~observed] = np.nan


def make_multitask_regression(
    n_samples=200,
    n_features=5,
    n_tasks=8,
    *,
    n_clusters=2,
    rank=0,
    cluster_strength=0.9,
    noise=0.1,
    missing_fraction=0.0,
    heterogeneous=False,
    gamma=None,
    random_state=None,
):
    """Generate a multi-task regression problem with a known task structure.

    The tasks are smooth nonlinear functions that are jointly Gaussian across
    tasks with covariance given by a known task-structure matrix ``A``:

    1. ``X`` has iid standard normal entries.
    2. ``A`` (unit diagonal, symmetric PSD): the tasks form ``n_clusters``
       contiguous blocks of (almost) equal size, task ``t`` in cluster
       ``floor(t * n_clusters / n_tasks)``; two tasks of the same cluster have
       correlation ``cluster_strength``, tasks of different clusters 0. If
       ``rank > 0`` a shared low-rank component is mixed in with weight
       ``s = 0.5``: ``A = 0.5 * A_cluster + 0.5 * U Uᵀ`` where ``U`` (n_tasks,
       rank) is standard normal with rows normalised to unit length (so
       ``U Uᵀ`` is a rank-``rank`` correlation matrix; its entries may be
       negative), then ``A ← D^{-1/2} A D^{-1/2}`` with ``D = diag(A)``.
    3. Task functions from ``m = 300`` random Fourier features of the RBF kernel
       ``exp(-gamma ||x - x'||²)``: ``φ(x) = sqrt(2/m) cos(Ωᵀ x + b)`` with
       ``Ω ~ N(0, 2 gamma I)`` and ``b ~ U[0, 2π]``; weights ``W = G Lᵀ`` with
       ``G`` (m, n_tasks) iid N(0, 1) and ``A = L Lᵀ`` (eigen-decomposition
       square root), so that ``Cov(f_s(x), f_t(x')) = φ(x)ᵀφ(x') A[s, t]``:
       the covariance across tasks is exactly ``A``. ``F = Φ W``.
    4. ``Y = F + E`` with ``E[:, t] ~ N(0, (noise * std(F[:, t]))²)``: the noise
       is relative to each task's signal standard deviation (over the
       ``n_samples`` rows), so ``noise`` is the noise-to-signal ratio of every
       task.
    5. Missing labels (NaN): see ``missing_fraction`` and ``heterogeneous``.

    Parameters
    ----------
    n_samples : int, default=200
        Number of rows, at least 2 (at least ``2 * n_tasks`` when
        ``heterogeneous=True``).
    n_features : int, default=5
        Number of input features, at least 1.
    n_tasks : int, default=8
        Number of tasks (columns of ``Y``), at least 1.
    n_clusters : int, default=2
        Number of task clusters, between 1 and ``n_tasks``. 1 makes all tasks
        related; ``n_tasks`` makes them independent (``A = I`` when
        ``rank=0``).
    rank : int, default=0
        Rank of the shared low-rank component, between 0 (none) and
        ``n_tasks``.
    cluster_strength : float, default=0.9
        Correlation of two tasks of the same cluster, in [0, 1].
    noise : float, default=0.1
        Noise standard deviation relative to each task's signal standard
        deviation, >= 0.
    missing_fraction : float, default=0.0
        Fraction of the ``n_samples * n_tasks`` entries of ``Y`` set to NaN
        uniformly at random, in [0, 1), subject to every row keeping at least
        one and every task at least two observed entries (these protected
        entries are drawn first; when the requested number of missing entries
        exceeds the unprotected entries, all unprotected entries are missing).
    heterogeneous : bool, default=False
        If True every row observes exactly one task: tasks are assigned
        round-robin (``i % n_tasks``) and the assignment is shuffled, so every
        task has ``n_samples // n_tasks`` or one more rows. Requires
        ``missing_fraction=0``.
    gamma : float, default=None
        RBF bandwidth parameter, > 0. Defaults to ``1 / n_features``.
    random_state : int, RandomState instance or None, default=None
        Seeds a :class:`numpy.random.RandomState` through
        :func:`sklearn.utils.check_random_state`. The output is fully
        determined by it (draw order: X, U, Ω, b, G, noise, missing pattern).

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
        Inputs.
    Y : ndarray of shape (n_samples, n_tasks)
        Noisy targets, NaN where a label is missing.
    task_structure : ndarray of shape (n_tasks, n_tasks)
        The true task structure ``A`` (symmetric PSD, unit diagonal).

    Raises
    ------
    ValueError
        If an argument is out of range.

    Examples
    --------
    >>> from rkhsmtl.datasets import make_multitask_regression
    >>> X, Y, A = make_multitask_regression(
    ...     n_samples=100, n_tasks=4, n_clusters=2, random_state=0)
    >>> X.shape, Y.shape
    ((100, 5), (100, 4))
    >>> A
    array([[1. , 0.9, 0. , 0. ],
           [0.9, 1. , 0. , 0. ],
           [0. , 0. , 1. , 0.9],
           [0. , 0. , 0.9, 1. ]])
    """
    n_tasks = _check_int(n_tasks, "n_tasks", 1)
    n_features = _check_int(n_features, "n_features", 1)
    n_samples = _check_int(n_samples, "n_samples", 2)
    n_clusters = _check_int(n_clusters, "n_clusters", 1, n_tasks)
    rank = _check_int(rank, "rank", 0, n_tasks)
    cluster_strength = _check_real(cluster_strength, "cluster_strength", 0.0, 1.0)
    noise = _check_real(noise, "noise", 0.0, None)
    missing_fraction = _check_real(
        missing_fraction, "missing_fraction", 0.0, 1.0, high_open=True
    )
    if not isinstance(heterogeneous, (bool, np.bool_)):
        raise ValueError(f"heterogeneous must be a bool, got {heterogeneous!r}.")
    if heterogeneous and missing_fraction > 0:
        raise ValueError(
            "heterogeneous=True already leaves one observed task per row; "
            f"missing_fraction must be 0, got {missing_fraction!r}."
        )
    if heterogeneous and n_samples < 2 * n_tasks:
        raise ValueError(
            "heterogeneous=True needs n_samples >= 2 * n_tasks so that every task "
            f"has at least 2 rows, got n_samples={n_samples}, n_tasks={n_tasks}."
        )
    if gamma is None:
        gamma = 1.0 / n_features
    else:
        gamma = _check_real(gamma, "gamma", 0.0, None, low_open=True)

    from sklearn.utils import check_random_state  # keep module import light

    rng = check_random_state(random_state)
    X = rng.standard_normal((n_samples, n_features))
    A = _task_structure(n_tasks, n_clusters, rank, cluster_strength, rng)

    Y = separable_targets(X, A, gamma, noise, rng)
    if heterogeneous:
        keep_one_task_per_row(Y, rng)
    elif missing_fraction > 0:
        Y[_missing_mask(n_samples, n_tasks, missing_fraction, rng)] = np.nan
    return X, Y, A


def make_disease_progression(
    n_samples=200,
    n_features=50,
    n_timepoints=5,
    *,
    n_relevant=5,
    noise=0.5,
    dropout=0.15,
    progression=1.0,
    random_state=None,
):
    """Generate longitudinal disease-progression data with patient dropout.

    A stand-in for cohort studies such as ADNI, whose data cannot be shipped:
    every patient (row) has baseline measurements ``X`` and a clinical score at
    each of ``n_timepoints`` visits (the tasks, in time order), predicted from
    the baseline. A few features drive the score at every visit, with weights
    that change smoothly over time, and patients leave the study for good:

    1. ``X`` has iid standard normal entries.
    2. The relevant features: ``n_relevant`` distinct features drawn uniformly
       (the planted support, the same at every visit).
    3. Weights: with ``tau_t = t / (T - 1)`` (0 at baseline, 1 at the last
       visit; 0 when ``T = 1``), feature ``j`` of the support has
       ``coef[j, t] = s_j (a_j + c_j tau_t)`` with a random sign ``s_j``,
       ``a_j ~ U[1, 2]`` and ``c_j ~ U[-0.5, 1]``: linear in time, never below
       0.5 in magnitude. All other rows of ``coef`` are 0.
    4. Scores: ``F = X coef + progression * t`` (the mean score moves by
       ``progression`` per visit), ``Y[:, t] = F[:, t] + E[:, t]`` with ``E[:, t]
       ~ N(0, (noise * std(X coef[:, t]))^2)``: ``noise`` is the noise-to-signal
       ratio of every visit.
    5. Dropout: the baseline score is always observed; a patient still in the
       study at visit ``t - 1`` leaves before visit ``t`` with probability
       ``dropout``, and all their later scores are NaN (monotone missingness).
       Two patients drawn at random never leave, so every visit keeps at least
       two observed scores.

    Parameters
    ----------
    n_samples : int, default=200
        Number of patients (rows), at least 2.
    n_features : int, default=50
        Number of baseline features, at least 1.
    n_timepoints : int, default=5
        Number of visits (tasks, columns of ``Y``), at least 1.
    n_relevant : int, default=5
        Size of the planted support, between 1 and ``n_features``.
    noise : float, default=0.5
        Noise standard deviation relative to each visit's signal standard
        deviation, >= 0.
    dropout : float, default=0.15
        Probability of leaving the study between two consecutive visits, in
        [0, 1).
    progression : float, default=1.0
        Change of the mean score per visit (any real number).
    random_state : int, RandomState instance or None, default=None
        Seeds a :class:`numpy.random.RandomState` through
        :func:`sklearn.utils.check_random_state`. The output is fully
        determined by it (draw order: X, support, signs, ``a``, ``c``, noise,
        the two patients who stay, dropout).

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
        Baseline features.
    Y : ndarray of shape (n_samples, n_timepoints)
        Scores at every visit, NaN after a patient's dropout.
    coef : ndarray of shape (n_features, n_timepoints)
        The true weights (``W``, features x visits); the planted support is
        ``np.flatnonzero(np.any(coef != 0, axis=1))``.

    Raises
    ------
    ValueError
        If an argument is out of range.

    Examples
    --------
    >>> import numpy as np
    >>> from rkhsmtl.datasets import make_disease_progression
    >>> X, Y, coef = make_disease_progression(
    ...     n_samples=100, n_features=20, n_timepoints=4, random_state=0)
    >>> X.shape, Y.shape, coef.shape
    ((100, 20), (100, 4), (20, 4))
    >>> np.flatnonzero(np.any(coef != 0, axis=1)).size
    5
    >>> bool(np.all(~np.isnan(Y[:, 0])))  # the baseline is always observed
    True
    """
    n_samples = _check_int(n_samples, "n_samples", 2)
    n_features = _check_int(n_features, "n_features", 1)
    n_timepoints = _check_int(n_timepoints, "n_timepoints", 1)
    n_relevant = _check_int(n_relevant, "n_relevant", 1, n_features)
    noise = _check_real(noise, "noise", 0.0, None)
    dropout = _check_real(dropout, "dropout", 0.0, 1.0, high_open=True)
    progression = _check_real(progression, "progression", -np.inf, None, low_open=True)

    from sklearn.utils import check_random_state  # keep module import light

    rng = check_random_state(random_state)
    X = rng.standard_normal((n_samples, n_features))
    support = np.sort(rng.choice(n_features, size=n_relevant, replace=False))
    signs = rng.choice([-1.0, 1.0], size=n_relevant)
    level = rng.uniform(1.0, 2.0, size=n_relevant)
    trend = rng.uniform(-0.5, 1.0, size=n_relevant)
    tau = np.arange(n_timepoints) / max(n_timepoints - 1, 1)
    coef = np.zeros((n_features, n_timepoints))
    coef[support] = signs[:, None] * (level[:, None] + trend[:, None] * tau[None, :])

    signal = X @ coef
    Y = signal + progression * np.arange(n_timepoints)[None, :]
    Y = Y + noise * signal.std(axis=0) * rng.standard_normal((n_samples, n_timepoints))

    stay = rng.choice(n_samples, size=2, replace=False)
    leaves = rng.uniform(size=(n_samples, n_timepoints)) < dropout
    leaves[:, 0] = False
    leaves[stay] = False
    # Once gone, gone: missing from the first departure on.
    gone = np.cumsum(leaves, axis=1) > 0
    Y[gone] = np.nan
    return X, Y, coef
