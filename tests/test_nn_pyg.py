"""Numerical cross-checks against PyTorch Geometric's layers (skipped when it is not installed)."""

import pytest
import torch

import gnnkit as gk
import gnnkit.nn as gnn

pyg_nn = pytest.importorskip("torch_geometric.nn")


@pytest.fixture(autouse=True)
def _single_thread():
    # These tensors are tiny: a second OpenMP thread only adds synchronisation, which costs
    # seconds per test when the machine is oversubscribed. (conftest restores 2 threads.)
    torch.set_num_threads(1)
    yield


def symmetric_graph(num_nodes=12, num_edges=30, seed=0):
    gen = torch.Generator().manual_seed(seed)
    pairs = torch.randint(0, num_nodes, (2, num_edges), generator=gen)
    keep = pairs[0] != pairs[1]
    g = gk.to_simple(gk.to_bidirected(gk.graph((pairs[0][keep], pairs[1][keep]), num_nodes=num_nodes)))
    g = gk.add_self_loop(g)
    src, dst = g.edges()
    return g, torch.stack([src, dst])


@pytest.fixture
def setup():
    torch.manual_seed(0)
    g, edge_index = symmetric_graph()
    x = torch.randn(g.num_nodes(), 6, dtype=torch.float64)
    return g, edge_index, x


def close(a, b):
    torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9)


def test_graph_conv_vs_gcnconv(setup):
    g, edge_index, x = setup
    ours = gnn.GraphConv(6, 4).double()
    theirs = pyg_nn.GCNConv(6, 4, add_self_loops=False).double()
    with torch.no_grad():
        theirs.lin.weight.copy_(ours.weight.t())
        theirs.bias.normal_()
        ours.bias.copy_(theirs.bias)
    close(ours(g, x), theirs(x, edge_index))


def test_gat_conv_vs_pyg(setup):
    g, edge_index, x = setup
    ours = gnn.GATConv(6, 3, num_heads=2).double().eval()
    theirs = pyg_nn.GATConv(6, 3, heads=2, add_self_loops=False).double().eval()
    with torch.no_grad():
        theirs.lin.weight.copy_(ours.fc.weight)
        theirs.att_src.copy_(ours.attn_l)
        theirs.att_dst.copy_(ours.attn_r)
        theirs.bias.normal_()
        ours.bias.copy_(theirs.bias)
    close(ours(g, x).flatten(1), theirs(x, edge_index))


def test_gatv2_conv_vs_pyg(setup):
    g, edge_index, x = setup
    ours = gnn.GATv2Conv(6, 3, num_heads=2).double().eval()
    theirs = pyg_nn.GATv2Conv(6, 3, heads=2, add_self_loops=False).double().eval()
    with torch.no_grad():
        theirs.lin_l.weight.copy_(ours.fc_src.weight)
        theirs.lin_l.bias.copy_(ours.fc_src.bias)
        theirs.lin_r.weight.copy_(ours.fc_dst.weight)
        theirs.lin_r.bias.copy_(ours.fc_dst.bias)
        theirs.att.copy_(ours.attn)
        theirs.bias.zero_()
    close(ours(g, x).flatten(1), theirs(x, edge_index))


@pytest.mark.parametrize("out_feats", [3, 8])  # both matmul orders
def test_sage_conv_vs_pyg(setup, out_feats):
    g, edge_index, x = setup
    ours = gnn.SAGEConv(6, out_feats, "mean").double()
    theirs = pyg_nn.SAGEConv(6, out_feats, aggr="mean").double()
    with torch.no_grad():
        ours.bias.normal_()
        theirs.lin_l.weight.copy_(ours.fc_neigh.weight)
        theirs.lin_l.bias.copy_(ours.bias)
        theirs.lin_r.weight.copy_(ours.fc_self.weight)
    close(ours(g, x), theirs(x, edge_index))


def test_gin_conv_vs_pyg(setup):
    g, edge_index, x = setup
    mlp = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.ReLU(), torch.nn.Linear(5, 4)).double()
    ours = gnn.GINConv(mlp, init_eps=0.25, learn_eps=True)
    theirs = pyg_nn.GINConv(mlp, eps=0.25, train_eps=True).double()
    close(ours(g, x), theirs(x, edge_index))


def test_sg_appnp_tag_vs_pyg(setup):
    g, edge_index, x = setup
    sg = gnn.SGConv(6, 4, k=2).double()
    sg_pyg = pyg_nn.SGConv(6, 4, K=2, add_self_loops=False).double()
    with torch.no_grad():
        sg_pyg.lin.weight.copy_(sg.fc.weight)
        sg_pyg.lin.bias.copy_(sg.fc.bias)
    close(sg(g, x), sg_pyg(x, edge_index))

    appnp = gnn.APPNPConv(k=5, alpha=0.1).eval()
    appnp_pyg = pyg_nn.APPNP(K=5, alpha=0.1, add_self_loops=False).eval()
    close(appnp(g, x), appnp_pyg(x, edge_index))

    tag = gnn.TAGConv(6, 4, k=2).double()
    tag_pyg = pyg_nn.TAGConv(6, 4, K=2).double()
    with torch.no_grad():
        for i, lin in enumerate(tag_pyg.lins):
            lin.weight.copy_(tag.lin.weight[:, 6 * i : 6 * (i + 1)])
        tag.lin.bias.normal_()
        tag_pyg.bias.copy_(tag.lin.bias)
    close(tag(g, x), tag_pyg(x, edge_index))


def test_rel_graph_conv_vs_rgcn(setup):
    g, edge_index, x = setup
    etypes = torch.randint(0, 3, (g.num_edges(),))
    ours = gnn.RelGraphConv(6, 4, 3, regularizer="basis", num_bases=2).double()
    theirs = pyg_nn.RGCNConv(6, 4, num_relations=3, num_bases=2, aggr="add").double()
    with torch.no_grad():
        theirs.weight.copy_(ours.bases)
        theirs.comp.copy_(ours.coefficients)
        theirs.root.copy_(ours.loop_weight)
        ours.h_bias.normal_()
        theirs.bias.copy_(ours.h_bias)
    close(ours(g, x, etypes), theirs(x, edge_index, etypes))
