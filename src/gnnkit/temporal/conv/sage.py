"""GraphSAGE with the mean aggregator (Hamilton et al., NeurIPS 2017), split for caching.

    Z = W_self x_i + W_neigh mean_{j in N(i)} x_j + b

``msg_pass`` returns ``[X, D_in^{-1} A X]``.
"""

from __future__ import annotations

import torch

from ..propagation import GraphOperators, propagate
from .base import SplitConv, stack_supports

__all__ = ["SAGESplitConv"]


class SAGESplitConv(SplitConv):
    """SAGEConv (mean) with the self and neighbour weights stacked in one matrix."""

    def __init__(self, in_feats: int, out_feats: int, bias: bool = True):
        super().__init__(in_feats, out_feats, 2, bias)

    def msg_pass(self, ops: GraphOperators, x: torch.Tensor) -> torch.Tensor:
        # x: [N, *, F] -> [N, *, 2F]
        self._check_input(ops, x)
        return stack_supports([x, propagate(ops.mean(), x)])
