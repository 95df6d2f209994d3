"""Deep GNN layers: GENConv/MRConv/MessageNorm against dense references, DeepGCN blocks, dilated k-NN
against brute force, reversible gradients against ordinary autograd, DEQ implicit gradients."""

import numpy as np
import pytest
import torch

import gnnkit as gk
from gnnkit.nn.conv.gen_conv import GENConv
from gnnkit.nn.conv.mr_conv import MRConv
from gnnkit.nn.deep import (
    DEQGNN,
    DeeperGCN,
    DeepGCN,
    DeepGCNLayer,
    DenseGCN,
    DilatedKNNGraph,
    DynamicPointGCN,
    GroupRevRes,
    MessageNorm,
    PlainGCN,
    PreActBlock,
    ResGCN,
    RevGNN,
    WeightTiedRevGNN,
    anderson,
    broyden,
    dilated_knn_edges,
)
from gnnkit.nn.deep.models import GCNLayer


@pytest.fixture(autouse=True)
def _one_thread():
    """These tensors are tiny: on a loaded machine, OpenMP's barrier between 2 threads costs far
    more than the work (a 40 x 16 BatchNorm took 50 ms with 2 threads, 0.03 ms with 1)."""
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(2)


def _graph(num_nodes=12, num_edges=40, seed=0, symmetric=False):
    gen = torch.Generator().manual_seed(seed)
    src = torch.randint(0, num_nodes, (num_edges,), generator=gen)
    dst = torch.randint(0, num_nodes - 1, (num_edges,), generator=gen)  # last node: no in-edges
    if symmetric:
        src, dst = torch.cat([src, dst]), torch.cat([dst, src])
    return gk.graph((src, dst), num_nodes=num_nodes), src, dst


# ------------------------------------------------------------------------------------------------
# layers against dense references


@pytest.mark.parametrize("aggr", ["softmax", "powermean", "mean", "max"])
def test_genconv_matches_dense_reference(aggr):
    g, src, dst = _graph()
    n = g.num_nodes()
    x = torch.randn(n, 4, dtype=torch.float64)
    e = torch.randn(g.num_edges(), 4, dtype=torch.float64)
    conv = GENConv(4, 4, aggr=aggr, beta=1.5, p=2.0, msg_norm=True, learn_msg_scale=True, norm="layer").double()
    eps = conv.eps
    for edge_feat in (None, e):
        out = conv(g, x, edge_feat)
        rows = []
        for v in range(n):
            mask = dst == v
            msgs = torch.relu(x[src[mask]] + (0 if edge_feat is None else edge_feat[mask])) + eps
            if msgs.shape[0] == 0:
                m = torch.zeros(4, dtype=torch.float64)
            elif aggr == "softmax":
                m = (torch.softmax(1.5 * msgs, 0) * msgs).sum(0)
            elif aggr == "powermean":
                m = msgs.pow(2).mean(0).sqrt()
            elif aggr == "mean":
                m = msgs.mean(0)
            else:
                m = msgs.max(0).values
            m = m / m.norm().clamp(min=1e-12) * x[v].norm() * conv.msg_norm.scale
            rows.append(x[v] + m)
        torch.testing.assert_close(out, conv.mlp(torch.stack(rows)), rtol=1e-9, atol=1e-9)


def test_genconv_projects_widths_and_gradchecks():
    g, _, _ = _graph(num_nodes=6, num_edges=14)
    conv = GENConv(3, 5, aggr="softmax", learn_beta=True, edge_dim=2, norm="none").double()
    x = torch.randn(6, 3, dtype=torch.float64, requires_grad=True)
    e = torch.randn(14, 2, dtype=torch.float64, requires_grad=True)
    assert conv(g, x, e).shape == (6, 5)
    assert torch.autograd.gradcheck(lambda a, b: conv(g, a, b), (x, e), eps=1e-6, atol=1e-6)


def test_mrconv_matches_dense_reference():
    g, src, dst = _graph()
    x = torch.randn(g.num_nodes(), 3, dtype=torch.float64, requires_grad=True)
    conv = MRConv(3, 5).double()
    rel = []
    for v in range(g.num_nodes()):
        nbrs = src[dst == v]
        rel.append((x[nbrs] - x[v]).max(0).values if nbrs.numel() else torch.zeros(3, dtype=torch.float64))
    expected = conv.nn(torch.cat([x, torch.stack(rel)], -1))
    torch.testing.assert_close(conv(g, x), expected)
    assert torch.autograd.gradcheck(lambda a: conv(g, a), (x,), eps=1e-6, atol=1e-6)


def test_message_norm_formula():
    norm = MessageNorm(learn_scale=True, scale=2.0).double()
    x, m = torch.randn(5, 4, dtype=torch.float64), torch.randn(5, 4, dtype=torch.float64)
    expected = 2.0 * x.norm(dim=-1, keepdim=True) * m / m.norm(dim=-1, keepdim=True)
    torch.testing.assert_close(norm(x, m), expected)
    norm(x, m).sum().backward()
    assert norm.scale.grad is not None


@pytest.mark.parametrize("block", ["res+", "res", "dense", "plain"])
def test_deep_gcn_layer_blocks(block):
    g, _, _ = _graph()
    x = torch.randn(g.num_nodes(), 6, dtype=torch.float64)
    conv = GCNLayer(6, 6).double()
    norm = torch.nn.LayerNorm(6).double()
    layer = DeepGCNLayer(conv, norm, torch.nn.ReLU(), block=block, dropout=0.0)
    out = layer(g, x)
    if block == "res+":
        expected = x + conv(g, torch.relu(norm(x)))
    else:
        h = torch.relu(norm(conv(g, x)))
        expected = {"res": x + h, "dense": torch.cat([x, h], -1), "plain": h}[block]
    torch.testing.assert_close(out, expected)


def test_gcn_layer_matches_dense_normalised_adjacency():
    g, src, dst = _graph()
    n = g.num_nodes()
    conv = GCNLayer(3, 2).double()
    x = torch.randn(n, 3, dtype=torch.float64)
    a = torch.zeros(n, n, dtype=torch.float64)
    a.index_put_((dst, src), torch.ones_like(src, dtype=torch.float64), accumulate=True)
    a_hat = a + torch.eye(n, dtype=torch.float64)
    d_in = a.sum(1) + 1
    d_out = a.sum(0) + 1
    expected = d_in.rsqrt().view(-1, 1) * (a_hat @ (d_out.rsqrt().view(-1, 1) * (x @ conv.lin.weight.T))) + conv.bias
    torch.testing.assert_close(conv(g, x), expected)


@pytest.mark.parametrize("model_cls", [ResGCN, DenseGCN, DeeperGCN, PlainGCN])
def test_deep_models_fit_a_small_task(model_cls):
    """The label is a node's own first feature: skip connections keep it through 6 layers of
    smoothing, the plain stack only has to lower its loss."""
    torch.manual_seed(0)
    g, src, dst = _graph(num_nodes=40, num_edges=160, symmetric=True)
    x = torch.randn(40, 8)
    y = (x[:, 0] > 0).long()
    model = model_cls(8, 16, 2, depth=6)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    losses = []
    for _ in range(60):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(g, x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    model.eval()
    if model_cls is PlainGCN:
        assert losses[-1] < 0.9 * losses[0]
    else:
        assert (model(g, x).argmax(1) == y).float().mean() >= 0.9


@pytest.mark.parametrize("block", ["res", "res+", "plain", "dense"])
def test_conv_encoder_and_decoder_match_explicit_composition(block):
    """encoder='conv' / decoder='conv': the ends are graph convolutions, y = dec(g, blocks(g, enc(g, x)))."""
    g, _, _ = _graph(num_nodes=15, num_edges=50)
    x = torch.randn(15, 5, dtype=torch.float64)
    torch.manual_seed(0)
    model = DeepGCN(5, 6, 3, depth=3, block=block, conv="gcn", norm="layer", encoder="conv", decoder="conv").double().eval()
    assert isinstance(model.encoder, GCNLayer) and isinstance(model.decoder, GCNLayer)
    h = model.encoder(g, x)
    layers = list(model.layers)
    if block == "res+":
        h = layers.pop(0).conv(g, h)
    for layer in layers:
        h = layer(g, h)
    if block == "res+":
        h = torch.relu(model.final_norm(h))
    torch.testing.assert_close(model(g, x), model.decoder(g, h), rtol=0, atol=0)
    with pytest.raises(ValueError, match="decoder"):
        DeepGCN(5, 6, 3, depth=2, decoder="mlp")


def test_dense_gcn_grows_channels():
    model = DenseGCN(5, 8, 3, depth=4, growth=4)
    assert model.decoder.in_features == 8 + 4 * 4


@pytest.mark.parametrize("block", ["res", "res+"])
@pytest.mark.parametrize("scale", [0.25, "rezero"])
def test_scaled_residual_equals_its_formula(block, scale):
    """x' = x + alpha * F(x): a fixed alpha, or ReZero's learnable alpha (0 at initialisation, so
    the block starts as the identity, and alpha gets a gradient of <dL/dx', F(x)>)."""
    g, _, _ = _graph()
    torch.manual_seed(0)
    x = torch.randn(g.num_nodes(), 6, dtype=torch.float64)
    conv, norm = GCNLayer(6, 6).double(), torch.nn.LayerNorm(6).double()
    layer = DeepGCNLayer(conv, norm, torch.nn.ReLU(), block=block, dropout=0.0, residual_scale=scale).double()
    branch = conv(g, torch.relu(norm(x))) if block == "res+" else torch.relu(norm(conv(g, x)))
    if scale == "rezero":
        torch.testing.assert_close(layer(g, x), x, rtol=0, atol=0)  # identity at initialisation
        weight = torch.randn_like(x)
        (layer(g, x) * weight).sum().backward()
        torch.testing.assert_close(layer.alpha.grad, (weight * branch).sum().detach())
        with torch.no_grad():
            layer.alpha.fill_(0.7)
        alpha = 0.7
    else:
        alpha = scale
    torch.testing.assert_close(layer(g, x), x + alpha * branch)
    if scale == "rezero":
        layer.reset_parameters()
        assert float(layer.alpha) == 0.0


def test_residual_scale_options_in_models_and_rejections():
    model = ResGCN(5, 8, 3, depth=16, norm="none", residual_scale="inv_sqrt_depth")
    assert all(layer.residual_scale == pytest.approx(0.25) for layer in model.layers)
    model = DeeperGCN(5, 8, 3, depth=4, norm="layer", residual_scale="rezero")
    assert sum(1 for p in model.parameters() if p.dim() == 0 and p.requires_grad) >= 4  # one alpha per block (+ betas)
    assert all(float(layer.alpha) == 0.0 for layer in model.layers)
    with pytest.raises(ValueError, match="residual_scale"):
        PlainGCN(5, 8, 3, depth=3, residual_scale=0.5)  # no skip connection to scale
    with pytest.raises(ValueError, match="residual_scale"):
        DeepGCNLayer(GCNLayer(4, 4), block="res", residual_scale=-1.0)
    with pytest.raises(ValueError, match="residual_scale"):
        DeepGCNLayer(GCNLayer(4, 4), block="res", residual_scale="skip")


def test_rezero_res_plus_model_starts_as_its_shallow_ends():
    """With every alpha at 0 the res+ blocks are identities: the model equals encoder -> first
    (bare) conv -> final norm + ReLU -> decoder, whatever its depth; ``'gcn'`` ends are GCN layers."""
    g, _, _ = _graph(num_nodes=15, num_edges=50)
    x = torch.randn(15, 5, dtype=torch.float64)
    torch.manual_seed(0)
    model = DeeperGCN(5, 6, 3, depth=5, norm="layer", residual_scale="rezero", encoder="gcn", decoder="gcn").double().eval()
    assert isinstance(model.encoder, GCNLayer) and isinstance(model.decoder, GCNLayer)
    h = model.layers[0].conv(g, model.encoder(g, x))
    expected = model.decoder(g, torch.relu(model.final_norm(h)))
    torch.testing.assert_close(model(g, x), expected, rtol=0, atol=0)
    with torch.no_grad():
        for layer in model.layers[1:]:
            layer.alpha.fill_(0.5)
    assert not torch.allclose(model(g, x), expected)


def test_encoder_norm_puts_the_residual_stream_at_unit_scale():
    """``encoder_norm=True``: the encoder's output goes through the model's norm before the first
    block (explicit composition), so tiny encoder outputs (row-normalised bag-of-words features)
    still start a unit-scale stream; off by default, and rejected when not a bool."""
    g, _, _ = _graph(num_nodes=15, num_edges=50)
    x = torch.rand(15, 40, dtype=torch.float64) * 1e-3  # encoder output far below unit scale
    torch.manual_seed(0)
    model = DeeperGCN(40, 6, 3, depth=4, norm="layer", residual_scale="rezero", encoder="gcn", decoder="gcn", encoder_norm=True).double().eval()
    assert isinstance(model.encoder_norm, torch.nn.LayerNorm)
    stream = model.encoder_norm(model.encoder(g, x))
    # LayerNorm rows: zero mean, unit variance up to its eps, whatever the encoder's scale.
    torch.testing.assert_close(stream.mean(1), torch.zeros(15, dtype=torch.float64), rtol=0, atol=1e-9)
    assert model.encoder(g, x).std() < 0.05 < stream.std()
    expected = model.decoder(g, torch.relu(model.final_norm(model.layers[0].conv(g, stream))))
    torch.testing.assert_close(model(g, x), expected, rtol=0, atol=0)
    assert DeeperGCN(40, 6, 3, depth=4, norm="layer").encoder_norm is None
    assert isinstance(ResGCN(40, 6, 3, depth=2, norm="none", encoder_norm=True).encoder_norm, torch.nn.Identity)
    with pytest.raises(ValueError, match="encoder_norm"):
        DeeperGCN(40, 6, 3, depth=4, norm="layer", encoder_norm="layer")


# ------------------------------------------------------------------------------------------------
# dilated k-NN


def _brute_force_knn(points: np.ndarray, clouds: np.ndarray, k: int, dilation: int, exclude_self: bool):
    edges = set()
    for i in range(points.shape[0]):
        same = np.flatnonzero(clouds == clouds[i])
        if exclude_self:
            same = same[same != i]
        dist = ((points[same] - points[i]) ** 2).sum(1)
        order = same[np.argsort(dist, kind="stable")]
        if not exclude_self:  # the point itself first, as the definition says
            order = np.concatenate([[i], order[order != i]])
        for j in order[: k * dilation : dilation][:k]:
            edges.add((int(j), i))
    return edges


@pytest.mark.parametrize("k,dilation,exclude_self", [(3, 1, False), (4, 2, False), (3, 3, True), (5, 2, True)])
def test_dilated_knn_matches_brute_force(k, dilation, exclude_self):
    gen = torch.Generator().manual_seed(3)
    sizes = [9, 20, 14]
    x = torch.randn(sum(sizes), 3, generator=gen, dtype=torch.float64)
    batch = torch.repeat_interleave(torch.arange(3), torch.tensor(sizes))
    src, dst = dilated_knn_edges(x, k, dilation, batch, exclude_self)
    got = set(zip(src.tolist(), dst.tolist()))
    assert len(got) == src.numel()  # no duplicates
    assert got == _brute_force_knn(x.numpy(), batch.numpy(), k, dilation, exclude_self)
    # Every point of the 20-point cloud has exactly k neighbours.
    degrees = torch.bincount(dst, minlength=x.shape[0])
    assert torch.all(degrees[9:29] == k)


def test_dilated_knn_agrees_with_core_knn_graph():
    x = torch.randn(30, 3, dtype=torch.float64)
    ours = set(zip(*[t.tolist() for t in dilated_knn_edges(x, 4, 2)]))
    g = gk.knn_graph(x, 4, dilation=2)
    theirs = set(zip(*[t.tolist() for t in g.edges()]))
    assert ours == theirs


def test_stochastic_dilation_picks_among_the_k_times_d_nearest():
    torch.manual_seed(0)
    x = torch.randn(25, 2, dtype=torch.float64)
    knn = DilatedKNNGraph(k=3, dilation=3, stochastic=True, epsilon=1.0).train()
    candidates = _brute_force_knn(x.numpy(), np.zeros(25), 9, 1, False)
    regular = set(zip(*[t.tolist() for t in dilated_knn_edges(x, 3, 3)]))
    g = knn(x)
    got = set(zip(*[t.tolist() for t in g.edges()]))
    assert got <= candidates and got != regular and g.num_edges() == 75
    assert set(zip(*[t.tolist() for t in knn.eval()(x).edges()])) == regular


def test_dynamic_point_gcn_rebuilds_graphs_from_features():
    torch.manual_seed(0)
    model = DynamicPointGCN(3, 16, 4, depth=3, k=6, max_dilation=2, conv="mr", embed=32)
    pos = torch.randn(60, 3)
    batch = torch.arange(3).repeat_interleave(20)
    out = model(pos, batch)
    assert out.shape == (3, 4)
    edges = [set(zip(*[t.tolist() for t in g.edges()])) for g in model.last_graphs]
    assert edges[0] == set(zip(*[t.tolist() for t in dilated_knn_edges(pos, 6, 1, batch)]))
    assert edges[1] != edges[0]  # rebuilt from the hidden features, dilation 1
    assert all(u // 20 == v // 20 for u, v in edges[2])  # never across clouds


# ------------------------------------------------------------------------------------------------
# reversible


def _run_twice(model, g, x, reversible):
    model.set_reversible(reversible)
    model.zero_grad()
    torch.manual_seed(1234)
    out = model(g, x)
    (out.pow(2).sum() + out.sum()).backward()
    grads = torch.cat([p.grad.flatten() for p in model.parameters()])
    return out.detach(), grads, [b.clone() for b in model.buffers()]


@pytest.mark.parametrize("model_cls,groups", [(RevGNN, 2), (RevGNN, 3), (WeightTiedRevGNN, 2)])
def test_reversible_gradients_equal_ordinary_autograd_with_dropout(model_cls, groups):
    g, _, _ = _graph(num_nodes=30, num_edges=120)
    x = torch.randn(30, 5, dtype=torch.float64)
    model = model_cls(5, 12, 3, num_layers=5, groups=groups, dropout=0.4, norm="batch").double()
    out_plain, grads_plain, buffers_plain = _run_twice(model, g, x, reversible=False)
    for layer in model.modules():  # the same running statistics before the second run
        if isinstance(layer, torch.nn.BatchNorm1d):
            layer.reset_running_stats()
    out_rev, grads_rev, buffers_rev = _run_twice(model, g, x, reversible=True)
    torch.testing.assert_close(out_rev, out_plain, rtol=0, atol=0)
    rel = ((grads_rev - grads_plain).norm() / grads_plain.norm()).item()
    assert rel < 1e-6, rel
    # Dropout really was active: another seed changes the output.
    torch.manual_seed(99)
    assert not torch.allclose(model(g, x), out_rev)


class _PassThroughBlock(torch.nn.Module):
    """f(x) = x + GCN(tanh(x)): the gradient of the identity part reaches x unchanged."""

    def __init__(self, channels):
        super().__init__()
        self.conv = GCNLayer(channels, channels)

    def forward(self, g, x):
        return x + self.conv(g, torch.tanh(x))


@pytest.mark.parametrize("groups", [2, 4])
def test_reversible_gradients_with_blocks_passing_gradients_through(groups):
    g, _, _ = _graph(num_nodes=25, num_edges=90)
    width = 3
    layers = torch.nn.ModuleList(
        [GroupRevRes([_PassThroughBlock(width) for _ in range(groups)]) for _ in range(3)]
        + [GroupRevRes([torch.nn.Identity() for _ in range(groups)])]
    ).double()

    class _Identity(torch.nn.Identity):
        def forward(self, g, x):  # the pure pass-through: autograd hands the gradient back as is
            return x.clone()

    for layer in layers[-1:]:
        layer.blocks = torch.nn.ModuleList([_Identity() for _ in range(groups)])
    x = torch.randn(25, width * groups, dtype=torch.float64)

    def run(reversible):
        for layer in layers:
            layer.reversible = reversible
            layer.zero_grad()
        inp = x.clone().requires_grad_(True)
        h = inp * 1.0
        for layer in layers:
            h = layer(g, h)
        (h.pow(2).sum()).backward()
        return inp.grad.clone(), torch.cat([p.grad.flatten() for p in layers.parameters()])

    grad_in_plain, grads_plain = run(False)
    grad_in_rev, grads_rev = run(True)
    torch.testing.assert_close(grad_in_rev, grad_in_plain, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(grads_rev, grads_plain, rtol=1e-10, atol=1e-12)


def test_batchnorm_running_stats_updated_once_per_step():
    g, _, _ = _graph(num_nodes=30, num_edges=120)
    x = torch.randn(30, 6, dtype=torch.float64)
    stats = []
    for reversible in (False, True):
        torch.manual_seed(0)
        model = RevGNN(6, 8, 2, num_layers=3, dropout=0.2).double()
        model.set_reversible(reversible)
        torch.manual_seed(5)
        model(g, x).sum().backward()
        stats.append(torch.cat([b.double().flatten() for b in model.buffers()]))
    torch.testing.assert_close(stats[0], stats[1], rtol=1e-12, atol=1e-12)


def _saved_bytes(model, g, x):
    total = [0]

    def pack(t):
        total[0] += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = model(g, x)
    return total[0], out


def test_reversible_memory_does_not_grow_with_depth():
    g, _, _ = _graph(num_nodes=200, num_edges=800)
    x = torch.randn(200, 8)
    saved = {}
    for depth in (2, 16):
        for reversible in (True, False):
            torch.manual_seed(0)
            model = RevGNN(8, 16, 3, num_layers=depth, dropout=0.1)
            model.set_reversible(reversible)
            saved[depth, reversible], out = _saved_bytes(model, g, x)
            out.sum().backward()
    assert saved[2, True] == saved[16, True]
    assert saved[16, False] > 4 * saved[2, False]


def test_intermediate_activations_are_freed_and_rebuilt():
    g, _, _ = _graph(num_nodes=20, num_edges=60)
    x = torch.randn(20, 8, dtype=torch.float64)
    layers = [GroupRevRes(PreActBlock(GCNLayer(4, 4), 4, norm="layer", dropout=0.3), groups=2).double() for _ in range(3)]
    h0 = x.clone()
    h1 = layers[0](g, h0)
    h2 = layers[1](g, h1)
    h3 = layers[2](g, h2)
    assert h1.untyped_storage().size() == 0 and h2.untyped_storage().size() == 0  # freed
    assert h0.untyped_storage().size() > 0 and h3.untyped_storage().size() > 0  # user tensors kept
    h3.sum().backward()
    assert h1.untyped_storage().size() == 0  # rebuilt for the backward pass, then released again


def test_group_rev_res_rejects_bad_input():
    with pytest.raises(ValueError, match="groups"):
        GroupRevRes(GCNLayer(4, 4), groups=1)
    layer = GroupRevRes(GCNLayer(2, 2), groups=2)
    g, _, _ = _graph()
    with pytest.raises(ValueError, match="divisible"):
        layer(g, torch.randn(g.num_nodes(), 5))


def test_weight_tied_parameters_do_not_grow_with_depth():
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(WeightTiedRevGNN(8, 16, 3, num_layers=2)) == count(WeightTiedRevGNN(8, 16, 3, num_layers=50))
    assert count(RevGNN(8, 16, 3, num_layers=50)) > 10 * count(RevGNN(8, 16, 3, num_layers=2))


# ------------------------------------------------------------------------------------------------
# solvers and DEQ


@pytest.mark.parametrize("solver", [anderson, broyden])
def test_solvers_find_the_fixed_point_of_a_contraction(solver):
    gen = torch.Generator().manual_seed(0)
    w = torch.randn(40, 40, generator=gen, dtype=torch.float64)
    w = 0.9 * w / torch.linalg.matrix_norm(w, 2)
    b = torch.randn(40, generator=gen, dtype=torch.float64)
    f = lambda z: torch.tanh(w @ z + b)  # noqa: E731
    z, info = solver(f, torch.zeros(40, dtype=torch.float64), max_iter=200, tol=1e-10)
    assert (f(z) - z).norm() < 1e-8
    # Faster than the plain iteration z <- f(z), which needs ~ log(1e-10)/log(0.9) ~ 200 steps.
    assert info["iterations"] < 100


@pytest.mark.parametrize("solver", ["anderson", "broyden"])
def test_deq_implicit_gradient_equals_unrolled_gradient(solver):
    g, _, _ = _graph(num_nodes=25, num_edges=60, symmetric=True)
    x = torch.randn(25, 6, dtype=torch.float64)
    model = DEQGNN(6, 8, 3, gamma=0.5, solver=solver, max_iter=100, tol=1e-12).double()
    model(g, x).pow(2).sum().backward()
    implicit = torch.cat([p.grad.flatten() for p in model.parameters()])
    assert model.last_forward_info["residual"] < 1e-10
    model.zero_grad()
    u, w = model.encoder(x), model.contractive_weight()
    z = torch.zeros_like(u)
    for _ in range(120):
        z = model.layer(g, z, u, w)
    model.decoder(z).pow(2).sum().backward()
    unrolled = torch.cat([p.grad.flatten() for p in model.parameters()])
    assert ((implicit - unrolled).norm() / unrolled.norm()).item() < 1e-8


def test_deq_memory_is_constant_in_solver_iterations():
    g, _, _ = _graph(num_nodes=50, num_edges=200, symmetric=True)
    x = torch.randn(50, 6)
    saved = {}
    for iterations in (5, 60):
        model = DEQGNN(6, 8, 3, max_iter=iterations, tol=0.0)
        saved[iterations], out = _saved_bytes(model, g, x)
        assert model.last_forward_info["iterations"] == iterations
        out.sum().backward()
        assert model.last_backward_info["iterations"] == iterations
    assert saved[5] == saved[60] > 0


def test_deq_rejects_non_contractive_gamma():
    with pytest.raises(ValueError, match="gamma"):
        DEQGNN(3, 4, 2, gamma=1.5)
    with pytest.raises(ValueError, match="solver"):
        DEQGNN(3, 4, 2, solver="newton")
