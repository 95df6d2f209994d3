"""APPNPConv: personalised-PageRank propagation of Gasteiger, Bojchevski & Günnemann, *Predict
then Propagate: Graph Neural Networks meet Personalized PageRank* (ICLR 2019)."""

from __future__ import annotations

import torch
from torch import nn

from ..dropout import functional_dropout
from .._utils import (
    aggregate,
    check_edge_weight,
    check_positive_int,
    check_probability,
    check_rows,
    require_square,
    sym_norm_edge_weight,
)

__all__ = ["APPNPConv"]


class APPNPConv(nn.Module):
    r"""Approximate personalised PageRank propagation (no parameters).

    .. math::

        H^{(0)} = X, \qquad
        H^{(t+1)} = (1 - \alpha)\, \hat D^{-1/2} \hat A \hat D^{-1/2} H^{(t)} + \alpha H^{(0)}, \qquad
        \text{output } H^{(K)}

    ``edge_drop`` drops edges of the normalised matrix (rescaling the rest) at every step while
    training.

    Args:
        k: number of iterations :math:`K`.
        alpha: teleport probability :math:`\alpha`.
        edge_drop: dropout probability on the edges.

    Shapes: ``feat`` [N, *F]; ``edge_weight`` [E]; returns [N, *F]. Needs ``num_src == num_dst``.
    """

    def __init__(self, k: int, alpha: float, edge_drop: float = 0.0):
        super().__init__()
        owner = type(self).__name__
        self._k = check_positive_int(k, "k", owner)
        self._alpha = check_probability(alpha, "alpha", owner)
        self._edge_drop = check_probability(edge_drop, "edge_drop", owner)

    def reset_parameters(self) -> None:
        """APPNP has no parameters; present for a uniform layer interface."""

    def forward(self, graph, feat: torch.Tensor, edge_weight: torch.Tensor | None = None):
        owner = type(self).__name__
        require_square(graph, owner)
        check_rows(feat, graph.num_src_nodes(), "feat", "source nodes", owner)
        edge_weight = check_edge_weight(graph, edge_weight, owner)
        with graph.local_scope():
            # weight: [E]; h: [N, *F]
            weight = sym_norm_edge_weight(graph, edge_weight, feat.dtype)
            h = feat
            for _ in range(self._k):
                step_weight = functional_dropout(weight, self._edge_drop, self.training)
                h = (1 - self._alpha) * aggregate(graph, h, "sum", step_weight) + self._alpha * feat
            return h

    def extra_repr(self) -> str:
        return f"k={self._k}, alpha={self._alpha}, edge_drop={self._edge_drop}"
