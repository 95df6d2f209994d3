"""GatedGraphConv: gated graph neural network layer of Li et al., *Gated Graph Sequence Neural
Networks* (ICLR 2016)."""

from __future__ import annotations

import torch
from torch import nn

from ... import ops
from .._utils import check_positive_int, check_rows, require_square

__all__ = ["GatedGraphConv"]


class GatedGraphConv(nn.Module):
    r"""Recurrent propagation with a GRU update, one linear map per edge type.

    .. math::

        h_v^{(0)} = [x_v \,\|\, 0], \qquad
        a_v^{(t)} = \sum_{u \in \mathcal{N}(v)} \big(W_{\tau(u,v)} h_u^{(t)} + b_{\tau(u,v)}\big), \qquad
        h_v^{(t+1)} = \mathrm{GRU}\big(a_v^{(t)}, h_v^{(t)}\big)

    for ``n_steps`` steps (:math:`\tau` is the edge type, ``etypes``). The per-type products
    are computed once per node and step (``[N, T, out]``); the typed sum is then one fused SpMM
    over a pattern whose sources are the ``(node, type)`` pairs.

    Args:
        in_feats: input width (at most ``out_feats``: inputs are zero-padded).
        out_feats: hidden width.
        n_steps: number of recurrent steps.
        n_etypes: number of edge types :math:`T`.
        bias: biases in the edge-type maps and the GRU.

    Shapes: ``feat`` [N, in_feats]; ``etypes`` [E] (optional when ``n_etypes == 1``);
    returns [N, out_feats]. Needs ``num_src == num_dst``.
    """

    def __init__(self, in_feats: int, out_feats: int, n_steps: int, n_etypes: int, bias: bool = True):
        super().__init__()
        owner = type(self).__name__
        self._in_feats = check_positive_int(in_feats, "in_feats", owner)
        self._out_feats = check_positive_int(out_feats, "out_feats", owner)
        if in_feats > out_feats:
            raise ValueError(f"{owner}: in_feats ({in_feats}) must not exceed out_feats ({out_feats}); inputs are zero-padded")
        self._n_steps = check_positive_int(n_steps, "n_steps", owner)
        self._n_etypes = check_positive_int(n_etypes, "n_etypes", owner)
        self.linears = nn.ModuleList([nn.Linear(out_feats, out_feats, bias=bias) for _ in range(n_etypes)])
        self.gru = nn.GRUCell(out_feats, out_feats, bias=bias)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        gain = nn.init.calculate_gain("relu")
        self.gru.reset_parameters()
        for linear in self.linears:
            nn.init.xavier_normal_(linear.weight, gain=gain)
            if linear.bias is not None:
                nn.init.zeros_(linear.bias)

    def forward(self, graph, feat: torch.Tensor, etypes: torch.Tensor | None = None):
        owner = type(self).__name__
        require_square(graph, owner)
        check_rows(feat, graph.num_src_nodes(), "feat", "source nodes", owner)
        if feat.shape[-1] != self._in_feats:
            raise ValueError(f"{owner}: feat has width {feat.shape[-1]}, expected in_feats={self._in_feats}")
        adj = graph.sparse
        num_types = self._n_etypes
        if etypes is None:
            if num_types != 1:
                raise ValueError(f"{owner}: etypes is required when n_etypes={num_types}")
            typed_adj = adj
        else:
            etypes = torch.as_tensor(etypes, device=feat.device)
            if etypes.is_floating_point() or etypes.shape != (graph.num_edges(),):
                raise ValueError(f"{owner}: etypes must be an integer tensor of shape [{graph.num_edges()}], got {etypes.dtype} {tuple(etypes.shape)}")
            etypes = etypes.to(torch.int64)
            if etypes.numel() and (int(etypes.min()) < 0 or int(etypes.max()) >= num_types):
                raise ValueError(f"{owner}: etypes must lie in [0, {num_types}), got [{int(etypes.min())}, {int(etypes.max())}]")
            # Sources become (node, type) pairs: row u * T + t of the stacked per-type products.
            typed_adj = ops.SparseAdj(adj.src * num_types + etypes, adj.dst, adj.num_src * num_types, adj.num_dst)
        with graph.local_scope():
            # h: [N, out]
            h = torch.cat([feat, feat.new_zeros(feat.shape[0], self._out_feats - self._in_feats)], dim=-1)
            for _ in range(self._n_steps):
                # typed: [N, T, out] -> [N * T, out]
                typed = torch.stack([linear(h) for linear in self.linears], dim=1).reshape(-1, self._out_feats)
                message_sum = ops.gspmm(typed_adj, "copy_u", "sum", typed, None)
                h = self.gru(message_sum, h)
            return h

    def extra_repr(self) -> str:
        return f"in={self._in_feats}, out={self._out_feats}, n_steps={self._n_steps}, n_etypes={self._n_etypes}"
