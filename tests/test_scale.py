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


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_history_round_trip(dtype):
    h = History(6, 4, dtype=dtype)
    ids = torch.tensor([4, 1])
    x = torch.tensor([[0.5, -2.0, 3.25, 1024.0], [0.1, 0.2, -0.3, 7.0]])
    h.push(x, ids)
    assert h.emb.dtype == dtype and h.emb.element_size() == 2
    # What comes back is x rounded once to the storage type (exactly), nothing else.
    assert torch.equal(h.pull(ids), x.to(dtype))
    assert torch.allclose(h.pull(ids).float(), x, rtol=1e-2)
    # The staleness of the next push is measured in float32 against the stored (rounded) values.
    h.reset_staleness()
    h.push(x * 2, ids)
    want = (x.to(dtype).float() - x * 2).norm(dim=1).mean()
    assert h.staleness() == pytest.approx(float(want), rel=1e-6)


def test_compact_history_keeps_rows_only_for_its_nodes():
    h = History(10, 2, nodes=torch.tensor([7, 2, 5]))
    assert h.emb.shape == (3, 2) and not h.stores_all_nodes
    assert torch.equal(h.stored_nodes(), torch.tensor([7, 2, 5]))
    ids = torch.tensor([0, 2, 5, 9])
    x = torch.arange(8.0).view(4, 2)
    h.push(x, ids)
    # Nodes 0 and 9 have no row: their push is dropped and does not enter the staleness.
    assert torch.equal(h.pull(torch.tensor([5, 2])), x[[2, 1]])
    assert torch.equal(h.pull(torch.tensor([7])), torch.zeros(1, 2))
    assert h.staleness() == pytest.approx(float(x[[1, 2]].norm(dim=1).mean()))
    with pytest.raises(ValueError, match="no row"):
        h.pull(torch.tensor([2, 9]))
    with pytest.raises(ValueError, match="repeat"):
        History(10, 2, nodes=torch.tensor([1, 1]))
    with pytest.raises(ValueError, match="nodes must lie"):
        History(10, 2, nodes=torch.tensor([10]))


def test_boundary_nodes_are_exactly_the_nodes_with_an_edge_into_another_cluster():
    g = random_graph(n=150, e=500, seed=5)
    loader = SubgraphLoader(g, num_parts=5, batch_size=2, shuffle=True, generator=torch.Generator().manual_seed(0))
    src, dst = g.edges()
    crossing = loader.parts[src] != loader.parts[dst]
    want = torch.unique(src[crossing])
    # Small chunks: the chunked scan must give the same set.
    assert torch.equal(loader.boundary_nodes(chunk_edges=37), want)
    assert torch.equal(loader.boundary_nodes(), want)
    for _ in range(3):  # every halo, whatever clusters a batch combines, lies in that set
        for batch in loader:
            assert bool(torch.isin(batch.halo_nodes, want).all())


@pytest.mark.parametrize("kind", ["gcn", "gcnii"])
def test_gas_with_compact_histories_trains_exactly_like_full_histories(kind):
    g = random_graph(n=150, e=600, seed=6)
    x = torch.randn(g.num_nodes(), 5)
    y = torch.randint(0, 3, (g.num_nodes(),))
    loader = SubgraphLoader(g, num_parts=6, batch_size=2)
    boundary = loader.boundary_nodes()
    assert 0 < boundary.numel() < g.num_nodes()
    torch.manual_seed(0)
    full = build(kind, 5, 6, 3, g.num_nodes())
    compact = build(kind, 5, 6, 3, g.num_nodes())
    compact.load_state_dict(full.state_dict())
    compact.histories = nn.ModuleList(
        [History(g.num_nodes(), h.dim, nodes=boundary) for h in full.histories]
    )
    opts = [torch.optim.SGD(m.parameters(), lr=0.1) for m in (full, compact)]
    for _ in range(3):
        for batch in loader:
            outs = []
            for model, opt in zip((full, compact), opts):
                out = model(batch, x)
                loss = torch.nn.functional.cross_entropy(out, y[batch.batch_nodes])
                opt.zero_grad()
                loss.backward()
                opt.step()
                outs.append(out.detach())
            assert torch.equal(outs[0], outs[1])
    # Staleness differs only in which nodes it averages over (compact: the boundary ones).
    assert all(s > 0 for s in compact.staleness())
    for hf, hc in zip(full.histories, compact.histories):
        assert torch.equal(hf.pull(boundary), hc.pull(boundary))
    full.eval(), compact.eval()
    ref = full.full_forward(g, x)
    assert torch.allclose(compact.inference(loader, x), ref, atol=1e-5)
    assert torch.allclose(full.inference(loader, x), ref, atol=1e-5)


def test_scalable_gnn_history_nodes_builds_compact_histories_sharing_one_map():
    layers = [GraphConv(3, 4, norm="none"), GraphConv(4, 4, norm="none"), GraphConv(4, 2, norm="none")]
    model = ScalableGNN(layers, 20, [4, 4], history_nodes=torch.tensor([3, 11]), history_dtype=torch.bfloat16)
    assert [tuple(h.emb.shape) for h in model.histories] == [(2, 4), (2, 4)]
    assert model.histories[0]._slot is model.histories[1]._slot
    assert all(h.emb.dtype == torch.bfloat16 for h in model.histories)
