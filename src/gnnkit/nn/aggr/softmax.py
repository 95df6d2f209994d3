"""Softmax aggregation (DeeperGCN, Li et al. 2020, "DeeperGCN: All You Need to Train Deeper GCNs").

    out_v = sum_{e -> v} softmax_{e -> v}(beta * x_e) * x_e        (per feature channel)

``beta`` is the inverse temperature, one scalar or one per channel, learnable if ``learn``.
As beta -> 0 the weights become uniform and the result tends to the mean; as beta -> inf the
weight concentrates on the largest message and the result tends to the max (beta -> -inf: min).
The softmax subtracts each group's maximum, so large ``beta`` does not overflow.

``from_src`` (message = source feature, as in GENConv without edge features) never builds an
[E, F] tensor: softmax is invariant to a shift shared by a group, so with one shift per channel,
c = max_u beta * x_u, both sums are node-level sparse products,

    out_v = (A (w * x))_v / (A w)_v,        w = exp(beta * x - c) <= 1,

exact as long as no weight underflows: used when the spread of beta * x per channel stays within
``_SHARED_SHIFT_RANGE`` of the dtype, else the per-group path above runs.
"""

from __future__ import annotations

import torch
from torch import nn

from ... import ops
from .base import Aggregation

__all__ = ["SoftmaxAggregation"]

# exp(-r) stays a normal number for r below these (float32: exp(-87) ~ 1.6e-38).
_SHARED_SHIFT_RANGE = {torch.float32: 80.0, torch.float64: 700.0, torch.float16: 9.0, torch.bfloat16: 80.0}


class SoftmaxAggregation(Aggregation):
    def __init__(self, beta: float = 1.0, learn: bool = False, channels: int = 1):
        super().__init__()
        if not isinstance(channels, int) or channels < 1:
            raise ValueError(f"SoftmaxAggregation: channels must be a positive int, got {channels!r}")
        if learn is False and channels != 1:
            raise ValueError(f"SoftmaxAggregation: channels={channels} needs learn=True (a fixed beta is one scalar)")
        self.initial_beta = float(beta)
        self.learn = bool(learn)
        self.channels = channels
        value = torch.full((channels,), self.initial_beta)
        if self.learn:
            self.beta = nn.Parameter(value)
        else:
            self.register_buffer("beta", value)

    def reset_parameters(self) -> None:
        with torch.no_grad():
            self.beta.fill_(self.initial_beta)

    def aggregate(self, x, index, num_nodes):
        # x: [E, F]; beta: [1] or [F]
        if self.channels != 1 and (x.dim() < 2 or x.shape[-1] != self.channels):
            raise ValueError(f"SoftmaxAggregation: messages have shape {tuple(x.shape)} but channels={self.channels}")
        beta = self.beta.to(x.dtype)
        weights = ops.softmax_by_index(x * beta, index, num_nodes)
        return x.new_zeros(num_nodes, *x.shape[1:]).index_add(0, index, weights * x)

    def from_src(self, g, x_src: torch.Tensor) -> torch.Tensor:
        # x_src: [num_src, F] -> [num_dst, F]
        adj = g.sparse
        if not isinstance(x_src, torch.Tensor) or x_src.dim() != 2 or x_src.shape[0] != adj.num_src or not x_src.is_floating_point():
            return super().from_src(g, x_src)  # validation and unusual shapes: the per-group path
        if self.channels != 1 and x_src.shape[-1] != self.channels:
            raise ValueError(f"SoftmaxAggregation: messages have shape {tuple(x_src.shape)} but channels={self.channels}")
        if x_src.shape[0] == 0:
            return super().from_src(g, x_src)
        scores = x_src * self.beta.to(x_src.dtype)  # [num_src, F]
        with torch.no_grad():
            top, bottom = scores.amax(0), scores.amin(0)  # [F]
            limit = _SHARED_SHIFT_RANGE.get(x_src.dtype, 80.0)
            one_shift_fits = bool(((top - bottom) <= limit).all())
        if not one_shift_fits:
            return super().from_src(g, x_src)
        weights = torch.exp(scores - top)  # [num_src, F], in (0, 1]
        numerator = ops.gspmm(adj, "copy_u", "sum", ufeat=weights * x_src)  # [num_dst, F]
        denominator = ops.gspmm(adj, "copy_u", "sum", ufeat=weights)
        # Nodes with no in-edges have 0 / 0: they get 0, like the per-group path.
        return numerator / torch.where(denominator > 0, denominator, torch.ones_like(denominator))

    def extra_repr(self) -> str:
        return f"beta={self.initial_beta}, learn={self.learn}, channels={self.channels}"
