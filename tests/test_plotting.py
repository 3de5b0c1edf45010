"""rkhsmtl.plotting: task ordering, task-structure heatmap, convergence curve."""

import sys

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from rkhsmtl import MultiTaskKernelRidge  # noqa: E402
from rkhsmtl.plotting import (  # noqa: E402
    plot_objective,
    plot_task_structure,
    task_correlation,
    task_order,
)
from rkhsmtl.structure import LowRank  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _planted_blocks(sizes, rng, within=0.8, noise=0.05):
    """Block-diagonal covariance (unit diagonal), true labels, and a scale."""
    labels = np.repeat(np.arange(len(sizes)), sizes)
    T = labels.size
    A = np.where(labels[:, None] == labels[None, :], within, 0.0)
    np.fill_diagonal(A, 1.0)
    E = noise * rng.normal(size=(T, T))
    A = A + 0.5 * (E + E.T)
    A = A + max(0.0, -np.linalg.eigvalsh(A)[0] + 1e-3) * np.eye(T)
    scale = rng.uniform(0.5, 3.0, size=T)  # correlations are scale free
    return scale[:, None] * A * scale[None, :], labels


def _is_contiguous(sequence):
    """Every value appears in one run."""
    runs = [v for i, v in enumerate(sequence) if i == 0 or v != sequence[i - 1]]
    return len(runs) == len(set(runs))


@pytest.mark.parametrize("seed", range(5))
def test_task_order_recovers_permuted_blocks(seed):
    rng = np.random.default_rng(seed)
    A, labels = _planted_blocks([4, 3, 5, 2], rng)
    perm = rng.permutation(labels.size)
    A_perm, labels_perm = A[np.ix_(perm, perm)], labels[perm]
    assert not _is_contiguous(labels_perm.tolist())
    order = task_order(A_perm)
    assert order.dtype.kind == "i"
    assert sorted(order.tolist()) == list(range(labels.size))
    assert _is_contiguous(labels_perm[order].tolist())


def test_task_order_groups_negative_correlations():
    # 1 - |correlation|: anti-correlated tasks are related too.
    A = np.array([[1.0, 0.0, -0.9], [0.0, 1.0, 0.0], [-0.9, 0.0, 1.0]])
    order = task_order(A).tolist()
    assert abs(order.index(0) - order.index(2)) == 1


@pytest.mark.parametrize("T", [1, 2])
def test_task_order_tiny(T):
    assert task_order(np.eye(T)).tolist() == list(range(T))


def test_task_correlation():
    A = np.array([[4.0, 2.0, 0.0], [2.0, 9.0, 0.0], [0.0, 0.0, 0.0]])
    R = task_correlation(A)
    expected = np.array([[1.0, 2.0 / 6.0, 0.0], [2.0 / 6.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    np.testing.assert_allclose(R, expected)


def test_heatmap_shows_reordered_correlations():
    rng = np.random.default_rng(0)
    A, labels = _planted_blocks([3, 4, 3], rng)
    perm = rng.permutation(labels.size)
    A = A[np.ix_(perm, perm)]
    names = [f"task {t}" for t in range(A.shape[0])]
    ax = plot_task_structure(A, labels=names, title="learned")
    order = task_order(A)
    d = np.sqrt(np.diag(A))
    R = A / np.outer(d, d)
    image = ax.images[0]
    np.testing.assert_allclose(np.asarray(image.get_array()), R[np.ix_(order, order)],
                               atol=1e-12)
    assert image.get_clim() == (-1.0, 1.0)
    assert [t.get_text() for t in ax.get_xticklabels()] == [names[i] for i in order]
    assert [t.get_text() for t in ax.get_yticklabels()] == [names[i] for i in order]
    assert ax.get_title() == "learned"
    colorbar_axes = [a for a in ax.figure.axes if a is not ax]
    assert len(colorbar_axes) == 1
    assert "correlation" in colorbar_axes[0].get_ylabel()


def test_heatmap_without_reordering_on_given_axes():
    A = np.array([[1.0, 0.5, 0.0], [0.5, 2.0, 0.0], [0.0, 0.0, 1.0]])
    fig, ax = plt.subplots()
    out = plot_task_structure(A, ax=ax, reorder=False, title=None, colorbar=False)
    assert out is ax
    np.testing.assert_allclose(np.asarray(ax.images[0].get_array()), task_correlation(A))
    assert len(fig.axes) == 1
    assert ax.get_title() == ""


def test_heatmap_many_tasks_thins_ticks():
    ax = plot_task_structure(np.eye(100), reorder=False, colorbar=False)
    assert 0 < len(ax.get_xticks()) <= 30


def test_heatmap_rejects_bad_input():
    with pytest.raises(ValueError, match="square"):
        plot_task_structure(np.ones((2, 3)))
    with pytest.raises(ValueError, match="one entry per task"):
        plot_task_structure(np.eye(3), labels=["a", "b"])
    with pytest.raises(TypeError, match="task_matrix"):
        plot_task_structure(LowRank())


def test_plot_objective_draws_history():
    history = np.array([10.0, 4.0, 3.0, 2.5, 2.4, 2.4])
    ax = plot_objective(history, log=False)
    x, y = ax.lines[0].get_data()
    np.testing.assert_array_equal(x, np.arange(1, 7))
    np.testing.assert_array_equal(y, history)
    assert ax.get_xlabel() and ax.get_ylabel()

    ax = plot_objective(list(history))
    assert ax.get_yscale() == "log"
    y = ax.lines[0].get_ydata()
    np.testing.assert_allclose(y - y[-1], history - history.min(), atol=1e-12)
    assert np.all(y > 0)


def test_plot_objective_marks_stages():
    ax = plot_objective([5.0, 4.0, 3.0, 2.9], stages=[1e-2, 1e-2, 1e-3, 1e-3])
    assert len(ax.lines) == 2  # the curve and one stage boundary
    np.testing.assert_allclose(ax.lines[1].get_xdata(), [2.5, 2.5])
    with pytest.raises(ValueError, match="one entry per iteration"):
        plot_objective([5.0, 4.0], stages=[1.0])


def test_plots_accept_a_fitted_estimator():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 2))
    Y = np.column_stack([np.sin(X[:, 0]), np.sin(X[:, 0]) + 0.1, np.cos(X[:, 1])])
    model = MultiTaskKernelRidge(alpha=0.1, task_structure=LowRank(strength=1.0))
    model.fit(X, Y)
    ax = plot_task_structure(model)
    np.testing.assert_allclose(
        np.asarray(ax.images[0].get_array()),
        task_correlation(model.task_structure_)[np.ix_(task_order(model),
                                                       task_order(model))])
    ax = plot_objective(model, log=False)
    np.testing.assert_array_equal(ax.lines[0].get_ydata(), model.objective_history_)

    fixed = MultiTaskKernelRidge(alpha=0.1).fit(X, Y)
    with pytest.raises(ValueError, match="fixed task structure"):
        plot_objective(fixed)
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        plot_task_structure(MultiTaskKernelRidge())


def test_a_fitted_model_labels_the_tasks_by_their_names():
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 2))
    Y = pd.DataFrame(X @ rng.normal(size=(2, 3)), columns=["north", "south", "east"])
    model = MultiTaskKernelRidge().fit(X, Y)
    ax = plot_task_structure(model, reorder=False, colorbar=False)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["north", "south", "east"]
    ax = plot_task_structure(model, reorder=False, colorbar=False, labels="xyz")
    assert [t.get_text() for t in ax.get_yticklabels()] == ["x", "y", "z"]
    ax = plot_task_structure(model.fit(X, Y.to_numpy()), reorder=False, colorbar=False)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "1", "2"]


def test_array_api_input():
    xp = pytest.importorskip("array_api_strict")
    A = xp.asarray([[1.0, 0.2], [0.2, 1.0]])
    ax = plot_task_structure(A, reorder=False)
    np.testing.assert_allclose(np.asarray(ax.images[0].get_array()),
                               [[1.0, 0.2], [0.2, 1.0]])
    ax = plot_objective(xp.asarray([2.0, 1.0]), log=False)
    np.testing.assert_array_equal(ax.lines[0].get_ydata(), [2.0, 1.0])


def test_missing_matplotlib(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r"pip install rkhsmtl\[plot\]"):
        plot_task_structure(np.eye(2))
    with pytest.raises(ImportError, match=r"pip install rkhsmtl\[plot\]"):
        plot_objective([2.0, 1.0])
    # Computing an ordering needs no matplotlib.
    assert task_order(np.eye(3)).tolist() == [0, 1, 2]


def test_show_or_save_figures_saves_every_figure_without_a_display(tmp_path, capsys):
    from rkhsmtl.plotting import show_or_save_figures

    plt.close("all")
    for k in range(2):
        plt.figure().gca().plot([0, k])
    paths = show_or_save_figures("demo", tmp_path / "figures")
    assert [p.name for p in paths] == ["demo_1.png", "demo_2.png"]
    assert all(p.stat().st_size > 0 for p in paths)
    assert "saved" in capsys.readouterr().out
    plt.close("all")
