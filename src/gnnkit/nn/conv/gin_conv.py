"""GINConv: the graph isomorphism network layer of Xu et al., *How Powerful are Graph Neural
Networks?* (ICLR 2019)."""

from __future__ import annotations

import torch
from torch import nn

from .._utils import aggregate, check_choice, check_edge_weight, src_dst_feats

__all__ = ["GINConv"]

_AGGREGATORS = ("sum", "max", "mean")


class GINConv(nn.Module):
    r"""Graph isomorphism layer.

    .. math::

        h_v' = \sigma\Big(f_\Theta\big((1 + \epsilon) h_v + \operatorname{aggregate}_{u \in \mathcal{N}(v)} e_{uv} h_u\big)\Big)

    where ``aggregate`` is sum (the injective choice of the paper), max or mean, :math:`f_\Theta`
    is ``apply_func`` (usually an MLP) and :math:`\epsilon` is learned when ``learn_eps``.

    Args:
        apply_func: :math:`f_\Theta` (``None``: identity).
        aggregator_type: 'sum', 'max' or 'mean'.
        init_eps: initial :math:`\epsilon`.
        learn_eps: make :math:`\epsilon` a parameter (else a buffer).
        activation: :math:`\sigma`.

    Shapes: ``feat`` [N_src, *F] (or a pair); ``edge_weight`` [E]; returns [N_dst, *F_out].
    """

    def __init__(self, apply_func=None, aggregator_type: str = "sum", init_eps: float = 0.0, learn_eps: bool = False, activation=None):
        super().__init__()
        owner = type(self).__name__
        self._aggregator_type = check_choice(aggregator_type, "aggregator_type", owner, _AGGREGATORS)
        self.apply_func = apply_func
        self.activation = activation
        self._init_eps = float(init_eps)
        if learn_eps:
            self.eps = nn.Parameter(torch.tensor([self._init_eps]))
        else:
            self.register_buffer("eps", torch.tensor([self._init_eps]))
        self.learn_eps = bool(learn_eps)

    def reset_parameters(self) -> None:
        with torch.no_grad():
            self.eps.fill_(self._init_eps)
        if self.apply_func is not None and hasattr(self.apply_func, "reset_parameters"):
            self.apply_func.reset_parameters()
        elif self.apply_func is not None:
            for module in self.apply_func.modules():
                if module is not self.apply_func and hasattr(module, "reset_parameters"):
                    module.reset_parameters()

    def forward(self, graph, feat, edge_weight: torch.Tensor | None = None):
        owner = type(self).__name__
        feat_src, feat_dst = src_dst_feats(graph, feat, owner)
        edge_weight = check_edge_weight(graph, edge_weight, owner)
        with graph.local_scope():
            # neigh: [N_dst, *F]
            neigh = aggregate(graph, feat_src, self._aggregator_type, edge_weight)
            out = (1 + self.eps) * feat_dst + neigh
            if self.apply_func is not None:
                out = self.apply_func(out)
            if self.activation is not None:
                out = self.activation(out)
            return out

    def extra_repr(self) -> str:
        return f"aggregator_type={self._aggregator_type!r}, learn_eps={self.learn_eps}"
