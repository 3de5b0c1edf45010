"""An experiment killed mid-way resumes; a Dask cluster gives the same table."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from rkhsmtl import MultiTaskKernelRidge
from rkhsmtl.datasets import make_multitask_regression
from rkhsmtl.experiments import PerTaskSplits, run_experiment

SCORES = ["dataset", "method", "split", "metric", "average", "task", "value"]


def _table(rows):
    """The score columns, NaN made comparable (a failed unit has no value)."""
    return [["nan" if isinstance(v, float) and v != v else v for v in
             (row[c] for c in SCORES)] for row in rows]

# Each unit sleeps a little so that the run is surely killed in the middle.
SCRIPT = textwrap.dedent("""
    import json, sys, time
    from sklearn.base import BaseEstimator, RegressorMixin, clone
    from rkhsmtl import MultiTaskKernelRidge
    from rkhsmtl.datasets import make_multitask_regression
    from rkhsmtl.experiments import PerTaskSplits, run_experiment

    class Slow(RegressorMixin, BaseEstimator):
        def __init__(self, estimator, delay=0.4):
            self.estimator = estimator
            self.delay = delay

        def fit(self, X, Y):
            time.sleep(self.delay)
            self.fitted_ = clone(self.estimator).fit(X, Y)
            return self

        def predict(self, X):
            return self.fitted_.predict(X)

    X, Y, _ = make_multitask_regression(n_samples=40, n_features=3, n_tasks=3,
                                        missing_fraction=0.2, random_state=0)
    methods = {"independent": Slow(MultiTaskKernelRidge(task_structure="independent")),
               "pooled": Slow(MultiTaskKernelRidge(task_structure="pooled"))}
    results = run_experiment(methods, (X, Y), splits=PerTaskSplits(seeds=4),
                             scoring=["mse"], cache_dir=sys.argv[1], progress=False)
    with open(sys.argv[2], "w") as fh:
        json.dump({"n_computed": results.n_computed, "n_cached": results.n_cached,
                   "rows": results.to_records()}, fh)
""")


def _stored(folder):
    return [f for _, _, files in os.walk(folder) for f in files if f.endswith(".json")]


@pytest.mark.slow
def test_a_killed_run_resumes_with_only_the_missing_units(tmp_path):
    script = tmp_path / "experiment.py"
    script.write_text(SCRIPT)
    cache = tmp_path / "cache"
    env = dict(os.environ, PYTHONHASHSEED="0")
    first = subprocess.Popen([sys.executable, str(script), str(cache),
                              str(tmp_path / "first.json")], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    while len(_stored(cache)) < 2 and time.monotonic() < deadline:
        assert first.poll() is None, first.stderr.read().decode()[-2000:]
        time.sleep(0.02)
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    assert first.returncode == -signal.SIGKILL
    done = len(_stored(cache))
    assert 2 <= done < 8, "the run was to be killed in the middle"

    second = subprocess.run([sys.executable, str(script), str(cache),
                             str(tmp_path / "second.json")], env=env,
                            capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr[-2000:]
    resumed = json.loads((tmp_path / "second.json").read_text())
    assert resumed["n_cached"] == done and resumed["n_computed"] == 8 - done
    assert len(_stored(cache)) == 8

    # The resumed table is exactly that of an uninterrupted run of the same fits.
    X, Y, _ = make_multitask_regression(n_samples=40, n_features=3, n_tasks=3,
                                        missing_fraction=0.2, random_state=0)
    reference = run_experiment(
        {"independent": MultiTaskKernelRidge(task_structure="independent"),
         "pooled": MultiTaskKernelRidge(task_structure="pooled")},
        (X, Y), splits=PerTaskSplits(seeds=4), scoring=["mse"], progress=False)
    assert _table(resumed["rows"]) == _table(reference.to_records())


@pytest.mark.slow
def test_a_dask_cluster_gives_the_table_of_a_sequential_run():
    distributed = pytest.importorskip("distributed")
    from joblib import parallel_config

    X, Y, _ = make_multitask_regression(n_samples=40, n_features=3, n_tasks=3,
                                        missing_fraction=0.2, random_state=1)
    methods = {"independent": MultiTaskKernelRidge(task_structure="independent"),
               "pooled": MultiTaskKernelRidge(task_structure="pooled"),
               "broken": MultiTaskKernelRidge(alpha=-1.0)}
    kwargs = dict(splits=PerTaskSplits(seeds=3), scoring=["mse", "r2"], progress=False)
    sequential = run_experiment(methods, (X, Y), n_jobs=1, **kwargs)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None) as cluster, \
            distributed.Client(cluster), parallel_config(backend="dask"):
        on_dask = run_experiment(methods, (X, Y), **kwargs)
        workers = {r["pid"] for r in on_dask._records.values()}
    assert _table(on_dask.to_records()) == _table(sequential.to_records())
    assert on_dask.n_failed == 3 and os.getpid() not in workers
    assert np.isfinite([r["value"] for r in on_dask.to_records()
                        if r["status"] == "ok"]).all()


@pytest.mark.slow
def test_a_local_ray_cluster_gives_the_table_of_a_sequential_run():
    """Ray through joblib (``ray.util.joblib.register_ray``): a real local Ray
    instance on this machine, started and shut down by the test. Ray is not a
    test dependency (a large install); the test runs where it is installed."""
    ray = pytest.importorskip("ray")
    from joblib import parallel_config
    from ray.util.joblib import register_ray

    X, Y, _ = make_multitask_regression(n_samples=40, n_features=3, n_tasks=3,
                                        missing_fraction=0.2, random_state=2)
    methods = {"independent": MultiTaskKernelRidge(task_structure="independent"),
               "mean": MultiTaskKernelRidge(task_structure="mean_regularized"),
               "broken": MultiTaskKernelRidge(alpha=-1.0)}
    kwargs = dict(splits=PerTaskSplits(seeds=2), scoring=["mse"], progress=False)
    sequential = run_experiment(methods, (X, Y), n_jobs=1, **kwargs)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             _node_ip_address="127.0.0.1")
    try:
        register_ray()
        with parallel_config(backend="ray"):
            on_ray = run_experiment(methods, (X, Y), n_jobs=2, **kwargs)
    finally:
        ray.shutdown()
    assert _table(on_ray.to_records()) == _table(sequential.to_records())
    assert on_ray.n_failed == 2
    assert os.getpid() not in {r["pid"] for r in on_ray._records.values()}
