"""Message passing: builtins against UDFs and dense references, degree bucketing, partial
propagation, traversal orders and a Child-Sum TreeLSTM-style propagation."""

import pytest
import torch

import gnnkit as gk
import gnnkit.function as fn


def random_graph(n=12, e=40, seed=0):
    gen = torch.Generator().manual_seed(seed)
    src = torch.randint(0, n - 1, (e,), generator=gen)
    dst = torch.randint(0, n - 1, (e,), generator=gen)
    g = gk.graph((torch.cat([src, torch.arange(3)]), torch.cat([dst, torch.arange(3)])), num_nodes=n)
    g.ndata["h"] = torch.randn(n, 4, dtype=torch.float64, generator=gen)
    g.edata["w"] = torch.rand(g.num_edges(), 1, dtype=torch.float64, generator=gen) + 0.1
    return g


UDF_MESSAGES = {
    "copy_u": (fn.copy_u("h", "m"), lambda e: {"m": e.src["h"]}),
    "u_mul_e": (fn.u_mul_e("h", "w", "m"), lambda e: {"m": e.src["h"] * e.data["w"]}),
    "u_add_v": (fn.u_add_v("h", "h", "m"), lambda e: {"m": e.src["h"] + e.dst["h"]}),
    "v_sub_u": (fn.v_sub_u("h", "h", "m"), lambda e: {"m": e.dst["h"] - e.src["h"]}),
    "e_mul_u": (fn.e_mul_u("w", "h", "m"), lambda e: {"m": e.data["w"] * e.src["h"]}),
    "u_dot_v": (fn.u_dot_v("h", "h", "m"), lambda e: {"m": (e.src["h"] * e.dst["h"]).sum(-1, keepdim=True)}),
}
UDF_REDUCES = {
    "sum": (fn.sum("m", "out"), lambda n: {"out": n.mailbox["m"].sum(1)}),
    "mean": (fn.mean("m", "out"), lambda n: {"out": n.mailbox["m"].mean(1)}),
    "max": (fn.max("m", "out"), lambda n: {"out": n.mailbox["m"].max(1).values}),
    "min": (fn.min("m", "out"), lambda n: {"out": n.mailbox["m"].min(1).values}),
}


@pytest.mark.parametrize("message", list(UDF_MESSAGES))
@pytest.mark.parametrize("reduce", list(UDF_REDUCES))
def test_builtins_equal_udfs_in_every_combination(message, reduce):
    g = random_graph()
    builtin_msg, udf_msg = UDF_MESSAGES[message]
    builtin_red, udf_red = UDF_REDUCES[reduce]
    results = []
    for m, r in [(builtin_msg, builtin_red), (udf_msg, builtin_red), (builtin_msg, udf_red), (udf_msg, udf_red)]:
        with g.local_scope():
            g.update_all(m, r)
            results.append(g.ndata["out"])
    for other in results[1:]:
        torch.testing.assert_close(results[0], other)
    assert results[0][-1].abs().sum() == 0  # the isolated node receives zeros


def test_update_all_against_dense_adjacency_and_apply():
    g = random_graph()
    adj = torch.zeros(g.num_nodes(), g.num_nodes(), dtype=torch.float64)
    for u, v in zip(*g.edges()):
        adj[v, u] += 1
    g.update_all(fn.copy_u("h", "m"), fn.sum("m", "agg"), lambda nodes: {"agg": nodes.data["agg"] * 2})
    torch.testing.assert_close(g.ndata["agg"], 2 * adj @ g.ndata["h"])


def test_degree_bucketing_mailbox_shapes():
    g = gk.graph(([0, 1, 2, 0, 1, 3], [3, 3, 3, 2, 2, 1]), num_nodes=5)
    g.ndata["h"] = torch.arange(5.0).view(5, 1)
    seen = []

    def reducer(nodes):
        seen.append((nodes.nodes().tolist(), tuple(nodes.mailbox["m"].shape)))
        return {"out": nodes.mailbox["m"].sum(1)}

    g.update_all(fn.copy_u("h", "m"), reducer)
    assert sorted(seen) == sorted([([1], (1, 1, 1)), ([2], (1, 2, 1)), ([3], (1, 3, 1))])
    assert g.ndata["out"].view(-1).tolist() == [0.0, 3.0, 1.0, 3.0, 0.0]


def test_lstm_reducer_receives_ordered_mailbox_and_backprops():
    g = random_graph()
    lstm = torch.nn.LSTM(4, 3, batch_first=True).double()

    def reducer(nodes):
        _, (h, _) = lstm(nodes.mailbox["m"])
        return {"out": h[-1]}

    g.update_all(fn.copy_u("h", "m"), reducer)
    g.ndata["out"].sum().backward()
    assert lstm.weight_ih_l0.grad is not None and g.ndata["out"].shape == (12, 3)


def test_send_and_recv_pull_push_update_only_receivers():
    g = random_graph()
    g.ndata["out"] = torch.full((12, 4), -1.0, dtype=torch.float64)
    eids = torch.tensor([0, 1, 2])
    g.send_and_recv(eids, fn.copy_u("h", "m"), fn.sum("m", "out"))
    src, dst = g.find_edges(eids)
    receivers = torch.unique(dst)
    for v in range(12):
        if v in receivers.tolist():
            want = g.ndata["h"][src[dst == v]].sum(0)
            torch.testing.assert_close(g.ndata["out"][v], want)
        else:
            assert g.ndata["out"][v].eq(-1).all()
    with g.local_scope():
        g.pull([0, 11], fn.copy_u("h", "m"), fn.sum("m", "p"))
        full = gk.ops.gspmm(g.sparse, "copy_u", "sum", g.ndata["h"])
        torch.testing.assert_close(g.ndata["p"][0], full[0])
        assert g.ndata["p"][11].abs().sum() == 0
    with g.local_scope():
        g.push([1], fn.copy_u("h", "m"), fn.sum("m", "q"))
        receivers = torch.unique(g.successors(1))
        assert g.ndata["q"][receivers].abs().sum() > 0


def test_apply_edges_subset_and_filters():
    g = random_graph()
    g.apply_edges(fn.u_add_v("h", "h", "s"))
    src, dst = g.edges()
    torch.testing.assert_close(g.edata["s"], g.ndata["h"][src] + g.ndata["h"][dst])
    g.apply_edges(lambda e: {"s": e.data["s"] * 0}, edges=[0, 1])
    assert g.edata["s"][:2].abs().sum() == 0 and g.edata["s"][2:].abs().sum() > 0
    big = g.filter_nodes(lambda nodes: nodes.data["h"][:, 0] > 0)
    assert torch.equal(big, torch.nonzero(g.ndata["h"][:, 0] > 0).view(-1))
    heavy = g.filter_edges(lambda edges: edges.data["w"][:, 0] > 0.5)
    assert torch.equal(heavy, torch.nonzero(g.edata["w"][:, 0] > 0.5).view(-1))
    g.apply_nodes(lambda nodes: {"h2": nodes.data["h"] + 1})
    torch.testing.assert_close(g.ndata["h2"], g.ndata["h"] + 1)


def test_message_passing_on_block_and_batch():
    g = random_graph()
    full = gk.ops.gspmm(g.sparse, "copy_u", "mean", g.ndata["h"])
    blk = gk.to_block(g, torch.arange(5))
    blk.update_all(fn.copy_u("h", "m"), fn.mean("m", "out"))
    torch.testing.assert_close(blk.dstdata["out"], full[:5])
    bg = gk.batch([g, random_graph(seed=1)])
    bg.update_all(fn.copy_u("h", "m"), fn.mean("m", "out"))
    torch.testing.assert_close(bg.ndata["out"][:12], full)


def test_errors_name_the_problem():
    g = random_graph()
    with pytest.raises(ValueError, match="reads messages 'x'"):
        g.update_all(fn.copy_u("h", "m"), fn.sum("x", "out"))
    with pytest.raises(TypeError, match="must return a dict"):
        g.update_all(lambda e: e.src["h"], fn.sum("m", "out"))
    with pytest.raises(ValueError, match="expected 12 rows"):
        g.apply_nodes(lambda n: {"bad": torch.zeros(3)})


def test_gk_edge_softmax_subset():
    g = random_graph()
    scores = torch.randn(g.num_edges(), 2, dtype=torch.float64)
    full = gk.edge_softmax(g, scores)
    sums = torch.zeros(12, 2, dtype=torch.float64).index_add_(0, g.edges()[1], full)
    torch.testing.assert_close(sums[g.in_degrees() > 0], torch.ones_like(sums[g.in_degrees() > 0]))
    part = gk.edge_softmax(g, scores[:5], eids=torch.arange(5))
    assert part.shape == (5, 2)


# ---------------------------------------------------------------------------------------------
# traversal


def tree():
    # Edges point from children to parents: leaves 3,4 -> 1; 5 -> 2; 1,2 -> 0.
    return gk.graph(([3, 4, 5, 1, 2], [1, 1, 2, 0, 0]), num_nodes=6)


def test_topological_bfs_dfs_orders():
    t = tree()
    fronts = [f.tolist() for f in gk.topological_nodes_generator(t)]
    assert fronts == [[3, 4, 5], [1, 2], [0]]
    assert [f.tolist() for f in gk.topological_nodes_generator(t, reverse=True)] == [[0], [1, 2], [3, 4, 5]]
    assert [sorted(f.tolist()) for f in gk.bfs_nodes_generator(t, 0, reverse=True)] == [[0], [1, 2], [3, 4, 5]]
    edges = gk.bfs_edges_generator(t, 0, reverse=True)
    assert [sorted(f.tolist()) for f in edges] == [[3, 4], [0, 1, 2]]
    dfs = gk.dfs_edges_generator(t, 0, reverse=True)
    # From the root along reversed edges, children in edge-id order: 0->1 (edge 3), then 1's
    # subtree (edges 0, 1) before the root's next child 2 (edge 4) and its subtree (edge 2).
    assert [f.tolist() for f in dfs] == [[3], [0], [1], [4], [2]]
    with pytest.raises(ValueError, match="cycle"):
        gk.topological_nodes_generator(gk.graph(([0, 1], [1, 0])))


def test_prop_nodes_topo_accumulates_subtree_sizes_and_keeps_leaves():
    t = tree()
    t.ndata["size"] = torch.ones(6, 1)
    # Child-Sum style: each node adds its children's accumulated values to its own leaf value.
    t.ndata["acc"] = torch.ones(6, 1)
    gk.prop_nodes_topo(
        t,
        fn.copy_u("acc", "m"),
        lambda nodes: {"child_sum": nodes.mailbox["m"].sum(1)},
        lambda nodes: {"acc": nodes.data["size"] + nodes.data["child_sum"]} if "child_sum" in nodes.data else {"acc": nodes.data["acc"]},
    )
    assert t.ndata["acc"].view(-1).tolist() == [6.0, 3.0, 2.0, 1.0, 1.0, 1.0]


def test_prop_edges_dfs_runs_along_tree_edges():
    t = tree()
    t.ndata["depth"] = torch.zeros(6, 1)
    rev = gk.reverse(t)
    gk.prop_edges_dfs(rev, 0, fn.copy_u("depth", "m"), fn.max("m", "d"), apply_node_func=lambda n: {"depth": n.data["d"] + 1})
    assert rev.ndata["depth"].view(-1).tolist() == [0.0, 1.0, 1.0, 2.0, 2.0, 2.0]
