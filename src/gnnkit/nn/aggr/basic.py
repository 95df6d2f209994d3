"""The fixed aggregations: sum, mean, max, min, variance and standard deviation.

For the messages ``x_e`` arriving at node ``v`` (``N(v)``, degree ``d_v``):

    sum:  sum_e x_e                 mean: (1/d_v) sum_e x_e
    max:  max_e x_e                 min:  min_e x_e
    var:  (1/d_v) sum_e (x_e - mean_v)^2
    std:  sqrt(var_v + eps)         (eps keeps the gradient finite where var is 0)

All are per feature, and give 0 at nodes without messages (std gives 0 there too).
Sum, mean, max and min are ``builtin``: on a graph they run as fused ``gspmm`` kernels.
"""

from __future__ import annotations

import torch

from ... import ops
from .base import Aggregation, broadcast_rows, group_counts

__all__ = [
    "SumAggregation",
    "MeanAggregation",
    "MaxAggregation",
    "MinAggregation",
    "VarAggregation",
    "StdAggregation",
]


def _scatter_sum(x: torch.Tensor, index: torch.Tensor, num_nodes: int) -> torch.Tensor:
    # x: [E, *F], index: [E] -> [N, *F]
    return x.new_zeros(num_nodes, *x.shape[1:]).index_add(0, index, x)


def _scatter_mean(x: torch.Tensor, index: torch.Tensor, num_nodes: int) -> torch.Tensor:
    total = _scatter_sum(x, index, num_nodes)
    counts = group_counts(index, num_nodes, x.dtype).clamp(min=1)
    return total / broadcast_rows(counts, total)


def _scatter_extreme(x: torch.Tensor, index: torch.Tensor, num_nodes: int, reduce: str) -> torch.Tensor:
    # Sorting by group turns the scatter into the segment kernel (its gradient goes to one arg
    # message per output element, like the fused gspmm kernel's).
    order = torch.argsort(index, stable=True)
    seglen = torch.bincount(index, minlength=num_nodes)
    return ops.segment_reduce(seglen, x.index_select(0, order), reduce)


class SumAggregation(Aggregation):
    """``out_v = sum_{e -> v} x_e``."""

    builtin = "sum"

    def aggregate(self, x, index, num_nodes):
        return _scatter_sum(x, index, num_nodes)


class MeanAggregation(Aggregation):
    """``out_v = (1/d_v) sum_{e -> v} x_e``."""

    builtin = "mean"

    def aggregate(self, x, index, num_nodes):
        return _scatter_mean(x, index, num_nodes)


class MaxAggregation(Aggregation):
    """``out_v = max_{e -> v} x_e`` per feature."""

    builtin = "max"

    def aggregate(self, x, index, num_nodes):
        return _scatter_extreme(x, index, num_nodes, "max")


class MinAggregation(Aggregation):
    """``out_v = min_{e -> v} x_e`` per feature."""

    builtin = "min"

    def aggregate(self, x, index, num_nodes):
        return _scatter_extreme(x, index, num_nodes, "min")


class VarAggregation(Aggregation):
    """``out_v = (1/d_v) sum_{e -> v} (x_e - mean_v)^2`` (population variance, two-pass for accuracy)."""

    def aggregate(self, x, index, num_nodes):
        mean = _scatter_mean(x, index, num_nodes)
        centred = x - mean.index_select(0, index)
        return _scatter_mean(centred * centred, index, num_nodes)


class StdAggregation(Aggregation):
    """``out_v = sqrt(var_v + eps)``; 0 where a node has no messages."""

    def __init__(self, eps: float = 1e-5):
        super().__init__()
        if not eps >= 0:
            raise ValueError(f"StdAggregation: eps must be >= 0, got {eps}")
        self.eps = float(eps)
        self._var = VarAggregation()

    def aggregate(self, x, index, num_nodes):
        std = (self._var.aggregate(x, index, num_nodes) + self.eps).sqrt()
        has_messages = group_counts(index, num_nodes, x.dtype) > 0
        return torch.where(broadcast_rows(has_messages, std), std, torch.zeros((), dtype=std.dtype))

    def extra_repr(self) -> str:
        return f"eps={self.eps}"
