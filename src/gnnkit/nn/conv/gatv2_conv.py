"""GATv2Conv: dynamic graph attention of Brody, Alon & Yahav, *How Attentive are Graph Attention
Networks?* (ICLR 2022)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ... import ops
from ..dropout import Dropout
from .._utils import (
    check_edge_weight,
    check_positive_int,
    check_probability,
    check_zero_in_degree,
    dst_rows,
    feat_sizes,
    src_dst_feats,
)

__all__ = ["GATv2Conv"]


class GATv2Conv(nn.Module):
    r"""Multi-head GATv2 attention: the nonlinearity moves inside the score.

    .. math::

        e^k_{uv} = a^{k\top}\, \mathrm{LeakyReLU}\big(W^k_s h_u + W^k_d h_v\big), \qquad
        \alpha^k_{uv} = \operatorname{softmax}_{u \in \mathcal{N}(v)} e^k_{uv}, \qquad
        h_v'^{\,k} = \sigma\Big(\sum_{u \in \mathcal{N}(v)} \alpha^k_{uv} W^k_s h_u + r^k_v\Big)

    ``share_weights=True`` uses :math:`W_s = W_d`. The score needs the ``[E, H, F]`` sum of both
    projections (built by ``gsddmm``); the weighted sum is a fused per-head SpMM.

    Args mirror :class:`GATConv` (``bias`` is the bias of the projections, as in DGL).

    Shapes: ``feat`` [N_src, in] (or a pair); returns [N_dst, num_heads, out_feats].
    """

    def __init__(
        self,
        in_feats,
        out_feats: int,
        num_heads: int,
        feat_drop: float = 0.0,
        attn_drop: float = 0.0,
        negative_slope: float = 0.2,
        residual: bool = False,
        activation=None,
        allow_zero_in_degree: bool = False,
        bias: bool = True,
        share_weights: bool = False,
    ):
        super().__init__()
        owner = type(self).__name__
        self._in_src_feats, self._in_dst_feats = feat_sizes(in_feats, owner)
        self._out_feats = check_positive_int(out_feats, "out_feats", owner)
        self._num_heads = check_positive_int(num_heads, "num_heads", owner)
        self._allow_zero_in_degree = bool(allow_zero_in_degree)
        self.share_weights = bool(share_weights)
        self.fc_src = nn.Linear(self._in_src_feats, out_feats * num_heads, bias=bias)
        if share_weights:
            if self._in_src_feats != self._in_dst_feats:
                raise ValueError(f"{owner}: share_weights=True needs equal source and destination widths, got {in_feats!r}")
            self.fc_dst = self.fc_src
        else:
            self.fc_dst = nn.Linear(self._in_dst_feats, out_feats * num_heads, bias=bias)
        self.attn = nn.Parameter(torch.empty(1, num_heads, out_feats))
        self.feat_drop = Dropout(check_probability(feat_drop, "feat_drop", owner))
        self.attn_drop = Dropout(check_probability(attn_drop, "attn_drop", owner))
        self.negative_slope = float(negative_slope)
        if residual:
            if self._in_dst_feats != out_feats * num_heads:
                self.res_fc = nn.Linear(self._in_dst_feats, out_feats * num_heads, bias=bias)
            else:
                self.res_fc = nn.Identity()
        else:
            self.res_fc = None
        self.activation = activation
        self.reset_parameters()

    def reset_parameters(self) -> None:
        gain = nn.init.calculate_gain("relu")
        for layer in (self.fc_src, self.fc_dst, self.res_fc):
            if isinstance(layer, nn.Linear):
                nn.init.xavier_normal_(layer.weight, gain=gain)
                if layer.bias is not None:
                    nn.init.zeros_(layer.bias)
        nn.init.xavier_normal_(self.attn, gain=gain)

    def set_allow_zero_in_degree(self, value: bool) -> None:
        self._allow_zero_in_degree = bool(value)

    def forward(self, graph, feat, edge_weight: torch.Tensor | None = None, get_attention: bool = False):
        owner = type(self).__name__
        check_zero_in_degree(graph, self._allow_zero_in_degree, owner)
        edge_weight = check_edge_weight(graph, edge_weight, owner)
        heads, width = self._num_heads, self._out_feats
        adj = graph.sparse
        with graph.local_scope():
            if isinstance(feat, (tuple, list)):
                h_src, h_dst = src_dst_feats(graph, feat, owner)
                h_src, h_dst = self.feat_drop(h_src), self.feat_drop(h_dst)
            else:
                src_dst_feats(graph, feat, owner)
                h_src = self.feat_drop(feat)
                h_dst = dst_rows(graph, h_src)
            # el: [N_src, H, F], er: [N_dst, H, F]
            el = self.fc_src(h_src).view(-1, heads, width)
            er = self.fc_dst(h_dst).view(-1, heads, width)
            # pair: [E, H, F] -> scores: [E, H, 1]
            pair = F.leaky_relu(ops.gsddmm(adj, "add", el, er, "u", "v"), self.negative_slope)
            scores = (pair * self.attn).sum(dim=-1, keepdim=True)
            attention = self.attn_drop(ops.edge_softmax(adj, scores))
            if edge_weight is not None:
                attention = attention * edge_weight.to(attention.dtype).view(-1, 1, 1)
            out = ops.gspmm(adj, "u_mul_e", "sum", el, attention)
            if self.res_fc is not None:
                out = out + self.res_fc(h_dst).view(h_dst.shape[0], -1, width)
            if self.activation is not None:
                out = self.activation(out)
            return (out, attention) if get_attention else out

    def extra_repr(self) -> str:
        return (
            f"in={self._in_src_feats}, out={self._out_feats}, heads={self._num_heads}, "
            f"share_weights={self.share_weights}, residual={self.res_fc is not None}"
        )
