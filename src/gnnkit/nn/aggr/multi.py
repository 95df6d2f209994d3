"""Several aggregations of the same messages, combined (PNA-style multi-aggregation).

    out_v = COMBINE( AGG_1(N(v)), ..., AGG_k(N(v)) )

``mode``: ``'cat'`` concatenates along the last dimension ([N, k*F]), ``'sum'`` / ``'mean'``
add / average them ([N, F]), ``'proj'`` concatenates then applies ``Linear(k*F, out_channels)``.
"""

from __future__ import annotations

import torch
from torch import nn

from .base import Aggregation

__all__ = ["MultiAggregation"]

_MODES = ("cat", "sum", "mean", "proj")


class MultiAggregation(Aggregation):
    def __init__(self, aggrs, mode: str = "cat", in_channels: int | None = None, out_channels: int | None = None):
        super().__init__()
        from .resolve import resolve_aggregation

        if not isinstance(aggrs, (list, tuple)) or len(aggrs) == 0:
            raise ValueError(f"MultiAggregation: aggrs must be a non-empty list of aggregations or names, got {aggrs!r}")
        if mode not in _MODES:
            raise ValueError(f"MultiAggregation: mode must be one of {_MODES}, got {mode!r}")
        self.aggrs = nn.ModuleList([resolve_aggregation(a) for a in aggrs])
        self.mode = mode
        self.proj = None
        if mode == "proj":
            if in_channels is None or out_channels is None:
                raise ValueError("MultiAggregation: mode='proj' needs in_channels and out_channels")
            self.proj = nn.Linear(len(self.aggrs) * in_channels, out_channels)

    def reset_parameters(self) -> None:
        for aggr in self.aggrs:
            aggr.reset_parameters()
        if self.proj is not None:
            self.proj.reset_parameters()

    def aggregate(self, x, index, num_nodes):
        outs = [aggr.aggregate(x, index, num_nodes) for aggr in self.aggrs]
        return self._combine(outs)

    def from_src(self, g, x_src):
        # Each member takes its own (possibly fused) path.
        return self._combine([aggr.from_src(g, x_src) for aggr in self.aggrs])

    def on_graph(self, g, messages):
        return self._combine([aggr.on_graph(g, messages) for aggr in self.aggrs])

    def _combine(self, outs: list[torch.Tensor]) -> torch.Tensor:
        if self.mode == "sum":
            return torch.stack(outs, 0).sum(0)
        if self.mode == "mean":
            return torch.stack(outs, 0).mean(0)
        out = torch.cat(outs, -1)
        return self.proj(out) if self.proj is not None else out

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}"
