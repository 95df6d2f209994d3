"""Generation benchmarks: sizes and counts of grid, lobster, protein (DD) and point cloud
(FIRSTMM_DB), and GRAN's split."""

import numpy as np
import pytest

from gnnkit.generative import datasets as D
from gnnkit.generative.metrics import is_lobster, to_adjacency


def _check_simple_undirected(g):
    src, dst = (t.numpy() for t in g.edges())
    assert (src != dst).all()
    pairs = set(zip(src.tolist(), dst.tolist()))
    assert len(pairs) == len(src)  # no multi-edges
    assert all((b, a) in pairs for a, b in pairs)  # both directions stored


def test_grid_graphs():
    graphs = D.grid_graphs()
    assert len(graphs) == 100
    sizes = sorted(g.num_nodes() for g in graphs)
    assert sizes == sorted(i * j for i in range(10, 20) for j in range(10, 20))
    assert 100 <= min(sizes) and max(sizes) <= 400
    for g, (i, j) in zip(graphs, [(i, j) for i in range(10, 20) for j in range(10, 20)]):
        assert g.num_edges() == 2 * (2 * i * j - i - j)
    _check_simple_undirected(graphs[7])


def test_lobster_graphs_are_grans_lobsters():
    nx = pytest.importorskip("networkx")
    graphs = D.lobster_graphs()
    assert len(graphs) == 100
    assert all(10 <= g.num_nodes() <= 100 for g in graphs)
    assert all(is_lobster(g) for g in graphs)
    # the same graphs as GRAN's loop over networkx's generator (first five)
    generate = getattr(nx, "random_lobster_graph", None) or nx.random_lobster
    expected, seed = [], 1234
    while len(expected) < 5:
        g = generate(80, 0.7, 0.7, seed=seed)
        if 10 <= g.number_of_nodes() <= 100:
            expected.append(g)
        seed += 1
    for ours, theirs in zip(graphs, expected):
        assert ours.num_nodes() == theirs.number_of_nodes()
        src, dst = (t.tolist() for t in ours.edges())
        assert {(min(a, b), max(a, b)) for a, b in zip(src, dst)} == {(min(a, b), max(a, b)) for a, b in theirs.edges()}


def test_gran_split():
    train, val, test = D.split_like_gran(list(range(918)))
    assert (len(train), len(val), len(test)) == (734, 183, 184)
    assert train[:183] == val and test == list(range(734, 918))
    shuffled = D.split_like_gran(list(range(100)), shuffle_seed=1234)
    again = D.split_like_gran(list(range(100)), shuffle_seed=1234)
    assert shuffled == again and shuffled[0] != list(range(80))
    assert sorted(shuffled[0] + shuffled[2]) == list(range(100))
    with pytest.raises(ValueError, match="train_ratio"):
        D.split_like_gran([1, 2], train_ratio=1.5)


def test_protein_is_the_918_dd_graphs(shared_datasets):
    data = D.load_generation_dataset("protein", root=shared_datasets)
    graphs = data.train + data.test
    assert len(graphs) == 918
    assert (len(data.train), len(data.val), len(data.test)) == (734, 183, 184)
    sizes = np.array([g.num_nodes() for g in graphs])
    assert sizes.min() >= 100 and sizes.max() <= 500
    degrees = np.concatenate([np.diff(to_adjacency(g).indptr) for g in graphs[:50]])
    assert degrees.min() >= 1  # isolated nodes were dropped
    _check_simple_undirected(graphs[0])
    summary = data.summary()
    # GRAN's paper: protein |V|avg 258, |E|avg 646
    assert round(summary["mean_nodes"]) == 258 and round(summary["mean_edges"]) == 646


def test_point_cloud_is_firstmm_db(shared_datasets):
    data = D.load_generation_dataset("point_cloud", root=shared_datasets)
    graphs = data.train + data.test
    assert len(graphs) == 41 and (len(data.train), len(data.test)) == (32, 9)
    # 252062 edge lines minus 14 self-loops (README); every edge listed in both directions
    assert sum(g.num_edges() for g in graphs) == 252048
    assert max(g.num_nodes() for g in graphs) == 5037


def test_tu_reader_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="DD_A.txt"):
        D.read_tu_graphs(tmp_path, "DD")
    with pytest.raises(ValueError, match="name"):
        D.load_generation_dataset("cora")
