"""Diffusion convolution of DCRNN (Li et al., ICLR 2018) split into ``msg_pass`` and ``update``.

    Z = sum_{k=0}^{K} (D_O^{-1} W)^k X Theta_{f,k} + sum_{k=1}^{K} (D_I^{-1} W^T)^k X Theta_{b,k}

(bidirectional random walks; the ``k = 0`` term is shared). ``msg_pass`` returns the ``2K + 1``
diffused copies ``[X, P_f X, ..., P_f^K X, P_b X, ..., P_b^K X]``.
"""

from __future__ import annotations

import torch

from ..propagation import GraphOperators, propagate
from .base import SplitConv, stack_supports

__all__ = ["DiffusionSplitConv"]


class DiffusionSplitConv(SplitConv):
    """Diffusion convolution with ``K`` random-walk steps in each direction."""

    def __init__(self, in_feats: int, out_feats: int, K: int = 2, bias: bool = True):
        if not isinstance(K, int) or K < 0:
            raise ValueError(f"DiffusionSplitConv: K must be a non-negative int, got {K!r}")
        super().__init__(in_feats, out_feats, 2 * K + 1, bias)
        self.K = K

    def msg_pass(self, ops: GraphOperators, x: torch.Tensor) -> torch.Tensor:
        # x: [N, *, F] -> [N, *, (2K + 1) * F]
        self._check_input(ops, x)
        terms = [x]
        for walk in (ops.walk_forward(), ops.walk_backward()):
            current = x
            for _ in range(self.K):
                current = propagate(walk, current)
                terms.append(current)
        return stack_supports(terms)
