"""Regularised linear multi-task learning (the MALSAR / RMTL family).

Estimators :class:`MultiTaskLinearRegressor` (squared loss) and
:class:`MultiTaskLinearClassifier` (logistic loss) over ``W`` (features x tasks) with
per-task intercepts, composed from a data-fit term and a penalty object, solved by
accelerated proximal gradient (FISTA with backtracking and adaptive restart).
"""

import warnings

from ._cv import MultiTaskLinearClassifierCV, MultiTaskLinearRegressorCV
from ._estimators import MultiTaskLinearClassifier, MultiTaskLinearRegressor
from ._factored import (
    GOMTLClassifier,
    GOMTLRegressor,
    MultiLevelLassoClassifier,
    MultiLevelLassoRegressor,
)
from ._msmtfl import MultiStageFeatureLearningClassifier, MultiStageFeatureLearningRegressor
from ._path import alpha_max, linear_path, tasks_to_wide
from ._penalties import (
    L21,
    ClusteredMTL,
    ConvexASO,
    Dirty,
    FusedSparseGroupLasso,
    GraphPenalty,
    Lasso,
    LinearPenalty,
    MultiLevel,
    NoPenalty,
    RobustLowRank,
    RobustMTFL,
    SparseLowRank,
    TemporalGroupLasso,
    TraceNorm,
)

__all__ = [
    "ClusteredMTL",
    "ConvexASO",
    "Dirty",
    "FusedSparseGroupLasso",
    "GOMTLClassifier",
    "GOMTLRegressor",
    "GraphPenalty",
    "L21",
    "Lasso",
    "LinearPenalty",
    "MultiLevel",
    "MultiLevelLassoClassifier",
    "MultiLevelLassoRegressor",
    "MultiStageFeatureLearningClassifier",
    "MultiStageFeatureLearningRegressor",
    "MultiTaskLinearClassifier",
    "MultiTaskLinearClassifierCV",
    "MultiTaskLinearRegressor",
    "MultiTaskLinearRegressorCV",
    "NoPenalty",
    "RobustLowRank",
    "RobustMTFL",
    "SparseLowRank",
    "TemporalGroupLasso",
    "TraceNorm",
    "alpha_max",
    "linear_path",
    "tasks_to_wide",
]

# The data-fit classes are the solver's internals: no public API takes them.
_MOVED = {"SquaredLoss", "LogisticLoss"}


def __getattr__(name):
    if name in _MOVED:
        warnings.warn(
            f"rkhsmtl.linear.{name} is deprecated and will be removed from "
            "rkhsmtl.linear in 0.2: no public API takes it. The loss is chosen by the "
            "estimator (MultiTaskLinearRegressor: squared, MultiTaskLinearClassifier: "
            'logistic) or by linear_path(loss="squared" | "logistic"); the class '
            f"stays in rkhsmtl.linear._datafits.",
            FutureWarning, stacklevel=2)
        from . import _datafits

        return getattr(_datafits, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
