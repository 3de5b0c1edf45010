"""rkhsmtl: multi-task learning with separable-kernel vector-valued RKHS models.

Learn many related tasks at once with the kernel ``k(x, x') A``, where the
task-structure matrix ``A`` says how tasks share information.
"""

from ._config import config_context, get_config, set_config
from .distribution_matching import DistributionMatchingMTL
from .logistic import MultiTaskKernelClassifier
from .logistic_cv import MultiTaskKernelClassifierCV
from .ridge import MultiTaskKernelRidge
from .ridge_cv import MultiTaskKernelRidgeCV

__version__ = "0.1.0.dev0"

__all__ = ["DistributionMatchingMTL", "MultiTaskKernelClassifier",
           "MultiTaskKernelClassifierCV", "MultiTaskKernelRidge",
           "MultiTaskKernelRidgeCV", "__version__", "config_context", "get_config",
           "set_config"]
