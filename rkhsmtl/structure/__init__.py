r"""Task structures: the task-structure matrix ``A`` of the kernel ``k(x, x') A``.

A task structure is a small scikit-learn style object (``get_params`` /
``set_params``, so ``GridSearchCV`` can tune ``task_structure__strength``) whose
:meth:`~TaskStructure.task_matrix` returns the ``T x T`` positive semidefinite matrix
``A`` for a given number of tasks. A large positive ``A[s, t]`` pulls tasks ``s``
and ``t`` towards similar functions; ``A = I`` makes them independent.

With the model ``f_t(x) = <w_t, phi(x)>``, a quadratic penalty
``sum_{s,t} E[s, t] <w_s, w_t>`` with ``E`` positive definite is the RKHS norm of the
separable kernel with ``A = E^{-1}`` (Evgeniou, Micchelli & Pontil 2005). Every
structure below is documented by the penalty it places on the task functions; the
overall scale of the penalty is the estimator's ``alpha``.

Fixed structures give ``A``; learned structures (:class:`LearnedTaskStructure`) are
penalties ``F(A)`` and ``A`` is fitted together with the kernel coefficients by
alternating minimisation (Ciliberto, Mroueh, Poggio & Rosasco 2015).

String shortcuts accepted by the estimators: ``"independent"``,
``"mean_regularized"``, ``"pooled"``, ``"chain"``, ``"complete"`` (a fully
connected graph), and the learned ``"low_rank"``, ``"relation"``, ``"okl"``,
``"clustered"``.

References
----------
T. Evgeniou and M. Pontil. Regularized multi-task learning. KDD 2004.

T. Evgeniou, C. A. Micchelli and M. Pontil. Learning multiple tasks with kernel
methods. JMLR 6:615-637, 2005.

C. Ciliberto, Y. Mroueh, T. Poggio and L. Rosasco. Convex learning of multiple
tasks and their structure. ICML 2015.
"""

from ._descriptors import TaskDescriptorKernel
from ._fixed import (
    PSD_TOL,  # noqa: F401 - re-exported for the structures' users
    Clusters,
    FixedMatrix,
    Graph,
    Independent,
    MeanRegularized,
    Pooled,
    TaskStructure,
    check_task_matrix,
)
from ._learned import (
    ClusteredNorm,
    LearnedTaskStructure,
    LowRank,
    OutputKernel,
    PriorShrinkage,
    TaskRelation,
    water_fill,  # noqa: F401 - the cluster-norm multiplier, tested on its own
)

__all__ = [
    "ClusteredNorm",
    "Clusters",
    "FixedMatrix",
    "Graph",
    "Independent",
    "LearnedTaskStructure",
    "LowRank",
    "MeanRegularized",
    "OutputKernel",
    "Pooled",
    "PriorShrinkage",
    "TaskDescriptorKernel",
    "TaskRelation",
    "TaskStructure",
    "check_task_matrix",
    "resolve_task_structure",
]

_SHORTCUTS = {
    "independent": Independent,
    "pooled": Pooled,
    "mean_regularized": MeanRegularized,
    "chain": lambda: Graph("chain"),
    "complete": lambda: Graph("complete"),
    "low_rank": LowRank,
    "relation": TaskRelation,
    "okl": OutputKernel,
    "clustered": ClusteredNorm,
}


def resolve_task_structure(spec):
    """Turn the ``task_structure`` parameter into a :class:`TaskStructure`.

    Parameters
    ----------
    spec : str, TaskStructure or array-like
        A shortcut name, a structure object (returned as is, never modified) or a
        ``T x T`` matrix (wrapped in :class:`FixedMatrix`).

    Returns
    -------
    structure : TaskStructure
    """
    if isinstance(spec, TaskStructure):
        return spec
    if isinstance(spec, str):
        try:
            return _SHORTCUTS[spec]()
        except KeyError:
            raise ValueError(
                f"Unknown task_structure {spec!r}; use one of {sorted(_SHORTCUTS)}, a "
                "TaskStructure object from rkhsmtl.structure, or a T x T matrix."
            ) from None
    if spec is None:
        raise ValueError("task_structure must not be None; use 'independent'.")
    return FixedMatrix(spec)
