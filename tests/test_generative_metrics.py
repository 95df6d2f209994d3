"""Graph-generation metrics: orbit counts against brute force, statistics against networkx,
kernels on hand-computed cases, MMD properties and the lobster check."""

import itertools
import math

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.stats import wasserstein_distance

import gnnkit as gk
from gnnkit.generative import metrics as M

nx = pytest.importorskip("networkx")
random_lobster = getattr(nx, "random_lobster_graph", None) or nx.random_lobster


def brute_force_orbits(g):
    """ORCA's 15 node orbits by enumerating every 3- and 4-node subset (independent reference)."""
    n = g.number_of_nodes()
    a = nx.to_numpy_array(g, nodelist=range(n)).astype(int)
    out = np.zeros((n, 15), dtype=np.int64)
    out[:, 0] = a.sum(1)
    for s in itertools.combinations(range(n), 3):
        sub = a[np.ix_(s, s)]
        edges, deg = sub.sum() // 2, sub.sum(1)
        for i, v in enumerate(s):
            if edges == 2:
                out[v, 1 if deg[i] == 1 else 2] += 1
            elif edges == 3:
                out[v, 3] += 1
    table = {
        (3, (1, 1, 2, 2)): {1: 4, 2: 5},
        (3, (1, 1, 1, 3)): {1: 6, 3: 7},
        (4, (2, 2, 2, 2)): {2: 8},
        (4, (1, 2, 2, 3)): {1: 9, 2: 10, 3: 11},
        (5, (2, 2, 3, 3)): {2: 12, 3: 13},
        (6, (3, 3, 3, 3)): {3: 14},
    }
    for s in itertools.combinations(range(n), 4):
        sub = a[np.ix_(s, s)]
        deg = sub.sum(1)
        key = (sub.sum() // 2, tuple(sorted(deg)))
        if key in table:
            for i, v in enumerate(s):
                out[v, table[key][deg[i]]] += 1
    return out


@pytest.mark.parametrize("seed", range(12))
def test_orbit_counts_match_brute_force_on_random_graphs(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 12))
    g = nx.gnp_random_graph(n, float(rng.uniform(0.15, 0.85)), seed=seed)
    assert np.array_equal(M.orbit_counts(g), brute_force_orbits(g))


def test_orbit_counts_on_graphlets_and_gnnkit_graph():
    cases = [nx.path_graph(4), nx.star_graph(3), nx.cycle_graph(4), nx.complete_graph(4),
             nx.complete_graph(6), nx.grid_2d_graph(3, 4), nx.petersen_graph(), nx.empty_graph(3)]
    for g in cases:
        g = nx.convert_node_labels_to_integers(g)
        expected = brute_force_orbits(g)
        assert np.array_equal(M.orbit_counts(g), expected)
        u, v = zip(*g.edges()) if g.number_of_edges() else ((), ())
        # a gnnkit graph with each edge in one direction only, plus a duplicate and a self-loop
        src = list(u) + ([u[0], 0] if u else [0])
        dst = list(v) + ([v[0], 0] if u else [0])
        gg = gk.graph((np.array(src, dtype=np.int64), np.array(dst, dtype=np.int64)), num_nodes=g.number_of_nodes())
        assert np.array_equal(M.orbit_counts(gg), expected)
    k4 = M.orbit_counts(nx.complete_graph(4))
    assert (k4[:, 14] == 1).all() and (k4[:, 4:14] == 0).all()


def test_degree_clustering_spectrum_match_networkx():
    g = nx.gnp_random_graph(40, 0.15, seed=3)
    g.add_node(40)  # an isolated node
    assert M.degree_histogram(g).tolist() == nx.degree_histogram(g)
    coeffs = nx.clustering(g)
    assert np.allclose(M.clustering_coefficients(g), [coeffs[i] for i in range(41)])
    lap = nx.normalized_laplacian_matrix(g, nodelist=range(41)).toarray()
    assert np.allclose(M.normalized_laplacian_spectrum(g), np.linalg.eigvalsh(lap), atol=1e-10)
    assert M.spectrum_histogram(g).sum() == 41
    # bipartite graphs have eigenvalue exactly 2: it must land in the last bin, not fall out
    assert M.spectrum_histogram(nx.path_graph(6))[-1] == 1


def test_kernels_on_hand_computed_cases():
    p, q = np.array([[1.0, 0.0, 0.0]]), np.array([[0.0, 0.0, 1.0]])
    assert M.kernel_matrix(p, q, "emd", sigma=1.0)[0, 0] == pytest.approx(math.exp(-2.0))  # W1 = 2
    assert M.kernel_matrix(p, q, "emd", sigma=1.0, distance_scaling=2.0)[0, 0] == pytest.approx(math.exp(-0.5))
    assert M.kernel_matrix(p, q, "tv", sigma=1.0)[0, 0] == pytest.approx(math.exp(-0.5))  # TV = 1
    half = np.array([[0.5, 0.5, 0.0]])
    assert M.kernel_matrix(half, q, "tv", sigma=0.5)[0, 0] == pytest.approx(math.exp(-2.0))  # TV = 1, sigma 1/2
    assert M.kernel_matrix([[0.0, 0.0]], [[3.0, 4.0]], "l2", sigma=5.0)[0, 0] == pytest.approx(math.exp(-0.5))
    # MMD of one point against another: k(x,x) + k(y,y) - 2 k(x,y)
    assert M.compute_mmd([[1, 0]], [[0, 1]], "tv", 1.0) == pytest.approx(2 - 2 * math.exp(-0.5))
    # histograms of different lengths are zero-padded and normalised: [2] ~ [1, 0]
    assert M.compute_mmd([[2]], [[0, 3]], "emd", 1.0) == pytest.approx(2 - 2 * math.exp(-0.5))
    with pytest.raises(ValueError, match="distance"):
        M.kernel_matrix(p, q, "cosine", 1.0)


def test_emd_equals_wasserstein_and_mmd_equals_double_loop():
    rng = np.random.default_rng(0)
    xs = [rng.random(int(rng.integers(3, 9))) for _ in range(5)]
    ys = [rng.random(int(rng.integers(3, 9))) for _ in range(4)]
    width = 9

    def pmf(h):
        out = np.zeros(width)
        out[: len(h)] = h / h.sum()
        return out

    def emd_kernel(a, b, sigma=0.7, scale=3.0):
        support = np.arange(width) / scale
        w = wasserstein_distance(support, support, pmf(a), pmf(b))
        return math.exp(-w * w / (2 * sigma * sigma))

    def disc(s1, s2):
        return sum(emd_kernel(a, b) for a in s1 for b in s2) / (len(s1) * len(s2))

    expected = disc(xs, xs) + disc(ys, ys) - 2 * disc(xs, ys)
    assert M.compute_mmd(xs, ys, "emd", sigma=0.7, distance_scaling=3.0) == pytest.approx(expected, rel=1e-9)


def test_mmd_of_a_set_with_itself_is_zero_and_positive_against_another_family():
    lobsters = [random_lobster(8, 0.7, 0.7, seed=s) for s in range(8)]
    dense = [nx.gnp_random_graph(15 + i, 0.3, seed=i) for i in range(8)]  # has triangles, unlike lobsters
    same_l = M.graph_statistics(lobsters)
    same_er = M.graph_statistics(dense)
    for kernel in M.KERNELS:
        zero = M.mmd_from_statistics(same_l, same_l, kernel)
        assert set(zero) == set(M.METRICS)
        assert all(abs(v) < 1e-12 for v in zero.values())
        apart = M.mmd_from_statistics(same_l, same_er, kernel)
        assert all(v > 1e-3 for v in apart.values()), apart
    assert M.degree_mmd(lobsters, dense, kernel="gaussian_emd") == pytest.approx(
        M.mmd_from_statistics(same_l, same_er, "gaussian_emd")["degree"])
    with pytest.raises(ValueError, match="kernel"):
        M.degree_mmd(lobsters, dense, kernel="rbf")


def gran_is_lobster(g):
    """GRAN's definition via networkx: a tree that is a path after removing leaves twice."""
    g = g.copy()
    if not nx.is_tree(g):
        return False
    for _ in range(2):
        g.remove_nodes_from([v for v, d in g.degree() if d == 1])
    return g.number_of_nodes() <= 1 or (
        sum(1 for _, d in g.degree() if d == 1) == 2 and sum(1 for _, d in g.degree() if d == 2) == g.number_of_nodes() - 2)


def test_lobster_check():
    lobsters = [random_lobster(30, 0.7, 0.7, seed=s) for s in range(10)]
    lobsters += [nx.path_graph(7), nx.star_graph(6), nx.empty_graph(1), nx.path_graph(2)]
    for g in lobsters:
        assert M.is_lobster(g)
    binary_tree = nx.balanced_tree(2, 4)  # depth 4: two leaf removals leave a depth-2 tree, not a path
    forest = nx.disjoint_union(nx.path_graph(3), nx.path_graph(3))
    non_lobsters = [nx.cycle_graph(6), nx.grid_2d_graph(3, 3), binary_tree, forest, nx.complete_graph(4)]
    for g in non_lobsters:
        assert not M.is_lobster(g)
    assert M.lobster_validity_error(lobsters + non_lobsters) == pytest.approx(5 / 19)
    for seed in range(20):
        tree = nx.random_labeled_tree(14, seed=seed) if hasattr(nx, "random_labeled_tree") else nx.random_tree(14, seed=seed)
        assert M.is_lobster(tree) == gran_is_lobster(tree)


def test_evaluate_generation_reports_every_kernel_and_lobster_error():
    ref = [random_lobster(8, 0.7, 0.7, seed=s) for s in range(6)]
    gen = ref[:3] + [nx.cycle_graph(10)] + [nx.empty_graph(0)]
    result = M.evaluate_generation(gen, ref, lobster=True)
    assert set(result["kernels"]) == set(M.KERNELS)
    assert result["lobster_error"] == pytest.approx(2 / 5)  # the cycle and the empty graph
    assert result["num_reference"] == 6
    with pytest.raises(ValueError, match="generated"):
        M.evaluate_generation([nx.empty_graph(0)], ref)


def test_to_adjacency_rejects_bad_input():
    with pytest.raises(TypeError, match="graph"):
        M.to_adjacency("not a graph")
    with pytest.raises(ValueError, match="square"):
        M.to_adjacency(sp.csr_matrix((2, 3)))
