"""Generalised sparse-dense matrix multiplication (SpMM): per-edge messages reduced into destinations.

``gspmm(adj, message, reduce, ufeat, efeat)`` computes, for every destination ``v``,

    out[v] = reduce_{e = (u, v)} message(ufeat[u], efeat[e])

with ``message`` in {copy_u, copy_e, u_add_e, u_sub_e, u_mul_e, u_div_e} and ``reduce`` in
{sum, mean, max, min}. Features broadcast like DGL's: the feature shapes (all dimensions but
the first) of ``ufeat`` and ``efeat`` broadcast to the output feature shape, so ``[E, H, 1]``
edge weights scale ``[N, H, F]`` node features head by head.

How it runs (no ``[E, F]`` message tensor for the fused pairs):

* copy_u with sum/mean: one CSR product ``A @ X``; the backward pass multiplies by the cached
  transposed CSR instead of transposing inside autograd.
* u_mul_e / u_div_e with one scalar per edge: a weighted CSR product. With one scalar per edge
  and head (attention), one product with a block-diagonal pattern of H copies serves all heads
  (features go head-major). The gradient of the weights is an edge-wise dot product computed
  in cache-sized chunks.
* u_add_e / u_sub_e with sum/mean: linear, so ``A @ X`` plus the summed edge features.
* max/min: messages built chunk by chunk in destination order and reduced; the backward pass
  rebuilds them chunk by chunk and splits each output's gradient evenly among the messages that
  equal it (ties). ``gspmm_with_arg`` also returns the arg source node and arg edge.

Destinations with no incoming edge get 0 for every reducer.
"""

from __future__ import annotations

import math

import torch

from ._util import CHUNK_ELEMENTS, broadcast_feature_shape, chunk_bounds, reduce_to_shape, spmm_into
from .sparse import SparseAdj

__all__ = ["gspmm", "MESSAGE_OPS", "REDUCE_OPS"]

MESSAGE_OPS = ("copy_u", "copy_e", "u_add_e", "u_sub_e", "u_mul_e", "u_div_e")
REDUCE_OPS = ("sum", "mean", "max", "min")

_SPARSE_DTYPES = (torch.float32, torch.float64)


def gspmm(
    adj: SparseAdj,
    message: str,
    reduce: str,
    ufeat: torch.Tensor | None = None,
    efeat: torch.Tensor | None = None,
) -> torch.Tensor:
    """Reduces per-edge messages into destination nodes.

    Shapes: ``ufeat`` [num_src, *Fu]; ``efeat`` [E, *Fe]; returns [num_dst, *broadcast(Fu, Fe)].
    """
    if message not in MESSAGE_OPS:
        raise ValueError(f"gspmm: message must be one of {MESSAGE_OPS}, got {message!r}")
    if reduce not in REDUCE_OPS:
        raise ValueError(f"gspmm: reduce must be one of {REDUCE_OPS}, got {reduce!r}")
    uses_u, uses_e = message != "copy_e", message != "copy_u"
    if uses_u:
        _check_rows("ufeat", ufeat, adj.num_src, "num_src")
    if uses_e:
        _check_rows("efeat", efeat, adj.num_edges, "number of edges")
    if uses_u and uses_e:
        efeat = _align_edge_rank(ufeat, efeat)
        if ufeat.dtype != efeat.dtype:
            raise TypeError(f"gspmm: ufeat is {ufeat.dtype} but efeat is {efeat.dtype}; they must match")
    # Division and subtraction are rewritten on the small operand so the fused paths apply.
    if message == "u_div_e":
        message, efeat = "u_mul_e", efeat.reciprocal()
    elif message == "u_sub_e":
        message, efeat = "u_add_e", -efeat

    if reduce in ("sum", "mean"):
        out = _sum(adj, message, ufeat if uses_u else None, efeat if uses_e else None)
        if reduce == "mean":
            inv_deg = adj.in_degrees().clamp(min=1).to(out.dtype).reciprocal()
            out = out * inv_deg.view(-1, *([1] * (out.dim() - 1)))
        return out
    return _MaxMin.apply(adj, message, reduce, ufeat if uses_u else None, efeat if uses_e else None)


def _check_rows(name: str, tensor, expected: int, what: str) -> None:
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"gspmm: {name} must be a tensor, got {type(tensor).__name__}")
    if tensor.dim() == 0 or tensor.shape[0] != expected:
        raise ValueError(f"gspmm: {name} has shape {tuple(tensor.shape)}; its first dimension must be the {what} ({expected})")
    if not tensor.is_floating_point():
        raise TypeError(f"gspmm: {name} must be floating point, got {tensor.dtype}")


def _align_edge_rank(ufeat: torch.Tensor, efeat: torch.Tensor) -> torch.Tensor:
    # [E] edge weights with [N, F] node features mean one scalar per edge, as in DGL.
    if efeat.dim() == 1 and ufeat.dim() > 1:
        return efeat.view(-1, *([1] * (ufeat.dim() - 1)))
    return efeat


# ----------------------------------------------------------------------------------------------
# sum (and mean, which rescales it)


def _sum(adj: SparseAdj, message: str, ufeat, efeat) -> torch.Tensor:
    if message == "copy_u":
        return _copy_u_sum(adj, ufeat)
    if message == "copy_e":
        return _CopyESum.apply(adj, efeat)
    if message == "u_add_e":
        return _copy_u_sum(adj, ufeat) + _CopyESum.apply(adj, efeat)
    # u_mul_e
    fu, fe = ufeat.shape[1:], efeat.shape[1:]
    if math.prod(fe) == 1:
        out = _UMulESum.apply(adj, ufeat.reshape(ufeat.shape[0], -1), efeat.reshape(-1))
        return out.view(adj.num_dst, *broadcast_feature_shape(ufeat, efeat))
    num_heads = _per_head_count(fu, fe)
    if num_heads is not None:
        x = ufeat.reshape(ufeat.shape[0], num_heads, -1)
        w = efeat.reshape(efeat.shape[0], num_heads)
        out = _UMulESumHeads.apply(adj, x, w)
        return out.view(adj.num_dst, *broadcast_feature_shape(ufeat, efeat))
    # Per-feature edge weights: the message must be built; do it with autograd, in one pass.
    msg = ufeat.index_select(0, adj.src) * efeat
    return _CopyESum.apply(adj, msg)


def _per_head_count(fu: torch.Size, fe: torch.Size) -> int | None:
    """H when ``[H, ...]`` node features are scaled by ``[H, 1, ...]`` edge weights (one per head)."""
    if len(fe) == 0 or len(fu) != len(fe) or fe[0] != fu[0] or math.prod(fe[1:]) != 1:
        return None
    return fu[0]


def _copy_u_sum(adj: SparseAdj, ufeat: torch.Tensor) -> torch.Tensor:
    flat = ufeat.reshape(ufeat.shape[0], -1)
    return _CopyUSum.apply(adj, flat).view(adj.num_dst, *ufeat.shape[1:])


def _matmul_dtype(dtype: torch.dtype) -> torch.dtype:
    return dtype if dtype in _SPARSE_DTYPES else torch.float32


class _CopyUSum(torch.autograd.Function):
    # x: [num_src, D] -> out: [num_dst, D]
    @staticmethod
    def forward(ctx, adj: SparseAdj, x: torch.Tensor):
        ctx.adj = adj
        compute = _matmul_dtype(x.dtype)
        out = spmm_into(adj.ones_matrix(False, compute), x.to(compute).contiguous())
        return out.to(x.dtype)

    @staticmethod
    def backward(ctx, grad):
        adj = ctx.adj
        compute = _matmul_dtype(grad.dtype)
        grad_x = spmm_into(adj.ones_matrix(True, compute), grad.to(compute).contiguous())
        return None, grad_x.to(grad.dtype)


class _UMulESum(torch.autograd.Function):
    # x: [num_src, D], w: [E] -> out: [num_dst, D]
    @staticmethod
    def forward(ctx, adj: SparseAdj, x: torch.Tensor, w: torch.Tensor):
        ctx.adj = adj
        ctx.save_for_backward(x, w)
        compute = _matmul_dtype(x.dtype)
        out = spmm_into(adj.weighted_matrix(w.to(compute), False), x.to(compute).contiguous())
        return out.to(x.dtype)

    @staticmethod
    def backward(ctx, grad):
        adj = ctx.adj
        x, w = ctx.saved_tensors
        grad = grad.contiguous()
        grad_x = grad_w = None
        if ctx.needs_input_grad[1]:
            compute = _matmul_dtype(grad.dtype)
            grad_x = spmm_into(adj.weighted_matrix(w.to(compute), True), grad.to(compute)).to(x.dtype)
        if ctx.needs_input_grad[2]:
            grad_w = edge_dot(adj.src, adj.dst, x, grad)
        return None, grad_x, grad_w


# Above this many (edge, head) pairs the stacked pattern (int64 per pair) costs more memory than
# looping over heads with the shared one-head pattern.
HEAD_STACK_LIMIT = 1 << 24


class _UMulESumHeads(torch.autograd.Function):
    # x: [num_src, H, F], w: [E, H] -> out: [num_dst, H, F]
    @staticmethod
    def forward(ctx, adj: SparseAdj, x: torch.Tensor, w: torch.Tensor):
        ctx.adj = adj
        ctx.save_for_backward(x, w)
        return _per_head_spmm(adj, x, w, transpose=False)

    @staticmethod
    def backward(ctx, grad):
        adj = ctx.adj
        x, w = ctx.saved_tensors
        grad = grad.contiguous()
        grad_x = _per_head_spmm(adj, grad, w, transpose=True) if ctx.needs_input_grad[1] else None
        grad_w = edge_dot(adj.src, adj.dst, x, grad) if ctx.needs_input_grad[2] else None
        return None, grad_x, grad_w


def _per_head_spmm(adj: SparseAdj, x: torch.Tensor, w: torch.Tensor, transpose: bool) -> torch.Tensor:
    """``out[:, h] = A_h @ x[:, h]`` where ``A_h`` carries the weights ``w[:, h]`` (``A_h^T``
    with ``transpose``). Shapes: x [cols, H, F]; w [E, H] in edge-id order; returns [rows, H, F]."""
    view = adj.out_csr() if transpose else adj.in_csr()
    num_heads, width = x.shape[1], x.shape[2]
    compute = _matmul_dtype(x.dtype)
    w = w.to(compute)
    if num_heads * adj.num_edges > HEAD_STACK_LIMIT:
        outs = [spmm_into(adj.weighted_matrix(w[:, h].contiguous(), transpose), x[:, h].to(compute).contiguous())
                for h in range(num_heads)]
        return torch.stack(outs, 1).to(x.dtype)
    # All heads in one product with the block-diagonal pattern; features go head-major.
    indptr, indices = adj.head_stacked_pattern(num_heads, transpose)
    values = view.permute(w).t().reshape(-1)
    matrix = torch.sparse_csr_tensor(
        indptr, indices, values, size=(num_heads * view.num_rows, num_heads * view.num_cols), check_invariants=False
    )
    x_head_major = x.to(compute).transpose(0, 1).reshape(num_heads * view.num_cols, width)
    out = spmm_into(matrix, x_head_major).view(num_heads, view.num_rows, width)
    return out.transpose(0, 1).contiguous().to(x.dtype)


def edge_dot(src_index: torch.Tensor, dst_index: torch.Tensor, xs: torch.Tensor, xd: torch.Tensor) -> torch.Tensor:
    """``out[e, ...] = <xs[src_index[e], ..., :], xd[dst_index[e], ..., :]>`` (a dot product over
    the last dimension) in chunks, never holding two [E, ...] gathers.

    Shapes: src_index, dst_index [E]; xs [Ns, *H, D]; xd [Nd, *H, D]; returns [E, *H].
    """
    num_edges, lead, width = src_index.numel(), xs.shape[1:-1], xs.shape[-1]
    row = math.prod(xs.shape[1:])
    xs, xd = xs.reshape(xs.shape[0], row), xd.reshape(xd.shape[0], row)
    out = torch.empty(num_edges, *lead, dtype=xs.dtype, device=xs.device)
    # Chunks of a few MB: small enough to stay in cache between the gather and the product and
    # to reuse two buffers, large enough that per-op overhead stays negligible.
    step = max(1, min(num_edges, CHUNK_ELEMENTS // max(1, row)))
    left = xs.new_empty(step, row)
    right = xd.new_empty(step, row)
    for start in range(0, num_edges, step):
        end = min(num_edges, start + step)
        n = end - start
        a = torch.index_select(xs, 0, src_index[start:end], out=left[:n])
        b = torch.index_select(xd, 0, dst_index[start:end], out=right[:n])
        torch.sum(a.mul_(b).view(n, *lead, width), -1, out=out[start:end])
    return out


class _CopyESum(torch.autograd.Function):
    # e: [E, *F] -> out: [num_dst, *F]
    @staticmethod
    def forward(ctx, adj: SparseAdj, e: torch.Tensor):
        ctx.adj = adj
        out = torch.zeros(adj.num_dst, *e.shape[1:], dtype=e.dtype, device=e.device)
        return out.index_add_(0, adj.dst, e)

    @staticmethod
    def backward(ctx, grad):
        return None, grad.index_select(0, ctx.adj.dst)


# ----------------------------------------------------------------------------------------------
# max / min. gspmm keeps no arg indices: the backward pass finds the maximising messages again
# chunk by chunk (message == output) and splits the gradient evenly among ties, which costs less
# than tracking first-arg positions in the forward pass and saves two [num_dst, D] int64 tensors.
# gspmm_with_arg computes the arg source node and arg edge explicitly, for callers that want them.


def _max_min_values(adj: SparseAdj, message: str, reduce: str, ufeat, efeat, feat_shape) -> torch.Tensor:
    """[num_dst, D] max/min of the messages into each destination (0 where there are none)."""
    view = adj.in_csr()
    width = max(1, math.prod(feat_shape))
    ref = ufeat if ufeat is not None else efeat
    # Zeros where no message arrives: with include_self=False the reduction ignores the initial
    # value of every row that receives at least one message.
    out = torch.zeros(adj.num_dst, width, dtype=ref.dtype, device=ref.device)
    torch_reduce = "amax" if reduce == "max" else "amin"
    for row_start, row_end, nz_start, nz_end in chunk_bounds(view.indptr, width):
        if nz_end == nz_start:
            continue
        msg = _chunk_messages(view, message, ufeat, efeat, feat_shape, nz_start, nz_end)
        local_rows = (view.rows[nz_start:nz_end] - row_start).view(-1, 1).expand(-1, width)
        out[row_start:row_end].scatter_reduce_(0, local_rows, msg, torch_reduce, include_self=False)
    return out


def _chunk_messages(view, message, ufeat, efeat, feat_shape, nz_start: int, nz_end: int) -> torch.Tensor:
    """[nz_end - nz_start, D] messages of the non-zeros ``nz_start:nz_end`` of ``view``."""
    eids = _chunk_eids(view, nz_start, nz_end) if efeat is not None else None
    msg = _build_messages(message, ufeat, efeat, view.indices[nz_start:nz_end], eids, feat_shape)
    return msg.reshape(nz_end - nz_start, -1)


class _MaxMin(torch.autograd.Function):
    # ufeat: [num_src, *Fu] or None; efeat: [E, *Fe] or None -> out: [num_dst, D]
    @staticmethod
    def forward(ctx, adj: SparseAdj, message: str, reduce: str, ufeat, efeat):
        feat_shape = broadcast_feature_shape(ufeat, efeat)
        out = _max_min_values(adj, message, reduce, ufeat, efeat, feat_shape)
        ctx.adj, ctx.message, ctx.feat_shape = adj, message, feat_shape
        ctx.save_for_backward(ufeat, efeat, out)
        return out.view(adj.num_dst, *feat_shape)

    @staticmethod
    def backward(ctx, grad):
        ufeat, efeat, out = ctx.saved_tensors
        adj, message, feat_shape = ctx.adj, ctx.message, ctx.feat_shape
        view = adj.in_csr()
        width = out.shape[1]
        grad = grad.reshape(-1, width)
        want_u = ufeat is not None and ctx.needs_input_grad[3]
        want_e = efeat is not None and ctx.needs_input_grad[4]
        grad_u = torch.zeros(ufeat.shape[0], width, dtype=grad.dtype, device=grad.device) if want_u else None
        grad_e = torch.zeros(adj.num_edges, width, dtype=grad.dtype, device=grad.device) if want_e else None
        for row_start, row_end, nz_start, nz_end in chunk_bounds(view.indptr, width):
            if nz_end == nz_start:
                continue
            local_rows = view.rows[nz_start:nz_end] - row_start
            msg = _chunk_messages(view, message, ufeat, efeat, feat_shape, nz_start, nz_end)
            hit = (msg == out[row_start:row_end].index_select(0, local_rows)).to(grad.dtype)
            ties = torch.zeros(row_end - row_start, width, dtype=grad.dtype, device=grad.device)
            ties.index_add_(0, local_rows, hit)
            share = grad[row_start:row_end] / ties.clamp_(min=1)
            grad_msg = hit.mul_(share.index_select(0, local_rows))
            src = view.indices[nz_start:nz_end]
            eids = _chunk_eids(view, nz_start, nz_end)
            if message == "u_mul_e":
                if want_u:
                    grad_u.index_add_(0, src, grad_msg * _gather_rows_broadcast(efeat, eids, feat_shape))
                if want_e:
                    grad_e.index_add_(0, eids, grad_msg * _gather_rows_broadcast(ufeat, src, feat_shape))
                continue
            if want_u:
                grad_u.index_add_(0, src, grad_msg)
            if want_e:
                grad_e.index_add_(0, eids, grad_msg)
        if want_u:
            grad_u = reduce_to_shape(grad_u.view(ufeat.shape[0], *feat_shape), ufeat.shape)
        if want_e:
            grad_e = reduce_to_shape(grad_e.view(efeat.shape[0], *feat_shape), efeat.shape)
        return None, None, None, grad_u, grad_e


def _gather_rows_broadcast(feat: torch.Tensor, index: torch.Tensor, feat_shape) -> torch.Tensor:
    """Rows ``index`` of ``feat`` broadcast to [len(index), D]."""
    rows = feat.index_select(0, index)
    return rows.expand(-1, *feat_shape).reshape(index.numel(), -1)


class _ArgReduce(torch.autograd.Function):
    @staticmethod
    def forward(ctx, adj: SparseAdj, message: str, reduce: str, ufeat, efeat):
        view = adj.in_csr()
        feat_shape = broadcast_feature_shape(ufeat, efeat)
        out = _max_min_values(adj, message, reduce, ufeat, efeat, feat_shape)
        width = out.shape[1]
        arg_pos = torch.full((adj.num_dst, width), -1, dtype=torch.int64, device=out.device)
        never = torch.iinfo(torch.int64).max
        for row_start, row_end, nz_start, nz_end in chunk_bounds(view.indptr, width):
            if nz_end == nz_start:
                continue
            local_rows = view.rows[nz_start:nz_end] - row_start
            msg = _chunk_messages(view, message, ufeat, efeat, feat_shape, nz_start, nz_end)
            hit = msg == out[row_start:row_end].index_select(0, local_rows)
            positions = torch.arange(nz_start, nz_end, device=msg.device).view(-1, 1).expand(-1, width)
            candidates = torch.where(hit, positions, never)
            first = torch.full((row_end - row_start, width), never, dtype=torch.int64, device=msg.device)
            first.scatter_reduce_(0, local_rows.view(-1, 1).expand(-1, width), candidates, "amin", include_self=True)
            arg_pos[row_start:row_end] = torch.where(first == never, -1, first)
        if view.indices.numel():
            valid = arg_pos >= 0
            safe_pos = arg_pos.clamp(min=0)
            flat_pos = safe_pos.view(-1)
            arg_src = torch.where(valid, view.indices.index_select(0, flat_pos).view_as(safe_pos), -1)
            arg_eid = torch.where(valid, view.edge_ids(flat_pos).view_as(safe_pos), -1)
        else:
            arg_src, arg_eid = arg_pos, arg_pos.clone()
        ctx.adj, ctx.message, ctx.feat_shape = adj, message, feat_shape
        ctx.save_for_backward(ufeat, efeat, arg_src, arg_eid)
        ctx.mark_non_differentiable(arg_src, arg_eid)
        ctx.set_materialize_grads(False)
        return out.view(adj.num_dst, *feat_shape), arg_src, arg_eid

    @staticmethod
    def backward(ctx, grad, _grad_src=None, _grad_eid=None):
        ufeat, efeat, arg_src, arg_eid = ctx.saved_tensors
        if grad is None:
            return None, None, None, None, None
        width = arg_src.shape[1]
        grad = grad.reshape(-1, width)
        valid = arg_src >= 0
        grad = torch.where(valid, grad, torch.zeros((), dtype=grad.dtype))
        src_idx, eid_idx = arg_src.clamp(min=0), arg_eid.clamp(min=0)
        grad_u = grad_e = None
        if ctx.message == "u_mul_e":
            u_at = _gather_broadcast(ufeat, src_idx, ctx.feat_shape) if ctx.needs_input_grad[4] else None
            e_at = _gather_broadcast(efeat, eid_idx, ctx.feat_shape) if ctx.needs_input_grad[3] else None
        if ufeat is not None and ctx.needs_input_grad[3]:
            contrib = grad * e_at if ctx.message == "u_mul_e" else grad
            full = torch.zeros(ufeat.shape[0], width, dtype=grad.dtype, device=grad.device)
            full.scatter_add_(0, src_idx, contrib)
            grad_u = reduce_to_shape(full.view(ufeat.shape[0], *ctx.feat_shape), ufeat.shape)
        if efeat is not None and ctx.needs_input_grad[4]:
            contrib = grad * u_at if ctx.message == "u_mul_e" else grad
            full = torch.zeros(efeat.shape[0], width, dtype=grad.dtype, device=grad.device)
            full.scatter_add_(0, eid_idx, contrib)
            grad_e = reduce_to_shape(full.view(efeat.shape[0], *ctx.feat_shape), efeat.shape)
        return None, None, None, grad_u, grad_e


def _chunk_eids(view, start: int, end: int) -> torch.Tensor:
    if view.perm is None:
        return torch.arange(start, end, device=view.indices.device)
    return view.perm[start:end]


def _build_messages(message, ufeat, efeat, src, eids, feat_shape):
    if message == "copy_u":
        return ufeat.index_select(0, src)
    if message == "copy_e":
        return efeat.index_select(0, eids)
    u = ufeat.index_select(0, src)
    e = efeat.index_select(0, eids)
    msg = u + e if message == "u_add_e" else u * e
    return msg.expand(-1, *feat_shape) if msg.shape[1:] != feat_shape else msg


def _gather_broadcast(feat: torch.Tensor, index: torch.Tensor, feat_shape) -> torch.Tensor:
    """``feat`` broadcast to [rows, *feat_shape], flattened, gathered element-wise at ``index``."""
    rows = feat.shape[0]
    full = feat.expand(rows, *feat_shape).reshape(rows, -1)
    return full.gather(0, index)


def gspmm_with_arg(adj: SparseAdj, message: str, reduce: str, ufeat=None, efeat=None):
    """max/min SpMM that also returns the arg source node and arg edge id per output element.

    Returns ``(out [num_dst, *F], arg_src [num_dst, D], arg_eid [num_dst, D])`` with -1 where a
    destination has no incoming edge (D is the flattened feature size).
    """
    if reduce not in ("max", "min"):
        raise ValueError(f"gspmm_with_arg: reduce must be 'max' or 'min', got {reduce!r}")
    if message == "u_div_e":
        message, efeat = "u_mul_e", efeat.reciprocal()
    elif message == "u_sub_e":
        message, efeat = "u_add_e", -efeat
    return _ArgReduce.apply(adj, message, reduce, ufeat, efeat)

