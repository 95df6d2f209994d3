"""Chebyshev spectral graph convolution split into ``msg_pass`` and ``update``.

    Z = sum_{k=0}^{K-1} T_k(L~) X Theta_k,   T_0 = X, T_1 = L~ X, T_k = 2 L~ T_{k-1} - T_{k-2}

with ``L~ = 2 L / lambda_max - I`` and ``lambda_max = 2`` (Defferrard et al., NeurIPS 2016; the
convolution inside GCRN, Seo et al. 2018). ``msg_pass`` returns ``[T_0 X, ..., T_{K-1} X]``.
"""

from __future__ import annotations

import torch

from ..propagation import GraphOperators, propagate
from .base import SplitConv, stack_supports

__all__ = ["ChebSplitConv"]


class ChebSplitConv(SplitConv):
    """ChebConv with ``K`` Chebyshev terms (``K = 1`` is a plain linear layer)."""

    def __init__(self, in_feats: int, out_feats: int, K: int = 2, bias: bool = True):
        super().__init__(in_feats, out_feats, K, bias)
        self.K = K

    def msg_pass(self, ops: GraphOperators, x: torch.Tensor) -> torch.Tensor:
        # x: [N, *, F] -> [N, *, K * F]
        self._check_input(ops, x)
        terms = [x]
        if self.K > 1:
            lap = ops.cheb()
            terms.append(propagate(lap, x))
            for _ in range(2, self.K):
                terms.append(2.0 * propagate(lap, terms[-1]) - terms[-2])
        return stack_supports(terms)
