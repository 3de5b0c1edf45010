"""Multi-task experiments: many estimators x data sets x splits, in parallel, resumable.

:func:`run_experiment` runs every (data set, estimator, split) unit of an
experiment through joblib (any backend: loky processes, Dask, Ray), stores every
finished unit on disk so that a killed run resumes where it stopped, records
failures instead of stopping, and returns an :class:`ExperimentResults`: the tidy
long table of per-task and aggregated scores, the summary over splits, the
per-task transfer report against a baseline (negative transfer, LibMTL's Δ) and
figures. :func:`run_experiment_file` does the same from a TOML or JSON file
(``rkhsmtl run experiment.toml`` on the command line).

* :class:`Dataset` -- arrays (wide or long layout) or a loader run by the workers.
* :class:`PerTaskSplits` -- random per-task splits, one per seed (a scikit-learn
  splitter or the user's own masks work too).
* :class:`PerTaskEstimator` -- one single-task model per task, the baseline.
* :func:`expand_grid` -- one method per point of a hyperparameter grid.

See :doc:`/user_guide/experiments`.
"""

from ._config_file import load_experiment_file, run_experiment_file
from ._data import Dataset
from ._per_task import PerTaskEstimator
from ._plot import plot_summary, plot_task_gains
from ._results import ExperimentResults, TransferReport
from ._runner import expand_grid, run_experiment
from ._splits import PerTaskSplits

__all__ = [
    "Dataset",
    "ExperimentResults",
    "PerTaskEstimator",
    "PerTaskSplits",
    "TransferReport",
    "expand_grid",
    "load_experiment_file",
    "plot_summary",
    "plot_task_gains",
    "run_experiment",
    "run_experiment_file",
]
