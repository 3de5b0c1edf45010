"""The ``rkhsmtl`` command line: ``demo``, ``fit``, ``predict``, ``evaluate``."""

import io
import subprocess
import sys

import joblib
import numpy as np
import pytest

import rkhsmtl
from rkhsmtl.cli import load_model, main, run_demo
from rkhsmtl.structure import MeanRegularized

pd = pytest.importorskip("pandas")


# -- demo ------------------------------------------------------------------------------

def test_demo_prints_a_table_with_every_method(tmp_path):
    pytest.importorskip("matplotlib")
    out = io.StringIO()
    rows = run_demo(n_schools=12, out=out, output_dir=str(tmp_path))
    text = out.getvalue()
    assert [r["method"] for r in rows] == ["independent", "mean-regularised", "pooled",
                                           "learned (relation)"]
    assert rows[-1]["n_iter"] > 1  # the structure was learned, not given
    heatmap = tmp_path / "school_learned_task_structure.png"
    assert heatmap.stat().st_size > 1000 and str(heatmap) in text
    for r in rows:
        assert r["method"] in text
        assert np.isfinite(r["explained_variance"]) and r["fit_seconds"] >= 0
        # Better than predicting nothing at all on 12 schools.
        assert r["explained_variance"] > 0
    assert "explained var." in text and "Total time" in text
    # The verdict on the learned structure, whichever way it goes.
    assert "The learned task relation" in text and "best fixed structure" in text


def test_demo_is_reproducible():
    first = run_demo(n_schools=8, seed=3, out=io.StringIO(), output_dir=None)
    second = run_demo(n_schools=8, seed=3, out=io.StringIO(), output_dir=None)
    for a, b in zip(first, second, strict=True):
        assert a["explained_variance"] == pytest.approx(b["explained_variance"])


def test_main_runs_the_demo(capsys, tmp_path):
    assert main(["demo", "--n-schools", "6", "--seed", "1",
                 "--output-dir", str(tmp_path)]) == 0
    assert "mean-regularised" in capsys.readouterr().out


def test_main_requires_a_command():
    with pytest.raises(SystemExit):
        main([])


def test_demo_without_matplotlib_says_how_to_get_the_heatmap(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    out = io.StringIO()
    run_demo(n_schools=5, out=out, output_dir=str(tmp_path))
    assert "rkhsmtl[plot]" in out.getvalue()
    assert not list(tmp_path.iterdir())


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"rkhsmtl {rkhsmtl.__version__}"


def test_python_dash_m_reports_an_error_in_one_line(tmp_path):
    missing = str(tmp_path / "missing.csv")
    result = subprocess.run([sys.executable, "-m", "rkhsmtl", "fit", missing,
                             "--target", "y", "--task", "t"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "does not exist" in result.stderr and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("rkhsmtl fit: error:")


@pytest.mark.parametrize("argv, message", [
    (["demo", "--train-size", "1.5"], "must be between 0 and 1"),
    (["demo", "--train-size", "half"], "invalid fraction value"),
    (["demo", "--n-schools", "1"], "must be an integer >= 2"),
    (["demo", "--output-dir", "/nonexistent/folder"], "not an existing folder"),
])
def test_bad_values_are_argparse_errors_before_any_fit(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_help_is_plain_text(capsys):
    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    text = capsys.readouterr().out
    assert "``" not in text and "School" in text
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    for command in ("demo", "fit", "predict", "evaluate"):
        assert command in text


def test_rows_and_iterations_are_printed_as_the_models_finish():
    out = io.StringIO()
    rows = run_demo(n_schools=5, out=out, output_dir=None)
    lines = out.getvalue().splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("method"))
    first_row = next(i for i, line in enumerate(lines) if line.startswith("independent"))
    assert header < first_row
    # A line announces the learned fit and counts its iterations, before its row.
    progress = next(i for i, line in enumerate(lines)
                    if line.startswith("learned (relation): fitting"))
    learned_row = next(i for i, line in enumerate(lines)
                       if line.startswith("learned (relation) "))
    assert first_row < progress < learned_row
    counted = lines[progress].split(":")[-1].split()
    assert counted == [str(k) for k in range(1, rows[-1]["n_iter"] + 1)]


# -- fit / predict / evaluate ----------------------------------------------------------

def _long_frame(n=45, seed=0):
    """Three related tasks in the long layout, with a text column and integer tasks."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3)) * [1.0, 10.0, 0.1]
    task = rng.choice([7, 3, 11], size=n)
    y = X[:, 0] + 0.05 * X[:, 1] + (task == 3) * 5 * X[:, 2] + 0.1 * rng.normal(size=n)
    return pd.DataFrame({"x1": X[:, 0], "x2": X[:, 1], "school": task,
                         "x3": X[:, 2], "score": y, "name": [f"s{i}" for i in range(n)]})


def _wide(frame):
    """The same data in the wide layout: one score column per school."""
    wide = frame[["x1", "x2", "x3"]].copy()
    for t in sorted(frame["school"].unique()):
        wide[f"score_{t}"] = np.where(frame["school"] == t, frame["score"], np.nan)
    return wide


def _direct_fit(X, Y, standardize=True, **params):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = rkhsmtl.MultiTaskKernelRidge(**params)
    estimator = make_pipeline(StandardScaler(), model) if standardize else model
    return estimator.fit(X, Y)


def _run(argv, capsys):
    status = main([str(a) for a in argv])
    return status, capsys.readouterr()


def test_long_layout_round_trip_equals_the_estimator(tmp_path, capsys):
    frame = _long_frame()
    data, model, preds = tmp_path / "train.csv", tmp_path / "m.joblib", tmp_path / "p.csv"
    frame.to_csv(data, index=False)
    status, captured = _run(["fit", data, "--target", "score", "--task", "school",
                             "--param", "alpha=0.1", "--param", "kernel=linear",
                             "-o", model], capsys)
    assert status == 0
    out = captured.out
    assert "Features (3) (standardised): x1, x2, x3" in out
    assert "left out of the features: name" in out  # the text column, said so
    assert "n=45, T=3" in out and "solver_=" in out and f"Saved to {model}" in out
    _run(["predict", model, data, "-o", preds, "--keep", "name"], capsys)
    got = pd.read_csv(preds)
    assert list(got.columns) == ["name", "school", "prediction"]
    assert (got["name"] == frame["name"]).all()
    tasks = [3, 7, 11]
    X = frame[["x1", "x2", "x3"]].to_numpy()
    Y = np.full((len(frame), 3), np.nan)
    column = frame["school"].map({t: j for j, t in enumerate(tasks)}).to_numpy()
    Y[np.arange(len(frame)), column] = frame["score"]
    # Kernel ridge has no intercept: the labels are centred per task by default.
    means = np.nanmean(Y, axis=0)
    assert f"means {means[0]:.4g}, {means[1]:.4g}, {means[2]:.4g}" in out
    direct = _direct_fit(X, Y - means, alpha=0.1, kernel="linear").predict(X) + means
    np.testing.assert_allclose(got["prediction"], direct[np.arange(len(frame)), column],
                               rtol=1e-10)
    bundle = load_model(str(model))
    assert bundle["layout"] == "long" and bundle["tasks"] == tasks
    assert bundle["features"] == ["x1", "x2", "x3"] and bundle["target"] == "score"
    assert bundle["rkhsmtl_version"] == rkhsmtl.__version__
    assert list(bundle["estimator"][-1].tasks_) == tasks


def test_wide_layout_round_trip_equals_the_estimator(tmp_path, capsys):
    wide = _wide(_long_frame())
    data, model = tmp_path / "wide.csv", tmp_path / "m.joblib"
    wide.to_csv(data, index=False)
    status, _ = _run(["fit", data, "--targets", "score_*", "--no-standardize",
                      "--no-center",
                      "--param", "task_structure='mean_regularized'",
                      "--param", "task_structure__strength=10", "-o", model], capsys)
    assert status == 0
    _, captured = _run(["predict", model, data], capsys)  # CSV on stdout
    got = pd.read_csv(io.StringIO(captured.out))
    names = ["score_3", "score_7", "score_11"]
    assert list(got.columns) == names
    X, Y = wide[["x1", "x2", "x3"]].to_numpy(), wide[names].to_numpy()
    direct = _direct_fit(X, Y, standardize=False,
                         task_structure=MeanRegularized(strength=10))
    np.testing.assert_allclose(got.to_numpy(), direct.predict(X), rtol=1e-10)


def test_gzipped_csv_and_parquet_give_the_same_model(tmp_path, capsys):
    frame = _long_frame()
    paths = [tmp_path / "d.csv", tmp_path / "d.csv.gz"]
    frame.to_csv(paths[0], index=False)
    frame.to_csv(paths[1], index=False)
    try:
        import pyarrow  # noqa: F401

        paths.append(tmp_path / "d.parquet")
        frame.to_parquet(paths[2], index=False)
    except ImportError:
        pass  # Parquet is covered where pyarrow is installed
    predictions = []
    for k, path in enumerate(paths):
        model = tmp_path / f"m{k}.joblib"
        _run(["fit", path, "--target", "score", "--task", "school", "-o", model],
             capsys)
        _, captured = _run(["predict", model, paths[0]], capsys)
        predictions.append(pd.read_csv(io.StringIO(captured.out))["prediction"])
    for other in predictions[1:]:
        np.testing.assert_allclose(other, predictions[0], rtol=1e-12)


def test_parquet_predictions_file(tmp_path, capsys):
    pytest.importorskip("pyarrow")
    frame = _long_frame()
    data, model, preds = (tmp_path / "d.parquet", tmp_path / "m.joblib",
                          tmp_path / "p.parquet")
    frame.to_parquet(data, index=False)
    _run(["fit", data, "--target", "score", "--task", "school", "-o", model], capsys)
    _run(["predict", model, data, "-o", preds], capsys)
    assert pd.read_parquet(preds).shape == (len(frame), 2)


def test_evaluate_matches_the_metrics(tmp_path, capsys):
    from rkhsmtl import metrics

    frame = _long_frame()
    data, model, table = tmp_path / "d.csv", tmp_path / "m.joblib", tmp_path / "t.csv"
    frame.to_csv(data, index=False)
    _run(["fit", data, "--target", "score", "--task", "school", "-o", model], capsys)
    _, captured = _run(["evaluate", model, data, "-o", table], capsys)
    assert "mean over tasks" in captured.out and "explained variance" in captured.out
    got = pd.read_csv(table)
    assert list(got["task"]) == ["3", "7", "11", "mean over tasks", "all labels pooled"]
    Y = _wide(frame)[["score_3", "score_7", "score_11"]].to_numpy()
    pred = load_model(str(model))["estimator"].predict(frame[["x1", "x2", "x3"]]
                                                       .to_numpy())
    np.testing.assert_allclose(got["MSE"][:3],
                               metrics.mean_squared_error(Y, pred, average=None))
    assert got["R2"][3] == pytest.approx(metrics.r2_score(Y, pred))
    assert got["explained_variance"][4] == pytest.approx(
        metrics.explained_variance_score(Y, pred, average="micro"))
    assert list(got["n"][:3]) == list((~np.isnan(Y)).sum(axis=0))


def test_classifier_with_text_labels(tmp_path, capsys):
    from rkhsmtl import metrics

    rng = np.random.default_rng(1)
    X = rng.normal(size=(60, 2))
    task = np.where(np.arange(60) % 2 == 0, "north", "south")
    label = np.where(X[:, 0] + 0.5 * (task == "south") * X[:, 1] > 0, "pass", "fail")
    frame = pd.DataFrame({"a": X[:, 0], "b": X[:, 1], "region": task, "result": label})
    data, model = tmp_path / "c.csv", tmp_path / "c.joblib"
    frame.to_csv(data, index=False)
    status, _ = _run(["fit", data, "--target", "result", "--task", "region",
                      "--model", "classifier", "--param", "kernel=linear", "-o", model],
                     capsys)
    assert status == 0
    _, captured = _run(["predict", model, data], capsys)
    labels = pd.read_csv(io.StringIO(captured.out))["prediction"]
    estimator = load_model(str(model))["estimator"]
    direct = estimator.predict(X, task=task)
    assert list(labels) == list(direct)
    _, captured = _run(["predict", model, data, "--proba"], capsys)
    proba = pd.read_csv(io.StringIO(captured.out))["probability"]
    np.testing.assert_allclose(proba, estimator.predict_proba(X, task=task))
    table = tmp_path / "t.csv"
    _run(["evaluate", model, data, "-o", table], capsys)
    Y = np.full((60, 2), None, dtype=object)
    Y[np.arange(60), (task == "south").astype(int)] = label
    assert pd.read_csv(table)["accuracy"][3] == pytest.approx(metrics.accuracy_score(
        Y, estimator.predict(X), classes=estimator.classes_))


def _write(tmp_path, frame, name="d.csv"):
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return str(path)


def _fitted(tmp_path, capsys):
    data = _write(tmp_path, _long_frame())
    model = str(tmp_path / "m.joblib")
    _run(["fit", data, "--target", "score", "--task", "school", "-o", model], capsys)
    return data, model


def _expect_usage_error(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([str(a) for a in argv])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert err.strip().splitlines()[-1].count("error:") == 1


FIT = ["--target", "score", "--task", "school"]


@pytest.mark.parametrize("extra, message", [
    (["--target", "scor", "--task", "school"], "no column 'scor'; the columns are"),
    (["--target", "name", "--task", "school"], "target column 'name' is not numeric"),
    (["--targets", "z_*"], "pattern 'z_*' matches no column"),
    ([], "say where the labels are"),
    (["--targets", "score", "--task", "school"], "not both"),
    (FIT + ["--features", "x1,name"], "feature column 'name' is not numeric"),
    (FIT + ["--features", "x1,score"], "are label columns"),
    (FIT + ["--param", "alpha"], "write name=value"),
    (FIT + ["--param", "colour=1"], "has no parameter 'colour'"),
    (FIT + ["--param", "alpha=-1"], "could not be fitted: alpha must be"),
    (FIT + ["--model", "forest"], "is not a model; use one of ridge"),
])
def test_fit_errors(tmp_path, capsys, extra, message):
    data = _write(tmp_path, _long_frame())
    _expect_usage_error(["fit", data, *extra, "-o", tmp_path / "m.joblib"], message,
                        capsys)
    assert not (tmp_path / "m.joblib").exists()


def test_missing_file_and_empty_cells(tmp_path, capsys):
    _expect_usage_error(["fit", tmp_path / "nope.csv", *FIT], "does not exist", capsys)
    frame = _long_frame()
    frame.loc[4, "x2"] = np.nan
    _expect_usage_error(["fit", _write(tmp_path, frame), *FIT],
                        "feature column 'x2' has 1 empty cell(s) (data row 5)", capsys)
    frame = _long_frame()
    frame.loc[2, "school"] = np.nan
    _expect_usage_error(["fit", _write(tmp_path, frame), *FIT],
                        "task column 'school' has 1 empty cell", capsys)


def test_predict_errors(tmp_path, capsys):
    data, model = _fitted(tmp_path, capsys)
    frame = _long_frame()
    frame["school"] = frame["school"].astype(object)
    frame.loc[[1, 2], "school"] = ["x", "y"]
    _expect_usage_error(["predict", model, _write(tmp_path, frame, "u.csv")],
                        "task(s) 'x', 'y' in column 'school' were not seen at fit; the "
                        "model knows 3, 7, 11", capsys)
    _expect_usage_error(["predict", model, _write(tmp_path, _wide(_long_frame()),
                                                  "w.csv")],
                        "needs its task column 'school'", capsys)
    _expect_usage_error(["predict", model,
                         _write(tmp_path, _long_frame().drop(columns="x3"), "f.csv")],
                        "feature column(s) 'x3' are not in the data file", capsys)
    _expect_usage_error(["predict", data, data], "is not a model saved by rkhsmtl fit",
                        capsys)
    _expect_usage_error(["predict", model, data, "--proba"], "--proba needs a classifier",
                        capsys)
    _expect_usage_error(["evaluate", model,
                         _write(tmp_path, _long_frame().drop(columns="score"), "n.csv")],
                        "no target column 'score'", capsys)


def test_missing_pandas_and_pyarrow_name_the_pip_command(tmp_path, capsys, monkeypatch):
    data, model = _fitted(tmp_path, capsys)
    parquet = tmp_path / "d.parquet"
    parquet.write_bytes(b"PAR1")
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "fastparquet", None)
    _expect_usage_error(["fit", parquet, *FIT], "pip install 'rkhsmtl[parquet]'", capsys)
    monkeypatch.setitem(sys.modules, "pandas", None)
    _expect_usage_error(["predict", model, data], "pip install 'rkhsmtl[io]'", capsys)


def test_a_model_from_another_version_warns(tmp_path, capsys):
    data, model = _fitted(tmp_path, capsys)
    bundle = joblib.load(model)
    bundle["rkhsmtl_version"] = "0.0.1"
    joblib.dump(bundle, model)
    status, captured = _run(["predict", model, data], capsys)
    assert status == 0 and len(pd.read_csv(io.StringIO(captured.out))) == 45
    assert "rkhsmtl predict: warning:" in captured.err
    assert "saved by rkhsmtl 0.0.1" in captured.err and "refit" in captured.err
    with pytest.warns(UserWarning, match="saved by rkhsmtl 0.0.1"):
        load_model(model)
