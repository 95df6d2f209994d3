"""TAGConv: topology adaptive graph convolution of Du et al., *Topology Adaptive Graph
Convolutional Networks* (2017, arXiv:1710.10370)."""

from __future__ import annotations

import torch
from torch import nn

from .._utils import (
    aggregate,
    check_edge_weight,
    check_positive_int,
    check_rows,
    require_square,
    sym_norm_edge_weight,
)

__all__ = ["TAGConv"]


class TAGConv(nn.Module):
    r"""A polynomial filter of the normalised adjacency, one weight per power.

    .. math::

        H' = \sigma\Big(\sum_{k=0}^{K} \big(\hat D^{-1/2} \hat A \hat D^{-1/2}\big)^k X\, W_k + b\Big)

    computed as one linear map of the concatenation :math:`[X, \hat A X, \dots, \hat A^K X]`.

    Args:
        in_feats, out_feats: widths.
        k: highest power :math:`K`.
        bias: learn :math:`b`.
        activation: :math:`\sigma`.

    Shapes: ``feat`` [N, in_feats]; ``edge_weight`` [E]; returns [N, out_feats]. Needs
    ``num_src == num_dst``.
    """

    def __init__(self, in_feats: int, out_feats: int, k: int = 2, bias: bool = True, activation=None):
        super().__init__()
        owner = type(self).__name__
        self._in_feats = check_positive_int(in_feats, "in_feats", owner)
        self._out_feats = check_positive_int(out_feats, "out_feats", owner)
        self._k = check_positive_int(k, "k", owner)
        self.activation = activation
        self.lin = nn.Linear(in_feats * (k + 1), out_feats, bias=bias)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.xavier_normal_(self.lin.weight, gain=nn.init.calculate_gain("relu"))
        if self.lin.bias is not None:
            nn.init.zeros_(self.lin.bias)

    def forward(self, graph, feat: torch.Tensor, edge_weight: torch.Tensor | None = None):
        owner = type(self).__name__
        require_square(graph, owner)
        check_rows(feat, graph.num_src_nodes(), "feat", "source nodes", owner)
        edge_weight = check_edge_weight(graph, edge_weight, owner)
        with graph.local_scope():
            weight = sym_norm_edge_weight(graph, edge_weight, feat.dtype)
            # powers: K + 1 tensors [N, in] -> [N, (K + 1) in]
            powers = [feat]
            for _ in range(self._k):
                powers.append(aggregate(graph, powers[-1], "sum", weight))
            out = self.lin(torch.cat(powers, dim=-1))
            if self.activation is not None:
                out = self.activation(out)
            return out

    def extra_repr(self) -> str:
        return f"in={self._in_feats}, out={self._out_feats}, k={self._k}"
