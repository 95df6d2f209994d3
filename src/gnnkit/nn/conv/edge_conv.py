"""EdgeConv: the edge convolution of DGCNN, Wang et al., *Dynamic Graph CNN for Learning on Point
Clouds* (ACM TOG 2019)."""

from __future__ import annotations

import torch
from torch import nn

from ... import ops
from .._utils import check_positive_int, check_zero_in_degree, feat_sizes, src_dst_feats

__all__ = ["EdgeConv"]


class EdgeConv(nn.Module):
    r"""Edge convolution with max aggregation.

    .. math::

        h_v' = \max_{u \in \mathcal{N}(v)} \Big(\Theta (x_u - x_v) + \Phi x_v\Big)

    (:math:`\Theta`, :math:`\Phi` linear with biases; with ``batch_norm`` a BatchNorm over the
    edge features comes before the max). Without batch norm the max commutes with the
    per-destination term, so the layer is a fused max-SpMM of :math:`\Theta x_u` plus
    :math:`(\Phi - \Theta) x_v` and no ``[E, F]`` tensor is built.

    Args:
        in_feat: input width (or a ``(src, dst)`` pair).
        out_feat: output width.
        batch_norm: BatchNorm1d on the edge features.
        allow_zero_in_degree: accept destinations without incoming edges (they get 0).

    Shapes: ``feat`` [N_src, in] (or a pair); returns [N_dst, out_feat].
    """

    def __init__(self, in_feat, out_feat: int, batch_norm: bool = False, allow_zero_in_degree: bool = False):
        super().__init__()
        owner = type(self).__name__
        in_src, in_dst = feat_sizes(in_feat, owner)
        if in_src != in_dst:
            raise ValueError(f"{owner}: x_u - x_v needs equal source and destination widths, got {in_feat!r}")
        self._in_feat = in_src
        self._out_feat = check_positive_int(out_feat, "out_feat", owner)
        self.batch_norm = bool(batch_norm)
        self._allow_zero_in_degree = bool(allow_zero_in_degree)
        self.theta = nn.Linear(in_src, out_feat)
        self.phi = nn.Linear(in_src, out_feat)
        self.bn = nn.BatchNorm1d(out_feat) if batch_norm else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.theta.reset_parameters()
        self.phi.reset_parameters()
        if self.bn is not None:
            self.bn.reset_parameters()

    def set_allow_zero_in_degree(self, value: bool) -> None:
        self._allow_zero_in_degree = bool(value)

    def forward(self, graph, feat):
        owner = type(self).__name__
        check_zero_in_degree(graph, self._allow_zero_in_degree, owner)
        feat_src, feat_dst = src_dst_feats(graph, feat, owner)
        adj = graph.sparse
        with graph.local_scope():
            # theta_src: [N_src, out]; dst_term: [N_dst, out] = (Phi - Theta) x_v + phi bias
            theta_src = self.theta(feat_src)
            dst_term = self.phi(feat_dst) - nn.functional.linear(feat_dst, self.theta.weight)
            if self.bn is None:
                out = ops.gspmm(adj, "copy_u", "max", theta_src, None)
                has_edges = (adj.in_degrees() > 0).unsqueeze(-1)
                return torch.where(has_edges, out + dst_term, torch.zeros((), dtype=out.dtype))
            # edge_feat: [E, out] = Theta x_u + (Phi - Theta) x_v
            edge_feat = self.bn(ops.gsddmm(adj, "add", theta_src, dst_term, "u", "v"))
            return ops.gspmm(adj, "copy_e", "max", None, edge_feat)

    def extra_repr(self) -> str:
        return f"in={self._in_feat}, out={self._out_feat}, batch_norm={self.batch_norm}"
