"""Density-ratio estimation and instance weights for distribution matching.

Two-sample estimators share one interface, ``fit(X_numerator, X_denominator)`` then
``ratio(X)`` (an estimate of ``p_nu(x) / p_de(x)``, or of its relative version for
`RuLSIF`): `ULSIF`, `RuLSIF`, `KLIEP`, `ClassifierDensityRatio` and the
transductive `KernelMeanMatching` (ratios at the denominator points only).
`TaskPosteriorRatio` estimates every task's ratio ``p(z | t) / p(z)`` at once from
a probabilistic task classifier (Bickel et al. 2008). `normalize_weights` and
`effective_sample_size` are the weight hygiene; `task_density_ratios` computes
(cross-fitted) per-task ratios on a pool, as used by
:class:`rkhsmtl.DistributionMatchingMTL`.
"""

from ._base import BaseDensityRatio
from ._discriminative import ClassifierDensityRatio, TaskPosteriorRatio
from ._hygiene import effective_sample_size, normalize_weights
from ._kliep import KLIEP
from ._kmm import KernelMeanMatching
from ._lsif import ULSIF, RuLSIF
from ._tasks import task_density_ratios

__all__ = [
    "BaseDensityRatio",
    "ClassifierDensityRatio",
    "KLIEP",
    "KernelMeanMatching",
    "RuLSIF",
    "TaskPosteriorRatio",
    "ULSIF",
    "effective_sample_size",
    "normalize_weights",
    "task_density_ratios",
]
