"""Reductions over consecutive segments of rows, and per-segment matrix products.

* ``segment_reduce(seglen, value, reduce)``: out[s] = reduce(value[offset_s : offset_s + seglen[s]]).
  Empty segments give 0 for every reducer.
* ``segment_mm(a, b, seglen_a)``: rows of ``a`` split into R segments, segment r times ``b[r]``.
* ``gather_mm(a, b, idx_b)``: out[i] = a[i] @ b[idx_b[i]] (rows in any order), the per-relation
  product of R-GCN, done by grouping rows by relation and calling ``segment_mm``.
"""

from __future__ import annotations

import torch

__all__ = ["segment_reduce", "segment_mm", "gather_mm"]

_REDUCERS = ("sum", "mean", "max", "min")


def segment_reduce(seglen: torch.Tensor, value: torch.Tensor, reduce: str = "sum") -> torch.Tensor:
    """Reduces consecutive segments. Shapes: ``seglen`` [S]; ``value`` [sum(seglen), *F]; returns [S, *F]."""
    if reduce not in _REDUCERS:
        raise ValueError(f"segment_reduce: reduce must be one of {_REDUCERS}, got {reduce!r}")
    seglen = torch.as_tensor(seglen, dtype=torch.int64, device=value.device)
    if seglen.dim() != 1 or bool((seglen < 0).any()):
        raise ValueError(f"segment_reduce: seglen must be a 1-D tensor of non-negative lengths, got {seglen.tolist()[:8]}")
    if int(seglen.sum()) != value.shape[0]:
        raise ValueError(f"segment_reduce: seglen sums to {int(seglen.sum())} but value has {value.shape[0]} rows")
    segment_ids = torch.repeat_interleave(torch.arange(seglen.numel(), device=value.device), seglen)
    if reduce in ("sum", "mean"):
        out = value.new_zeros(seglen.numel(), *value.shape[1:]).index_add(0, segment_ids, value)
        if reduce == "mean":
            out = out / seglen.clamp(min=1).to(value.dtype).view(-1, *([1] * (value.dim() - 1)))
        return out
    index = segment_ids.view(-1, *([1] * (value.dim() - 1))).expand_as(value)
    fill = float("-inf") if reduce == "max" else float("inf")
    out = value.new_full((seglen.numel(), *value.shape[1:]), fill)
    out = out.scatter_reduce(0, index, value, "amax" if reduce == "max" else "amin", include_self=False)
    empty = (seglen == 0).view(-1, *([1] * (value.dim() - 1)))
    return torch.where(empty, torch.zeros((), dtype=value.dtype, device=value.device), out)


def segment_mm(a: torch.Tensor, b: torch.Tensor, seglen_a: torch.Tensor) -> torch.Tensor:
    """Per-segment matmul. Shapes: ``a`` [N, D1]; ``b`` [R, D1, D2]; ``seglen_a`` [R]; returns [N, D2]."""
    if a.dim() != 2 or b.dim() != 3:
        raise ValueError(f"segment_mm: a must be [N, D1] and b [R, D1, D2], got {tuple(a.shape)} and {tuple(b.shape)}")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"segment_mm: a has {a.shape[1]} columns but b has {b.shape[1]} rows per matrix")
    lengths = torch.as_tensor(seglen_a, dtype=torch.int64).tolist()
    if len(lengths) != b.shape[0] or sum(lengths) != a.shape[0]:
        raise ValueError(
            f"segment_mm: seglen_a must have one length per matrix of b ({b.shape[0]}) summing to a's rows "
            f"({a.shape[0]}), got {len(lengths)} lengths summing to {sum(lengths)}"
        )
    parts = torch.split(a, lengths)
    return torch.cat([part @ b[r] for r, part in enumerate(parts)], 0) if parts else a.new_empty(0, b.shape[2])


def gather_mm(a: torch.Tensor, b: torch.Tensor, idx_b: torch.Tensor) -> torch.Tensor:
    """Row-wise matmul with a chosen matrix. Shapes: ``a`` [N, D1]; ``b`` [R, D1, D2]; ``idx_b`` [N]; returns [N, D2]."""
    idx_b = torch.as_tensor(idx_b, device=a.device)
    if idx_b.shape != (a.shape[0],):
        raise ValueError(f"gather_mm: idx_b must have shape ({a.shape[0]},), got {tuple(idx_b.shape)}")
    if idx_b.numel() and (int(idx_b.min()) < 0 or int(idx_b.max()) >= b.shape[0]):
        raise ValueError(f"gather_mm: idx_b values must lie in [0, {b.shape[0]}), got [{int(idx_b.min())}, {int(idx_b.max())}]")
    order = torch.argsort(idx_b, stable=True)
    counts = torch.bincount(idx_b, minlength=b.shape[0])
    sorted_out = segment_mm(a.index_select(0, order), b, counts)
    inverse = torch.empty_like(order)
    inverse[order] = torch.arange(order.numel(), device=order.device)
    return sorted_out.index_select(0, inverse)
