"""Readouts against per-graph loops over the members of a batch (including an empty graph)."""

import pytest
import torch

import gnnkit as gk
import gnnkit.nn as gnn


@pytest.fixture(autouse=True)
def _single_thread():
    # These tensors are tiny: a second OpenMP thread only adds synchronisation, which costs
    # seconds per test when the machine is oversubscribed. (conftest restores 2 threads.)
    torch.set_num_threads(1)
    yield


def make_batch():
    sizes = [4, 1, 0, 6]
    graphs = [gk.graph(([], []), num_nodes=n) for n in sizes]
    for g, n in zip(graphs, sizes):
        if n > 1:
            g.add_edges(list(range(n - 1)), list(range(1, n)))
    bg = gk.batch(graphs)
    return bg, sizes


def per_graph(x, sizes):
    return list(torch.split(x, sizes))


@pytest.mark.parametrize("module,reference", [
    (gnn.SumPooling(), lambda part: part.sum(0)),
    (gnn.AvgPooling(), lambda part: part.mean(0) if len(part) else torch.zeros(part.shape[1:])),
    (gnn.MaxPooling(), lambda part: part.max(0).values if len(part) else torch.zeros(part.shape[1:])),
])
def test_basic_pooling(module, reference):
    bg, sizes = make_batch()
    x = torch.randn(bg.num_nodes(), 3)
    out = module(bg, x)
    expected = torch.stack([reference(p) for p in per_graph(x, sizes)])
    torch.testing.assert_close(out, expected)
    single = gk.graph(([0], [1]), num_nodes=3)
    torch.testing.assert_close(module(single, x[:3]), reference(x[:3]).unsqueeze(0))


def test_readout_functions_and_bad_input():
    bg, sizes = make_batch()
    x = torch.randn(bg.num_nodes(), 2)
    torch.testing.assert_close(gnn.sum_nodes(bg, x), gnn.SumPooling()(bg, x))
    torch.testing.assert_close(gnn.mean_nodes(bg, x), gnn.AvgPooling()(bg, x))
    torch.testing.assert_close(gnn.max_nodes(bg, x), gnn.MaxPooling()(bg, x))
    with pytest.raises(ValueError, match="op"):
        gnn.readout_nodes(bg, x, "median")
    with pytest.raises(ValueError, match="feat"):
        gnn.sum_nodes(bg, x[:-1])


def test_global_attention_pooling():
    bg, sizes = make_batch()
    gate, feat_nn = torch.nn.Linear(3, 1), torch.nn.Linear(3, 5)
    pool = gnn.GlobalAttentionPooling(gate, feat_nn)
    x = torch.randn(bg.num_nodes(), 3)
    out, attention = pool(bg, x, get_attention=True)
    rows = []
    for part in per_graph(x, sizes):
        if len(part) == 0:
            rows.append(torch.zeros(5))
            continue
        alpha = torch.softmax(gate(part), dim=0)
        rows.append((alpha * feat_nn(part)).sum(0))
    torch.testing.assert_close(out, torch.stack(rows))
    assert attention.shape == (bg.num_nodes(), 1)


def test_set2set_matches_loop():
    bg, sizes = make_batch()
    s2s = gnn.Set2Set(3, n_iters=3, n_layers=2)
    x = torch.randn(bg.num_nodes(), 3)
    out = s2s(bg, x)
    assert out.shape == (len(sizes), 6)
    for b, part in enumerate(per_graph(x, sizes)):
        state = (torch.zeros(2, 1, 3), torch.zeros(2, 1, 3))
        q_star = torch.zeros(1, 6)
        for _ in range(3):
            q, state = s2s.lstm(q_star.unsqueeze(0), state)
            q = q.view(1, 3)
            if len(part):
                alpha = torch.softmax((part * q).sum(-1), dim=0)
                readout = (alpha[:, None] * part).sum(0, keepdim=True)
            else:
                readout = torch.zeros(1, 3)
            q_star = torch.cat([q, readout], -1)
        torch.testing.assert_close(out[b], q_star[0])


def test_sort_pooling_matches_loop():
    bg, sizes = make_batch()
    k = 3
    x = torch.randn(bg.num_nodes(), 4)
    out = gnn.SortPooling(k)(bg, x)
    assert out.shape == (len(sizes), k * 4)
    for b, part in enumerate(per_graph(x, sizes)):
        part = part.sort(dim=-1).values
        order = torch.argsort(part[:, -1], descending=True)[:k]
        expected = torch.zeros(k, 4)
        expected[: order.numel()] = part[order]
        torch.testing.assert_close(out[b].view(k, 4), expected)
