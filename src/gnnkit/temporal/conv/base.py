"""The split that makes caching possible: a convolution = ``update(msg_pass(x))``.

``msg_pass(ops, x)`` is the parameter-free neighbourhood aggregation. It returns the ``S``
propagated copies of ``x`` (``S`` = number of supports: Chebyshev terms, diffusion steps, self
and neighbour ...) concatenated on the last dimension: ``[N, *, S * F]``.
``update(agg)`` is the only part with weights: one linear map ``[S * F] -> [out]``.

Because ``msg_pass`` has no parameters, its result for a fixed input (a data snapshot) can be
cached, and one result can feed the weights of several gates (see :mod:`gnnkit.temporal.cells`).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..propagation import GraphOperators

__all__ = ["SplitConv", "stack_supports"]


def stack_supports(terms: list[torch.Tensor]) -> torch.Tensor:
    """``[N, *, F]`` terms -> ``[N, *, S * F]`` (the supports side by side on the last dimension).

    ``stack`` on the second-to-last dimension lays memory out exactly as ``cat`` on the last one
    would, but copies whole rows instead of ``F``-element pieces (about 4x faster on CPU at
    the METR-LA shape, 207 x 64 x 64).
    """
    if len(terms) == 1:
        return terms[0]
    return torch.stack(terms, dim=-2).flatten(-2)


class SplitConv(nn.Module):
    """Base class: ``forward(ops, x) = update(msg_pass(ops, x))``; subclasses define ``msg_pass``.

    Args:
        in_feats: input feature size ``F``.
        out_feats: output size.
        num_supports: ``S``, the number of propagated copies ``msg_pass`` returns.
        bias: learn an additive bias.
    """

    def __init__(self, in_feats: int, out_feats: int, num_supports: int, bias: bool = True):
        super().__init__()
        for name, value in (("in_feats", in_feats), ("out_feats", out_feats), ("num_supports", num_supports)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{type(self).__name__}: {name} must be a positive int, got {value!r}")
        self.in_feats, self.out_feats, self.num_supports = in_feats, out_feats, num_supports
        self.weight = nn.Parameter(torch.empty(out_feats, num_supports * in_feats))
        self.bias = nn.Parameter(torch.empty(out_feats)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # Glorot over one support block, as PyG's ChebConv initialises each of its K linears.
        bound = math.sqrt(6.0 / (self.in_feats + self.out_feats))
        nn.init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def msg_pass(self, ops: GraphOperators, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    @property
    def aggregation_key(self) -> tuple:
        """Equal keys mean equal ``msg_pass`` (same operator and supports) for the same input, so
        one conv's aggregation of a tensor can stand in for another's (see GraphSeq2Seq)."""
        return (type(self).__name__, self.num_supports)

    def update(self, agg: torch.Tensor, rows: slice | None = None) -> torch.Tensor:
        """agg: [N, *, S * F] -> [N, *, out] (or only the output columns ``rows``)."""
        if agg.shape[-1] != self.num_supports * self.in_feats:
            raise ValueError(
                f"{type(self).__name__}.update: agg has last dimension {agg.shape[-1]}; expected "
                f"num_supports * in_feats = {self.num_supports * self.in_feats}"
            )
        weight, bias = self.weight, self.bias
        if rows is not None:
            weight = weight[rows]
            bias = None if bias is None else bias[rows]
        return nn.functional.linear(agg, weight, bias)

    def forward(self, ops: GraphOperators, x: torch.Tensor) -> torch.Tensor:
        return self.update(self.msg_pass(ops, x))

    def _check_input(self, ops: GraphOperators, x: torch.Tensor) -> None:
        if not isinstance(ops, GraphOperators):
            raise TypeError(f"{type(self).__name__}: ops must be GraphOperators, got {type(ops).__name__}")
        if x.shape[0] != ops.num_nodes or x.shape[-1] != self.in_feats:
            raise ValueError(
                f"{type(self).__name__}: x has shape {tuple(x.shape)}; expected [{ops.num_nodes}, ..., {self.in_feats}]"
            )

    def extra_repr(self) -> str:
        return f"{self.in_feats}, {self.out_feats}, supports={self.num_supports}, bias={self.bias is not None}"
