"""SAGEConv: GraphSAGE of Hamilton, Ying & Leskovec, *Inductive Representation Learning on Large
Graphs* (NeurIPS 2017)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ... import function as fn
from ..dropout import Dropout
from .._utils import (
    aggregate,
    broadcast_rows,
    check_choice,
    check_edge_weight,
    check_positive_int,
    check_probability,
    dst_rows,
    feat_sizes,
    linear,
    src_dst_feats,
    to_dense,
)

__all__ = ["SAGEConv"]

_AGGREGATORS = ("mean", "gcn", "pool", "lstm")


class SAGEConv(nn.Module):
    r"""GraphSAGE layer.

    .. math::

        h_{\mathcal{N}(v)} = \operatorname{aggregate}\big(\{h_u : u \in \mathcal{N}(v)\}\big), \qquad
        h_v' = \sigma\Big(\mathrm{norm}\big(W_{self} h_v + W_{neigh} h_{\mathcal{N}(v)} + b\big)\Big)

    with the aggregators

    * ``'mean'``: :math:`\frac{1}{|\mathcal{N}(v)|}\sum_u e_{uv} h_u`;
    * ``'gcn'``: :math:`\frac{h_v + \sum_u e_{uv} h_u}{|\mathcal{N}(v)| + 1}` and no :math:`W_{self}`
      term (:math:`h_v' = \sigma(W_{neigh} h_{\mathcal{N}(v)} + b)`);
    * ``'pool'``: :math:`\max_u \mathrm{ReLU}(W_{pool} e_{uv} h_u + b_{pool})`;
    * ``'lstm'``: the last hidden state of an LSTM run over the neighbours (in edge-id order).

    For 'mean' and 'gcn' the linear map commutes with the aggregation, so :math:`W_{neigh}` is
    applied *before* aggregating when ``in_feats > out_feats`` (the sparse product then moves
    ``out_feats``-wide rows) and after it otherwise: DGL's cheaper order, where PyG always
    aggregates the wide input.

    Args:
        in_feats: input width, or a ``(src, dst)`` pair.
        out_feats: output width.
        aggregator_type: 'mean', 'gcn', 'pool' or 'lstm'.
        feat_drop: dropout on the input features.
        bias: learn :math:`b`.
        norm: a callable applied to the output before the activation (e.g. a LayerNorm).
        activation: :math:`\sigma`.

    Shapes: ``feat`` [N_src, in] (or a pair; sparse CSR input is projected with a sparse product
    where a linear map comes first); ``edge_weight`` [E]; returns [N_dst, out_feats].
    Destinations with no incoming edge aggregate to 0.
    """

    def __init__(
        self,
        in_feats,
        out_feats: int,
        aggregator_type: str = "mean",
        feat_drop: float = 0.0,
        bias: bool = True,
        norm=None,
        activation=None,
    ):
        super().__init__()
        owner = type(self).__name__
        self._in_src_feats, self._in_dst_feats = feat_sizes(in_feats, owner)
        self._out_feats = check_positive_int(out_feats, "out_feats", owner)
        self._aggre_type = check_choice(aggregator_type, "aggregator_type", owner, _AGGREGATORS)
        if aggregator_type == "gcn" and self._in_src_feats != self._in_dst_feats:
            raise ValueError(f"{owner}: the 'gcn' aggregator needs equal source and destination widths, got {in_feats!r}")
        self.feat_drop = Dropout(check_probability(feat_drop, "feat_drop", owner))
        self.norm = norm
        self.activation = activation
        if aggregator_type == "pool":
            self.fc_pool = nn.Linear(self._in_src_feats, self._in_src_feats)
        if aggregator_type == "lstm":
            self.lstm = nn.LSTM(self._in_src_feats, self._in_src_feats, batch_first=True)
        self.fc_neigh = nn.Linear(self._in_src_feats, out_feats, bias=False)
        if aggregator_type != "gcn":
            self.fc_self = nn.Linear(self._in_dst_feats, out_feats, bias=False)
        self.bias = nn.Parameter(torch.zeros(out_feats)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        gain = nn.init.calculate_gain("relu")
        if self._aggre_type == "pool":
            nn.init.xavier_uniform_(self.fc_pool.weight, gain=gain)
            nn.init.zeros_(self.fc_pool.bias)
        if self._aggre_type == "lstm":
            self.lstm.reset_parameters()
        if self._aggre_type != "gcn":
            nn.init.xavier_uniform_(self.fc_self.weight, gain=gain)
        nn.init.xavier_uniform_(self.fc_neigh.weight, gain=gain)
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    @property
    def transforms_before_aggregating(self) -> bool:
        """Whether ``fc_neigh`` runs before the sparse aggregation (cheaper when it narrows)."""
        return self._aggre_type in ("mean", "gcn") and self._in_src_feats > self._out_feats

    def forward(self, graph, feat, edge_weight: torch.Tensor | None = None):
        owner = type(self).__name__
        edge_weight = check_edge_weight(graph, edge_weight, owner)
        with graph.local_scope():
            if isinstance(feat, (tuple, list)):
                feat_src, feat_dst = src_dst_feats(graph, feat, owner)
                feat_src, feat_dst = self.feat_drop(feat_src), self.feat_drop(feat_dst)
            else:
                src_dst_feats(graph, feat, owner)
                feat_src = self.feat_drop(feat)
                feat_dst = dst_rows(graph, feat_src)
            lin_first = self.transforms_before_aggregating
            if self._aggre_type == "mean":
                # h: [N_src, out] when the linear map goes first, else [N_src, in]
                h = linear(feat_src, self.fc_neigh) if lin_first else to_dense(feat_src)
                h_neigh = aggregate(graph, h, "mean", edge_weight)
                if not lin_first:
                    h_neigh = self.fc_neigh(h_neigh)
            elif self._aggre_type == "gcn":
                h = linear(feat_src, self.fc_neigh) if lin_first else to_dense(feat_src)
                if isinstance(feat, (tuple, list)):
                    h_self = linear(feat_dst, self.fc_neigh) if lin_first else to_dense(feat_dst)
                else:
                    h_self = dst_rows(graph, h)
                degrees = graph.sparse.in_degrees().to(h.dtype)
                h_neigh = (aggregate(graph, h, "sum", edge_weight) + h_self) / broadcast_rows(degrees + 1, h_self)
                if not lin_first:
                    h_neigh = self.fc_neigh(h_neigh)
            elif self._aggre_type == "pool":
                h = F.relu(linear(feat_src, self.fc_pool))
                h_neigh = self.fc_neigh(aggregate(graph, h, "max", edge_weight))
            else:
                h_neigh = self.fc_neigh(self._lstm_aggregate(graph, to_dense(feat_src), edge_weight))
            out = h_neigh if self._aggre_type == "gcn" else linear(feat_dst, self.fc_self) + h_neigh
            if self.bias is not None:
                out = out + self.bias
            if self.norm is not None:
                out = self.norm(out)
            if self.activation is not None:
                out = self.activation(out)
            return out

    def _lstm_aggregate(self, graph, feat_src, edge_weight):
        # The reducer sees each degree bucket as mailbox [nodes, degree, in]; the final hidden
        # state [1, nodes, in] is the aggregate. Nodes without messages keep 0.
        def lstm_reduce(nodes):
            mailbox = nodes.mailbox["m"]
            state = mailbox.new_zeros(1, mailbox.shape[0], self._in_src_feats)
            _, (hidden, _) = self.lstm(mailbox, (state, state.clone()))
            return {"neigh": hidden.squeeze(0)}

        graph.srcdata["h"] = feat_src
        if edge_weight is None:
            graph.update_all(fn.copy_u("h", "m"), lstm_reduce)
        else:
            graph.edata["_w"] = edge_weight.to(feat_src.dtype).unsqueeze(-1)
            graph.update_all(fn.u_mul_e("h", "_w", "m"), lstm_reduce)
        if "neigh" not in graph.dstdata:
            return feat_src.new_zeros(graph.num_dst_nodes(), self._in_src_feats)
        return graph.dstdata["neigh"]

    def extra_repr(self) -> str:
        return f"in={self._in_src_feats}, out={self._out_feats}, aggregator_type={self._aggre_type!r}"
