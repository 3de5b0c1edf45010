"""Saving and loading fitted models: pickle, joblib, skops, and the version stamp."""

import io
import pickle
import warnings

import joblib
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression, Ridge

import rkhsmtl
from rkhsmtl import (
    DistributionMatchingMTL,
    MultiTaskKernelClassifier,
    MultiTaskKernelClassifierCV,
    MultiTaskKernelRidge,
    MultiTaskKernelRidgeCV,
)
from rkhsmtl.exceptions import InconsistentVersionWarning
from rkhsmtl.experiments import PerTaskEstimator
from rkhsmtl.linear import (
    Dirty,
    GOMTLRegressor,
    MultiTaskLinearClassifier,
    MultiTaskLinearClassifierCV,
    MultiTaskLinearRegressor,
    MultiTaskLinearRegressorCV,
)
from rkhsmtl.metrics import make_multitask_scorer, mean_squared_error
from rkhsmtl.model_selection import MultiTaskGridSearchCV, MultiTaskRandomizedSearchCV
from rkhsmtl.persistence import trusted_types
from rkhsmtl.structure import Graph, LowRank, MeanRegularized
from rkhsmtl.weighting import (
    KLIEP,
    ULSIF,
    ClassifierDensityRatio,
    KernelMeanMatching,
    RuLSIF,
    TaskPosteriorRatio,
)

N, D, T = 24, 3, 3

# Small grids of kernel widths and ridges keep the ratio fits cheap.
GRID = dict(sigmas=[0.5, 1.0], lambdas=[0.1, 1.0])
KLIEP_GRID = dict(n_centers=8, cv=2, sigmas=[0.5, 1.0])


def _data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((N, D))
    Y = X @ rng.standard_normal((D, T)) + 0.1 * rng.standard_normal((N, T))
    Y[rng.random((N, T)) < 0.25] = np.nan
    # Labels of every kind the classifiers keep: numbers, and strings with None.
    labels = np.where(Y > 0, 1.0, 0.0)
    labels[np.isnan(Y)] = np.nan
    words = np.where(Y > 0, "yes", "no").astype(object)
    words[np.isnan(Y)] = None
    return X, Y, labels, words


X, Y, LABELS, WORDS = _data()
TARGETS = {"regression": Y, "labels": LABELS, "words": WORDS}

# (id, estimator, target) -- one of each family and solver path.
SUPERVISED = [
    ("ridge-fixed", MultiTaskKernelRidge(task_structure=MeanRegularized()), "regression"),
    ("ridge-cg", MultiTaskKernelRidge(task_structure=Graph("chain"), solver="cg"),
     "regression"),
    ("ridge-learned", MultiTaskKernelRidge(task_structure=LowRank()), "regression"),
    ("ridge-primal", MultiTaskKernelRidge(kernel="linear", solver="primal"), "regression"),
    ("ridge-cv", MultiTaskKernelRidgeCV(), "regression"),
    ("classifier-cv", MultiTaskKernelClassifierCV(alphas=(0.1, 1.0), cv=2), "words"),
    ("gomtl", GOMTLRegressor(random_state=0), "regression"),
    ("classifier", MultiTaskKernelClassifier(task_structure="relation"), "words"),
    ("classifier-numeric", MultiTaskKernelClassifier(), "labels"),
    ("linear", MultiTaskLinearRegressor(0.1, penalty=Dirty()), "regression"),
    ("linear-classifier", MultiTaskLinearClassifier(0.05), "words"),
    ("linear-cv", MultiTaskLinearRegressorCV(n_alphas=2, cv=2), "regression"),
    ("linear-classifier-cv", MultiTaskLinearClassifierCV(n_alphas=2, cv=2, tol=1e-4),
     "labels"),
    ("distribution-matching", DistributionMatchingMTL(weighting_cv=2, random_state=0),
     "regression"),
    ("distribution-matching-per-task",
     DistributionMatchingMTL(Ridge(), weighting_cv=None, random_state=0), "regression"),
    ("grid-search", MultiTaskGridSearchCV(MultiTaskKernelRidge(), {"alpha": [0.1, 1.0]},
                                          cv=2, scoring="r2"), "regression"),
    ("randomized-search",
     MultiTaskRandomizedSearchCV(
         MultiTaskKernelClassifier(), {"alpha": [0.1, 1.0]}, n_iter=2, cv=2,
         random_state=0,
         scoring={"acc": "accuracy",
                  "mse": make_multitask_scorer(mean_squared_error, per_task=True,
                                               greater_is_better=False,
                                               response_method="predict_proba")},
         refit="acc"), "labels"),
    ("per-task", PerTaskEstimator(Ridge()), "regression"),
]

_FITTED = {}


def _fitted(case):
    """Each model is fitted once for all the round trips."""
    name, estimator, target = case
    if name not in _FITTED:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # convergence on this tiny problem
            _FITTED[name] = clone(estimator).fit(X, TARGETS[target])
    return _FITTED[name]


def _outputs(model):
    outputs = [model.predict(X)]
    for method in ("predict_proba", "decision_function"):
        if hasattr(model, method):
            outputs.append(getattr(model, method)(X))
    return outputs


def _pickle(model):
    return pickle.loads(pickle.dumps(model))


def _joblib(model):
    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    buffer.seek(0)
    return joblib.load(buffer)


def _skops(model):
    sio = pytest.importorskip("skops.io")
    return sio.loads(sio.dumps(model), trusted=trusted_types())


def _assert_same_outputs(loaded, model):
    assert type(loaded) is type(model)
    for got, expected in zip(_outputs(loaded), _outputs(model), strict=True):
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("save_load", [_pickle, _joblib, _skops],
                         ids=["pickle", "joblib", "skops"])
@pytest.mark.parametrize("case", SUPERVISED, ids=[c[0] for c in SUPERVISED])
def test_round_trip_gives_identical_predictions(case, save_load):
    model = _fitted(case)
    with warnings.catch_warnings():
        warnings.simplefilter("error", InconsistentVersionWarning)
        loaded = save_load(model)
    _assert_same_outputs(loaded, model)
    assert "_rkhsmtl_version" not in vars(loaded)


_RATIO_MODELS = []


def _ratio_models():
    """Fitted density-ratio models and where to compare their ratios (fitted once)."""
    if not _RATIO_MODELS:
        X_nu, X_de = X[:10], X[10:]
        task = np.arange(N) % T
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # convergence on this tiny problem
            _RATIO_MODELS.extend([
                (ULSIF(n_centers=8, **GRID, random_state=0).fit(X_nu, X_de), X_de),
                (RuLSIF(n_centers=8, **GRID, random_state=0).fit(X_nu, X_de), X_de),
                (KLIEP(**KLIEP_GRID, random_state=0).fit(X_nu, X_de), X_de),
                (KernelMeanMatching().fit(X_nu, X_de), X_de),
                (ClassifierDensityRatio(LogisticRegression(C=0.5)).fit(X_nu, X_de), X_de),
                (TaskPosteriorRatio(kernel="rbf", n_components=10,
                                    random_state=0).fit(X, task), X),
            ])
    return _RATIO_MODELS


@pytest.mark.parametrize("save_load", [_pickle, _joblib, _skops],
                         ids=["pickle", "joblib", "skops"])
def test_density_ratio_round_trip_gives_identical_ratios(save_load):
    for model, X_eval in _ratio_models():
        loaded = save_load(model)
        assert type(loaded) is type(model)
        np.testing.assert_array_equal(loaded.ratio(X_eval), model.ratio(X_eval))


def test_skops_needs_exactly_trusted_rkhsmtl_types():
    sio = pytest.importorskip("skops.io")
    dumped = [sio.dumps(_fitted(case)) for case in SUPERVISED]
    untrusted = set().union(*(sio.get_untrusted_types(data=d) for d in dumped))
    trusted = set(trusted_types())
    # Nothing of rkhsmtl is left for the user to trust by hand...
    assert {t for t in untrusted if t.startswith("rkhsmtl")} <= trusted
    # ...and the list names only what skops would otherwise refuse.
    assert all(t.startswith("rkhsmtl.") for t in trusted)
    assert "rkhsmtl.ridge.MultiTaskKernelRidge" in trusted
    assert "rkhsmtl.structure._learned.LowRank" in trusted
    with pytest.raises(sio.exceptions.UntrustedTypesFoundException):
        sio.loads(dumped[0], trusted=[])


def _saved_by(version, monkeypatch, dump):
    """What ``dump`` writes when the installed rkhsmtl is ``version``."""
    model = _fitted(SUPERVISED[0])
    with monkeypatch.context() as patch:
        patch.setattr(rkhsmtl, "__version__", version)
        return model, dump(model)


@pytest.mark.parametrize("backend", ["pickle", "skops"])
def test_a_model_saved_by_another_version_warns_on_load(backend, monkeypatch):
    if backend == "skops":
        sio = pytest.importorskip("skops.io")
        dump, load = sio.dumps, lambda data: sio.loads(data, trusted=trusted_types())
    else:
        dump, load = pickle.dumps, pickle.loads
    model, data = _saved_by("0.0.1", monkeypatch, dump)
    with pytest.warns(InconsistentVersionWarning, match="saved by rkhsmtl 0.0.1") as record:
        loaded = load(data)
    warning = record[0].message
    assert warning.estimator_name == "MultiTaskKernelRidge"
    assert (warning.original_version, warning.current_version) == (
        "0.0.1", rkhsmtl.__version__)
    assert f"loaded by rkhsmtl {rkhsmtl.__version__}" in str(warning)
    # The stamp is read, not kept: the loaded model is the model.
    assert "_rkhsmtl_version" not in vars(loaded)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def test_the_same_version_and_sklearn_stamps_load_silently():
    # A per-task scikit-learn model inside an rkhsmtl one keeps scikit-learn's own
    # version stamp next to ours.
    model = _fitted(SUPERVISED[-1])
    data = pickle.dumps(model)
    assert b"_rkhsmtl_version" in data and b"_sklearn_version" in data
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded = pickle.loads(data)
    assert "_sklearn_version" not in vars(loaded.estimators_[0])


def test_a_state_without_a_version_warns():
    model = _fitted(SUPERVISED[0])
    state = model.__getstate__()
    assert state["_rkhsmtl_version"] == rkhsmtl.__version__
    del state["_rkhsmtl_version"]
    blank = MultiTaskKernelRidge.__new__(MultiTaskKernelRidge)
    with pytest.warns(InconsistentVersionWarning, match="did not record it"):
        blank.__setstate__(state)
    np.testing.assert_array_equal(blank.predict(X), model.predict(X))


def test_clone_and_get_params_ignore_the_stamp():
    model = _fitted(SUPERVISED[0])
    assert "_rkhsmtl_version" not in vars(model)
    assert "_rkhsmtl_version" not in model.get_params()
    assert repr(clone(_pickle(model))) == repr(model)
