"""Softmax over groups of rows: the incoming edges of each node, or sorted segments.

``edge_softmax(adj, scores)``: for every edge ``e = (u, v)``,

    a[e] = exp(s[e] - max_{e' -> v} s[e']) / sum_{e' -> v} exp(s[e'] - max_{e' -> v} s[e'])

(``norm_by='src'`` normalises over each source's outgoing edges instead). Each column (head)
is normalised on its own. Subtracting the group maximum makes it stable for large scores.
Only the output is saved for backward: ``ds = a * (g - sum_{group} a * g)``.
"""

from __future__ import annotations

import torch

from .sparse import SparseAdj

__all__ = ["edge_softmax", "segment_softmax", "softmax_by_index"]


def edge_softmax(adj: SparseAdj, scores: torch.Tensor, norm_by: str = "dst") -> torch.Tensor:
    """Normalises edge scores over the incoming (``'dst'``) or outgoing (``'src'``) edges.

    Shapes: ``scores`` [E, *H]; returns [E, *H].
    """
    if norm_by not in ("dst", "src"):
        raise ValueError(f"edge_softmax: norm_by must be 'dst' or 'src', got {norm_by!r}")
    if not isinstance(scores, torch.Tensor) or scores.dim() == 0 or scores.shape[0] != adj.num_edges:
        shape = tuple(scores.shape) if isinstance(scores, torch.Tensor) else type(scores).__name__
        raise ValueError(f"edge_softmax: scores has shape {shape}; its first dimension must be the number of edges ({adj.num_edges})")
    index, groups = (adj.dst, adj.num_dst) if norm_by == "dst" else (adj.src, adj.num_src)
    return softmax_by_index(scores, index, groups)


def segment_softmax(seglen: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
    """Softmax within consecutive segments of ``scores`` whose lengths are ``seglen``.

    Shapes: ``seglen`` [S]; ``scores`` [sum(seglen), *H]; returns the same shape as ``scores``.
    """
    seglen = torch.as_tensor(seglen, device=scores.device)
    if int(seglen.sum()) != scores.shape[0]:
        raise ValueError(f"segment_softmax: seglen sums to {int(seglen.sum())} but scores has {scores.shape[0]} rows")
    index = torch.repeat_interleave(torch.arange(seglen.numel(), device=scores.device), seglen)
    return softmax_by_index(scores, index, seglen.numel())


def softmax_by_index(scores: torch.Tensor, index: torch.Tensor, num_groups: int) -> torch.Tensor:
    """Softmax of ``scores`` rows grouped by ``index`` (any order). Shapes: [E, *H], [E] -> [E, *H]."""
    if not scores.is_floating_point():
        raise TypeError(f"softmax: scores must be floating point, got {scores.dtype}")
    return _GroupSoftmax.apply(scores, index, num_groups)


class _GroupSoftmax(torch.autograd.Function):
    @staticmethod
    def forward(ctx, scores, index, num_groups):
        flat = scores.reshape(scores.shape[0], -1)
        expanded = index.view(-1, 1).expand_as(flat)
        group_max = flat.new_full((num_groups, flat.shape[1]), float("-inf"))
        group_max.scatter_reduce_(0, expanded, flat, "amax", include_self=True)
        out = torch.sub(flat, group_max.index_select(0, index))
        out.exp_()
        denom = flat.new_zeros(num_groups, flat.shape[1]).index_add_(0, index, out)
        out.div_(denom.index_select(0, index))
        ctx.save_for_backward(out, index)
        ctx.num_groups = num_groups
        return out.view_as(scores)

    @staticmethod
    def backward(ctx, grad):
        out, index = ctx.saved_tensors
        g = grad.reshape(out.shape)
        weighted = out * g
        group_sum = out.new_zeros(ctx.num_groups, out.shape[1]).index_add_(0, index, weighted)
        grad_scores = weighted.sub_(out * group_sum.index_select(0, index))
        return grad_scores.view_as(grad), None, None
