"""NaN-aware multi-task metrics."""

from ._classification import accuracy_score, f1_score, log_loss, roc_auc_score
from ._regression import (
    explained_variance_score,
    mean_squared_error,
    nan_r2_score,
    normalized_mean_squared_error,
    pooled_explained_variance,
    r2_score,
)

__all__ = [
    "accuracy_score",
    "f1_score",
    "log_loss",
    "roc_auc_score",
    "explained_variance_score",
    "mean_squared_error",
    "nan_r2_score",
    "normalized_mean_squared_error",
    "pooled_explained_variance",
    "r2_score",
]
