"""DynamicPointGCN: a DGCNN / ResGCN point-cloud classifier with dynamic dilated k-NN blocks
(Wang et al. 2019 "Dynamic Graph CNN"; Li et al. 2019 "DeepGCNs", the ResGCN point-cloud backbone).

    G_0 = kNN(pos);                 h_0 = ReLU(Norm(Conv_0(G_0, pos)))
    G_l = DilatedkNN_{k, d_l}(h_{l-1});   h_l = h_{l-1} + ReLU(Norm(Conv_l(G_l, h_{l-1})))   (l >= 1)
    z   = MaxPool_cloud( Linear([h_0, ..., h_{L-1}]) );   y = MLP(z)

The graph of every layer is rebuilt from that layer's input features (dynamic), with dilation
d_l = min(l, max_dilation) (d_0 = 1) and optional stochastic dilation in training. ``conv`` is
``'edge'`` (gnnkit.nn.EdgeConv, DGCNN) or ``'mr'`` (MRConv). Clouds are given by ``batch``.
"""

from __future__ import annotations

import torch
from torch import nn

from ... import ops
from ..conv.gen_conv import make_norm
from ..conv.mr_conv import MRConv
from ..dropout import functional_dropout
from .dilated_knn import DilatedKNNGraph

__all__ = ["DynamicPointGCN"]


def _make_conv(kind: str, in_channels: int, out_channels: int) -> nn.Module:
    if kind == "edge":
        from ..conv.edge_conv import EdgeConv

        return EdgeConv(in_channels, out_channels)
    if kind == "mr":
        return MRConv(in_channels, out_channels)
    raise ValueError(f"conv must be 'edge' or 'mr', got {kind!r}")


class DynamicPointGCN(nn.Module):
    def __init__(
        self,
        in_feats: int,
        hidden: int,
        num_classes: int,
        depth: int = 4,
        k: int = 9,
        max_dilation: int = 4,
        conv: str = "edge",
        norm: str | None = "batch",
        stochastic: bool = False,
        epsilon: float = 0.2,
        embed: int = 256,
        dropout: float = 0.3,
    ):
        super().__init__()
        for name, value in (("in_feats", in_feats), ("hidden", hidden), ("num_classes", num_classes), ("depth", depth), ("max_dilation", max_dilation)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"DynamicPointGCN: {name} must be a positive int, got {value!r}")
        self.depth, self.dropout = depth, float(dropout)
        self.graphs = nn.ModuleList(
            [DilatedKNNGraph(k, dilation=max(1, min(layer, max_dilation)), stochastic=stochastic and layer > 0, epsilon=epsilon) for layer in range(depth)]
        )
        self.convs = nn.ModuleList([_make_conv(conv, in_feats if layer == 0 else hidden, hidden) for layer in range(depth)])
        self.norms = nn.ModuleList([make_norm(norm, hidden) for _ in range(depth)])
        self.fusion = nn.Linear(depth * hidden, embed)
        self.head = nn.Sequential(nn.Linear(embed, embed // 2), make_norm(norm, embed // 2), nn.ReLU(), nn.Linear(embed // 2, num_classes))
        self.last_graphs: list = []

    def reset_parameters(self) -> None:
        for module in self.modules():
            if module is not self and hasattr(module, "reset_parameters"):
                module.reset_parameters()

    def forward(self, pos: torch.Tensor, batch: torch.Tensor) -> torch.Tensor:
        # pos: [N, in_feats] points of all clouds; batch: [N] sorted cloud ids -> [num_clouds, num_classes]
        if pos.dim() != 2 or batch.shape != (pos.shape[0],):
            raise ValueError(f"DynamicPointGCN: pos must be [N, F] with batch [N], got {tuple(pos.shape)} and {tuple(batch.shape)}")
        h, features = pos, []
        self.last_graphs = []
        for layer in range(self.depth):
            g = self.graphs[layer](h, batch)
            self.last_graphs.append(g)
            out = torch.relu(self.norms[layer](self.convs[layer](g, h)))
            h = out if layer == 0 else h + out
            features.append(h)
        fused = self.fusion(torch.cat(features, -1))
        counts = torch.bincount(batch)
        pooled = ops.segment_reduce(counts, fused, "max")  # [num_clouds, embed]
        return self.head(functional_dropout(pooled, self.dropout, self.training))
