"""SGConv: simplified graph convolution of Wu et al., *Simplifying Graph Convolutional Networks*
(ICML 2019)."""

from __future__ import annotations

import torch
from torch import nn

from .._utils import (
    aggregate,
    check_edge_weight,
    check_positive_int,
    check_rows,
    check_zero_in_degree,
    require_square,
    sym_norm_edge_weight,
)

__all__ = ["SGConv"]


class SGConv(nn.Module):
    r"""K propagation steps without nonlinearity, then one linear map.

    .. math::

        H' = \big(\hat D^{-1/2} \hat A \hat D^{-1/2}\big)^K X\, W + b

    (degrees from the graph as given: add self-loops for the paper's :math:`\hat A = A + I`; with
    ``edge_weight`` the weighted degrees are used). With ``cached=True`` the propagated
    :math:`\hat A^K X` of the first call is reused (transductive use on one fixed graph: call
    ``reset_parameters`` or build a new layer when the graph or the features change).

    Args:
        in_feats, out_feats: widths.
        k: number of hops :math:`K`.
        cached: cache the propagated features.
        bias: learn :math:`b`.
        norm: a callable applied to the propagated features before the linear map.
        allow_zero_in_degree: accept nodes without incoming edges.

    Shapes: ``feat`` [N, in_feats]; ``edge_weight`` [E]; returns [N, out_feats]. Needs
    ``num_src_nodes == num_dst_nodes`` (a graph, a batch, or a block whose destinations are all
    its nodes).
    """

    def __init__(self, in_feats: int, out_feats: int, k: int = 1, cached: bool = False, bias: bool = True, norm=None, allow_zero_in_degree: bool = False):
        super().__init__()
        owner = type(self).__name__
        check_positive_int(in_feats, "in_feats", owner)
        check_positive_int(out_feats, "out_feats", owner)
        self._k = check_positive_int(k, "k", owner)
        self._cached = bool(cached)
        self._cached_h = None
        self.norm = norm
        self._allow_zero_in_degree = bool(allow_zero_in_degree)
        self.fc = nn.Linear(in_feats, out_feats, bias=bias)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.xavier_uniform_(self.fc.weight)
        if self.fc.bias is not None:
            nn.init.zeros_(self.fc.bias)
        self._cached_h = None

    def set_allow_zero_in_degree(self, value: bool) -> None:
        self._allow_zero_in_degree = bool(value)

    def forward(self, graph, feat: torch.Tensor, edge_weight: torch.Tensor | None = None):
        owner = type(self).__name__
        if self._cached_h is not None:
            return self.fc(self._cached_h)
        check_zero_in_degree(graph, self._allow_zero_in_degree, owner)
        require_square(graph, owner)
        check_rows(feat, graph.num_src_nodes(), "feat", "source nodes", owner)
        edge_weight = check_edge_weight(graph, edge_weight, owner)
        with graph.local_scope():
            # weight: [E]; h: [N, in] after each hop
            weight = sym_norm_edge_weight(graph, edge_weight, feat.dtype)
            h = feat
            for _ in range(self._k):
                h = aggregate(graph, h, "sum", weight)
            if self.norm is not None:
                h = self.norm(h)
            if self._cached:
                self._cached_h = h
            return self.fc(h)

    def extra_repr(self) -> str:
        return f"in={self.fc.in_features}, out={self.fc.out_features}, k={self._k}, cached={self._cached}"
