"""TaskDescriptorKernel: the matrix is the stated kernel, and it extends to new tasks."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.metrics.pairwise import cosine_similarity, laplacian_kernel, rbf_kernel

from rkhsmtl import MultiTaskKernelRidge
from rkhsmtl.structure import (
    MeanRegularized,
    PriorShrinkage,
    TaskDescriptorKernel,
    resolve_task_structure,
)
from rkhsmtl.structure._descriptors import descriptor_kernel_of, new_task_relation

rng = np.random.default_rng(0)
Z = rng.normal(size=(6, 3))


def test_matrix_is_shared_plus_kernel_plus_identity():
    structure = TaskDescriptorKernel(Z, gamma=0.4, identity=0.3, shared=0.2)
    expected = 0.2 + rbf_kernel(Z, gamma=0.4) + 0.3 * np.eye(6)
    np.testing.assert_allclose(structure.task_matrix(6), expected, rtol=0, atol=1e-14)
    # gamma=None is scikit-learn's 1 / n_descriptor_features.
    np.testing.assert_allclose(TaskDescriptorKernel(Z).task_matrix(6),
                               rbf_kernel(Z, gamma=1 / 3), atol=1e-14)
    lap = TaskDescriptorKernel(Z, kernel="laplacian", gamma=0.7).task_matrix(6)
    np.testing.assert_allclose(lap, laplacian_kernel(Z, gamma=0.7), atol=1e-14)


def test_normalize_linear_kernel_is_cosine_and_callable_kernels():
    structure = TaskDescriptorKernel(Z, kernel="linear", normalize=True)
    np.testing.assert_allclose(structure.task_matrix(6), cosine_similarity(Z),
                               atol=1e-12)

    def k(a, b, scale=1.0):
        return scale * np.exp(-np.sum(np.abs(a - b)))

    custom = TaskDescriptorKernel(Z, kernel=k, kernel_params={"scale": 2.0})
    np.testing.assert_allclose(custom.task_matrix(6), 2.0 * laplacian_kernel(Z, gamma=1),
                               atol=1e-12)


def test_one_descriptor_feature_as_1d():
    z = np.array([0.0, 0.5, 3.0])
    structure = TaskDescriptorKernel(z, gamma=1.0)
    np.testing.assert_allclose(structure.task_matrix(3), rbf_kernel(z[:, None], gamma=1.0))
    # With one feature, a new task's descriptor is a 1-entry row.
    np.testing.assert_allclose(structure.cross_matrix([0.25]),
                               rbf_kernel([[0.25]], z[:, None], gamma=1.0))


def test_cross_and_new_blocks_are_those_of_the_extended_structure():
    structure = TaskDescriptorKernel(Z, gamma=0.5, identity=0.1, shared=0.3)
    Z_new = rng.normal(size=(2, 3))
    extended = structure.with_new_tasks(Z_new)
    A_ext = extended.task_matrix(8)
    np.testing.assert_allclose(A_ext[:6, :6], structure.task_matrix(6), atol=1e-14)
    np.testing.assert_allclose(A_ext[6:, :6], structure.cross_matrix(Z_new), atol=1e-14)
    np.testing.assert_allclose(A_ext[6:, 6:], structure.new_task_matrix(Z_new),
                               atol=1e-14)
    # The identity part links a task to itself only: not a new task to an old one.
    assert np.all(structure.cross_matrix(Z[:1])[0, 1:] < 1.3)
    np.testing.assert_allclose(structure.cross_matrix(Z[0])[0, 0], 1.3)
    assert structure.descriptors is Z  # the original is untouched


def test_parameters_are_tunable_through_the_estimator():
    model = MultiTaskKernelRidge(task_structure=TaskDescriptorKernel(Z, gamma=1.0))
    model.set_params(task_structure__gamma=0.1, task_structure__identity=0.5)
    assert model.task_structure.gamma == 0.1
    copy = clone(model)
    np.testing.assert_array_equal(copy.task_structure.descriptors, Z)
    assert resolve_task_structure(copy.task_structure).identity == 0.5


@pytest.mark.parametrize("kwargs, n_tasks, match", [
    ({}, 5, "descriptors has 6 rows"),
    ({"identity": -1.0}, 6, "identity must be a finite number >= 0"),
    ({"shared": np.nan}, 6, "shared must be a finite number >= 0"),
    ({"kernel": "sigmoid"}, 6, "not positive semidefinite"),
    ({"kernel": "precomputed"}, 6, "kernel='precomputed' is not supported"),
    ({"gamma": -1.0}, 6, "gamma must be None or a finite number >= 0"),
    ({"normalize": "yes"}, 6, "normalize must be a bool"),
])
def test_errors(kwargs, n_tasks, match):
    with pytest.raises(ValueError, match=match):
        TaskDescriptorKernel(Z, **kwargs).task_matrix(n_tasks)


def test_descriptor_errors():
    with pytest.raises(ValueError, match="contains NaN"):
        TaskDescriptorKernel(np.array([[0.0], [np.nan]])).task_matrix(2)
    with pytest.raises(ValueError, match="must be numeric"):
        TaskDescriptorKernel(np.array([["a"], ["b"]])).task_matrix(2)
    structure = TaskDescriptorKernel(Z)
    with pytest.raises(ValueError, match="has 2 entries but the tasks are described by 3"):
        structure.cross_matrix([1.0, 2.0])
    with pytest.raises(ValueError, match="have 2 feature"):
        structure.cross_matrix(np.zeros((4, 2)))


def test_descriptor_kernel_of_structures():
    fixed = TaskDescriptorKernel(Z)
    assert descriptor_kernel_of(fixed) == (fixed, False)
    kernel, learned = descriptor_kernel_of(PriorShrinkage(prior=fixed))
    assert kernel is fixed and learned
    for structure in (MeanRegularized(), PriorShrinkage(prior=MeanRegularized())):
        with pytest.raises(ValueError, match="has none. Fit with task_structure="):
            descriptor_kernel_of(structure)


def test_learned_relation_reduces_to_fixed_at_the_prior():
    fixed = TaskDescriptorKernel(Z, gamma=0.5, identity=0.2)
    A0 = fixed.task_matrix(6)
    z = rng.normal(size=(2, 3))
    r_fixed = new_task_relation(fixed, A0, z)
    r_learned = new_task_relation(PriorShrinkage(prior=fixed), A0, z)
    for key in ("cross", "beta", "block", "schur"):
        np.testing.assert_allclose(r_learned[key], r_fixed[key], atol=1e-10)
    # The Schur complement is the variance of the new tasks that the training
    # tasks do not explain: at least the identity part, positive semidefinite.
    assert np.all(np.diag(r_fixed["schur"]) >= 0.2 - 1e-12)
    assert np.linalg.eigvalsh(r_fixed["schur"]).min() > 0
