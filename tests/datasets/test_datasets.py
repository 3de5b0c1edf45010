"""Tests of rkhsmtl.datasets: School loader, layout helpers, splits, generators."""

import gzip
from importlib import resources

import numpy as np
import pytest

from rkhsmtl.datasets import (
    load_school,
    long_to_wide,
    make_multitask_regression,
    train_test_split_per_task,
    wide_to_long,
)

N_SCHOOL, D_SCHOOL, T_SCHOOL = 15362, 28, 139


# --------------------------------------------------------------------------- School


def test_load_school_long_shapes_and_values():
    X, y, task = load_school()
    assert X.shape == (N_SCHOOL, D_SCHOOL) and X.dtype == np.float64
    assert y.shape == (N_SCHOOL,) and y.dtype == np.float64
    assert task.shape == (N_SCHOOL,) and task.dtype == np.int64
    sizes = np.bincount(task)
    assert sizes.shape == (T_SCHOOL,)
    assert sizes.min() == 22 and sizes.max() == 251
    assert task.min() == 0
    assert y.min() == 1 and y.max() == 70
    np.testing.assert_array_equal(X[:, -1], 1.0)
    # One-hot groups sum to the bias column (year, gender, ethnicity, school type).
    np.testing.assert_array_equal(X[:, 0:3].sum(axis=1), 1.0)
    np.testing.assert_array_equal(X[:, 5:7].sum(axis=1), 1.0)
    np.testing.assert_array_equal(X[:, 10:21].sum(axis=1), 1.0)
    # Rows are in file order: tasks appear in non-decreasing order.
    assert np.all(np.diff(task) >= 0)


def test_load_school_matches_bundled_csv():
    path = resources.files("rkhsmtl.datasets").joinpath("data", "school.csv.gz")
    with path.open("rb") as raw, gzip.open(raw, "rt") as fh:
        raw_data = np.loadtxt(fh, delimiter=",", skiprows=1)
    X, y, task = load_school()
    np.testing.assert_array_equal(X, raw_data[:, 1:29])
    np.testing.assert_array_equal(y, raw_data[:, -1])
    np.testing.assert_array_equal(task, raw_data[:, 0])
    readme = resources.files("rkhsmtl.datasets").joinpath("data", "school_README.md")
    assert "15 362" in readme.read_text(encoding="utf-8")


def test_load_school_wide_matches_long():
    X_long, y, task = load_school()
    X, Y = load_school(wide=True)
    assert Y.shape == (N_SCHOOL, T_SCHOOL) and Y.dtype == np.float64
    np.testing.assert_array_equal(X, X_long)
    observed = ~np.isnan(Y)
    np.testing.assert_array_equal(observed.sum(axis=1), 1)
    np.testing.assert_array_equal(np.argmax(observed, axis=1), task)
    np.testing.assert_array_equal(Y[np.arange(N_SCHOOL), task], y)


def test_load_school_as_frame():
    pd = pytest.importorskip("pandas")
    X, y, task = load_school(as_frame=True)
    X_np, y_np, task_np = load_school()
    assert isinstance(X, pd.DataFrame)
    assert list(X.columns[:3]) == ["year_1985", "year_1986", "year_1987"]
    assert X.columns[-1] == "bias" and X.shape == (N_SCHOOL, D_SCHOOL)
    assert "y" not in X.columns and "task" not in X.columns
    assert isinstance(y, pd.Series) and y.name == "y"
    assert isinstance(task, pd.Series) and task.name == "task"
    np.testing.assert_array_equal(X.to_numpy(), X_np)
    np.testing.assert_array_equal(y.to_numpy(), y_np)
    np.testing.assert_array_equal(task.to_numpy(), task_np)

    X_w, Y_w = load_school(wide=True, as_frame=True)
    assert isinstance(X_w, pd.DataFrame) and isinstance(Y_w, pd.DataFrame)
    assert list(Y_w.columns) == [f"school_{t}" for t in range(T_SCHOOL)]
    np.testing.assert_array_equal(Y_w.to_numpy(), load_school(wide=True)[1])


def test_load_school_returns_copies():
    X, y, task = load_school()
    X[:] = -1.0
    y[:] = -1.0
    task[:] = -1
    X2, y2, task2 = load_school()
    assert X2[0, -1] == 1.0 and y2.min() == 1.0 and task2.min() == 0
    assert X2.flags.writeable and y2.flags.writeable
    _, Y = load_school(wide=True)
    Y[:] = 0.0
    assert np.isnan(load_school(wide=True)[1]).sum() == N_SCHOOL * (T_SCHOOL - 1)


# ---------------------------------------------------------------------- layouts


def test_wide_long_round_trip_with_several_observed_tasks():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((6, 3))
    Y = rng.standard_normal((6, 4))
    Y[0, [1, 3]] = np.nan
    Y[2, :] = np.nan  # row without any label is dropped
    Y[4, 0] = np.nan
    X_long, y, task = wide_to_long(X, Y)
    n_obs = int((~np.isnan(Y)).sum())
    assert X_long.shape == (n_obs, 3) and y.shape == task.shape == (n_obs,)
    assert task.dtype == np.int64
    # Row-major order: row 0's tasks 0, 2; row 1's tasks 0..3; row 3's ...
    np.testing.assert_array_equal(task[:6], [0, 2, 0, 1, 2, 3])
    np.testing.assert_array_equal(X_long[:2], X[[0, 0]])
    np.testing.assert_array_equal(X_long[2:6], X[[1, 1, 1, 1]])
    assert not np.any(np.all(X_long == X[2], axis=1))
    np.testing.assert_array_equal(y[:2], Y[0, [0, 2]])

    # Back to wide: one row per observed entry, then re-aggregate per source row.
    X_back, Y_back = long_to_wide(X_long, y, task, tasks=range(4))
    np.testing.assert_array_equal(X_back, X_long)
    assert Y_back.shape == (n_obs, 4)
    np.testing.assert_array_equal((~np.isnan(Y_back)).sum(axis=1), 1)
    rows = np.repeat(np.arange(6), (~np.isnan(Y)).sum(axis=1))
    Y_rebuilt = np.full_like(Y, np.nan)
    Y_rebuilt[rows, task] = Y_back[np.arange(n_obs), task]
    np.testing.assert_array_equal(Y_rebuilt, Y)


def test_long_wide_long_round_trip():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((20, 2))
    y = rng.standard_normal(20)
    task = rng.integers(0, 5, size=20)
    X_w, Y = long_to_wide(X, y, task)
    X_l, y_l, task_l = wide_to_long(X_w, Y)
    np.testing.assert_array_equal(X_l, X)
    np.testing.assert_array_equal(y_l, y)
    np.testing.assert_array_equal(np.unique(task)[task_l], task)


def test_long_to_wide_string_labels_and_explicit_tasks():
    X = [[0.0], [1.0], [2.0], [3.0]]
    y = [10.0, 11.0, 12.0, 13.0]
    task = ["paris", "berlin", "paris", "rome"]
    X_out, Y = long_to_wide(X, y, task)
    assert isinstance(X_out, np.ndarray)
    expected = np.full((4, 3), np.nan)  # columns sorted: berlin, paris, rome
    expected[[0, 1, 2, 3], [1, 0, 1, 2]] = y
    np.testing.assert_array_equal(Y, expected)

    _, Y = long_to_wide(X, y, task, tasks=["rome", "paris", "oslo", "berlin"])
    expected = np.full((4, 4), np.nan)
    expected[[0, 1, 2, 3], [1, 3, 1, 0]] = y
    np.testing.assert_array_equal(Y, expected)
    assert np.all(np.isnan(Y[:, 2]))  # unused label gives an all-NaN column


def test_long_to_wide_keeps_dataframes():
    pd = pytest.importorskip("pandas")
    X = pd.DataFrame({"a": [1.0, 2.0, 3.0]}, index=[7, 8, 9])
    X_out, Y = long_to_wide(X, pd.Series([1.0, 2.0, 3.0]), [0, 1, 0])
    assert X_out is X
    assert Y.shape == (3, 2)
    X_long, _, task = wide_to_long(X, np.array([[1.0, 2.0], [np.nan, 3.0], [4, 5]]))
    assert isinstance(X_long, pd.DataFrame)
    np.testing.assert_array_equal(X_long["a"], [1.0, 1.0, 2.0, 3.0, 3.0])
    np.testing.assert_array_equal(task, [0, 1, 1, 0, 1])


def test_long_to_wide_errors():
    X = np.zeros((3, 2))
    with pytest.raises(ValueError, match=r"len\(X\)=3, len\(y\)=2, len\(task\)=3"):
        long_to_wide(X, [1.0, 2.0], [0, 1, 2])
    with pytest.raises(ValueError, match=r"len\(task\)=4"):
        long_to_wide(X, [1.0, 2.0, 3.0], [0, 1, 2, 3])
    with pytest.raises(ValueError, match="finite"):
        long_to_wide(X, [1.0, np.nan, 3.0], [0, 1, 2])
    with pytest.raises(ValueError, match="finite"):
        long_to_wide(X, [1.0, np.inf, 3.0], [0, 1, 2])
    with pytest.raises(ValueError, match="not found in tasks: 'c'"):
        long_to_wide(X, [1.0, 2.0, 3.0], ["a", "b", "c"], tasks=["a", "b"])
    with pytest.raises(ValueError, match="distinct"):
        long_to_wide(X, [1.0, 2.0, 3.0], ["a", "b", "a"], tasks=["a", "b", "a"])
    with pytest.raises(ValueError, match="one-dimensional"):
        long_to_wide(X, np.ones((3, 2)), [0, 1, 2])


def test_wide_to_long_errors_and_1d():
    with pytest.raises(ValueError, match=r"len\(X\)=2, len\(Y\)=3"):
        wide_to_long(np.zeros((2, 1)), np.zeros((3, 2)))
    with pytest.raises(ValueError, match="infinite"):
        wide_to_long(np.zeros((2, 1)), [[1.0, np.inf], [0.0, 0.0]])
    X_long, y, task = wide_to_long(np.arange(3.0)[:, None], [1.0, np.nan, 2.0])
    np.testing.assert_array_equal(X_long.ravel(), [0.0, 2.0])
    np.testing.assert_array_equal(y, [1.0, 2.0])
    np.testing.assert_array_equal(task, [0, 0])


# ------------------------------------------------------------------------ splits


def _school_task():
    return load_school()[2]


def test_split_per_task_partition_and_counts():
    task = _school_task()
    train, test = train_test_split_per_task(task, random_state=0)
    assert np.issubdtype(train.dtype, np.integer)
    assert np.issubdtype(test.dtype, np.integer)
    assert np.all(np.diff(train) > 0) and np.all(np.diff(test) > 0)
    assert np.intersect1d(train, test).size == 0
    np.testing.assert_array_equal(
        np.sort(np.concatenate([train, test])), np.arange(task.size)
    )
    sizes = np.bincount(task)
    expected = np.array([round(0.75 * n) for n in sizes])
    np.testing.assert_array_equal(np.bincount(task[train], minlength=139), expected)
    np.testing.assert_array_equal(
        np.bincount(task[test], minlength=139), sizes - expected
    )

    train, _ = train_test_split_per_task(task, train_size=0.3, random_state=0)
    expected = np.array([round(0.3 * n) for n in sizes])
    np.testing.assert_array_equal(np.bincount(task[train], minlength=139), expected)


def test_split_per_task_reproduces_documented_protocol():
    # Reference implementation of the README protocol, written independently.
    task = np.array([2, 0, 1, 2, 0, 1, 2, 2, 0, 1, 1, 1, 2, 0])
    rng = np.random.default_rng(5)
    ref_train = []
    for t in np.unique(task):
        rows = np.flatnonzero(task == t)
        perm = rows[rng.permutation(rows.size)]
        ref_train.extend(perm[: round(0.75 * rows.size)])
    train, test = train_test_split_per_task(task, random_state=5)
    np.testing.assert_array_equal(train, np.sort(ref_train))
    np.testing.assert_array_equal(test, np.setdiff1d(np.arange(task.size), ref_train))


def test_split_per_task_determinism_and_seeds():
    task = _school_task()
    a = train_test_split_per_task(task, random_state=3)
    b = train_test_split_per_task(task, random_state=3)
    c = train_test_split_per_task(task, random_state=4)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


def test_split_per_task_wide_equals_long():
    X, Y = load_school(wide=True)
    task = _school_task()
    for seed in (0, 9):
        train_w, test_w = train_test_split_per_task(Y, random_state=seed)
        train_l, test_l = train_test_split_per_task(task, random_state=seed)
        np.testing.assert_array_equal(train_w, train_l)
        np.testing.assert_array_equal(test_w, test_l)
    # String labels split like their integer codes (same sorted order).
    labels = np.array([f"s{t:03d}" for t in task])
    train_s, _ = train_test_split_per_task(labels, random_state=0)
    np.testing.assert_array_equal(
        train_s, train_test_split_per_task(task, random_state=0)[0]
    )


def test_split_per_task_errors():
    task = np.array([0, 0, 1, 1])
    for bad in (0, 1, 0.0, 1.0, 1.5, -0.2, True, "0.5", np.nan):
        with pytest.raises(ValueError, match="train_size"):
            train_test_split_per_task(task, train_size=bad)
    Y = np.array([[1.0, np.nan], [1.0, 2.0], [np.nan, 3.0]])
    with pytest.raises(ValueError, match="wide_to_long"):
        train_test_split_per_task(Y)
    Y[1] = np.nan
    with pytest.raises(ValueError, match="row 1 has 0"):
        train_test_split_per_task(Y)
    with pytest.raises(ValueError, match="shape"):
        train_test_split_per_task(np.zeros((2, 2, 2)))


# -------------------------------------------------------------------- synthetic


def test_make_multitask_regression_shapes_and_determinism():
    X, Y, A = make_multitask_regression(50, 3, 6, random_state=0)
    assert X.shape == (50, 3) and Y.shape == (50, 6) and A.shape == (6, 6)
    assert np.all(np.isfinite(Y))
    X2, Y2, A2 = make_multitask_regression(50, 3, 6, random_state=0)
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(Y, Y2)
    np.testing.assert_array_equal(A, A2)
    _, Y3, _ = make_multitask_regression(50, 3, 6, random_state=1)
    assert not np.allclose(Y, Y3)
    rs = np.random.RandomState(0)
    _, Y4, _ = make_multitask_regression(50, 3, 6, random_state=rs)
    np.testing.assert_array_equal(Y, Y4)


@pytest.mark.parametrize(
    "n_tasks, n_clusters, rank, strength",
    [(8, 2, 0, 0.9), (7, 3, 0, 0.5), (6, 1, 2, 0.8), (5, 5, 3, 0.0), (4, 2, 4, 1.0)],
)
def test_task_structure_is_unit_diagonal_psd(n_tasks, n_clusters, rank, strength):
    _, _, A = make_multitask_regression(
        20,
        2,
        n_tasks,
        n_clusters=n_clusters,
        rank=rank,
        cluster_strength=strength,
        random_state=0,
    )
    np.testing.assert_array_equal(A, A.T)
    np.testing.assert_allclose(np.diag(A), 1.0, rtol=0, atol=1e-12)
    assert np.linalg.eigvalsh(A).min() > -1e-10
    if rank > 0:  # the low-rank component changes the block structure
        block = np.where(
            np.equal.outer(*2 * [np.arange(n_tasks) * n_clusters // n_tasks]),
            strength,
            0.0,
        )
        np.fill_diagonal(block, 1.0)
        assert not np.allclose(A, block)


def test_task_structure_blocks_for_rank_zero():
    _, _, A = make_multitask_regression(
        20, 2, 7, n_clusters=3, cluster_strength=0.6, random_state=0
    )
    cluster = np.array([0, 0, 0, 1, 1, 2, 2])  # floor(t * 3 / 7): contiguous blocks
    expected = np.where(cluster[:, None] == cluster[None, :], 0.6, 0.0)
    np.fill_diagonal(expected, 1.0)
    np.testing.assert_array_equal(A, expected)

    _, _, A = make_multitask_regression(20, 2, 5, n_clusters=5, random_state=0)
    np.testing.assert_array_equal(A, np.eye(5))
    _, _, A = make_multitask_regression(
        20, 2, 4, n_clusters=1, cluster_strength=0.3, random_state=0
    )
    np.testing.assert_array_equal(A, np.full((4, 4), 0.3) + 0.7 * np.eye(4))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_task_functions_follow_structure(seed):
    _, F, A = make_multitask_regression(
        1000, 5, 8, n_clusters=2, noise=0.0, random_state=seed
    )
    C = np.corrcoef(F.T)
    same = A > 0.5
    within = C[same & ~np.eye(8, dtype=bool)]
    between = C[~same]
    assert within.mean() > 0.7
    assert within.mean() - abs(between.mean()) > 0.3
    assert within.min() > np.abs(between).max()


def test_independent_tasks_are_not_identical_and_noise_is_relative():
    _, F, _ = make_multitask_regression(
        300, 3, 3, n_clusters=3, noise=0.0, random_state=0
    )
    assert np.abs(np.corrcoef(F.T)[np.triu_indices(3, 1)]).max() < 0.99
    _, Y, _ = make_multitask_regression(
        300, 3, 3, n_clusters=3, noise=0.5, random_state=0
    )
    ratio = (Y - F).std(axis=0) / F.std(axis=0)
    np.testing.assert_allclose(ratio, 0.5, rtol=0.15)


@pytest.mark.parametrize("fraction", [0.3, 0.97])
def test_missing_fraction_rules(fraction):
    n, T = 60, 7
    _, Y, _ = make_multitask_regression(
        n, 2, T, missing_fraction=fraction, random_state=0
    )
    missing = np.isnan(Y)
    assert missing.sum(axis=1).max() <= T - 1  # every row keeps one label
    assert (~missing).sum(axis=0).min() >= 2  # every task keeps two labels
    if fraction == 0.3:
        assert missing.sum() == round(0.3 * n * T)
        assert missing.any(axis=1).sum() > n / 2  # spread over rows
    else:
        assert missing.mean() > 0.8
    _, Y_full, _ = make_multitask_regression(n, 2, T, random_state=0)
    np.testing.assert_array_equal(Y[~missing], Y_full[~missing])


def test_heterogeneous_rules():
    n, T = 103, 5
    _, Y, _ = make_multitask_regression(n, 2, T, heterogeneous=True, random_state=0)
    observed = ~np.isnan(Y)
    np.testing.assert_array_equal(observed.sum(axis=1), 1)
    counts = observed.sum(axis=0)
    assert counts.min() == n // T and counts.max() == n // T + 1
    task = np.argmax(observed, axis=1)
    assert not np.array_equal(task, np.arange(n) % T)  # shuffled
    X_long, y, task_long = wide_to_long(np.zeros((n, 1)), Y)
    np.testing.assert_array_equal(task_long, task)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_clusters": 0}, "n_clusters must be between 1 and 8"),
        ({"n_clusters": 9}, "n_clusters must be between 1 and 8"),
        ({"n_clusters": 2.0}, "n_clusters must be an integer"),
        ({"cluster_strength": 1.2}, "cluster_strength"),
        ({"cluster_strength": -0.1}, "cluster_strength"),
        ({"rank": -1}, "rank"),
        ({"rank": 9}, "rank"),
        ({"noise": -1.0}, "noise"),
        ({"noise": np.inf}, "noise"),
        ({"missing_fraction": 1.0}, "missing_fraction"),
        ({"missing_fraction": -0.1}, "missing_fraction"),
        (
            {"heterogeneous": True, "missing_fraction": 0.2},
            "missing_fraction must be 0",
        ),
        ({"heterogeneous": "yes"}, "heterogeneous must be a bool"),
        ({"n_samples": 10, "heterogeneous": True}, "n_samples >= 2 \\* n_tasks"),
        ({"n_samples": 1}, "n_samples"),
        ({"n_features": 0}, "n_features"),
        ({"n_tasks": 0}, "n_tasks"),
        ({"gamma": 0.0}, "gamma"),
        ({"gamma": -1.0}, "gamma"),
    ],
)
def test_make_multitask_regression_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_multitask_regression(**kwargs)
