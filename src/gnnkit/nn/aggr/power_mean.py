"""Power-mean aggregation (DeeperGCN, Li et al. 2020).

    out_v = ( (1/d_v) sum_{e -> v} x_e^p )^(1/p)                    (per feature, x_e > 0)

p = 1 is the mean; p -> inf tends to the max (p -> 0: geometric mean). Messages are clamped to
``[eps, inf)`` first, since x^p is undefined for negative x (DeeperGCN's messages are
ReLU(...) + eps). Computed in log space, ``exp((logsumexp(p log x) - log d_v) / p)``, so large
``p`` neither overflows nor underflows. ``p`` is learnable if ``learn`` (kept >= ``min_p``).
"""

from __future__ import annotations

import torch
from torch import nn

from .base import Aggregation, broadcast_rows, group_counts

__all__ = ["PowerMeanAggregation"]


def scatter_logsumexp(z: torch.Tensor, index: torch.Tensor, num_nodes: int) -> torch.Tensor:
    """log sum_{e in group} exp(z_e), stable. Shapes: [E, *F], [E] -> [N, *F] (0 for empty groups)."""
    expanded = index.view(-1, *([1] * (z.dim() - 1))).expand_as(z)
    group_max = z.new_full((num_nodes, *z.shape[1:]), float("-inf"))
    group_max = group_max.scatter_reduce(0, expanded, z.detach(), "amax", include_self=True)
    safe_max = torch.where(torch.isfinite(group_max), group_max, torch.zeros((), dtype=z.dtype))
    shifted = (z - safe_max.index_select(0, index)).exp()
    total = z.new_zeros(num_nodes, *z.shape[1:]).index_add(0, index, shifted)
    # Empty groups: log(1) instead of log(0) keeps NaN out of the backward pass; callers mask them.
    total = torch.where(total > 0, total, torch.ones((), dtype=total.dtype))
    return total.log() + safe_max


class PowerMeanAggregation(Aggregation):
    def __init__(self, p: float = 1.0, learn: bool = False, channels: int = 1, eps: float = 1e-7, min_p: float = 1e-3):
        super().__init__()
        if not p > 0:
            raise ValueError(f"PowerMeanAggregation: p must be > 0, got {p}")
        if not isinstance(channels, int) or channels < 1:
            raise ValueError(f"PowerMeanAggregation: channels must be a positive int, got {channels!r}")
        self.initial_p = float(p)
        self.learn = bool(learn)
        self.channels = channels
        self.eps = float(eps)
        self.min_p = float(min_p)
        value = torch.full((channels,), self.initial_p)
        if self.learn:
            self.p = nn.Parameter(value)
        else:
            self.register_buffer("p", value)

    def reset_parameters(self) -> None:
        with torch.no_grad():
            self.p.fill_(self.initial_p)

    def aggregate(self, x, index, num_nodes):
        # x: [E, F]; p: [1] or [F]
        p = self.p.to(x.dtype).clamp(min=self.min_p)
        log_x = x.clamp(min=self.eps).log()
        lse = scatter_logsumexp(p * log_x, index, num_nodes)
        counts = group_counts(index, num_nodes, x.dtype)
        log_count = broadcast_rows(counts.clamp(min=1).log(), lse)
        out = ((lse - log_count) / p).exp()
        has_messages = broadcast_rows(counts > 0, out)
        return torch.where(has_messages, out, torch.zeros((), dtype=out.dtype))

    def extra_repr(self) -> str:
        return f"p={self.initial_p}, learn={self.learn}, channels={self.channels}"

