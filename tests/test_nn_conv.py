"""Every conv layer against a dense float64 implementation of its formula, and the same output on a
graph, inside a batch with other graphs, and as a block (plus partial blocks for one-hop layers)."""


import pytest
import torch
import torch.nn.functional as F

import gnnkit as gk
import gnnkit.nn as gnn


@pytest.fixture(autouse=True)
def _single_thread():
    # These tensors are tiny: a second OpenMP thread only adds synchronisation, which costs
    # seconds per test when the machine is oversubscribed. (conftest restores 2 threads.)
    torch.set_num_threads(1)
    yield


@pytest.fixture(autouse=True)
def _float64_default():
    # The dense references are float64; layers built inside a test get float64 parameters.
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


# ---------------------------------------------------------------------------------------------
# graphs and the three views


def random_edges(num_nodes, num_edges, seed, self_loops=True):
    gen = torch.Generator().manual_seed(seed)
    pairs = torch.randint(0, num_nodes, (2, num_edges), generator=gen)
    keys = torch.unique(pairs[0] * num_nodes + pairs[1])  # simple graph (dense softmax is per pair)
    src, dst = keys // num_nodes, keys % num_nodes
    if self_loops:
        keep = src != dst
        loops = torch.arange(num_nodes)
        src, dst = torch.cat([src[keep], loops]), torch.cat([dst[keep], loops])
    perm = torch.randperm(src.numel(), generator=gen)  # edge ids in no particular order
    return src[perm], dst[perm]


def make_graph(num_nodes=9, num_edges=30, seed=0, self_loops=True):
    src, dst = random_edges(num_nodes, num_edges, seed, self_loops)
    return gk.graph((src, dst), num_nodes=num_nodes)


def dense_adj(g, weight=None):
    """A[v, u] = sum of weights of the edges u -> v."""
    src, dst = g.edges()
    values = torch.ones(src.numel()) if weight is None else weight
    adj = torch.zeros(g.num_dst_nodes(), g.num_src_nodes())
    return adj.index_put_((dst, src), values, accumulate=True)


def three_views(layer_call, g, node_feat, edge_feat=None, seed=1):
    """Runs ``layer_call(graph, node_feat, edge_feat)`` on g, inside a batch, and on a block."""
    out_graph = layer_call(g, node_feat, edge_feat)
    others = [make_graph(5, 12, seed + 10), make_graph(7, 20, seed + 11)]
    widths = node_feat.shape[1:]
    feats = [torch.randn(others[0].num_nodes(), *widths), node_feat, torch.randn(others[1].num_nodes(), *widths)]
    bg = gk.batch([others[0], g, others[1]])
    edge_parts = None
    if edge_feat is not None:
        def random_like_edges(other):
            if edge_feat.is_floating_point():
                return torch.rand(other.num_edges(), *edge_feat.shape[1:])
            return torch.randint(0, int(edge_feat.max()) + 1, (other.num_edges(),))
        edge_parts = torch.cat([random_like_edges(others[0]), edge_feat, random_like_edges(others[1])])
    out_batch = layer_call(bg, torch.cat(feats), edge_parts)
    start = others[0].num_nodes()
    out_batch = _rows(out_batch, start, start + g.num_nodes())
    src, dst = g.edges()
    blk = gk.block((src, dst), g.num_nodes(), g.num_nodes())
    out_block = layer_call(blk, node_feat, edge_feat)
    blk2 = gk.to_block(g, torch.arange(g.num_nodes()))
    eids = blk2.edata[gk.EID]
    out_block2 = layer_call(blk2, node_feat[blk2.srcdata[gk.NID]], None if edge_feat is None else edge_feat[eids])
    for name, other in (("batch", out_batch), ("block", out_block), ("to_block", out_block2)):
        _assert_close(out_graph, other, name)
    return out_graph


def partial_block(layer_call, g, node_feat, edge_feat=None):
    """A block whose destinations are a subset: its output equals the full graph's rows."""
    full = layer_call(g, node_feat, edge_feat)
    dst_nodes = torch.tensor([5, 1, 7, 2])
    blk = gk.to_block(g, dst_nodes)
    eids = blk.edata[gk.EID]
    out = layer_call(blk, node_feat[blk.srcdata[gk.NID]], None if edge_feat is None else edge_feat[eids])
    _assert_close(_rows(full, None, None, dst_nodes), out, "partial block")


def _rows(out, start, end, index=None):
    if isinstance(out, tuple):
        return tuple(_rows(o, start, end, index) for o in out)
    return out[index] if index is not None else out[start:end]


def _assert_close(expected, actual, what):
    if isinstance(expected, tuple):
        for e, a in zip(expected, actual):
            _assert_close(e, a, what)
        return
    torch.testing.assert_close(actual, expected, rtol=1e-9, atol=1e-9, msg=lambda m: f"{what}: {m}")


# ---------------------------------------------------------------------------------------------
# GraphConv


@pytest.mark.parametrize("norm", ["both", "right", "left", "none"])
@pytest.mark.parametrize("in_feats,out_feats", [(6, 3), (3, 6)])  # both orders of matmul/aggregate
@pytest.mark.parametrize("weighted", [False, True])
def test_graph_conv_matches_dense(norm, in_feats, out_feats, weighted):
    g = make_graph()
    layer = gnn.GraphConv(in_feats, out_feats, norm=norm, activation=torch.tanh)
    torch.nn.init.normal_(layer.bias)
    x = torch.randn(g.num_nodes(), in_feats)
    w = torch.rand(g.num_edges()) + 0.5 if weighted else None
    out = three_views(lambda gr, f, e: layer(gr, f, edge_weight=e), g, x, w)
    adj = dense_adj(g, w)
    a01 = dense_adj(g)
    d_out, d_in = a01.sum(0).clamp(min=1), a01.sum(1).clamp(min=1)
    left = {"both": d_out.pow(-0.5), "left": 1 / d_out}.get(norm, torch.ones_like(d_out))
    right = {"both": d_in.pow(-0.5), "right": 1 / d_in}.get(norm, torch.ones_like(d_in))
    expected = torch.tanh(right[:, None] * (adj @ (left[:, None] * x)) @ layer.weight + layer.bias)
    _assert_close(expected, out, "dense")


def test_graph_conv_partial_block_and_zero_in_degree():
    g = make_graph()
    layer = gnn.GraphConv(4, 3, norm="right")
    partial_block(lambda gr, f, e: layer(gr, f), g, torch.randn(g.num_nodes(), 4))
    no_loops = gk.graph(([0, 1], [1, 2]), num_nodes=4)
    with pytest.raises(ValueError, match="no incoming edge"):
        gnn.GraphConv(4, 3)(no_loops, torch.randn(4, 4))
    out = gnn.GraphConv(4, 3, allow_zero_in_degree=True)(no_loops, torch.randn(4, 4))
    assert out.shape == (4, 3)
    with pytest.raises(ValueError, match="norm"):
        gnn.GraphConv(4, 3, norm="sym")
    with pytest.raises(ValueError, match="feat"):
        gnn.GraphConv(4, 3)(g, torch.randn(3, 4))


def test_graph_conv_external_weight():
    g = make_graph()
    layer = gnn.GraphConv(4, 3, weight=False, bias=False)
    x, w = torch.randn(g.num_nodes(), 4), torch.randn(4, 3)
    torch.testing.assert_close(layer(g, x, weight=w), layer(g, x @ w))


# ---------------------------------------------------------------------------------------------
# GATConv / GATv2Conv


def dense_attention(g, scores, values):
    """softmax over in-neighbours of scores [N_dst, N_src, H] (masked), then sum of values [N_src, H, F]."""
    mask = dense_adj(g) > 0
    scores = scores.masked_fill(~mask[:, :, None], float("-inf"))
    alpha = torch.softmax(scores, dim=1).nan_to_num(0.0)
    return torch.einsum("vuh,uhf->vhf", alpha, values)


@pytest.mark.parametrize("residual", [False, True])
@pytest.mark.parametrize("in_feats", [5, 6])  # 6 = heads * out: identity residual
def test_gat_conv_matches_dense(residual, in_feats):
    g = make_graph()
    heads, width = 2, 3
    layer = gnn.GATConv(in_feats, width, heads, negative_slope=0.1, residual=residual, activation=F.elu).eval()
    torch.nn.init.normal_(layer.bias)
    x = torch.randn(g.num_nodes(), in_feats)
    out = three_views(lambda gr, f, e: layer(gr, f), g, x)
    partial_block(lambda gr, f, e: layer(gr, f), g, x)
    ft = (x @ layer.fc.weight.T).view(-1, heads, width)
    el = (ft * layer.attn_l).sum(-1)  # [N, H]
    er = (ft * layer.attn_r).sum(-1)
    scores = F.leaky_relu(er[:, None, :] + el[None, :, :], 0.1)
    expected = dense_attention(g, scores, ft)
    if residual:
        expected = expected + (x if in_feats == heads * width else x @ layer.res_fc.weight.T).view(-1, heads, width)
    expected = F.elu(expected + layer.bias.view(1, heads, width))
    _assert_close(expected, out, "dense")


def test_gat_conv_attention_and_edge_weight():
    g = make_graph()
    layer = gnn.GATConv(4, 3, 2).eval()
    x = torch.randn(g.num_nodes(), 4)
    out, attn = layer(g, x, get_attention=True)
    assert attn.shape == (g.num_edges(), 2, 1)
    sums = torch.zeros(g.num_nodes(), 2).index_add_(0, g.edges()[1], attn[:, :, 0])
    torch.testing.assert_close(sums, torch.ones_like(sums))
    w = torch.rand(g.num_edges())
    weighted = layer(g, x, edge_weight=w)
    ft = layer.fc(x).view(-1, 2, 3)
    msg = (attn * w.view(-1, 1, 1)) * ft[g.edges()[0]]
    expected = torch.zeros_like(weighted).index_add_(0, g.edges()[1], msg) + layer.bias.view(1, 2, 3)
    torch.testing.assert_close(weighted, expected)


def test_gat_conv_dropout_trains_and_evaluates_deterministically():
    g = make_graph()
    layer = gnn.GATConv(4, 3, 2, feat_drop=0.5, attn_drop=0.5)
    x = torch.randn(g.num_nodes(), 4)
    assert not torch.allclose(layer(g, x), layer(g, x))  # dropout active in training
    layer.eval()
    torch.testing.assert_close(layer(g, x), layer(g, x))


@pytest.mark.parametrize("share_weights", [False, True])
def test_gatv2_conv_matches_dense(share_weights):
    g = make_graph()
    heads, width = 2, 3
    layer = gnn.GATv2Conv(5, width, heads, residual=True, share_weights=share_weights).eval()
    for lin in (layer.fc_src, layer.fc_dst):
        torch.nn.init.normal_(lin.bias)
    x = torch.randn(g.num_nodes(), 5)
    out = three_views(lambda gr, f, e: layer(gr, f), g, x)
    partial_block(lambda gr, f, e: layer(gr, f), g, x)
    el = layer.fc_src(x).view(-1, heads, width)
    er = layer.fc_dst(x).view(-1, heads, width)
    pair = F.leaky_relu(el[None, :, :, :] + er[:, None, :, :], 0.2)  # [v, u, H, F]
    scores = (pair * layer.attn).sum(-1)
    expected = dense_attention(g, scores, el) + layer.res_fc(x).view(-1, heads, width)
    _assert_close(expected, out, "dense")


# ---------------------------------------------------------------------------------------------
# SAGEConv


@pytest.mark.parametrize("aggregator", ["mean", "gcn", "pool", "lstm"])
@pytest.mark.parametrize("in_feats,out_feats", [(6, 3), (3, 5)])
def test_sage_conv_matches_dense(aggregator, in_feats, out_feats):
    g = make_graph(self_loops=False)
    layer = gnn.SAGEConv(in_feats, out_feats, aggregator, activation=torch.relu)
    torch.nn.init.normal_(layer.bias)
    assert layer.transforms_before_aggregating == (aggregator in ("mean", "gcn") and in_feats > out_feats)
    x = torch.randn(g.num_nodes(), in_feats)
    weighted = aggregator in ("mean", "gcn")
    w = torch.rand(g.num_edges()) + 0.5 if weighted else None
    out = three_views(lambda gr, f, e: layer(gr, f, edge_weight=e), g, x, w)
    partial_block(lambda gr, f, e: layer(gr, f, edge_weight=e), g, x, w)
    adj, a01 = dense_adj(g, w), dense_adj(g)
    deg = a01.sum(1)
    src, dst = g.edges()
    if aggregator == "mean":
        neigh = layer.fc_neigh((adj @ x) / deg.clamp(min=1)[:, None])
    elif aggregator == "gcn":
        neigh = layer.fc_neigh((adj @ x + x) / (deg + 1)[:, None])
    elif aggregator == "pool":
        pooled = torch.relu(layer.fc_pool(x))
        neigh = torch.stack([pooled[src[dst == v]].max(0).values if (dst == v).any() else torch.zeros(in_feats) for v in range(g.num_nodes())])
        neigh = layer.fc_neigh(neigh)
    else:
        rows = []
        for v in range(g.num_nodes()):
            eids = torch.nonzero(dst == v).view(-1)  # edge-id order
            if eids.numel() == 0:
                rows.append(torch.zeros(in_feats))
                continue
            _, (hidden, _) = layer.lstm(x[src[eids]].unsqueeze(0))
            rows.append(hidden[0, 0])
        neigh = layer.fc_neigh(torch.stack(rows))
    self_term = 0 if aggregator == "gcn" else layer.fc_self(x)
    expected = torch.relu(self_term + neigh + layer.bias)
    _assert_close(expected, out, "dense")


# ---------------------------------------------------------------------------------------------
# GINConv


@pytest.mark.parametrize("aggregator", ["sum", "mean", "max"])
def test_gin_conv_matches_dense(aggregator):
    g = make_graph(self_loops=False)
    mlp = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.ReLU(), torch.nn.Linear(6, 3))
    layer = gnn.GINConv(mlp, aggregator, init_eps=0.3, learn_eps=True)
    assert isinstance(layer.eps, torch.nn.Parameter)
    x = torch.randn(g.num_nodes(), 4)
    w = torch.rand(g.num_edges()) + 0.5
    out = three_views(lambda gr, f, e: layer(gr, f, edge_weight=e), g, x, w)
    partial_block(lambda gr, f, e: layer(gr, f, edge_weight=e), g, x, w)
    src, dst = g.edges()
    msg = x[src] * w[:, None]
    if aggregator == "max":
        neigh = torch.stack([msg[dst == v].max(0).values if (dst == v).any() else torch.zeros(4) for v in range(g.num_nodes())])
    else:
        neigh = dense_adj(g, w) @ x
        if aggregator == "mean":
            neigh = neigh / dense_adj(g).sum(1).clamp(min=1)[:, None]
    expected = mlp(1.3 * x + neigh)
    _assert_close(expected, out, "dense")
    out.sum().backward()
    assert layer.eps.grad is not None and layer.eps.grad.abs() > 0


# ---------------------------------------------------------------------------------------------
# SGConv, APPNPConv, TAGConv, ChebConv


def sym_norm_dense(g, weight=None):
    a01 = dense_adj(g)
    if weight is None:
        norm = a01.sum(1).clamp(min=1).pow(-0.5)
        return norm[:, None] * a01 * norm[None, :]
    aw = dense_adj(g, weight)
    d_in, d_out = aw.sum(1), aw.sum(0)
    return d_in.pow(-0.5)[:, None] * aw * d_out.pow(-0.5)[None, :]


@pytest.mark.parametrize("weighted", [False, True])
def test_sg_conv_matches_dense(weighted):
    g = make_graph()
    layer = gnn.SGConv(4, 3, k=3)
    torch.nn.init.normal_(layer.fc.bias)
    x = torch.randn(g.num_nodes(), 4)
    w = torch.rand(g.num_edges()) + 0.5 if weighted else None
    out = three_views(lambda gr, f, e: layer(gr, f, edge_weight=e), g, x, w)
    a_hat = sym_norm_dense(g, w)
    expected = layer.fc(torch.linalg.matrix_power(a_hat, 3) @ x)
    _assert_close(expected, out, "dense")


def test_sg_conv_cache_is_reused():
    g = make_graph()
    layer = gnn.SGConv(4, 3, k=2, cached=True)
    x = torch.randn(g.num_nodes(), 4)
    first = layer(g, x)
    torch.testing.assert_close(layer(g, torch.zeros_like(x)), first)  # cached propagation
    layer.reset_parameters()
    assert layer._cached_h is None


@pytest.mark.parametrize("weighted", [False, True])
def test_appnp_conv_matches_dense(weighted):
    g = make_graph()
    layer = gnn.APPNPConv(k=4, alpha=0.2).eval()
    x = torch.randn(g.num_nodes(), 3)
    w = torch.rand(g.num_edges()) + 0.5 if weighted else None
    out = three_views(lambda gr, f, e: layer(gr, f, edge_weight=e), g, x, w)
    a_hat = sym_norm_dense(g, w)
    h = x
    for _ in range(4):
        h = 0.8 * a_hat @ h + 0.2 * x
    _assert_close(h, out, "dense")


def test_appnp_edge_drop_changes_output_in_training_only():
    g = make_graph()
    layer = gnn.APPNPConv(k=2, alpha=0.1, edge_drop=0.5)
    x = torch.randn(g.num_nodes(), 3)
    assert not torch.allclose(layer(g, x), layer(g, x))
    layer.eval()
    torch.testing.assert_close(layer(g, x), layer(g, x))


def test_tag_conv_matches_dense():
    g = make_graph()
    layer = gnn.TAGConv(4, 3, k=2, activation=torch.tanh)
    torch.nn.init.normal_(layer.lin.bias)
    x = torch.randn(g.num_nodes(), 4)
    w = torch.rand(g.num_edges()) + 0.5
    out = three_views(lambda gr, f, e: layer(gr, f, edge_weight=e), g, x, w)
    a_hat = sym_norm_dense(g, w)
    expected = torch.tanh(layer.lin(torch.cat([x, a_hat @ x, a_hat @ a_hat @ x], 1)))
    _assert_close(expected, out, "dense")


def test_cheb_conv_matches_dense():
    g = make_graph()
    layer = gnn.ChebConv(4, 3, k=3)
    torch.nn.init.normal_(layer.linear.bias)
    x = torch.randn(g.num_nodes(), 4)
    out = three_views(lambda gr, f, e: layer(gr, f), g, x)
    a01 = dense_adj(g)
    norm = a01.sum(1).clamp(min=1).pow(-0.5)
    lap = torch.eye(g.num_nodes()) - norm[:, None] * a01 * norm[None, :]
    lam = torch.linalg.eigvals(lap).real.max()
    l_hat = 2 * lap / lam - torch.eye(g.num_nodes())
    z0, z1 = x, l_hat @ x
    z2 = 2 * l_hat @ z1 - z0
    expected = torch.relu(layer.linear(torch.cat([z0, z1, z2], 1)))
    _assert_close(expected, out, "dense")
    explicit = layer(g, x, lambda_max=float(lam))
    torch.testing.assert_close(explicit, out)


def test_multi_hop_layers_reject_partial_blocks():
    g = make_graph()
    blk = gk.to_block(g, torch.tensor([0, 1]))
    x = torch.randn(blk.num_src_nodes(), 4)
    for layer in (gnn.SGConv(4, 2), gnn.TAGConv(4, 2), gnn.APPNPConv(2, 0.1), gnn.ChebConv(4, 2, 2)):
        with pytest.raises(ValueError, match="source"):
            layer(blk, x)


# ---------------------------------------------------------------------------------------------
# RelGraphConv


@pytest.mark.parametrize("regularizer,num_bases", [(None, None), ("basis", 2), ("bdd", 2)])
@pytest.mark.parametrize("presorted", [False, True])
def test_rel_graph_conv_matches_dense(regularizer, num_bases, presorted):
    g0 = make_graph(self_loops=False)
    num_rels = 3
    etypes = torch.randint(0, num_rels, (g0.num_edges(),), generator=torch.Generator().manual_seed(3))
    if presorted:  # rebuild the graph with edges sorted by type
        order = torch.argsort(etypes, stable=True)
        src, dst = g0.edges()
        g0, etypes = gk.graph((src[order], dst[order]), num_nodes=g0.num_nodes()), etypes[order]
    layer = gnn.RelGraphConv(4, 6, num_rels, regularizer, num_bases, activation=torch.tanh, layer_norm=True)
    torch.nn.init.normal_(layer.h_bias)
    x = torch.randn(g0.num_nodes(), 4)
    norm = torch.rand(g0.num_edges(), 1)
    call = lambda gr, f, e: layer(gr, f, e, norm=None if gr.num_edges() != g0.num_edges() else norm, presorted=presorted and gr.num_edges() == g0.num_edges())
    # The batch has other edges: give it no norm, and compare that path separately below.
    out = layer(g0, x, etypes, norm=norm, presorted=presorted)
    if regularizer == "basis":
        weights = torch.stack([sum(layer.coefficients[r, b] * layer.bases[b] for b in range(num_bases)) for r in range(num_rels)])
    elif regularizer == "bdd":
        weights = torch.stack([torch.block_diag(*[layer.blocks[r, b] for b in range(num_bases)]) for r in range(num_rels)])
    else:
        weights = layer.weight
    src, dst = g0.edges()
    msg = torch.einsum("ei,eio->eo", x[src], weights[etypes]) * norm
    agg = torch.zeros(g0.num_nodes(), 6).index_add_(0, dst, msg)
    expected = torch.tanh(layer.layer_norm(agg) + layer.h_bias + x @ layer.loop_weight)
    _assert_close(expected, out, "dense")
    if not presorted:
        three_views(lambda gr, f, e: layer(gr, f, e), g0, x, etypes)
        partial_block(lambda gr, f, e: layer(gr, f, e), g0, x, etypes)


def test_rel_graph_conv_rejects_bad_input():
    with pytest.raises(ValueError, match="divisible"):
        gnn.RelGraphConv(5, 6, 3, "bdd", 2)
    with pytest.raises(ValueError, match="regularizer"):
        gnn.RelGraphConv(4, 6, 3, "blocks", 2)
    g = make_graph()
    layer = gnn.RelGraphConv(4, 6, 3)
    with pytest.raises(ValueError, match="etypes"):
        layer(g, torch.randn(g.num_nodes(), 4), torch.full((g.num_edges(),), 3))
    with pytest.raises(ValueError, match="presorted"):
        layer(g, torch.randn(g.num_nodes(), 4), torch.arange(g.num_edges()) % 3, presorted=True)


# ---------------------------------------------------------------------------------------------
# EdgeConv, GatedGraphConv


@pytest.mark.parametrize("batch_norm", [False, True])
def test_edge_conv_matches_dense(batch_norm):
    g = make_graph()
    layer = gnn.EdgeConv(4, 5, batch_norm=batch_norm).eval()
    if batch_norm:
        layer.bn.running_mean.normal_()
        layer.bn.running_var.uniform_(0.5, 2.0)
    x = torch.randn(g.num_nodes(), 4)
    out = three_views(lambda gr, f, e: layer(gr, f), g, x)
    partial_block(lambda gr, f, e: layer(gr, f), g, x)
    src, dst = g.edges()
    edge = layer.theta(x[src] - x[dst]) + layer.phi(x[dst])
    if batch_norm:
        edge = layer.bn(edge)
    expected = torch.stack([edge[dst == v].max(0).values for v in range(g.num_nodes())])
    _assert_close(expected, out, "dense")


def test_edge_conv_zero_in_degree_gives_zero():
    g = gk.graph(([0, 1], [1, 2]), num_nodes=4)
    out = gnn.EdgeConv(3, 2, allow_zero_in_degree=True)(g, torch.randn(4, 3))
    torch.testing.assert_close(out[[0, 3]], torch.zeros(2, 2))


@pytest.mark.parametrize("n_etypes", [1, 3])
def test_gated_graph_conv_matches_dense(n_etypes):
    g = make_graph()
    layer = gnn.GatedGraphConv(3, 5, n_steps=3, n_etypes=n_etypes)
    for lin in layer.linears:
        torch.nn.init.normal_(lin.bias)
    x = torch.randn(g.num_nodes(), 3)
    etypes = torch.randint(0, n_etypes, (g.num_edges(),), generator=torch.Generator().manual_seed(4))
    out = three_views(lambda gr, f, e: layer(gr, f, e), g, x, etypes)
    src, dst = g.edges()
    h = torch.cat([x, torch.zeros(g.num_nodes(), 2)], 1)
    for _ in range(3):
        msg = torch.stack([layer.linears[int(t)](h[int(u)]) for u, t in zip(src, etypes)])
        a = torch.zeros_like(h).index_add_(0, dst, msg)
        h = layer.gru(a, h)
    _assert_close(h, out, "dense")


# ---------------------------------------------------------------------------------------------
# TreeLSTM


def random_tree(num_nodes, seed):
    gen = torch.Generator().manual_seed(seed)
    parents = [int(torch.randint(0, v, (1,), generator=gen)) for v in range(1, num_nodes)]
    return gk.graph((list(range(1, num_nodes)), parents), num_nodes=num_nodes), parents


def test_tree_lstm_matches_recursive_reference():
    g, parents = random_tree(10, 0)
    layer = gnn.TreeLSTM(4, 3)
    for lin in (layer.W_iou, layer.W_f):
        torch.nn.init.normal_(lin.bias)
    x = torch.randn(10, 4)
    h, c = layer(g, x)
    children = {v: [u for u, p in zip(range(1, 10), parents) if p == v] for v in range(10)}

    def node_state(v):
        kids = [node_state(u) for u in children[v]]
        h_sum = sum((k[0] for k in kids), torch.zeros(3))
        i, o, u = (layer.W_iou(x[v]) + layer.U_iou(h_sum)).chunk(3)
        c_v = torch.sigmoid(i) * torch.tanh(u)
        for h_k, c_k in kids:
            c_v = c_v + torch.sigmoid(layer.W_f(x[v]) + layer.U_f(h_k)) * c_k
        return torch.sigmoid(o) * torch.tanh(c_v), c_v

    for v in range(10):
        h_v, c_v = node_state(v)
        torch.testing.assert_close(h[v], h_v)
        torch.testing.assert_close(c[v], c_v)
    # The same tree inside a forest of trees gives the same states.
    other, _ = random_tree(6, 1)
    bg = gk.batch([other, g])
    hb, cb = layer(bg, torch.cat([torch.randn(6, 4), x]))
    torch.testing.assert_close(hb[6:], h)
    torch.testing.assert_close(cb[6:], c)


# ---------------------------------------------------------------------------------------------
# shared behaviour


ALL_LAYERS = [
    lambda: gnn.GraphConv(4, 3),
    lambda: gnn.GATConv(4, 3, 2),
    lambda: gnn.GATv2Conv(4, 3, 2),
    lambda: gnn.SAGEConv(4, 3, "mean"),
    lambda: gnn.GINConv(torch.nn.Linear(4, 3), learn_eps=True),
    lambda: gnn.SGConv(4, 3, 2),
    lambda: gnn.ChebConv(4, 3, 2),
    lambda: gnn.TAGConv(4, 3),
    lambda: gnn.EdgeConv(4, 3),
    lambda: gnn.GatedGraphConv(4, 4, 2, 1),
]


@pytest.mark.parametrize("factory", ALL_LAYERS)
def test_layers_have_reset_repr_and_gradients(factory):
    layer = factory()
    g = make_graph()
    x = torch.randn(g.num_nodes(), 4, requires_grad=True)
    out = layer(g, x)
    out.pow(2).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    params = [p for p in layer.parameters() if p.requires_grad]
    assert params and all(p.grad is not None for p in params)
    before = [p.detach().clone() for p in params]
    with torch.no_grad():
        for p in params:
            p.add_(1.0)
    layer.reset_parameters()
    assert any(not torch.equal(b, p) for b, p in zip(before, params))
    assert type(layer).__name__ in repr(layer)
    assert layer.extra_repr()


def test_gradcheck_gat_and_sage():
    g = make_graph(6, 14)
    gat = gnn.GATConv(3, 2, 2).eval()
    sage = gnn.SAGEConv(3, 2, "pool")
    x = torch.randn(g.num_nodes(), 3, requires_grad=True)
    assert torch.autograd.gradcheck(lambda f: gat(g, f), (x,))
    assert torch.autograd.gradcheck(lambda f: sage(g, f), (x,))


def test_constructor_errors_name_the_argument():
    with pytest.raises(ValueError, match="aggregator_type"):
        gnn.SAGEConv(4, 3, "median")
    with pytest.raises(ValueError, match="num_heads"):
        gnn.GATConv(4, 3, 0)
    with pytest.raises(ValueError, match="feat_drop"):
        gnn.GATConv(4, 3, 1, feat_drop=1.5)
    with pytest.raises(ValueError, match="in_feats"):
        gnn.GatedGraphConv(6, 4, 2, 1)
    with pytest.raises(ValueError, match="k"):
        gnn.SGConv(4, 3, k=0)
