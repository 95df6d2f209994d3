"""Ready-made GNN stacks: GCN, GAT, GraphSAGE and GIN with configurable depth, width, dropout and
normalisation.

``forward(graph, feat)`` takes one graph (full or batched) or a list of blocks, one per layer
(the output of a neighbour sampler, first block first); every layer then runs on its block.
All dropout goes through :class:`gnnkit.nn.Dropout` (fast on CPU).

When the first layer applies its linear map before aggregating and the input features are
mostly zeros (at most 10% non-zero, e.g. bag-of-words citation features), GCN, GAT and
GraphSAGE convert them to CSR once (reused while the same unmodified tensor comes in): the
input dropout then touches only stored values and the first product is sparse, as in Kipf &
Welling's reference implementation. Results are the same as with dense input.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ._utils import SparseInputCache, check_choice, check_positive_int, check_probability
from .conv.gat_conv import GATConv
from .conv.gin_conv import GINConv
from .conv.graph_conv import GraphConv
from .conv.sage_conv import SAGEConv
from .dropout import Dropout
from .readout import readout_nodes

__all__ = ["GCN", "GAT", "GraphSAGE", "GIN", "MLP"]

_NORMS = (None, "batch", "layer")
_READOUTS = ("sum", "mean", "max")


def _norm_layer(norm: str | None, width: int) -> nn.Module:
    if norm == "batch":
        return nn.BatchNorm1d(width)
    if norm == "layer":
        return nn.LayerNorm(width)
    return nn.Identity()


def _graph_for_layer(graph, index: int, num_layers: int, owner: str):
    if isinstance(graph, (list, tuple)):
        if len(graph) != num_layers:
            raise ValueError(f"{owner}: got {len(graph)} blocks for {num_layers} layers; pass one block per layer")
        return graph[index]
    return graph


def _widths(in_feats: int, hidden_feats: int, out_feats: int, num_layers: int, owner: str) -> list[int]:
    check_positive_int(in_feats, "in_feats", owner)
    check_positive_int(hidden_feats, "hidden_feats", owner)
    check_positive_int(out_feats, "out_feats", owner)
    check_positive_int(num_layers, "num_layers", owner)
    return [in_feats] + [hidden_feats] * (num_layers - 1) + [out_feats]


def _reset_children(module: nn.Module) -> None:
    for child in module.modules():
        if child is not module and hasattr(child, "reset_parameters"):
            child.reset_parameters()


class MLP(nn.Module):
    r"""Linear layers with normalisation and ReLU between them (none after the last).

    .. math:: h^{(l+1)} = \mathrm{ReLU}(\mathrm{norm}(h^{(l)} W_l + b_l))

    Shapes: [N, in_feats] -> [N, out_feats].
    """

    def __init__(self, in_feats: int, hidden_feats: int, out_feats: int, num_layers: int = 2, norm: str | None = "batch", dropout: float = 0.0):
        super().__init__()
        owner = type(self).__name__
        widths = _widths(in_feats, hidden_feats, out_feats, num_layers, owner)
        check_choice(norm, "norm", owner, _NORMS)
        self.linears = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:]))
        self.norms = nn.ModuleList(_norm_layer(norm, w) for w in widths[1:-1])
        self.dropout = Dropout(check_probability(dropout, "dropout", owner))

    def reset_parameters(self) -> None:
        _reset_children(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, linear in enumerate(self.linears):
            x = linear(x)
            if i < len(self.norms):
                x = self.dropout(F.relu(self.norms[i](x)))
        return x


class GCN(nn.Module):
    r"""A stack of :class:`GraphConv` layers (Kipf & Welling, ICLR 2017).

    .. math:: H^{(l+1)} = \sigma\big(\mathrm{norm}(\hat A\, \mathrm{dropout}(H^{(l)})\, W_l)\big)

    with :math:`\hat A = \tilde D^{-1/2}\tilde A\tilde D^{-1/2}` (add self-loops to the graph) and no
    activation or norm after the last layer. The paper's Cora setting is the default: 2 layers,
    16 hidden units, dropout 0.5 on the input of every layer.

    Args:
        in_feats, hidden_feats, out_feats: widths.
        num_layers: number of GraphConv layers.
        dropout: dropout before every layer.
        input_dropout: dropout on the input features (default: ``dropout``).
        norm: None, 'batch' or 'layer' after every hidden layer.
        activation: nonlinearity between layers.
        gcn_norm: the GraphConv normalisation ('both', 'right', 'left', 'none').
        allow_zero_in_degree: passed to every GraphConv.
    """

    def __init__(
        self,
        in_feats: int,
        hidden_feats: int = 16,
        out_feats: int = 2,
        num_layers: int = 2,
        dropout: float = 0.5,
        input_dropout: float | None = None,
        norm: str | None = None,
        activation=F.relu,
        gcn_norm: str = "both",
        allow_zero_in_degree: bool = False,
    ):
        super().__init__()
        owner = type(self).__name__
        widths = _widths(in_feats, hidden_feats, out_feats, num_layers, owner)
        check_choice(norm, "norm", owner, _NORMS)
        self.layers = nn.ModuleList(
            GraphConv(a, b, norm=gcn_norm, allow_zero_in_degree=allow_zero_in_degree) for a, b in zip(widths[:-1], widths[1:])
        )
        self.norms = nn.ModuleList(_norm_layer(norm, w) for w in widths[1:-1])
        self.dropout = Dropout(check_probability(dropout, "dropout", owner))
        self.input_dropout = Dropout(check_probability(dropout if input_dropout is None else input_dropout, "input_dropout", owner))
        self.activation = activation
        self._sparse_input = SparseInputCache() if widths[0] > widths[1] else None

    def reset_parameters(self) -> None:
        _reset_children(self)

    def forward(self, graph, feat: torch.Tensor, edge_weight: torch.Tensor | None = None) -> torch.Tensor:
        if self._sparse_input is not None:
            feat = self._sparse_input(feat)
        h = self.input_dropout(feat)
        for i, layer in enumerate(self.layers):
            if i > 0:
                h = self.dropout(h)
            block = _graph_for_layer(graph, i, len(self.layers), type(self).__name__)
            h = layer(block, h, edge_weight=edge_weight if not isinstance(graph, (list, tuple)) else None)
            if i < len(self.layers) - 1:
                h = self.activation(self.norms[i](h))
        return h


class GAT(nn.Module):
    r"""A stack of :class:`GATConv` layers (Veličković et al., ICLR 2018).

    Hidden layers concatenate their ``heads`` heads (width ``hidden_feats * heads``), pass
    through ``norm`` and ELU; the last layer averages its ``out_heads`` heads. The paper's Cora
    setting is the default: 8 heads of 8 units, 1 output head, dropout 0.6 on features and
    attention.
    """

    def __init__(
        self,
        in_feats: int,
        hidden_feats: int = 8,
        out_feats: int = 2,
        num_layers: int = 2,
        heads: int = 8,
        out_heads: int = 1,
        feat_drop: float = 0.6,
        attn_drop: float = 0.6,
        negative_slope: float = 0.2,
        residual: bool = False,
        norm: str | None = None,
        activation=F.elu,
        allow_zero_in_degree: bool = False,
    ):
        super().__init__()
        owner = type(self).__name__
        widths = _widths(in_feats, hidden_feats, out_feats, num_layers, owner)
        check_positive_int(heads, "heads", owner)
        check_positive_int(out_heads, "out_heads", owner)
        check_choice(norm, "norm", owner, _NORMS)
        self.layers = nn.ModuleList()
        for i in range(num_layers):
            last = i == num_layers - 1
            in_width = widths[i] if i == 0 else widths[i] * heads
            self.layers.append(
                GATConv(
                    in_width,
                    widths[i + 1],
                    out_heads if last else heads,
                    feat_drop=feat_drop,
                    attn_drop=attn_drop,
                    negative_slope=negative_slope,
                    residual=residual,
                    allow_zero_in_degree=allow_zero_in_degree,
                )
            )
        self.norms = nn.ModuleList(_norm_layer(norm, w * heads) for w in widths[1:-1])
        self.activation = activation
        self._sparse_input = SparseInputCache()

    def reset_parameters(self) -> None:
        _reset_children(self)

    def forward(self, graph, feat: torch.Tensor) -> torch.Tensor:
        h = self._sparse_input(feat)
        for i, layer in enumerate(self.layers):
            block = _graph_for_layer(graph, i, len(self.layers), type(self).__name__)
            h = layer(block, h)
            if i < len(self.layers) - 1:
                h = self.activation(self.norms[i](h.flatten(1)))
            else:
                h = h.mean(dim=1)
        return h


class GraphSAGE(nn.Module):
    r"""A stack of :class:`SAGEConv` layers (Hamilton et al., NeurIPS 2017), with dropout before
    every layer but the first and ``norm`` + ReLU between layers."""

    def __init__(
        self,
        in_feats: int,
        hidden_feats: int = 16,
        out_feats: int = 2,
        num_layers: int = 2,
        aggregator_type: str = "mean",
        dropout: float = 0.5,
        input_dropout: float = 0.0,
        norm: str | None = None,
        activation=F.relu,
    ):
        super().__init__()
        owner = type(self).__name__
        widths = _widths(in_feats, hidden_feats, out_feats, num_layers, owner)
        check_choice(norm, "norm", owner, _NORMS)
        self.layers = nn.ModuleList(SAGEConv(a, b, aggregator_type) for a, b in zip(widths[:-1], widths[1:]))
        self.norms = nn.ModuleList(_norm_layer(norm, w) for w in widths[1:-1])
        self.dropout = Dropout(check_probability(dropout, "dropout", owner))
        self.input_dropout = Dropout(check_probability(input_dropout, "input_dropout", owner))
        self.activation = activation
        first_projects = aggregator_type == "pool" or (aggregator_type in ("mean", "gcn") and widths[0] > widths[1])
        self._sparse_input = SparseInputCache() if first_projects else None

    def reset_parameters(self) -> None:
        _reset_children(self)

    def forward(self, graph, feat: torch.Tensor) -> torch.Tensor:
        if self._sparse_input is not None:
            feat = self._sparse_input(feat)
        h = self.input_dropout(feat)
        for i, layer in enumerate(self.layers):
            if i > 0:
                h = self.dropout(h)
            block = _graph_for_layer(graph, i, len(self.layers), type(self).__name__)
            h = layer(block, h)
            if i < len(self.layers) - 1:
                h = self.activation(self.norms[i](h))
        return h


class GIN(nn.Module):
    r"""Graph isomorphism network (Xu et al., ICLR 2019).

    ``num_layers`` :class:`GINConv` layers, each with an :class:`MLP` of ``num_mlp_layers``
    layers, followed by ``norm`` and ReLU. With ``graph_level=True`` (graph classification, the
    paper's setting) the input and every layer's node states are read out per graph
    (``readout``: sum/mean/max), each through its own linear head with dropout, and summed:

    .. math:: z_g = \sum_{l=0}^{L} \mathrm{dropout}\big(W_l\, \mathrm{readout}(\{h_v^{(l)} : v \in g\})\big)

    returning ``[B, out_feats]``. With ``graph_level=False`` the same sum is taken per node,
    returning ``[N, out_feats]``.
    """

    def __init__(
        self,
        in_feats: int,
        hidden_feats: int = 64,
        out_feats: int = 2,
        num_layers: int = 4,
        num_mlp_layers: int = 2,
        dropout: float = 0.5,
        learn_eps: bool = False,
        aggregator_type: str = "sum",
        readout: str = "sum",
        norm: str | None = "batch",
        graph_level: bool = True,
    ):
        super().__init__()
        owner = type(self).__name__
        widths = _widths(in_feats, hidden_feats, out_feats, num_layers + 1, owner)
        check_choice(norm, "norm", owner, _NORMS)
        self.readout = check_choice(readout, "readout", owner, _READOUTS)
        self.graph_level = bool(graph_level)
        self.layers = nn.ModuleList()
        self.norms = nn.ModuleList()
        for i in range(num_layers):
            mlp = MLP(widths[i], hidden_feats, hidden_feats, num_mlp_layers, norm=norm)
            self.layers.append(GINConv(mlp, aggregator_type, learn_eps=learn_eps))
            self.norms.append(_norm_layer(norm, hidden_feats))
        self.heads = nn.ModuleList(nn.Linear(widths[i] if i == 0 else hidden_feats, out_feats) for i in range(num_layers + 1))
        self.dropout = Dropout(check_probability(dropout, "dropout", owner))

    def reset_parameters(self) -> None:
        _reset_children(self)

    def forward(self, graph, feat: torch.Tensor) -> torch.Tensor:
        if isinstance(graph, (list, tuple)):
            raise TypeError("GIN: pass one (batched) graph; per-layer blocks are not supported by the jumping readout")
        states = [feat]
        h = feat
        for layer, norm in zip(self.layers, self.norms):
            h = F.relu(norm(layer(graph, h)))
            states.append(h)
        out = 0
        for head, state in zip(self.heads, states):
            pooled = readout_nodes(graph, state, self.readout) if self.graph_level else state
            out = out + self.dropout(head(pooled))
        return out
