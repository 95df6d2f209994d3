"""GNNAutoScale: histories, cluster batches with halos, exactness of the GAS model."""

import pytest
import torch
from torch import nn

import gnnkit as gk
from gnnkit.nn import GATConv, GINConv, GraphConv
from gnnkit.scale import History, ScalableGNN, SubgraphLoader, gcn_norm_weights


def random_graph(n=120, e=700, seed=0):
    gen = torch.Generator().manual_seed(seed)
    src = torch.randint(0, n, (e,), generator=gen)
    dst = torch.randint(0, n, (e,), generator=gen)
    g = gk.add_self_loop(gk.graph((src, dst), num_nodes=n))
    g.edata["w"] = gcn_norm_weights(g)
    return g


def test_history_push_pull_and_staleness():
    h = History(10, 3)
    ids = torch.tensor([2, 5, 7])
    x = torch.arange(9.0).view(3, 3)
    h.push(x, ids)
    assert torch.equal(h.pull(ids), x)
    assert torch.equal(h.pull(torch.tensor([0, 1])), torch.zeros(2, 3))
    # First push: the gap is the norm of x (the store held zeros).
    assert h.staleness() == pytest.approx(float(x.norm(dim=1).mean()))
    h.reset_staleness()
    h.push(x + 1.0, ids)
    assert h.staleness() == pytest.approx(3 ** 0.5)
    assert torch.equal(h.pull()[ids], x + 1.0)
    with pytest.raises(ValueError, match="ids"):
        h.pull(torch.tensor([10]))
    with pytest.raises(ValueError, match="shape"):
        h.push(torch.zeros(2, 3), ids)


def test_subgraph_loader_batches_and_halos():
    g = random_graph()
    loader = SubgraphLoader(g, num_parts=6, batch_size=2, shuffle=True)
    assert len(loader) == 3
    seen = []
    src, dst = g.edges()
    for batch_nodes, halo_nodes, blk in loader:
        seen.append(batch_nodes)
        assert torch.equal(blk.srcdata[gk.NID], torch.cat([batch_nodes, halo_nodes]))
        assert blk.num_dst_nodes() == batch_nodes.numel()
        # Every in-edge of every batch node, and nothing else.
        expected = torch.nonzero(torch.isin(dst, batch_nodes)).squeeze(1)
        assert torch.equal(torch.sort(blk.edata[gk.EID]).values, expected)
        assert torch.equal(blk.edata["w"], g.edata["w"][blk.edata[gk.EID]])
        # Halo: in-neighbours outside the batch, each once.
        want_halo = torch.unique(src[expected])
        want_halo = want_halo[~torch.isin(want_halo, batch_nodes)]
        assert torch.equal(torch.sort(halo_nodes).values, want_halo)
    assert torch.equal(torch.sort(torch.cat(seen)).values, torch.arange(g.num_nodes()))


def build(kind, in_dim, hidden, out_dim, n):
    if kind == "gcn":
        layers = [GraphConv(in_dim, hidden, norm="none"), GraphConv(hidden, hidden, norm="none"), GraphConv(hidden, out_dim, norm="none")]
        return ScalableGNN(layers, n, [hidden, hidden], edge_weight="w")
    if kind == "gat":
        layers = [GATConv(in_dim, hidden, 2), GATConv(2 * hidden, out_dim, 1)]
        return ScalableGNN(layers, n, [2 * hidden])
    if kind == "gin":
        mlp = lambda a, b: nn.Sequential(nn.Linear(a, b), nn.ReLU(), nn.Linear(b, b))  # noqa: E731
        layers = [GINConv(mlp(in_dim, hidden), learn_eps=True), GINConv(mlp(hidden, out_dim))]
        return ScalableGNN(layers, n, [hidden])
    if kind == "gcnii":  # deep: 6 residual layers with initial residual, projections in and out
        depth = 6
        layers = [GraphConv(hidden, hidden, norm="none") for _ in range(depth)]
        return ScalableGNN(
            layers, n, [hidden] * (depth - 1), edge_weight="w", residual=True, alpha=0.1,
            input_proj=nn.Linear(in_dim, hidden), output_proj=nn.Linear(hidden, out_dim),
        )
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["gcn", "gat", "gin", "gcnii"])
def test_gas_with_one_partition_equals_full_batch(kind):
    g = random_graph(seed=1)
    x = torch.randn(g.num_nodes(), 7)
    model = build(kind, 7, 8, 3, g.num_nodes()).eval()
    loader = SubgraphLoader(g, parts=torch.zeros(g.num_nodes(), dtype=torch.int64))
    (batch,) = list(loader)
    assert batch.halo_nodes.numel() == 0
    out = model(batch, x)
    ref = model.full_forward(g, x)
    assert torch.equal(out, ref[batch.batch_nodes])
    # Gradients match too.
    model.train()
    loss_gas = model(batch, x).square().sum()
    grads_gas = torch.autograd.grad(loss_gas, list(model.parameters()))
    loss_full = model.full_forward(g, x)[batch.batch_nodes].square().sum()
    grads_full = torch.autograd.grad(loss_full, list(model.parameters()))
    for a, b in zip(grads_gas, grads_full):
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", ["gcn", "gat"])
def test_gas_histories_become_exact_and_inference_is_exact(kind):
    g = random_graph(seed=2)
    x = torch.randn(g.num_nodes(), 5)
    model = build(kind, 5, 6, 4, g.num_nodes()).eval()
    loader = SubgraphLoader(g, num_parts=5, batch_size=1)
    ref = model.full_forward(g, x)
    num_layers = len(model.layers)
    with torch.no_grad():
        for sweep in range(num_layers):
            outs = {}
            for batch in loader:
                outs[batch] = model(batch, x)
            gaps = model.staleness()
        # After L - 1 sweeps every history is exact, so sweep L reproduces full batch.
        for batch, out in outs.items():
            assert torch.allclose(out, ref[batch.batch_nodes], atol=1e-5)
        assert max(gaps) < 1e-5
        assert torch.allclose(model.inference(loader, x), ref, atol=1e-5)


def test_gas_training_step_touches_only_batch_and_halo():
    g = random_graph(seed=3)
    x = torch.randn(g.num_nodes(), 5, requires_grad=True)
    model = build("gcn", 5, 6, 3, g.num_nodes())
    loader = SubgraphLoader(g, num_parts=4)
    batch = next(iter(loader))
    model(batch, x).sum().backward()
    touched = torch.nonzero(x.grad.abs().sum(1) > 0).squeeze(1)
    allowed = torch.cat([batch.batch_nodes, batch.halo_nodes])
    assert bool(torch.isin(touched, allowed).all())


def test_scalable_gnn_rejects_bad_config():
    with pytest.raises(ValueError, match="hidden_dims"):
        ScalableGNN([GraphConv(3, 4), GraphConv(4, 2)], 10, [])
    with pytest.raises(ValueError, match="dropout"):
        ScalableGNN([GraphConv(3, 2)], 10, [], dropout=1.5)


def test_scalable_gnn_rejects_features_of_the_wrong_size():
    g = random_graph(seed=4)
    model = build("gcn", 5, 6, 3, g.num_nodes())
    batch = next(iter(SubgraphLoader(g, num_parts=3)))
    with pytest.raises(ValueError, match="rows"):
        model(batch, torch.randn(7, 5))
