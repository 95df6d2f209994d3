"""Synthetic generators: shapes, simplicity, and the statistics each model promises."""

import math

import numpy as np
import pytest
import torch

from gnnkit.data import synthetic


def _simple_and_symmetric(g):
    src, dst = g.edges()
    n = g.num_nodes()
    key = src * n + dst
    assert not bool((src == dst).any()), "self-loop"
    assert torch.unique(key).numel() == key.numel(), "duplicate edge"
    assert bool((key[1:] > key[:-1]).all()), "not sorted by (src, dst)"
    assert bool(torch.isin(dst * n + src, key).all()), "not symmetric"


def test_sbm_edge_counts_follow_the_block_probabilities():
    sizes = [300, 200, 100]
    probs = np.array([[0.10, 0.01, 0.02], [0.01, 0.20, 0.00], [0.02, 0.00, 0.30]])
    g = synthetic.stochastic_block_model(sizes, probs, seed=0)
    _simple_and_symmetric(g)
    label = g.ndata["label"]
    assert torch.bincount(label).tolist() == sizes
    src, dst = g.edges()
    counts = torch.zeros(3, 3)
    counts.index_put_((label[src], label[dst]), torch.ones(src.numel()), accumulate=True)
    for a in range(3):
        for b in range(3):
            pairs = sizes[a] * (sizes[b] - 1) if a == b else sizes[a] * sizes[b]
            expected = pairs * probs[a, b]
            # Directed counts of an undirected SBM: within 5 standard deviations of the mean.
            assert abs(float(counts[a, b]) - expected) <= 5 * math.sqrt(max(expected, 1.0)) * 2, (a, b)
    assert float(counts[1, 2]) == 0.0
    # Repeatable with a seed.
    assert torch.equal(synthetic.stochastic_block_model(sizes, probs, seed=0).edges()[0], src)


def test_sbm_directed_and_validation():
    g = synthetic.stochastic_block_model([50, 50], [[0.2, 0.0], [0.5, 0.0]], directed=True, seed=1)
    src, dst = g.edges()
    label = g.ndata["label"]
    assert not bool((src == dst).any())
    assert bool((label[dst] == 0).all())  # nothing points into block 1
    assert abs(int(((label[src] == 1)).sum()) - 1250) < 5 * math.sqrt(1250)
    with pytest.raises(ValueError, match="symmetric"):
        synthetic.stochastic_block_model([5, 5], [[0.1, 0.2], [0.3, 0.1]])
    with pytest.raises(ValueError, match="edge_probs: expected a 2 x 2"):
        synthetic.stochastic_block_model([5, 5], [[0.1]])
    with pytest.raises(ValueError, match="probability"):
        synthetic.stochastic_block_model([5], [[1.5]])


def test_planted_partition_statistics():
    g = synthetic.planted_partition(20_000, num_classes=5, avg_degree=8, homophily=0.7, num_features=16, seed=0)
    _simple_and_symmetric(g)
    n = g.num_nodes()
    assert n == 20_000 and abs(g.num_edges() / n - 8) < 0.2
    src, dst = g.edges()
    label = g.ndata["label"]
    assert abs(float((label[src] == label[dst]).float().mean()) - 0.7) < 0.02
    feat = g.ndata["feat"]
    assert feat.shape == (n, 16) and feat.dtype == torch.float32
    # Features are informative: nearest class centroid recovers most labels.
    centroids = torch.stack([feat[label == c].mean(0) for c in range(5)])
    assert float((torch.cdist(feat, centroids).argmin(1) == label).float().mean()) > 0.8
    masks = [g.ndata[k] for k in ("train_mask", "val_mask", "test_mask")]
    assert [int(m.sum()) for m in masks] == [12_000, 4_000, 4_000]
    assert int(sum(m.int() for m in masks).max()) == 1
    ds = synthetic.planted_partition_dataset(500, 4, seed=1)
    assert ds.num_classes == 4 and ds.num_features == 32 and ds.graph.num_nodes() == 500


def test_erdos_renyi():
    n, p = 1000, 0.02
    g = synthetic.erdos_renyi(n, p=p, seed=0)
    _simple_and_symmetric(g)
    expected = n * (n - 1) * p  # directed edges
    assert abs(g.num_edges() - expected) < 5 * math.sqrt(expected) * 2
    g = synthetic.erdos_renyi(n, num_edges=3000, seed=0)
    _simple_and_symmetric(g)
    assert g.num_edges() == 6000
    gd = synthetic.erdos_renyi(50, num_edges=50 * 49, directed=True, seed=0)  # complete digraph
    assert gd.num_edges() == 2450 and bool((gd.in_degrees() == 49).all())
    big = synthetic.erdos_renyi(200_000, num_edges=400_000, seed=3)
    assert big.num_edges() == 800_000
    with pytest.raises(ValueError, match="exactly one of p"):
        synthetic.erdos_renyi(10)
    with pytest.raises(ValueError, match="num_edges: 100 exceeds the 45"):
        synthetic.erdos_renyi(10, num_edges=100)


def test_barabasi_albert():
    n, m = 2000, 3
    g = synthetic.barabasi_albert(n, m, seed=0)
    _simple_and_symmetric(g)
    assert g.num_edges() == 2 * m * (n - m)
    degree = g.in_degrees()
    assert int(degree.min()) >= m
    # Preferential attachment: early nodes are hubs, and the tail is heavy.
    assert float(degree[:20].float().mean()) > 4 * float(degree[-1000:].float().mean())
    assert int(degree.max()) > 50
    with pytest.raises(ValueError, match="num_attach: must be < num_nodes"):
        synthetic.barabasi_albert(3, 3)


def test_grid_2d():
    g = synthetic.grid_2d(3, 4)
    _simple_and_symmetric(g)
    assert g.num_nodes() == 12 and g.num_edges() == 2 * (3 * 3 + 2 * 4)
    assert sorted(torch.bincount(g.in_degrees()).tolist()) == sorted([0, 0, 4, 6, 2])
    nx = pytest.importorskip("networkx")
    ref = nx.convert_node_labels_to_integers(nx.grid_2d_graph(3, 4), ordering="sorted")
    src, dst = g.edges()
    assert {(int(u), int(v)) for u, v in zip(src, dst)} == {e for u, v in ref.edges() for e in ((u, v), (v, u))}
    torus = synthetic.grid_2d(4, 5, periodic=True)
    _simple_and_symmetric(torus)
    assert bool((torus.in_degrees() == 4).all())
    with pytest.raises(ValueError, match="torus needs at least 3"):
        synthetic.grid_2d(2, 5, periodic=True)


def test_random_lobster_is_a_lobster():
    nx = pytest.importorskip("networkx")
    g = synthetic.random_lobster(40, 0.7, 0.6, seed=2)
    _simple_and_symmetric(g)
    n = g.num_nodes()
    assert g.num_edges() == 2 * (n - 1)  # a tree
    nxg = nx.Graph()
    nxg.add_nodes_from(range(n))
    src, dst = g.edges()
    nxg.add_edges_from(zip(src.tolist(), dst.tolist()))
    assert nx.is_tree(nxg)
    # Removing leaves twice leaves a path (the backbone): the definition of a lobster.
    for _ in range(2):
        nxg.remove_nodes_from([v for v in list(nxg) if nxg.degree(v) <= 1])
    assert max(d for _, d in nxg.degree()) <= 2 and nx.is_connected(nxg)
    assert n > 40


def test_random_powerlaw_graph():
    n, m = 10_000, 30_000
    g = synthetic.random_powerlaw_graph(n, m, exponent=2.5, seed=0)
    _simple_and_symmetric(g)
    assert g.num_nodes() == n and g.num_edges() == 2 * m
    degree = g.in_degrees().double()
    assert float(degree.max()) > 20 * float(degree.mean())  # hubs
    # Tail exponent from the degree CCDF: log-log slope ~ -(exponent - 1) = -1.5.
    ks = torch.tensor([8.0, 16.0, 32.0, 64.0])
    ccdf = torch.stack([(degree >= k).double().mean() for k in ks])
    slope = float(np.polyfit(np.log(ks.numpy()), np.log(ccdf.numpy()), 1)[0])
    assert -2.1 < slope < -1.0
    with pytest.raises(ValueError, match="exponent: expected a number > 2"):
        synthetic.random_powerlaw_graph(100, 10, exponent=1.5)
