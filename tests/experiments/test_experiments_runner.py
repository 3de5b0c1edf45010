"""rkhsmtl.experiments: units, splits, scores, cache, failures and results tables."""

import json
import os
import warnings

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import KFold, ShuffleSplit
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from rkhsmtl import MultiTaskKernelRidge
from rkhsmtl.datasets import make_multitask_regression, train_test_split_per_task
from rkhsmtl.experiments import (
    Dataset,
    ExperimentResults,
    PerTaskEstimator,
    PerTaskSplits,
    expand_grid,
    run_experiment,
)
from rkhsmtl.metrics import accuracy_score
from rkhsmtl.model_selection import MultiTaskStratifiedKFold

SCORES = ["dataset", "method", "split", "metric", "average", "task", "value"]


def toy_loader(n_samples=40, seed=0):
    """An importable loader (the workers call it by name)."""
    X, Y, _ = make_multitask_regression(n_samples=n_samples, n_features=3, n_tasks=3,
                                        missing_fraction=0.2, random_state=seed)
    return X, Y


@pytest.fixture(scope="module")
def toy():
    return toy_loader()


def _methods():
    return {"independent": MultiTaskKernelRidge(task_structure="independent"),
            "pooled": MultiTaskKernelRidge(task_structure="pooled")}


def _scores(results):
    """The score columns, NaN made comparable (undefined values, failed units)."""
    return [tuple("nan" if isinstance(v, float) and v != v else v
                  for v in (r[c] for c in SCORES)) for r in results.to_records()]


def test_a_unit_scores_what_a_plain_fit_on_its_split_scores(toy):
    X, Y = toy
    results = run_experiment({"m": MultiTaskKernelRidge(alpha=0.3)}, (X, Y),
                             splits=PerTaskSplits(0.6, seeds=[3]), scoring=["mse"],
                             progress=False)
    # Brute force: split every task's observed entries, fit on the training ones.
    rows, cols = np.nonzero(~np.isnan(Y))
    train, test = train_test_split_per_task(cols, train_size=0.6, random_state=3)
    Y_train = np.full(Y.shape, np.nan)
    Y_train[rows[train], cols[train]] = Y[rows[train], cols[train]]
    fit_rows = np.flatnonzero(~np.isnan(Y_train).all(axis=1))
    model = MultiTaskKernelRidge(alpha=0.3).fit(X[fit_rows], Y_train[fit_rows])
    errors = (model.predict(X) - Y) ** 2
    test_mask = np.zeros(Y.shape, bool)
    test_mask[rows[test], cols[test]] = True
    per_task = [errors[test_mask[:, t], t].mean() for t in range(Y.shape[1])]

    table = results.to_records()
    got = {(r["average"], r["task"]): r["value"] for r in table}
    for t in range(Y.shape[1]):
        assert got[("task", t)] == pytest.approx(per_task[t], rel=1e-10)
    assert got[("macro", None)] == pytest.approx(np.mean(per_task), rel=1e-10)
    assert got[("micro", None)] == pytest.approx(errors[test_mask].mean(), rel=1e-10)
    assert table[0]["n_train"] == train.size and table[0]["n_test"] == test.size
    assert table[0]["solver"] == model.solver_ and table[0]["converged"] is True
    assert table[0]["fit_time"] > 0 and table[0]["split"] == 3


def test_the_table_has_one_row_per_dataset_method_split_metric_and_task(toy):
    results = run_experiment(_methods(), {"a": toy, "b": Dataset(*toy, tasks=2)},
                             splits=PerTaskSplits(seeds=2), scoring=["mse", "r2"],
                             progress=False)
    frame = results.to_frame()
    # 2 methods x 2 splits x 2 metrics x (tasks + macro + micro), per data set.
    assert len(frame) == 2 * 2 * 2 * (3 + 2) + 2 * 2 * 2 * (2 + 2)
    assert results.n_units == 8 and results.n_computed == 8 and results.n_failed == 0
    assert list(frame.columns)[:7] == SCORES
    assert set(frame["average"]) == {"task", "macro", "micro"}
    assert frame.loc[frame["average"] == "task", "task"].map(type).eq(int).all()
    assert results.datasets == ["a", "b"] and results.methods == ["independent", "pooled"]


def test_identical_tables_with_one_and_two_loky_workers(toy):
    kwargs = dict(splits=PerTaskSplits(seeds=3), scoring=["mse", "r2"], progress=False)
    sequential = run_experiment(_methods(), toy, n_jobs=1, **kwargs)
    parallel = run_experiment(_methods(), toy, n_jobs=2, **kwargs)
    assert _scores(sequential) == _scores(parallel)
    assert len({r["pid"] for r in parallel._records.values()}) >= 1


def test_a_failing_unit_is_recorded_and_the_others_complete(toy):
    methods = {**_methods(), "broken": MultiTaskKernelRidge(alpha=-1.0)}
    results = run_experiment(methods, toy, splits=PerTaskSplits(seeds=2),
                             scoring=["mse"], progress=False)
    assert results.n_failed == 2
    failures = results.failures(as_frame=False)
    assert [(f["method"], f["split"]) for f in failures] == [("broken", 0), ("broken", 1)]
    assert failures[0]["error_type"] == "ValueError"
    assert "alpha must be a positive" in failures[0]["error_message"]
    assert "Traceback" in failures[0]["traceback"]
    frame = results.to_frame()
    broken = frame[frame["method"] == "broken"]
    assert len(broken) == 2 and broken["status"].eq("error").all()
    assert broken["value"].isna().all()
    ok = frame[frame["method"] != "broken"]
    assert ok["status"].eq("ok").all() and ok["value"].notna().all()
    summary = {(r["method"], r["metric"]): r for r in results.summary(as_frame=False)}
    assert summary[("broken", None)]["n_failed"] == 2
    assert summary[("pooled", "mse")]["n_splits"] == 2


def test_on_error_raise_stops_with_the_units_exception(toy):
    with pytest.raises(ValueError, match="alpha must be a positive"):
        run_experiment({"broken": MultiTaskKernelRidge(alpha=-1.0)}, toy,
                       splits=PerTaskSplits(seeds=1), on_error="raise", progress=False)


def test_seeded_or_unshuffled_splitters_are_accepted(toy):
    for cv in (KFold(3), KFold(3, shuffle=True, random_state=0),
               ShuffleSplit(2, test_size=0.3, random_state=1)):
        results = run_experiment({"m": MultiTaskKernelRidge()}, toy, splits=cv,
                                 scoring=["mse"], progress=False)
        assert results.n_failed == 0


def test_on_unit_reports_every_unit_and_return_models_keeps_the_fitted_ones(toy,
                                                                          tmp_path):
    kwargs = dict(splits=PerTaskSplits(seeds=2), scoring=["mse"], progress=False,
                  cache_dir=tmp_path)
    methods = {**_methods(), "broken": MultiTaskKernelRidge(alpha=-1.0)}
    seen = []
    first = run_experiment(methods, toy, on_unit=lambda u, r: seen.append((u, r)),
                           return_models=True, n_jobs=2, **kwargs)
    assert sorted((u["method"], u["split"], u["cached"]) for u, _ in seen) == sorted(
        (m, s, False) for m in methods for s in (0, 1))
    # The reported records are the ones of the table.
    for unit, record in seen:
        if unit["method"] == "broken":
            assert record["status"] == "error" and record["error_type"] == "ValueError"
            continue
        table = first.to_frame()
        rows = table[(table["method"] == unit["method"]) & (table["split"] ==
                     unit["split"]) & (table["average"] == "macro")]
        assert rows["value"].item() == record["scores"]["mse"]["macro"]
    # Fitted models of the units that succeeded, equal to a fit on their split.
    assert sorted(first.models) == sorted(("data", m, s) for m in _methods()
                                          for s in (0, 1))
    X, Y = toy
    model = first.models["data", "pooled", 1]
    train, _ = PerTaskSplits(seeds=2).masks(X, Y, ~np.isnan(Y), 1)
    rows = train.any(axis=1)
    reference = MultiTaskKernelRidge(task_structure="pooled").fit(
        X[rows], np.where(train, Y, np.nan)[rows])
    np.testing.assert_allclose(model.predict(X), reference.predict(X), rtol=1e-12)
    # Cached units are reported as such, and have no model.
    seen.clear()
    again = run_experiment(_methods(), toy, on_unit=lambda u, r: seen.append((u, r)),
                           return_models=True, **kwargs)
    assert len(seen) == 4 and all(u["cached"] for u, _ in seen)
    assert again.models == {}
    assert run_experiment(_methods(), toy, **kwargs).models == {}


def test_the_cache_recomputes_only_missing_or_changed_units(toy, tmp_path):
    kwargs = dict(scoring=["mse"], progress=False, cache_dir=tmp_path)
    first = run_experiment(_methods(), toy, splits=PerTaskSplits(seeds=2), **kwargs)
    assert (first.n_computed, first.n_cached) == (4, 0)
    again = run_experiment(_methods(), toy, splits=PerTaskSplits(seeds=2), **kwargs)
    assert (again.n_computed, again.n_cached) == (0, 4)
    assert _scores(again) == _scores(first)
    # One changed parameter: only that method's units; one more seed: only its units.
    changed = {**_methods(), "pooled": MultiTaskKernelRidge(task_structure="pooled",
                                                            alpha=2.0)}
    third = run_experiment(changed, toy, splits=PerTaskSplits(seeds=3), **kwargs)
    assert (third.n_computed, third.n_cached) == (3 + 1, 2)
    # Renaming a method reuses its records.
    renamed = run_experiment({"ind": MultiTaskKernelRidge(task_structure="independent")},
                             toy, splits=PerTaskSplits(seeds=2), **kwargs)
    assert renamed.n_cached == 2


def test_failed_units_are_not_cached_and_a_corrupt_record_is_recomputed(toy, tmp_path):
    methods = {"ok": MultiTaskKernelRidge(), "broken": MultiTaskKernelRidge(alpha=-1.0)}
    kwargs = dict(splits=PerTaskSplits(seeds=1), scoring=["mse"], progress=False,
                  cache_dir=tmp_path)
    run_experiment(methods, toy, **kwargs)
    files = [os.path.join(d, f) for d, _, fs in os.walk(tmp_path) for f in fs]
    assert len(files) == 1 and files[0].endswith(".json")
    with open(files[0], "w") as fh:
        fh.write('{"status": "ok", "sco')
    with pytest.warns(RuntimeWarning, match="unreadable cached unit"):
        again = run_experiment(methods, toy, **kwargs)
    assert (again.n_computed, again.n_cached, again.n_failed) == (2, 0, 1)
    with open(files[0]) as fh:
        assert json.load(fh)["status"] == "ok"


def test_a_loader_is_fingerprinted_by_name_and_gives_the_arrays_results(toy, tmp_path):
    lazy = Dataset.from_loader(toy_loader, n_samples=40)
    assert lazy.is_lazy and "toy_loader" in repr(lazy)
    kwargs = dict(splits=PerTaskSplits(seeds=2), scoring=["mse"], progress=False)
    from_loader = run_experiment(_methods(), lazy, **kwargs)
    from_arrays = run_experiment(_methods(), toy, **kwargs)
    assert _scores(from_loader) == _scores(from_arrays)
    assert lazy.fingerprint() == Dataset.from_loader(
        "test_experiments_runner:toy_loader", n_samples=40).fingerprint()
    assert lazy.fingerprint() != Dataset.from_loader(toy_loader, n_samples=40,
                                                     version=2).fingerprint()


def test_long_layout_with_named_tasks_and_task_selection():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 2))
    task = np.array(["north", "south", "east"] * 20)
    y = X[:, 0] + (task == "east") + 0.1 * rng.normal(size=60)
    data = Dataset.from_long(X, y, task, tasks=["south", "east"])
    X_wide, Y, names = data.load()
    assert names == ["south", "east"] and Y.shape == (40, 2)
    results = run_experiment({"m": MultiTaskKernelRidge()}, data,
                             splits=PerTaskSplits(seeds=1), scoring=["r2"],
                             progress=False)
    tasks = [r["task"] for r in results.to_records() if r["average"] == "task"]
    assert tasks == ["south", "east"]


def test_per_task_splits_reproduce_the_school_protocol_split():
    task = np.repeat([0, 1, 2], [7, 12, 5])
    y = np.arange(task.size, dtype=float)
    _, Y, _ = Dataset.from_long(np.zeros((task.size, 1)), y, task).load()
    train, test = PerTaskSplits(0.75, seeds=[4]).masks(None, Y, ~np.isnan(Y), 0)
    expected_train, expected_test = train_test_split_per_task(task, train_size=0.75,
                                                              random_state=4)
    np.testing.assert_array_equal(np.flatnonzero(train.any(axis=1)), expected_train)
    np.testing.assert_array_equal(np.flatnonzero(test.any(axis=1)), expected_test)


def test_kfold_splitter_and_given_masks(toy):
    X, Y = toy
    cv = MultiTaskStratifiedKFold(n_splits=3, shuffle=True, random_state=0)
    by_folds = run_experiment({"m": MultiTaskKernelRidge()}, toy, splits=cv,
                              scoring=["mse"], progress=False)
    assert by_folds.n_units == 3
    # The same folds given as row indices give the same table.
    pairs = list(cv.split(X, Y))
    given = run_experiment({"m": MultiTaskKernelRidge()}, toy, splits=pairs,
                           scoring=["mse"], progress=False)
    assert _scores(given) == _scores(by_folds)
    # Test entries of the folds cover every observed label once.
    n_test = sum(r["n_test"] for r in by_folds.units(as_frame=False))
    assert n_test == int((~np.isnan(Y)).sum())
    # Entry masks: the test part of a fold restricted to task 0.
    train_rows, test_rows = pairs[0]
    entry = np.zeros(Y.shape, bool)
    entry[test_rows, 0] = True
    masked = run_experiment({"m": MultiTaskKernelRidge()}, toy,
                            splits=[(train_rows, entry)], scoring=["mse"],
                            progress=False)
    assert masked.units(as_frame=False)[0]["n_test"] == int(
        (~np.isnan(Y[test_rows, 0])).sum())


def test_per_task_baseline_and_pipelines_run_beside_multitask_models(toy):
    X, Y = toy
    methods = {"ridge per task": PerTaskEstimator(Ridge(alpha=1.0)),
               "scaled": make_pipeline(StandardScaler(), MultiTaskKernelRidge())}
    results = run_experiment(methods, toy, splits=PerTaskSplits(seeds=1),
                             scoring=["mse"], progress=False)
    assert results.n_failed == 0
    units = results.units(as_frame=False)
    assert units[1]["solver"] is not None  # read from the pipeline's last step
    # The per-task baseline is a Ridge per task on that task's labels.
    model = PerTaskEstimator(Ridge(alpha=1.0)).fit(X, Y)
    for t, est in enumerate(model.estimators_):
        rows = ~np.isnan(Y[:, t])
        np.testing.assert_allclose(est.coef_, Ridge(alpha=1.0).fit(X[rows], Y[rows, t]).coef_)


def test_classification_with_string_labels_per_task_scores():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 2))
    Y = np.where(X[:, [0, 1]] + 0.3 * rng.normal(size=(80, 2)) > 0, "yes", "no")
    Y = Y.astype(object)
    Y[rng.random(Y.shape) < 0.2] = None
    results = run_experiment({"logistic": PerTaskEstimator(LogisticRegression())},
                             (X, Y), splits=PerTaskSplits(seeds=[1]),
                             scoring=["accuracy", "roc_auc"], progress=False)
    assert results.n_failed == 0
    got = {(r["metric"], r["average"], r["task"]): r["value"]
           for r in results.to_records()}
    # Brute force: one LogisticRegression per task on its training labels.
    observed = np.not_equal(Y, None)
    rows, cols = np.nonzero(observed)
    train, test = train_test_split_per_task(cols, train_size=0.75, random_state=1)
    Y_test = np.full(Y.shape, None, dtype=object)
    Y_test[rows[test], cols[test]] = Y[rows[test], cols[test]]
    predictions = np.empty(Y.shape, dtype=object)
    for t in range(2):
        fit = rows[train][cols[train] == t]
        model = LogisticRegression().fit(X[fit], Y[fit, t].astype(str))
        predictions[:, t] = model.predict(X)
    for t in range(2):
        expected = accuracy_score(Y_test[:, [t]], predictions[:, [t]])
        assert got[("accuracy", "task", t)] == pytest.approx(expected)
    assert 0.5 < got[("roc_auc", "macro", None)] <= 1.0


def test_scoring_names_signs_and_scorers(toy):
    from rkhsmtl.metrics import make_multitask_scorer

    results = run_experiment(
        {"m": MultiTaskKernelRidge()}, toy, splits=PerTaskSplits(seeds=1),
        scoring={"mse": "mse", "neg": "neg_mean_squared_error",
                 "scorer": make_multitask_scorer("mse", greater_is_better=False)},
        progress=False)
    values = {(r["metric"], r["average"], r["task"]): r["value"]
              for r in results.to_records()}
    for average, task in (("task", 0), ("macro", None), ("micro", None)):
        assert values[("mse", average, task)] > 0
        assert values[("neg", average, task)] == -values[("mse", average, task)]
        assert values[("scorer", average, task)] == -values[("mse", average, task)]


def test_summary_is_the_mean_and_std_of_the_aggregates(toy):
    results = run_experiment(_methods(), toy, splits=PerTaskSplits(seeds=3),
                             scoring=["mse"], progress=False)
    rows = results.to_records()
    for average in ("macro", "micro"):
        summary = {r["method"]: r for r in results.summary(average=average,
                                                           as_frame=False)}
        for method in ("independent", "pooled"):
            values = [r["value"] for r in rows if r["method"] == method
                      and r["average"] == average]
            assert summary[method]["mean"] == pytest.approx(np.mean(values))
            assert summary[method]["std"] == pytest.approx(np.std(values))
            assert summary[method]["n_splits"] == 3
    text = results.format_summary()
    assert "mse (macro)" in text and "independent" in text and "±" in text


def _handmade_results():
    """Two methods, two splits, two tasks, one loss: every gain known by hand."""
    def record(values):
        return {"status": "ok", "task_names": ["a", "b"], "fit_time": 1.0,
                "scores": {"mse": {"task": values, "macro": float(np.mean(values)),
                                   "micro": float(np.mean(values)),
                                   "greater_is_better": False}}}
    values = {("base", 0): [2.0, 4.0], ("base", 1): [2.0, 2.0],
              ("mtl", 0): [1.0, 5.0], ("mtl", 1): [1.0, 3.0]}
    units = [{"dataset": "d", "method": m, "split": s, "key": f"{m}{s}"}
             for m in ("base", "mtl") for s in (0, 1)]
    records = {f"{m}{s}": record(v) for (m, s), v in values.items()}
    return ExperimentResults(units, records)


def test_transfer_report_gains_negative_transfer_and_delta():
    report = _handmade_results().transfer_report("base")
    tasks = {r["task"]: r for r in report.tasks}
    # A loss: gain = baseline - method. Task a: +1, +1; task b: -1, -1.
    assert tasks["a"]["gain"] == 1.0 and tasks["a"]["gain_std"] == 0.0
    assert tasks["b"]["gain"] == -1.0 and tasks["b"]["negative_transfer"]
    assert not tasks["a"]["negative_transfer"]
    assert [r["task"] for r in report.negative_transfer()] == ["b"]
    # Delta per split: mean of -(M_m - M_b) / M_b over tasks, in percent.
    split0 = 100 * np.mean([(2 - 1) / 2, (4 - 5) / 4])
    split1 = 100 * np.mean([(2 - 1) / 2, (2 - 3) / 2])
    (delta,) = report.delta
    assert delta["delta"] == pytest.approx(np.mean([split0, split1]))
    assert delta["delta_std"] == pytest.approx(np.std([split0, split1]))
    assert delta["n_negative"] == 1 and delta["n_tasks"] == 2
    text = str(report)
    assert "mtl" in text and "1/2" in text and "b (-1.0000" in text
    with pytest.raises(ValueError, match="baseline 'nope' is not a method"):
        _handmade_results().transfer_report("nope")


def test_plots_draw_methods_and_sorted_task_gains():
    plt = pytest.importorskip("matplotlib.pyplot")
    results = _handmade_results()
    ax = results.plot("mse")
    assert [t.get_text() for t in ax.get_yticklabels()] == ["base", "mtl"]
    ax = results.transfer_report("base").plot("mtl")
    assert [t.get_text() for t in ax.get_xticklabels()] == ["b", "a"]
    plt.close("all")


def test_records_without_pandas_and_csv_export(toy, tmp_path):
    results = run_experiment({"m": MultiTaskKernelRidge()}, toy,
                             splits=PerTaskSplits(seeds=1), scoring=["mse"],
                             progress=False)
    records = results.to_records()
    assert isinstance(records, list) and records[0]["metric"] == "mse"
    assert isinstance(results.summary(as_frame=False), list)
    results.to_csv(tmp_path / "table.csv")
    import pandas as pd

    back = pd.read_csv(tmp_path / "table.csv")
    np.testing.assert_allclose(back["value"], [r["value"] for r in records], rtol=1e-15)


def test_parquet_export_round_trips_the_table(tmp_path):
    pytest.importorskip("pyarrow")
    import pandas as pd

    # Named tasks mixed with the aggregates' missing task name.
    X, Y, _ = make_multitask_regression(n_samples=30, n_features=3, n_tasks=2,
                                        random_state=1)
    frame_Y = pd.DataFrame(Y, columns=["north", "south"])
    results = run_experiment({"m": MultiTaskKernelRidge()}, (X, frame_Y),
                             splits=PerTaskSplits(seeds=2), scoring=["mse", "r2"],
                             progress=False)
    results.to_parquet(tmp_path / "table.parquet")
    back = pd.read_parquet(tmp_path / "table.parquet")
    table = results.to_frame()
    assert list(back.columns) == list(table.columns) and len(back) == len(table)
    np.testing.assert_array_equal(back["value"].to_numpy(), table["value"].to_numpy())
    assert set(back["task"].dropna()) == {"north", "south"}
    assert back["task"].isna().sum() == table["task"].isna().sum()


def test_progress_bar_on_stderr_and_silent_when_asked(toy, capsys):
    run_experiment({"m": MultiTaskKernelRidge()}, toy, splits=PerTaskSplits(seeds=2),
                   scoring=["mse"], progress=True)
    assert "2/2" in capsys.readouterr().err
    run_experiment({"m": MultiTaskKernelRidge()}, toy, splits=PerTaskSplits(seeds=2),
                   scoring=["mse"], progress=False)
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""


def test_expand_grid_names_one_method_per_point():
    grid = expand_grid("ridge", MultiTaskKernelRidge(), {"alpha": [0.1, 1.0],
                                                         "kernel": ["linear"]})
    assert sorted(grid) == ["ridge[alpha=0.1,kernel='linear']",
                            "ridge[alpha=1.0,kernel='linear']"]
    assert grid["ridge[alpha=0.1,kernel='linear']"].alpha == 0.1


@pytest.mark.parametrize("kwargs, match", [
    (dict(estimators={}), "non-empty dict"),
    (dict(estimators={"m": object()}), "has no fit method"),
    (dict(data=[1, 2, 3, 4]), "must be a Dataset, a tuple"),
    (dict(scoring=["nope"]), "Unknown metric 'nope'"),
    (dict(scoring=["mse", "mse"]), "must be distinct"),
    (dict(splits="kfold"), "splits must be a PerTaskSplits"),
    (dict(on_error="ignore"), "on_error must be 'record' or 'raise'"),
    (dict(inner_threads=0), "inner_threads must be"),
    (dict(on_unit="print"), "on_unit must be a callable"),
    # Folds drawn again in every worker must be the same folds.
    (dict(splits=MultiTaskStratifiedKFold(3, shuffle=True)), "without an integer "
                                                              "random_state"),
    (dict(splits=ShuffleSplit(3)), "without an integer random_state"),
])
def test_malformed_arguments_say_what_is_wrong(toy, kwargs, match):
    arguments = dict(estimators={"m": MultiTaskKernelRidge()}, data=toy,
                     splits=PerTaskSplits(seeds=1), progress=False)
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=match):
        run_experiment(arguments.pop("estimators"), arguments.pop("data"), **arguments)


def test_per_task_splits_and_loaders_reject_bad_values():
    with pytest.raises(ValueError, match="train_size must be a float in"):
        PerTaskSplits(1.5)
    with pytest.raises(ValueError, match="seeds must be distinct"):
        PerTaskSplits(seeds=[1, 1])
    with pytest.raises(ValueError, match="importable function"):
        Dataset.from_loader(lambda: None)
    with pytest.raises(ValueError, match="tasks=5 asks for the first 5"):
        Dataset(np.zeros((3, 1)), np.ones((3, 2)), tasks=5)


def test_per_task_estimator_refuses_a_task_without_labels():
    Y = np.array([[1.0, np.nan], [2.0, np.nan]])
    with pytest.raises(ValueError, match="Task 1 has no observed label"):
        PerTaskEstimator(Ridge()).fit(np.eye(2), Y)


def test_convergence_warnings_mark_a_unit_as_not_converged(toy):
    from rkhsmtl.structure import TaskRelation

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing may leak out of a unit
        results = run_experiment(
            {"learned": MultiTaskKernelRidge(task_structure=TaskRelation(strength=1.0),
                                             max_iter=1, tol=1e-12)},
            toy, splits=PerTaskSplits(seeds=1), scoring=["mse"], progress=False)
    (unit,) = results.units(as_frame=False)
    assert unit["converged"] is False and unit["n_iter"] == 1
    assert "ConvergenceWarning" in unit["warnings"]


def test_blas_threads_are_shared_between_parallel_units_only():
    from joblib import parallel_config

    from rkhsmtl.experiments._runner import _inner_threads

    cores = os.cpu_count() or 1
    assert _inner_threads("auto", 1) is None and _inner_threads("auto", None) is None
    assert _inner_threads("auto", 2) == max(1, cores // 2)
    with parallel_config(n_jobs=2):
        assert _inner_threads("auto", None) == max(1, cores // 2)
    assert _inner_threads(3, 1) == 3 and _inner_threads(None, 4) is None
