"""Task structures: each matrix equals the inverse of its stated penalty."""

import numpy as np
import pytest
from sklearn.base import clone

from rkhsmtl.structure import (
    Clusters,
    FixedMatrix,
    Graph,
    Independent,
    MeanRegularized,
    Pooled,
    check_task_matrix,
    resolve_task_structure,
)

T = 6


def penalty_matrix(structure):
    """E with tr(W E W^T) = the documented penalty, computed from its formula."""
    rng = np.random.default_rng(0)
    d = 4
    # Recover E column by column from the penalty as a quadratic form in W.
    def penalty(W):
        if isinstance(structure, Independent):
            return np.sum(W**2)
        if isinstance(structure, MeanRegularized):
            mean = W.mean(axis=1, keepdims=True)
            return np.sum(W**2) + structure.strength * np.sum((W - mean) ** 2)
        if isinstance(structure, Graph):
            M = structure.weights(T)
            pair = sum(M[s, t] * np.sum((W[:, s] - W[:, t]) ** 2)
                       for s in range(T) for t in range(T))
            return np.sum(W**2) + structure.strength * 0.5 * pair
        if isinstance(structure, Clusters):
            labels = np.asarray(structure.labels)
            total = np.sum(W**2)
            for c in np.unique(labels):
                Wc = W[:, labels == c]
                total += structure.strength * np.sum((Wc - Wc.mean(1, keepdims=True)) ** 2)
            return total
        raise AssertionError
    # Polarisation: E[s, t] from penalties of e_s + e_t.
    E = np.zeros((T, T))
    e = np.eye(T)
    base = rng.standard_normal(d)
    base /= np.linalg.norm(base)
    for s in range(T):
        for t in range(T):
            Wst = np.outer(base, e[s] + e[t])
            Ws = np.outer(base, e[s])
            Wt = np.outer(base, e[t])
            E[s, t] = 0.5 * (penalty(Wst) - penalty(Ws) - penalty(Wt))
    return E


@pytest.mark.parametrize("structure", [
    Independent(),
    MeanRegularized(0.0),
    MeanRegularized(2.5),
    Graph("chain", 1.5),
    Graph("complete", 0.3),
    Graph(np.array([[0, 2, 0, 0, 0, 1], [2, 0, 1, 0, 0, 0], [0, 1, 0, 0, 0, 0],
                    [0, 0, 0, 0, 3, 0], [0, 0, 0, 3, 0, 0], [1, 0, 0, 0, 0, 0]]), 0.7),
    Clusters([0, 0, 1, 1, 1, 2], 4.0),
    Clusters(["a", "b", "a", "b", "a", "b"], 1.0),
])
def test_matrix_is_inverse_of_documented_penalty(structure):
    A = structure.task_matrix(T)
    E = penalty_matrix(structure)
    assert np.allclose(A @ E, np.eye(T), atol=1e-10)


def test_mean_regularized_limits_and_eigenvalues():
    A = MeanRegularized(3.0).task_matrix(T)
    eig = np.sort(np.linalg.eigvalsh(A))
    assert np.allclose(eig[:-1], 1 / 4) and np.isclose(eig[-1], 1.0)
    assert np.allclose(MeanRegularized(0.0).task_matrix(T), np.eye(T))
    assert np.allclose(MeanRegularized(1e12).task_matrix(T), np.ones((T, T)) / T,
                       atol=1e-9)
    # The complete graph with weights 1/T is the mean-regularised structure.
    assert np.allclose(Graph(np.ones((T, T)) / T, 3.0).task_matrix(T), A)


def test_clusters_are_independent_across_clusters():
    A = Clusters([0, 1, 0, 1, 2, 2], 2.0).task_matrix(T)
    assert A[0, 1] == 0 and A[0, 4] == 0 and A[0, 2] > 0
    assert Pooled().task_matrix(3).tolist() == np.ones((3, 3)).tolist()


def test_structures_are_estimator_like():
    s = MeanRegularized(strength=2.0)
    assert s.get_params() == {"strength": 2.0}
    s2 = clone(s).set_params(strength=5.0)
    assert s.strength == 2.0 and s2.strength == 5.0
    assert clone(Graph("chain", 1.0)).get_params()["adjacency"] == "chain"


@pytest.mark.parametrize("spec,cls", [("independent", Independent),
                                      ("mean_regularized", MeanRegularized),
                                      ("pooled", Pooled), ("chain", Graph),
                                      ("complete", Graph)])
def test_string_shortcuts(spec, cls):
    assert isinstance(resolve_task_structure(spec), cls)


def test_array_is_wrapped_and_validated():
    s = resolve_task_structure(np.eye(3))
    assert isinstance(s, FixedMatrix)
    assert np.allclose(s.task_matrix(3), np.eye(3))


@pytest.mark.parametrize("A,match", [
    (np.ones((2, 3)), "square"),
    (np.eye(3)[None], "square"),
    (np.array([[1.0, 0.5], [0.4, 1.0]]), "not symmetric"),
    (np.array([[1.0, 2.0], [2.0, 1.0]]), "smallest eigenvalue"),
    (np.array([[1.0, np.nan], [np.nan, 1.0]]), "NaN or infinite"),
    (np.array([["a", "b"], ["c", "d"]]), "numeric"),
])
def test_check_task_matrix_errors(A, match):
    with pytest.raises(ValueError, match=match):
        check_task_matrix(A)


def test_psd_tolerance_accepts_rounding_noise():
    rng = np.random.default_rng(0)
    B = rng.standard_normal((5, 2))
    A = B @ B.T  # rank 2: eigenvalues ~ -1e-16
    A[0, 1] += 1e-14
    out = check_task_matrix(A)
    assert np.array_equal(out, out.T)


@pytest.mark.parametrize("structure,match", [
    (MeanRegularized(-1.0), "strength"),
    (MeanRegularized("big"), "strength"),
    (Graph("star"), "adjacency"),
    (Graph(-np.ones((T, T))), "non-negative"),
    (Graph(np.triu(np.ones((T, T)))), "symmetric"),
    (Graph(np.ones((3, 3))), "Y has 6 tasks"),
    (Clusters([0, 1]), "one cluster per task"),
])
def test_structure_parameter_errors(structure, match):
    with pytest.raises(ValueError, match=match):
        structure.task_matrix(T)


def test_graph_adjacency_kinds_agree():
    """A shortcut, a weight matrix (array or nested lists) and a list of edges give
    the same graph; "mean" is the complete graph with weights 1/T."""
    M = np.zeros((T, T))
    edges = [(0, 1), (1, 2, 2.0), (4, 5, 0.5)]
    for s, t, *w in edges:
        M[s, t] = M[t, s] = w[0] if w else 1.0
    for adjacency in (M, M.tolist(), edges, tuple(edges)):
        np.testing.assert_array_equal(Graph(adjacency).weights(T), M)
    chain = [(t, t + 1) for t in range(T - 1)]
    np.testing.assert_array_equal(Graph(chain).weights(T), Graph("chain").weights(T))
    np.testing.assert_allclose(Graph("mean").weights(T),
                               (np.ones((T, T)) - np.eye(T)) / T)
    np.testing.assert_allclose(Graph("mean", 3.0).task_matrix(T),
                               MeanRegularized(3.0).task_matrix(T), atol=1e-12)
    # Repeated edges add up, as repeated terms of the penalty would.
    assert Graph([(0, 1), (1, 0, 2.0)]).weights(T)[0, 1] == 3.0
    assert Graph([]).weights(T).sum() == 0


@pytest.mark.parametrize("adjacency,match", [
    ([(0, 0)], "Edge"), ([(0, 9)], "Edge"), ([(0, 1, -1.0)], "Edge"),
    ([(0, 1, 2, 3)], "edge must be"), (np.ones((3, 3)), "shape"),
])
def test_graph_edge_errors(adjacency, match):
    with pytest.raises(ValueError, match=match):
        Graph(adjacency).task_matrix(T)


@pytest.mark.parametrize("structure", [
    MeanRegularized(2.0), Graph(np.ones((T, T)), 1.0), Clusters([0, 0, 1, 1, 2, 2]),
    FixedMatrix(np.eye(T)),
], ids=repr)
def test_building_the_matrix_leaves_the_structure_unchanged(structure):
    before = dict(structure.__dict__)
    structure.task_matrix(T)
    assert structure.__dict__.keys() == before.keys()
    assert all(structure.__dict__[k] is v for k, v in before.items())


def test_learned_structure_steps_leave_the_structure_unchanged():
    import array_api_compat.numpy as xp

    from rkhsmtl.structure import ClusteredNorm, LowRank, PriorShrinkage

    rng = np.random.default_rng(1)
    B = rng.standard_normal((8, T))
    M = B.T @ B
    for structure in (LowRank(0.5, prior=MeanRegularized(1.0)), ClusteredNorm(2),
                      PriorShrinkage(Graph("chain", 1.0), strength=1.0)):
        before = dict(structure.__dict__)
        factors = structure.whitening(T, xp, xp.asarray(M))
        A = structure.a_step(xp.asarray(M), 1.0, 1e-3, xp, whitening=factors)
        structure.regularizer(A, xp.asarray(M), 1.0, 1e-3, xp)
        structure.task_matrix(T)
        assert structure.__dict__.keys() == before.keys()
        assert all(structure.__dict__[k] is v for k, v in before.items())
