"""What the kernel estimators' searches share: the grid, its checks, the scorer and
the table of results.

:class:`~rkhsmtl.MultiTaskKernelRidgeCV` (exact leave-one-out or folds) and
:class:`~rkhsmtl.MultiTaskKernelClassifierCV` (folds) search the same grid --
``alphas`` x ``gammas`` x ``task_structures`` -- and report it the same way, in
``GridSearchCV``'s order (``alpha`` slowest) and with its keys, plus the score of
every task alone. How each scores a candidate is theirs.
"""

from __future__ import annotations

import math
import numbers
import warnings

import numpy as np

from .kernels import KERNELS
from .metrics import get_scorer

__all__ = ["KernelGridSearchMixin", "as_list", "object_array"]


def as_list(values, name):
    """A non-empty list of the values of an iterable."""
    try:
        values = list(values)
    except TypeError:
        raise ValueError(f"{name} must be a list of values, got {values!r}.") from None
    if not values:
        raise ValueError(f"{name} must hold at least one value.")
    return values


def object_array(values):
    """A 1-D object array (of structures, ``None`` gammas) as GridSearchCV keeps."""
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


class KernelGridSearchMixin:
    """Grid, scorer and results of a search over ``alphas`` x ``gammas`` x
    ``task_structures`` (parameters of the class that uses it)."""

    def _check_kernel_grid(self):
        """``(alphas, gammas, task_structures)`` as lists, checked."""
        alphas = as_list(self.alphas, "alphas")
        for a in alphas:
            if (isinstance(a, bool) or not isinstance(a, numbers.Real)
                    or not (0 < a < math.inf)):
                raise ValueError(
                    f"alphas must hold positive finite numbers, got {a!r}.")
        gammas = [None] if self.gammas is None else as_list(self.gammas, "gammas")
        for g in gammas:
            if g is not None and (isinstance(g, bool) or not isinstance(g, numbers.Real)
                                  or not (0 <= g < math.inf)):
                raise ValueError(
                    f"gammas must hold None or finite numbers >= 0, got {g!r}.")
        if isinstance(self.task_structures, str) or (
                hasattr(self.task_structures, "task_matrix")):
            raise ValueError(
                "task_structures must be a list of task structures, e.g. "
                f"[{self.task_structures!r}], got a single one.")
        structures = as_list(self.task_structures, "task_structures")
        if not callable(self.kernel) and self.kernel not in KERNELS:
            raise ValueError(
                f"kernel must be one of {KERNELS} or a callable, got {self.kernel!r}.")
        if not isinstance(self.refit, bool):
            raise ValueError(f"refit must be True or False, got {self.refit!r}.")
        return [float(a) for a in alphas], gammas, structures

    def _scorer(self):
        """The scorer that picks the candidate; None for the estimator's default."""
        if self.scoring is None:
            return None
        if isinstance(self.scoring, (list, tuple, dict)):
            raise ValueError(
                "scoring must be one scorer name or callable (the score that picks "
                f"the candidate), got {self.scoring!r}; for several scores use "
                "rkhsmtl.model_selection.MultiTaskGridSearchCV.")
        return get_scorer(self.scoring)

    def _store_search_results(self, alphas, gammas, structures, split_scores,
                              per_task, *, no_score_advice):
        """Set ``cv_results_``, ``best_*``, ``alpha_``, ``gamma_``, ``n_splits_``.

        Folds: ``split_scores`` of shape ``(n_candidates, n_splits)`` and
        ``per_task`` of shape ``(n_candidates, n_splits, n_tasks)``. Exact
        leave-one-out (one "split", reported without ``split0_test_score`` and
        ``std_test_score``): shapes ``(n_candidates,)`` and ``(n_candidates,
        n_tasks)``. Candidates in GridSearchCV's order: ``alpha`` slowest, then
        ``gamma``, then the structure.
        """
        folds = split_scores.ndim == 2
        if folds:
            mean = split_scores.mean(axis=1)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # tasks never tested
                task_mean = np.nanmean(per_task, axis=1)
        else:
            mean, task_mean = split_scores, per_task
        if np.all(np.isnan(mean)):
            raise ValueError(f"Every candidate scored NaN: {no_score_advice}")
        params = [{"alpha": a, "gamma": gm, "task_structure": st}
                  for a in alphas for gm in gammas for st in structures]
        results = {
            "params": params,
            "param_alpha": np.asarray([p["alpha"] for p in params], dtype=float),
            "param_gamma": object_array([p["gamma"] for p in params]),
            "param_task_structure": object_array([p["task_structure"]
                                                   for p in params]),
        }
        if folds:
            for f in range(split_scores.shape[1]):
                results[f"split{f}_test_score"] = split_scores[:, f]
        results["mean_test_score"] = mean
        if folds:
            results["std_test_score"] = split_scores.std(axis=1)
        order = np.where(np.isnan(mean), -np.inf, mean)
        # Ties share the best rank and NaN ranks last, as in GridSearchCV.
        results["rank_test_score"] = np.asarray(
            [1 + int(np.sum(order > v)) for v in order], dtype=np.int32)
        for t in range(task_mean.shape[1]):
            results[f"mean_test_score_task_{t}"] = task_mean[:, t]
        best = int(np.argmax(order))
        self.cv_results_ = results
        self.best_index_ = best
        self.best_params_ = dict(params[best])
        self.best_score_ = float(mean[best])
        self.alpha_ = float(params[best]["alpha"])
        self.gamma_ = params[best]["gamma"]
        self.n_splits_ = split_scores.shape[1] if folds else 1
