"""Softmax aggregation (DeeperGCN, Li et al. 2020, "DeeperGCN: All You Need to Train Deeper GCNs").

    out_v = sum_{e -> v} softmax_{e -> v}(beta * x_e) * x_e        (per feature channel)

``beta`` is the inverse temperature, one scalar or one per channel, learnable if ``learn``.
As beta -> 0 the weights become uniform and the result tends to the mean; as beta -> inf the
weight concentrates on the largest message and the result tends to the max (beta -> -inf: min).
The softmax subtracts each group's maximum, so large ``beta`` does not overflow.
"""

from __future__ import annotations

import torch
from torch import nn

from ... import ops
from .base import Aggregation

__all__ = ["SoftmaxAggregation"]


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

    def extra_repr(self) -> str:
        return f"beta={self.initial_beta}, learn={self.learn}, channels={self.channels}"
