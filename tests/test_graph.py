"""The Graph: construction and validation, queries, frames, mutation, batching, transforms,
blocks and conversions."""

import sys

import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp
import torch

import gnnkit as gk


def small_graph():
    # 0->1, 1->2, 2->0, 2->0 (multi-edge), 3->3 (self-loop), node 4 isolated
    g = gk.graph(([0, 1, 2, 2, 3], [1, 2, 0, 0, 3]), num_nodes=5)
    g.ndata["x"] = torch.arange(10.0).view(5, 2)
    g.edata["w"] = torch.arange(5.0)
    return g


# ---------------------------------------------------------------------------------------------
# construction and validation


def test_construction_and_counts():
    g = small_graph()
    assert (g.num_nodes(), g.num_edges()) == (5, 5)
    assert gk.graph(([0, 1], [1, 2])).num_nodes() == 3
    assert gk.graph(torch.tensor([[0, 1], [1, 2]])).num_edges() == 2
    assert gk.graph(([], []), num_nodes=4).num_nodes() == 4


@pytest.mark.parametrize(
    "data, kwargs, match",
    [
        (([0, -1], [1, 2]), {}, "non-negative"),
        (([0, 1], [1, 2, 3]), {}, "same length"),
        (([0.0, 1.0], [1, 2]), {}, "must be integers"),
        ((torch.tensor([0.0, float("nan")]), [1, 2]), {}, "NaN"),
        (([0, 5], [1, 2]), {"num_nodes": 3}, "num_nodes is 3"),
        ("not a pair", {}, "expected a \\(src, dst\\) pair"),
        (([0, 1], [1, 2]), {"num_nodes": -1}, "non-negative int"),
    ],
)
def test_bad_input_is_rejected_with_a_clear_message(data, kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        gk.graph(data, **kwargs)


def test_frames_check_rows_and_device():
    g = small_graph()
    with pytest.raises(ValueError, match="expected a tensor with 5 rows"):
        g.ndata["bad"] = torch.zeros(4, 2)
    with pytest.raises(ValueError, match="expected a tensor with 5 rows"):
        g.edata["bad"] = torch.zeros(6)
    with pytest.raises(TypeError, match="expected a torch.Tensor"):
        g.ndata["bad"] = [1, 2, 3, 4, 5]
    if torch.cuda.is_available():
        with pytest.raises(ValueError, match="the graph is on cpu"):
            g.ndata["bad"] = torch.zeros(5, device="cuda")
    with pytest.raises(KeyError, match="has no feature 'nope'"):
        g.ndata["nope"]


def test_local_scope_keeps_temporary_features_out():
    g = small_graph()
    with g.local_scope():
        g.ndata["tmp"] = torch.ones(5)
        g.ndata["x"] = torch.zeros(5, 2)
        assert "tmp" in g.ndata
    assert "tmp" not in g.ndata
    assert g.ndata["x"].sum() == 45


# ---------------------------------------------------------------------------------------------
# queries


def test_degrees_neighbours_and_edge_queries():
    g = small_graph()
    assert g.in_degrees().tolist() == [2, 1, 1, 1, 0]
    assert g.out_degrees().tolist() == [1, 1, 2, 1, 0]
    assert g.in_degrees(0) == 2
    assert sorted(g.predecessors(0).tolist()) == [2, 2]
    assert g.successors(2).tolist() == [0, 0]
    assert g.has_edges_between([0, 1, 4], [1, 0, 4]).tolist() == [True, False, False]
    assert g.has_edges_between(3, 3) is True
    assert g.edge_ids(2, 0) == 2  # smallest id among the parallel edges
    assert g.edge_ids([0, 1], [1, 2]).tolist() == [0, 1]
    with pytest.raises(ValueError, match=r"\(1, 0\) is not an edge"):
        g.edge_ids(1, 0)
    src, dst = g.find_edges([3, 4])
    assert src.tolist() == [2, 3] and dst.tolist() == [0, 3]
    u, v, e = g.in_edges(0, form="all")
    assert u.tolist() == [2, 2] and e.tolist() == [2, 3]
    assert g.out_edges([2, 3], form="eid").tolist() == [2, 3, 4]
    s, d = g.edges(order="srcdst")
    assert s.tolist() == [0, 1, 2, 2, 3]
    assert g.edges(form="eid").tolist() == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError, match="out of range"):
        g.in_degrees(7)


def test_adj_matches_dense():
    g = small_graph()
    dense = torch.zeros(5, 5)
    for u, v in zip(*g.edges()):
        dense[u, v] += 1
    torch.testing.assert_close(g.adj().to_dense(), dense)
    torch.testing.assert_close(g.adj(transpose=True).to_dense(), dense.t())
    torch.testing.assert_close(torch.as_tensor(g.adj_external("csr").toarray()), dense)


def test_csr_cache_dropped_on_mutation():
    g = small_graph()
    assert g.in_degrees().tolist() == [2, 1, 1, 1, 0]
    g.add_edges([4], [0])
    assert g.in_degrees().tolist() == [3, 1, 1, 1, 0]


# ---------------------------------------------------------------------------------------------
# mutation keeps features aligned


def test_add_nodes_and_edges_fill_features():
    g = small_graph()
    g.add_nodes(2, {"x": torch.full((2, 2), 7.0)})
    assert g.num_nodes() == 7 and g.ndata["x"][5:].eq(7).all()
    g.add_nodes(1)
    assert g.ndata["x"][7].eq(0).all()
    g.add_edges([0, 1], [7, 7], {"w": torch.tensor([10.0, 11.0])})
    assert g.edata["w"][-2:].tolist() == [10.0, 11.0]
    g.add_edges([9], [0])  # adds nodes 8 and 9
    assert g.num_nodes() == 10 and g.edata["w"][-1] == 0 and g.ndata["x"].shape == (10, 2)


def test_remove_edges_and_nodes_keep_features_aligned():
    g = small_graph()
    g.remove_edges([0, 3])
    assert g.edata["w"].tolist() == [1.0, 2.0, 4.0]
    assert g.edges()[0].tolist() == [1, 2, 3]
    g = small_graph()
    g.remove_nodes([0], store_ids=True)
    # Remaining nodes 1..4 become 0..3; edges touching node 0 are gone.
    assert g.num_nodes() == 4
    assert g.ndata["x"][:, 0].tolist() == [2.0, 4.0, 6.0, 8.0]
    assert g.ndata[gk.NID].tolist() == [1, 2, 3, 4]
    assert g.edges()[0].tolist() == [0, 2] and g.edata["w"].tolist() == [1.0, 4.0]
    with pytest.raises(ValueError, match="out of range"):
        g.remove_nodes([9])


# ---------------------------------------------------------------------------------------------
# batching


def test_batch_and_unbatch_roundtrip():
    graphs = []
    for i, n in enumerate([3, 1, 4]):
        g = gk.graph((torch.randint(0, n, (i + 2,)), torch.randint(0, n, (i + 2,))), num_nodes=n)
        g.ndata["h"] = torch.randn(n, 3)
        g.edata["e"] = torch.randn(i + 2)
        graphs.append(g)
    bg = gk.batch(graphs)
    assert bg.batch_size == 3
    assert bg.batch_num_nodes().tolist() == [3, 1, 4]
    assert bg.batch_num_edges().tolist() == [2, 3, 4]
    assert bg.node_graph_ids().tolist() == [0, 0, 0, 1, 2, 2, 2, 2]
    offsets = [0, 3, 4]
    want_src = torch.cat([g.edges()[0] + o for g, o in zip(graphs, offsets)])
    want_dst = torch.cat([g.edges()[1] + o for g, o in zip(graphs, offsets)])
    assert torch.equal(bg.edges()[0], want_src) and torch.equal(bg.edges()[1], want_dst)
    assert torch.equal(bg.ndata["h"], torch.cat([g.ndata["h"] for g in graphs]))
    for a, b in zip(graphs, gk.unbatch(bg)):
        assert torch.equal(torch.stack(a.edges()), torch.stack(b.edges()))
        assert torch.equal(a.ndata["h"], b.ndata["h"]) and torch.equal(a.edata["e"], b.edata["e"])
    nested = gk.batch([bg, graphs[0]])
    assert nested.batch_num_nodes().tolist() == [3, 1, 4, 3]
    with pytest.raises(ValueError, match="same features"):
        gk.batch([graphs[0], gk.graph(([0], [1]))])
    with pytest.raises(ValueError, match="non-empty"):
        gk.batch([])


def test_batch_with_edgeless_graphs_and_bad_items():
    bg = gk.batch([gk.graph(([], []), num_nodes=2), gk.graph(([0, 1], [1, 0])), gk.graph(([], []), num_nodes=1)])
    assert bg.edges()[0].tolist() == [2, 3] and bg.edges()[1].tolist() == [3, 2]
    assert bg.batch_num_edges().tolist() == [0, 2, 0] and bg.num_nodes() == 5
    with pytest.raises(TypeError, match="item 1 is a tuple"):
        gk.batch([gk.graph(([0], [1])), ([0], [1])])
    with pytest.raises(TypeError, match="item 0 is a block"):
        gk.batch([gk.block(([0], [0]), 1, 1)])


@pytest.mark.parametrize("sizes", [
    [(4, 7), (1, 0), (6, 30), (2, 3), (5, 0), (9, 80), (3, 1)],
    [(2, 0), (3, 0), (4, 5), (1, 0), (2, 0)],  # edgeless graphs first and last
    [(5, 0), (2, 0)],
    [(7, 9)],
])
@pytest.mark.parametrize("chunk_edges", [1, 4, 1 << 17])
def test_batch_node_offsets_match_a_per_graph_reference(monkeypatch, sizes, chunk_edges):
    # Offsets are added chunk by chunk: from one graph per chunk to one chunk for the batch.
    monkeypatch.setattr(sys.modules["gnnkit.graph.batch"], "OFFSET_CHUNK_EDGES", chunk_edges)
    gen = torch.Generator().manual_seed(3)
    graphs, offset, want = [], 0, []
    for n, e in sizes:
        src, dst = torch.randint(0, n, (e,), generator=gen), torch.randint(0, n, (e,), generator=gen)
        graphs.append(gk.graph((src, dst), num_nodes=n))
        want.append(torch.stack([src, dst]) + offset)
        offset += n
    bg = gk.batch(graphs)
    assert torch.equal(torch.stack(bg.edges()), torch.cat(want, 1))
    assert bg.num_nodes() == offset


@pytest.mark.parametrize("sizes", [
    [(4, 7), (1, 0), (6, 30), (2, 3), (5, 0), (9, 80), (3, 1)],
    [(2, 0), (3, 0), (4, 5), (1, 0), (2, 0)],
])
@pytest.mark.parametrize("threads", [2, 3])
def test_batch_split_over_threads_matches_the_one_thread_batch(monkeypatch, sizes, threads):
    # Every chunk is its own unit of work, and any output is big enough to be split.
    batch_module = sys.modules["gnnkit.graph.batch"]
    monkeypatch.setattr(batch_module, "OFFSET_CHUNK_EDGES", 2)
    monkeypatch.setattr(batch_module, "MIN_BYTES_PER_THREAD", 1)
    monkeypatch.setattr(batch_module, "_copy_threads", None)
    gen = torch.Generator().manual_seed(5)
    graphs = []
    for n, e in sizes:
        g = gk.graph((torch.randint(0, n, (e,), generator=gen), torch.randint(0, n, (e,), generator=gen)), num_nodes=n)
        g.ndata["h"] = torch.randn(n, 3, generator=gen)
        g.ndata["label"] = torch.randint(0, 9, (n,), generator=gen)
        g.edata["w"] = torch.randn(e, 2, generator=gen)
        graphs.append(g)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        want = gk.batch(graphs)
        torch.set_num_threads(threads)
        got = gk.batch(graphs)
    finally:
        torch.set_num_threads(before)
    assert batch_module._copy_threads is not None  # the split path ran
    assert torch.equal(torch.stack(got.edges()), torch.stack(want.edges()))
    for key in ("h", "label"):
        assert torch.equal(got.ndata[key], want.ndata[key])
    assert torch.equal(got.edata["w"], want.edata["w"])
    graphs[-2].ndata["h"] = torch.randn(graphs[-2].num_nodes(), 4)  # wrong width, copied by a helper thread
    torch.set_num_threads(threads)
    try:
        with pytest.raises(ValueError, match=rf"graph {len(graphs) - 2} has ndata\['h'\] of shape \[\d+, 4\] but graph 0 has \[\d+, 3\]"):
            gk.batch(graphs)
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("big_nodes", [2**31 - 8, 2**31 - 7, 2**32 + 7])
def test_batch_offsets_exact_on_both_sides_of_the_int32_fast_path(big_nodes):
    # Up to 2**31 nodes in all, offsets are added as int32 halves of the int64 ids; past it, as int64.
    big = gk.graph(([0, big_nodes - 1], [big_nodes - 1, 1]), num_nodes=big_nodes)
    small = gk.graph(([0, 3, 2], [3, 1, 3]), num_nodes=4)
    bg = gk.batch([small, big, small])
    src, dst = bg.edges()
    want_src = [0, 3, 2, 4, big_nodes + 3, big_nodes + 4, big_nodes + 7, big_nodes + 6]
    want_dst = [3, 1, 3, big_nodes + 3, 5, big_nodes + 7, big_nodes + 5, big_nodes + 7]
    assert src.tolist() == want_src and dst.tolist() == want_dst
    assert bg.num_nodes() == big_nodes + 8


def test_batch_promotes_mixed_feature_dtypes():
    a, b = gk.graph(([0], [1])), gk.graph(([0], [1]))
    a.ndata["h"] = torch.ones(2, dtype=torch.float32)
    b.ndata["h"] = torch.full((2,), 1 + 1e-12, dtype=torch.float64)
    h = gk.batch([a, b]).ndata["h"]
    assert h.dtype == torch.float64 and h[3].item() == 1 + 1e-12


def test_batch_mutation_updates_counts():
    graphs = [gk.graph(([0, 1], [1, 2])), gk.graph(([0], [1]))]
    bg = gk.batch(graphs)
    bg.remove_nodes([0])
    assert bg.batch_num_nodes().tolist() == [2, 2] and bg.batch_num_edges().tolist() == [1, 1]
    looped = gk.add_self_loop(gk.batch(graphs))
    assert looped.batch_num_edges().tolist() == [5, 3]
    assert [g.num_edges() for g in gk.unbatch(looped)] == [5, 3]
    assert all((g.sparse.src < g.num_nodes()).all() for g in gk.unbatch(looped))


# ---------------------------------------------------------------------------------------------
# transforms


def test_reverse_self_loops_simple_bidirected():
    g = small_graph()
    r = gk.reverse(g, copy_edata=True)
    assert torch.equal(r.edges()[0], g.edges()[1]) and torch.equal(r.edata["w"], g.edata["w"])
    assert r.in_degrees().tolist() == g.out_degrees().tolist()
    loops = gk.add_self_loop(g)
    assert loops.num_edges() == 10 and loops.edata["w"][5:].eq(1).all()
    no_loops = gk.remove_self_loop(g)
    assert no_loops.num_edges() == 4 and no_loops.edata["w"].tolist() == [0.0, 1.0, 2.0, 3.0]
    simple = gk.to_simple(g)
    assert simple.num_edges() == 4 and simple.edata["count"].tolist() == [1, 1, 2, 1]
    bi = gk.to_bidirected(g)
    pairs = set(zip(*[t.tolist() for t in bi.edges()]))
    assert pairs == {(0, 1), (1, 0), (1, 2), (2, 1), (0, 2), (2, 0), (3, 3)}


def test_subgraphs_keep_ids_and_features():
    g = small_graph()
    sg = gk.node_subgraph(g, [0, 2, 4])
    assert sg.num_nodes() == 3 and sg.ndata[gk.NID].tolist() == [0, 2, 4]
    assert sg.edata[gk.EID].tolist() == [2, 3] and sg.edata["w"].tolist() == [2.0, 3.0]
    assert torch.equal(sg.ndata["x"], g.ndata["x"][[0, 2, 4]])
    mask_sg = gk.node_subgraph(g, torch.tensor([True, False, True, False, True]))
    assert torch.equal(torch.stack(mask_sg.edges()), torch.stack(sg.edges()))
    eg = gk.edge_subgraph(g, [1, 4])
    assert eg.ndata[gk.NID].tolist() == [1, 2, 3] and eg.edata["w"].tolist() == [1.0, 4.0]
    assert eg.edges()[0].tolist() == [0, 2]
    khop, inv = gk.khop_in_subgraph(g, [1], 2)
    assert khop.ndata[gk.NID].tolist() == [0, 1, 2] and khop.ndata[gk.NID][inv].tolist() == [1]
    with pytest.raises(ValueError, match="duplicate"):
        gk.node_subgraph(g, [0, 0])


def test_line_graph_matches_definition():
    g = small_graph()
    lg = gk.line_graph(g)
    src, dst = g.edges()
    want = {(a, b) for a in range(5) for b in range(5) if dst[a] == src[b]}
    assert set(zip(*[t.tolist() for t in lg.edges()])) == want
    lg_nb = gk.line_graph(g, backtracking=False)
    want_nb = {(a, b) for a, b in want if src[a] != dst[b]}
    assert set(zip(*[t.tolist() for t in lg_nb.edges()])) == want_nb


@pytest.mark.parametrize("dilation", [1, 2, 3])
def test_knn_graph_matches_brute_force(dilation):
    x = torch.randn(2, 20, 3)
    g = gk.knn_graph(x, 4, dilation=dilation)
    assert g.batch_num_nodes().tolist() == [20, 20] and g.num_edges() == 2 * 20 * 4
    src, dst = g.edges()
    for b in range(2):
        for i in range(20):
            center = b * 20 + i
            d = ((x[b] - x[b, i]) ** 2).sum(-1)
            want = (torch.argsort(d)[: 4 * dilation : dilation] + b * 20).tolist()
            assert sorted(src[dst == center].tolist()) == sorted(want)
    seg = gk.segmented_knn_graph(torch.randn(17, 2), 3, [10, 7])
    assert seg.batch_num_nodes().tolist() == [10, 7]
    assert (seg.node_graph_ids()[seg.edges()[0]] == seg.node_graph_ids()[seg.edges()[1]]).all()
    with pytest.raises(ValueError, match="at least"):
        gk.knn_graph(torch.randn(5, 2), 3, dilation=2)


def test_to_block_puts_destinations_first():
    g = small_graph()
    blk = gk.to_block(g, torch.tensor([0, 3]))
    assert blk.is_block and blk.num_dst_nodes() == 2
    assert blk.srcdata[gk.NID][:2].tolist() == [0, 3]
    assert blk.srcdata[gk.NID].tolist() == [0, 3, 2]
    assert blk.edata[gk.EID].tolist() == [2, 3, 4]
    assert torch.equal(blk.srcdata["x"], g.ndata["x"][[0, 3, 2]])
    with pytest.raises(AttributeError, match="srcdata / dstdata"):
        blk.ndata
    with pytest.raises(ValueError, match="prefix"):
        gk.block(([0], [0]), num_src_nodes=1, num_dst_nodes=2)


# ---------------------------------------------------------------------------------------------
# conversions


def test_conversions_roundtrip():
    nxg = nx.karate_club_graph()
    g = gk.from_networkx(nxg, edge_attrs=["weight"])
    assert g.num_nodes() == 34 and g.num_edges() == 2 * nxg.number_of_edges()
    back = gk.to_networkx(g, undirected=True)
    assert nx.is_isomorphic(back, nxg)
    g2 = gk.small = small_graph()
    mdg = gk.to_networkx(g2, edge_attrs=["w"])
    assert mdg.number_of_edges() == 5 and mdg.number_of_edges(2, 0) == 2
    mat = sp.random(20, 20, density=0.1, format="csr", random_state=0)
    gs = gk.from_scipy(mat, eweight_name="val")
    assert gs.num_edges() == mat.nnz
    np.testing.assert_allclose(gk.to_scipy(gs, weight="val").toarray(), mat.toarray())
    ei = gk.to_edge_index(g2)
    assert ei.shape == (2, 5) and torch.equal(gk.to_edge_index(gk.from_edge_index(ei, 5)), ei)
    assert gk.to_edge_list(gk.from_edge_list([(0, 1), (2, 0)])) == [(0, 1), (2, 0)]


def test_to_device_and_clone():
    g = small_graph()
    c = g.clone()
    c.add_edges([4], [4])
    assert g.num_edges() == 5 and c.num_edges() == 6
    assert g.to("cpu") is g
    if torch.cuda.is_available():
        gg = g.to("cuda")
        assert gg.device.type == "cuda" and gg.ndata["x"].device.type == "cuda"
        assert gg.in_degrees().tolist() == g.in_degrees().tolist()
