"""DynaGraph subsystem: split convs against dense formulas, cached == uncached (outputs and
gradients, float64), the cache store, cells against their equations, windows and signals."""

import math

import pytest
import torch

import gnnkit.temporal as T


def _random_ops(n=9, p=0.35, seed=0):
    g = torch.Generator().manual_seed(seed)
    adj = torch.rand(n, n, generator=g, dtype=torch.float64) * (torch.rand(n, n, generator=g) < p)
    adj.fill_diagonal_(0)
    adj[torch.arange(n), (torch.arange(n) + 1) % n] = 0.5  # every node has in- and out-edges
    return T.GraphOperators.from_dense(adj), adj

@pytest.fixture(autouse=True)
def _one_thread():
    # The tensors here are tiny: a second thread only adds fork/join overhead (and stalls
    # badly on a busy machine).
    torch.set_num_threads(1)
    yield



def test_operators_match_dense_formulas():
    ops, adj = _random_ops()
    n = adj.shape[0]
    a_hat = adj.t() + torch.eye(n, dtype=torch.float64)  # row i = in-edges of i
    d = a_hat.sum(1)
    # symmetric norm uses in-degree; a_hat[i, j] = weight of j -> i
    expected_gcn = a_hat / torch.sqrt(d[:, None] * d[None, :])
    assert torch.allclose(ops.dense("gcn"), expected_gcn.to(ops.dense("gcn").dtype), atol=1e-6)
    forward = adj / adj.sum(1, keepdim=True)  # D_O^{-1} W
    backward = adj.t() / adj.t().sum(1, keepdim=True)  # D_I^{-1} W^T
    assert torch.allclose(ops.dense("walk_forward").double(), forward, atol=1e-6)
    assert torch.allclose(ops.dense("walk_backward").double(), backward, atol=1e-6)


def test_per_call_operators_are_rebuilt_and_equal_the_kept_ones():
    ops, _ = _random_ops()
    fresh = ops.per_call()
    for name in ("gcn", "cheb", "walk_forward", "walk_backward", "mean"):
        kept, first, second = getattr(ops, name)(), getattr(fresh, name)(), getattr(fresh, name)()
        assert getattr(ops, name)() is kept and first is not second
        assert torch.equal(kept[1], first[1]) and torch.equal(kept[0].src, first[0].src) and torch.equal(kept[0].dst, first[0].dst)


def test_cheb_and_diffusion_msg_pass_match_dense():
    ops, adj = _random_ops()
    x = torch.randn(adj.shape[0], 3, dtype=torch.float64)
    cheb = T.ChebSplitConv(3, 4, K=3).double()
    L = ops.dense("cheb").double()
    expected = torch.cat([x, L @ x, 2 * L @ (L @ x) - x], dim=-1)
    assert torch.allclose(cheb.msg_pass(ops, x), expected, atol=1e-10)
    diff = T.DiffusionSplitConv(3, 4, K=2).double()
    pf, pb = ops.dense("walk_forward").double(), ops.dense("walk_backward").double()
    expected = torch.cat([x, pf @ x, pf @ pf @ x, pb @ x, pb @ pb @ x], dim=-1)
    assert torch.allclose(diff.msg_pass(ops, x), expected, atol=1e-10)
    out = diff(ops, x)
    assert torch.allclose(out, expected @ diff.weight.t() + diff.bias, atol=1e-10)


def test_cheb_matches_pyg_chebconv():
    pyg = pytest.importorskip("torch_geometric.nn")
    ops, adj = _random_ops()
    sym = (adj + adj.t()).float()
    ops = T.GraphOperators.from_dense(sym)
    src, dst = sym.nonzero(as_tuple=True)
    x = torch.randn(sym.shape[0], 3)
    ref = pyg.ChebConv(3, 5, K=3)
    ours = T.ChebSplitConv(3, 5, K=3)
    with torch.no_grad():
        ours.weight.copy_(torch.cat([lin.weight for lin in ref.lins], dim=1))
        ours.bias.copy_(ref.bias)
    expected = ref(x, torch.stack([src, dst]), sym[src, dst])
    assert torch.allclose(ours(ops, x), expected, atol=1e-5)


def test_msg_pass_gradcheck():
    ops, _ = _random_ops(n=6)
    conv = T.DiffusionSplitConv(2, 3, K=2).double()
    x = torch.randn(6, 2, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda v: conv(ops, v), (x,))


def test_gru_cell_matches_equations():
    ops, _ = _random_ops()
    cell = T.GConvGRU(3, 4, K=2).double()
    x = torch.randn(9, 2, 3, dtype=torch.float64)
    h = torch.randn(9, 2, 4, dtype=torch.float64)
    L = ops.dense("cheb").double()

    def cheb(conv, v, cols):
        agg = torch.cat([v, torch.einsum("ij,jbf->ibf", L, v)], dim=-1)
        b = 0 if conv.bias is None else conv.bias[cols]
        return agg @ conv.weight[cols].t() + b

    z = torch.sigmoid(cheb(cell.conv_x, x, slice(0, 4)) + cheb(cell.conv_h, h, slice(0, 4)))
    r = torch.sigmoid(cheb(cell.conv_x, x, slice(4, 8)) + cheb(cell.conv_h, h, slice(4, 8)))
    c = torch.tanh(cheb(cell.conv_x, x, slice(8, 12)) + cheb(cell.conv_hc, r * h, slice(0, 4)))
    expected = z * h + (1 - z) * c
    for caching in (True, False):
        cell.caching = caching
        assert torch.allclose(cell(ops, x, h), expected, atol=1e-12)


def test_lstm_cell_matches_equations():
    ops, _ = _random_ops()
    cell = T.GraphLSTMCell(3, 4, conv="gcn").double()
    x = torch.randn(9, 3, dtype=torch.float64)
    h, c = torch.randn(9, 4, dtype=torch.float64), torch.randn(9, 4, dtype=torch.float64)
    A = ops.dense("gcn").double()
    pre = (A @ x) @ cell.conv_x.weight.t() + cell.conv_x.bias + (A @ h) @ cell.conv_h.weight.t()
    gi, gf, gc, go = pre.split(4, dim=-1)
    i = torch.sigmoid(gi + cell.peephole[0] * c)
    f = torch.sigmoid(gf + cell.peephole[1] * c)
    c_new = f * c + i * torch.tanh(gc)
    o = torch.sigmoid(go + cell.peephole[2] * c_new)
    h_new, c_out = cell(ops, x, (h, c))
    assert torch.allclose(c_out, c_new, atol=1e-12)
    assert torch.allclose(h_new, o * torch.tanh(c_new), atol=1e-12)


@pytest.mark.parametrize(
    "build",
    [
        lambda: T.GCRN(2, 1, 6, num_layers=2, cell="lstm", K=3),
        lambda: T.GCRN(2, 1, 6, num_layers=2, cell="gru", K=2),
        lambda: T.DCRNN(2, 1, 6, num_layers=2, K=2),
        lambda: T.stack_seq_model(
            [T.integrate("sage", "gru", 2, 5), T.integrate("gcn", "gru", 5, 5)],
            [T.integrate("sage", "gru", 1, 5), T.integrate("gcn", "gru", 5, 5)],
            1,
        ),
    ],
    ids=["gcrn-lstm", "gcrn-gru", "dcrnn", "sage-gcn-stack"],
)
def test_caching_does_not_change_outputs_or_gradients(build):
    torch.manual_seed(0)
    model = build().double()
    ops, _ = _random_ops()
    series = torch.randn(9, 9, 2, dtype=torch.float64)
    ids = torch.arange(3)[:, None] + torch.arange(5)[None]
    x, y = series[ids], torch.randn(3, 4, 9, 1, dtype=torch.float64)
    results = []
    # Cached twice (the second pass is served by the store), cached without fusing time steps
    # or a store, then uncached.
    for caching, use_ids, fuse in ((True, True, True), (True, True, True), (True, False, False), (False, False, True)):
        model.set_caching(caching)
        model.fuse_time_steps = fuse
        model.zero_grad()
        gen = torch.Generator().manual_seed(3)
        out = model(ops, x, 4, targets=y, teacher_forcing=0.5, snapshot_ids=ids if use_ids else None, generator=gen)
        (out**2).sum().backward()
        results.append((out.detach().clone(), [p.grad.clone() for p in model.parameters()]))
    assert model.cache_store.hits > 0 and model.cache_store.num_entries() == 7
    for out, grads in results[1:]:
        assert torch.allclose(out, results[0][0], rtol=0, atol=1e-8)
        for g0, g1 in zip(results[0][1], grads):
            assert torch.allclose(g0, g1, rtol=0, atol=1e-8)


def test_cache_store_computes_each_snapshot_once():
    store = T.CacheStore()
    calls = []

    def compute_from(values):
        def compute(positions):
            calls.append(positions.numel())
            return values[positions] * 2
        return compute

    ids = torch.tensor([3, 4, 5, 4, 5, 6])
    values = ids.double().view(-1, 1, 1).expand(-1, 2, 1)
    out = store.fetch("layer0", ids, compute_from(values))
    assert torch.equal(out[:, 0, 0], ids.double() * 2)
    assert calls == [4]
    ids2 = torch.tensor([5, 6, 7])
    out2 = store.fetch("layer0", ids2, compute_from(ids2.double().view(-1, 1, 1).expand(-1, 2, 1)))
    assert calls == [4, 1] and torch.equal(out2[:, 1, 0], ids2.double() * 2)
    assert (3, "x") not in store and ("layer0", 7) in store and ("layer0", 2) not in store
    with pytest.raises(ValueError, match="holds rows of shape"):
        store.fetch("layer0", torch.tensor([9]), lambda p: torch.zeros(1, 3, 1, dtype=torch.float64))


def test_cache_function_runs_once_and_refuses_trainable_inputs():
    count = []
    f = T.cache(lambda a: count.append(1) or a * 2, key=lambda a: "k")
    a = torch.ones(2)
    assert torch.equal(f(a), a * 2) and torch.equal(f(a), a * 2) and len(count) == 1
    assert T.cache(f) is f
    g = T.cache(lambda a: a)
    with pytest.raises(ValueError, match="requires grad"):
        g(torch.ones(1, requires_grad=True))


def test_msg_pass_update_api_composes_to_forward():
    ops, _ = _random_ops()
    conv = T.ChebSplitConv(3, 2, K=2)
    x = torch.randn(9, 3)
    assert torch.allclose(T.update(conv, T.msg_pass(conv, ops, x)), conv(ops, x))
    with pytest.raises(TypeError, match="SplitConv"):
        T.msg_pass(torch.nn.Linear(2, 2), ops, x)


def test_generic_conv_factory_without_split_runs():
    class Plain(torch.nn.Module):
        def __init__(self, i, o):
            super().__init__()
            self.lin = torch.nn.Linear(i, o)

        def forward(self, graph, feat):
            return self.lin(feat) * graph.num_nodes() / graph.num_nodes()

    cell = T.integrate(lambda i, o: Plain(i, o), "lstm", 3, 4)
    ops, _ = _random_ops()
    h, c = cell(ops, torch.randn(9, 2, 3))
    assert not cell.split and h.shape == (9, 2, 4)


def test_cells_take_gnnkit_nn_convs_whole():
    nn = pytest.importorskip("gnnkit.nn")
    ops, _ = _random_ops()
    cell = T.integrate(lambda i, o: nn.GATConv(i, o, num_heads=1, allow_zero_in_degree=True), "gru", 3, 4)
    x = torch.randn(9, 2, 3, requires_grad=True)
    h = cell(ops, x)
    h.sum().backward()
    assert not cell.split and h.shape == (9, 2, 4) and x.grad.abs().sum() > 0
    # Batched windows equal one window at a time.
    assert torch.allclose(h[:, 1], cell(ops, x[:, 1].detach()), atol=1e-6)
    lstm = T.integrate(nn.SAGEConv, "lstm", 3, 4, aggregator_type="mean")
    assert lstm(ops, x.detach())[0].shape == (9, 2, 4)


def test_bad_arguments_are_rejected():
    ops, _ = _random_ops()
    with pytest.raises(ValueError, match="conv must be one of"):
        T.GraphGRUCell(2, 3, conv="nope")
    with pytest.raises(ValueError, match="x has shape"):
        T.ChebSplitConv(3, 2)(ops, torch.randn(4, 3))
    with pytest.raises(ValueError, match="rnn must be"):
        T.integrate("gcn", "rnn", 2, 2)
    model = T.GCRN(2, 1, 4, 1)
    with pytest.raises(ValueError, match="x must be"):
        model(ops, torch.randn(2, 3, 5, 2), 2)


def test_sliding_windows_use_training_statistics_only():
    series = torch.arange(100, dtype=torch.float32).view(100, 1, 1).expand(100, 3, 1).clone()
    data = T.SlidingWindowDataset(series, seq_len=4, horizon=2, splits=(0.6, 0.2, 0.2), time_of_day=10)
    windows = 100 - 4 - 2 + 1
    assert data.num_windows("train") == round(0.6 * windows)
    train_steps = data.num_windows("train") + 4 + 2 - 1
    assert math.isclose(float(data.scaler.mean[0]), (train_steps - 1) / 2, rel_tol=1e-6)
    x, y, ids = data.window(torch.tensor([0, 7]))
    assert x.shape == (2, 4, 3, 2) and y.shape == (2, 2, 3, 1)
    assert torch.equal(y[1, :, 0, 0], torch.tensor([11.0, 12.0]))
    assert torch.equal(ids[1], torch.arange(7, 11))
    assert torch.allclose(data.denormalize(x[..., :1]), series[torch.arange(4)][None].expand(2, -1, -1, -1)[:1].expand(2, -1, -1, -1) + torch.tensor([0.0, 7.0]).view(2, 1, 1, 1))
    assert torch.allclose(x[0, :, 0, 1], torch.tensor([0.0, 0.1, 0.2, 0.3]))
    total = sum(b[0].shape[0] for b in data.batches("test", 5))
    assert total == data.num_windows("test")
    with pytest.raises(ValueError, match="splits"):
        T.SlidingWindowDataset(series, splits=(0.5, 0.5, 0.5))


def test_zero_is_missing_excluded_from_statistics():
    series = torch.tensor([[0.0], [2.0], [4.0], [0.0]] * 10).view(40, 1, 1)
    data = T.SlidingWindowDataset(series, seq_len=2, horizon=1, zero_is_missing=True)
    assert math.isclose(float(data.scaler.mean[0]), 3.0, rel_tol=1e-6)


def test_dynamic_signal_per_step_operators_and_split():
    edges = [torch.tensor([[0, 1], [1, 2]]), torch.tensor([[2], [0]]), torch.tensor([[0, 2], [2, 1]])]
    sig = T.DynamicGraphTemporalSignal(edges, None, torch.randn(3, 3, 2), torch.randn(3, 3))
    snap = sig[1]
    assert snap.ops.graph.num_edges() == 1 and snap.x.shape == (3, 2)
    train, test = T.temporal_signal_split(sig, 0.67)
    assert len(train) == 2 and len(test) == 1 and test[0].ops.graph.num_edges() == 2
    with pytest.raises(ValueError, match="step counts differ"):
        T.DynamicGraphTemporalSignal(edges, None, torch.randn(2, 3, 2), torch.randn(3, 3))


def test_cached_forward_aggregates_each_tensor_once(monkeypatch):
    """Counts sparse products: the cached encoder-decoder aggregates each hidden state once
    (shared by the gates, by the layer above and by the decoder's first step), the naive one
    once per gate."""
    import gnnkit.temporal.conv.cheb as cheb_module

    calls = []
    real = cheb_module.propagate
    monkeypatch.setattr(cheb_module, "propagate", lambda op, x: calls.append(x.shape) or real(op, x))
    torch.manual_seed(0)
    model = T.GCRN(2, 1, 6, num_layers=2, cell="lstm", K=2)
    ops, _ = _random_ops()
    series = torch.randn(9, 9, 2)
    ids = torch.arange(3)[:, None] + torch.arange(5)[None]
    counts = {}
    for caching in (True, False):
        model.set_caching(caching)
        calls.clear()
        model(ops, series[ids], 4, snapshot_ids=ids if caching else None)
        counts[caching] = len(calls)
    # Cached: 1 fused product for the 7 input snapshots; encoder layer 0: h_0..h_4 (h_4 also
    # feeds layer 1 and nothing is done for the zero state); layer 1: h_0..h_4 (h_4 for the
    # decoder); decoder, 4 steps: the fed-back input, layer 0's h (shared with layer 1) and
    # layer 1's h except after the last step.
    assert counts[True] == 1 + 5 + 5 + (4 * 3 - 1)
    # Naive: 8 convs (4 gates x {input, hidden}) per cell step, 2 x (5 + 4) cell steps, except
    # the first encoder step of each layer (zero state: only the i, c, o input convs).
    assert counts[False] == 8 * 18 - 2 * 5
