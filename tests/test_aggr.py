"""Aggregation modules against dense per-node references, their limits, and float64 gradchecks."""

import math

import pytest
import torch

import gnnkit as gk
import gnnkit.function as fn
from gnnkit.nn.aggr import (
    DegreeScalerAggregation,
    LSTMAggregation,
    MaxAggregation,
    MeanAggregation,
    MinAggregation,
    MultiAggregation,
    PowerMeanAggregation,
    SoftmaxAggregation,
    StdAggregation,
    SumAggregation,
    VarAggregation,
    resolve_aggregation,
)

NUM_NODES = 7  # node 6 receives nothing


@pytest.fixture(autouse=True)
def _one_thread():
    """These tensors are tiny: on a loaded machine, OpenMP's barrier between 2 threads costs far
    more than the work (a 40 x 16 BatchNorm took 50 ms with 2 threads, 0.03 ms with 1)."""
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(2)


def _messages(dtype=torch.float64, positive=False, features=3, num_edges=24):
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(num_edges, features, generator=gen, dtype=dtype)
    if positive:
        x = x.abs() + 0.1
    index = torch.randint(0, NUM_NODES - 1, (num_edges,), generator=gen)
    return x, index


def _dense(x, index, per_node):
    """Applies ``per_node`` to each node's message rows (in edge order); 0 for empty nodes."""
    rows = []
    for v in range(NUM_NODES):
        mine = x[index == v]
        rows.append(per_node(mine) if mine.shape[0] else torch.zeros_like(per_node(x[:1])))
    return torch.stack(rows)


def _softmax_ref(beta):
    def ref(m):
        w = torch.softmax(beta * m, 0)
        return (w * m).sum(0)

    return ref


def _powermean_ref(p):
    return lambda m: m.pow(p).mean(0).pow(1.0 / p)


REFERENCES = [
    (SumAggregation, {}, lambda m: m.sum(0), False),
    (MeanAggregation, {}, lambda m: m.mean(0), False),
    (MaxAggregation, {}, lambda m: m.max(0).values, False),
    (MinAggregation, {}, lambda m: m.min(0).values, False),
    (VarAggregation, {}, lambda m: m.var(0, unbiased=False), False),
    (StdAggregation, {"eps": 1e-5}, lambda m: (m.var(0, unbiased=False) + 1e-5).sqrt(), False),
    (SoftmaxAggregation, {"beta": 1.5}, _softmax_ref(1.5), False),
    (PowerMeanAggregation, {"p": 2.5}, _powermean_ref(2.5), True),
]


@pytest.mark.parametrize("cls,kwargs,ref,positive", REFERENCES, ids=[r[0].__name__ for r in REFERENCES])
def test_matches_dense_per_node_reference(cls, kwargs, ref, positive):
    x, index = _messages(positive=positive)
    aggr = cls(**kwargs).double()
    out = aggr(x, index, NUM_NODES)
    expected = _dense(x, index, ref)
    torch.testing.assert_close(out, expected, rtol=1e-10, atol=1e-10)
    assert torch.all(out[NUM_NODES - 1] == 0)


@pytest.mark.parametrize("cls,kwargs,ref,positive", REFERENCES, ids=[r[0].__name__ for r in REFERENCES])
def test_graph_entry_points_agree(cls, kwargs, ref, positive):
    """Index form, fused on_graph / from_src, and update_all with reduce_func give the same result."""
    gen = torch.Generator().manual_seed(2)
    src = torch.randint(0, NUM_NODES, (30,), generator=gen)
    dst = torch.randint(0, NUM_NODES - 1, (30,), generator=gen)
    g = gk.graph((src, dst), num_nodes=NUM_NODES)
    h = torch.randn(NUM_NODES, 4, generator=gen, dtype=torch.float64)
    if positive:
        h = h.abs() + 0.1
    aggr = cls(**kwargs).double()
    expected = aggr(h[src], dst, NUM_NODES)
    torch.testing.assert_close(aggr.from_src(g, h), expected, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(aggr.on_graph(g, h[src]), expected, rtol=1e-10, atol=1e-10)
    g.ndata["h"] = h
    g.update_all(fn.copy_u("h", "m"), aggr.reduce_func("m", "out"))
    torch.testing.assert_close(g.ndata["out"], expected, rtol=1e-10, atol=1e-10)


def test_builtin_aggregations_lower_to_builtin_reducers():
    for name in ("sum", "mean", "max", "min"):
        reduce = resolve_aggregation(name).reduce_func("m", "h")
        assert not callable(reduce) or type(reduce).__module__.startswith("gnnkit.function"), name
    assert callable(SoftmaxAggregation().reduce_func("m", "h"))


def test_softmax_tends_to_mean_and_max():
    x, index = _messages()
    mean = MeanAggregation()(x, index, NUM_NODES)
    maximum = MaxAggregation()(x, index, NUM_NODES)
    minimum = MinAggregation()(x, index, NUM_NODES)
    to_mean = [(SoftmaxAggregation(beta=b).double()(x, index, NUM_NODES) - mean).abs().max().item() for b in (1.0, 1e-2, 1e-4, 1e-6)]
    to_max = [(SoftmaxAggregation(beta=b).double()(x, index, NUM_NODES) - maximum).abs().max().item() for b in (1.0, 10.0, 100.0, 1e4)]
    # The gap shrinks linearly in beta (first-order expansion of the softmax weights).
    assert to_mean[0] > to_mean[1] > to_mean[2] > to_mean[3] and to_mean[3] < 1e-5
    assert to_max[0] > to_max[1] > to_max[2] and to_max[3] < 1e-10
    to_min = (SoftmaxAggregation(beta=-1e4).double()(x, index, NUM_NODES) - minimum).abs().max().item()
    assert to_min < 1e-10


def test_powermean_is_mean_at_one_and_tends_to_max():
    x, index = _messages(positive=True)
    mean = MeanAggregation()(x, index, NUM_NODES)
    maximum = MaxAggregation()(x, index, NUM_NODES)
    torch.testing.assert_close(PowerMeanAggregation(p=1.0).double()(x, index, NUM_NODES), mean, rtol=1e-12, atol=1e-12)
    errors = [(PowerMeanAggregation(p=p).double()(x, index, NUM_NODES) - maximum).abs().max().item() for p in (1.0, 10.0, 100.0, 1e4)]
    assert errors[0] > errors[1] > errors[2] > errors[3]
    # (1/d)^(1/p) * max <= result <= max: at p = 1e4 within d^(1/p) - 1 < 1e-3 relative.
    assert errors[3] < 1e-3 * maximum.abs().max().item()
    # Large p stays finite (log-space evaluation).
    assert torch.isfinite(PowerMeanAggregation(p=1e6).double()(x, index, NUM_NODES)).all()


@pytest.mark.parametrize(
    "make,positive",
    [
        (lambda: SumAggregation(), False),
        (lambda: MeanAggregation(), False),
        (lambda: MaxAggregation(), False),
        (lambda: VarAggregation(), False),
        (lambda: StdAggregation(), False),
        (lambda: SoftmaxAggregation(beta=0.5, learn=True, channels=3), False),
        (lambda: PowerMeanAggregation(p=1.5, learn=True), True),
        (lambda: MultiAggregation(["mean", "max", "std"]), False),
        (lambda: DegreeScalerAggregation(["mean", "max"], ["identity", "amplification", "attenuation", "linear"], torch.tensor([1.0, 3, 4, 2])), False),
        (lambda: LSTMAggregation(3, 2), False),
    ],
    ids=["sum", "mean", "max", "var", "std", "softmax", "powermean", "multi", "pna", "lstm"],
)
def test_gradcheck(make, positive):
    x, index = _messages(positive=positive, num_edges=12)
    aggr = make().double()
    x.requires_grad_(True)
    params = [p for p in aggr.parameters() if p.requires_grad]

    def run(x_in, *ps):
        return aggr(x_in, index, NUM_NODES)

    assert torch.autograd.gradcheck(run, (x, *params), eps=1e-6, atol=1e-6)


def test_learnable_beta_and_p_receive_gradients():
    x, index = _messages(positive=True)
    for aggr in (SoftmaxAggregation(1.0, learn=True, channels=3), PowerMeanAggregation(2.0, learn=True)):
        aggr = aggr.double()
        aggr(x, index, NUM_NODES).pow(2).sum().backward()
        param = next(aggr.parameters())
        assert param.grad is not None and torch.isfinite(param.grad).all() and param.grad.abs().sum() > 0


def test_multi_aggregation_modes():
    x, index = _messages()
    parts = [MeanAggregation()(x, index, NUM_NODES), MaxAggregation()(x, index, NUM_NODES)]
    torch.testing.assert_close(MultiAggregation(["mean", "max"])(x, index, NUM_NODES), torch.cat(parts, -1))
    torch.testing.assert_close(MultiAggregation(["mean", "max"], mode="sum")(x, index, NUM_NODES), parts[0] + parts[1])
    proj = MultiAggregation(["mean", "max"], mode="proj", in_channels=3, out_channels=5).double()
    torch.testing.assert_close(proj(x, index, NUM_NODES), proj.proj(torch.cat(parts, -1)))


def test_degree_scaler_matches_pna_formula():
    x, index = _messages()
    hist = torch.tensor([2.0, 1.0, 5.0, 3.0])
    aggr = DegreeScalerAggregation(["sum", "max"], ["identity", "amplification", "attenuation", "linear", "inverse_linear"], hist)
    out = aggr(x, index, NUM_NODES)
    degrees = torch.arange(4, dtype=torch.float64)
    delta = ((degrees + 1).log() * hist).sum() / hist.sum()
    mean_deg = (degrees * hist).sum() / hist.sum()
    base = torch.cat([SumAggregation()(x, index, NUM_NODES), MaxAggregation()(x, index, NUM_NODES)], -1)
    d = torch.bincount(index, minlength=NUM_NODES).double().clamp(min=1).view(-1, 1)
    scales = [torch.ones_like(d), (d + 1).log() / delta, delta / (d + 1).log(), d / mean_deg, mean_deg / d]
    torch.testing.assert_close(out, torch.cat([base * s for s in scales], -1))


def test_lstm_mailbox_and_index_paths_agree_with_sequential_lstm():
    x, index = _messages(dtype=torch.float32)
    aggr = LSTMAggregation(3, 4)
    out = aggr(x, index, NUM_NODES)
    for v in range(NUM_NODES):
        seq = x[index == v]
        if seq.shape[0] == 0:
            assert torch.all(out[v] == 0)
            continue
        _, (h, _) = aggr.lstm(seq.unsqueeze(0))
        torch.testing.assert_close(out[v], h[-1, 0], rtol=1e-5, atol=1e-6)
    # Mailbox of one degree bucket: [B, D, F].
    mailbox = torch.randn(5, 3, 3)
    expected = torch.stack([aggr.lstm(mailbox[b : b + 1])[1][0][-1, 0] for b in range(5)])
    torch.testing.assert_close(aggr.aggregate_mailbox(mailbox), expected, rtol=1e-5, atol=1e-6)


def test_cross_check_with_pyg_softmax_and_powermean():
    pyg_aggr = pytest.importorskip("torch_geometric.nn.aggr")
    x, index = _messages(positive=True)
    ours = SoftmaxAggregation(beta=2.0).double()(x, index, NUM_NODES)
    theirs = pyg_aggr.SoftmaxAggregation(t=2.0)(x, index, dim_size=NUM_NODES)
    torch.testing.assert_close(ours, theirs, rtol=1e-8, atol=1e-8)
    ours = PowerMeanAggregation(p=3.0).double()(x, index, NUM_NODES)
    theirs = pyg_aggr.PowerMeanAggregation(p=3.0)(x, index, dim_size=NUM_NODES)
    # PyG clamps before the root and gives a small non-zero value at empty nodes; compare the others.
    torch.testing.assert_close(ours[:-1], theirs[:-1], rtol=1e-6, atol=1e-6)


def test_bad_input_is_rejected_with_a_message():
    x, index = _messages()
    with pytest.raises(ValueError, match="index"):
        SumAggregation()(x, index[:-1], NUM_NODES)
    with pytest.raises(ValueError, match="num_nodes"):
        SumAggregation()(x, index, 2)
    with pytest.raises(ValueError, match="aggr"):
        resolve_aggregation("median")
    with pytest.raises(ValueError, match="scalers"):
        DegreeScalerAggregation(["mean"], ["cubic"], torch.tensor([1.0]))
    with pytest.raises(ValueError, match="p must be"):
        PowerMeanAggregation(p=-1.0)
    assert math.isclose(float(SoftmaxAggregation(3.0).beta), 3.0)


def test_softmax_from_src_shared_shift_matches_per_group_path_with_gradients():
    """from_src's node-level path (one shift per channel, two sparse products) equals the
    per-group softmax in value and in the gradients of x and of a learnable beta; a spread of
    beta * x too wide for one shift falls back to the per-group path and stays finite."""
    gen = torch.Generator().manual_seed(3)
    src = torch.randint(0, NUM_NODES, (40,), generator=gen)
    dst = torch.randint(0, NUM_NODES - 1, (40,), generator=gen)  # node 6 receives nothing
    g = gk.graph((src, dst), num_nodes=NUM_NODES)
    for scale in (1.0, 400.0):  # 400: beta * x spans far more than float32's exp range
        h = (torch.randn(NUM_NODES, 3, generator=gen) * scale).requires_grad_(True)
        aggr = SoftmaxAggregation(0.7, learn=True, channels=3)
        fused = aggr.from_src(g, h)
        grads_fused = torch.autograd.grad(fused.pow(2).sum(), [h, aggr.beta])
        reference = aggr(h[src], dst, NUM_NODES)
        grads_ref = torch.autograd.grad(reference.pow(2).sum(), [h, aggr.beta])
        assert torch.isfinite(fused).all()
        torch.testing.assert_close(fused, reference, rtol=1e-5, atol=1e-5 * scale)
        for a, b in zip(grads_fused, grads_ref):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4 * scale)
        assert torch.all(fused[NUM_NODES - 1] == 0)
    x64 = torch.randn(NUM_NODES, 2, generator=gen, dtype=torch.float64, requires_grad=True)
    aggr64 = SoftmaxAggregation(1.3, learn=True, channels=2).double()
    assert torch.autograd.gradcheck(lambda x, b: aggr64.from_src(g, x), (x64, aggr64.beta), eps=1e-6, atol=1e-6)
