"""GENConv, the generalised graph convolution of DeeperGCN (Li et al. 2020, "DeeperGCN: All You Need
to Train Deeper GCNs").

    m_ji = ReLU(x_j + e_ji) + eps                       (e_ji omitted without edge features)
    m_i  = AGG({ m_ji : j in N(i) })                    (softmax / power mean / sum / ... module)
    m_i  = s * ||x_i|| * m_i / ||m_i||                  (optional MessageNorm)
    x_i' = MLP(x_i + m_i)

The MLP is ``num_layers`` Linear layers, hidden width ``expansion * out_channels``, with a norm
and ReLU between them. When ``in_channels != out_channels`` the source and destination
features are first projected to ``out_channels``; edge features of another width too.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..aggr.resolve import resolve_aggregation

__all__ = ["GENConv"]

_NORMS = ("batch", "layer", "none", None)


def make_norm(kind: str | None, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm1d(channels)
    if kind == "layer":
        return nn.LayerNorm(channels)
    if kind in ("none", None):
        return nn.Identity()
    raise ValueError(f"norm must be one of {_NORMS}, got {kind!r}")


class GENConv(nn.Module):
    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        aggr="softmax",
        beta: float = 1.0,
        learn_beta: bool = False,
        p: float = 1.0,
        learn_p: bool = False,
        msg_norm: bool = False,
        learn_msg_scale: bool = False,
        norm: str | None = "batch",
        num_layers: int = 2,
        expansion: int = 2,
        eps: float = 1e-7,
        bias: bool = False,
        edge_dim: int | None = None,
    ):
        super().__init__()
        for name, value in (("in_channels", in_channels), ("out_channels", out_channels), ("num_layers", num_layers), ("expansion", expansion)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"GENConv: {name} must be a positive int, got {value!r}")
        if norm not in _NORMS:
            raise ValueError(f"GENConv: norm must be one of {_NORMS}, got {norm!r}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.eps = float(eps)
        if aggr == "softmax":
            self.aggr = resolve_aggregation("softmax", beta=beta, learn=learn_beta)
        elif aggr == "powermean":
            self.aggr = resolve_aggregation("powermean", p=p, learn=learn_p)
        else:
            self.aggr = resolve_aggregation(aggr)
        self.lin_src = nn.Linear(in_channels, out_channels, bias=bias) if in_channels != out_channels else None
        self.lin_dst = nn.Linear(in_channels, out_channels, bias=bias) if in_channels != out_channels else None
        self.lin_edge = nn.Linear(edge_dim, out_channels, bias=bias) if edge_dim is not None and edge_dim != out_channels else None
        # Imported here: gnnkit.nn.deep builds on the convolutions, so the import cannot be at the top.
        from ..deep.message_norm import MessageNorm

        self.msg_norm = MessageNorm(learn_msg_scale) if msg_norm else None
        layers: list[nn.Module] = []
        width = out_channels
        for i in range(num_layers):
            last = i == num_layers - 1
            nxt = out_channels if last else expansion * out_channels
            layers.append(nn.Linear(width, nxt, bias=bias))
            if not last:
                layers += [make_norm(norm, nxt), nn.ReLU()]
            width = nxt
        self.mlp = nn.Sequential(*layers)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for module in (self.aggr, self.lin_src, self.lin_dst, self.lin_edge, self.msg_norm):
            if module is not None:
                module.reset_parameters()
        for module in self.mlp:
            if hasattr(module, "reset_parameters"):
                module.reset_parameters()

    def forward(self, g, feat, edge_feat: torch.Tensor | None = None) -> torch.Tensor:
        # feat: [num_src, in] (or a (src, dst) pair); edge_feat: [E, edge_dim] -> [num_dst, out]
        x_src, x_dst = feat if isinstance(feat, (tuple, list)) else (feat, feat[: g.num_dst_nodes()])
        if x_src.shape[0] != g.num_src_nodes() or x_src.shape[-1] != self.in_channels:
            raise ValueError(f"GENConv: features have shape {tuple(x_src.shape)}; expected [{g.num_src_nodes()}, {self.in_channels}]")
        if self.lin_src is not None:
            x_src, x_dst = self.lin_src(x_src), self.lin_dst(x_dst)
        if edge_feat is None:
            # No edge term: the message depends on the source only, so builtin reducers fuse.
            msg = self.aggr.from_src(g, F.relu(x_src) + self.eps)
        else:
            if edge_feat.shape[0] != g.num_edges():
                raise ValueError(f"GENConv: edge_feat has {edge_feat.shape[0]} rows; the graph has {g.num_edges()} edges")
            if self.lin_edge is not None:
                edge_feat = self.lin_edge(edge_feat)
            if edge_feat.shape[-1] != self.out_channels:
                raise ValueError(f"GENConv: edge_feat has width {edge_feat.shape[-1]}; pass edge_dim to project it to {self.out_channels}")
            messages = F.relu(x_src.index_select(0, g.sparse.src) + edge_feat) + self.eps
            msg = self.aggr.on_graph(g, messages)
        if self.msg_norm is not None:
            msg = self.msg_norm(x_dst, msg)
        return self.mlp(x_dst + msg)

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}"
