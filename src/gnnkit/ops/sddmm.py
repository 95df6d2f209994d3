"""Generalised sampled dense-dense matrix multiplication (SDDMM): one value per edge.

``gsddmm(adj, op, lhs, rhs, lhs_target, rhs_target)`` computes, for every edge ``e = (u, v)``,

    out[e] = op(lhs[t_l(e)], rhs[t_r(e)])

where a target ``'u'`` reads the source row, ``'v'`` the destination row and ``'e'`` the edge
row, and ``op`` is one of add, sub, mul, div, dot, copy_lhs, copy_rhs. Feature shapes broadcast;
``dot`` contracts the last dimension and keeps it as size 1 (``[E, ..., 1]``), as DGL does.

The output is written chunk by chunk into one preallocated ``[E, ...]`` tensor, so the gathered
operands never exist at full size. ``u_dot_v`` backpropagates with two weighted CSR products
(no per-edge tensor at all); add/mul backpropagate with chunked scatters.
"""

from __future__ import annotations

import torch

from ._util import broadcast_feature_shape, edge_chunks, reduce_to_shape, spmm_into
from .sparse import SparseAdj
from .spmm import edge_dot

__all__ = ["gsddmm", "SDDMM_OPS"]

SDDMM_OPS = ("add", "sub", "mul", "div", "dot", "copy_lhs", "copy_rhs")
_TARGETS = ("u", "v", "e")


def gsddmm(
    adj: SparseAdj,
    op: str,
    lhs: torch.Tensor | None,
    rhs: torch.Tensor | None,
    lhs_target: str = "u",
    rhs_target: str = "v",
) -> torch.Tensor:
    """Computes one value per edge from source, destination and edge features.

    Shapes: ``lhs`` [N_{lhs_target}, *Fl]; ``rhs`` [N_{rhs_target}, *Fr];
    returns [E, *broadcast(Fl, Fr)] (dot: last dimension 1).
    """
    if op not in SDDMM_OPS:
        raise ValueError(f"gsddmm: op must be one of {SDDMM_OPS}, got {op!r}")
    for name, target in (("lhs_target", lhs_target), ("rhs_target", rhs_target)):
        if target not in _TARGETS:
            raise ValueError(f"gsddmm: {name} must be one of {_TARGETS}, got {target!r}")
    if op != "copy_rhs":
        _check_rows(adj, "lhs", lhs, lhs_target)
    if op != "copy_lhs":
        _check_rows(adj, "rhs", rhs, rhs_target)
    if op == "copy_lhs":
        return _gather(adj, lhs, lhs_target)
    if op == "copy_rhs":
        return _gather(adj, rhs, rhs_target)
    if lhs.dtype != rhs.dtype:
        raise TypeError(f"gsddmm: lhs is {lhs.dtype} but rhs is {rhs.dtype}; they must match")
    lhs, rhs = _align_ranks(lhs, rhs)
    if op == "dot":
        if lhs.shape[-1] != rhs.shape[-1]:
            raise ValueError(f"gsddmm: dot needs equal last dimensions, got {tuple(lhs.shape)} and {tuple(rhs.shape)}")
        if {lhs_target, rhs_target} == {"u", "v"}:
            return _dot_uv(adj, lhs, rhs, lhs_target)
        return (_gather(adj, lhs, lhs_target) * _gather(adj, rhs, rhs_target)).sum(-1, keepdim=True)
    # Subtraction and division are rewritten on the (usually node-sized) right operand.
    if op == "sub":
        op, rhs = "add", -rhs
    elif op == "div":
        op, rhs = "mul", rhs.reciprocal()
    return _EdgeBinary.apply(adj, op, lhs, rhs, lhs_target, rhs_target)


def _check_rows(adj: SparseAdj, name: str, tensor, target: str) -> None:
    expected = {"u": adj.num_src, "v": adj.num_dst, "e": adj.num_edges}[target]
    what = {"u": "number of source nodes", "v": "number of destination nodes", "e": "number of edges"}[target]
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"gsddmm: {name} must be a tensor, got {type(tensor).__name__}")
    if tensor.dim() == 0 or tensor.shape[0] != expected:
        raise ValueError(
            f"gsddmm: {name} (target {target!r}) has shape {tuple(tensor.shape)}; "
            f"its first dimension must be the {what} ({expected})"
        )


def _align_ranks(lhs: torch.Tensor, rhs: torch.Tensor):
    # A per-row scalar ([N]) combines with [N, F] rows as a column, like DGL's edge weights.
    if lhs.dim() == 1 and rhs.dim() > 1:
        lhs = lhs.view(-1, *([1] * (rhs.dim() - 1)))
    elif rhs.dim() == 1 and lhs.dim() > 1:
        rhs = rhs.view(-1, *([1] * (lhs.dim() - 1)))
    return lhs, rhs


def _index(adj: SparseAdj, target: str):
    return {"u": adj.src, "v": adj.dst, "e": None}[target]


def _gather(adj: SparseAdj, feat: torch.Tensor, target: str) -> torch.Tensor:
    index = _index(adj, target)
    return feat if index is None else feat.index_select(0, index)


def _dot_uv(adj: SparseAdj, lhs: torch.Tensor, rhs: torch.Tensor, lhs_target: str) -> torch.Tensor:
    xs, xd = (lhs, rhs) if lhs_target == "u" else (rhs, lhs)
    lead = broadcast_feature_shape(xs[..., :1], xd[..., :1])[:-1]
    width = xs.shape[-1]
    xs_b = xs.expand(xs.shape[0], *lead, width).reshape(xs.shape[0], -1, width)
    xd_b = xd.expand(xd.shape[0], *lead, width).reshape(xd.shape[0], -1, width)
    heads = xs_b.shape[1]
    outs = [_DotUV.apply(adj, xs_b[:, h].contiguous(), xd_b[:, h].contiguous()) for h in range(heads)]
    out = torch.stack(outs, 1) if heads > 1 else outs[0].unsqueeze(1)
    return out.view(adj.num_edges, *lead, 1)


class _DotUV(torch.autograd.Function):
    # xs: [num_src, D], xd: [num_dst, D] -> out: [E]
    @staticmethod
    def forward(ctx, adj: SparseAdj, xs: torch.Tensor, xd: torch.Tensor):
        ctx.adj = adj
        ctx.save_for_backward(xs, xd)
        return edge_dot(adj.src, adj.dst, xs, xd)

    @staticmethod
    def backward(ctx, grad):
        adj = ctx.adj
        xs, xd = ctx.saved_tensors
        grad_xs = grad_xd = None
        # d out[e] / d xs[u] = xd[v]: summing over u's out-edges is a product with the
        # transposed pattern weighted by the incoming gradient, and symmetrically for xd.
        if ctx.needs_input_grad[1]:
            grad_xs = spmm_into(adj.weighted_matrix(grad, True), xd.contiguous())
        if ctx.needs_input_grad[2]:
            grad_xd = spmm_into(adj.weighted_matrix(grad, False), xs.contiguous())
        return None, grad_xs, grad_xd


class _EdgeBinary(torch.autograd.Function):
    # lhs: [N_l, *Fl], rhs: [N_r, *Fr] -> out: [E, *broadcast(Fl, Fr)] for op in {add, mul}
    @staticmethod
    def forward(ctx, adj: SparseAdj, op: str, lhs, rhs, lhs_target: str, rhs_target: str):
        feat_shape = broadcast_feature_shape(lhs, rhs)
        out = lhs.new_empty(adj.num_edges, *feat_shape)
        li, ri = _index(adj, lhs_target), _index(adj, rhs_target)
        combine = torch.add if op == "add" else torch.mul
        width = max(1, out[0].numel()) if adj.num_edges else 1
        for start, end in edge_chunks(adj.num_edges, width):
            a = lhs[start:end] if li is None else lhs.index_select(0, li[start:end])
            b = rhs[start:end] if ri is None else rhs.index_select(0, ri[start:end])
            combine(a, b, out=out[start:end])
        ctx.adj, ctx.op, ctx.targets = adj, op, (lhs_target, rhs_target)
        ctx.save_for_backward(lhs, rhs)
        return out

    @staticmethod
    def backward(ctx, grad):
        adj, op = ctx.adj, ctx.op
        lhs, rhs = ctx.saved_tensors
        grads = []
        for k, (mine, other, target, other_target) in enumerate(
            ((lhs, rhs, *ctx.targets), (rhs, lhs, *reversed(ctx.targets)))
        ):
            if not ctx.needs_input_grad[2 + k]:
                grads.append(None)
                continue
            grads.append(_scatter_grad(adj, grad, mine, other if op == "mul" else None, target, other_target))
        return None, None, grads[0], grads[1], None, None


def _scatter_grad(adj, grad, mine, other, target, other_target):
    """Sums ``grad`` (times ``other`` gathered per edge, for mul) into ``mine``'s rows and shape."""
    index, other_index = _index(adj, target), _index(adj, other_target)
    result = torch.zeros(mine.shape, dtype=grad.dtype, device=grad.device)
    width = max(1, grad[0].numel()) if grad.shape[0] else 1
    for start, end in edge_chunks(adj.num_edges, width):
        part = grad[start:end]
        if other is not None:
            part = part * (other[start:end] if other_index is None else other.index_select(0, other_index[start:end]))
        part = reduce_to_shape(part, torch.Size((end - start, *mine.shape[1:])))
        if index is None:
            result[start:end] = part
        else:
            result.index_add_(0, index[start:end], part)
    return result
