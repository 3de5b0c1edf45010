"""Experiments described by TOML and JSON files, run from the command line."""

import io
import json
import textwrap

import numpy as np
import pandas as pd
import pytest

from rkhsmtl import MultiTaskKernelRidge
from rkhsmtl.cli import main as rkhsmtl_main
from rkhsmtl.datasets import load_school
from rkhsmtl.experiments import (
    Dataset,
    PerTaskSplits,
    load_experiment_file,
    run_experiment,
    run_experiment_file,
)
from rkhsmtl.structure import MeanRegularized

SCHOOL = textwrap.dedent("""
    scoring = ["mse", "r2"]
    baseline = "independent"
    n_jobs = 1

    [data.school]
    bundled = "school"
    tasks = 5

    [splits]
    kind = "per_task"
    train_size = 0.75
    seeds = 2

    [estimators.independent]
    class = "rkhsmtl.MultiTaskKernelRidge"
    params = { kernel = "linear", alpha = 1.0, task_structure = "independent" }

    [estimators.mean-regularised]
    class = "rkhsmtl.MultiTaskKernelRidge"
    [estimators.mean-regularised.params]
    kernel = "linear"
    alpha = 1.0
    [estimators.mean-regularised.params.task_structure]
    class = "rkhsmtl.structure.MeanRegularized"
    params = { strength = 10.0 }
""")


def main(argv):
    """``rkhsmtl run ARGV...``."""
    return rkhsmtl_main(["run", *argv])


def test_the_command_line_runs_a_toml_experiment_on_school(tmp_path, capsys):
    path = tmp_path / "school.toml"
    path.write_text(SCHOOL)
    assert main([str(path), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "mean-regularised" in out and "mse (macro)" in out and "r2 (micro)" in out
    assert "transfer against 'independent'" in out
    assert "4 units: 4 computed, 0 from the cache" in out
    table = pd.read_csv(tmp_path / "school-results.csv")
    assert set(table["method"]) == {"independent", "mean-regularised"}
    assert len(table) == 2 * 2 * 2 * (5 + 2)
    # The same numbers as the experiment written in Python.
    X, y, task = load_school()
    keep = task < 5
    direct = run_experiment(
        {"independent": MultiTaskKernelRidge(kernel="linear", alpha=1.0,
                                             task_structure="independent"),
         "mean-regularised": MultiTaskKernelRidge(
             kernel="linear", alpha=1.0, task_structure=MeanRegularized(strength=10.0))},
        {"school": Dataset.from_long(X[keep], y[keep], task[keep])},
        splits=PerTaskSplits(0.75, seeds=2), scoring=["mse", "r2"], progress=False)
    np.testing.assert_allclose(table["value"], [r["value"] for r in direct.to_records()],
                               rtol=1e-12)
    # Run again: everything comes from the cache folder beside the file.
    assert main([str(path), "--quiet"]) == 0
    assert "4 units: 0 computed, 4 from the cache" in capsys.readouterr().out


def test_a_user_csv_in_the_long_layout_and_a_json_file(tmp_path):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(90, 2)), columns=["x1", "x2"])
    frame["site"] = np.repeat(["lyon", "oslo", "rome"], 30)
    frame["score"] = frame["x1"] - frame["x2"] + 0.1 * rng.normal(size=90)
    frame.to_csv(tmp_path / "mine.csv", index=False)
    spec = {
        "scoring": ["rmse"],
        "output": "out/table.csv",
        "cache": False,
        "data": {"mine": {"path": "mine.csv", "layout": "long", "target": "score",
                          "task": "site"}},
        "splits": {"kind": "kfold", "n_splits": 3, "random_state": 1},
        "estimators": {
            "ridge per site": {"class": "rkhsmtl.experiments.PerTaskEstimator",
                               "params": {"estimator": {
                                   "class": "sklearn.linear_model.Ridge"}}},
            "kernel": {"class": "rkhsmtl.MultiTaskKernelRidge",
                       "params": {"kernel": "linear"},
                       "grid": {"alpha": [0.1, 1.0]}},
        },
    }
    (tmp_path / "out").mkdir()
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(spec))
    out = io.StringIO()
    results = run_experiment_file(path, progress=False, out=out)
    assert results.methods == ["ridge per site", "kernel[alpha=0.1]", "kernel[alpha=1.0]"]
    assert results.n_units == 9 and results.n_failed == 0 and results.n_cached == 0
    table = pd.read_csv(tmp_path / "out" / "table.csv")
    assert set(table.loc[table["average"] == "task", "task"]) == {"lyon", "oslo", "rome"}
    assert "rmse (macro)" in out.getvalue()
    assert not (tmp_path / "mine-cache").exists()


def test_a_wide_csv_and_command_line_overrides(tmp_path, capsys):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(30, 2))
    Y = X @ rng.normal(size=(2, 2))
    Y[rng.random(Y.shape) < 0.2] = np.nan
    pd.DataFrame({"a": X[:, 0], "b": X[:, 1], "t1": Y[:, 0], "t2": Y[:, 1]}).to_csv(
        tmp_path / "wide.csv", index=False)
    (tmp_path / "wide.toml").write_text(textwrap.dedent("""
        scoring = ["mse"]
        backend = "threading"
        n_jobs = 2
        [data.wide]
        path = "wide.csv"
        layout = "wide"
        targets = ["t1", "t2"]
        [splits]
        seeds = 2
        [estimators.ridge]
        class = "rkhsmtl.MultiTaskKernelRidge"
    """))
    output = tmp_path / "elsewhere.csv"
    assert main([str(tmp_path / "wide.toml"), "--quiet", "--no-cache",
                 "--output", str(output)]) == 0
    table = pd.read_csv(output)
    assert set(table.loc[table["average"] == "task", "task"]) == {"t1", "t2"}
    assert not (tmp_path / "wide-cache").exists()


@pytest.mark.parametrize("text, match", [
    ("[estimators.m]\nclass = 'rkhsmtl.MultiTaskKernelRidge'\n", "no \\[data\\] table"),
    ("[data.s]\nbundled = 'school'\n", "no \\[estimators\\] table"),
    ("n_job = 2\n[data.s]\nbundled = 'school'\n", "Unknown key\\(s\\) \\['n_job'\\]"),
    ("[data.s]\nbundled = 'mnist'\n[estimators.m]\nclass = 'rkhsmtl.MultiTaskKernelRidge'\n",
     "unknown bundled data set 'mnist'"),
    ("[data.s]\npath = 'absent.csv'\n[estimators.m]\nclass = 'rkhsmtl.MultiTaskKernelRidge'"
     "\n", "does not exist"),
    ("[data.s]\nbundled = 'school'\n[estimators.m]\nclass = 'nowhere.Model'\n",
     "estimators.m\\]: Cannot import 'nowhere'"),
    ("[data.s]\nbundled = 'school'\n[estimators.m]\nparams = {}\n", "needs `class`"),
    ("[data.s]\nbundled = 'school'\n[estimators.m]\nclass = 'rkhsmtl.MultiTaskKernelRidge'"
     "\nparams = { alpah = 1.0 }\n", "unexpected keyword argument 'alpah'"),
    ("[data.s]\nbundled = 'school'\n[splits]\nkind = 'loo'\n[estimators.m]\n"
     "class = 'rkhsmtl.MultiTaskKernelRidge'\n", "kind must be 'per_task' or 'kfold'"),
    ("backend = 'spark'\n[data.s]\nbundled = 'school'\n[estimators.m]\n"
     "class = 'rkhsmtl.MultiTaskKernelRidge'\n", "backend must be one of"),
    ("scheduler = 'tcp://x:1'\n[data.s]\nbundled = 'school'\n[estimators.m]\n"
     "class = 'rkhsmtl.MultiTaskKernelRidge'\n", "needs backend = \"dask\""),
])
def test_a_malformed_file_names_the_table_and_key(tmp_path, text, match):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ValueError, match=match):
        load_experiment_file(path)


def test_the_command_line_reports_a_bad_file_as_a_usage_error(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text("[data.s]\nbundled = 'school'\n")
    with pytest.raises(SystemExit) as exc:
        main([str(path)])
    assert exc.value.code == 2
    assert "no [estimators] table" in capsys.readouterr().err


def test_toml_on_python_3_10_needs_tomli_and_says_so(tmp_path, monkeypatch):
    """Python 3.10 has no tomllib: the reader falls back to tomli, and without it
    says how to get it (simulated by hiding the modules from the import system)."""
    import sys

    from rkhsmtl.experiments._config_file import _read

    path = tmp_path / "tiny.toml"
    path.write_text('[data]\nbundled = "school"\n')
    monkeypatch.setitem(sys.modules, "tomllib", None)
    monkeypatch.setitem(sys.modules, "tomli", None)
    with pytest.raises(ImportError, match=r"rkhsmtl\[toml\].*or write the experiment "
                                          "as JSON"):
        _read(str(path))


def test_toml_falls_back_to_tomli_without_tomllib(tmp_path, monkeypatch):
    """tomli, where installed (the 'toml' extra on 3.10), reads the same table."""
    import sys

    from rkhsmtl.experiments._config_file import _read

    pytest.importorskip("tomli")
    path = tmp_path / "tiny.toml"
    path.write_text('[data]\nbundled = "school"\n')
    monkeypatch.setitem(sys.modules, "tomllib", None)
    assert _read(str(path)) == {"data": {"bundled": "school"}}
