"""GraphConv: the graph convolution of Kipf & Welling, *Semi-Supervised Classification with Graph
Convolutional Networks* (ICLR 2017)."""

from __future__ import annotations

import torch
from torch import nn

from .._utils import (
    aggregate,
    broadcast_rows,
    check_choice,
    check_edge_weight,
    check_positive_int,
    check_zero_in_degree,
    inv_degree,
    inv_sqrt_degree,
    project,
    src_dst_feats,
    to_dense,
)

__all__ = ["GraphConv"]

_NORMS = ("both", "right", "left", "none")


class GraphConv(nn.Module):
    r"""Graph convolution (GCN).

    .. math::

        h_v' = \sigma\Big(b + \sum_{u \in \mathcal{N}(v)} \frac{e_{uv}}{c_{uv}}\, h_u W\Big)

    where :math:`e_{uv}` is the edge weight (1 without ``edge_weight``) and the normaliser
    :math:`c_{uv}` is :math:`\sqrt{d^{out}_u}\sqrt{d^{in}_v}` for ``norm='both'``,
    :math:`d^{in}_v` for ``'right'`` (mean of the neighbours), :math:`d^{out}_u` for ``'left'``
    and 1 for ``'none'`` (degrees unweighted and clamped to 1). Add self-loops to the graph for the
    renormalised :math:`\tilde D^{-1/2}\tilde A\tilde D^{-1/2}` of the paper.

    The product with :math:`W` is done before aggregating when ``in_feats > out_feats`` (the
    aggregation then moves narrower rows) and after it otherwise, as in DGL.

    Args:
        in_feats: input width (or a ``(src, dst)`` pair; only the source width is used).
        out_feats: output width.
        norm: 'both', 'right', 'left' or 'none'.
        weight: learn :math:`W`; with ``False`` pass ``weight=`` to ``forward`` (or none: identity).
        bias: learn :math:`b`.
        activation: :math:`\sigma`, applied last (``None``: identity).
        allow_zero_in_degree: accept destinations with no incoming edge (they get ``b``);
            otherwise such a graph is rejected, since it is usually a missing self-loop.

    Shapes: ``feat`` [N_src, in_feats] (or a pair; a sparse CSR tensor is multiplied sparsely when
    the weight goes first); ``edge_weight`` [E]; returns [N_dst, out_feats].
    """

    def __init__(
        self,
        in_feats,
        out_feats: int,
        norm: str = "both",
        weight: bool = True,
        bias: bool = True,
        activation=None,
        allow_zero_in_degree: bool = False,
    ):
        super().__init__()
        owner = type(self).__name__
        self._in_feats = in_feats[0] if isinstance(in_feats, (tuple, list)) else in_feats
        check_positive_int(self._in_feats, "in_feats", owner)
        self._out_feats = check_positive_int(out_feats, "out_feats", owner)
        self._norm = check_choice(norm, "norm", owner, _NORMS)
        self._allow_zero_in_degree = bool(allow_zero_in_degree)
        self.weight = nn.Parameter(torch.empty(self._in_feats, out_feats)) if weight else None
        self.bias = nn.Parameter(torch.empty(out_feats)) if bias else None
        self._activation = activation
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.weight is not None:
            nn.init.xavier_uniform_(self.weight)
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def set_allow_zero_in_degree(self, value: bool) -> None:
        self._allow_zero_in_degree = bool(value)

    def forward(self, graph, feat, weight: torch.Tensor | None = None, edge_weight: torch.Tensor | None = None):
        owner = type(self).__name__
        check_zero_in_degree(graph, self._allow_zero_in_degree, owner)
        feat_src, _ = src_dst_feats(graph, feat, owner)
        edge_weight = check_edge_weight(graph, edge_weight, owner)
        if weight is not None and self.weight is not None:
            raise ValueError(f"{owner}: the layer has its own weight; pass weight= only when built with weight=False")
        weight = self.weight if weight is None else weight
        if weight is not None and weight.shape != (feat_src.shape[-1], self._out_feats):
            raise ValueError(f"{owner}: weight must have shape {(feat_src.shape[-1], self._out_feats)}, got {tuple(weight.shape)}")
        adj = graph.sparse
        with graph.local_scope():
            # x: [N_src, F_in]; the matmul goes first when it shrinks the rows to aggregate.
            transform_first = weight is not None and self._in_feats > self._out_feats
            x = project(feat_src, weight) if transform_first else to_dense(feat_src)
            if self._norm in ("both", "left"):
                out_degrees = adj.out_degrees()
                scale = inv_sqrt_degree(out_degrees, x.dtype) if self._norm == "both" else inv_degree(out_degrees, x.dtype)
                x = x * broadcast_rows(scale, x)
            # h: [N_dst, F]
            h = aggregate(graph, x, "sum", edge_weight)
            if weight is not None and not transform_first:
                h = h @ weight
            if self._norm in ("both", "right"):
                in_degrees = adj.in_degrees()
                scale = inv_sqrt_degree(in_degrees, h.dtype) if self._norm == "both" else inv_degree(in_degrees, h.dtype)
                h = h * broadcast_rows(scale, h)
            if self.bias is not None:
                h = h + self.bias
            if self._activation is not None:
                h = self._activation(h)
            return h

    def extra_repr(self) -> str:
        text = f"in={self._in_feats}, out={self._out_feats}, normalization={self._norm}"
        if self._activation is not None:
            text += f", activation={self._activation}"
        return text
