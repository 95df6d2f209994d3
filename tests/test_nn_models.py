"""GCN / GAT / GraphSAGE / GIN stacks: composition, blocks, options and that they learn."""

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


def planted_partition(num_per_class=30, num_classes=3, p_in=0.3, p_out=0.02, feat=8, seed=0):
    gen = torch.Generator().manual_seed(seed)
    n = num_per_class * num_classes
    labels = torch.arange(n) // num_per_class
    same = labels[:, None] == labels[None, :]
    prob = torch.where(same, p_in, p_out)
    adj = torch.rand(n, n, generator=gen) < prob
    adj = (adj | adj.t()) & ~torch.eye(n, dtype=torch.bool)
    src, dst = torch.nonzero(adj, as_tuple=True)
    g = gk.add_self_loop(gk.graph((src, dst), num_nodes=n))
    x = torch.randn(n, feat, generator=gen) + F.one_hot(labels, feat).float() * 0.5
    return g, x, labels


def test_gcn_is_its_layers_in_eval_mode():
    g, x, _ = planted_partition()
    model = gnn.GCN(8, 16, 3, num_layers=3, norm="layer").eval()
    h = model.layers[0](g, x)
    h = F.relu(model.norms[0](h))
    h = model.layers[1](g, h)
    h = F.relu(model.norms[1](h))
    torch.testing.assert_close(model(g, x), model.layers[2](g, h))
    assert len(model.layers) == 3


@pytest.mark.parametrize("factory", [
    lambda: gnn.GraphSAGE(8, 16, 3, num_layers=2),
    lambda: gnn.GAT(8, 4, 3, num_layers=2, heads=2),
    lambda: gnn.GCN(8, 16, 3, gcn_norm="right"),
])
def test_models_on_sampled_blocks_match_full_graph(factory):
    g, x, _ = planted_partition()
    model = factory().eval()
    seeds = torch.tensor([3, 40, 77, 12])
    last = gk.to_block(g, seeds)
    first = gk.to_block(g, last.srcdata[gk.NID])
    out = model([first, last], x[first.srcdata[gk.NID]])
    torch.testing.assert_close(out, model(g, x)[seeds])
    with pytest.raises(ValueError, match="blocks"):
        model([last], x)


@pytest.mark.parametrize("factory,lr", [
    (lambda: gnn.GCN(8, 16, 3), 0.05),
    (lambda: gnn.GAT(8, 8, 3, heads=4), 0.02),
    (lambda: gnn.GraphSAGE(8, 16, 3, aggregator_type="mean"), 0.05),
    (lambda: gnn.GIN(8, 16, 3, num_layers=2, graph_level=False), 0.02),
])
def test_models_learn_planted_partition(factory, lr):
    g, x, labels = planted_partition()
    train = torch.zeros(labels.numel(), dtype=torch.bool)
    train[::3] = True
    model = factory()
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=5e-4)
    for _ in range(60):
        model.train()
        opt.zero_grad()
        loss = F.cross_entropy(model(g, x)[train], labels[train])
        loss.backward()
        opt.step()
    model.eval()
    accuracy = (model(g, x).argmax(1)[~train] == labels[~train]).float().mean().item()
    assert accuracy > 0.85, accuracy


def test_gin_graph_classification_learns_density():
    gen = torch.Generator().manual_seed(1)
    graphs, labels = [], []
    for i in range(40):
        n = int(torch.randint(6, 12, (1,), generator=gen))
        p = 0.15 if i % 2 == 0 else 0.6
        adj = torch.rand(n, n, generator=gen) < p
        adj = (adj | adj.t()) & ~torch.eye(n, dtype=torch.bool)
        src, dst = torch.nonzero(adj, as_tuple=True)
        graphs.append(gk.graph((src, dst), num_nodes=n))
        labels.append(i % 2)
    bg, labels = gk.batch(graphs), torch.tensor(labels)
    x = torch.ones(bg.num_nodes(), 1)
    model = gnn.GIN(1, 16, 2, num_layers=3, learn_eps=True, readout="sum")
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(40):
        model.train()
        opt.zero_grad()
        out = model(bg, x)
        assert out.shape == (40, 2)
        F.cross_entropy(out, labels).backward()
        opt.step()
    model.eval()
    assert (model(bg, x).argmax(1) == labels).float().mean().item() > 0.9


def test_model_arguments_are_checked():
    with pytest.raises(ValueError, match="num_layers"):
        gnn.GCN(8, 16, 3, num_layers=0)
    with pytest.raises(ValueError, match="norm"):
        gnn.GraphSAGE(8, 16, 3, norm="group")
    with pytest.raises(ValueError, match="dropout"):
        gnn.GCN(8, 16, 3, dropout=2.0)
    with pytest.raises(ValueError, match="readout"):
        gnn.GIN(8, 16, 3, readout="attention")
    model = gnn.GAT(8, 4, 3, heads=2)
    before = model.layers[0].fc.weight.detach().clone()
    model.reset_parameters()
    assert not torch.equal(before, model.layers[0].fc.weight)
