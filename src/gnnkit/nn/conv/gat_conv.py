"""GATConv: graph attention of Veličković et al., *Graph Attention Networks* (ICLR 2018)."""

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
    linear,
    src_dst_feats,
    to_dense,
)

__all__ = ["GATConv"]


class GATConv(nn.Module):
    r"""Multi-head graph attention.

    For every head :math:`k` (of ``num_heads``):

    .. math::

        e^k_{uv} = \mathrm{LeakyReLU}\big(a_l^{k\top} W^k h_u + a_r^{k\top} W^k h_v\big), \qquad
        \alpha^k_{uv} = \frac{\exp e^k_{uv}}{\sum_{w \in \mathcal{N}(v)} \exp e^k_{wv}}

    .. math::

        h_v'^{\,k} = \sigma\Big(\sum_{u \in \mathcal{N}(v)} \alpha^k_{uv} W^k h_u + r^k_v + b^k\Big)

    with the residual :math:`r_v = W_{res} h_v` (identity when the widths already match) if
    ``residual``, dropout on the input features (``feat_drop``) and on :math:`\alpha`
    (``attn_drop``). The scores are an SDDMM (``gsddmm`` add), the normalisation
    ``edge_softmax``, and the weighted sum a fused per-head SpMM (``gspmm`` u_mul_e with
    ``[E, H, 1]`` weights and ``[N, H, F]`` features), so no ``[E, H, F]`` tensor is built.

    Args:
        in_feats: input width, or a ``(src, dst)`` pair for bipartite inputs.
        out_feats: output width per head.
        num_heads: number of heads.
        feat_drop, attn_drop: dropout probabilities.
        negative_slope: LeakyReLU slope.
        residual: add a residual connection.
        activation: applied last.
        allow_zero_in_degree: accept destinations without incoming edges (they get 0 + bias).
        bias: learn a bias per head and channel.

    Shapes: ``feat`` [N_src, in] (or a pair; sparse CSR input is projected with a sparse
    product); returns [N_dst, num_heads, out_feats]; with
    ``get_attention=True`` also the attention [E, num_heads, 1].
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
    ):
        super().__init__()
        owner = type(self).__name__
        self._in_src_feats, self._in_dst_feats = feat_sizes(in_feats, owner)
        self._out_feats = check_positive_int(out_feats, "out_feats", owner)
        self._num_heads = check_positive_int(num_heads, "num_heads", owner)
        self._allow_zero_in_degree = bool(allow_zero_in_degree)
        self._bipartite = isinstance(in_feats, (tuple, list))
        if self._bipartite:
            self.fc_src = nn.Linear(self._in_src_feats, out_feats * num_heads, bias=False)
            self.fc_dst = nn.Linear(self._in_dst_feats, out_feats * num_heads, bias=False)
        else:
            self.fc = nn.Linear(self._in_src_feats, out_feats * num_heads, bias=False)
        self.attn_l = nn.Parameter(torch.empty(1, num_heads, out_feats))
        self.attn_r = nn.Parameter(torch.empty(1, num_heads, out_feats))
        self.feat_drop = Dropout(check_probability(feat_drop, "feat_drop", owner))
        self.attn_drop = Dropout(check_probability(attn_drop, "attn_drop", owner))
        self.negative_slope = float(negative_slope)
        if residual:
            if self._in_dst_feats != out_feats * num_heads:
                self.res_fc = nn.Linear(self._in_dst_feats, out_feats * num_heads, bias=False)
            else:
                self.res_fc = nn.Identity()
        else:
            self.res_fc = None
        self.bias = nn.Parameter(torch.empty(num_heads * out_feats)) if bias else None
        self.activation = activation
        self.reset_parameters()

    def reset_parameters(self) -> None:
        gain = nn.init.calculate_gain("relu")
        for name in ("fc", "fc_src", "fc_dst"):
            if hasattr(self, name):
                nn.init.xavier_normal_(getattr(self, name).weight, gain=gain)
        nn.init.xavier_normal_(self.attn_l, gain=gain)
        nn.init.xavier_normal_(self.attn_r, gain=gain)
        if self.bias is not None:
            nn.init.zeros_(self.bias)
        if isinstance(self.res_fc, nn.Linear):
            nn.init.xavier_normal_(self.res_fc.weight, gain=gain)

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
                fc_src, fc_dst = (self.fc_src, self.fc_dst) if self._bipartite else (self.fc, self.fc)
                # ft_src: [N_src, H, F], ft_dst: [N_dst, H, F]
                ft_src = linear(h_src, fc_src).view(-1, heads, width)
                ft_dst = linear(h_dst, fc_dst).view(-1, heads, width)
            else:
                src_dst_feats(graph, feat, owner)
                h_src = self.feat_drop(feat)
                h_dst = dst_rows(graph, h_src)
                ft_src = linear(h_src, self.fc).view(-1, heads, width)
                ft_dst = dst_rows(graph, ft_src)
            # el: [N_src, H, 1], er: [N_dst, H, 1] -> scores: [E, H, 1]
            el = (ft_src * self.attn_l).sum(dim=-1, keepdim=True)
            er = (ft_dst * self.attn_r).sum(dim=-1, keepdim=True)
            scores = F.leaky_relu(ops.gsddmm(adj, "add", el, er, "u", "v"), self.negative_slope)
            attention = self.attn_drop(ops.edge_softmax(adj, scores))
            if edge_weight is not None:
                attention = attention * edge_weight.to(attention.dtype).view(-1, 1, 1)
            # out: [N_dst, H, F], one weighted SpMM per head.
            out = ops.gspmm(adj, "u_mul_e", "sum", ft_src, attention)
            if self.res_fc is not None:
                residual = to_dense(h_dst) if isinstance(self.res_fc, nn.Identity) else linear(h_dst, self.res_fc)
                out = out + residual.view(h_dst.shape[0], -1, width)
            if self.bias is not None:
                out = out + self.bias.view(1, heads, width)
            if self.activation is not None:
                out = self.activation(out)
            return (out, attention) if get_attention else out

    def extra_repr(self) -> str:
        return (
            f"in={self._in_src_feats}, out={self._out_feats}, heads={self._num_heads}, "
            f"negative_slope={self.negative_slope}, residual={self.res_fc is not None}"
        )
