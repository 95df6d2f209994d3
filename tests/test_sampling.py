"""Samplers: exact sampled structure, distributions, full-neighbour equivalence, loaders."""

import math

import pytest
import torch

import gnnkit as gk
from gnnkit.sampling import (
    ClusterGCNSampler,
    DataLoader,
    EdgePredictionSampler,
    MultiLayerFullNeighborSampler,
    NeighborSampler,
    SAINTSampler,
    ShaDowKHopSampler,
    UniformNegativeSampler,
    metis_partition,
    random_walk,
    reorder_by_partition,
    sample_neighbors,
)


def random_graph(n=200, e=2000, seed=0):
    gen = torch.Generator().manual_seed(seed)
    src = torch.randint(0, n, (e,), generator=gen)
    dst = torch.randint(0, n, (e,), generator=gen)
    return gk.graph((src, dst), num_nodes=n)


def edge_multiset(src, dst, eid):
    return sorted(zip(src.tolist(), dst.tolist(), eid.tolist()))


def assert_exact_sample(g, b, fanout, replace):
    """Block ``b`` holds original edges of ``g`` only, its destinations first among distinct
    sources, the fanout rule per destination, and no source that no edge reaches."""
    src_ids, dst_ids = b.srcdata[gk.NID], b.dstdata[gk.NID]
    assert torch.equal(src_ids[: b.num_dst_nodes()], dst_ids)
    assert torch.unique(src_ids).numel() == src_ids.numel()
    lsrc, ldst = b.edges()
    eid = b.edata[gk.EID]
    osrc, odst = g.find_edges(eid)
    assert torch.equal(src_ids[lsrc], osrc) and torch.equal(dst_ids[ldst], odst)
    in_deg = g.in_degrees(dst_ids)
    expected = torch.where(in_deg > 0, fanout, 0) if replace else in_deg.clamp(max=fanout)
    assert torch.equal(torch.bincount(ldst, minlength=b.num_dst_nodes()), expected)
    if not replace:
        assert torch.unique(eid).numel() == eid.numel()
    used = torch.zeros(b.num_src_nodes(), dtype=torch.bool)
    used[lsrc] = True
    assert bool(used[b.num_dst_nodes():].all())


@pytest.mark.parametrize("replace", [False, True])
def test_blocks_hold_exactly_the_sampled_edges(replace):
    g = random_graph()
    seeds = torch.tensor([3, 17, 50, 99, 150, 7])
    fanouts = [4, 3]
    input_nodes, output_nodes, blocks = NeighborSampler(fanouts, replace=replace).sample(g, seeds)
    assert torch.equal(output_nodes, seeds)
    assert len(blocks) == 2
    assert torch.equal(blocks[0].srcdata[gk.NID], input_nodes)
    for layer, b in enumerate(blocks):
        assert b.is_block
        assert_exact_sample(g, b, fanouts[layer], replace)
    assert torch.equal(blocks[0].dstdata[gk.NID], blocks[1].srcdata[gk.NID])


@pytest.mark.parametrize("degree,fanout", [(12, 5), (300, 3)])  # top-k path and Floyd (hub) path
def test_without_replacement_subsets_are_uniform(degree, fanout):
    g = gk.graph((torch.arange(1, degree + 1), torch.zeros(degree, dtype=torch.int64)), num_nodes=degree + 1)
    trials = 4000 if degree < 100 else 40000
    # One call, many independent rows for the same node.
    _, dst, eid = sample_neighbors(g, torch.zeros(trials, dtype=torch.int64), fanout)
    assert torch.equal(dst, torch.arange(trials).repeat_interleave(fanout))
    rows = torch.sort(eid.view(trials, fanout), dim=1).values
    assert bool((rows[:, 1:] != rows[:, :-1]).all())  # no repeats inside a row
    freq = torch.bincount(eid, minlength=degree).double() / trials
    p = fanout / degree
    std = math.sqrt(p * (1 - p) / trials)
    assert float((freq - p).abs().max()) < 5 * std
    # Pairs are uniform too (a subset sampler, not just uniform marginals): P(0 and 1) = k(k-1)/(d(d-1)).
    both = (rows == 0).any(1) & (rows == 1).any(1)
    p2 = fanout * (fanout - 1) / (degree * (degree - 1))
    assert float(both.double().mean()) == pytest.approx(p2, abs=5 * math.sqrt(p2 / trials) + 1e-4)


def test_mixed_rows_and_repeated_batches_stay_exact():
    """Rows that keep all edges, rows drawn by top-k and hub rows drawn by Floyd in one frontier;
    many batches in a row on one graph, so a stale id map from earlier batches would show."""
    gen = torch.Generator().manual_seed(5)
    n = 400
    src = torch.randint(0, n, (3000,), generator=gen)
    dst = torch.randint(0, n, (3000,), generator=gen)
    hub_src = torch.randint(0, n, (500,), generator=gen)  # node 0 gets 500 extra in-edges (> 64)
    g = gk.graph((torch.cat([src, hub_src]), torch.cat([dst, torch.zeros(500, dtype=torch.int64)])), num_nodes=n)
    sampler = NeighborSampler([6, 5])
    order = torch.randperm(n, generator=gen)
    for i in range(12):
        seeds = torch.cat([torch.tensor([0]), order[i * 30:(i + 1) * 30][order[i * 30:(i + 1) * 30] != 0]])
        input_nodes, _, blocks = sampler.sample(g, seeds)
        for b, k in zip(blocks, [6, 5]):
            assert_exact_sample(g, b, k, replace=False)
        assert torch.equal(blocks[0].srcdata[gk.NID], input_nodes)
    with pytest.raises(ValueError, match="repeat"):
        sampler.sample(g, torch.tensor([4, 9, 4]))


def test_weighted_sampling_follows_the_weights():
    degree = 6
    g = gk.graph((torch.arange(1, degree + 1), torch.zeros(degree, dtype=torch.int64)), num_nodes=degree + 1)
    weight = torch.tensor([0.0, 1.0, 2.0, 3.0, 4.0, 0.0])
    trials = 4000
    _, _, eid = sample_neighbors(g, torch.zeros(trials, dtype=torch.int64), 1, replace=True, prob=weight)
    freq = torch.bincount(eid, minlength=degree).double() / trials
    assert freq[0] == 0 and freq[5] == 0
    assert torch.allclose(freq, weight.double() / weight.sum(), atol=0.03)
    # Without replacement: zero-weight edges never appear; 4 positive edges, fanout 3.
    for _ in range(50):
        _, _, eid = sample_neighbors(g, torch.tensor([0]), 3, prob=weight)
        assert eid.numel() == 3 and not bool(torch.isin(eid, torch.tensor([0, 5])).any())
    # Heavier edges are picked more often (first pick of a weighted draw without replacement).
    hits = torch.zeros(degree)
    for _ in range(1000):
        _, _, eid = sample_neighbors(g, torch.tensor([0]), 1, prob=weight)
        hits[eid] += 1
    assert hits[4] > hits[3] > hits[2] > hits[1] > 0


def test_full_fanout_minibatch_equals_full_graph():
    from gnnkit.nn import SAGEConv

    g = random_graph(150, 900, seed=3)
    x = torch.randn(150, 8)
    layers = torch.nn.ModuleList([SAGEConv(8, 16, "mean"), SAGEConv(16, 5, "mean")])

    def run(graphs, h):
        for i, (layer, blk) in enumerate(zip(layers, graphs)):
            h = layer(blk, h)
            if i == 0:
                h = torch.relu(h)
        return h

    full = run([g, g], x)
    seeds = torch.tensor([5, 0, 77, 149, 33, 101])
    input_nodes, output_nodes, blocks = MultiLayerFullNeighborSampler(2).sample(g, seeds)
    mini = run(blocks, x[input_nodes])
    assert torch.allclose(mini, full[output_nodes], atol=1e-5)


def test_sampler_rejects_bad_input():
    g = random_graph(20, 50)
    with pytest.raises(ValueError, match="fanouts"):
        NeighborSampler([])
    with pytest.raises(ValueError, match="fanout"):
        NeighborSampler([2, -3])
    with pytest.raises(ValueError, match="out of range"):
        NeighborSampler([2]).sample(g, torch.tensor([25]))
    with pytest.raises(ValueError, match="prob"):
        NeighborSampler([2], prob=torch.ones(3)).sample(g, torch.tensor([1]))


def test_dataloader_slices_only_sampled_nodes_and_covers_seeds():
    g = random_graph(300, 3000, seed=1)
    g.ndata["feat"] = torch.randn(300, 4)
    g.ndata["label"] = torch.arange(300)
    g.edata["w"] = torch.rand(3000)
    train = torch.arange(0, 300, 2)
    loader = DataLoader(g, train, NeighborSampler([5, 5]), batch_size=32, shuffle=True, drop_last=False)
    assert len(loader) == math.ceil(150 / 32)
    seen = []
    for input_nodes, output_nodes, blocks in loader:
        assert torch.equal(blocks[0].srcdata["feat"], g.ndata["feat"][input_nodes])
        assert torch.equal(blocks[-1].dstdata["label"], output_nodes)
        for b in blocks:
            assert torch.equal(b.edata["w"], g.edata["w"][b.edata[gk.EID]])
        seen.append(output_nodes)
    assert torch.equal(torch.sort(torch.cat(seen)).values, train)
    assert len(DataLoader(g, train, NeighborSampler([2]), batch_size=32, drop_last=True)) == 150 // 32


def test_dataloader_with_worker_processes_matches_structure():
    g = random_graph(200, 1500, seed=2)
    g.ndata["feat"] = torch.randn(200, 3)
    loader = DataLoader(g, torch.arange(200), NeighborSampler([3, 3]), batch_size=50, num_workers=2)
    outs = []
    for input_nodes, output_nodes, blocks in loader:
        assert torch.equal(blocks[0].srcdata["feat"], g.ndata["feat"][input_nodes])
        outs.append(output_nodes)
    assert torch.equal(torch.cat(outs), torch.arange(200))


def test_dataloader_prefetch_thread_matches_in_process_batches():
    g = random_graph(200, 1500, seed=4)
    g.ndata["feat"] = torch.randn(200, 3)
    # A large feature table exercises the huge-page path of the feature gather too.
    g.ndata["big"] = torch.randn(200, 1, 1).expand(200, 1, 40_000).contiguous()

    def batches(**kwargs):
        loader = DataLoader(g, torch.arange(200), NeighborSampler([3, 3], generator=torch.Generator().manual_seed(7)), batch_size=40, **kwargs)
        return [(inp, out, blocks) for inp, out, blocks in loader]

    plain, threaded = batches(), batches(use_prefetch_thread=True, prefetch_factor=3)
    assert len(plain) == len(threaded) == 5
    for (inp_a, out_a, blocks_a), (inp_b, out_b, blocks_b) in zip(plain, threaded):
        assert torch.equal(inp_a, inp_b) and torch.equal(out_a, out_b)
        assert torch.equal(blocks_b[0].srcdata["feat"], g.ndata["feat"][inp_b])
        assert torch.equal(blocks_b[0].srcdata["big"], g.ndata["big"][inp_b])
        for a, b in zip(blocks_a, blocks_b):
            assert torch.equal(a.edata[gk.EID], b.edata[gk.EID])
    # Leaving early stops the producer; an error in the sampler reaches the consumer.
    loader = DataLoader(g, torch.arange(200), NeighborSampler([3]), batch_size=10, use_prefetch_thread=True)
    for _ in loader:
        break

    class Broken:
        def sample(self, g, seeds):
            raise RuntimeError("sampler broke")

    with pytest.raises(RuntimeError, match="sampler broke"):
        list(DataLoader(g, torch.arange(200), Broken(), batch_size=10, use_prefetch_thread=True))


def test_metis_partition_and_reordering():
    # Two dense communities joined by one edge: METIS must separate them.
    a = torch.combinations(torch.arange(10)).T
    b = torch.combinations(torch.arange(10, 20)).T
    src = torch.cat([a[0], b[0], torch.tensor([0])])
    dst = torch.cat([a[1], b[1], torch.tensor([10])])
    g = gk.graph((src, dst), num_nodes=20)
    g.ndata["x"] = torch.arange(20.0)
    parts = metis_partition(g, 2)
    assert parts.shape == (20,)
    assert parts[:10].unique().numel() == 1 and parts[10:].unique().numel() == 1 and parts[0] != parts[10]
    assert torch.equal(metis_partition(g, 1), torch.zeros(20, dtype=torch.int64))
    new_g, perm, ptr = reorder_by_partition(g, parts)
    assert torch.equal(ptr, torch.tensor([0, 10, 20]))
    assert torch.equal(new_g.ndata["x"], g.ndata["x"][perm])
    # The reordered graph is isomorphic through perm.
    ns, nd = new_g.edges()
    assert edge_multiset(perm[ns], perm[nd], new_g.edata[gk.EID]) == edge_multiset(src, dst, torch.arange(src.numel()))
    with pytest.raises(ValueError, match="k"):
        metis_partition(g, 0)


def test_cluster_gcn_batches_are_induced_subgraphs():
    g = random_graph(120, 800, seed=4)
    sampler = ClusterGCNSampler(g, 6)
    sg = sampler.sample(g, torch.tensor([1, 4]))
    nodes = sg.ndata[gk.NID]
    assert torch.equal(torch.sort(nodes).values, torch.nonzero((sampler.parts == 1) | (sampler.parts == 4)).squeeze(1))
    inside = torch.zeros(120, dtype=torch.bool)
    inside[nodes] = True
    src, dst = g.edges()
    expected = torch.nonzero(inside[src] & inside[dst]).squeeze(1)
    assert torch.equal(torch.sort(sg.edata[gk.EID]).values, expected)
    ls, ld = sg.edges()
    assert torch.equal(nodes[ls], src[sg.edata[gk.EID]]) and torch.equal(nodes[ld], dst[sg.edata[gk.EID]])
    loader = DataLoader(g, torch.arange(6), sampler, batch_size=2, shuffle=True)
    covered = torch.cat([b.ndata[gk.NID] for b in loader])
    assert torch.equal(torch.sort(covered).values, torch.arange(120))


@pytest.mark.parametrize("mode", ["node", "edge", "walk"])
def test_saint_normalisation_is_unbiased(mode):
    g = random_graph(100, 600, seed=5)
    g.ndata["feat"] = torch.randn(100, 2)
    sampler = SAINTSampler(mode, budget=30, walk_length=2, num_norm_samples=200)
    sampler.prepare(g)
    # The loss normalisation makes sum_v node_norm * loss_v unbiased for the mean loss.
    loss = torch.rand(100)
    estimates = []
    for _ in range(150):
        sg = sampler.sample(g)
        nid = sg.ndata[gk.NID]
        assert torch.equal(sg.ndata["node_norm"], sampler.node_norm[nid])
        estimates.append(float((sg.ndata["node_norm"] * loss[nid]).sum()))
        ls, ld = sg.edges()
        assert torch.equal(nid[ls], g.sparse.src[sg.edata[gk.EID]])
    assert sum(estimates) / len(estimates) == pytest.approx(float(loss.mean()), rel=0.12)
    assert bool((sampler.edge_norm >= 1.0 - 1e-6).all())  # C_v >= C_uv for an induced subgraph


def test_shadow_subgraphs_are_per_seed_khop_induced():
    g = random_graph(80, 300, seed=6)
    seeds = torch.tensor([1, 2, 40])
    input_nodes, output_nodes, sg = ShaDowKHopSampler([-1, -1]).sample(g, seeds)
    assert torch.equal(output_nodes, seeds) and torch.equal(input_nodes[:3], seeds)
    owner = sg.ndata["seed_index"]
    src, dst = g.edges()
    for i, s in enumerate(seeds.tolist()):
        # Full fanout: the copy set of seed i is its 2-hop in-neighbourhood.
        hop1 = torch.unique(torch.cat([torch.tensor([s]), src[dst == s]]))
        hop2 = torch.unique(torch.cat([hop1, src[torch.isin(dst, hop1)]]))
        mine = input_nodes[owner == i]
        assert torch.equal(torch.sort(mine).values, hop2)
        ls, ld = sg.edges()
        keep = owner[ld] == i
        assert bool((owner[ls[keep]] == i).all())
        expected = torch.nonzero(torch.isin(src, hop2) & torch.isin(dst, hop2)).squeeze(1)
        assert torch.equal(torch.sort(sg.edata[gk.EID][keep]).values, expected)


def test_random_walks_follow_edges():
    g = random_graph(50, 300, seed=7)
    traces = random_walk(g, torch.arange(50), 6)
    assert traces.shape == (50, 7)
    assert torch.equal(traces[:, 0], torch.arange(50))
    for t in (traces, random_walk(g, torch.arange(50), 6, p=0.5, q=2.0)):
        a, b = t[:, :-1].reshape(-1), t[:, 1:].reshape(-1)
        ok = b >= 0
        assert bool(g.has_edges_between(a[ok], b[ok]).all())
    # With restarts a step leaves either the previous node or the start node.
    t = random_walk(g, torch.arange(50), 6, restart_prob=0.3)
    a, b = t[:, :-1].reshape(-1), t[:, 1:].reshape(-1)
    start = t[:, :1].expand(-1, 6).reshape(-1)
    ok = b >= 0
    assert bool((g.has_edges_between(a[ok], b[ok]) | g.has_edges_between(start[ok], b[ok])).all())


def test_node2vec_return_parameter_biases_back_steps():
    # A star: from a leaf the walk must go to the centre, then back (returning) or elsewhere.
    n = 11
    centre = torch.zeros(n - 1, dtype=torch.int64)
    leaves = torch.arange(1, n)
    g = gk.graph((torch.cat([centre, leaves]), torch.cat([leaves, centre])), num_nodes=n)
    starts = torch.ones(4000, dtype=torch.int64)
    back_low_p = (random_walk(g, starts, 2, p=0.1, q=1.0)[:, 2] == 1).double().mean()
    back_uniform = (random_walk(g, starts, 2)[:, 2] == 1).double().mean()
    # Uniform: 1/10. With p=0.1 the return weight is 10 against 9 * 1/q = 9: 10/19.
    assert float(back_uniform) == pytest.approx(0.1, abs=0.03)
    assert float(back_low_p) == pytest.approx(10 / 19, abs=0.04)


def test_random_walk_with_restart_returns_to_start():
    g = gk.graph((torch.arange(0, 20), torch.arange(1, 21)), num_nodes=21)  # a path
    traces = random_walk(g, torch.zeros(2000, dtype=torch.int64), 5, restart_prob=0.5)
    assert float((traces[:, 1:] == 1).double().mean()) > 0.3  # often back at step 1 after a restart


def test_edge_prediction_sampler_pairs_and_exclusion():
    g = random_graph(100, 700, seed=8)
    sampler = EdgePredictionSampler(NeighborSampler([-1]), negative_sampler=UniformNegativeSampler(3), exclude="self")
    eids = torch.tensor([0, 5, 9, 400])
    input_nodes, pair, neg, blocks = sampler.sample(g, eids)
    nid = pair.ndata[gk.NID]
    ps, pd = pair.edges()
    src, dst = g.find_edges(eids)
    assert torch.equal(nid[ps], src) and torch.equal(nid[pd], dst)
    ns, nd = neg.edges()
    assert neg.num_edges() == 12 and torch.equal(nid[ns], src.repeat_interleave(3))
    assert torch.equal(blocks[-1].dstdata[gk.NID], nid)
    # exclude='self': the batch edges are absent from the blocks, all other in-edges present.
    assert not bool(torch.isin(blocks[0].edata[gk.EID], eids).any())
    all_in = torch.nonzero(torch.isin(g.sparse.dst, nid)).squeeze(1)
    assert torch.equal(torch.sort(blocks[0].edata[gk.EID]).values, all_in[~torch.isin(all_in, eids)])
    loader = DataLoader(g, torch.arange(700), sampler, batch_size=128)
    assert sum(p.num_edges() for _, p, _, _ in loader) == 700


def test_dataloader_attaches_features_to_subgraphs():
    g = random_graph(90, 400, seed=9)
    g.ndata["feat"] = torch.randn(90, 3)
    g.edata["w"] = torch.rand(400)
    loader = DataLoader(g, torch.arange(90), ShaDowKHopSampler([3, 2]), batch_size=16)
    for input_nodes, output_nodes, sg in loader:
        assert torch.equal(sg.ndata["feat"], g.ndata["feat"][input_nodes])
        assert torch.equal(sg.edata["w"], g.edata["w"][sg.edata[gk.EID]])
        assert torch.equal(input_nodes[: output_nodes.numel()], output_nodes)
