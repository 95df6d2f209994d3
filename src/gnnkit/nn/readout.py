"""Graph-level readouts for batched graphs: every graph of a ``gk.batch`` becomes one row.

All of them use ``graph.batch_num_nodes()`` (consecutive node segments, one per graph) and the
segment kernels of :mod:`gnnkit.ops`; an unbatched graph is a batch of one. A graph with no
nodes reads out as zeros.
"""

from __future__ import annotations

import torch
from torch import nn

from .. import ops
from ._utils import check_positive_int, check_rows

__all__ = [
    "readout_nodes",
    "sum_nodes",
    "mean_nodes",
    "max_nodes",
    "SumPooling",
    "AvgPooling",
    "MaxPooling",
    "GlobalAttentionPooling",
    "Set2Set",
    "SortPooling",
]

_READOUT_OPS = ("sum", "mean", "max", "min")


def _node_count(graph) -> int:
    return graph.num_src_nodes() if graph.is_block else graph.num_nodes()


def readout_nodes(graph, feat: torch.Tensor, op: str = "sum") -> torch.Tensor:
    r"""``out[g] = op_{v \in g} feat[v]`` for every graph ``g`` of the batch. [N, *F] -> [B, *F]"""
    if op not in _READOUT_OPS:
        raise ValueError(f"readout_nodes: op must be one of {_READOUT_OPS}, got {op!r}")
    check_rows(feat, _node_count(graph), "feat", "nodes", "readout_nodes")
    return ops.segment_reduce(graph.batch_num_nodes(), feat, op)


def sum_nodes(graph, feat: torch.Tensor) -> torch.Tensor:
    """Sum of the node features of each graph. [N, *F] -> [B, *F]"""
    return readout_nodes(graph, feat, "sum")


def mean_nodes(graph, feat: torch.Tensor) -> torch.Tensor:
    """Mean of the node features of each graph. [N, *F] -> [B, *F]"""
    return readout_nodes(graph, feat, "mean")


def max_nodes(graph, feat: torch.Tensor) -> torch.Tensor:
    """Element-wise maximum of the node features of each graph. [N, *F] -> [B, *F]"""
    return readout_nodes(graph, feat, "max")


class SumPooling(nn.Module):
    r"""Sum readout: :math:`r_g = \sum_{v \in g} x_v`. Shapes: [N, *F] -> [B, *F]."""

    def reset_parameters(self) -> None:
        """No parameters."""

    def forward(self, graph, feat: torch.Tensor) -> torch.Tensor:
        return readout_nodes(graph, feat, "sum")


class AvgPooling(nn.Module):
    r"""Mean readout: :math:`r_g = \frac{1}{|g|}\sum_{v \in g} x_v`. Shapes: [N, *F] -> [B, *F]."""

    def reset_parameters(self) -> None:
        """No parameters."""

    def forward(self, graph, feat: torch.Tensor) -> torch.Tensor:
        return readout_nodes(graph, feat, "mean")


class MaxPooling(nn.Module):
    r"""Max readout: :math:`r_g = \max_{v \in g} x_v` (element-wise). Shapes: [N, *F] -> [B, *F]."""

    def reset_parameters(self) -> None:
        """No parameters."""

    def forward(self, graph, feat: torch.Tensor) -> torch.Tensor:
        return readout_nodes(graph, feat, "max")


class GlobalAttentionPooling(nn.Module):
    r"""Soft-attention readout of Li et al., *Gated Graph Sequence Neural Networks* (ICLR 2016).

    .. math::

        r_g = \sum_{v \in g} \operatorname{softmax}_{v \in g}\big(f_{gate}(x_v)\big)\, f_{feat}(x_v)

    Args:
        gate_nn: maps [N, F] to one score per node [N, 1].
        feat_nn: maps [N, F] to [N, F'] (``None``: identity).

    Shapes: [N, F] -> [B, F'] (and the attention [N, 1] with ``get_attention=True``).
    """

    def __init__(self, gate_nn: nn.Module, feat_nn: nn.Module | None = None):
        super().__init__()
        self.gate_nn = gate_nn
        self.feat_nn = feat_nn

    def reset_parameters(self) -> None:
        for module in (self.gate_nn, self.feat_nn):
            if module is None:
                continue
            for sub in module.modules():
                if hasattr(sub, "reset_parameters") and sub is not self:
                    sub.reset_parameters()

    def forward(self, graph, feat: torch.Tensor, get_attention: bool = False):
        check_rows(feat, _node_count(graph), "feat", "nodes", type(self).__name__)
        gate = self.gate_nn(feat)
        if gate.dim() != 2 or gate.shape[1] != 1:
            raise ValueError(f"GlobalAttentionPooling: gate_nn must return shape [N, 1], got {tuple(gate.shape)}")
        values = feat if self.feat_nn is None else self.feat_nn(feat)
        # gate: [N, 1] normalised within each graph
        gate = ops.segment_softmax(graph.batch_num_nodes(), gate)
        out = ops.segment_reduce(graph.batch_num_nodes(), gate * values, "sum")
        return (out, gate) if get_attention else out


class Set2Set(nn.Module):
    r"""Set2Set readout of Vinyals, Bengio & Kudlur, *Order Matters: Sequence to Sequence for Sets*
    (ICLR 2016): ``n_iters`` steps of LSTM-driven attention over each graph's nodes.

    .. math::

        q_t = \mathrm{LSTM}(q^*_{t-1}), \quad
        \alpha_v = \operatorname{softmax}_{v \in g}(x_v \cdot q_t), \quad
        r_t = \sum_{v \in g} \alpha_v x_v, \quad q^*_t = [q_t \,\|\, r_t]

    Args:
        input_dim: node feature width :math:`D`.
        n_iters: number of steps.
        n_layers: LSTM layers.

    Shapes: [N, D] -> [B, 2D].
    """

    def __init__(self, input_dim: int, n_iters: int, n_layers: int):
        super().__init__()
        owner = type(self).__name__
        self.input_dim = check_positive_int(input_dim, "input_dim", owner)
        self.output_dim = 2 * input_dim
        self.n_iters = check_positive_int(n_iters, "n_iters", owner)
        self.n_layers = check_positive_int(n_layers, "n_layers", owner)
        self.lstm = nn.LSTM(self.output_dim, self.input_dim, n_layers)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.lstm.reset_parameters()

    def forward(self, graph, feat: torch.Tensor) -> torch.Tensor:
        check_rows(feat, _node_count(graph), "feat", "nodes", type(self).__name__)
        counts = graph.batch_num_nodes()
        batch_size = counts.numel()
        graph_ids = torch.repeat_interleave(torch.arange(batch_size, device=feat.device), counts)
        state = (feat.new_zeros(self.n_layers, batch_size, self.input_dim), feat.new_zeros(self.n_layers, batch_size, self.input_dim))
        q_star = feat.new_zeros(batch_size, self.output_dim)
        for _ in range(self.n_iters):
            # q: [B, D]; scores: [N, 1]; readout: [B, D]
            q, state = self.lstm(q_star.unsqueeze(0), state)
            q = q.view(batch_size, self.input_dim)
            scores = (feat * q.index_select(0, graph_ids)).sum(dim=-1, keepdim=True)
            alpha = ops.segment_softmax(counts, scores)
            readout = ops.segment_reduce(counts, feat * alpha, "sum")
            q_star = torch.cat([q, readout], dim=-1)
        return q_star

    def extra_repr(self) -> str:
        return f"input_dim={self.input_dim}, n_iters={self.n_iters}, n_layers={self.n_layers}"


class SortPooling(nn.Module):
    r"""SortPooling of Zhang et al., *An End-to-End Deep Learning Architecture for Graph
    Classification* (AAAI 2018), with DGL's convention.

    Each node's features are sorted in ascending order; the ``k`` nodes of each graph with the
    largest last (i.e. largest) value are kept in descending order of it, zero-padded when a graph
    has fewer than ``k`` nodes, and flattened.

    Shapes: [N, D] -> [B, k * D].
    """

    def __init__(self, k: int):
        super().__init__()
        self.k = check_positive_int(k, "k", type(self).__name__)

    def reset_parameters(self) -> None:
        """No parameters."""

    def forward(self, graph, feat: torch.Tensor) -> torch.Tensor:
        check_rows(feat, _node_count(graph), "feat", "nodes", type(self).__name__)
        if feat.dim() != 2:
            raise ValueError(f"SortPooling: feat must be [N, D], got shape {tuple(feat.shape)}")
        counts = graph.batch_num_nodes()
        batch_size, width = counts.numel(), feat.shape[1]
        feat = feat.sort(dim=-1).values
        graph_ids = torch.repeat_interleave(torch.arange(batch_size, device=feat.device), counts)
        # Order nodes by descending key within each graph: sort by key, then stably by graph.
        by_key = torch.sort(feat[:, -1], descending=True, stable=True).indices
        order = by_key[torch.sort(graph_ids[by_key], stable=True).indices]
        offsets = torch.cumsum(counts, 0) - counts
        rank = torch.arange(order.numel(), device=feat.device) - offsets[graph_ids[order]]
        keep = rank < self.k
        out = feat.new_zeros(batch_size, self.k, width)
        out[graph_ids[order][keep], rank[keep]] = feat[order[keep]]
        return out.view(batch_size, self.k * width)

    def extra_repr(self) -> str:
        return f"k={self.k}"
