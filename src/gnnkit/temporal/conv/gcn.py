"""Graph convolution (Kipf and Welling, ICLR 2017) split into ``msg_pass`` and ``update``.

    Z = D^{-1/2} (A + I) D^{-1/2} X W + b

``msg_pass`` returns ``A_hat X`` (aggregation first, so it can be cached); ``update`` applies W.
"""

from __future__ import annotations

import torch

from ..propagation import GraphOperators, propagate
from .base import SplitConv

__all__ = ["GCNSplitConv"]


class GCNSplitConv(SplitConv):
    """GCN layer with symmetric normalisation and self-loops."""

    def __init__(self, in_feats: int, out_feats: int, bias: bool = True):
        super().__init__(in_feats, out_feats, 1, bias)

    def msg_pass(self, ops: GraphOperators, x: torch.Tensor) -> torch.Tensor:
        # x: [N, *, F] -> [N, *, F]
        self._check_input(ops, x)
        return propagate(ops.gcn(), x)
