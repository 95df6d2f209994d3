"""Kernels against dense references and gradcheck, on random multigraphs with self-loops and
isolated nodes."""

import itertools

import pytest
import torch

from gnnkit import ops
from gnnkit.ops import SparseAdj

DT = torch.float64


def random_adj(num_src=9, num_dst=7, num_edges=30, seed=0, sorted_dst=False):
    gen = torch.Generator().manual_seed(seed)
    # Leave the last source and the last destination isolated; add self-loops and multi-edges.
    src = torch.randint(0, num_src - 1, (num_edges,), generator=gen)
    dst = torch.randint(0, num_dst - 1, (num_edges,), generator=gen)
    loops = torch.arange(min(3, num_dst - 1))
    src = torch.cat([src, loops, src[:4]])
    dst = torch.cat([dst, loops, dst[:4]])
    if sorted_dst:
        order = torch.argsort(dst, stable=True)
        src, dst = src[order], dst[order]
    return SparseAdj(src, dst, num_src, num_dst)


def dense_messages(adj, message, ufeat, efeat):
    src = adj.src
    if message == "copy_u":
        return ufeat[src]
    if message == "copy_e":
        return efeat
    u = ufeat[src]
    e = efeat if efeat.dim() == u.dim() or efeat.dim() > 1 else efeat.view(-1, *([1] * (u.dim() - 1)))
    return {"u_add_e": u + e, "u_sub_e": u - e, "u_mul_e": u * e, "u_div_e": u / e}[message]


def dense_reduce(adj, msg, reduce):
    out_shape = (adj.num_dst, *msg.shape[1:])
    rows = []
    for v in range(adj.num_dst):
        sel = msg[adj.dst == v]
        if sel.shape[0] == 0:
            rows.append(torch.zeros(out_shape[1:], dtype=msg.dtype))
        elif reduce == "sum":
            rows.append(sel.sum(0))
        elif reduce == "mean":
            rows.append(sel.mean(0))
        elif reduce == "max":
            rows.append(sel.max(0).values)
        else:
            rows.append(sel.min(0).values)
    return torch.stack(rows)


SHAPES = [
    # (ufeat feature shape, efeat feature shape)
    ((5,), (1,)),
    ((5,), ()),
    ((3, 4), (3, 1)),
    ((3, 4), (1, 4)),
    ((4,), (4,)),
    ((1,), (6,)),
]


@pytest.mark.parametrize("message", ["copy_u", "copy_e", "u_add_e", "u_sub_e", "u_mul_e", "u_div_e"])
@pytest.mark.parametrize("reduce", ["sum", "mean", "max", "min"])
@pytest.mark.parametrize("shapes", SHAPES)
@pytest.mark.parametrize("sorted_dst", [False, True])
def test_gspmm_matches_dense(message, reduce, shapes, sorted_dst):
    adj = random_adj(sorted_dst=sorted_dst)
    fu, fe = shapes
    ufeat = torch.randn(adj.num_src, *fu, dtype=DT)
    efeat = torch.rand(adj.num_edges, *fe, dtype=DT) + 0.5
    got = ops.gspmm(adj, message, reduce, ufeat, efeat)
    want = dense_reduce(adj, dense_messages(adj, message, ufeat, efeat), reduce)
    assert got.shape == want.shape
    torch.testing.assert_close(got, want)


@pytest.mark.parametrize("message", ["copy_u", "copy_e", "u_add_e", "u_sub_e", "u_mul_e", "u_div_e"])
@pytest.mark.parametrize("reduce", ["sum", "mean", "max", "min"])
@pytest.mark.parametrize("shapes", [((5,), (1,)), ((3, 4), (3, 1)), ((4,), (4,))])
def test_gspmm_gradcheck(message, reduce, shapes):
    adj = random_adj(num_src=6, num_dst=5, num_edges=14, seed=1)
    fu, fe = shapes
    ufeat = torch.randn(adj.num_src, *fu, dtype=DT, requires_grad=True)
    # Distinct magnitudes keep max/min away from ties, where the derivative is undefined.
    efeat = (torch.rand(adj.num_edges, *fe, dtype=DT) + 0.5).requires_grad_()
    inputs = {"copy_u": (ufeat,), "copy_e": (efeat,)}.get(message, (ufeat, efeat))

    def f(*args):
        u = args[0] if message != "copy_e" else None
        e = args[-1] if message != "copy_u" else None
        return ops.gspmm(adj, message, reduce, u, e)

    assert torch.autograd.gradcheck(f, inputs)


@pytest.mark.parametrize("stacked", [True, False])
def test_gspmm_per_head_weights_both_paths(stacked, monkeypatch):
    # [E, H, 1] attention times [N, H, F] features: one block-diagonal product for all heads, or
    # (past HEAD_STACK_LIMIT) one product per head; both against the dense reference.
    from gnnkit.ops import spmm

    if not stacked:
        monkeypatch.setattr(spmm, "HEAD_STACK_LIMIT", 0)
    adj = random_adj(num_src=7, num_dst=5, num_edges=16, seed=4)
    x = torch.randn(adj.num_src, 3, 2, dtype=DT, requires_grad=True)
    w = (torch.rand(adj.num_edges, 3, 1, dtype=DT) + 0.5).requires_grad_()
    want = dense_reduce(adj, dense_messages(adj, "u_mul_e", x, w), "sum")
    torch.testing.assert_close(ops.gspmm(adj, "u_mul_e", "sum", x, w), want)
    assert torch.autograd.gradcheck(lambda a, b: ops.gspmm(adj, "u_mul_e", "sum", a, b), (x, w))


def test_gspmm_max_splits_gradient_among_ties():
    # Destination 0 receives the same maximum from nodes 0 and 1; destination 1 receives node 2's
    # message twice over a multi-edge: each tie gets an equal share of the output's gradient.
    adj = SparseAdj(torch.tensor([0, 1, 2, 2, 3]), torch.tensor([0, 0, 1, 1, 1]), 4, 2)
    x = torch.tensor([[1.0], [1.0], [5.0], [-2.0]], requires_grad=True)
    out = ops.gspmm(adj, "copy_u", "max", x)
    out.backward(torch.tensor([[2.0], [3.0]]))
    assert out.detach().view(-1).tolist() == [1.0, 5.0]
    assert x.grad.view(-1).tolist() == [1.0, 1.0, 3.0, 0.0]
    w = torch.tensor([2.0, 1.0, 1.0, 1.0, 1.0], requires_grad=True)
    ops.gspmm(adj, "u_mul_e", "min", x, w).sum().backward()
    assert w.grad.tolist() == [0.0, 1.0, 0.0, 0.0, -2.0]  # the minima 1 * 1 and -2 * 1


def test_gspmm_max_arg_indices():
    adj = SparseAdj(torch.tensor([0, 1, 2, 1]), torch.tensor([0, 0, 1, 1]), 3, 3)
    x = torch.tensor([[1.0, 5.0], [3.0, 2.0], [0.0, 9.0]])
    out, arg_src, arg_eid = ops.gspmm_with_arg(adj, "copy_u", "max", x)
    torch.testing.assert_close(out, torch.tensor([[3.0, 5.0], [3.0, 9.0], [0.0, 0.0]]))
    assert arg_src.tolist() == [[1, 0], [1, 2], [-1, -1]]
    assert arg_eid.tolist() == [[1, 0], [3, 2], [-1, -1]]


def test_gspmm_no_edges_and_bad_input():
    adj = SparseAdj(torch.empty(0, dtype=torch.int64), torch.empty(0, dtype=torch.int64), 4, 3)
    x = torch.randn(4, 2)
    for reduce in ["sum", "mean", "max", "min"]:
        assert ops.gspmm(adj, "copy_u", reduce, x).abs().sum() == 0
    with pytest.raises(ValueError, match="first dimension must be the num_src"):
        ops.gspmm(adj, "copy_u", "sum", torch.randn(5, 2))
    with pytest.raises(ValueError, match="message must be one of"):
        ops.gspmm(adj, "u_pow_e", "sum", x)
    with pytest.raises(ValueError, match="reduce must be one of"):
        ops.gspmm(adj, "copy_u", "prod", x)


def test_gspmm_large_chunks_match_dense(monkeypatch):
    # Force many chunks so chunk boundaries (rows split across chunks is forbidden) are exercised.
    from gnnkit.ops import _util

    monkeypatch.setattr(_util, "CHUNK_ELEMENTS", 16)
    adj = random_adj(num_src=40, num_dst=30, num_edges=300, seed=3)
    x = torch.randn(40, 3, dtype=DT)
    for reduce in ["max", "min"]:
        torch.testing.assert_close(ops.gspmm(adj, "copy_u", reduce, x), dense_reduce(adj, x[adj.src], reduce))


def test_gspmm_float32_and_transposed_cache():
    adj = random_adj()
    x = torch.randn(adj.num_src, 8, requires_grad=True)
    out = ops.gspmm(adj, "copy_u", "sum", x)
    out.sum().backward()
    # d sum(A x) / dx = out-degree of each source.
    torch.testing.assert_close(x.grad, adj.out_degrees().float().view(-1, 1).expand(-1, 8))
    assert (True, torch.float32) in adj._mats  # the transposed CSR was cached, not rebuilt per call


SDDMM_TARGETS = [t for t in itertools.product("uve", repeat=2)]


def gather_target(adj, feat, target):
    return {"u": lambda: feat[adj.src], "v": lambda: feat[adj.dst], "e": lambda: feat}[target]()


@pytest.mark.parametrize("op", ["add", "sub", "mul", "div", "dot", "copy_lhs", "copy_rhs"])
@pytest.mark.parametrize("targets", SDDMM_TARGETS)
@pytest.mark.parametrize("shapes", [((4,), (4,)), ((2, 3), (2, 3)), ((2, 3), (1, 3))])
def test_gsddmm_matches_dense_and_gradcheck(op, targets, shapes):
    adj = random_adj(num_src=6, num_dst=5, num_edges=12, seed=2)
    lt, rt = targets
    rows = {"u": adj.num_src, "v": adj.num_dst, "e": adj.num_edges}
    lhs = torch.randn(rows[lt], *shapes[0], dtype=DT, requires_grad=True)
    rhs = (torch.rand(rows[rt], *shapes[1], dtype=DT) + 0.5).requires_grad_()
    a, b = gather_target(adj, lhs, lt), gather_target(adj, rhs, rt)
    want = {
        "add": lambda: a + b,
        "sub": lambda: a - b,
        "mul": lambda: a * b,
        "div": lambda: a / b,
        "dot": lambda: (a * b).sum(-1, keepdim=True),
        "copy_lhs": lambda: a,
        "copy_rhs": lambda: b,
    }[op]()
    got = ops.gsddmm(adj, op, lhs, rhs, lt, rt)
    torch.testing.assert_close(got, want)
    inputs = (lhs, rhs) if op not in ("copy_lhs", "copy_rhs") else ((lhs,) if op == "copy_lhs" else (rhs,))

    def f(*args):
        left = args[0] if op != "copy_rhs" else None
        right = args[-1] if op != "copy_lhs" else None
        return ops.gsddmm(adj, op, left, right, lt, rt)

    assert torch.autograd.gradcheck(f, inputs)


def test_gsddmm_bad_input():
    adj = random_adj()
    with pytest.raises(ValueError, match="number of destination nodes"):
        ops.gsddmm(adj, "add", torch.randn(adj.num_src, 2), torch.randn(adj.num_dst + 1, 2), "u", "v")
    with pytest.raises(ValueError, match="op must be one of"):
        ops.gsddmm(adj, "pow", torch.randn(adj.num_src, 2), torch.randn(adj.num_dst, 2))


@pytest.mark.parametrize("norm_by", ["dst", "src"])
@pytest.mark.parametrize("shape", [(), (3,), (2, 1)])
def test_edge_softmax_matches_dense_and_gradcheck(norm_by, shape):
    adj = random_adj(num_src=6, num_dst=6, num_edges=15, seed=4)
    scores = (torch.randn(adj.num_edges, *shape, dtype=DT) * 30).requires_grad_()
    got = ops.edge_softmax(adj, scores, norm_by)
    group = adj.dst if norm_by == "dst" else adj.src
    want = torch.empty_like(scores)
    for v in torch.unique(group):
        sel = group == v
        want[sel] = torch.softmax(scores[sel], 0)
    torch.testing.assert_close(got, want)
    assert torch.isfinite(ops.edge_softmax(adj, scores.detach() * 1e4, norm_by)).all()
    assert torch.autograd.gradcheck(lambda s: ops.edge_softmax(adj, s, norm_by), (scores.detach().div(30).requires_grad_(),))


@pytest.mark.parametrize("reduce", ["sum", "mean", "max", "min"])
def test_segment_reduce_and_gradcheck(reduce):
    seglen = torch.tensor([2, 0, 3, 1])
    value = torch.randn(6, 3, dtype=DT, requires_grad=True)
    got = ops.segment_reduce(seglen, value, reduce)
    parts = torch.split(value, seglen.tolist())
    fn = {"sum": lambda p: p.sum(0), "mean": lambda p: p.mean(0), "max": lambda p: p.max(0).values, "min": lambda p: p.min(0).values}[reduce]
    want = torch.stack([fn(p) if p.shape[0] else torch.zeros(3, dtype=DT) for p in parts])
    torch.testing.assert_close(got, want)
    assert torch.autograd.gradcheck(lambda v: ops.segment_reduce(seglen, v, reduce), (value,))


def test_segment_softmax():
    seglen = torch.tensor([3, 1, 2])
    scores = torch.randn(6, 2, dtype=DT, requires_grad=True)
    got = ops.segment_softmax(seglen, scores)
    want = torch.cat([torch.softmax(p, 0) for p in torch.split(scores, [3, 1, 2])])
    torch.testing.assert_close(got, want)
    assert torch.autograd.gradcheck(lambda s: ops.segment_softmax(seglen, s), (scores,))


def test_gather_mm_and_segment_mm():
    a = torch.randn(7, 3, dtype=DT, requires_grad=True)
    b = torch.randn(4, 3, 2, dtype=DT, requires_grad=True)
    idx = torch.tensor([3, 0, 0, 2, 3, 1, 0])
    want = torch.stack([a[i] @ b[idx[i]] for i in range(7)])
    torch.testing.assert_close(ops.gather_mm(a, b, idx), want)
    assert torch.autograd.gradcheck(lambda x, y: ops.gather_mm(x, y, idx), (a, b))
    seglen = torch.tensor([2, 0, 4, 1])
    got = ops.segment_mm(a, b, seglen)
    want = torch.cat([a[:2] @ b[0], a[2:6] @ b[2], a[6:] @ b[3]])
    torch.testing.assert_close(got, want)
    assert torch.autograd.gradcheck(lambda x, y: ops.segment_mm(x, y, seglen), (a, b))
    with pytest.raises(ValueError, match="idx_b values must lie"):
        ops.gather_mm(a, b, torch.full((7,), 4))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU")
@pytest.mark.parametrize("message, reduce", [("copy_u", "sum"), ("u_mul_e", "sum"), ("u_mul_e", "mean"), ("copy_u", "max"), ("u_add_e", "min")])
def test_cuda_kernels_match_cpu(message, reduce):
    adj = random_adj(num_src=50, num_dst=40, num_edges=400, seed=5)
    x = torch.randn(50, 3, 4, dtype=DT, requires_grad=True)
    w = (torch.rand(adj.num_edges, 3, 1, dtype=DT) + 0.5).requires_grad_()
    cpu = ops.gspmm(adj, message, reduce, x, w)
    gpu = ops.gspmm(adj.to("cuda"), message, reduce, x.cuda(), w.cuda())
    torch.testing.assert_close(gpu.cpu(), cpu)
    grads_cpu = torch.autograd.grad(cpu.sum(), (x, w), allow_unused=True)
    grads_gpu = torch.autograd.grad(gpu.sum(), (x, w), allow_unused=True)
    for a, b in zip(grads_cpu, grads_gpu):
        if a is not None:
            torch.testing.assert_close(b.cpu(), a)
    adj_gpu = adj.to("cuda")
    scores = torch.randn(adj.num_edges, 2, dtype=DT)
    torch.testing.assert_close(ops.edge_softmax(adj_gpu, scores.cuda()).cpu(), ops.edge_softmax(adj, scores))
    torch.testing.assert_close(
        ops.gsddmm(adj_gpu, "dot", x.detach().cuda(), torch.randn(40, 3, 4, dtype=DT).cuda(), "u", "v").shape, (adj.num_edges, 3, 1)
    )
