"""Regularised linear multi-task learning (the MALSAR / RMTL family).

Estimators :class:`MultiTaskLinearRegressor` (squared loss) and
:class:`MultiTaskLinearClassifier` (logistic loss) over ``W`` (features x tasks) with
per-task intercepts, composed from a data-fit term and a penalty object, solved by
accelerated proximal gradient (FISTA with backtracking and adaptive restart).
"""

from ._cv import MultiTaskLinearClassifierCV, MultiTaskLinearRegressorCV
from ._datafits import LogisticLoss, SquaredLoss
from ._estimators import MultiTaskLinearClassifier, MultiTaskLinearRegressor
from ._path import alpha_max, linear_path, tasks_to_wide
from ._penalties import (
    L21,
    ClusteredMTL,
    Dirty,
    GraphPenalty,
    Lasso,
    LinearPenalty,
    NoPenalty,
    RobustLowRank,
    RobustMTFL,
    SparseLowRank,
    TraceNorm,
)

__all__ = [
    "ClusteredMTL",
    "Dirty",
    "GraphPenalty",
    "L21",
    "Lasso",
    "LinearPenalty",
    "LogisticLoss",
    "MultiTaskLinearClassifier",
    "MultiTaskLinearClassifierCV",
    "MultiTaskLinearRegressor",
    "MultiTaskLinearRegressorCV",
    "NoPenalty",
    "RobustLowRank",
    "RobustMTFL",
    "SparseLowRank",
    "SquaredLoss",
    "TraceNorm",
    "alpha_max",
    "linear_path",
    "tasks_to_wide",
]
