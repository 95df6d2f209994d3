"""Sparse (CSR) input features: the same outputs and weight gradients as dense input."""

import pytest
import torch

import gnnkit as gk
import gnnkit.nn as gnn
from gnnkit.nn._utils import SparseInputCache
from gnnkit.nn.dropout import functional_dropout


@pytest.fixture(autouse=True)
def _single_thread():
    # These tensors are tiny: a second OpenMP thread only adds synchronisation, which costs
    # seconds per test when the machine is oversubscribed. (conftest restores 2 threads.)
    torch.set_num_threads(1)
    yield


def sparse_features(rows, cols, density=0.03, seed=0, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    dense = torch.rand(rows, cols, generator=gen, dtype=dtype)
    return torch.where(torch.rand(rows, cols, generator=gen, dtype=dtype) < density, dense, 0.0)


def graph(num_nodes=40, num_edges=160, seed=0):
    gen = torch.Generator().manual_seed(seed)
    src = torch.randint(0, num_nodes, (num_edges,), generator=gen)
    dst = torch.randint(0, num_nodes, (num_edges,), generator=gen)
    return gk.add_self_loop(gk.graph((src, dst), num_nodes=num_nodes))


LAYERS = [
    lambda: gnn.GraphConv(50, 4),
    lambda: gnn.GATConv(50, 3, 2, residual=True),
    lambda: gnn.SAGEConv(50, 4, "mean"),
    lambda: gnn.SAGEConv(50, 4, "gcn"),
    lambda: gnn.SAGEConv(50, 4, "pool"),
    lambda: gnn.SAGEConv(50, 60, "mean"),  # aggregates first: densifies
]


@pytest.mark.parametrize("factory", LAYERS)
@pytest.mark.parametrize("as_block", [False, True])
def test_layers_accept_csr_features(factory, as_block):
    torch.manual_seed(0)
    layer = factory().double().eval()
    g = graph()
    if as_block:
        g = gk.to_block(g, torch.arange(0, 40, 3))
    x = sparse_features(g.num_src_nodes(), 50)
    dense_out = layer(g, x)
    grads_dense = torch.autograd.grad(dense_out.square().sum(), list(layer.parameters()))
    sparse_out = layer(g, x.to_sparse_csr())
    grads_sparse = torch.autograd.grad(sparse_out.square().sum(), list(layer.parameters()))
    torch.testing.assert_close(sparse_out, dense_out)
    for a, b in zip(grads_sparse, grads_dense):
        torch.testing.assert_close(a, b)


def test_sparse_dropout_keeps_structure():
    x = sparse_features(200, 300).to_sparse_csr()
    y = functional_dropout(x, 0.5)
    assert y.layout == torch.sparse_csr
    assert torch.equal(y.crow_indices(), x.crow_indices()) and torch.equal(y.col_indices(), x.col_indices())
    kept = y.values() != 0
    torch.testing.assert_close(y.values()[kept], x.values()[kept] * 2)
    assert 0.4 < 1 - kept.double().mean().item() < 0.6
    assert functional_dropout(x, 0.5, training=False) is x


def test_input_cache_converts_once_and_notices_changes():
    cache = SparseInputCache()
    x = sparse_features(400, 300, dtype=torch.float32)
    first = cache(x)
    assert first.layout == torch.sparse_csr
    assert cache(x) is first
    x[0, 0] = 5.0  # in-place change bumps the version
    second = cache(x)
    assert second is not first and second.to_dense()[0, 0] == 5.0
    dense = torch.rand(400, 300)
    assert cache(dense) is dense  # not sparse enough
    small = sparse_features(10, 10, dtype=torch.float32)
    assert cache(small) is small


@pytest.mark.parametrize("factory", [
    lambda: gnn.GCN(300, 16, 5),
    lambda: gnn.GAT(300, 4, 5, heads=2),
    lambda: gnn.GraphSAGE(300, 16, 5),
])
def test_models_on_sparse_looking_input_match_dense_path(factory):
    torch.manual_seed(0)
    model = factory().double().eval()
    g = graph(400, 2000)
    x = sparse_features(400, 300)
    assert model._sparse_input is not None
    out = model(g, x)
    assert model._sparse_input._sparse is not None  # the CSR path was taken
    model._sparse_input = None if not isinstance(model, gnn.GAT) else _Passthrough()
    torch.testing.assert_close(out, model(g, x))


class _Passthrough:
    def __call__(self, feat):
        return feat
