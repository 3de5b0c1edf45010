"""Plots of task structures and of the convergence of learned structures.

Matplotlib is an optional dependency (``pip install rkhsmtl[plot]``); it is imported
only when a plotting function is called. The functions draw on a given
:class:`matplotlib.axes.Axes` (or on a new figure) and return the Axes; they never
call ``plt.show()``, so they work with any backend, including the non-interactive
``Agg``.

The plots of a task structure or of a convergence history accept either an array
(NumPy, or any array-API array such as CuPy: it is copied to the host) or a fitted
:class:`~rkhsmtl.MultiTaskKernelRidge`, from which ``task_structure_`` or
``objective_history_`` is read (and ``tasks_``, the task names, for the tick
labels). :func:`plot_task_clusters` and :func:`plot_transfer_gain` draw a
:class:`~rkhsmtl.inspection.TaskRelationReport`.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.cluster.hierarchy import leaves_list, linkage
from scipy.spatial.distance import squareform

from ._backend import to_numpy

__all__ = ["plot_objective", "plot_task_clusters", "plot_task_structure",
           "plot_transfer_gain", "show_or_save_figures", "task_correlation",
           "task_order"]

# Up to this many tasks every tick is labelled; beyond, every k-th one.
_MAX_TICKS = 30


def _import_pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError(
            "rkhsmtl.plotting requires matplotlib, which is not installed. Install it "
            "with `pip install rkhsmtl[plot]` (or `pip install matplotlib`)."
        ) from exc
    return plt


def _fitted_attribute(obj, attribute, what):
    """``obj.<attribute>`` when ``obj`` is an estimator, else ``obj`` itself."""
    if hasattr(obj, attribute):
        return getattr(obj, attribute)
    if hasattr(obj, "fit") or hasattr(obj, "get_params"):
        from sklearn.exceptions import NotFittedError

        name = type(obj).__name__
        if hasattr(obj, "task_matrix") and attribute == "task_structure_":
            raise TypeError(
                f"{name} is a task structure, not a matrix: pass "
                f"structure.task_matrix(n_tasks) or a fitted estimator."
            )
        if attribute == "objective_history_" and hasattr(obj, "task_structure_"):
            raise ValueError(
                f"This {name} has no objective_history_: it was fitted with a fixed "
                "task structure (only learned structures are fitted iteratively)."
            )
        raise NotFittedError(
            f"This {name} has no {attribute}: fit it first ({what})."
        )
    return obj


def _task_matrix(A):
    A = _fitted_attribute(A, "task_structure_", "plots need the fitted task structure")
    return symmetric_task_matrix(np.asarray(to_numpy(A), dtype=float))


def symmetric_task_matrix(A):
    """``A`` (a NumPy array) checked square and finite, and symmetrised."""
    if A.ndim != 2 or A.shape[0] != A.shape[1] or A.shape[0] == 0:
        raise ValueError(
            f"A task-structure matrix must be square (n_tasks, n_tasks); got shape "
            f"{A.shape}."
        )
    if not np.all(np.isfinite(A)):
        raise ValueError("The task-structure matrix contains NaN or infinite values.")
    return 0.5 * (A + A.T)


def task_correlation(A):
    """The task-structure matrix normalised to unit diagonal.

    ``R[s, t] = A[s, t] / sqrt(A[s, s] A[t, t])``: the correlation of tasks ``s``
    and ``t`` under the prior ``Cov(f_s(x), f_t(x')) = k(x, x') A[s, t]`` of the
    separable kernel. The scale of ``A`` (which trades off against ``alpha``) drops
    out. A task with ``A[t, t] = 0`` (predicted as zero) has zero correlation with
    every other task.

    Parameters
    ----------
    A : array-like of shape (n_tasks, n_tasks) or fitted estimator
        Symmetric positive semidefinite task-structure matrix, or an estimator
        with a ``task_structure_`` attribute.

    Returns
    -------
    R : ndarray of shape (n_tasks, n_tasks)
        Symmetric, unit diagonal, entries in ``[-1, 1]``.
    """
    A = _task_matrix(A)
    d = np.diag(A).copy()
    scale = np.max(np.abs(d)) if d.size else 0.0
    positive = d > 1e-12 * max(scale, np.finfo(float).tiny)
    d = np.where(positive, d, np.inf)
    R = A / np.sqrt(np.outer(d, d))
    np.fill_diagonal(R, 1.0)
    return np.clip(R, -1.0, 1.0)


def task_order(A):
    """An ordering of the tasks that puts similar tasks next to each other.

    The leaves of an average-linkage hierarchical clustering (with optimal leaf
    ordering) of the tasks, on the distance ``1 - |R[s, t]|`` where ``R`` is ``A``
    normalised to unit diagonal (:func:`task_correlation`). Tasks that are strongly
    correlated, positively or negatively, end up contiguous, so clusters of tasks
    show as blocks on the diagonal of the reordered matrix.

    Parameters
    ----------
    A : array-like of shape (n_tasks, n_tasks) or fitted estimator
        Symmetric positive semidefinite task-structure matrix, or an estimator
        with a ``task_structure_`` attribute.

    Returns
    -------
    order : ndarray of shape (n_tasks,), dtype int
        A permutation of ``range(n_tasks)``: ``A[order][:, order]`` is the
        reordered matrix. Of an ordering and its reverse (equally good), the one
        whose first task has the smaller index is returned.

    See Also
    --------
    plot_task_structure : Heatmap of the reordered correlations.

    Examples
    --------
    >>> import numpy as np
    >>> from rkhsmtl.plotting import task_order

    Tasks 0 and 2 are related, and so are tasks 1 and 3:

    >>> A = np.array([[1.0, 0.0, 0.8, 0.0],
    ...               [0.0, 1.0, 0.0, 0.8],
    ...               [0.8, 0.0, 1.0, 0.0],
    ...               [0.0, 0.8, 0.0, 1.0]])
    >>> task_order(A)
    array([0, 2, 3, 1])
    """
    R = task_correlation(A)
    T = R.shape[0]
    if T <= 2:
        return np.arange(T, dtype=np.intp)
    D = 1.0 - np.abs(R)
    D = np.clip(0.5 * (D + D.T), 0.0, None)
    np.fill_diagonal(D, 0.0)
    Z = linkage(squareform(D, checks=False), method="average", optimal_ordering=True)
    order = np.asarray(leaves_list(Z), dtype=np.intp)
    # The reversed order is as good; prefer the one closer to the given order.
    return order[::-1].copy() if order[0] > order[-1] else order


def _new_axes(ax):
    plt = _import_pyplot()
    if ax is None:
        _, ax = plt.subplots(layout="constrained")  # room for the colour-bar label
    return ax


def plot_task_structure(A, ax=None, *, reorder=True, labels=None, cmap="RdBu_r",
                        title="Task structure", colorbar=True):
    """Heatmap of a task-structure matrix, as task correlations.

    Draws ``R = A`` normalised to unit diagonal (:func:`task_correlation`) on a
    diverging colour scale fixed to ``[-1, 1]``, with the tasks reordered by
    :func:`task_order` so that clusters of related tasks show as blocks.

    Parameters
    ----------
    A : array-like of shape (n_tasks, n_tasks) or fitted estimator
        Symmetric positive semidefinite task-structure matrix (e.g. the learned
        ``task_structure_``), or a fitted estimator with a ``task_structure_``
        attribute.
    ax : matplotlib.axes.Axes, default=None
        Axes to draw on; None creates a new figure.
    reorder : bool, default=True
        Reorder the tasks by :func:`task_order`; False keeps the given order.
    labels : sequence of str of length n_tasks, default=None
        Task names for the tick labels (in the original task order); None uses
        the fitted estimator's ``tasks_`` (the column names of a DataFrame ``y``)
        when ``A`` is one, else the task indices.
    cmap : str or matplotlib.colors.Colormap, default="RdBu_r"
        Colour map (a diverging one makes the sign of correlations visible).
    title : str or None, default="Task structure"
        Title of the Axes; None leaves it unset.
    colorbar : bool, default=True
        Add a colour bar (labelled as correlations) next to the Axes.

    Returns
    -------
    ax : matplotlib.axes.Axes
        The Axes drawn on; its image (``ax.images[0]``) holds the reordered
        correlation matrix.

    See Also
    --------
    task_order : The ordering of the tasks used.
    plot_objective : Convergence of a learned task structure.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from rkhsmtl.plotting import plot_task_structure
    >>> ax = plot_task_structure(np.array([[2.0, 1.0], [1.0, 2.0]]))
    >>> float(ax.images[0].get_array()[0, 1])
    0.5
    """
    if labels is None and hasattr(A, "tasks_"):
        labels = to_numpy(A.tasks_).tolist()
    R = task_correlation(A)
    T = R.shape[0]
    if labels is None:
        labels = [str(t) for t in range(T)]
    else:
        labels = [str(label) for label in labels]
        if len(labels) != T:
            raise ValueError(f"labels must have one entry per task ({T}), got "
                             f"{len(labels)}.")
    ax = _new_axes(ax)
    order = task_order(R) if reorder else np.arange(T)
    image = ax.imshow(R[np.ix_(order, order)], cmap=cmap, vmin=-1.0, vmax=1.0,
                      interpolation="nearest")
    step = max(1, math.ceil(T / _MAX_TICKS))
    ticks = np.arange(0, T, step)
    ax.set_xticks(ticks)
    ax.set_yticks(ticks)
    ax.set_xticklabels([labels[order[i]] for i in ticks], rotation=90)
    ax.set_yticklabels([labels[order[i]] for i in ticks])
    which = "task (reordered by similarity)" if reorder else "task"
    ax.set_xlabel(which)
    ax.set_ylabel(which)
    if title is not None:
        ax.set_title(title)
    if colorbar:
        bar = ax.figure.colorbar(image, ax=ax)
        bar.set_label(r"correlation $A_{st} / \sqrt{A_{ss} A_{tt}}$")
    return ax


def plot_objective(history, ax=None, *, log=True, stages=None):
    """Convergence curve of a learned task structure.

    Plots the objective ``Q_delta`` recorded after every alternating iteration
    (``objective_history_`` of an estimator fitted with a learned task
    structure). It must not increase.

    Parameters
    ----------
    history : array-like of shape (n_iter,) or fitted estimator
        Objective values, or a fitted estimator with an ``objective_history_``
        attribute.
    ax : matplotlib.axes.Axes, default=None
        Axes to draw on; None creates a new figure.
    log : bool, default=True
        Plot the excess ``Q - min(Q)`` on a logarithmic axis (a tiny offset,
        ``1e-14 max(|min Q|, 1)``, keeps the last point finite), which shows the
        rate of convergence; False plots ``Q`` itself on a linear axis.
    stages : array-like of shape (n_iter,), default=None
        The perturbation ``delta`` of each iteration; dotted vertical lines mark
        where it is lowered (continuation). With an estimator it is read from
        ``solver_info_["deltas"]`` when available.

    Returns
    -------
    ax : matplotlib.axes.Axes
        The Axes drawn on; the curve is ``ax.lines[0]`` (x: iterations from 1).

    See Also
    --------
    plot_task_structure : Heatmap of the learned task structure.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from rkhsmtl.plotting import plot_objective
    >>> ax = plot_objective([3.0, 2.0, 1.5, 1.4], log=False)
    >>> ax.lines[0].get_ydata().tolist()
    [3.0, 2.0, 1.5, 1.4]
    """
    if stages is None and hasattr(history, "objective_history_"):
        info = getattr(history, "solver_info_", None)
        if isinstance(info, dict) and info.get("deltas") is not None:
            stages = info["deltas"]
    history = _fitted_attribute(history, "objective_history_",
                                "only learned task structures record an objective")
    Q = np.asarray(to_numpy(history), dtype=float).ravel()
    if Q.size == 0:
        raise ValueError("The objective history is empty.")
    if not np.all(np.isfinite(Q)):
        raise ValueError("The objective history contains NaN or infinite values.")
    iterations = np.arange(1, Q.size + 1)
    ax = _new_axes(ax)
    if log:
        low = float(np.min(Q))
        excess = Q - low + 1e-14 * max(abs(low), 1.0)
        ax.semilogy(iterations, excess, marker=".")
        ax.set_ylabel(r"objective excess $Q_\delta - \min Q_\delta$")
    else:
        ax.plot(iterations, Q, marker=".")
        ax.set_ylabel(r"objective $Q_\delta$")
    if stages is not None:
        stages = np.asarray(to_numpy(stages), dtype=float).ravel()
        if stages.shape != Q.shape:
            raise ValueError(f"stages must have one entry per iteration ({Q.size}), "
                             f"got {stages.size}.")
        for i in np.flatnonzero(stages[1:] != stages[:-1]):
            ax.axvline(i + 1.5, color="0.6", linestyle=":", linewidth=1)
    ax.set_xlabel("alternating iteration")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    return ax


# Backends that draw into files only: no window can be shown.
_HEADLESS_BACKENDS = {"agg", "cairo", "pdf", "pgf", "ps", "svg", "template"}


def show_or_save_figures(name, folder=None):
    """Show the open figures, or save them where there is no display.

    For scripts that draw: with an interactive backend the figures are shown;
    with a non-interactive one (a machine without a display, ``MPLBACKEND=Agg``),
    or when ``folder`` is given, every open figure is saved as
    ``<folder>/<name>_<number>.png`` and its path printed.

    Parameters
    ----------
    name : str
        Prefix of the file names (e.g. the script's name).
    folder : str or path-like or None, default=None
        Where to save the figures (created if needed); None saves into the current
        folder, and only when no window can be shown.

    Returns
    -------
    paths : list of pathlib.Path
        The saved files (empty when the figures were only shown).
    """
    import pathlib

    plt = _import_pyplot()
    headless = plt.get_backend().lower() in _HEADLESS_BACKENDS
    paths = []
    if folder is not None or headless:
        directory = pathlib.Path(folder if folder is not None else ".")
        directory.mkdir(parents=True, exist_ok=True)
        for number in plt.get_fignums():
            path = directory / f"{name}_{number}.png"
            plt.figure(number).savefig(path)
            print(f"saved {path}", flush=True)
            paths.append(path)
    if not headless:
        plt.show()
    return paths


# The matrices of a task-relation report that plot_task_clusters draws:
# (attribute, colour bar label, colour range, default colour map).
_REPORT_MATRICES = {
    "correlation": ("correlation", r"correlation $A_{st} / \sqrt{A_{ss} A_{tt}}$",
                    (-1.0, 1.0), "RdBu_r"),
    "partial_correlation": ("partial_correlation",
                            r"partial correlation $-P_{st} / \sqrt{P_{ss} P_{tt}}$",
                            (-1.0, 1.0), "RdBu_r"),
    "co_clustering": ("co_clustering", "fraction of refits in the same cluster",
                      (0.0, 1.0), "viridis"),
}


def _report_labels(report, labels):
    T = len(report.tasks)
    labels = [str(t) for t in report.tasks] if labels is None else \
        [str(label) for label in labels]
    if len(labels) != T:
        raise ValueError(f"labels must have one entry per task ({T}), got {len(labels)}.")
    return labels


def plot_task_clusters(report, ax=None, *, matrix="correlation", labels=None, cmap=None,
                       title=None, colorbar=True):
    """Heatmap of a task-relation report, tasks reordered, clusters outlined.

    Draws a matrix of a :class:`~rkhsmtl.inspection.TaskRelationReport` with the
    tasks in the order of its clustering tree (``report.order``, in which every
    cluster is a contiguous block) and a rectangle around each cluster.

    Parameters
    ----------
    report : TaskRelationReport
        The report of :func:`rkhsmtl.inspection.task_relations`.
    ax : matplotlib.axes.Axes, default=None
        Axes to draw on; None creates a new figure.
    matrix : {"correlation", "partial_correlation", "co_clustering"}, \
default="correlation"
        The task correlations, the partial correlations, or the fraction of
        bootstrap refits in which two tasks share a cluster (needs a report made
        with ``n_bootstrap > 0``).
    labels : sequence of str of length n_tasks, default=None
        Task names in the model's order; None uses ``report.tasks``.
    cmap : str or matplotlib.colors.Colormap, default=None
        Colour map; None: diverging "RdBu_r" on ``[-1, 1]`` for correlations,
        "viridis" on ``[0, 1]`` for co-clustering.
    title : str or None, default=None
        Title of the Axes; None names the matrix and the number of clusters.
    colorbar : bool, default=True
        Add a colour bar next to the Axes.

    Returns
    -------
    ax : matplotlib.axes.Axes
        The Axes drawn on; its image (``ax.images[0]``) holds the reordered matrix
        and each cluster is a :class:`~matplotlib.patches.Rectangle` in
        ``ax.patches``.

    See Also
    --------
    plot_transfer_gain : The per-task transfer gain of the same report.
    plot_task_structure : Heatmap of a task-structure matrix.
    """
    if matrix not in _REPORT_MATRICES:
        raise ValueError(f"matrix must be one of {sorted(_REPORT_MATRICES)}, got "
                         f"{matrix!r}.")
    attribute, bar_label, (vmin, vmax), default_cmap = _REPORT_MATRICES[matrix]
    M = getattr(report, attribute)
    if M is None:
        raise ValueError(
            f"This report has no {attribute}: make it with n_bootstrap > 0 (and the "
            "training data X, Y) to draw the co-clustering frequencies."
        )
    labels = _report_labels(report, labels)
    order = np.asarray(report.order)
    T = order.shape[0]
    ax = _new_axes(ax)
    image = ax.imshow(np.asarray(M)[np.ix_(order, order)],
                      cmap=default_cmap if cmap is None else cmap, vmin=vmin, vmax=vmax,
                      interpolation="nearest")
    step = max(1, math.ceil(T / _MAX_TICKS))
    ticks = np.arange(0, T, step)
    ax.set_xticks(ticks)
    ax.set_yticks(ticks)
    ax.set_xticklabels([labels[order[i]] for i in ticks], rotation=90)
    ax.set_yticklabels([labels[order[i]] for i in ticks])
    ax.set_xlabel("task (clustering order)")
    ax.set_ylabel("task (clustering order)")
    from matplotlib.patches import Rectangle

    clusters = np.asarray(report.clusters)[order]
    starts = np.flatnonzero(np.r_[True, clusters[1:] != clusters[:-1]])
    for start, stop in zip(starts, np.r_[starts[1:], T], strict=True):
        # White shows on the dark end of "viridis", black on the white middle of
        # the diverging map.
        ax.add_patch(Rectangle((start - 0.5, start - 0.5), stop - start, stop - start,
                               fill=False, linewidth=1.5,
                               edgecolor="white" if matrix == "co_clustering" else "black"))
    if title is None:
        name = {"co_clustering": "co-clustering"}.get(matrix, matrix.replace("_", " "))
        title = (f"{name}: {report.n_clusters} cluster"
                 f"{'' if report.n_clusters == 1 else 's'}")
    ax.set_title(title)
    if colorbar:
        ax.figure.colorbar(image, ax=ax).set_label(bar_label)
    return ax


def plot_transfer_gain(report, ax=None, *, labels=None, title=None):
    """Bar chart of the per-task transfer gain of a task-relation report.

    One bar per task (in the clustering order of the report, clusters separated
    by dotted lines): the gain of the model over the baseline in held-out score,
    with its confidence interval as an error bar. Tasks flagged with negative
    transfer are red, with positive transfer blue, the others grey.

    Parameters
    ----------
    report : TaskRelationReport
        The report of :func:`rkhsmtl.inspection.task_relations`, made with the
        training data and a baseline.
    ax : matplotlib.axes.Axes, default=None
        Axes to draw on; None creates a new figure.
    labels : sequence of str of length n_tasks, default=None
        Task names in the model's order; None uses ``report.tasks``.
    title : str or None, default=None
        Title of the Axes; None names the score.

    Returns
    -------
    ax : matplotlib.axes.Axes
        The Axes drawn on; the bars are ``ax.patches`` (in the clustering order).

    See Also
    --------
    plot_task_clusters : The heatmap of the same report.
    """
    if report.gain is None:
        raise ValueError(
            "This report has no transfer gain: make it with the training data X, Y "
            "and a baseline (task_relations(model, X, Y))."
        )
    labels = _report_labels(report, labels)
    order = np.asarray(report.order)
    T = order.shape[0]
    gain = np.asarray(report.gain)[order]
    low, high = np.asarray(report.gain_interval)[:, order]
    colors = np.where(np.asarray(report.negative_transfer)[order], "tab:red",
                      np.where(np.asarray(report.positive_transfer)[order], "tab:blue",
                               "0.6"))
    ax = _new_axes(ax)
    x = np.arange(T)
    ax.bar(x, np.nan_to_num(gain), color=colors)
    error = np.vstack([gain - low, high - gain])
    ax.errorbar(x, gain, yerr=np.nan_to_num(error), fmt="none", ecolor="black",
                capsize=2, linewidth=1)
    ax.axhline(0.0, color="black", linewidth=0.8)
    clusters = np.asarray(report.clusters)[order]
    for boundary in np.flatnonzero(clusters[1:] != clusters[:-1]):
        ax.axvline(boundary + 0.5, color="0.5", linestyle=":", linewidth=1)
    step = max(1, math.ceil(T / _MAX_TICKS))
    ticks = np.arange(0, T, step)
    ax.set_xticks(ticks)
    ax.set_xticklabels([labels[order[i]] for i in ticks], rotation=90)
    ax.set_xlabel("task (clustering order)")
    level = f"{100 * report.confidence:g}%"
    ax.set_ylabel(f"gain in held-out {report.scoring} ({level} interval)")
    ax.set_title(f"transfer gain over the baseline ({report.scoring})"
                 if title is None else title)
    return ax
